"""Metrics that are the mean of a per-sample function: accuracies, top-k, the regression errors, the
probabilistic and hinge losses as metrics, correlations (Keras 3 names, arguments and numbers)."""
from __future__ import annotations

import torch

from .. import losses as L
from .base import MeanMetricWrapper

__all__ = ["accuracy", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
           "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "pearson_correlation",
           "concordance_correlation", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy",
           "SparseCategoricalAccuracy", "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy",
           "MeanSquaredError", "MeanAbsoluteError", "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError",
           "CosineSimilarity", "LogCoshError", "KLDivergence", "Poisson", "BinaryCrossentropy",
           "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "Hinge", "SquaredHinge", "CategoricalHinge",
           "PearsonCorrelation", "ConcordanceCorrelation"]

_F = torch.float32


def _t(x, device=None):
    return torch.as_tensor(x, device=device)


def accuracy(y_true, y_pred):
    """1 where ``y_true == y_pred`` exactly."""
    y_pred = _t(y_pred)
    y_true, y_pred = L.squeeze_or_expand_to_same_rank(_t(y_true, y_pred.device).to(y_pred.dtype), y_pred)
    return (y_true == y_pred).to(_F)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """1 where ``(y_pred > threshold) == y_true``."""
    y_pred = _t(y_pred)
    y_true, y_pred = L.squeeze_or_expand_to_same_rank(_t(y_true, y_pred.device), y_pred)
    return (y_true == (y_pred > threshold).to(y_true.dtype)).to(_F)


def categorical_accuracy(y_true, y_pred):
    """1 where ``argmax(y_true) == argmax(y_pred)`` (one-hot labels)."""
    y_pred = _t(y_pred)
    labels = torch.argmax(_t(y_true, y_pred.device), dim=-1)
    shape = labels.shape
    squeeze = labels.ndim == y_pred.ndim
    if squeeze:
        labels = labels.squeeze(-1)
    matches = (labels == torch.argmax(y_pred, dim=-1)).to(_F)
    return matches.reshape(shape) if squeeze else matches


def sparse_categorical_accuracy(y_true, y_pred):
    """1 where the integer label equals ``argmax(y_pred)``."""
    y_pred = _t(y_pred)
    y_true = _t(y_true, y_pred.device)
    shape = y_true.shape
    squeeze = y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1
    if squeeze:
        y_true = y_true.squeeze(-1)
    matches = (y_true.to(y_pred.dtype) == torch.argmax(y_pred, dim=-1).to(y_pred.dtype)).to(_F)
    if squeeze:
        matches = matches.reshape(shape)
    if matches.ndim > 1 and matches.shape[-1] == 1:
        matches = matches.squeeze(-1)
    return matches


def _in_top_k(targets, predictions, k):
    values = torch.topk(predictions, k).values
    target_values = torch.take_along_dim(predictions, targets.long()[:, None], dim=-1)
    return torch.any(target_values >= values, dim=-1)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1 where the true class (one-hot) is among the ``k`` highest scores."""
    y_pred = _t(y_pred)
    labels = torch.argmax(_t(y_true, y_pred.device), dim=-1)
    shape = labels.shape
    flat_pred = y_pred.reshape(-1, y_pred.shape[-1]) if y_pred.ndim > 2 else y_pred
    matches = _in_top_k(labels.reshape(-1), flat_pred, k).to(_F)
    return matches.reshape(shape) if labels.ndim > 1 else matches


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5, from_sorted_ids=False):
    """1 where the integer label is among the ``k`` highest scores (or, with ``from_sorted_ids``, among the
    first ``k`` of ``y_pred``, which then holds class ids sorted by score)."""
    y_pred = _t(y_pred)
    y_true = _t(y_true, y_pred.device)
    shape = y_true.shape
    flat_pred = y_pred.reshape(-1, y_pred.shape[-1]) if y_pred.ndim > 2 else y_pred
    flat_true = y_true.reshape(-1) if y_true.ndim > 1 else y_true
    if from_sorted_ids:
        matches = torch.any(flat_true.to(y_pred.dtype).unsqueeze(1) == flat_pred[:, :k], dim=1)
    else:
        matches = _in_top_k(flat_true, flat_pred, k)
    matches = matches.to(_F)
    return matches.reshape(shape) if y_true.ndim > 1 else matches


def _cosine(y_true, y_pred, axis=-1):
    return -L.cosine_similarity(y_true, y_pred, axis=axis)


def pearson_correlation(y_true, y_pred, axis=-1):
    """Pearson's r along ``axis`` (population standard deviations, as Keras)."""
    y_true, y_pred = L._pair(y_true, y_pred)
    t = y_true - torch.mean(y_true, dim=axis, keepdim=True)
    p = y_pred - torch.mean(y_pred, dim=axis, keepdim=True)
    t = t / torch.std(t, dim=axis, keepdim=True, correction=0)
    p = p / torch.std(p, dim=axis, keepdim=True, correction=0)
    return torch.mean(t * p, dim=axis)


def concordance_correlation(y_true, y_pred, axis=-1):
    """Lin's concordance correlation along ``axis``, as Keras 3.15 computes it."""
    y_true, y_pred = L._pair(y_true, y_pred)
    t_mean = torch.mean(y_true, dim=axis, keepdim=True)
    p_mean = torch.mean(y_pred, dim=axis, keepdim=True)
    t_var = torch.var(y_true - t_mean, dim=axis, keepdim=True, correction=0)
    p_var = torch.var(y_pred - p_mean, dim=axis, keepdim=True, correction=0)
    covar = (y_true - p_mean) * (y_pred - p_mean)
    norm = t_var + p_var + torch.square(t_mean - p_mean)
    return torch.mean(2 * covar / (norm + L.EPSILON), dim=axis)


class _Named(MeanMetricWrapper):
    """A mean metric whose config is its name, dtype and the keyword options it declares."""

    _options: tuple[str, ...] = ()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, **{k: getattr(self, k) for k in self._options}}


def _simple(cls_name: str, fn, default_name: str, doc: str):
    def __init__(self, name=default_name, dtype=None):
        MeanMetricWrapper.__init__(self, fn, name=name, dtype=dtype)
    return type(cls_name, (_Named,), {"__init__": __init__, "__doc__": doc, "__module__": __name__})


Accuracy = _simple("Accuracy", accuracy, "accuracy", "How often predictions equal labels exactly.")
CategoricalAccuracy = _simple("CategoricalAccuracy", categorical_accuracy, "categorical_accuracy",
                              "How often the argmax of predictions equals that of one-hot labels.")
SparseCategoricalAccuracy = _simple("SparseCategoricalAccuracy", sparse_categorical_accuracy,
                                    "sparse_categorical_accuracy",
                                    "How often the argmax of predictions equals integer labels.")
MeanSquaredError = _simple("MeanSquaredError", L.mean_squared_error, "mean_squared_error", "Mean squared error.")
MeanAbsoluteError = _simple("MeanAbsoluteError", L.mean_absolute_error, "mean_absolute_error",
                            "Mean absolute error.")
MeanAbsolutePercentageError = _simple("MeanAbsolutePercentageError", L.mean_absolute_percentage_error,
                                      "mean_absolute_percentage_error", "Mean absolute percentage error.")
MeanSquaredLogarithmicError = _simple("MeanSquaredLogarithmicError", L.mean_squared_logarithmic_error,
                                      "mean_squared_logarithmic_error", "Mean squared logarithmic error.")
LogCoshError = _simple("LogCoshError", L.log_cosh, "logcosh", "Mean of log(cosh(error)).")
KLDivergence = _simple("KLDivergence", L.kl_divergence, "kl_divergence", "Kullback-Leibler divergence.")
Poisson = _simple("Poisson", L.poisson, "poisson", "Poisson loss as a metric.")
Hinge = _simple("Hinge", L.hinge, "hinge", "Hinge loss as a metric.")
SquaredHinge = _simple("SquaredHinge", L.squared_hinge, "squared_hinge", "Squared hinge loss as a metric.")
CategoricalHinge = _simple("CategoricalHinge", L.categorical_hinge, "categorical_hinge",
                           "Categorical hinge loss as a metric.")


class BinaryAccuracy(_Named):
    """How often ``y_pred > threshold`` equals the 0/1 label."""

    _options = ("threshold",)

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold


class TopKCategoricalAccuracy(_Named):
    """How often the one-hot label's class is among the top ``k`` predictions."""

    _options = ("k",)

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k


class SparseTopKCategoricalAccuracy(_Named):
    """How often the integer label is among the top ``k`` predictions."""

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None, from_sorted_ids=False):
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=k,
                         from_sorted_ids=from_sorted_ids)
        self.k, self.from_sorted_ids = k, from_sorted_ids

    def get_config(self):
        config = {"name": self.name, "dtype": self.dtype, "k": self.k}
        if self.from_sorted_ids:
            config["from_sorted_ids"] = True
        return config


class CosineSimilarity(_Named):
    """Mean cosine similarity between labels and predictions along ``axis``."""

    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        super().__init__(_cosine, name=name, dtype=dtype, axis=axis)
        self.axis = axis


class BinaryCrossentropy(_Named):
    """Binary cross-entropy as a metric."""

    _options = ("from_logits", "label_smoothing")

    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False, label_smoothing=0):
        super().__init__(L.binary_crossentropy, name=name, dtype=dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing)
        self.from_logits, self.label_smoothing = from_logits, label_smoothing


class CategoricalCrossentropy(_Named):
    """Categorical cross-entropy as a metric."""

    _options = ("from_logits", "label_smoothing", "axis")

    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False, label_smoothing=0, axis=-1):
        super().__init__(L.categorical_crossentropy, name=name, dtype=dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


class SparseCategoricalCrossentropy(_Named):
    """Sparse categorical cross-entropy as a metric."""

    _options = ("from_logits", "ignore_class", "axis")

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False, ignore_class=None,
                 axis=-1):
        super().__init__(L.sparse_categorical_crossentropy, name=name, dtype=dtype, from_logits=from_logits,
                         ignore_class=ignore_class, axis=axis)
        self.from_logits, self.ignore_class, self.axis = from_logits, ignore_class, axis


class PearsonCorrelation(_Named):
    """Mean Pearson correlation along ``axis``."""

    _options = ("axis",)

    def __init__(self, name="pearson_correlation", dtype=None, axis=-1):
        super().__init__(pearson_correlation, name=name, dtype=dtype, axis=axis)
        self.axis = axis


class ConcordanceCorrelation(_Named):
    """Mean concordance correlation along ``axis``."""

    _options = ("axis",)

    def __init__(self, name="concordance_correlation", dtype=None, axis=-1):
        super().__init__(concordance_correlation, name=name, dtype=dtype, axis=axis)
        self.axis = axis
