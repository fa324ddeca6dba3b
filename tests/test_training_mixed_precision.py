"""Mixed precision: float32 variables, 16-bit computation under autocast (bfloat16 works on the CPU),
per-layer policies, loss scaling for float16, and policies in Keras files."""
import numpy as np
import pytest
import torch

import glassnet as gn
from glassnet import layers


@pytest.fixture
def policy():
    yield gn.config.set_dtype_policy
    gn.config.set_dtype_policy(None)


def _problem(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 8)).astype(np.float32)
    return x, (x[:, :1] * 1.5 - x[:, 1:2] + 0.5 * np.tanh(x[:, 2:3])).astype(np.float32)


def test_mixed_bfloat16_keeps_float32_variables_and_converges(policy):
    policy("mixed_bfloat16")
    gn.utils.set_random_seed(0)
    model = gn.Sequential([gn.Input((8,)), layers.Dense(32, activation="relu"), layers.Dense(1)])
    assert model.layers[0].dtype_policy.name == "mixed_bfloat16" and model.layers[0].compute_dtype == "bfloat16"
    assert all(w.dtype == torch.float32 for w in model.weights)
    out = model(torch.ones(2, 8))
    assert out.dtype == torch.bfloat16  # computed in bfloat16
    x, y = _problem()
    model.compile(gn.optimizers.Adam(0.01), "mse")
    assert not isinstance(model.optimizer, gn.optimizers.LossScaleOptimizer)  # bfloat16 needs no loss scaling
    history = model.fit(x, y, batch_size=32, epochs=25, verbose=0)
    assert history.history["loss"][-1] < 0.05 < history.history["loss"][0]
    assert all(w.dtype == torch.float32 for w in model.weights)  # still float32 after training
    assert model.predict(x[:4], verbose=0).dtype == np.float32  # numpy has no bfloat16: float32, as Keras gives
    assert isinstance(history.history["loss"][-1], float)


def test_per_layer_policies_in_a_float32_model():
    inp = gn.Input((8,))
    hidden = layers.Dense(16, activation="relu", dtype="mixed_bfloat16")(inp)
    out = layers.Activation("softmax", dtype="float32")(layers.Dense(3, dtype="mixed_bfloat16")(hidden))
    model = gn.Model(inp, out)
    assert [l.dtype_policy.name for l in model.layers[1:]] == ["mixed_bfloat16", "mixed_bfloat16", "float32"]
    y = model(torch.randn(4, 8))
    assert y.dtype == torch.float32  # the float32 layer computes (and outputs) in float32
    np.testing.assert_allclose(y.sum(-1).detach().numpy(), 1.0, rtol=1e-5)
    inner = model.layers[2](torch.randn(4, 16))
    assert inner.dtype == torch.bfloat16
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x, _ = _problem(64)
    logs = model.fit(x, (x[:, 0] > 0).astype(np.int64), epochs=2, verbose=0).history
    assert np.isfinite(logs["loss"]).all()


def test_mixed_float16_scales_the_loss(policy):
    policy("mixed_float16")
    model = gn.Sequential([gn.Input((8,)), layers.Dense(8, activation="tanh"), layers.Dense(1)])
    model.compile(gn.optimizers.SGD(0.05), "mse")
    assert isinstance(model.optimizer, gn.optimizers.LossScaleOptimizer)
    x, y = _problem(64)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert model.optimizer.iterations == 8
    assert float(model.optimizer.dynamic_scale) == 2.0 ** 15
    assert all(w.dtype == torch.float32 for w in model.weights)
    with pytest.raises(gn.ConfigError, match="LossScaleOptimizer does not support `clipnorm`"):
        gn.optimizers.LossScaleOptimizer(gn.optimizers.SGD(), clipnorm=1.0)


def test_policies_in_configs_and_keras_files(keras, tmp_path):
    layer = layers.Dense(3, dtype="mixed_bfloat16")
    cfg = layer.get_config()
    assert cfg["dtype"] == {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "mixed_bfloat16"},
                            "registered_name": None}
    assert keras.layers.Dense.from_config(cfg).dtype_policy.name == "mixed_bfloat16"
    model = gn.Sequential([gn.Input((4,)), layers.Dense(3, dtype="mixed_bfloat16"), layers.Dense(2)])
    model.save(tmp_path / "m.keras")
    back = gn.load_model(tmp_path / "m.keras")
    assert back.layers[0].dtype_policy.name == "mixed_bfloat16" and back.layers[1].dtype_policy.name == "float32"
    theirs = keras.saving.load_model(str(tmp_path / "m.keras"))
    assert theirs.layers[0].dtype_policy.name == "mixed_bfloat16"
    with pytest.raises(gn.ConfigError, match=r"Unknown dtype\. Received: dtype='mixed_float64'"):
        layers.Dense(2, dtype="mixed_float64")
