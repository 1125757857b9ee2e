"""The model evaluation report: one self-contained HTML file (images inlined) plus the PNGs."""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np

from models_ml.evaluate import Evaluation
from warehouse.taxonomy import ANOMALY_CLASS_IDS, ANOMALY_CLASSES, CLASS_IDS

METHOD_LABELS = {"classifier": "classifier", "rules": "rules only (dbt)", "isolation_forest": "Isolation Forest"}


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def plots(meta: dict, evaluation: Evaluation) -> dict[str, bytes]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [ANOMALY_CLASSES[c] for c in CLASS_IDS]
    out = {}
    cm = np.array(evaluation.summaries["classifier"]["confusion"])
    fig, ax = plt.subplots(figsize=(6.2, 5))
    shares = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, f"{cm[i, j]:,}", ha="center", va="center", fontsize=7,
                    color="white" if shares[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"Confusion matrix, {evaluation.split} households (steps)")
    out["confusion.png"] = _png(fig)
    plt.close(fig)

    out["pr_curves.png"] = pr_curves_png({c: (r, p, ap) for c, (p, r, ap) in evaluation.pr_curves.items()},
                                         "Precision-recall per class (one vs rest)")

    history = meta.get("history") or []
    if history:
        fig, ax = plt.subplots(figsize=(6.2, 3.2))
        epochs = [h["epoch"] for h in history]
        ax.plot(epochs, [h["val_macro_f1"] for h in history], marker="o", label="validation macro-F1")
        ax.set_xlabel("epoch")
        ax.set_ylim(0, 1)
        ax2 = ax.twinx()
        ax2.plot(epochs, [h["loss"] for h in history], color="grey", linestyle="--", label="training loss")
        ax.legend(loc="lower left", fontsize=8)
        ax2.legend(loc="lower right", fontsize=8)
        ax.set_title("Training")
        out["training.png"] = _png(fig)
        plt.close(fig)
    return out


def pr_curves_png(curves: dict, title: str, colours: dict | None = None) -> bytes:
    """A PNG of precision-recall curves: {class: (recall, precision, average precision)}."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.2, 4.4))
    for c, (recall, precision, ap) in sorted(curves.items()):
        name = ANOMALY_CLASSES[int(c)]
        ax.plot(recall, precision, color=(colours or {}).get(name), label=f"{name} (AP {ap:.3f})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.01)
    ax.grid(alpha=0.3)
    if curves:
        ax.legend(fontsize=8, loc="lower left")
    ax.set_title(title)
    png = _png(fig)
    plt.close(fig)
    return png


def _fmt(v, digits=3) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "–"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def _masked(n: int) -> str:
    if not n:
        return "none was overlapped whole by an anomaly of higher priority."
    one = n == 1
    return (f"{n:,} more {'was' if one else 'were'} overlapped whole by an anomaly of higher priority (every step "
            f"carries that class, so no method that names one class per step can name {'it' if one else 'them'}) "
            f"and {'is' if one else 'are'} left out.")


def comparison_rows(evaluation: Evaluation) -> list[list[str]]:
    rows = []
    for method, s in evaluation.summaries.items():
        per = s["per_class"]
        rows.append([METHOD_LABELS.get(method, method), _fmt(s["macro_f1"]),
                     *[_fmt(per[c]["f1"]) if per else "–" for c in ANOMALY_CLASS_IDS],
                     _fmt(s["detection_f1"]), _fmt(s["event_recall"]), _fmt(s["false_alarms_per_household_week"], 2)])
    return rows


COMPARISON_HEADER = ["method", "macro-F1", *[ANOMALY_CLASSES[c] for c in ANOMALY_CLASS_IDS], "any-anomaly F1",
                     "event recall", "false alarms / household-week"]


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_evaluation_report(folder: Path, meta: dict, evaluation: Evaluation) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    images = plots(meta, evaluation)
    for name, png in images.items():
        (folder / name).write_bytes(png)
    clf = evaluation.summaries["classifier"]
    per_class = [[ANOMALY_CLASSES[c], _fmt(s["precision"]), _fmt(s["recall"]), _fmt(s["f1"]), f"{s['support']:,}",
                  _fmt(clf["event_recall_per_class"].get(c)), _fmt(clf["median_delay_minutes"].get(c), 0)]
                 for c, s in clf["per_class"].items() if c != 0]
    hard = sorted({k for s in evaluation.summaries.values() for k in s["hard_negative_flagged"]})
    hard_rows = [[k, *[_fmt(s["hard_negative_flagged"].get(k)) for s in evaluation.summaries.values()]] for k in hard]
    m = meta.get("metrics", {})
    quant = ""
    if "int8_bytes" in m:
        quant = _table(["", "size (KB)", "windows/s (2 threads, as scoring runs it)", "validation macro-F1 (argmax)"], [
            ["ONNX fp32", f"{m['fp32_bytes'] / 1024:.0f}", f"{m['fp32_windows_per_s']:,}", _fmt(m["validation_macro_f1_onnx_fp32"], 4)],
            ["ONNX int8 (static)", f"{m['int8_bytes'] / 1024:.0f}", f"{m['int8_windows_per_s']:,}", _fmt(m["validation_macro_f1_int8"], 4)],
        ]) + f"<p>Scoring uses <code>{html.escape(meta.get('scoring_file', ''))}</code>.</p>"
    imgs = "".join(f'<figure><img alt="{n}" src="data:image/png;base64,{base64.b64encode(b).decode()}"></figure>'
                   for n, b in images.items())
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>HomeWatch model evaluation: {html.escape(meta['model_version'])}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }}
th, td {{ border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
th {{ background: #f0f3f7; }}
figure {{ display: inline-block; margin: 0.5rem; }} img {{ max-width: 520px; }}
code {{ background: #f4f4f4; padding: 0 0.2rem; }}
</style></head><body>
<h1>Model evaluation: {html.escape(meta['model_version'])}</h1>
<p>{len(evaluation.households)} {html.escape(evaluation.split)} households (never trained or tuned on),
{clf['household_weeks']:.0f} household-weeks, step level without point-adjust.
Architecture <code>{html.escape(meta['config']['arch'])}</code>, window {meta['window']} steps of {meta['step_minutes']} minutes,
best epoch {meta.get('best_epoch')} (validation macro-F1 {_fmt(m.get('validation_macro_f1'), 4)}), trained in {meta.get('training_seconds')} s{f" ({meta['run_seconds']} s with export and evaluation)" if meta.get('run_seconds') else ''}.
{f"Per-class decision weights, fitted on the validation households: {html.escape(str(meta['decision_weights']))} (a step's class is the argmax of its probabilities times these)." if meta.get('decision_weights') else "Decision: the argmax of the probabilities."}</p>
<h2>Side by side</h2>{_table(COMPARISON_HEADER, comparison_rows(evaluation))}
<h2>Classifier per class</h2>{_table(["class", "precision", "recall", "F1", "support (steps)", "event recall", "median delay (min)"], per_class)}
<p>Event recall counts {clf['events_total']:,} anomalies; {_masked(clf.get('events_masked', 0))}</p>
<h2>Hard negatives wrongly flagged (share of events)</h2>{_table(["kind", *[METHOD_LABELS.get(k, k) for k in evaluation.summaries]], hard_rows)}
{"<h2>Quantization</h2>" + quant if quant else ""}
<h2>Plots</h2>{imgs}
</body></html>"""
    path = folder / "evaluation.html"
    path.write_text(page)
    return path
