"""Regularizers, activity regularization, add_loss and constraints: the penalties equal Keras's
``model.losses``, training with them equals Keras's, and they survive Keras files both ways."""
import numpy as np
import pytest
import torch

import glassnet as gn
from glassnet import layers


def _model(L, R, K, I, S):
    return S([
        I((6, 5)),
        L.Conv1D(4, 3, kernel_regularizer=R.L2(0.02), bias_regularizer=R.L1(0.01), kernel_constraint=K.MaxNorm(0.8)),
        L.LSTM(3, return_sequences=True, kernel_regularizer=R.L1L2(l1=0.01, l2=0.02), recurrent_regularizer=R.L2(0.03),
               activity_regularizer=R.L1(0.05)),
        L.LayerNormalization(gamma_regularizer=R.L2(0.1)),
        L.Flatten(),
        L.Dense(4, kernel_regularizer=R.OrthogonalRegularizer(0.1, mode="columns"), activity_regularizer=R.L2(0.02),
                kernel_constraint=K.UnitNorm(axis=0), bias_constraint=K.NonNeg()),
        L.Dense(1, kernel_constraint=K.MinMaxNorm(0.2, 0.9, rate=0.5)),
    ])


def _pair(keras):
    k = _model(keras.layers, keras.regularizers, keras.constraints, keras.Input, keras.Sequential)
    g = _model(layers, gn.regularizers, gn.constraints, gn.Input, gn.Sequential)
    g.set_weights(k.get_weights())
    return g, k


def _data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6, 5)).astype(np.float32)
    return x, (x[:, :, :1].mean(1) * 2).astype(np.float32)


def test_penalties_equal_keras_model_losses(keras):
    g, k = _pair(keras)
    x, _ = _data(8)
    k(x)
    g(torch.tensor(x))
    theirs = [float(v.detach()) for v in k.losses]
    ours = [float(v.detach()) for v in g.losses]
    assert len(ours) == len(theirs) == 8
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-7)
    g(torch.tensor(x[:2]))  # a new call replaces the activity penalties, it does not add to them
    assert len(g.losses) == 8


def test_training_with_regularizers_and_constraints_matches_keras(keras):
    g, k = _pair(keras)
    x, y = _data()
    for m, opt in ((k, keras.optimizers.SGD(0.05, momentum=0.5)), (g, gn.optimizers.SGD(0.05, momentum=0.5))):
        m.compile(opt, "mse")
    hk = k.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    hg = g.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(hg.history["loss"], hk.history["loss"], rtol=1e-5)
    for a, b in zip(g.get_weights(), k.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    dense = g.layers[4]
    assert float(dense.bias.detach().min()) >= 0  # NonNeg held after every step
    np.testing.assert_allclose(np.linalg.norm(dense.kernel.detach().numpy(), axis=0), 1.0, rtol=1e-5)


class _Penalised(layers.Layer):
    """A custom layer adding a loss in call, as the Keras guides do."""

    def __init__(self, rate=0.1, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate

    def call(self, inputs):
        self.add_loss(self.rate * torch.mean(torch.square(inputs)))
        return inputs


def test_add_loss_in_a_custom_layer_is_trained(keras):
    class KPenalised(keras.layers.Layer):
        def __init__(self, rate=0.1, **kwargs):
            super().__init__(**kwargs)
            self.rate = rate

        def call(self, inputs):
            self.add_loss(self.rate * keras.ops.mean(keras.ops.square(inputs)))
            return inputs
    rng = np.random.default_rng(1)
    x = rng.standard_normal((24, 4)).astype(np.float32)
    y = x[:, :1]
    k = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), KPenalised(0.3), keras.layers.Dense(1)])
    g = gn.Sequential([gn.Input((4,)), layers.Dense(3), _Penalised(0.3), layers.Dense(1)])
    g.set_weights(k.get_weights())
    k.compile(keras.optimizers.SGD(0.1), "mse")
    g.compile(gn.optimizers.SGD(0.1), "mse")
    hk = k.fit(x, y, batch_size=6, epochs=2, shuffle=False, verbose=0)
    hg = g.fit(x, y, batch_size=6, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(hg.history["loss"], hk.history["loss"], rtol=1e-5)
    for a, b in zip(g.get_weights(), k.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert len(g.losses) == 1  # the loss of the last call only
    ek, eg = k.evaluate(x, y, verbose=0), g.evaluate(x, y, verbose=0)
    assert eg == pytest.approx(ek, rel=1e-5)


def test_activity_regularization_layer_matches_keras(keras):
    x = np.random.default_rng(2).standard_normal((5, 3)).astype(np.float32)
    k = keras.layers.ActivityRegularization(l1=0.1, l2=0.2)
    g = layers.ActivityRegularization(l1=0.1, l2=0.2)
    np.testing.assert_allclose(g(torch.tensor(x)).numpy(), np.asarray(k(x)))
    np.testing.assert_allclose([float(v.detach()) for v in g.losses], [float(v.detach()) for v in k.losses], rtol=1e-6)
    assert g.get_config()["l1"] == 0.1 and keras.layers.ActivityRegularization.from_config(g.get_config()).l2 == 0.2


@pytest.mark.parametrize("suffix", [".keras", ".glassnet"])
def test_regularizers_and_constraints_survive_files(keras, tmp_path, suffix):
    g, k = _pair(keras)
    x, _ = _data(4)
    path = tmp_path / f"m{suffix}"
    g.save(path)
    back = gn.load_model(path)
    back(torch.tensor(x))
    g(torch.tensor(x))
    np.testing.assert_allclose([float(v.detach()) for v in back.losses], [float(v.detach()) for v in g.losses], rtol=1e-6)
    assert isinstance(back.layers[0].kernel.constraint, gn.constraints.MaxNorm)
    assert back.layers[0].kernel.constraint.max_value == 0.8
    if suffix == ".keras":
        theirs = keras.saving.load_model(str(path))
        theirs(x)
        np.testing.assert_allclose([float(v.detach()) for v in theirs.losses], [float(v.detach()) for v in g.losses], rtol=1e-5)
        # and a file Keras wrote loads here with its regularizers
        k.save(str(tmp_path / "k.keras"))
        ours = gn.load_model(tmp_path / "k.keras")
        ours(torch.tensor(x))
        k(x)
        np.testing.assert_allclose([float(v.detach()) for v in ours.losses], [float(v.detach()) for v in k.losses], rtol=1e-5)


def test_regularizer_and_constraint_lookup():
    assert isinstance(gn.regularizers.get("l2"), gn.regularizers.L2)
    assert gn.regularizers.get({"class_name": "L1L2", "config": {"l1": 0.1, "l2": 0.0}}).l1 == 0.1
    assert isinstance(gn.constraints.get("non_neg"), gn.constraints.NonNeg)
    with pytest.raises(gn.ConfigError, match=r"Invalid value for argument l2: expected a non-negative float"):
        gn.regularizers.L2(-1.0)
    with pytest.raises(gn.ConfigError, match=r"weight 'moving' is not trainable; it cannot take a regularizer"):
        layers.Dense(2).add_weight(shape=(2,), trainable=False, regularizer="l2", name="moving")
