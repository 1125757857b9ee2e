"""Model packages: a trained model as a self-contained folder that any warehouse can import.

    homewatch-model-<version>/
      MANIFEST.json    format, format version, model version, when and where it was exported,
                       and the SHA-256 and size of every other file
      metadata.json    the model's metadata (models_ml/registry.py): feature columns, window,
                       grid step, sensors and training data summary, decision weights, metrics,
                       the out-of-distribution ranges ("ood", models_ml/ood.py)
      model.onnx       fp32; model.int8.onnx (static int8) when the model has one
      weights.npz      the state_dict as plain NumPy arrays (np.load(allow_pickle=False));
                       scoring never reads it

Import verifies every checksum, refuses a missing, changed or unlisted file (naming it) and a
newer format, copies the files into the warehouse's model store and registers the model, all
or nothing. No file of a package is ever unpickled. The grid step is part of the contract: a
model scores only features on the grid it was trained on (models_ml/score.py).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

from models_ml import ModelError, registry
from models_ml.registry import LEGACY_STEP_SECONDS, model_step_seconds  # noqa: F401  (re-exported)
from warehouse.connection import has_table, resolve_db_path, utcnow
from warehouse.grid import grid_step

FORMAT = "homewatch-model-package"
FORMAT_VERSION = 1
MANIFEST = "MANIFEST.json"
PACKAGE_FILES = (registry.METADATA, registry.ONNX_FP32, registry.ONNX_INT8, registry.WEIGHTS)


class PackageError(ModelError):
    pass


@dataclass
class ImportResult:
    version: str
    status: str          # 'production' or 'candidate'; for a no-op, the row's current status
    folder: Path
    already: bool        # the same model was registered before: nothing was done
    message: str


# --- the grid step --------------------------------------------------------------------------


def grid_step_seconds(con: duckdb.DuckDBPyConnection) -> int | None:
    """The grid step of this warehouse's dbt tables in seconds (the one its builds recorded in
    ops.grid; see warehouse/grid.py), None before its first build."""
    return grid_step(con)


def describe_step(seconds: int) -> str:
    return f"{seconds // 60}-minute" if seconds % 60 == 0 else f"{seconds}-second"


# --- what a model trained on ----------------------------------------------------------------


def training_summary(con: duckdb.DuckDBPyConnection, train_ids: list[str], validation_ids: list[str],
                     first_step, last_step) -> dict:
    """What the model learned from: households per split and where they came from, days, labelled
    steps per class (train and validation, in the training range), the sensors those households
    have, and the simulations that made them."""
    ids = sorted({*train_ids, *validation_ids})
    splits = dict(con.execute("select household_id, split from marts.dim_households").fetchall()) \
        if has_table(con, "marts", "dim_households") else {}
    summary: dict = {
        "households": {"train": len(train_ids), "validation": len(validation_ids),
                       "test": sum(1 for s in splits.values() if s == "test")},
        "household_ids": {"train": sorted(train_ids), "validation": sorted(validation_ids)},
    }
    summary["household_sources"] = dict(con.execute(
        "select source, count(*) from raw.households where household_id in (select unnest(?::varchar[])) group by 1",
        [ids]).fetchall())
    if has_table(con, "marts", "int_steps_labelled") and first_step:
        days, per_class = con.execute(
            "select count(distinct step_at::date), histogram(label_class) from marts.int_steps_labelled "
            "where household_id in (select unnest(?::varchar[])) and step_at between ? and ?",
            [ids, first_step, last_step]).fetchone()
        summary["days"] = int(days)
        summary["steps_per_class"] = {str(k): int(v) for k, v in sorted((per_class or {}).items())}
    summary["sensors"] = {s: int(n) for s, n in con.execute(
        "select sensor, count(distinct household_id) from raw.readings where household_id in "
        "(select unnest(?::varchar[])) group by 1 order by 1", [ids]).fetchall()}
    summary["simulations"] = [
        {"simulation_id": r[0], "seed": r[1], "households": r[2], "start_at": str(r[3]), "step_seconds": r[4],
         "days": r[5], "generator_version": r[6]}
        for r in con.execute("select simulation_id, seed, households, start_at, step_seconds, days, "
                             "generator_version from raw.simulations order by created_at").fetchall()]
    return summary


def describe_training(con: duckdb.DuckDBPyConnection, train_ids: list[str], validation_ids: list[str],
                      data_range: tuple) -> dict:
    """The metadata fields a package needs that training records (merged into metadata.json):
    the warehouse's grid step, the sensors of the training households, the data summary."""
    summary = training_summary(con, train_ids, validation_ids, *data_range)
    return {"grid_step_seconds": grid_step_seconds(con), "sensors": sorted(summary["sensors"]),
            "training_summary": summary}


def _complete(con, meta: dict) -> dict:
    """A model trained before its metadata had a grid step, sensors and training summary gets
    them at export, from the warehouse that trained it (households by today's fixed split)."""
    meta = dict(meta)
    if "training_summary" not in meta:
        splits = dict(con.execute("select household_id, split from marts.dim_households").fetchall())
        labelled = {r[0] for r in con.execute("select distinct household_id from marts.int_steps_labelled").fetchall()}
        train_ids = [h for h, s in splits.items() if s == "train" and h in labelled]
        val_ids = [h for h, s in splits.items() if s == "validation" and h in labelled]
        td = meta.get("training_data", {})
        summary = training_summary(con, train_ids, val_ids, td.get("first_step"), td.get("last_step"))
        summary["note"] = "computed at export from the warehouse that trained it (the model predates summaries)"
        meta["training_summary"] = summary
        meta.setdefault("sensors", sorted(summary["sensors"]))
    meta.setdefault("grid_step_seconds", model_step_seconds(meta))
    return meta


# --- export ---------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def files_digest(files: dict) -> str:
    """One digest of a manifest's files (names and checksums): the same model exported twice, or
    copied, has the same digest."""
    canonical = json.dumps({name: f["sha256"] for name, f in sorted(files.items())}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def default_name(version: str) -> str:
    return f"homewatch-model-{version}"


def export_package(con: duckdb.DuckDBPyConnection, version: str, path: Path, db=None) -> tuple[str, Path]:
    """Write the model `version` (or 'production') of this warehouse as a package at `path` (a
    folder that must not exist yet, or a .zip file). Returns (the version, the path written)."""
    if version == "production":
        row = registry.production(con)
        if row is None:
            raise PackageError("no production model to export: `homewatch model list` shows the versions")
        version = row[0]
    row = con.execute("select artifact_dir from ml.model_registry where model_version = ?", [version]).fetchone()
    if row is None:
        known = [r[0] for r in con.execute("select model_version from ml.model_registry order by created_at").fetchall()]
        raise PackageError(f"no model version {version!r} in ml.model_registry; known: {', '.join(known) or 'none'}")
    source = Path(row[0])
    meta = _complete(con, registry.read_metadata(source))
    path = Path(path)
    if path.exists():
        raise PackageError(f"{path} already exists: export to a new path (a folder, or a .zip file)")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".export-") as tmp:
        folder = Path(tmp) / default_name(version)
        folder.mkdir()
        (folder / registry.METADATA).write_text(json.dumps(meta, indent=2, default=str))
        for name in PACKAGE_FILES[1:]:
            if (source / name).is_file():
                shutil.copyfile(source / name, folder / name)
        if not (folder / meta["scoring_file"]).is_file():
            raise PackageError(f"the model's scoring file {source / meta['scoring_file']} is missing: "
                               "it cannot be exported")
        files = {p.name: {"sha256": _sha256(p), "bytes": p.stat().st_size} for p in sorted(folder.iterdir())}
        manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "model_version": version,
                    "exported_at": utcnow().isoformat(timespec="seconds"),
                    "exported_from": str(resolve_db_path(db)), "files": files}
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))
        if path.suffix == ".zip":
            with zipfile.ZipFile(path.with_suffix(".zip.tmp"), "w", zipfile.ZIP_DEFLATED) as z:
                for p in sorted(folder.iterdir()):
                    z.write(p, f"{folder.name}/{p.name}")
            path.with_suffix(".zip.tmp").replace(path)
        else:
            folder.rename(path)
    return version, path


# --- verify and import ----------------------------------------------------------------------


def _unzip(path: Path, into: Path) -> Path:
    """Extract a zipped package (plain files, at most one folder level) and return its folder."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise PackageError(f"{path} is not a zip file: a package is a folder or a .zip of one") from None
    with archive:
        for info in archive.infolist():
            parts = Path(info.filename).parts
            if info.is_dir():
                continue
            if Path(info.filename).is_absolute() or ".." in parts or len(parts) > 2:
                raise PackageError(f"{path}: member {info.filename!r} is not a file of a package; nothing was imported")
            target = into / parts[-1]
            with archive.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
    return into


def verify_package(folder: Path) -> tuple[dict, dict]:
    """(manifest, metadata) of a package folder whose every file is listed in its manifest with
    the right checksum; a PackageError naming the file otherwise."""
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise PackageError(f"{folder} is not a model package: it has no {MANIFEST} "
                           "(make one with `homewatch model export VERSION PATH`)")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PackageError(f"{manifest_path} is not valid JSON ({exc}); nothing was imported") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), dict):
        raise PackageError(f"{manifest_path} is not a HomeWatch model package manifest; nothing was imported")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise PackageError(f"the package format version is {version!r}; this HomeWatch reads version "
                           f"{FORMAT_VERSION} and older: upgrade HomeWatch to import it; nothing was imported")
    files = manifest["files"]
    for name in (registry.METADATA, registry.ONNX_FP32):
        if name not in files:
            raise PackageError(f"{manifest_path} does not list {name}, which every package holds; nothing was imported")
    for name, entry in sorted(files.items()):
        path = folder / name
        if name != Path(name).name or name in (".", "..", MANIFEST):
            raise PackageError(f"{manifest_path} lists {name!r}, which is not a file of a package; nothing was imported")
        if not path.is_file():
            raise PackageError(f"{name} is missing from the package {folder} (its manifest lists it); "
                               "nothing was imported")
        digest = _sha256(path)
        if digest != entry.get("sha256"):
            raise PackageError(f"{name} does not match its SHA-256 in {MANIFEST} (expected {entry.get('sha256')}, "
                               f"found {digest}): the file was changed or damaged; nothing was imported")
    extra = sorted(p.name for p in folder.iterdir() if p.name != MANIFEST and p.name not in files)
    if extra:
        raise PackageError(f"{extra[0]} is in the package {folder} but not in its {MANIFEST}; nothing was imported")
    meta = registry.read_metadata(folder)
    if meta["model_version"] != manifest.get("model_version"):
        raise PackageError(f"{registry.METADATA} is model {meta['model_version']!r} but {MANIFEST} says "
                           f"{manifest.get('model_version')!r}; nothing was imported")
    if meta["scoring_file"] not in files:
        raise PackageError(f"the model scores with {meta['scoring_file']}, which the package does not hold; "
                           "nothing was imported")
    return manifest, meta


def _same_model(folder: Path, manifest: dict) -> bool:
    """Whether a registered model's folder holds the package's ONNX files (same checksums)."""
    for name in (registry.ONNX_FP32, registry.ONNX_INT8):
        if name in manifest["files"]:
            if not (folder / name).is_file() or _sha256(folder / name) != manifest["files"][name]["sha256"]:
                return False
    return True


def import_package(con: duckdb.DuckDBPyConnection, path: Path, db=None, promote: bool = False) -> ImportResult:
    """Verify the package at `path` (a folder or a .zip), copy it into this warehouse's model store
    and register it: production with `promote` or when the warehouse has no production model,
    else a candidate. The same model twice is a no-op. Call inside a transaction on a writer."""
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise PackageError(f"no model package at {path}")
    with tempfile.TemporaryDirectory(prefix="homewatch-import-") as tmp:
        folder = _unzip(path, Path(tmp)) if path.is_file() else path
        manifest, meta = verify_package(folder)
        version = meta["model_version"]
        row = con.execute("select status, artifact_dir, origin, imported_from from ml.model_registry "
                          "where model_version = ?", [version]).fetchone()
        if row is not None:
            if not _same_model(Path(row[1]), manifest):
                raise PackageError(f"this warehouse already has a model {version} with other ONNX files ({row[1]}); "
                                   "nothing was imported")
            where = "trained in this warehouse" if row[2] in (None, "trained") else f"imported from {row[3]}"
            hint = f"; `homewatch model promote {version}` makes it production" if row[0] != "production" else ""
            return ImportResult(version, row[0], Path(row[1]), True,
                                f"{version} is already registered ({row[0]}, {where}): nothing to do{hint}")
        _check_onnx(folder, manifest)
        target = registry.models_dir(db) / version
        if target.exists():
            raise PackageError(f"{target} already exists but no model {version} is registered: move it away "
                               "and import again")
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{version}.importing-"))
        try:
            for name in manifest["files"]:
                shutil.copyfile(folder / name, staging / name)
            shutil.copyfile(folder / MANIFEST, staging / MANIFEST)
            verify_package(staging)            # what lands in the store is what was verified
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    try:
        status = _register(con, meta, target, path, files_digest(manifest["files"]), promote)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    note = "" if meta.get("ood") else (
        "; it predates the sensor availability features and the out-of-distribution check (no \"ood\" in its "
        "metadata): the scorer refuses its feature columns, so score with a model trained or exported by this "
        "HomeWatch version")
    return ImportResult(version, status, target, False, f"{version} imported from {path} into {target} "
                                                        f"and registered as {status}{note}")


def _check_onnx(folder: Path, manifest: dict) -> None:
    """ONNX Runtime can load every model file of the package (a clear error before registering)."""
    from models_ml.export import session

    for name in (registry.ONNX_FP32, registry.ONNX_INT8):
        if name in manifest["files"]:
            session(folder / name, threads=1)


def _register(con, meta: dict, folder: Path, source: Path, digest: str, promote: bool) -> str:
    now = utcnow()
    production = registry.production(con)
    registry.insert(con, meta, folder, now, origin="imported", imported_from=str(source), package_sha256=digest)
    if promote or production is None:
        registry.make_production(con, meta["model_version"], now)
        return "production"
    return "candidate"


def packages_dir(db=None) -> Path:
    """Where the main job ships its model: `model-packages/` next to the model store (by default
    warehouse/data/model-packages/)."""
    return registry.models_dir(db).parent / "model-packages"


def ship(con: duckdb.DuckDBPyConnection, db=None) -> Path | None:
    """Export the production model to packages_dir()/homewatch-model-<version>/ unless it is there
    already, and point packages_dir()/latest at it. Returns the package folder (None: no model)."""
    row = registry.production(con)
    if row is None:
        return None
    folder = packages_dir(db) / default_name(row[0])
    if not folder.exists():
        export_package(con, row[0], folder, db)
    latest = packages_dir(db) / "latest"
    tmp = packages_dir(db) / f".latest-{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(folder.name)
    tmp.replace(latest)
    return folder
