"""Issue 18 section 2: one source of truth for the taxonomy, the dbt vars and has_table; no
import cycles; the architectures' contract explicit."""
from __future__ import annotations

import ast
import csv
import importlib
import re
from pathlib import Path

import duckdb
import pytest
import yaml

from tests.conftest import query
from warehouse import taxonomy

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("simulator", "warehouse", "scripts", "models_ml", "expectations")
DBT = ROOT / "dbt_project"


# --- the import graph ---------------------------------------------------------------------


def project_modules(root: Path, packages=PACKAGES) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the packages (a package is its __init__)."""
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def import_graph(root: Path, packages=PACKAGES) -> dict[str, set[str]]:
    """module -> the project modules it imports. Every import counts, at module level or inside
    a function or an `if TYPE_CHECKING:` block: a deferred import still runs (or is still a
    dependency a reader must follow), and deferring one is how a cycle hides. Deferring for speed
    (torch, Great Expectations) is fine, and passes, as long as no cycle runs through it. The
    implicit import of a module's own package (`warehouse.x` runs warehouse/__init__) is not an
    edge: Python resolves that one by design."""
    modules = project_modules(root, packages)
    graph = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:   # relative: from . import x, from ..y import z
                    anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in modules:   # `import a.b.c` of a function or class
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _edges_within(graph, component):
    return sorted(f"{a} -> {b}" for a in component for b in graph[a] if b in component)


def test_no_import_cycle_among_the_project_packages():
    graph = import_graph(ROOT)
    assert "warehouse.connection" in graph and graph["warehouse.connection"], "the graph found no imports at all"
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(", ".join(_edges_within(graph, c)) for c in found)


def test_the_cycle_check_sees_deferred_type_only_and_relative_imports(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from pkg.b import g\n")                      # deferred
    (pkg / "b.py").write_text("from pkg import a\n")
    (pkg / "sub" / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                      "    from pkg.sub.d import X\n")                       # type-only
    (pkg / "sub" / "d.py").write_text("from .c import Y\n")                                 # relative
    (pkg / "e.py").write_text("import pkg.a\n")                                             # no cycle
    found = cycles(import_graph(tmp_path, ("pkg",)))
    assert sorted(found) == [["pkg.a", "pkg.b"], ["pkg.sub.c", "pkg.sub.d"]]


def test_the_shared_pieces_live_in_leaf_modules_and_old_paths_still_work():
    from scripts import cli, output
    from warehouse import connection, dbhelpers, errors, schema

    graph = import_graph(ROOT)
    for leaf in ("warehouse.taxonomy", "warehouse.errors", "warehouse.dbhelpers", "warehouse.project_vars"):
        assert graph[leaf] == set(), f"{leaf} should import nothing from the project, imports {graph[leaf]}"
    assert connection.transaction is dbhelpers.transaction is schema.transaction
    assert connection.WarehouseError is errors.WarehouseError
    assert cli.reports_dir is output.reports_dir and cli._say is output._say
    assert "scripts.cli" not in graph["scripts.cli_ml"]


# --- one taxonomy -------------------------------------------------------------------------


def test_the_dbt_seed_is_written_from_the_taxonomy_module():
    seed = taxonomy.SEED_PATH
    assert seed == DBT / "seeds" / "anomaly_classes.csv"
    assert seed.read_text() == taxonomy.seed_csv(), \
        "dbt_project/seeds/anomaly_classes.csv differs from warehouse/taxonomy.py: run `python -m warehouse.taxonomy`"
    with seed.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(int(r["anomaly_class"]), r["class_name"]) for r in rows] == list(taxonomy.ANOMALY_CLASSES.items())


def test_python_reads_the_taxonomy_from_the_one_module():
    from expectations import config as quality
    from models_ml import metrics, score
    from models_ml.config import TrainConfig
    from simulator import config as sim

    assert sim.ANOMALY_CLASSES is taxonomy.ANOMALY_CLASSES
    assert quality.PROBABILITY_COLUMNS is taxonomy.PROBABILITY_COLUMNS and quality.CLASS_IDS is taxonomy.CLASS_IDS
    assert metrics.ANOMALY_CLASSES is taxonomy.ANOMALY_CLASS_IDS and metrics.N_CLASSES == len(taxonomy.CLASS_IDS)
    assert TrainConfig().classes is taxonomy.CLASS_IDS
    assert score.ANOMALY_CLASSES is taxonomy.ANOMALY_CLASSES
    # the simulator's anomaly events carry the class their name says (through CLASS_OF)
    named = {"heating_failure": "temperature_failure", "humidity_leak": "humidity_anomaly",
             "humidity_steam": "humidity_anomaly"}
    for event, spec in sim.EVENT_SPECS.items():
        if spec.kind == "anomaly":
            assert taxonomy.ANOMALY_CLASSES[spec.anomaly_class] == named.get(event, event)


def _taxonomy_copies(path: Path, root: Path = ROOT) -> list[str]:
    """Literals in a module that restate the taxonomy: a dict from class numbers to class names,
    or a tuple/list/set of exactly the class numbers (0-5 or 1-5)."""
    names = set(taxonomy.ANOMALY_CLASSES.values())
    id_sets = (list(taxonomy.CLASS_IDS), list(taxonomy.ANOMALY_CLASS_IDS))
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Dict) and any(isinstance(v, ast.Constant) and v.value in names for v in node.values) \
                and all(isinstance(k, ast.Constant) and isinstance(k.value, int) for k in node.keys):
            found.append(f"{path.relative_to(root)}:{node.lineno} a class number -> name dict")
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and node.elts \
                and all(isinstance(e, ast.Constant) and type(e.value) is int for e in node.elts) \
                and [e.value for e in node.elts] in id_sets:
            found.append(f"{path.relative_to(root)}:{node.lineno} the class numbers written out")
    return found


def test_no_python_module_but_the_taxonomy_writes_the_classes_out():
    copies = [hit for name, path in project_modules(ROOT).items() if name != "warehouse.taxonomy"
              for hit in _taxonomy_copies(path)]
    assert not copies, copies


def test_the_copy_finder_finds_a_copy(tmp_path):
    (tmp_path / "m.py").write_text("A = {0: 'normal', 5: 'fire'}\nB = (1, 2, 3, 4, 5)\nC = (1, 2)\n")
    assert [h.split(" ", 1)[0] for h in _taxonomy_copies(tmp_path / "m.py", tmp_path)] == ["m.py:1", "m.py:2"]


def test_the_literal_lists_that_stay_match_the_taxonomy():
    # the ml.predictions table: a shipped migration never changes, so its columns are checked here
    con = duckdb.connect()
    try:
        from warehouse.schema import ensure_schema

        ensure_schema(con)
        columns = [r[0] for r in con.execute(
            "select column_name from information_schema.columns where table_schema = 'ml' "
            "and table_name = 'predictions' and column_name like 'p\\_%' escape '\\' order by ordinal_position"
        ).fetchall()]
    finally:
        con.close()
    assert tuple(columns) == taxonomy.PROBABILITY_COLUMNS
    # its staging view names each probability column
    staged = (DBT / "models" / "staging" / "stg_ml__predictions.sql").read_text()
    assert tuple(re.findall(r"^\s*(p_\w+),?$", staged, re.M)) == taxonomy.PROBABILITY_COLUMNS
    # dbt vars keyed by anomaly class
    vars_ = yaml.safe_load((DBT / "dbt_project.yml").read_text())["vars"]
    assert sorted(int(c) for c in vars_["classified_min_minutes"]) == list(taxonomy.ANOMALY_CLASS_IDS)
    # accepted_values on a class column (the rest read the seed through `relationships`)
    for path in sorted((DBT / "models").rglob("*.yml")):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models", []):
            for column in model.get("columns", []):
                if not column["name"].endswith("class"):
                    continue
                for test in column.get("data_tests", []):
                    if isinstance(test, dict) and "accepted_values" in test:
                        values = test["accepted_values"]["arguments"]["values"]
                        assert values in (list(taxonomy.CLASS_IDS), list(taxonomy.ANOMALY_CLASS_IDS)), \
                            f"{path.name} {model['name']}.{column['name']}: {values}"
    # the anomaly report's colours, one per anomaly class
    from scripts.anomaly_report import CLASS_COLOURS

    assert set(CLASS_COLOURS) == {taxonomy.ANOMALY_CLASSES[c] for c in taxonomy.ANOMALY_CLASS_IDS}


def test_dbt_reads_the_taxonomy_from_the_seed(built_db):
    seeded = query(built_db, "select anomaly_class, class_name, coalesce(rule_name, ''), description "
                             "from ref.anomaly_classes order by anomaly_class")
    assert [tuple(r) for r in seeded] == [tuple(c) for c in taxonomy.TAXONOMY]
    # the rules measured per class: one row set per anomaly class of the seed
    measured = {r[0] for r in query(built_db, "select distinct anomaly_class from marts.fct_rule_evaluation "
                                              "where level = 'step'")}
    assert measured == set(taxonomy.ANOMALY_CLASS_IDS)
    # every domain rule's events carry the class the taxonomy gives that rule
    pairs = query(built_db, "select distinct rule_name, anomaly_class from marts.fct_anomaly_events "
                            "where event_kind = 'anomaly'")
    assert pairs, "the tiny warehouse should have some domain-rule events"
    rules = {rule: c for c, rule in taxonomy.RULE_NAMES.items()}
    assert all(rules[rule] == c for rule, c in pairs), pairs


# --- has_table and the dbt vars: one each ---------------------------------------------------


def _code_strings(path: Path) -> list[str]:
    """String constants of a module, docstrings left out."""
    tree = ast.parse(path.read_text())
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                  and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


def test_has_table_and_the_dbt_vars_are_written_once():
    where = {"information_schema.tables": [], "dbt_project.yml": []}
    for name, path in project_modules(ROOT).items():
        strings = _code_strings(path)
        for needle, hits in where.items():
            if any(needle in s for s in strings):
                hits.append(name)
    assert where == {"information_schema.tables": ["warehouse.dbhelpers"],
                     "dbt_project.yml": ["warehouse.project_vars"]}


def test_has_table_says_whether_a_table_or_view_exists():
    from warehouse.connection import has_table

    con = duckdb.connect()
    try:
        con.execute("create schema s; create table s.t (x int); create view s.v as select 1")
        assert has_table(con, "s", "t") and has_table(con, "s", "v")
        assert not has_table(con, "s", "missing") and not has_table(con, "other", "t")
    finally:
        con.close()


def test_the_quality_checks_follow_the_dbt_vars(tmp_path, monkeypatch):
    from expectations import config
    from models_ml import evaluate
    from warehouse import project_vars

    assert evaluate.dbt_var is project_vars.dbt_var
    changed = yaml.safe_load(project_vars.DBT_PROJECT_FILE.read_text())
    changed["vars"].update(stuck_minutes=77, context_hours=13)
    (tmp_path / "dbt_project.yml").write_text(yaml.safe_dump(changed))
    monkeypatch.setattr(project_vars, "DBT_PROJECT_FILE", tmp_path / "dbt_project.yml")
    project_vars.dbt_vars.cache_clear()
    try:
        importlib.reload(config)
        assert (config.STUCK_MAX_MINUTES, config.WARMUP_HOURS) == (77, 13)
        with pytest.raises(KeyError, match="no var 'no_such_var'"):
            project_vars.dbt_var("no_such_var")
    finally:
        monkeypatch.undo()
        project_vars.dbt_vars.cache_clear()
        importlib.reload(config)


# --- the architectures' contract ------------------------------------------------------------


def test_a_deeper_lstm_is_an_error_not_a_silent_cap():
    from models_ml.config import LSTM_MAX_LAYERS, ConfigError, TrainConfig
    from models_ml.nets import WindowClassifier

    with pytest.raises(ConfigError, match=f"lstm stacks at most {LSTM_MAX_LAYERS} layers, got layers=3.*"
                                          f"--set layers={LSTM_MAX_LAYERS}"):
        TrainConfig(arch="lstm", layers=3)
    with pytest.raises(ConfigError, match="at most"):
        TrainConfig(arch="causal_cnn", layers=2).with_overrides(arch="lstm", layers=LSTM_MAX_LAYERS + 1)
    model = WindowClassifier(5, TrainConfig(arch="lstm", hidden=8, layers=LSTM_MAX_LAYERS))
    assert model.net.lstm.num_layers == LSTM_MAX_LAYERS


@pytest.mark.parametrize("n_classes", [6, 4])
def test_every_architecture_keeps_the_contract(n_classes):
    import torch

    from models_ml.config import ARCHITECTURES, TrainConfig
    from models_ml.nets import ARCHS, ClassifierNet
    from models_ml import ModelError

    assert sorted(ARCHS) == sorted(ARCHITECTURES)
    torch.manual_seed(0)
    for arch in ARCHITECTURES:
        cfg = TrainConfig(arch=arch, window=12, hidden=8, layers=2)
        net = ARCHS[arch](5, n_classes, cfg).eval()
        assert isinstance(net, ClassifierNet) and net.n_classes == n_classes
        with torch.no_grad():
            assert net(torch.randn(3, 12, 5)).shape == (3, n_classes), arch
            if net.sequence:
                assert net.forward_sequence(torch.randn(2, 30, 5)).shape == (2, 30 - 12 + 1, n_classes), arch
            else:
                with pytest.raises(ModelError, match="not a sequence model"):
                    net.forward_sequence(torch.randn(2, 30, 5))


def test_a_net_needs_no_layer_named_head(monkeypatch):
    import torch
    from torch import nn

    from models_ml import nets
    from models_ml.config import TrainConfig

    class Plain(nets.ClassifierNet):
        def __init__(self, n_features, n_classes, cfg):
            super().__init__(n_classes)
            self.out = nn.Linear(n_features, n_classes)

        def forward(self, x):
            return self.out(x[:, -1])

    monkeypatch.setitem(nets.ARCHS, "cnn", Plain)
    model = nets.WindowClassifier(5, TrainConfig(arch="cnn"))
    assert model.n_classes == len(TrainConfig().classes) and not model.sequence
    assert model(torch.randn(2, 12, 5)).shape == (2, model.n_classes)


def test_registering_an_architecture_checks_the_contract():
    from torch import nn

    from models_ml import ModelError, nets

    class Fine(nets.ClassifierNet):
        pass

    class NoSequence(nets.ClassifierNet):
        sequence = True

    before = dict(nets.ARCHS)
    with pytest.raises(ModelError, match="'wavenet' is not in models_ml/config.py ARCHITECTURES"):
        nets.architecture("wavenet")(Fine)
    with pytest.raises(ModelError, match="'lstm' is registered twice"):
        nets.architecture("lstm")(Fine)
    nets.ARCHS.pop("tcn")
    try:
        with pytest.raises(ModelError, match="must subclass ClassifierNet"):
            nets.architecture("tcn")(nn.Linear)
        with pytest.raises(ModelError, match="sequence = True but has no forward_sequence"):
            nets.architecture("tcn")(NoSequence)
    finally:
        nets.ARCHS.clear()
        nets.ARCHS.update(before)
    assert nets.ARCHS == before

