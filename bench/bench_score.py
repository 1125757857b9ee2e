"""Benchmark: batch scoring at the default scale (100 households x 180 days = 5.2M steps).

    .venv/bin/python bench/bench_score.py --db PATH

Needs a built warehouse with a production model (`homewatch train`); with none, it trains a
quick one (2 epochs) first. Measures, in one run on the same real data (four test households'
series, about 200k steps, 2 threads), in windows (scored steps) per second: ONNX Runtime fp32
and static int8 the way the scorer runs them (a sequence model such as the default causal_cnn
reads each series once, in segments; others read windows in batches of 8192:
export.series_logits), the same ONNX files fed window batches, and torch eager on window
batches; then the whole `homewatch score` of every step (read, score, write in one
transaction) from no predictions. Targets (issue 5): >= 200k windows/s with the default
model, whole scoring <= 2 minutes and <= 4 GB peak memory.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import peak_rss_mb, record  # noqa: E402

N_WINDOWS = 200_000
BATCH = 8192


def _rate(run, windows) -> float:
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for s in range(0, len(windows), BATCH):
            run(windows[s:s + BATCH])
        best = min(best, time.perf_counter() - t)
    return len(windows) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True, help="a built warehouse at the default scale")
    args = parser.parse_args()

    import numpy as np

    from models_ml import data, registry
    from models_ml.export import INPUT_NAME, OUTPUT_NAME, session, takes_sequences
    from models_ml.pipeline import _timing
    from warehouse.connection import reader, writer

    with reader(args.db) as con:
        current = registry.production(con) if con.execute(
            "select count(*) from information_schema.tables where table_schema = 'ml'").fetchone()[0] else None
    if current is None:
        from models_ml.config import TrainConfig
        from models_ml.pipeline import train_and_register

        train_and_register(args.db, TrainConfig(epochs=2), progress=lambda m: print(m, flush=True))
    with reader(args.db) as con:
        version, _, folder = registry.production(con)
        folder = Path(folder)
        meta = registry.read_metadata(folder)
        cols = meta["feature_columns"]
        ids = [h for h, s in data.household_splits(con).items() if s == "test"][:4]
        series = [s.X for s in data.iter_households(con, ids, cols, False)]
    window = int(meta["window"])
    windows = np.ascontiguousarray(np.concatenate([data.windows(X, window) for X in series])[:N_WINDOWS])
    figures: dict = {"model_version": version, "arch": meta["config"]["arch"], "windows": len(windows)}
    for name, file in (("ort_fp32", registry.ONNX_FP32), ("ort_int8", registry.ONNX_INT8)):
        if (folder / file).exists():
            sess = session(folder / file, threads=2)
            # the scorer's way (timing only: the households end to end, as one series)
            figures[f"{name}_windows_per_s"] = round(_timing(sess, np.concatenate(series), window))
            if takes_sequences(sess):
                figures[f"{name}_window_batches_per_s"] = round(
                    _rate(lambda w: sess.run([OUTPUT_NAME], {INPUT_NAME: w}), windows))
    import torch

    from models_ml.config import TrainConfig
    from models_ml.nets import WindowClassifier

    torch.set_num_threads(2)
    # a model trained before input clipping existed has no input_clip in its config: it had none
    model = WindowClassifier(len(cols), TrainConfig.from_dict({"input_clip": 0.0, **meta["config"]}))
    model.load_state_dict(registry.load_weights(folder / registry.WEIGHTS))
    model.eval()
    with torch.inference_mode():
        figures["torch_eager_windows_per_s"] = round(_rate(lambda w: model(torch.from_numpy(w)), windows))
    scoring_key = "ort_int8_windows_per_s" if meta["scoring_file"] == registry.ONNX_INT8 else "ort_fp32_windows_per_s"
    figures["default_scoring_file"] = meta["scoring_file"]
    figures["default_windows_per_s"] = figures[scoring_key]

    # the whole scoring job, from no predictions: read, score, write
    from models_ml.score import score

    with writer(args.db) as con:
        con.execute("delete from ml.predictions where model_version = ?", [version])
        con.execute("delete from ml.scored_batches where model_version = ?", [version])
    rss_before = peak_rss_mb()
    t = time.perf_counter()
    with writer(args.db) as con:
        result = score(con, progress=lambda m: print(m, flush=True), force=True)
    figures["score_all_s"] = round(time.perf_counter() - t, 1)
    figures["steps_scored"] = result.steps_scored
    figures["peak_rss_mb"] = round(max(peak_rss_mb(), rss_before), 1)
    record("score", figures, {
        "default_windows_per_s": (">=", 200_000.0),
        "score_all_s": ("<=", 120.0),
        "peak_rss_mb": ("<=", 4096.0),
    })


if __name__ == "__main__":
    main()
