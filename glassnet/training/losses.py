"""Losses with Keras definitions: per-sample values, then a masked, weighted mean.

Each loss function maps ``(y_true, y_pred)`` to per-sample values (the last axis reduced, as
Keras does); :func:`reduce_loss` applies sample weights and masks and averages with Keras's
``sum_over_batch_size`` rule (a mask turns it into the mean over real steps).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

__all__ = ["get", "reduce_loss", "LOSSES", "mean_squared_error", "mean_absolute_error", "huber",
           "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"]

EPSILON = 1e-7


def _match(y_true, y_pred):
    """Keras ``squeeze_or_expand_to_same_rank`` for targets."""
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    elif y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        y_true = y_true.unsqueeze(-1)
    return y_true.to(y_pred.dtype), y_pred


def mean_squared_error(y_true, y_pred):
    y_true, y_pred = _match(y_true, y_pred)
    return torch.mean((y_pred - y_true) ** 2, dim=-1)


def mean_absolute_error(y_true, y_pred):
    y_true, y_pred = _match(y_true, y_pred)
    return torch.mean(torch.abs(y_pred - y_true), dim=-1)


def huber(y_true, y_pred, delta: float = 1.0):
    y_true, y_pred = _match(y_true, y_pred)
    err = torch.abs(y_pred - y_true)
    quad = torch.clamp(err, max=delta)
    return torch.mean(0.5 * quad ** 2 + delta * (err - quad), dim=-1)


def binary_crossentropy(y_true, y_pred, from_logits: bool = False):
    y_true, y_pred = _match(y_true, y_pred)
    if from_logits:
        values = F.binary_cross_entropy_with_logits(y_pred, y_true, reduction="none")
    else:
        values = F.binary_cross_entropy(torch.clamp(y_pred, EPSILON, 1 - EPSILON), y_true, reduction="none")
    return torch.mean(values, dim=-1)


def categorical_crossentropy(y_true, y_pred, from_logits: bool = False, axis: int = -1):
    y_true = y_true.to(y_pred.dtype)
    if from_logits:
        return -torch.sum(y_true * torch.log_softmax(y_pred, dim=axis), dim=axis)
    p = y_pred / torch.sum(y_pred, dim=axis, keepdim=True)
    return -torch.sum(y_true * torch.log(torch.clamp(p, EPSILON, 1 - EPSILON)), dim=axis)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False):
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    y_true = y_true.long()
    if from_logits:  # one fused kernel (log-softmax and gather), the same numbers
        return F.cross_entropy(y_pred.movedim(-1, 1) if y_pred.ndim > 2 else y_pred, y_true, reduction="none")
    else:
        p = y_pred / torch.sum(y_pred, dim=-1, keepdim=True)
        logp = torch.log(torch.clamp(p, EPSILON, 1 - EPSILON))
    return -torch.gather(logp, -1, y_true.unsqueeze(-1)).squeeze(-1)


LOSSES: dict[str, Callable] = {
    "mean_squared_error": mean_squared_error, "mse": mean_squared_error,
    "mean_absolute_error": mean_absolute_error, "mae": mean_absolute_error,
    "huber": huber, "huber_loss": huber,
    "binary_crossentropy": binary_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
}


def _mean_mse(y_true, y_pred):
    return F.mse_loss(y_pred, y_true.to(y_pred.dtype))


def _mean_mae(y_true, y_pred):
    return F.l1_loss(y_pred, y_true.to(y_pred.dtype))


# the unweighted, unmasked mean of a loss in one fused torch call (same value as reduce_loss(values))
_FUSED_MEAN = {"mean_squared_error": _mean_mse, "mse": _mean_mse, "mean_absolute_error": _mean_mae, "mae": _mean_mae}


class _Configured:
    """A named loss with fixed options, e.g. ``Loss("binary_crossentropy", from_logits=True)``."""

    def __init__(self, name: str, **options):
        self.name, self.fn, self.options = name, LOSSES[name], options
        self._fused = _FUSED_MEAN.get(name) if not options else None

    def __call__(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self.options)

    def mean(self, y_true, y_pred):
        """The batch loss without weights or mask; a single fused kernel where one exists."""
        if self._fused is not None and y_true.shape == y_pred.shape:
            return self._fused(y_true, y_pred)
        return reduce_loss(self(y_true, y_pred))


def get(identifier) -> Callable:
    """A per-sample loss from a Keras name, a ``(name, options)`` pair or a callable."""
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in LOSSES:
            raise ValueError(f"Unknown loss {identifier!r}. Known losses: {', '.join(sorted(LOSSES))}.")
        return _Configured(key)
    if isinstance(identifier, tuple) and len(identifier) == 2 and isinstance(identifier[0], str):
        return _Configured(identifier[0].lower(), **identifier[1])
    if callable(identifier):
        return identifier
    raise TypeError(f"A loss must be a name or a callable. Received: loss={identifier!r}")


def loss_name(fn) -> str:
    return getattr(fn, "name", getattr(fn, "__name__", type(fn).__name__))


def mask_weight(mask: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """A mask as 0/1 weights for per-element ``values`` (a trailing axis of 1 dropped)."""
    mask = mask.to(values.dtype)
    if mask.ndim == values.ndim + 1 and mask.shape[-1] == 1:
        mask = mask.squeeze(-1)
    return mask


def sample_weight_for(sample_weight: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Per-sample weights with trailing axes added so they broadcast over ``values``."""
    sw = sample_weight.to(values.dtype)
    while sw.ndim < values.ndim:
        sw = sw.unsqueeze(-1)
    return sw


def reduce_loss(values: torch.Tensor, sample_weight=None, mask=None) -> torch.Tensor:
    """Keras ``sum_over_batch_size``: ``sum(values·w) / count``; with a mask, the mean over real steps."""
    if values.ndim == 0:
        return values
    if mask is None and sample_weight is None:
        return values.mean()
    total = values.numel()
    weight = None
    if mask is not None:
        mask = mask_weight(mask, values)
        valid = mask.sum()
        weight = mask * torch.where(valid > 0, total / valid, torch.zeros_like(valid))
    if sample_weight is not None:
        sw = sample_weight_for(sample_weight, values)
        weight = sw if weight is None else weight * sw
    if weight is not None:
        values = values * weight
    return values.sum() / total


_KERAS_CLASS_NAMES = {"meansquarederror": "mse", "meanabsoluteerror": "mae", "huber": "huber",
                      "binarycrossentropy": "binary_crossentropy", "categoricalcrossentropy": "categorical_crossentropy",
                      "sparsecategoricalcrossentropy": "sparse_categorical_crossentropy"}


def from_config(config):
    """A loss from Keras's compile config: a name, ``{"class_name", "config"}``, or a list of them.

    Raises ValueError for a loss glassnet does not have.
    """
    if isinstance(config, list):
        return [None if c is None else from_config(c) for c in config]
    if isinstance(config, dict) and not {"class_name", "config"} & set(config):
        return {k: from_config(v) for k, v in config.items()}
    if isinstance(config, dict):
        cfg = config.get("config") or {}
        key = str(config.get("class_name", "")).lower().replace("_", "")
        name = _KERAS_CLASS_NAMES.get(key) or (cfg.get("name") if isinstance(cfg, dict) else None)
        if name not in LOSSES:
            raise ValueError(f"glassnet has no loss {config.get('class_name')!r}")
        options = {k: v for k, v in cfg.items() if k in ("from_logits", "delta")} if isinstance(cfg, dict) else {}
        return (name, options) if options else name
    if isinstance(config, str):
        key = config.lower()
        key = _KERAS_CLASS_NAMES.get(key.replace("_", ""), key)
        if key not in LOSSES:
            raise ValueError(f"glassnet has no loss {config!r}")
        return key
    raise ValueError(f"a loss config must be a name or a dict, not {type(config).__name__}")
