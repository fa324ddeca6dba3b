"""Metrics with their own state: F-scores, the IoU family (a confusion matrix), R², root mean squared error."""
from __future__ import annotations

import warnings

import torch

from ...errors import GlassnetWarning
from .. import losses as L
from .base import Mean, Metric

__all__ = ["FBetaScore", "F1Score", "IoU", "BinaryIoU", "MeanIoU", "OneHotIoU", "OneHotMeanIoU", "R2Score",
           "RootMeanSquaredError"]


class FBetaScore(Metric):
    """F-beta per class from thresholded predictions (``threshold=None``: the top class), averaged by
    ``average`` (None: per class; "micro", "macro", "weighted")."""

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError("Invalid `average` argument value. Expected one of: {None, 'micro', 'macro', 'weighted'}. "
                             f"Received: average={average}")
        if not isinstance(beta, float):
            raise ValueError(f"Invalid `beta` argument value. It should be a Python float. Received: beta={beta} of "
                             f"type '{type(beta)}'")
        if beta <= 0.0:
            raise ValueError(f"Invalid `beta` argument value. It should be > 0. Received: beta={beta}")
        if threshold is not None:
            if not isinstance(threshold, float):
                raise ValueError("Invalid `threshold` argument value. It should be a Python float. "
                                 f"Received: threshold={threshold} of type '{type(threshold)}'")
            if threshold > 1.0 or threshold <= 0.0:
                raise ValueError("Invalid `threshold` argument value. It should verify 0 < threshold <= 1. "
                                 f"Received: threshold={threshold}")
        self.average, self.beta, self.threshold = average, beta, threshold
        self.axis = None if average == "micro" else 0
        self._built = False

    def _build(self, true_shape, pred_shape):
        if len(pred_shape) != 2 or len(true_shape) != 2:
            raise ValueError("FBetaScore expects 2D inputs with shape (batch_size, output_dim). Received input shapes: "
                             f"y_pred.shape={tuple(pred_shape)} and y_true.shape={tuple(true_shape)}.")
        shape = (pred_shape[-1],) if self.average != "micro" else ()
        self.true_positives = self.add_variable(shape, name="true_positives")
        self.false_positives = self.add_variable(shape, name="false_positives")
        self.false_negatives = self.add_variable(shape, name="false_negatives")
        self.intermediate_weights = self.add_variable(shape, name="intermediate_weights")
        self._built = True

    @torch.no_grad()
    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = torch.as_tensor(y_pred).to(self._dtype)
        y_true = torch.as_tensor(y_true, device=y_pred.device).to(self._dtype)
        if not self._built:
            self._build(y_true.shape, y_pred.shape)
        self._follow(y_pred)
        if self.threshold is None:
            top = torch.amax(y_pred, dim=-1, keepdim=True)
            y_pred = (y_pred >= top) & (torch.abs(y_pred) > 1e-9)
        else:
            y_pred = y_pred > self.threshold
        y_pred = y_pred.to(self._dtype)
        sw = None if sample_weight is None else torch.as_tensor(sample_weight, device=y_pred.device).to(self._dtype)

        def wsum(v):
            if sw is not None:
                v = v * sw.unsqueeze(1)
            return v.sum() if self.axis is None else v.sum(dim=self.axis)
        self.true_positives.add_(wsum(y_pred * y_true))
        self.false_positives.add_(wsum(y_pred * (1 - y_true)))
        self.false_negatives.add_(wsum((1 - y_pred) * y_true))
        self.intermediate_weights.add_(wsum(y_true))

    def result(self):
        if not self._built:
            return torch.zeros((), dtype=self._dtype)
        eps = L.EPSILON
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        precision = tp / (tp + fp + eps)
        recall = tp / (tp + fn + eps)
        b2 = self.beta ** 2
        f = (precision * recall) / (b2 * precision + recall + eps) * (1 + b2)
        if self.average == "weighted":
            w = self.intermediate_weights / (self.intermediate_weights.sum() + eps)
            return (f * w).sum()
        if self.average is not None:
            return f.mean()
        return f

    def reset_state(self):
        for v in self._variables:
            v.zero_()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "average": self.average, "beta": self.beta,
                "threshold": self.threshold}


class F1Score(FBetaScore):
    """F1 (the F-beta score with beta 1)."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config


class IoU(Metric):
    """Intersection over union ``TP / (TP + FP + FN)`` for ``target_class_ids``, averaged over the classes
    present, from a confusion matrix over ``num_classes`` (integer state by default, as Keras)."""

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        super().__init__(name=name, dtype=dtype or "int32")
        if max(target_class_ids) >= num_classes:
            raise ValueError(f"Target class id {max(target_class_ids)} is out of range, which is [0, {num_classes}).")
        self.num_classes, self.ignore_class = num_classes, ignore_class
        self.sparse_y_true, self.sparse_y_pred, self.axis = sparse_y_true, sparse_y_pred, axis
        self.target_class_ids = list(target_class_ids)
        self.total_cm = self.add_variable((num_classes, num_classes), name="total_confusion_matrix")

    @torch.no_grad()
    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = torch.as_tensor(y_pred)
        y_true = torch.as_tensor(y_true, device=y_pred.device)
        self._follow(y_pred)
        if not self.sparse_y_true:
            y_true = torch.argmax(y_true, dim=self.axis)
        if not self.sparse_y_pred:
            y_pred = torch.argmax(y_pred, dim=self.axis)
        dt = self._dtype
        y_true, y_pred = y_true.to(dt).reshape(-1), y_pred.to(dt).reshape(-1)
        if sample_weight is None:
            sw = torch.ones((), dtype=dt, device=y_pred.device)
        else:
            sw = torch.as_tensor(sample_weight, device=y_pred.device)
            if sw.is_floating_point() and not dt.is_floating_point:
                warnings.warn("You are passing weight as `float`, but dtype is `int`. This may result in an incorrect "
                              "weight due to type casting Consider using integer weights.", GlassnetWarning,
                              stacklevel=2)
            sw = sw.to(dt).reshape(-1) if sw.ndim > 1 else sw.to(dt)
        sw = torch.broadcast_to(sw, y_true.shape)
        ok = (y_true >= 0) & (y_true < self.num_classes) & (y_pred >= 0) & (y_pred < self.num_classes)
        if self.ignore_class is not None:
            ok = ok & (y_true != self.ignore_class)
        zero = torch.zeros((), dtype=dt, device=y_pred.device)
        y_true, y_pred, sw = torch.where(ok, y_true, zero), torch.where(ok, y_pred, zero), torch.where(ok, sw, zero)
        index = y_true.long() * self.num_classes + y_pred.long()
        cm = torch.zeros(self.num_classes * self.num_classes, dtype=dt, device=y_pred.device)
        cm.index_add_(0, index, sw)
        self.total_cm.add_(cm.reshape(self.num_classes, self.num_classes))

    def result(self):
        cm = self.total_cm.to(self._dtype if self._dtype.is_floating_point else torch.float32)
        tp = torch.diagonal(cm)
        denominator = cm.sum(0) + cm.sum(1) - tp
        ids = torch.as_tensor(self.target_class_ids, device=cm.device)
        tp, denominator = tp[ids].float(), denominator[ids].float()
        valid = denominator > 1e-9
        iou = torch.where(valid, tp / (denominator + L.EPSILON), 0.0)
        return iou.sum(dim=self.axis) / (valid.float().sum() + L.EPSILON)

    def reset_state(self):
        self.total_cm.zero_()

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "target_class_ids": self.target_class_ids,
                "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class BinaryIoU(IoU):
    """IoU of two classes with predictions thresholded at ``threshold`` (``>=``)."""

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(num_classes=2, target_class_ids=target_class_ids, name=name, dtype=dtype)
        self.threshold = threshold

    @torch.no_grad()
    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = (torch.as_tensor(y_pred).float() >= self.threshold).to(self._dtype)
        super().update_state(y_true, y_pred, sample_weight)

    def get_config(self):
        return {"target_class_ids": self.target_class_ids, "threshold": self.threshold, "name": self.name,
                "dtype": self.dtype}


class MeanIoU(IoU):
    """IoU averaged over all ``num_classes`` classes present."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True, sparse_y_pred=True,
                 axis=-1):
        super().__init__(num_classes=num_classes, target_class_ids=list(range(num_classes)), name=name, dtype=dtype,
                         ignore_class=ignore_class, sparse_y_true=sparse_y_true, sparse_y_pred=sparse_y_pred,
                         axis=axis)

    def get_config(self):
        return {"num_classes": self.num_classes, "name": self.name, "dtype": self.dtype,
                "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class OneHotIoU(IoU):
    """IoU for one-hot labels (and, by default, per-class scores as predictions)."""

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None, sparse_y_pred=False,
                 axis=-1):
        super().__init__(num_classes=num_classes, target_class_ids=target_class_ids, name=name, dtype=dtype,
                         ignore_class=ignore_class, sparse_y_true=False, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        return {"num_classes": self.num_classes, "target_class_ids": self.target_class_ids, "name": self.name,
                "dtype": self.dtype, "ignore_class": self.ignore_class, "sparse_y_pred": self.sparse_y_pred,
                "axis": self.axis}


class OneHotMeanIoU(MeanIoU):
    """Mean IoU for one-hot labels."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_pred=False, axis=-1):
        super().__init__(num_classes=num_classes, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=False, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        return {"num_classes": self.num_classes, "name": self.name, "dtype": self.dtype,
                "ignore_class": self.ignore_class, "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class R2Score(Metric):
    """The coefficient of determination per output column, aggregated by ``class_aggregation``; with
    ``num_regressors`` the adjusted R²."""

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        valid = (None, "uniform_average", "variance_weighted_average")
        if class_aggregation not in valid:
            raise ValueError(f"Invalid value for argument `class_aggregation`. Expected one of {valid}. "
                             f"Received: class_aggregation={class_aggregation}")
        if num_regressors < 0:
            raise ValueError("Invalid value for argument `num_regressors`. Expected a value >= 0. "
                             f"Received: num_regressors={num_regressors}")
        self.class_aggregation, self.num_regressors = class_aggregation, num_regressors
        self.num_samples = self.add_variable((), name="num_samples")
        self._built = False

    def _build(self, true_shape, pred_shape):
        if len(pred_shape) != 2 or len(true_shape) != 2:
            raise ValueError("R2Score expects 2D inputs with shape (batch_size, output_dim). Received input shapes: "
                             f"y_pred.shape={tuple(pred_shape)} and y_true.shape={tuple(true_shape)}.")
        n = pred_shape[-1]
        self.squared_sum = self.add_variable((n,), name="squared_sum")
        self.sum = self.add_variable((n,), name="sum")
        self.total_mse = self.add_variable((n,), name="residual")
        self.count = self.add_variable((n,), name="count")
        self._built = True

    @torch.no_grad()
    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = torch.as_tensor(y_pred).to(self._dtype)
        y_true = torch.as_tensor(y_true, device=y_pred.device).to(self._dtype)
        y_true, y_pred = L.squeeze_or_expand_to_same_rank(y_true, y_pred)
        if not self._built:
            self._build(y_true.shape, y_pred.shape)
        self._follow(y_pred)
        sw = torch.ones((), dtype=self._dtype, device=y_pred.device) if sample_weight is None else \
            torch.as_tensor(sample_weight, device=y_pred.device).to(self._dtype)
        if sw.ndim == 1:
            sw = sw.unsqueeze(1)
        sw = torch.broadcast_to(sw, y_true.shape)
        weighted = y_true * sw
        self.sum.add_(weighted.sum(0))
        self.squared_sum.add_((y_true * weighted).sum(0))
        self.total_mse.add_(((y_true - y_pred) ** 2 * sw).sum(0))
        self.count.add_(sw.sum(0))
        self.num_samples.add_(y_true.numel())

    def result(self):
        if not self._built:
            return torch.zeros((), dtype=self._dtype)
        mean = self.sum / self.count
        total = self.squared_sum - self.sum * mean
        raw = 1 - self.total_mse / total
        raw = torch.where(torch.isinf(raw), 0.0, raw)
        if self.class_aggregation == "uniform_average":
            score = raw.mean()
        elif self.class_aggregation == "variance_weighted_average":
            score = (total * raw).sum() / total.sum()
        else:
            score = raw
        if self.num_regressors != 0:
            n, p = float(self.num_samples), float(self.num_regressors)
            if p > n - 1:
                warnings.warn("More independent predictors than datapoints in adjusted R2 score. Falling back to "
                              "standard R2 score.", GlassnetWarning, stacklevel=2)
            elif p == n - 1:
                warnings.warn("Division by zero in Adjusted R2 score. Falling back to standard R2 score.",
                              GlassnetWarning, stacklevel=2)
            else:
                score = 1.0 - (1.0 - score) * (n - 1.0) / (n - p - 1.0)
        return score

    def get_config(self):
        return {**super().get_config(), "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}


class RootMeanSquaredError(Mean):
    """``sqrt(mean((y_pred - y_true)²))`` over the epoch (the root of the mean, not the mean of roots)."""

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    @torch.no_grad()
    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = torch.as_tensor(y_pred).to(self._dtype)
        y_true = torch.as_tensor(y_true, device=y_pred.device).to(self._dtype)
        y_true, y_pred = L.squeeze_or_expand_to_same_rank(y_true, y_pred)
        super().update_state(torch.square(y_pred - y_true), sample_weight=sample_weight)

    def result(self):
        return torch.sqrt(super().result())
