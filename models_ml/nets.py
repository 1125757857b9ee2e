"""The sequence classifiers: windows (batch, window, features) -> class logits (batch, classes).

Every model starts with the same normalisation layer (the training set's per-feature mean and
spread, stored as buffers), so the exported ONNX graph takes raw feature rows and the scorer
needs nothing but ONNX Runtime.

`causal_cnn` (the default) is also a sequence model: it is made of unpadded convolutions whose
receptive field, with the mean the head takes, is exactly the window, so run over a whole
series (batch, T, features) it returns the logits of every window ending at step window-1 ...
T-1 in one pass, the very numbers the windows one by one would give (12-step windows overlap by
11), for a sixth of the arithmetic of its windows one by one and a twelfth of the padded CNN's.
The scorer, the evaluation and training's validation passes run it that way.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from models_ml import ModelError
from models_ml.config import ARCHITECTURES, LSTM_MAX_LAYERS, TrainConfig, causal_dilations


class Normalize(nn.Module):
    """(x - mean) / scale per feature, then clipped to +-clip standard units if clip > 0: a
    z-score of 40 says no more than one of 10, and bounded inputs keep int8's resolution for
    the common values (one scale covers the whole input tensor)."""

    def __init__(self, n_features: int, clip: float = 0.0) -> None:
        super().__init__()
        self.clip = float(clip)
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = (x - self.mean) / self.scale
        return z.clamp(-self.clip, self.clip) if self.clip > 0 else z


class ClassifierNet(nn.Module):
    """The contract of every architecture, checked when it registers (`architecture`):
    - it is built as `Net(n_features, n_classes, cfg)` and calls `super().__init__(n_classes)`;
    - `forward`: normalised windows (B, window, n_features) -> logits (B, n_classes);
    - `sequence = True` only with its own `forward_sequence`: a whole normalised series
      (B, T, n_features), T >= window -> every window's logits (B, T - window + 1, n_classes).
    Nothing else (no layer name) is assumed about it."""

    sequence = False

    def __init__(self, n_classes: int) -> None:
        super().__init__()
        self.n_classes = int(n_classes)

    def forward_sequence(self, x: torch.Tensor) -> torch.Tensor:
        raise ModelError(f"{type(self).__name__} is not a sequence model: score it window by window")


ARCHS: dict[str, type[ClassifierNet]] = {}   # name -> class, filled by @architecture


def architecture(name: str):
    """Register a class under one of config.ARCHITECTURES, after checking it keeps the contract."""
    def register(cls: type) -> type:
        if name not in ARCHITECTURES:
            raise ModelError(f"architecture {name!r} is not in models_ml/config.py ARCHITECTURES: add it there "
                             "so options and the CLI accept it")
        if name in ARCHS:
            raise ModelError(f"architecture {name!r} is registered twice ({ARCHS[name].__name__}, {cls.__name__})")
        if not issubclass(cls, ClassifierNet):
            raise ModelError(f"{cls.__name__} must subclass ClassifierNet (the contract every architecture keeps)")
        if cls.sequence and cls.forward_sequence is ClassifierNet.forward_sequence:
            raise ModelError(f"{cls.__name__} says sequence = True but has no forward_sequence")
        ARCHS[name] = cls
        return cls
    return register


@architecture("cnn")
class DilatedCNN(ClassifierNet):
    """Conv blocks with dilation 1, 2, 4, ... over the window; the head reads the last step's
    channels and the window's mean (what happens now, and against what)."""

    def __init__(self, n_features: int, n_classes: int, cfg: TrainConfig) -> None:
        super().__init__(n_classes)
        blocks, channels = [], n_features
        for i in range(cfg.layers):
            dilation = 2 ** i
            blocks += [nn.Conv1d(channels, cfg.hidden, kernel_size=3, dilation=dilation, padding=dilation),
                       nn.BatchNorm1d(cfg.hidden), nn.ReLU()]
            channels = cfg.hidden
        self.body = nn.Sequential(*blocks)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(2 * cfg.hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x.transpose(1, 2))                    # (B, H, W)
        return self.head(self.drop(torch.cat([h[:, :, -1], h.mean(dim=2)], dim=1)))


@architecture("causal_cnn")
class CausalCNN(ClassifierNet):
    """Unpadded dilated convolutions (kernel 3, receptive field R <= window), then a head on
    each position's channels and their mean over the last window - R + 1 positions: the
    output at step t depends on steps t - window + 1 ... t and nothing else, whether the input
    is that window or a whole series (`forward_sequence`)."""

    sequence = True

    def __init__(self, n_features: int, n_classes: int, cfg: TrainConfig) -> None:
        super().__init__(n_classes)
        self.dilations = causal_dilations(cfg.window, cfg.layers)
        blocks, channels = [], n_features
        for dilation in self.dilations:
            blocks += [nn.Conv1d(channels, cfg.hidden, kernel_size=3, dilation=dilation),
                       nn.BatchNorm1d(cfg.hidden), nn.ReLU()]
            channels = cfg.hidden
        self.body = nn.Sequential(*blocks)
        self.pool = cfg.window - 2 * sum(self.dilations)     # positions the mean covers
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Conv1d(2 * cfg.hidden, n_classes, kernel_size=1)   # a Linear at every position

    def forward_sequence(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, F) normalised, T >= window -> (B, T - window + 1, classes)."""
        h = self.body(x.transpose(1, 2))                    # (B, H, T - R + 1)
        mean = F.avg_pool1d(h, self.pool, stride=1)         # (B, H, T - window + 1)
        now = h[:, :, self.pool - 1:]                       # the last position of each window
        return self.head(self.drop(torch.cat([now, mean], dim=1))).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, window, F) -> (B, classes); a longer input gives every window's row, in order."""
        return self.forward_sequence(x).reshape(-1, self.n_classes)


class TCNBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.pad = 2 * dilation                             # kernel 3, causal: pad on the left only
        self.conv1 = nn.Conv1d(c_in, c_out, 3, dilation=dilation)
        self.conv2 = nn.Conv1d(c_out, c_out, 3, dilation=dilation)
        self.drop = nn.Dropout(dropout)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop(F.relu(self.conv1(F.pad(x, (self.pad, 0)))))
        h = self.drop(F.relu(self.conv2(F.pad(h, (self.pad, 0)))))
        return F.relu(h + self.skip(x))


@architecture("tcn")
class TCN(ClassifierNet):
    """Temporal convolutional network: causal, residual, dilations 1, 2, 4, ...; reads the last step."""

    def __init__(self, n_features: int, n_classes: int, cfg: TrainConfig) -> None:
        super().__init__(n_classes)
        self.body = nn.Sequential(*[TCNBlock(n_features if i == 0 else cfg.hidden, cfg.hidden, 2 ** i, cfg.dropout)
                                    for i in range(cfg.layers)])
        self.head = nn.Linear(cfg.hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x.transpose(1, 2))[:, :, -1])


@architecture("lstm")
class LSTMClassifier(ClassifierNet):
    def __init__(self, n_features: int, n_classes: int, cfg: TrainConfig) -> None:
        super().__init__(n_classes)
        if cfg.layers > LSTM_MAX_LAYERS:   # TrainConfig refuses it too; never silently fewer layers
            raise ModelError(f"an lstm stacks at most {LSTM_MAX_LAYERS} layers, got {cfg.layers}")
        self.lstm = nn.LSTM(n_features, cfg.hidden, num_layers=cfg.layers, batch_first=True,
                            dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        self.head = nn.Linear(cfg.hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


@architecture("transformer")
class TransformerClassifier(ClassifierNet):
    def __init__(self, n_features: int, n_classes: int, cfg: TrainConfig) -> None:
        super().__init__(n_classes)
        d_model = cfg.hidden - cfg.hidden % 4 or 4
        self.proj = nn.Linear(n_features, d_model)
        self.position = nn.Parameter(torch.zeros(1, cfg.window, d_model))
        layer = nn.TransformerEncoderLayer(d_model, nhead=4, dim_feedforward=2 * d_model, dropout=cfg.dropout,
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=cfg.layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder(self.proj(x) + self.position)
        return self.head(h[:, -1])


_unregistered = [name for name in ARCHITECTURES if name not in ARCHS]
if _unregistered:
    raise ModelError(f"no class registered for architecture(s) {', '.join(_unregistered)} of models_ml/config.py")


class WindowClassifier(nn.Module):
    """Normalisation, then the chosen architecture. Input (B, window, features) float32."""

    def __init__(self, n_features: int, cfg: TrainConfig) -> None:
        super().__init__()
        self.normalize = Normalize(n_features, cfg.input_clip)
        self.net = ARCHS[cfg.arch](n_features, len(cfg.classes), cfg)

    @property
    def sequence(self) -> bool:
        """Whether a whole series can go in at once (see CausalCNN)."""
        return self.net.sequence

    @property
    def n_classes(self) -> int:
        return self.net.n_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(x))

    def forward_sequence(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, F) -> (B, T - window + 1, classes): every window's logits (sequence models only)."""
        return self.net.forward_sequence(self.normalize(x))
