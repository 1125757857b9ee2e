"""Every hyperparameter of the classifier in one dataclass.

`TrainConfig.from_dict` is the only way options come in (CLI overrides, JSON metadata), and an
unknown key is an error, so a typo never silently trains the default.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from models_ml import ModelError
from warehouse.taxonomy import CLASS_IDS

# The architectures' names, torch-free so options and the CLI are checked without torch;
# models_ml/nets.py registers one class per name (@architecture) and fails to import otherwise.
ARCHITECTURES = ("causal_cnn", "cnn", "tcn", "lstm", "transformer")
LSTM_MAX_LAYERS = 2  # the LSTM stacks at most this many layers
IMBALANCE = ("weighted", "focal", "sampler")


class ConfigError(ModelError, ValueError):
    """A training option is unknown or out of range."""


def causal_dilations(window: int, layers: int, kernel: int = 3) -> list[int]:
    """Dilations 1, 2, 4, ... for `layers` unpadded convolutions, the largest shrunk until the
    receptive field (1 + (kernel - 1) * sum) fits the window: (1, 2, 2) for 3 layers over 12 steps."""
    dilations = [2 ** i for i in range(layers)]
    while 1 + (kernel - 1) * sum(dilations) > window:
        top = max(range(layers), key=lambda i: (dilations[i], i))
        if dilations[top] == 1:
            if window < kernel:
                raise ConfigError(f"a causal CNN needs a window of at least {kernel} steps, got {window}")
            raise ConfigError(f"{layers} convolution layers (kernel {kernel}) see more than a {window}-step window; "
                              f"use at most {(window - 1) // (kernel - 1)} layers or a longer window")
        dilations[top] -= 1
    return dilations


@dataclass(frozen=True)
class TrainConfig:
    # the model
    arch: str = "causal_cnn"        # causal_cnn (unpadded dilated 1-D CNN over exactly the window; scores a
                                    # whole series in one pass), cnn (dilated 1-D CNN, padded), tcn (causal,
                                    # residual), lstm, transformer
    window: int = 12                # steps per window; 12 = 1 hour at 5-minute steps
    hidden: int = 48                # channels / hidden units
    layers: int = 3                 # conv blocks, LSTM layers or encoder layers
    dropout: float = 0.1
    input_clip: float = 10.0        # normalised inputs are clipped to +-input_clip standard units (0: off)
    # the optimisation
    epochs: int = 12
    batch_size: int = 512
    lr: float = 3e-3
    weight_decay: float = 1e-4
    patience: int = 5               # epochs without a better validation macro-F1 before stopping
    imbalance: str = "weighted"     # weighted (class-weighted CE), focal (focal loss), sampler (balanced batches)
    focal_gamma: float = 2.0
    ema_decay: float = 0.998        # judge and keep a moving average of the weights (0: the raw weights)
    # the training set: every window whose label or neighbourhood is interesting is kept
    normal_keep: float = 0.05       # share of plain normal windows kept (the rest are alike)
    context_steps: int = 24         # normal windows this close to an anomaly are all kept
    max_per_class: int = 40_000     # windows kept per anomaly class (long incidents are alike step to step)
    max_normal: int = 150_000       # normal windows kept in all (hard negatives and faults first)
    # absent sensors: a share of the training windows lose whole sensors at random (each known
    # sensor with probability sensor_mask_drop, one always kept), written as a home without the
    # sensor reads, so the model works on homes with any subset (models_ml/sensors.py)
    sensor_mask_share: float = 0.15
    sensor_mask_drop: float = 0.5
    ood_sample_rows: int = 200_000  # training steps sampled for the out-of-distribution ranges (models_ml/ood.py)
    seed: int = 7
    threads: int = 2                # torch intra-op threads
    max_minutes: float = 9.0        # the whole `homewatch train` (reading, training, export, evaluation)
                                    # aims to end within this: no epoch starts that would overrun it
    validation_stride: int = 8      # epochs are judged on every validation step near an anomaly and a
                                    # random 1 in 8 of the others (weighted 8): about a quarter of the work
    # the decision: per-class weights on the probabilities, fitted on the validation households
    calibrate_decision: bool = True
    classes: tuple = field(default=CLASS_IDS)

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ConfigError(f"arch must be one of {', '.join(ARCHITECTURES)}, not {self.arch!r}")
        if self.imbalance not in IMBALANCE:
            raise ConfigError(f"imbalance must be one of {', '.join(IMBALANCE)}, not {self.imbalance!r}")
        for name in ("window", "hidden", "layers", "epochs", "batch_size", "threads", "max_per_class", "max_normal",
                     "validation_stride"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.normal_keep <= 1:
            raise ConfigError(f"normal_keep must be in (0, 1], got {self.normal_keep}")
        for name in ("sensor_mask_share", "sensor_mask_drop"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if int(self.ood_sample_rows) < 100:
            raise ConfigError(f"ood_sample_rows must be at least 100, got {self.ood_sample_rows}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.input_clip < 0:
            raise ConfigError(f"input_clip must be 0 (off) or positive, got {self.input_clip}")
        if not 0 <= self.ema_decay < 1:
            raise ConfigError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.arch == "causal_cnn":
            causal_dilations(int(self.window), int(self.layers))   # raises if the layers see past the window
        if self.arch == "lstm" and int(self.layers) > LSTM_MAX_LAYERS:
            raise ConfigError(f"an lstm stacks at most {LSTM_MAX_LAYERS} layers, got layers={self.layers} "
                              f"(the default suits the convolutional nets): pass --set layers={LSTM_MAX_LAYERS}")
        if self.max_minutes <= 0:
            raise ConfigError(f"max_minutes must be positive, got {self.max_minutes}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"unknown training option(s): {', '.join(unknown)}; "
                              f"known: {', '.join(sorted(known))}")
        cast = {}
        for key, value in values.items():
            default = known[key].default
            try:
                if isinstance(default, bool):
                    cast[key] = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
                elif isinstance(default, (int, float, str)) and not isinstance(value, type(default)):
                    cast[key] = type(default)(value)
                elif isinstance(default, tuple):
                    cast[key] = tuple(value)
                else:
                    cast[key] = value
            except (TypeError, ValueError):
                raise ConfigError(f"{key} must be a {type(default).__name__}, got {value!r}") from None
        return cls(**cast)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    def with_overrides(self, **overrides) -> "TrainConfig":
        return TrainConfig.from_dict({**self.to_dict(), **overrides})
