"""The decision weights three ways for one trained model, each judged on the validation and
the test households as the mart raises anomalies (blips dropped, each class's evidence checked):

- `before`: fitted as before issue 16's decision change: blips dropped, no evidence, 0.05-3;
- `evidence`: fitted with the mart's evidence checks, 0.05-3;
- `default`: with the evidence and capped at 1 (metrics.SCORING_GRID), what training does now.

    HOMEWATCH_MODELS_DIR=<models> python bench/decision_fit.py WAREHOUSE MODEL_VERSION

The network does not depend on the decision, so one training run gives all three. Prints one
line per decision: the weights, validation macro-F1 and false alarms per household-week, test
macro-F1, F1 per class, false alarms and event recall.
"""
from __future__ import annotations

import argparse

import duckdb

from models_ml import data
from models_ml import evaluate as ev
from models_ml.metrics import DECISION_GRID, Scorecard, decide, drop_blips, fit_decision_weights
from models_ml.score import load_model
from warehouse.project_vars import dbt_var


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse")
    parser.add_argument("model_version")
    args = parser.parse_args()
    con = duckdb.connect(args.warehouse, read_only=True)
    version, meta, sess, _ = load_model(con, args.model_version)
    columns, window = meta["feature_columns"], int(meta["window"])
    step_minutes = int(meta["step_minutes"])
    bridge = max(int(dbt_var("event_bridge_minutes")) // step_minutes, 1)
    shortest = ev.min_steps(step_minutes)
    splits = data.household_splits(con)

    def load(split: str) -> list:
        ids = sorted(h for h, s in splits.items() if s == split)
        events = data.injected_events(con, ids)
        return [(series, ev.predict_onnx(sess, series.X, window, columns), ev.needed_evidence(con, series),
                 [e for e in events if e[0] == series.household_id])
                for series in data.iter_households(con, ids, columns)]

    def judge(households: list, weights: list[float]) -> dict:
        card = Scorecard("classifier", bridge, step_minutes)
        for series, probs, evidence, own in households:
            card.add(series.steps, series.labels, drop_blips(decide(probs, weights), bridge, shortest, evidence), own)
        return card.summary()

    val, test = load("validation"), load("test")
    labelled = [(series.labels, probs) for series, probs, _, _ in val]
    evidence = [e for _, _, e, _ in val]
    decisions = {
        "before": fit_decision_weights(labelled, bridge, shortest, grid=DECISION_GRID)[0],
        "evidence": fit_decision_weights(labelled, bridge, shortest, grid=DECISION_GRID, evidence=evidence)[0],
        "default": fit_decision_weights(labelled, bridge, shortest, evidence=evidence)[0],
    }
    for name, weights in decisions.items():
        v, t = judge(val, weights), judge(test, weights)
        per_class = " ".join(f"{t['per_class'][c]['f1']:.3f}" for c in range(1, 6))
        print(f"{version} {name:8s} weights {weights} | validation macro-F1 {v['macro_f1']:.4f} "
              f"FA {v['false_alarms_per_household_week']:.3f} | test macro-F1 {t['macro_f1']:.4f} "
              f"per class {per_class} FA {t['false_alarms_per_household_week']:.3f} "
              f"event recall {t['event_recall']:.3f}")


if __name__ == "__main__":
    main()
