"""Metrics that accumulate over an epoch (Keras semantics: means over samples, masks respected)."""
from __future__ import annotations

from typing import Callable

import torch

from . import losses as L

__all__ = ["Metric", "MeanMetric", "get", "resolve_accuracy"]


class Metric:
    """Accumulates a weighted sum and a count as tensors, so updating never waits on the device."""

    def __init__(self, name: str):
        self.name = name
        self.reset_state()

    def reset_state(self) -> None:
        self.total = None
        self.count = None

    def _add(self, values: torch.Tensor, weight: torch.Tensor | None) -> None:
        values = values.detach().to(torch.float64)
        w = torch.ones_like(values) if weight is None else weight.detach().to(torch.float64).expand_as(values)
        s, c = (values * w).sum(), w.sum()
        self.total = s if self.total is None else self.total + s
        self.count = c if self.count is None else self.count + c

    def result(self) -> float:
        if self.total is None:
            return 0.0
        return float(self.total / self.count) if float(self.count) > 0 else 0.0

    def state_tensor(self) -> torch.Tensor:
        """(total, count) as one tensor, for summing across processes."""
        if self.total is None:
            return torch.zeros(2, dtype=torch.float64)
        return torch.stack([self.total.cpu(), self.count.cpu()])

    def set_state_tensor(self, t: torch.Tensor) -> None:
        self.total, self.count = t[0], t[1]


class MeanMetric(Metric):
    """The mean of a per-sample function of ``(y_true, y_pred)``."""

    def __init__(self, name: str, fn: Callable):
        self.fn = fn
        super().__init__(name)

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None) -> None:
        values = self.fn(y_true, y_pred)
        weight = _weights(values, sample_weight, mask)
        self._add(values, weight)


def _weights(values, sample_weight, mask):
    """The mask times the sample weights, as in the loss (None when there are neither)."""
    w = None if mask is None else L.mask_weight(mask, values)
    if sample_weight is not None:
        sw = L.sample_weight_for(sample_weight, values)
        w = sw if w is None else w * sw
    return w


def binary_accuracy(y_true, y_pred, threshold: float = 0.5):
    y_true, y_pred = L._match(y_true, y_pred)
    return torch.mean(((y_pred > threshold).to(y_true.dtype) == y_true).to(y_pred.dtype), dim=-1)


def categorical_accuracy(y_true, y_pred):
    return (torch.argmax(y_true, dim=-1) == torch.argmax(y_pred, dim=-1)).to(y_pred.dtype)


def sparse_categorical_accuracy(y_true, y_pred):
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    return (y_true.long() == torch.argmax(y_pred, dim=-1)).to(y_pred.dtype)


class RootMeanSquaredError(Metric):
    """``sqrt(mean((y_pred - y_true)²))`` over all elements of the epoch."""

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None) -> None:
        y_true, y_pred = L._match(y_true, y_pred)
        values = (y_pred - y_true) ** 2
        self._add(values, _weights(values, sample_weight, mask))

    def result(self) -> float:
        return super().result() ** 0.5


_FNS = {
    "binary_accuracy": binary_accuracy, "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "mae": L.mean_absolute_error, "mean_absolute_error": L.mean_absolute_error,
    "mse": L.mean_squared_error, "mean_squared_error": L.mean_squared_error,
    "binary_crossentropy": L.binary_crossentropy, "categorical_crossentropy": L.categorical_crossentropy,
    "sparse_categorical_crossentropy": L.sparse_categorical_crossentropy,
}
KNOWN = sorted(list(_FNS) + ["accuracy", "acc", "rmse", "root_mean_squared_error"])


def resolve_accuracy(loss_name: str, y_true: torch.Tensor, y_pred: torch.Tensor) -> str:
    """Which accuracy "accuracy" means, from the loss (as Keras) or else from the shapes."""
    if "sparse_categorical" in loss_name:
        return "sparse_categorical_accuracy"
    if "categorical" in loss_name:
        return "categorical_accuracy"
    if "binary" in loss_name or y_pred.shape[-1] == 1:
        return "binary_accuracy"
    if y_true.ndim < y_pred.ndim or y_true.shape[-1] == 1:
        return "sparse_categorical_accuracy"
    return "categorical_accuracy"


def get(identifier, loss_name: str, y_true, y_pred) -> Metric:
    """A metric from a Keras name (``"accuracy"`` resolved from the loss) or a callable."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        display = identifier
        if key in ("accuracy", "acc"):
            key = resolve_accuracy(loss_name, y_true, y_pred)
        if key in ("rmse", "root_mean_squared_error"):
            return RootMeanSquaredError(display)
        if key not in _FNS:
            raise ValueError(f"Unknown metric {identifier!r}. Known metrics: {', '.join(KNOWN)}.")
        return MeanMetric(display, _FNS[key])
    if callable(identifier):
        return MeanMetric(getattr(identifier, "__name__", "metric"), identifier)
    raise TypeError(f"A metric must be a name or a callable. Received: {identifier!r}")


def check_name(identifier) -> None:
    """Fail at compile time for an unknown metric name (listing the known ones)."""
    if isinstance(identifier, str) and identifier.lower() not in KNOWN:
        raise ValueError(f"Unknown metric {identifier!r}. Known metrics: {', '.join(KNOWN)}.")
    if not isinstance(identifier, (str, Metric)) and not callable(identifier):
        raise TypeError(f"A metric must be a name or a callable. Received: {identifier!r}")


def from_config(config) -> list:
    """Metric names from Keras's compile config (names, or ``{"class_name", "config": {"name"}}`` dicts)."""
    out = []
    for m in config if isinstance(config, list) else [config]:
        if isinstance(m, list):
            out.append(from_config(m))
            continue
        name = m if isinstance(m, str) else ((m.get("config") or {}).get("name") if isinstance(m, dict) else None)
        if not isinstance(name, str) or name.lower() not in KNOWN:
            raise ValueError(f"glassnet has no metric {str(m)[:80]!r}")
        out.append(name)
    return out
