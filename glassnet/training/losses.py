"""Keras 3's losses (``keras.losses``): each as a function and as a class, with Keras's numbers.

A loss function maps ``(y_true, y_pred)`` to per-sample values (the last axis reduced, as Keras does).
A ``Loss`` object calls its function and reduces the values with sample weights and a mask, by
Keras's ``reduction`` (default ``"sum_over_batch_size"``: ``Σ values·weights / number of values``;
a mask turns it into the mean over the unmasked values).

Example:
    >>> import torch
    >>> gn.losses.MeanSquaredError()(torch.tensor([[0., 1.]]), torch.tensor([[1., 1.]])).item()
    0.5
"""
from __future__ import annotations

import abc

import math
import warnings
import torch
import torch.nn.functional as F

from ..errors import ConfigError

__all__ = [
    "Loss", "LossFunctionWrapper", "MeanSquaredError", "MeanAbsoluteError", "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError", "CosineSimilarity", "Huber", "LogCosh", "Hinge", "SquaredHinge",
    "CategoricalHinge", "KLDivergence", "Poisson", "BinaryCrossentropy", "BinaryFocalCrossentropy",
    "CategoricalCrossentropy", "CategoricalFocalCrossentropy", "SparseCategoricalCrossentropy", "CTC", "Dice",
    "Tversky", "Circle", "CategoricalGeneralizedCrossEntropy",
    "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error", "mean_squared_logarithmic_error",
    "cosine_similarity", "huber", "log_cosh", "hinge", "squared_hinge", "categorical_hinge", "kl_divergence",
    "poisson", "binary_crossentropy", "binary_focal_crossentropy", "categorical_crossentropy",
    "categorical_focal_crossentropy", "sparse_categorical_crossentropy", "ctc", "dice", "tversky", "circle",
    "categorical_generalized_cross_entropy", "get", "serialize", "deserialize", "reduce_weighted_values",
    "squeeze_or_expand_to_same_rank", "loss_name",
]

EPSILON = 1e-7  # Keras's backend.epsilon()


def _cast(y_true, like):
    y_true = torch.as_tensor(y_true, device=like.device)
    return y_true.to(like.dtype)


def _pred(y_pred):
    t = torch.as_tensor(y_pred)
    return t if t.is_floating_point() else t.to(torch.get_default_dtype())


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1: bool = True):
    """Keras's rule: a trailing axis of 1 on one side is dropped (or added to a rank-1 other side)."""
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = x2.unsqueeze(-1)
        else:
            x1 = x1.squeeze(-1)
    if r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = x1.unsqueeze(-1)
        else:
            x2 = x2.squeeze(-1)
    return x1, x2


def _pair(y_true, y_pred):
    y_pred = _pred(y_pred)
    return squeeze_or_expand_to_same_rank(_cast(y_true, y_pred), y_pred)


# ---------------------------------------------------------------------- functions (per-sample values)
def mean_squared_error(y_true, y_pred):
    """``mean((y_true - y_pred)², axis=-1)``."""
    y_true, y_pred = _pair(y_true, y_pred)
    return torch.mean(torch.square(y_true - y_pred), dim=-1)


def mean_absolute_error(y_true, y_pred):
    """``mean(|y_true - y_pred|, axis=-1)``."""
    y_true, y_pred = _pair(y_true, y_pred)
    return torch.mean(torch.abs(y_true - y_pred), dim=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    """``100 · mean(|(y_true - y_pred) / max(|y_true|, ε)|, axis=-1)``."""
    y_true, y_pred = _pair(y_true, y_pred)
    diff = torch.abs((y_true - y_pred) / torch.clamp(torch.abs(y_true), min=EPSILON))
    return 100.0 * torch.mean(diff, dim=-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    """``mean((log(max(y_pred, ε)+1) - log(max(y_true, ε)+1))², axis=-1)``."""
    y_true, y_pred = _pair(y_true, y_pred)
    first = torch.log(torch.clamp(y_pred, min=EPSILON) + 1.0)
    second = torch.log(torch.clamp(y_true, min=EPSILON) + 1.0)
    return torch.mean(torch.square(first - second), dim=-1)


def _l2_normalize(x, axis):
    inv = torch.rsqrt(torch.sum(torch.square(x), dim=axis, keepdim=True))
    return x * torch.clamp(inv, max=1.0 / EPSILON)


def cosine_similarity(y_true, y_pred, axis=-1):
    """``-sum(l2_normalize(y_true) · l2_normalize(y_pred), axis)`` (in [-1, 1]; -1 is best)."""
    y_true, y_pred = _pair(y_true, y_pred)
    return -torch.sum(_l2_normalize(y_true, axis) * _l2_normalize(y_pred, axis), dim=axis)


def huber(y_true, y_pred, delta=1.0):
    """``½e²`` where ``|e| <= delta``, ``delta·|e| - ½delta²`` elsewhere, averaged over the last axis."""
    y_true, y_pred = _pair(y_true, y_pred)
    delta = torch.tensor(delta, dtype=y_pred.dtype, device=y_pred.device)
    error = y_pred - y_true
    abs_error = torch.abs(error)
    return torch.mean(torch.where(abs_error <= delta, 0.5 * torch.square(error),
                                  delta * abs_error - 0.5 * torch.square(delta)), dim=-1)


def log_cosh(y_true, y_pred):
    """``mean(log(cosh(y_pred - y_true)), axis=-1)``, computed without overflow."""
    y_true, y_pred = _pair(y_true, y_pred)
    x = y_pred - y_true
    return torch.mean(x + F.softplus(x * -2.0) - math.log(2.0), dim=-1)


def _hinge_labels(y_true):
    """0/1 labels become -1/1; other labels are kept."""
    binary = bool(torch.all((y_true == 0) | (y_true == 1)))
    return 2.0 * y_true - 1.0 if binary else y_true


def hinge(y_true, y_pred):
    """``mean(max(1 - y_true·y_pred, 0), axis=-1)`` (0/1 labels are taken as -1/1)."""
    y_pred = _pred(y_pred)
    y_true = _hinge_labels(_cast(y_true, y_pred))
    return torch.mean(torch.clamp(1.0 - y_true * y_pred, min=0.0), dim=-1)


def squared_hinge(y_true, y_pred):
    """``mean(max(1 - y_true·y_pred, 0)², axis=-1)``."""
    y_pred = _pred(y_pred)
    y_true = _hinge_labels(_cast(y_true, y_pred))
    return torch.mean(torch.square(torch.clamp(1.0 - y_true * y_pred, min=0.0)), dim=-1)


def categorical_hinge(y_true, y_pred):
    """``max(max((1-y_true)·y_pred) - sum(y_true·y_pred) + 1, 0)``."""
    y_pred = _pred(y_pred)
    y_true = _cast(y_true, y_pred)
    pos = torch.sum(y_true * y_pred, dim=-1)
    neg = torch.amax((1.0 - y_true) * y_pred, dim=-1)
    return torch.clamp(neg - pos + 1.0, min=0.0)


def kl_divergence(y_true, y_pred):
    """``sum(y_true · log(y_true / y_pred), axis=-1)``, both clipped to [ε, 1]."""
    y_pred = _pred(y_pred)
    y_true = torch.clamp(_cast(y_true, y_pred), EPSILON, 1)
    y_pred = torch.clamp(y_pred, EPSILON, 1)
    return torch.sum(y_true * torch.log(y_true / y_pred), dim=-1)


def poisson(y_true, y_pred):
    """``mean(y_pred - y_true · log(y_pred + ε), axis=-1)``."""
    y_pred = _pred(y_pred)
    y_true = _cast(y_true, y_pred)
    return torch.mean(y_pred - y_true * torch.log(y_pred + EPSILON), dim=-1)


def _categorical(target, output, from_logits, axis):
    if tuple(target.shape) != tuple(output.shape):
        raise ValueError("Arguments `target` and `output` must have the same shape. Received: "
                         f"target.shape={tuple(target.shape)}, output.shape={tuple(output.shape)}")
    if from_logits:
        log_prob = F.log_softmax(output, dim=axis)
    else:
        output = output / torch.sum(output, dim=axis, keepdim=True)
        log_prob = torch.log(torch.clamp(output, EPSILON, 1.0 - EPSILON))
    return -torch.sum(target * log_prob, dim=axis)


def _check_axis(axis):
    if isinstance(axis, bool):
        raise ValueError(f"`axis` must be of type `int`. Received: axis={axis} of type {type(axis)}")


def _warn_one_class(name, y_pred):
    if y_pred.shape[-1] == 1:
        warnings.warn(f"In loss {name}, expected y_pred.shape to be (batch_size, num_classes) with num_classes > 1. "
                      f"Received: y_pred.shape={tuple(y_pred.shape)}. Consider using 'binary_crossentropy' if you "
                      "only have 2 classes.", SyntaxWarning, stacklevel=3)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """``-sum(y_true · log(p), axis)`` for one-hot ``y_true``; ``label_smoothing`` mixes in the uniform."""
    _check_axis(axis)
    y_pred = _pred(y_pred)
    y_true = _cast(y_true, y_pred)
    _warn_one_class("categorical_crossentropy", y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_true.shape[-1]
    return _categorical(y_true, y_pred, from_logits, axis)


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                                   axis=-1):
    """Cross-entropy down-weighted for confident classes: ``-sum(alpha·(1-p)^gamma · y_true·log(p))``."""
    _check_axis(axis)
    y_pred = _pred(y_pred)
    y_true = _cast(y_true, y_pred)
    _warn_one_class("categorical_focal_crossentropy", y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_true.shape[-1]
    if from_logits:
        y_pred = torch.softmax(y_pred, dim=axis)
    output = torch.clamp(y_pred / torch.sum(y_pred, dim=axis, keepdim=True), EPSILON, 1.0 - EPSILON)
    cce = -y_true * torch.log(output)
    return torch.sum(torch.pow(1.0 - output, gamma) * alpha * cce, dim=axis)


def _sparse_values(y_true, y_pred, from_logits, axis):
    target = torch.as_tensor(y_true, device=y_pred.device).long()
    if target.ndim == y_pred.ndim and target.shape[axis] == 1:
        target = target.squeeze(axis)
    expected = list(y_pred.shape)
    del expected[axis]
    if list(target.shape) != expected:
        raise ValueError("Arguments `target` and `output` must have the same shape up until the last dimension: "
                         f"target.shape={tuple(target.shape)}, output.shape={tuple(y_pred.shape)}")
    output = y_pred
    squeeze = output.ndim == 1
    if squeeze:
        output, target = output.unsqueeze(0), target.unsqueeze(0)
    elif axis % output.ndim != 1:
        output = output.movedim(axis % output.ndim, 1)
    if from_logits:
        result = F.cross_entropy(output, target, reduction="none")
    else:
        output = output / torch.sum(output, dim=1, keepdim=True)
        result = F.nll_loss(torch.log(torch.clamp(output, EPSILON, 1.0 - EPSILON)), target, reduction="none")
    return result.squeeze(0) if squeeze else result


def _ignore_mask(y_true, ignore_class, axis, ndim):
    target = torch.as_tensor(y_true)
    if target.ndim == ndim and target.shape[axis] == 1:
        target = target.squeeze(axis)
    return target != ignore_class


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """``-log(p[label])`` for integer labels; labels equal to ``ignore_class`` give 0 (and are masked out
    of the mean by ``SparseCategoricalCrossentropy``)."""
    y_pred = _pred(y_pred)
    y_true = torch.as_tensor(y_true, device=y_pred.device)
    if ignore_class is None:
        return _sparse_values(y_true, y_pred, from_logits, axis)
    valid = _ignore_mask(y_true, ignore_class, axis, y_pred.ndim)
    target = y_true.squeeze(axis) if (y_true.ndim == y_pred.ndim and y_true.shape[axis] == 1) else y_true
    target = torch.where(valid, target, torch.zeros_like(target))
    values = _sparse_values(target, torch.where(valid.unsqueeze(axis), y_pred, torch.zeros_like(y_pred)),
                            from_logits, axis)
    return torch.where(valid, values, torch.zeros_like(values))


def _binary(target, output, from_logits):
    if tuple(target.shape) != tuple(output.shape):
        raise ValueError("Arguments `target` and `output` must have the same shape. Received: "
                         f"target.shape={tuple(target.shape)}, output.shape={tuple(output.shape)}")
    if from_logits:
        return F.binary_cross_entropy_with_logits(output, target, reduction="none")
    return F.binary_cross_entropy(torch.clamp(output, EPSILON, 1.0 - EPSILON), target, reduction="none")


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """``mean(-(y·log(p) + (1-y)·log(1-p)), axis)`` with ``p`` clipped to [ε, 1-ε] (or from logits)."""
    y_pred = _pred(y_pred)
    y_true = _cast(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return torch.mean(_binary(y_true, y_pred, from_logits), dim=axis)


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                              label_smoothing=0.0, axis=-1):
    """Binary cross-entropy times ``(1 - p_t)^gamma`` (and ``alpha``/``1-alpha`` with class balancing)."""
    y_pred = _pred(y_pred)
    y_true = _cast(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        y_pred = torch.sigmoid(y_pred)
    bce = _binary(y_true, y_pred, False)
    p_t = y_true * y_pred + (1 - y_true) * (1 - y_pred)
    focal = torch.pow(1.0 - p_t, gamma) * bce
    if apply_class_balancing:
        focal = (y_true * alpha + (1 - y_true) * (1 - alpha)) * focal
    return torch.mean(focal, dim=axis)


def ctc(y_true, y_pred):
    """Connectionist temporal classification: ``y_true (batch, max_label_length)`` integer labels padded with
    0 (the blank), ``y_pred (batch, time, classes)`` logits; per-sample negative log-likelihood."""
    y_pred = _pred(y_pred)
    y_true = torch.as_tensor(y_true, device=y_pred.device)
    if y_true.ndim != 2:
        raise ValueError("Targets `y_true` are expected to be a tensor of shape `(batch_size, max_length)` in integer "
                         f"format. Received: y_true.shape={tuple(y_true.shape)}")
    if y_pred.ndim != 3:
        raise ValueError("Logits `y_pred` are expected to be a tensor of shape `(batch_size, max_length, "
                         f"num_classes)`. Received: y_pred.shape={tuple(y_pred.shape)}")
    batch, time = y_pred.shape[0], y_pred.shape[1]
    out = y_pred.float() if y_pred.dtype in (torch.float16, torch.bfloat16) else y_pred
    input_lengths = torch.full((batch,), time, dtype=torch.int32, device=y_pred.device)
    label_lengths = torch.sum(y_true != 0, dim=-1).to(torch.int32)
    log_probs = F.log_softmax(out.transpose(0, 1), dim=-1)
    return F.ctc_loss(log_probs, y_true.long(), input_lengths, label_lengths, blank=0, reduction="none")


def _axis_sum(x, axis):
    return torch.sum(x) if axis is None else torch.sum(x, dim=axis)


def dice(y_true, y_pred, axis=None):
    """``1 - 2·sum(y_true·y_pred) / (sum(y_true) + sum(y_pred) + ε)`` over ``axis`` (all axes when None)."""
    y_pred = _pred(y_pred)
    y_true = _cast(y_true, y_pred)
    intersection = _axis_sum(y_true * y_pred, axis)
    return 1 - 2.0 * intersection / (_axis_sum(y_true, axis) + _axis_sum(y_pred, axis) + EPSILON)


def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    """``1 - TP / (TP + alpha·FP + beta·FN + ε)``, as Keras computes it (``FP = sum((1-y_pred)·y_true)``)."""
    y_pred = _pred(y_pred)
    y_true = _cast(y_true, y_pred)
    intersection = _axis_sum(y_true * y_pred, axis)
    fp = _axis_sum((1 - y_pred) * y_true, axis)
    fn = _axis_sum(y_pred * (1 - y_true), axis)
    return 1 - intersection / (intersection + fp * alpha + fn * beta + EPSILON)


def circle(y_true, y_pred, ref_labels=None, ref_embeddings=None, remove_diagonal=True, gamma=80, margin=0.4):
    """Circle loss (Sun et al. 2020) over L2-normalised embeddings ``y_pred`` with integer labels."""
    y_pred = _pred(y_pred)
    labels = torch.as_tensor(y_true, device=y_pred.device).long().reshape(-1, 1)
    ref = y_pred if ref_embeddings is None else torch.as_tensor(ref_embeddings, device=y_pred.device)
    ref_lab = labels if ref_labels is None else torch.as_tensor(ref_labels, device=y_pred.device).long().reshape(-1, 1)
    distances = torch.clamp(1 - y_pred @ ref.transpose(0, 1), min=0.0)
    positive = labels == ref_lab.transpose(0, 1)
    negative = ~positive
    if remove_diagonal:
        positive = positive & ~torch.eye(labels.numel(), ref_lab.numel(), dtype=torch.bool, device=y_pred.device)
    pos_w = torch.clamp((margin + distances) * positive.to(distances.dtype), min=0.0)
    neg_w = torch.clamp((1 + margin - distances) * negative.to(distances.dtype), min=0.0)
    pos_wd = -1 * gamma * pos_w * (margin - distances)
    neg_wd = gamma * neg_w * ((1 - margin) - distances)
    inf = torch.tensor(float("-inf"), dtype=distances.dtype, device=distances.device)
    p_loss = torch.logsumexp(torch.where(positive, pos_wd, inf), dim=1)
    n_loss = torch.logsumexp(torch.where(negative, neg_wd, inf), dim=1)
    return F.softplus(p_loss + n_loss)


def categorical_generalized_cross_entropy(y_true, y_pred, q):
    """``(1 - p[label]^q) / q`` for integer labels (Zhang & Sabuncu 2018), robust to noisy labels."""
    y_pred = _pred(y_pred)
    one_hot = F.one_hot(torch.as_tensor(y_true, device=y_pred.device).long(), y_pred.shape[-1]).to(y_pred.dtype)
    p = torch.sum(y_pred * one_hot, dim=-1)
    return (1 - torch.pow(p, q)) / q


# ---------------------------------------------------------------------- reduction
REDUCTIONS = ("sum_over_batch_size", "sum", None, "none", "mean", "mean_with_sample_weight")


def standardize_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"Invalid value for argument `reduction`. Expected one of {set(REDUCTIONS)}. "
                         f"Received: reduction={reduction}")
    return reduction


def _expand_like(weights, values):
    """Sample weights broadcast over ``values``: a trailing axis of 1 dropped, missing trailing axes added."""
    weights, values_ = squeeze_or_expand_to_same_rank(weights, values)
    if values_.ndim != values.ndim:
        return weights.reshape(values.shape) if weights.numel() == values.numel() else weights
    while weights.ndim < values.ndim:
        weights = weights.unsqueeze(-1)
    return weights


def reduce_weighted_values(values, sample_weight=None, mask=None, reduction="sum_over_batch_size"):
    """Keras's ``reduce_weighted_values``: mask → weights (renormalised for the mean reductions), times the
    sample weights, then the reduction. A mask of all False gives 0, never NaN."""
    reduction = standardize_reduction(reduction)
    if mask is None and sample_weight is None and reduction in ("sum_over_batch_size", "mean",
                                                                "mean_with_sample_weight") and values.ndim:
        return values.sum() / values.numel() if values.numel() else values.sum()  # the common case, at once
    dtype = values.dtype
    if mask is not None:
        mask = torch.as_tensor(mask, device=values.device)
        if mask.ndim == values.ndim + 1 and mask.shape[-1] == 1:
            mask = mask.squeeze(-1)
        if reduction in ("mean", "sum_over_batch_size"):
            valid = mask.to(dtype).sum()
            scale = torch.where(valid > 0, mask.numel() / valid, torch.zeros_like(valid))
            float_mask = torch.where(mask.bool(), scale, torch.zeros((), dtype=dtype, device=values.device))
        else:
            float_mask = mask.to(dtype)
        if sample_weight is not None:
            sw = _expand_like(torch.as_tensor(sample_weight, device=values.device).to(dtype), float_mask)
            sample_weight = sw * float_mask
        else:
            sample_weight = float_mask
    if sample_weight is not None:
        sample_weight = _expand_like(torch.as_tensor(sample_weight, device=values.device).to(dtype), values)
        values = values * sample_weight
    if reduction in (None, "none") or values.ndim == 0 or tuple(values.shape) == (0,):
        return values
    loss = values.sum()
    if reduction == "sum":
        return loss
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        divisor = torch.broadcast_to(sample_weight, values.shape).sum().to(loss.dtype)
    else:
        divisor = torch.tensor(float(values.numel()), dtype=loss.dtype, device=loss.device)
    return torch.where(divisor != 0, loss / torch.where(divisor != 0, divisor, torch.ones_like(divisor)),
                       torch.zeros_like(loss))


# ---------------------------------------------------------------------- classes
class Loss(abc.ABC):
    """Base class: ``call(y_true, y_pred)`` gives per-sample values; ``__call__`` reduces them.

    Args:
        name: the loss's name.
        reduction: ``"sum_over_batch_size"`` (default), ``"sum"``, ``"mean"``, ``"mean_with_sample_weight"``,
            ``"none"`` or ``None``.
        dtype: the dtype the loss is computed in (float32 by default; float32 under mixed precision too).
    """

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        self.name = name or _snake(type(self).__name__)
        self.reduction = standardize_reduction(reduction)
        self.dtype = dtype

    def __call__(self, y_true, y_pred, sample_weight=None, mask=None):
        """The reduced loss; ``mask`` (the output's mask, e.g. from ``Embedding(mask_zero=True)``) removes
        masked steps."""
        y_pred = _pred(y_pred)
        if self.dtype is not None or y_pred.dtype in (torch.float16, torch.bfloat16):
            y_pred = y_pred.to(_torch_dtype(self.dtype))
        values = self.call(y_true, y_pred)
        own = self.values_mask(y_true, y_pred, values)
        if mask is not None and tuple(torch.as_tensor(mask).shape) not in (tuple(values.shape),
                                                                           tuple(values.shape) + (1,)):
            mask = None  # a mask over another shape (e.g. the output's time axis reduced) does not apply
        if own is not None:
            mask = own if mask is None else (mask.bool() & own)
        return reduce_weighted_values(values, sample_weight, mask, self.reduction)

    @abc.abstractmethod
    def call(self, y_true, y_pred):
        """Per-sample loss values (every loss defines it; Keras's contract)."""

    def values_mask(self, y_true, y_pred, values):
        """Values that must not count in the mean (Keras marks them with a mask on the values); None: all count."""
        return None

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


def _torch_dtype(dtype):
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    name = dtype.get("config", {}).get("name") if isinstance(dtype, dict) else str(dtype)
    return getattr(torch, str(name).replace("mixed_", ""), torch.float32)


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and (not name[i - 1].isupper() or (i + 1 < len(name) and name[i + 1].islower())):
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


class LossFunctionWrapper(Loss):
    """A ``Loss`` from a function ``fn(y_true, y_pred, **kwargs)``."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", None), reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        y_true = torch.as_tensor(y_true, device=y_pred.device)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs}

    def __repr__(self):
        return f"<LossFunctionWrapper({getattr(self.fn, '__name__', self.fn)}, kwargs={self._fn_kwargs})>"


class MeanSquaredError(LossFunctionWrapper):
    """Mean of squared errors over the last axis, then over the batch."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, reduction=reduction, name=name, dtype=dtype)


class MeanAbsoluteError(LossFunctionWrapper):
    """Mean of absolute errors."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, reduction=reduction, name=name, dtype=dtype)


class MeanAbsolutePercentageError(LossFunctionWrapper):
    """Mean absolute percentage error."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_percentage_error", dtype=None):
        super().__init__(mean_absolute_percentage_error, reduction=reduction, name=name, dtype=dtype)


class MeanSquaredLogarithmicError(LossFunctionWrapper):
    """Mean squared logarithmic error."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(mean_squared_logarithmic_error, reduction=reduction, name=name, dtype=dtype)


class CosineSimilarity(LossFunctionWrapper):
    """Negative cosine similarity along ``axis``."""

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity", dtype=None):
        super().__init__(cosine_similarity, reduction=reduction, name=name, dtype=dtype, axis=axis)
        self.axis = axis


class Huber(LossFunctionWrapper):
    """Huber loss with threshold ``delta``."""

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        super().__init__(huber, reduction=reduction, name=name, dtype=dtype, delta=delta)
        self.delta = delta


class LogCosh(LossFunctionWrapper):
    """Logarithm of the hyperbolic cosine of the error."""

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh", dtype=None):
        super().__init__(log_cosh, reduction=reduction, name=name, dtype=dtype)


class Hinge(LossFunctionWrapper):
    """Hinge loss (labels -1/1, or 0/1 taken as -1/1)."""

    def __init__(self, reduction="sum_over_batch_size", name="hinge", dtype=None):
        super().__init__(hinge, reduction=reduction, name=name, dtype=dtype)


class SquaredHinge(LossFunctionWrapper):
    """Squared hinge loss."""

    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge", dtype=None):
        super().__init__(squared_hinge, reduction=reduction, name=name, dtype=dtype)


class CategoricalHinge(LossFunctionWrapper):
    """Categorical hinge loss."""

    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge", dtype=None):
        super().__init__(categorical_hinge, reduction=reduction, name=name, dtype=dtype)


class KLDivergence(LossFunctionWrapper):
    """Kullback-Leibler divergence."""

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence", dtype=None):
        super().__init__(kl_divergence, reduction=reduction, name=name, dtype=dtype)


class Poisson(LossFunctionWrapper):
    """Poisson loss."""

    def __init__(self, reduction="sum_over_batch_size", name="poisson", dtype=None):
        super().__init__(poisson, reduction=reduction, name=name, dtype=dtype)


class BinaryCrossentropy(LossFunctionWrapper):
    """Binary cross-entropy."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_crossentropy", dtype=None):
        super().__init__(binary_crossentropy, reduction=reduction, name=name, dtype=dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


class BinaryFocalCrossentropy(LossFunctionWrapper):
    """Binary focal cross-entropy."""

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                 axis=-1, reduction="sum_over_batch_size", name="binary_focal_crossentropy", dtype=None):
        super().__init__(binary_focal_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         apply_class_balancing=apply_class_balancing, alpha=alpha, gamma=gamma,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.apply_class_balancing, self.alpha, self.gamma = apply_class_balancing, alpha, gamma
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


class CategoricalCrossentropy(LossFunctionWrapper):
    """Cross-entropy for one-hot labels."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="categorical_crossentropy", dtype=None):
        super().__init__(categorical_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


class CategoricalFocalCrossentropy(LossFunctionWrapper):
    """Categorical focal cross-entropy."""

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_focal_crossentropy", dtype=None):
        super().__init__(categorical_focal_crossentropy, reduction=reduction, name=name, dtype=dtype, alpha=alpha,
                         gamma=gamma, from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.alpha, self.gamma = alpha, gamma
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


class CTC(LossFunctionWrapper):
    """Connectionist temporal classification loss."""

    def __init__(self, reduction="sum_over_batch_size", name="ctc", dtype=None):
        super().__init__(ctc, reduction=reduction, name=name, dtype=dtype)


class Dice(LossFunctionWrapper):
    """Dice loss over ``axis`` (all axes when None)."""

    def __init__(self, reduction="sum_over_batch_size", name="dice", axis=None, dtype=None):
        super().__init__(dice, reduction=reduction, name=name, dtype=dtype, axis=axis)
        self.axis = axis


class Tversky(LossFunctionWrapper):
    """Tversky loss: Dice with false positives weighted by ``alpha`` and false negatives by ``beta``."""

    def __init__(self, alpha=0.5, beta=0.5, reduction="sum_over_batch_size", name="tversky", axis=None, dtype=None):
        super().__init__(tversky, reduction=reduction, name=name, dtype=dtype, alpha=alpha, beta=beta, axis=axis)
        self.alpha, self.beta, self.axis = alpha, beta, axis


class CategoricalGeneralizedCrossEntropy(LossFunctionWrapper):
    """Generalized cross-entropy for noisy labels, ``q`` in (0, 1)."""

    def __init__(self, q=0.5, reduction="sum_over_batch_size", name="categorical_generalized_cross_entropy",
                 dtype=None):
        if not 0 < q < 1:
            raise ConfigError(f"CategoricalGeneralizedCrossEntropy: q must be in the interval (0, 1). Received: q={q}")
        super().__init__(categorical_generalized_cross_entropy, reduction=reduction, name=name, dtype=dtype, q=q)
        self.q = q


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """Cross-entropy for integer labels; ``ignore_class`` leaves those labels out of the mean."""

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size", axis=-1,
                 name="sparse_categorical_crossentropy", dtype=None):
        super().__init__(sparse_categorical_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         from_logits=from_logits, ignore_class=ignore_class, axis=axis)
        self.from_logits, self.ignore_class, self.axis = from_logits, ignore_class, axis

    def call(self, y_true, y_pred):
        return sparse_categorical_crossentropy(y_true, y_pred, **self._fn_kwargs)

    def values_mask(self, y_true, y_pred, values):
        if self.ignore_class is None:
            return None
        return _ignore_mask(torch.as_tensor(y_true, device=y_pred.device), self.ignore_class, self.axis,
                            y_pred.ndim).reshape(values.shape)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction, "from_logits": self.from_logits,
                "ignore_class": self.ignore_class}


class Circle(LossFunctionWrapper):
    """Circle loss for metric learning; samples with a zero loss do not count in the mean (as in Keras)."""

    def __init__(self, gamma=80.0, margin=0.4, remove_diagonal=True, reduction="sum_over_batch_size", name="circle",
                 dtype=None):
        super().__init__(circle, reduction=reduction, name=name, dtype=dtype, gamma=gamma, margin=margin,
                         remove_diagonal=remove_diagonal)
        self.gamma, self.margin, self.remove_diagonal = gamma, margin, remove_diagonal

    def call(self, y_true, y_pred):
        return circle(y_true, y_pred, **self._fn_kwargs)

    def values_mask(self, y_true, y_pred, values):
        return values > 0


# ---------------------------------------------------------------------- names and configs
_FUNCTIONS = {fn.__name__: fn for fn in (
    mean_squared_error, mean_absolute_error, mean_absolute_percentage_error, mean_squared_logarithmic_error,
    cosine_similarity, huber, log_cosh, hinge, squared_hinge, categorical_hinge, kl_divergence, poisson,
    binary_crossentropy, binary_focal_crossentropy, categorical_crossentropy, categorical_focal_crossentropy,
    sparse_categorical_crossentropy, ctc, dice, tversky, circle, categorical_generalized_cross_entropy)}
ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error", "mape": "mean_absolute_percentage_error",
           "msle": "mean_squared_logarithmic_error", "kld": "kl_divergence",
           "kullback_leibler_divergence": "kl_divergence", "logcosh": "log_cosh", "huber_loss": "huber"}
_CLASSES = {cls.__name__: cls for cls in (
    MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError, CosineSimilarity,
    Huber, LogCosh, Hinge, SquaredHinge, CategoricalHinge, KLDivergence, Poisson, BinaryCrossentropy,
    BinaryFocalCrossentropy, CategoricalCrossentropy, CategoricalFocalCrossentropy, SparseCategoricalCrossentropy,
    CTC, Dice, Tversky, Circle, CategoricalGeneralizedCrossEntropy)}
# the class of each function name (Keras resolves a name in compile() to this class)
_CLASS_OF = {cls().fn.__name__: cls for cls in _CLASSES.values()}
LOSSES = {**_FUNCTIONS, **{a: _FUNCTIONS[n] for a, n in ALIASES.items()}}


def known_names() -> list[str]:
    return sorted(LOSSES)


def get(identifier):
    """A ``Loss`` from a Keras name (``"mse"``, ``"sparse_categorical_crossentropy"``), a serialized config,
    a ``Loss``, or any callable ``(y_true, y_pred) -> per-sample values`` (wrapped)."""
    if identifier is None:
        return None
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        key = ALIASES.get(identifier.lower(), identifier.lower())
        if key in _CLASS_OF:
            return _CLASS_OF[key](name=identifier if identifier in LOSSES else key)
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        raise ValueError(f"Unknown loss {identifier!r}. Known losses: {', '.join(known_names())}.")
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        return LossFunctionWrapper(identifier, name=getattr(identifier, "__name__", None))
    raise TypeError(f"A loss must be a name, a Loss or a callable. Received: loss={identifier!r}")


def loss_name(loss) -> str:
    """The name a loss is known by (``"mse"`` for ``"mse"``; a class's ``name``; a function's ``__name__``)."""
    return getattr(loss, "name", None) or getattr(loss, "__name__", type(loss).__name__)


def serialize(loss) -> dict | str:
    """Keras's serialized form: a class as ``{"module", "class_name", "config"}``, a function by its name."""
    if isinstance(loss, Loss) and type(loss).__name__ in _CLASSES:
        return {"module": "keras.losses", "class_name": type(loss).__name__, "config": loss.get_config(),
                "registered_name": None}
    if isinstance(loss, LossFunctionWrapper):
        return loss.name
    name = getattr(loss, "__name__", None)
    if name is None:
        raise ValueError(f"The loss {loss!r} cannot be serialized; give it a name or use a Loss class.")
    return name


def deserialize(config, custom_objects: dict | None = None):
    """A loss from Keras's serialized form: a name, ``{"class_name", "config"}``, or a function reference."""
    if isinstance(config, str):
        if custom_objects and config in custom_objects:
            return get(custom_objects[config])
        return get(config)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"A loss config must be a name or a dict with a class_name. Received: {str(config)[:120]}")
    name = config["class_name"]
    inner = config.get("config") or {}
    if custom_objects and name in custom_objects:
        obj = custom_objects[name]
        return obj.from_config(inner) if isinstance(obj, type) else get(obj)
    if name == "function":  # a loss function given by name ({"class_name": "function", "config": "mse"})
        return get(inner if isinstance(inner, str) else inner.get("name"))
    if name not in _CLASSES:
        raise ValueError(f"glassnet has no loss {name!r}")
    inner = {k: v for k, v in dict(inner).items() if k != "fn"}
    return _CLASSES[name].from_config(inner)


def from_config(config):
    """The compile config's ``loss`` entry (a name, a serialized loss, or a list/dict of them per output)."""
    if config is None:
        return None
    if isinstance(config, list):
        return [from_config(c) for c in config]
    if isinstance(config, dict) and "class_name" not in config:
        return {k: from_config(v) for k, v in config.items()}
    return deserialize(config)
