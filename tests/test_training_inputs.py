"""Bad training input is refused before the first step, and a refused fit leaves the weights untouched.
Each test starts from valid data and makes the one bad change it is about."""
import numpy as np
import pytest
import torch

import glassnet as gn
from glassnet import layers


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 8)).astype(np.float32)
    return x, (x @ rng.standard_normal((8, 1))).astype(np.float32)


def _model(units=1, loss="mse", input_dtype="float32"):
    gn.utils.set_random_seed(0)
    m = gn.Sequential([gn.Input((8,), dtype=input_dtype), layers.Dense(units, name="out")])
    m.compile("adam", loss)
    return m


def _classifier():
    gn.utils.set_random_seed(0)
    m = gn.Sequential([gn.Input((8,)), layers.Dense(3, activation="softmax", name="probs")])
    m.compile("adam", "sparse_categorical_crossentropy")
    return m


def _refused(model, pattern, exc=ValueError, **fit_kwargs):
    """fit raises ``exc`` matching ``pattern``, no step runs and the weights do not change."""
    before = model.get_weights()
    steps = []
    original = model.train_step
    model.train_step = lambda data: (steps.append(1), original(data))[1]
    with pytest.raises(exc, match=pattern):
        model.fit(verbose=0, **fit_kwargs)
    assert steps == []
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------- iterables without a length
def _generator(x, y, batch):
    for i in range(0, len(x), batch):
        yield x[i:i + batch], y[i:i + batch]


def test_generator_epochs_end_with_the_iterator_or_at_steps_per_epoch():
    x, y = _data(48)
    m = _model()
    h = m.fit(_generator(x, y, 8), epochs=3, steps_per_epoch=2, verbose=0)  # 6 batches: 2 per epoch
    assert h.epoch == [0, 1, 2]
    m = _model()
    with pytest.warns(gn.GlassnetWarning, match="Your input ran out of data; interrupting training"):
        h = m.fit(_generator(x, y, 8), epochs=3, verbose=0)  # the first epoch takes all 6, then nothing is left
    assert h.epoch == [0] and m.optimizer.iterations == 6

    class Reiterable:  # iterable again each epoch, with no __len__
        def __iter__(self):
            return _generator(x, y, 16)
    h = _model().fit(Reiterable(), epochs=2, verbose=0)
    assert h.epoch == [0, 1]


# ---------------------------------------------------------------------- non-finite values
@pytest.mark.parametrize("where, pattern", [
    ("x", r"x contains 2 NaN or infinite value\(s\); the first is at index \(3, 1\) \(nan\)"),
    ("y", r"y contains 1 NaN or infinite value\(s\); the first is at index \(5, 0\) \(inf\)"),
    ("sample_weight", r"sample_weight contains 1 NaN or infinite value\(s\); the first is at index 7 \(nan\)"),
])
def test_non_finite_values_are_refused_with_count_and_first_index(where, pattern):
    x, y = _data()
    sw = np.ones(len(x), np.float32)
    if where == "x":
        x[3, 1] = x[9, 2] = np.nan
    elif where == "y":
        y[5, 0] = np.inf
    else:
        sw[7] = np.nan
    _refused(_model(), pattern, x=x, y=y, sample_weight=sw)


def test_nan_inputs_allowed_on_purpose_by_one_flag():
    x, y = _data()
    x[2, 2] = np.nan
    gn.config.set_allow_nan_inputs(True)
    try:
        m = gn.Sequential([gn.Input((8,)), layers.Lambda(lambda t: torch.nan_to_num(t)), layers.Dense(1)])
        m.compile("adam", "mse")
        assert np.isfinite(m.fit(x, y, verbose=0).history["loss"][0])
        x[4, 4] = np.inf  # infinite values stay refused
        _refused(m, r"x contains 1 infinite value\(s\); the first is at index \(4, 4\)", x=x, y=y)
    finally:
        gn.config.set_allow_nan_inputs(False)


def test_class_weight_with_nan_is_refused():
    x, _ = _data()
    labels = (x[:, 0] > 0).astype(np.int64)
    _refused(_classifier(), r"class_weight has 1 non-finite or non-numeric weight\(s\): \{1: nan\}",
             x=x, y=labels, class_weight={0: 1.0, 1: float("nan"), 2: 1.0})


def test_nan_in_sparse_labels_is_refused_clearly():
    x, _ = _data()
    labels = (x[:, 0] > 0).astype(np.float32)
    labels[6] = np.nan
    _refused(_classifier(), r"y contains 1 NaN or infinite value\(s\); the first is at index 6", x=x, y=labels)


# ---------------------------------------------------------------------- empty data, bad counts and sizes
def test_empty_arrays_are_refused():
    x, y = _data()
    _refused(_model(), r"fit\(\): x is empty \(0 samples\); there is nothing to train on", x=x[:0], y=y[:0])


def test_validation_split_leaving_no_training_rows_is_refused():
    x, y = _data(1)
    _refused(_model(), r"validation_split=0\.5 of 1 samples leaves no training samples", x=x, y=y,
             validation_split=0.5)


def test_steps_per_epoch_zero_is_refused():
    x, y = _data()
    _refused(_model(), r"fit\(\): the `steps_per_epoch` argument must be a positive integer\. Received: "
                       r"steps_per_epoch=0", gn.ConfigError, x=x, y=y, steps_per_epoch=0)


def test_an_empty_iterable_is_refused():
    _refused(_model(), r"x is an empty dataset or iterable; there is nothing to train on", x=[])


@pytest.mark.parametrize("batch_size", [0, -4, 1.5, True])
def test_bad_batch_sizes_are_refused_naming_the_argument(batch_size):
    x, y = _data()
    _refused(_model(), rf"fit\(\): the `batch_size` argument must be a positive integer\. Received: "
                       rf"batch_size={batch_size!r}", gn.ConfigError, x=x, y=y, batch_size=batch_size)


def test_evaluate_refuses_a_negative_batch_size():
    x, y = _data()
    with pytest.raises(gn.ConfigError, match=r"evaluate\(\): the `batch_size` argument must be a positive integer\. "
                                             r"Received: batch_size=-1"):
        _model().evaluate(x, y, batch_size=-1, verbose=0)


def test_int_and_bool_x_are_cast_to_the_declared_input_dtype():
    x, y = _data()
    for bad in (np.round(x * 3).astype(np.int64), x > 0):
        m = _model()
        h = m.fit(bad, y, epochs=1, verbose=0)
        assert np.isfinite(h.history["loss"][0])
        np.testing.assert_allclose(m.predict(bad, verbose=0), m.predict(bad.astype(np.float32), verbose=0))


def test_y_missing_for_a_compiled_loss_is_refused():
    x, _ = _data()
    _refused(_model(), r"fit\(\)'s x came without targets \(y is None\), but the model was compiled with a loss "
                       r"\('mse'\) that needs them\. Pass y=", x=x)


def test_dict_x_with_a_wrong_key_is_refused():
    x, y = _data()
    a, b = gn.Input((5,), name="a"), gn.Input((3,), name="b")
    m = gn.Model({"a": a, "b": b}, layers.Dense(1)(layers.Concatenate()([a, b])))
    m.compile("adam", "mse")
    m.fit({"a": x[:, :5], "b": x[:, 5:]}, y, verbose=0)  # valid
    _refused(m, r"x is a dict keyed by input name, but key\(s\) \['c'\] name no input\. Model '.*' has inputs "
                r"\['a', 'b'\]; use exactly those keys", x={"a": x[:, :5], "c": x[:, 5:]}, y=y)


def test_one_hot_labels_with_a_sparse_loss_are_refused():
    x, _ = _data()
    labels = (x[:, 0] > 0).astype(np.int64)
    _classifier().fit(x, labels, verbose=0)  # valid
    _refused(_classifier(), r"the labels for output 'probs' look one-hot \(shape \(40, 3\)\), but "
                            r"sparse_categorical_crossentropy expects integer class labels of shape \(40,\)\. "
                            r"Pass y\.argmax\(-1\)", x=x, y=np.eye(3, dtype=np.float32)[labels])


@pytest.mark.parametrize("y_rows", [7, 1])
def test_iterable_batches_with_mismatched_rows_are_refused(y_rows):
    x, y = _data(20)
    good = [(x[:10], y[:10]), (x[10:], y[10:])]
    _model().fit(good, verbose=0)
    bad = [(x[:10], y[:y_rows]), (x[10:], y[10:])]
    _refused(_model(), rf"Data cardinality is ambiguous in batch 0 of x: .* Received sizes: x \[10\], y \[{y_rows}\]\. "
                       r"Pair each x row with one y row; a y with 1 row is not broadcast", x=bad)


def test_validation_data_is_checked_before_the_first_step():
    x, y = _data()
    _refused(_model(), r"validation_data: Input 'input_layer.*' of model '.*' expects shape \(None, 8\)\. Received: "
                       r"input shape \(10, 7\)", gn.ShapeError, x=x, y=y,
             validation_data=(x[:10, :7], y[:10]))
    labels = (x[:, 0] > 0).astype(np.int64)
    _refused(_classifier(), r"validation_data: Labels for output 'probs' must be in \[0, 3\) for "
                            r"sparse_categorical_crossentropy, but they range over \[0, 7\]", x=x, y=labels,
             validation_data=(x[:5], np.array([0, 1, 7, 2, 0])))
