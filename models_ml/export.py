"""ONNX export (dynamic batch axis), parity with torch, and static int8 quantization.

Static quantization (calibrated on real windows) is for the convolutional models: dynamic
int8 makes convolutions slower on the CPU, and recurrent/attention models gain little.
"""
from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import numpy as np

from models_ml import ModelError

INPUT_NAME = "windows"
OUTPUT_NAME = "logits"
OPSET = 17
QUANTIZABLE = ("causal_cnn", "cnn", "tcn")


class ExportError(ModelError):
    pass


def export_onnx(model, window: int, n_features: int, path: Path) -> Path:
    """Write the model as ONNX: input (batch, window, features) float32, output logits (batch,
    classes). A sequence model (`model.sequence`) gets a dynamic steps axis too: input (batch,
    steps >= window, features), output (batch * (steps - window + 1), classes), the logits of
    every window in the input, in order (with steps = window, the same contract as the others)."""
    import torch

    model.eval()
    sequence = bool(getattr(model, "sequence", False))
    example = torch.zeros(2, window + 3 if sequence else window, n_features)
    axes = {INPUT_NAME: {0: "batch", 1: "steps"} if sequence else {0: "batch"}, OUTPUT_NAME: {0: "windows"}}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(model, (example,), str(path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                      dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    return path


def takes_sequences(sess) -> bool:
    """Whether an ONNX Runtime session's model takes a whole series (a named steps axis) or
    windows of a fixed length only."""
    return not isinstance(sess.get_inputs()[0].shape[1], int)


SEGMENT_STEPS = 4096     # a series goes through a sequence model in segments of this many steps
SEGMENTS_PER_RUN = 8     # (plus window - 1 steps of overlap each), this many segments per run call


def series_logits(sess, X: np.ndarray, window: int, first: int = 0, batch: int = 8192,
                  columns: list[str] | None = None) -> np.ndarray:
    """Logits of the window ending at each step first ... T-1 of one household's (T, F)
    features, under an ONNX Runtime session; the first steps' windows are padded as
    data.windows pads them. A sequence model reads the series once, in overlapping segments
    (the same numbers as window by window, see models_ml/nets.py); any other reads windows.
    Given the feature `columns`, a class whose evidence sensors the home lacks at a step gets
    a logit of sensors.LOGIT_OFF there (probability 0; models_ml/sensors.py): every scoring,
    evaluation and validation pass goes through here."""
    from models_ml.data import segments, windows
    from models_ml.sensors import gate_logits, step_allowed

    n = len(X) - first
    if n <= 0:
        return np.zeros((0, sess.get_outputs()[0].shape[1] or 0), dtype=np.float32)
    if not takes_sequences(sess):
        wins = windows(X, window)
        logits = np.concatenate([sess.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(wins[s:s + batch])})[0]
                                 for s in range(first, len(wins), batch)])
    else:
        pieces = segments(X, window, first, SEGMENT_STEPS)
        out = [sess.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(pieces[s:s + SEGMENTS_PER_RUN])})[0]
               for s in range(0, len(pieces), SEGMENTS_PER_RUN)]
        logits = np.concatenate(out)[:n]
    return gate_logits(logits, step_allowed(X[first:], columns)) if columns is not None else logits


def session(path: Path, threads: int = 2):
    """An ONNX Runtime session on the CPU, with a clear error for a missing or broken file."""
    import onnxruntime as ort

    if not Path(path).is_file():
        raise ExportError(f"model file not found: {path}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for bad files
        raise ExportError(f"model file {path} cannot be loaded by ONNX Runtime: {str(exc).splitlines()[0]}") from None


def max_abs_difference(model, onnx_path: Path, windows: np.ndarray) -> float:
    """Largest absolute difference of logits between torch and ONNX Runtime on these windows."""
    import torch

    model.eval()
    with torch.inference_mode():
        expected = model(torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32))).numpy()
    got = session(onnx_path).run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(windows, dtype=np.float32)})[0]
    return float(np.abs(expected - got).max())


CALIBRATION_PERCENTILE = 99.99   # activation ranges clip the rarest 0.01% (MinMax lost 0.09 macro-F1)


def quantize_int8(onnx_path: Path, calibration: np.ndarray, out_path: Path, batch: int = 256) -> Path:
    """Static int8 (QDQ, per-channel weights) quantization calibrated on real windows. Activation
    ranges come from a percentile, not the extremes: feature outliers would otherwise stretch
    the input's scale and wash out the common values."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    calibration = calibration[:max(len(calibration) // batch, 1) * batch]   # equal batches (percentile needs them)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([calibration[i:i + batch] for i in range(0, len(calibration), batch)])

        def get_next(self):
            chunk = next(self.batches, None)
            return None if chunk is None else {INPUT_NAME: np.ascontiguousarray(chunk, dtype=np.float32)}

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(onnx_path), str(prepared), skip_symbolic_shape=True)
        with contextlib.redirect_stdout(io.StringIO()):   # ORT prints its calibration steps to stdout
            quantize_static(str(prepared), str(out_path), Reader(), quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                            calibrate_method=CalibrationMethod.Percentile,
                            extra_options={"CalibPercentile": CALIBRATION_PERCENTILE})
    return out_path
