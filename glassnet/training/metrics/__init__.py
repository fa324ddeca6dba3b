"""Keras 3's metrics (``keras.metrics``): stateful classes with ``update_state`` / ``result`` /
``reset_state``, and the per-sample metric functions.

Example:
    >>> m = gn.metrics.BinaryAccuracy()
    >>> m.update_state([[1], [0]], [[0.9], [0.8]])
    >>> float(m.result())
    0.5
"""
from __future__ import annotations

import re

from ..losses import (binary_crossentropy, binary_focal_crossentropy, categorical_crossentropy,
                      categorical_focal_crossentropy, categorical_hinge, hinge, huber, kl_divergence, log_cosh,
                      mean_absolute_error, mean_absolute_percentage_error, mean_squared_error,
                      mean_squared_logarithmic_error, poisson, sparse_categorical_crossentropy, squared_hinge)
from .base import Mean, MeanMetricWrapper, Metric, Sum
from .confusion import (AUC, FalseNegatives, FalsePositives, Precision, PrecisionAtRecall, Recall,
                        RecallAtPrecision, SensitivityAtSpecificity, SpecificityAtSensitivity, TrueNegatives,
                        TruePositives)
from .means import (Accuracy, BinaryAccuracy, BinaryCrossentropy, CategoricalAccuracy, CategoricalCrossentropy,
                    CategoricalHinge, ConcordanceCorrelation, CosineSimilarity, Hinge, KLDivergence, LogCoshError,
                    MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredError, MeanSquaredLogarithmicError,
                    PearsonCorrelation, Poisson, SparseCategoricalAccuracy, SparseCategoricalCrossentropy,
                    SparseTopKCategoricalAccuracy, SquaredHinge, TopKCategoricalAccuracy, binary_accuracy,
                    categorical_accuracy, concordance_correlation, pearson_correlation, sparse_categorical_accuracy,
                    sparse_top_k_categorical_accuracy, top_k_categorical_accuracy)
from .scores import (BinaryIoU, F1Score, FBetaScore, IoU, MeanIoU, OneHotIoU, OneHotMeanIoU, R2Score,
                     RootMeanSquaredError)

CLASSES = {cls.__name__: cls for cls in (
    Metric, Mean, Sum, MeanMetricWrapper, MeanSquaredError, RootMeanSquaredError, MeanAbsoluteError,
    MeanAbsolutePercentageError, MeanSquaredLogarithmicError, CosineSimilarity, LogCoshError, R2Score, AUC,
    FalseNegatives, FalsePositives, Precision, PrecisionAtRecall, Recall, RecallAtPrecision,
    SensitivityAtSpecificity, SpecificityAtSensitivity, TrueNegatives, TruePositives, ConcordanceCorrelation,
    PearsonCorrelation, Hinge, SquaredHinge, CategoricalHinge, KLDivergence, Poisson, BinaryCrossentropy,
    CategoricalCrossentropy, SparseCategoricalCrossentropy, Accuracy, BinaryAccuracy, CategoricalAccuracy,
    SparseCategoricalAccuracy, TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, F1Score, FBetaScore, IoU,
    BinaryIoU, MeanIoU, OneHotIoU, OneHotMeanIoU)}


def _snake(name: str) -> str:
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z0-9])([A-Z])", r"\1_\2", name).lower()


# Keras's ALL_OBJECTS_DICT: class names, their snake_case forms, and five short aliases (plus "rmse", which
# glassnet has always taken); the two base classes need arguments, so no name makes them
_NAMED = {n: c for n, c in CLASSES.items() if n not in ("Metric", "MeanMetricWrapper")}
BY_NAME = {**_NAMED, **{_snake(n): c for n, c in _NAMED.items()}, "rmse": RootMeanSquaredError,
           "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy, "mse": MeanSquaredError, "MSE": MeanSquaredError,
           "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError, "mape": MeanAbsolutePercentageError,
           "MAPE": MeanAbsolutePercentageError, "msle": MeanSquaredLogarithmicError, "MSLE": MeanSquaredLogarithmicError}
_FUNCTIONS = {f.__name__: f for f in (
    binary_accuracy, categorical_accuracy, sparse_categorical_accuracy, top_k_categorical_accuracy,
    sparse_top_k_categorical_accuracy, pearson_correlation, concordance_correlation, binary_crossentropy,
    binary_focal_crossentropy, categorical_crossentropy, categorical_focal_crossentropy, categorical_hinge, hinge,
    huber, kl_divergence, log_cosh, mean_absolute_error, mean_absolute_percentage_error, mean_squared_error,
    mean_squared_logarithmic_error, poisson, sparse_categorical_crossentropy, squared_hinge)}


def known_names() -> list[str]:
    """Every name ``compile(metrics=[...])`` accepts (``"accuracy"``/``"acc"`` resolve from the shapes)."""
    return sorted({"accuracy", "acc", "crossentropy", "ce"} | {k for k in BY_NAME if k[0].islower()} | set(_FUNCTIONS))


def get(identifier) -> Metric:
    """A metric from a Keras name (``"mae"``, ``"auc"``, ``"Precision"``), a serialized config, a metric, a
    metric class, or a function ``(y_true, y_pred) -> per-sample values`` (wrapped in a mean)."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = BY_NAME.get(identifier)
        if cls is not None:
            return cls()
        fn = _FUNCTIONS.get(identifier)
        if fn is not None:
            return MeanMetricWrapper(fn, name=identifier)
        raise ValueError(f"Unknown metric {identifier!r}. Known metrics: {', '.join(known_names())}.")
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier, name=getattr(identifier, "__name__", "metric"))
    raise TypeError(f"A metric must be a name, a Metric or a callable. Received: {identifier!r}")


def serialize(metric: Metric) -> dict:
    """Keras's ``{"module", "class_name", "config", "registered_name"}`` for a metric."""
    return {"module": "keras.metrics", "class_name": type(metric).__name__, "config": metric.get_config(),
            "registered_name": None}


def deserialize(config, custom_objects: dict | None = None) -> Metric:
    """A metric from Keras's serialized form (or a name)."""
    if isinstance(config, str):
        if custom_objects and config in custom_objects:
            return get(custom_objects[config])
        return get(config)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"A metric config must be a name or a dict with a class_name. Received: {str(config)[:120]}")
    name = config["class_name"]
    cls = (custom_objects or {}).get(name) or CLASSES.get(name)
    if cls is None:
        raise ValueError(f"glassnet has no metric {name!r}")
    return cls.from_config(dict(config.get("config") or {}))


def check_name(identifier) -> None:
    """Fail at compile time for an unknown metric name (listing the known ones)."""
    if isinstance(identifier, str) and identifier.lower() not in ("accuracy", "acc", "crossentropy", "ce") \
            and identifier not in BY_NAME and identifier not in _FUNCTIONS:
        raise ValueError(f"Unknown metric {identifier!r}. Known metrics: {', '.join(known_names())}.")
    if not isinstance(identifier, (str, Metric, dict, type)) and not callable(identifier):
        raise TypeError(f"A metric must be a name, a Metric or a callable. Received: {identifier!r}")


def from_config(config) -> list:
    """The compile config's ``metrics`` (names or serialized metrics; nested per output)."""
    out = []
    for m in config if isinstance(config, list) else [config]:
        if isinstance(m, list):
            out.append(from_config(m))
        elif isinstance(m, dict) and "class_name" not in m:
            out.append({k: from_config(v) if isinstance(v, list) else v for k, v in m.items()})
        elif isinstance(m, dict):
            out.append(deserialize(m))
        else:
            check_name(m)
            out.append(m)
    return out


__all__ = sorted(CLASSES) + sorted(_FUNCTIONS) + ["get", "serialize", "deserialize"]
