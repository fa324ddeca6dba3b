"""Confusion-matrix metrics at thresholds: counts, Precision, Recall (``top_k``, ``class_id``), AUC (ROC, PR,
PR-gain; several summations; multi-label), and the X-at-Y metrics — as Keras 3 computes them.

Counts at thresholds are kept per threshold; a prediction counts as positive at a threshold when it is
strictly greater. With evenly spaced thresholds (AUC's, the X-at-Y metrics') each prediction is put in
one bucket and counts are cumulative sums, as Keras does, so the numbers agree at the boundaries too.
"""
from __future__ import annotations

import numpy as np
import torch

from .. import losses as L
from .base import Metric

__all__ = ["TruePositives", "FalsePositives", "TrueNegatives", "FalseNegatives", "Precision", "Recall", "AUC",
           "SensitivityAtSpecificity", "SpecificityAtSensitivity", "PrecisionAtRecall", "RecallAtPrecision",
           "update_confusion_matrix"]

NEG_INF = -1e10
TP, FP, TN, FN = "tp", "fp", "tn", "fn"


def parse_thresholds(thresholds, default: float) -> list[float]:
    if thresholds is None:
        return [default]
    values = list(thresholds) if isinstance(thresholds, (list, tuple, np.ndarray)) else [thresholds]
    bad = [t for t in values if t is None or t < 0 or t > 1]
    if bad:
        raise ValueError(f"Threshold values must be in [0, 1]. Received: {bad}")
    return [float(t) for t in values]


def evenly_distributed(thresholds) -> bool:
    n = len(thresholds)
    if n < 3:
        return False
    even = np.arange(n, dtype=np.float32) / (n - 1)
    return bool(np.allclose(thresholds, even, atol=L.EPSILON))


def _filter_top_k(x, k):
    idx = torch.topk(x, k).indices
    keep = torch.zeros_like(x).scatter_(-1, idx, 1.0)
    return x * keep + NEG_INF * (1 - keep)


def update_confusion_matrix(variables: dict, y_true, y_pred, thresholds, top_k=None, class_id=None,
                            sample_weight=None, multi_label=False, label_weights=None, evenly=False) -> None:
    """Add this batch's counts to ``variables`` (``{"tp"|"fp"|"tn"|"fn": tensor of shape (thresholds[, labels])}``),
    Keras's ``update_confusion_matrix_variables``."""
    first = next(iter(variables.values()))
    dtype, device = first.dtype, first.device
    y_pred = torch.as_tensor(y_pred, device=device).to(dtype)
    y_true = torch.as_tensor(y_true, device=device).to(dtype)
    with_eps = evenly and (thresholds[0] < 0.0 or thresholds[-1] > 1.0)
    thr = torch.as_tensor(np.asarray(thresholds, dtype=np.float64), dtype=dtype, device=device)
    y_pred, y_true = L.squeeze_or_expand_to_same_rank(y_pred, y_true)
    if sample_weight is not None:
        sample_weight = torch.as_tensor(sample_weight, device=device).to(dtype).unsqueeze(-1)
        _, sample_weight = L.squeeze_or_expand_to_same_rank(y_true, sample_weight, expand_rank_1=False)
    if top_k is not None:
        y_pred = _filter_top_k(y_pred, top_k)
    if class_id is not None:
        if y_pred.ndim == 1:
            raise ValueError("When class_id is provided, y_pred must be a 2D array with shape (num_samples, "
                             f"num_classes), found shape: {tuple(y_pred.shape)}")
        y_true, y_pred = y_true[..., class_id, None], y_pred[..., class_id, None]
    if evenly:
        _update_bucketed(variables, y_true, y_pred, thr, multi_label, sample_weight, label_weights, with_eps)
        return
    if multi_label:
        preds, labels = y_pred.unsqueeze(0), y_true.bool().unsqueeze(0)
        t = thr.reshape(-1, 1, 1) if thr.ndim == 1 else thr
    else:
        preds, labels = y_pred.reshape(1, -1), y_true.bool().reshape(1, -1)
        t = thr.reshape(-1, 1)
    pred_pos = preds > t
    label_pos = labels.expand_as(pred_pos)
    weights = None
    if sample_weight is not None:
        w = torch.broadcast_to(sample_weight, y_pred.shape)
        weights = w.unsqueeze(0) if multi_label else w.reshape(1, -1)
    if label_weights is not None and not multi_label:
        lw = torch.broadcast_to(torch.as_tensor(label_weights, dtype=dtype, device=device).unsqueeze(0), y_pred.shape)
        lw = lw.reshape(1, -1)
        weights = lw if weights is None else weights * lw
    pairs = {TP: (label_pos, pred_pos), FN: (label_pos, ~pred_pos), FP: (~label_pos, pred_pos),
             TN: (~label_pos, ~pred_pos)}
    for key, var in variables.items():
        lab, pred = pairs[key]
        hit = lab & pred
        counted = hit.to(dtype) if weights is None else torch.where(hit, weights.to(dtype), 0)
        var.add_(counted.sum(dim=1))


def _update_bucketed(variables, y_true, y_pred, thresholds, multi_label, sample_weight, label_weights, with_eps):
    n = thresholds.shape[0]
    dtype = y_pred.dtype
    weights = torch.ones((), dtype=dtype, device=y_pred.device)
    if sample_weight is not None:
        sw = torch.broadcast_to(sample_weight, y_pred.shape)
        weights = weights * (sw if multi_label else sw.reshape(-1))
    if label_weights is not None:
        lw = torch.broadcast_to(torch.as_tensor(label_weights, dtype=dtype, device=y_pred.device).unsqueeze(0),
                                y_pred.shape)
        weights = weights * (lw if multi_label else lw.reshape(-1))
    y_pred = torch.clamp(y_pred, 0.0, 1.0)
    y_true = y_true.bool().to(dtype)
    if not multi_label:
        y_true, y_pred = y_true.reshape(-1), y_pred.reshape(-1)
    true_labels = y_true * weights
    false_labels = (1.0 - y_true) * weights
    buckets = torch.ceil(y_pred * (n - 1)) - 1
    if with_eps:
        buckets = torch.relu(buckets)
    buckets = buckets.long()

    def segment_sum(data, ids):  # out-of-range ids (a bucket of -1) are dropped, as in Keras
        ids = torch.where((ids >= 0) & (ids < n), ids, n)
        out = torch.zeros((n + 1,) + tuple(data.shape[1:]), dtype=torch.float32, device=data.device)
        return out.scatter_reduce(0, ids, data.float(), "sum")[:-1]

    if multi_label:
        tp_b = torch.stack([segment_sum(true_labels[:, j], buckets[:, j]) for j in range(y_pred.shape[1])], dim=1)
        fp_b = torch.stack([segment_sum(false_labels[:, j], buckets[:, j]) for j in range(y_pred.shape[1])], dim=1)
        tp = torch.flip(torch.cumsum(torch.flip(tp_b, [0]), 0), [0])
        fp = torch.flip(torch.cumsum(torch.flip(fp_b, [0]), 0), [0])
        total_true, total_false = true_labels.sum(0), false_labels.sum(0)
    else:
        tp = torch.flip(torch.cumsum(torch.flip(segment_sum(true_labels, buckets), [0]), 0), [0])
        fp = torch.flip(torch.cumsum(torch.flip(segment_sum(false_labels, buckets), [0]), 0), [0])
        total_true, total_false = true_labels.sum(), false_labels.sum()
    values = {TP: tp, FP: fp, TN: lambda: total_false - fp, FN: lambda: total_true - tp}
    for key, var in variables.items():
        v = values[key]
        var.add_((v() if callable(v) else v).to(var.dtype))


def _div(a, b):
    """``a / b`` with 0 where ``b`` is 0 (Keras's ``divide_no_nan``)."""
    return torch.where(b != 0, a / torch.where(b != 0, b, torch.ones_like(b)), torch.zeros_like(a))


class _ConditionCount(Metric):
    _condition = TP

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.thresholds = parse_thresholds(thresholds, 0.5)
        self._evenly = evenly_distributed(self.thresholds)
        self.accumulator = self.add_variable((len(self.thresholds),), name="accumulator")

    @torch.no_grad()
    def update_state(self, y_true, y_pred, sample_weight=None):
        self._follow(torch.as_tensor(y_pred))
        update_confusion_matrix({self._condition: self.accumulator}, y_true, y_pred, self.thresholds,
                                sample_weight=sample_weight, evenly=self._evenly)

    def result(self):
        return self.accumulator[0].clone() if len(self.thresholds) == 1 else self.accumulator.clone()

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds}


class TruePositives(_ConditionCount):
    """The (weighted) number of true positives at each threshold."""
    _condition = TP


class FalsePositives(_ConditionCount):
    """The (weighted) number of false positives at each threshold."""
    _condition = FP


class TrueNegatives(_ConditionCount):
    """The (weighted) number of true negatives at each threshold."""
    _condition = TN


class FalseNegatives(_ConditionCount):
    """The (weighted) number of false negatives at each threshold."""
    _condition = FN


class _PrecisionRecall(Metric):
    _other = FP

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds, self.top_k, self.class_id = thresholds, top_k, class_id
        self.thresholds = parse_thresholds(thresholds, 0.5 if top_k is None else NEG_INF)
        self._evenly = evenly_distributed(self.thresholds)
        self.true_positives = self.add_variable((len(self.thresholds),), name="true_positives")
        self._second = self.add_variable((len(self.thresholds),), name="second")

    @torch.no_grad()
    def update_state(self, y_true, y_pred, sample_weight=None):
        self._follow(torch.as_tensor(y_pred))
        update_confusion_matrix({TP: self.true_positives, self._other: self._second}, y_true, y_pred,
                                self.thresholds, top_k=self.top_k, class_id=self.class_id,
                                sample_weight=sample_weight, evenly=self._evenly)

    def result(self):
        r = _div(self.true_positives, self.true_positives + self._second)
        return r[0] if len(self.thresholds) == 1 else r

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_PrecisionRecall):
    """``TP / (TP + FP)`` at each threshold (``top_k``: only the k highest scores count as predicted;
    ``class_id``: one class of a multi-class output)."""
    _other = FP

    @property
    def false_positives(self):
        return self._second


class Recall(_PrecisionRecall):
    """``TP / (TP + FN)`` at each threshold (``top_k`` and ``class_id`` as in ``Precision``)."""
    _other = FN

    @property
    def false_negatives(self):
        return self._second


class _AtBase(Metric):
    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        if num_thresholds <= 0:
            raise ValueError(f"Argument `num_thresholds` must be an integer > 0. Received: num_thresholds={num_thresholds}")
        self.value, self.class_id = value, class_id
        if num_thresholds == 1:
            self.thresholds, self._evenly = [0.5], False
        else:
            self.thresholds = [0.0] + [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)] + [1.0]
            self._evenly = True
        n = len(self.thresholds)
        self.true_positives = self.add_variable((n,), name="true_positives")
        self.false_positives = self.add_variable((n,), name="false_positives")
        self.true_negatives = self.add_variable((n,), name="true_negatives")
        self.false_negatives = self.add_variable((n,), name="false_negatives")

    @torch.no_grad()
    def update_state(self, y_true, y_pred, sample_weight=None):
        self._follow(torch.as_tensor(y_pred))
        update_confusion_matrix({TP: self.true_positives, TN: self.true_negatives, FP: self.false_positives,
                                 FN: self.false_negatives}, y_true, y_pred, self.thresholds,
                                class_id=self.class_id, sample_weight=sample_weight, evenly=self._evenly)

    def _max_under(self, constrained, dependent):
        feasible = constrained >= self.value
        return torch.clamp(torch.max(torch.where(feasible, dependent, torch.zeros_like(dependent))), min=0)

    def _rates(self):
        tp, fp, tn, fn = self.true_positives, self.false_positives, self.true_negatives, self.false_negatives
        return {"sensitivity": _div(tp, tp + fn), "specificity": _div(tn, tn + fp), "precision": _div(tp, tp + fp)}

    def get_config(self):
        return {**super().get_config(), "class_id": self.class_id}


def _check_unit(name, value):
    if value < 0 or value > 1:
        raise ValueError(f"Argument `{name}` must be in the range [0, 1]. Received: {name}={value}")


class SensitivityAtSpecificity(_AtBase):
    """The best sensitivity (recall) among thresholds whose specificity is at least ``specificity``."""

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        _check_unit("specificity", specificity)
        self.specificity, self.num_thresholds = specificity, num_thresholds
        super().__init__(specificity, num_thresholds=num_thresholds, class_id=class_id, name=name, dtype=dtype)

    def result(self):
        r = self._rates()
        return self._max_under(r["specificity"], r["sensitivity"])

    def get_config(self):
        return {**super().get_config(), "num_thresholds": self.num_thresholds, "specificity": self.specificity}


class SpecificityAtSensitivity(_AtBase):
    """The best specificity among thresholds whose sensitivity is at least ``sensitivity``."""

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        _check_unit("sensitivity", sensitivity)
        self.sensitivity, self.num_thresholds = sensitivity, num_thresholds
        super().__init__(sensitivity, num_thresholds=num_thresholds, class_id=class_id, name=name, dtype=dtype)

    def result(self):
        r = self._rates()
        return self._max_under(r["sensitivity"], r["specificity"])

    def get_config(self):
        return {**super().get_config(), "num_thresholds": self.num_thresholds, "sensitivity": self.sensitivity}


class PrecisionAtRecall(_AtBase):
    """The best precision among thresholds whose recall is at least ``recall``."""

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        _check_unit("recall", recall)
        self.recall, self.num_thresholds = recall, num_thresholds
        super().__init__(recall, num_thresholds=num_thresholds, class_id=class_id, name=name, dtype=dtype)

    def result(self):
        r = self._rates()
        return self._max_under(r["sensitivity"], r["precision"])

    def get_config(self):
        return {**super().get_config(), "num_thresholds": self.num_thresholds, "recall": self.recall}


class RecallAtPrecision(_AtBase):
    """The best recall among thresholds whose precision is at least ``precision``."""

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        _check_unit("precision", precision)
        self.precision, self.num_thresholds = precision, num_thresholds
        super().__init__(precision, num_thresholds=num_thresholds, class_id=class_id, name=name, dtype=dtype)

    def result(self):
        r = self._rates()
        return self._max_under(r["precision"], r["sensitivity"])

    def get_config(self):
        return {**super().get_config(), "num_thresholds": self.num_thresholds, "precision": self.precision}


_CURVES = {"roc": "ROC", "pr": "PR", "prgain": "PRGAIN"}
_SUMMATIONS = {"interpolation": "interpolation", "majoring": "majoring", "minoring": "minoring"}


class AUC(Metric):
    """Area under the ROC, PR or PR-gain curve from counts at ``num_thresholds`` thresholds (Keras's
    approximation; ``summation_method`` "interpolation", "majoring" or "minoring"; the PR curve with
    interpolation uses Davis & Goadrich's rule). ``multi_label`` keeps one curve per label and averages
    them (weighted by ``label_weights``); ``from_logits`` applies a sigmoid first."""

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None, dtype=None,
                 thresholds=None, multi_label=False, num_labels=None, label_weights=None, from_logits=False):
        if str(curve).lower() not in _CURVES:
            raise ValueError(f'Invalid AUC curve value: "{curve}". Expected values are ["PR", "ROC", "PRGAIN"]')
        if str(summation_method).lower() not in _SUMMATIONS:
            raise ValueError(f'Invalid AUC summation method value: "{summation_method}". Expected values are '
                             '["interpolation", "majoring", "minoring"]')
        super().__init__(name=name, dtype=dtype)
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            self.num_thresholds = len(thresholds) + 2
            thresholds = sorted(thresholds)
            self._evenly = evenly_distributed(np.array([0.0] + thresholds + [1.0]))
        else:
            if num_thresholds <= 1:
                raise ValueError(f"Argument `num_thresholds` must be an integer > 1. "
                                 f"Received: num_thresholds={num_thresholds}")
            self.num_thresholds = num_thresholds
            thresholds = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._evenly = True
        self._thresholds = np.array([0.0 - L.EPSILON] + list(thresholds) + [1.0 + L.EPSILON])
        self.curve = _CURVES[str(curve).lower()]
        self.summation_method = _SUMMATIONS[str(summation_method).lower()]
        self.multi_label, self.num_labels = multi_label, num_labels
        self.label_weights = None if label_weights is None else torch.as_tensor(label_weights, dtype=self._dtype)
        self._from_logits = from_logits
        self._built = False
        if multi_label:
            if num_labels:
                self._build([None, num_labels])
        else:
            if num_labels:
                raise ValueError("`num_labels` is needed only when `multi_label` is True.")
            self._build(None)

    @property
    def thresholds(self):
        return list(self._thresholds)

    def _build(self, shape):
        if self.multi_label:
            if len(shape) != 2:
                raise ValueError(f"`y_pred` must have rank 2 when `multi_label=True`. Found rank {len(shape)}. "
                                 f"Full shape received for `y_pred`: {shape}")
            self._num_labels = shape[1]
            vshape = (self.num_thresholds, self._num_labels)
        else:
            vshape = (self.num_thresholds,)
        self.true_positives = self.add_variable(vshape, name="true_positives")
        self.false_positives = self.add_variable(vshape, name="false_positives")
        self.true_negatives = self.add_variable(vshape, name="true_negatives")
        self.false_negatives = self.add_variable(vshape, name="false_negatives")
        self._built = True

    @torch.no_grad()
    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = torch.as_tensor(y_pred)
        if not self._built:
            self._build(tuple(y_pred.shape))
        self._follow(y_pred)
        if self._from_logits:
            y_pred = torch.sigmoid(y_pred)
        update_confusion_matrix({TP: self.true_positives, TN: self.true_negatives, FP: self.false_positives,
                                 FN: self.false_negatives}, y_true, y_pred, self._thresholds,
                                sample_weight=sample_weight, multi_label=self.multi_label,
                                label_weights=None if self.multi_label else self.label_weights, evenly=self._evenly)

    def _by_label(self, terms):
        if not self.multi_label:
            return terms.sum()
        by_label = terms.sum(0)
        if self.label_weights is None:
            return by_label.mean()
        lw = self.label_weights.to(by_label.device)
        return _div((by_label * lw).sum(), lw.sum())

    def _interpolate_pr_auc(self):
        n = self.num_thresholds
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        dtp = tp[:n - 1] - tp[1:]
        p = tp + fp
        dp = p[:n - 1] - p[1:]
        slope = _div(dtp, torch.clamp(dp, min=0))
        intercept = tp[1:] - slope * p[1:]
        ratio = torch.where((p[:n - 1] > 0) & (p[1:] > 0), _div(p[:n - 1], torch.clamp(p[1:], min=0)),
                            torch.ones_like(p[1:]))
        inc = _div(slope * (dtp + intercept * torch.log(ratio)), torch.clamp(tp[1:] + fn[1:], min=0))
        return self._by_label(inc)

    def result(self):
        if not self._built:
            return torch.zeros((), dtype=self._dtype)
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr_auc()
        tp, fp, tn, fn = self.true_positives, self.false_positives, self.true_negatives, self.false_negatives
        recall = _div(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _div(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, _div(tp, tp + fp)
        else:
            scale = _div(tp + fn, tn + fp)
            rg = torch.where(tp == 0, 0.0, 1.0 - scale * _div(fn, tp))
            pg = torch.where(tp == 0, 1.0, 1.0 - scale * _div(fp, tp))
            x, y = torch.clamp(rg, min=0.0), pg
        n = self.num_thresholds
        if self.summation_method == "interpolation":
            heights = (y[:n - 1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = torch.minimum(y[:n - 1], y[1:])
        else:
            heights = torch.maximum(y[:n - 1], y[1:])
        return self._by_label((x[:n - 1] - x[1:]) * heights)

    def reset_state(self):
        if self._built:
            super().reset_state()

    def get_config(self):
        lw = self.label_weights
        config = {**super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
                  "summation_method": self.summation_method, "multi_label": self.multi_label,
                  "num_labels": self.num_labels, "label_weights": None if lw is None else lw.tolist(),
                  "from_logits": self._from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config
