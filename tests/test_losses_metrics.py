"""Every Keras 3 loss (function and class) and every metric (stateful class) against Keras itself (torch
backend) on the same inputs, with sample weights and over several batches, at float32 round-off."""
import numpy as np
import pytest
import torch

import glassnet as gn

B, C = 12, 4


def _data(kind, rng):
    """(y_true, y_pred) numpy arrays in the domain a loss or metric expects."""
    logits = rng.standard_normal((B, C)).astype(np.float32)
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    labels = rng.integers(0, C, B)
    onehot = np.eye(C, dtype=np.float32)[labels]
    if kind == "regression":
        return rng.standard_normal((B, 5)).astype(np.float32), rng.standard_normal((B, 5)).astype(np.float32)
    if kind == "positive":
        return np.abs(rng.standard_normal((B, 5))).astype(np.float32), \
            (np.abs(rng.standard_normal((B, 5))) + 0.1).astype(np.float32)
    if kind == "probs":
        return onehot, probs.astype(np.float32)
    if kind == "logits":
        return onehot, logits
    if kind == "sparse_probs":
        return labels, probs.astype(np.float32)
    if kind == "sparse_logits":
        return labels, logits
    if kind == "binary":
        return rng.integers(0, 2, (B, 1)).astype(np.float32), (1 / (1 + np.exp(-logits[:, :1]))).astype(np.float32)
    if kind == "binary_logits":
        return rng.integers(0, 2, (B, 3)).astype(np.float32), logits[:, :3]
    if kind == "multilabel":
        return rng.integers(0, 2, (B, 3)).astype(np.float32), (1 / (1 + np.exp(-logits[:, :3]))).astype(np.float32)
    if kind == "hinge":
        return rng.choice([-1.0, 1.0], (B, 3)).astype(np.float32), logits[:, :3]
    if kind == "hinge01":
        return rng.integers(0, 2, (B, 3)).astype(np.float32), logits[:, :3]
    if kind == "distributions":
        other = rng.standard_normal((B, C))
        return probs.astype(np.float32), (np.exp(other) / np.exp(other).sum(-1, keepdims=True)).astype(np.float32)
    if kind == "embeddings":
        e = rng.standard_normal((B, 6)).astype(np.float32)
        return rng.integers(0, 3, B), e / np.linalg.norm(e, axis=-1, keepdims=True)
    if kind == "ctc":
        y = np.zeros((B, 3), np.int64)
        for i in range(B):
            n = rng.integers(1, 4)
            y[i, :n] = rng.integers(1, C, n)
        return y, rng.standard_normal((B, 8, C)).astype(np.float32)
    if kind == "segmentation":
        return rng.integers(0, 2, (B, 6, 6, 1)).astype(np.float32), \
            (1 / (1 + np.exp(-rng.standard_normal((B, 6, 6, 1))))).astype(np.float32)
    raise KeyError(kind)


LOSSES = [  # (function name, class name, data kind, options)
    ("mean_squared_error", "MeanSquaredError", "regression", {}),
    ("mean_absolute_error", "MeanAbsoluteError", "regression", {}),
    ("mean_absolute_percentage_error", "MeanAbsolutePercentageError", "regression", {}),
    ("mean_squared_logarithmic_error", "MeanSquaredLogarithmicError", "positive", {}),
    ("cosine_similarity", "CosineSimilarity", "regression", {"axis": -1}),
    ("huber", "Huber", "regression", {"delta": 0.7}),
    ("log_cosh", "LogCosh", "regression", {}),
    ("hinge", "Hinge", "hinge", {}),
    ("hinge", "Hinge", "hinge01", {}),
    ("squared_hinge", "SquaredHinge", "hinge", {}),
    ("categorical_hinge", "CategoricalHinge", "probs", {}),
    ("kl_divergence", "KLDivergence", "distributions", {}),
    ("poisson", "Poisson", "positive", {}),
    ("binary_crossentropy", "BinaryCrossentropy", "binary", {"label_smoothing": 0.1}),
    ("binary_crossentropy", "BinaryCrossentropy", "binary_logits", {"from_logits": True}),
    ("binary_focal_crossentropy", "BinaryFocalCrossentropy", "binary",
     {"apply_class_balancing": True, "alpha": 0.3, "gamma": 1.5}),
    ("binary_focal_crossentropy", "BinaryFocalCrossentropy", "binary_logits", {"from_logits": True,
                                                                                "label_smoothing": 0.2}),
    ("categorical_crossentropy", "CategoricalCrossentropy", "probs", {"label_smoothing": 0.1}),
    ("categorical_crossentropy", "CategoricalCrossentropy", "logits", {"from_logits": True}),
    ("categorical_focal_crossentropy", "CategoricalFocalCrossentropy", "probs", {"gamma": 1.5}),
    ("categorical_focal_crossentropy", "CategoricalFocalCrossentropy", "logits", {"from_logits": True}),
    ("sparse_categorical_crossentropy", "SparseCategoricalCrossentropy", "sparse_probs", {}),
    ("sparse_categorical_crossentropy", "SparseCategoricalCrossentropy", "sparse_logits",
     {"from_logits": True, "ignore_class": 2}),
    ("ctc", "CTC", "ctc", {}),
    ("dice", "Dice", "segmentation", {"axis": (1, 2, 3)}),
    ("tversky", "Tversky", "segmentation", {"alpha": 0.3, "beta": 0.7, "axis": (1, 2, 3)}),
    ("circle", "Circle", "embeddings", {"gamma": 20.0, "margin": 0.3}),
    ("categorical_generalized_cross_entropy", "CategoricalGeneralizedCrossEntropy", "sparse_probs", {"q": 0.7}),
]


def _ids(rows):
    return [f"{r[1]}-{r[2]}" for r in rows]


@pytest.mark.parametrize("fn_name, cls_name, kind, options", LOSSES, ids=_ids(LOSSES))
def test_loss_function_and_class_match_keras(keras, fn_name, cls_name, kind, options):
    rng = np.random.default_rng(hash(cls_name + kind) % 2 ** 32)
    y_true, y_pred = _data(kind, rng)
    sw = rng.uniform(0.2, 2.0, B).astype(np.float32)
    fn_options = {k: v for k, v in options.items() if k != "ignore_class" or fn_name.startswith("sparse")}
    if cls_name == "Circle":
        fn_options = {"gamma": options["gamma"], "margin": options["margin"]}
    ours = getattr(gn.losses, fn_name)(torch.tensor(y_true), torch.tensor(y_pred), **fn_options)
    theirs = getattr(keras.losses, fn_name)(torch.tensor(y_true), torch.tensor(y_pred), **fn_options)
    np.testing.assert_allclose(ours.numpy(), np.asarray(theirs), rtol=1e-5, atol=1e-6)
    for reduction in ("sum_over_batch_size", "sum", "mean_with_sample_weight", "none"):
        g = getattr(gn.losses, cls_name)(reduction=reduction, **options)
        k = getattr(keras.losses, cls_name)(reduction=reduction, **options)
        for weights in (None, sw):
            a = g(torch.tensor(y_true), torch.tensor(y_pred), sample_weight=None if weights is None
                  else torch.tensor(weights))
            b = k(y_true, y_pred, sample_weight=weights)
            np.testing.assert_allclose(a.numpy(), np.asarray(b), rtol=1e-5, atol=1e-6, err_msg=reduction)
    g = getattr(gn.losses, cls_name)(**options)
    assert g.name == getattr(keras.losses, cls_name)(**options).name
    k_from_ours = getattr(keras.losses, cls_name).from_config(g.get_config())
    np.testing.assert_allclose(float(k_from_ours(y_true, y_pred)), float(g(torch.tensor(y_true), torch.tensor(y_pred))),
                               rtol=1e-5)


def test_loss_lookup_by_keras_names():
    assert isinstance(gn.losses.get("mse"), gn.losses.LossFunctionWrapper)
    assert gn.losses.get("huber_loss").fn is gn.losses.huber
    assert isinstance(gn.losses.get("BinaryFocalCrossentropy"), gn.losses.BinaryFocalCrossentropy)
    cfg = gn.losses.serialize(gn.losses.Huber(delta=2.0))
    assert gn.losses.deserialize(cfg).delta == 2.0
    with pytest.raises(ValueError, match=r"Unknown loss 'msee'"):
        gn.losses.get("msee")
    with pytest.raises(gn.ConfigError, match=r"q must be in the interval \(0, 1\)"):
        gn.losses.CategoricalGeneralizedCrossEntropy(q=1.5)


METRICS = [  # (class, data kind, constructor options)
    ("Mean", "values", {}), ("Sum", "values", {}),
    ("Accuracy", "exact", {}), ("BinaryAccuracy", "binary", {"threshold": 0.4}),
    ("CategoricalAccuracy", "probs", {}), ("SparseCategoricalAccuracy", "sparse_probs", {}),
    ("TopKCategoricalAccuracy", "probs", {"k": 2}), ("SparseTopKCategoricalAccuracy", "sparse_probs", {"k": 2}),
    ("MeanSquaredError", "regression", {}), ("MeanAbsoluteError", "regression", {}),
    ("MeanAbsolutePercentageError", "regression", {}), ("MeanSquaredLogarithmicError", "positive", {}),
    ("RootMeanSquaredError", "regression", {}), ("CosineSimilarity", "regression", {}),
    ("LogCoshError", "regression", {}), ("R2Score", "regression", {}),
    ("R2Score", "regression", {"class_aggregation": "variance_weighted_average", "num_regressors": 2}),
    ("KLDivergence", "distributions", {}), ("Poisson", "positive", {}),
    ("BinaryCrossentropy", "binary", {}), ("CategoricalCrossentropy", "probs", {"label_smoothing": 0.1}),
    ("SparseCategoricalCrossentropy", "sparse_logits", {"from_logits": True}),
    ("Hinge", "hinge", {}), ("SquaredHinge", "hinge", {}), ("CategoricalHinge", "probs", {}),
    ("PearsonCorrelation", "regression", {}), ("ConcordanceCorrelation", "regression", {}),
    ("TruePositives", "multilabel", {"thresholds": [0.3, 0.6]}), ("FalsePositives", "multilabel", {}),
    ("TrueNegatives", "multilabel", {"thresholds": 0.7}), ("FalseNegatives", "multilabel", {}),
    ("Precision", "multilabel", {}), ("Precision", "multilabel", {"thresholds": [0.2, 0.5, 0.8]}),
    ("Precision", "probs", {"top_k": 2}), ("Precision", "probs", {"class_id": 1}),
    ("Recall", "multilabel", {}), ("Recall", "probs", {"top_k": 1, "class_id": 2}),
    ("AUC", "multilabel", {}), ("AUC", "multilabel", {"curve": "PR"}),
    ("AUC", "multilabel", {"curve": "PR", "summation_method": "majoring"}),
    ("AUC", "multilabel", {"curve": "PRGAIN", "summation_method": "minoring"}),
    ("AUC", "multilabel", {"multi_label": True, "num_thresholds": 50}),
    ("AUC", "multilabel", {"multi_label": True, "label_weights": [0.2, 0.3, 0.5]}),
    ("AUC", "binary_logits", {"from_logits": True, "thresholds": [0.1, 0.35, 0.6, 0.9]}),
    ("SensitivityAtSpecificity", "multilabel", {"specificity": 0.5}),
    ("SpecificityAtSensitivity", "multilabel", {"sensitivity": 0.5, "num_thresholds": 20}),
    ("PrecisionAtRecall", "multilabel", {"recall": 0.6}),
    ("RecallAtPrecision", "multilabel", {"precision": 0.5}),
    ("F1Score", "multilabel", {"threshold": 0.5}), ("F1Score", "probs", {"average": "macro"}),
    ("FBetaScore", "multilabel", {"beta": 2.0, "average": "weighted", "threshold": 0.4}),
    ("FBetaScore", "multilabel", {"average": "micro", "threshold": 0.6}),
    ("IoU", "sparse_pred_labels", {"num_classes": C, "target_class_ids": [0, 2]}),
    ("MeanIoU", "sparse_pred_labels", {"num_classes": C, "ignore_class": 1}),
    ("BinaryIoU", "binary", {"threshold": 0.5}),
    ("OneHotIoU", "probs", {"num_classes": C, "target_class_ids": [1, 3]}),
    ("OneHotMeanIoU", "probs", {"num_classes": C}),
]


def _metric_data(kind, rng):
    if kind == "values":
        return None, rng.standard_normal(B).astype(np.float32)
    if kind == "exact":
        y = rng.integers(0, 3, (B, 1)).astype(np.float32)
        return y, np.where(rng.random((B, 1)) < 0.5, y, y + 1).astype(np.float32)
    if kind == "sparse_pred_labels":
        return rng.integers(0, C, B), rng.integers(0, C, B)
    return _data(kind, rng)


@pytest.mark.parametrize("cls_name, kind, options", METRICS, ids=[f"{m[0]}-{i}" for i, m in enumerate(METRICS)])
def test_metric_matches_keras_over_batches(keras, cls_name, kind, options):
    rng = np.random.default_rng(7 + len(cls_name))
    g, k = getattr(gn.metrics, cls_name)(**options), getattr(keras.metrics, cls_name)(**options)
    assert g.name.rstrip("_0123456789") == k.name.rstrip("_0123456789")  # automatic names count up in both
    int_weights = cls_name.endswith("IoU")
    for batch in range(3):
        y_true, y_pred = _metric_data(kind, rng)
        sw = (rng.integers(0, 3, B) if int_weights else rng.uniform(0.0, 2.0, B)).astype(np.float32) \
            if batch != 1 else None
        if int_weights and sw is not None:
            sw = sw.astype(np.int32)
        if y_true is None:
            g.update_state(torch.tensor(y_pred), sample_weight=None if sw is None else torch.tensor(sw))
            k.update_state(y_pred, sample_weight=sw)
        else:
            g.update_state(torch.tensor(y_true), torch.tensor(y_pred), sample_weight=None if sw is None else
                           torch.tensor(sw))
            k.update_state(y_true, y_pred, sample_weight=sw)
        np.testing.assert_allclose(np.asarray(g.result().cpu()), np.asarray(k.result()), rtol=1e-5, atol=1e-6,
                                   err_msg=f"batch {batch}")
    g.reset_state()
    k.reset_state()
    y_true, y_pred = _metric_data(kind, rng)
    args = (y_pred,) if y_true is None else (y_true, y_pred)
    g.update_state(*[torch.tensor(a) for a in args])
    k.update_state(*args)
    np.testing.assert_allclose(np.asarray(g.result().cpu()), np.asarray(k.result()), rtol=1e-5, atol=1e-6)
    # the config is Keras's: Keras rebuilds the same metric from glassnet's
    again = getattr(keras.metrics, cls_name).from_config(g.get_config())
    assert again.name == g.name


def test_metric_names_and_lookup(keras):
    for name in ["mae", "mse", "auc", "precision", "Recall", "f1_score", "r2_score", "binary_io_u", "AUC"]:
        assert type(gn.metrics.get(name)).__name__ == type(keras.metrics.get(name)).__name__
    m = gn.metrics.get(lambda yt, yp: (yt - yp).abs().mean(-1))
    assert isinstance(m, gn.metrics.MeanMetricWrapper)
    with pytest.raises(ValueError, match="Unknown metric 'auroc'"):
        gn.metrics.get("auroc")


def test_compile_resolves_accuracy_and_crossentropy_from_shapes(keras):
    """"accuracy" and "crossentropy" pick binary, sparse or categorical forms from the shapes, as Keras 3 does."""
    x = np.random.default_rng(0).standard_normal((20, 5)).astype(np.float32)
    for units, y, expect in [(1, (x[:, :1] > 0).astype(np.float32), "BinaryAccuracy"),
                             (3, (x[:, 0] > 0).astype(np.int64), "SparseCategoricalAccuracy"),
                             (3, np.eye(3, dtype=np.float32)[(x[:, 0] > 0).astype(int)], "CategoricalAccuracy")]:
        m = gn.Sequential([gn.Input((5,)), gn.layers.Dense(units, activation="sigmoid" if units == 1 else "softmax")])
        m.compile("sgd", "crossentropy", metrics=["accuracy"])
        logs = m.evaluate(x, y, return_dict=True, verbose=0)
        assert type(m._trainer.compile_metrics.metrics[0]).__name__ == expect
        k = keras.Sequential([keras.Input((5,)), keras.layers.Dense(units, activation="sigmoid" if units == 1
                                                                   else "softmax")])
        k.set_weights(m.get_weights())
        k.compile("sgd", "crossentropy", metrics=["accuracy"])
        theirs = k.evaluate(x, y, return_dict=True, verbose=0)
        assert set(logs) == set(theirs)
        for key in logs:
            assert logs[key] == pytest.approx(theirs[key], rel=1e-5), key


def test_metrics_in_fit_match_keras(keras):
    """AUC, Precision and Recall compiled into a model give Keras's numbers in evaluate."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((64, 6)).astype(np.float32)
    y = (x[:, :1] + 0.3 * rng.standard_normal((64, 1)) > 0).astype(np.float32)
    g = gn.Sequential([gn.Input((6,)), gn.layers.Dense(1, activation="sigmoid")])
    k = keras.Sequential([keras.Input((6,)), keras.layers.Dense(1, activation="sigmoid")])
    k.set_weights(g.get_weights())
    for m in (g, k):
        m.compile("sgd", "binary_crossentropy",
                  metrics=["auc", "precision", "recall", type(m).__module__.startswith("keras")
                           and keras.metrics.F1Score(threshold=0.5) or gn.metrics.F1Score(threshold=0.5)])
    ours = g.evaluate(x, y, batch_size=16, return_dict=True, verbose=0)
    theirs = k.evaluate(x, y, batch_size=16, return_dict=True, verbose=0)
    assert set(ours) == set(theirs)
    for key in ours:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_a_metric_loss_or_schedule_missing_its_method_is_refused_when_made():
    """The base classes' required methods are abstract: an incomplete subclass fails at construction, before
    any training step, naming what it lacks."""
    class NoResult(gn.metrics.Metric):
        def update_state(self, *args, **kwargs):
            pass

    class NoCall(gn.losses.Loss):
        pass

    class NoStep(gn.optimizers.schedules.LearningRateSchedule):
        pass

    for cls, missing in ((NoResult, "result"), (NoCall, "call"), (NoStep, "__call__")):
        with pytest.raises(TypeError, match=f"abstract method.*{missing}"):
            cls()

    class Constant(gn.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            return 0.1
    with pytest.raises(gn.ConfigError, match="'Constant' cannot be saved: it defines no get_config"):
        Constant().get_config()
