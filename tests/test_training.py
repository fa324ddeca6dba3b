"""compile / fit / evaluate / predict: Keras behaviour, Keras numbers, errors before training."""

import numpy as np
import pytest
import torch

import glassnet as gn
from glassnet import layers
from glassnet.callbacks import TerminateOnNaN


def _regression(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 8)).astype(np.float32)
    w = rng.standard_normal((8, 1)).astype(np.float32)
    return x, (x @ w + 0.5).astype(np.float32)


def _mlp():
    return gn.Sequential([gn.Input((8,)), layers.Dense(16, activation="relu"), layers.Dense(1)])


def test_small_model_reaches_stated_loss():
    gn.utils.set_random_seed(0)
    x, y = _regression()
    model = _mlp()
    model.compile(optimizer=gn.optimizers.Adam(learning_rate=0.01), loss="mse", metrics=["mae"])
    history = model.fit(x, y, batch_size=32, epochs=60, verbose=0)
    assert history.history["loss"][-1] < 0.05 < history.history["loss"][0]
    assert len(history.history["mae"]) == 60 and history.epoch == list(range(60))
    assert model.evaluate(x, y, verbose=0)[0] < 0.05


@pytest.mark.parametrize("opt", ["sgd", "sgd_nesterov", "adam", "rmsprop"])
def test_matches_keras_after_sgd_steps(keras, opt):
    """Same initial weights, same data order, same optimizer → weights within 1e-4 of Keras."""
    x, y = _regression(96, seed=1)

    def build(L, I, S):
        return S([I((8,)), L.Dense(16, activation="tanh"), L.Dense(1)])
    g, k = build(layers, gn.Input, gn.Sequential), build(keras.layers, keras.Input, keras.Sequential)
    g.set_weights(k.get_weights())
    configs = {"sgd": ("sgd", dict(learning_rate=0.05)), "sgd_nesterov": ("sgd", dict(learning_rate=0.05, momentum=0.9, nesterov=True)),
               "adam": ("adam", dict(learning_rate=0.01)), "rmsprop": ("rmsprop", dict(learning_rate=0.01))}
    name, cfg = configs[opt]
    kopt = {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop}[name](**cfg)
    gopt = {"sgd": gn.optimizers.SGD, "adam": gn.optimizers.Adam, "rmsprop": gn.optimizers.RMSprop}[name](**cfg)
    k.compile(optimizer=kopt, loss="mse")
    g.compile(optimizer=gopt, loss="mse")
    hk = k.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    hg = g.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(g.get_weights(), k.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=0)
    np.testing.assert_allclose(hg.history["loss"], hk.history["loss"], rtol=1e-4)


def test_loss_and_metrics_match_keras_definitions(keras):
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((10, 4)).astype(np.float32)
    probs = torch.softmax(torch.tensor(logits), -1).numpy()
    labels = rng.integers(0, 4, 10)
    onehot = np.eye(4, dtype=np.float32)[labels]
    yb = rng.integers(0, 2, (10, 1)).astype(np.float32)
    pb = 1 / (1 + np.exp(-logits[:, :1]))
    t = torch.tensor
    cases = [
        (gn.losses.mean_squared_error(t(onehot), t(probs)), keras.losses.mean_squared_error(onehot, probs)),
        (gn.losses.mean_absolute_error(t(onehot), t(probs)), keras.losses.mean_absolute_error(onehot, probs)),
        (gn.losses.huber(t(onehot), t(logits)), keras.losses.huber(onehot, logits)),
        (gn.losses.categorical_crossentropy(t(onehot), t(probs)), keras.losses.categorical_crossentropy(onehot, probs)),
        (gn.losses.categorical_crossentropy(t(onehot), t(logits), from_logits=True),
         keras.losses.categorical_crossentropy(onehot, logits, from_logits=True)),
        (gn.losses.sparse_categorical_crossentropy(t(labels), t(probs)), keras.losses.sparse_categorical_crossentropy(labels, probs)),
        (gn.losses.sparse_categorical_crossentropy(t(labels), t(logits), from_logits=True),
         keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)),
        (gn.losses.binary_crossentropy(t(yb), t(pb)), keras.losses.binary_crossentropy(yb, pb)),
        (gn.losses.binary_crossentropy(t(yb), t(logits[:, :1]), from_logits=True),
         keras.losses.binary_crossentropy(yb, logits[:, :1], from_logits=True)),
    ]
    for mine, theirs in cases:
        np.testing.assert_allclose(mine.numpy(), np.asarray(theirs), rtol=1e-5, atol=1e-6)


def test_accuracy_resolves_from_loss():
    x = np.random.default_rng(0).standard_normal((40, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = gn.Sequential([gn.Input((8,)), layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    logs = model.evaluate(x, y, return_dict=True, verbose=0)
    pred = model.predict(x).argmax(-1)
    assert logs["accuracy"] == pytest.approx((pred == y).mean())
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    logs = model.evaluate(x, np.eye(2)[y], return_dict=True, verbose=0)
    assert logs["accuracy"] == pytest.approx((pred == y).mean())
    b = gn.Sequential([gn.Input((8,)), layers.Dense(1, activation="sigmoid")])
    b.compile("adam", "binary_crossentropy", metrics=["accuracy", "mse", "rmse"])
    logs = b.evaluate(x, y[:, None].astype(np.float32), return_dict=True, verbose=0)
    p = b.predict(x)
    assert logs["accuracy"] == pytest.approx(((p > 0.5) == y[:, None]).mean())
    assert logs["rmse"] == pytest.approx(np.sqrt(((p - y[:, None]) ** 2).mean()), rel=1e-5)


def test_masked_steps_do_not_count_in_loss():
    torch.manual_seed(0)
    inp = gn.Input((5,), dtype="int64")
    out = layers.Dense(1)(layers.LSTM(3, return_sequences=True)(layers.Embedding(10, 4, mask_zero=True)(inp)))
    model = gn.Model(inp, out)
    model.compile("sgd", "mse", metrics=["mae"])
    x = np.array([[1, 2, 3, 0, 0], [4, 5, 0, 0, 0]])
    y = np.random.default_rng(0).standard_normal((2, 5, 1)).astype(np.float32)
    logs = model.evaluate(x, y, return_dict=True, verbose=0)
    pred = model.predict(x)
    mask = x != 0
    err = ((pred - y)[..., 0] ** 2)[mask]
    assert logs["loss"] == pytest.approx(err.mean(), rel=1e-5)
    assert logs["mae"] == pytest.approx(np.abs((pred - y)[..., 0])[mask].mean(), rel=1e-5)
    y2 = y.copy()
    y2[~mask] = 1e3  # targets at padded steps are ignored
    assert model.evaluate(x, y2, return_dict=True, verbose=0)["loss"] == pytest.approx(logs["loss"], rel=1e-6)


def test_sample_and_class_weights():
    x, y = _regression(64)
    model = _mlp()
    model.compile("sgd", "mse")
    base = model.evaluate(x, y, verbose=0)
    sw = np.zeros(64, np.float32)
    sw[:32] = 1.0
    weighted = model.evaluate(x, y, sample_weight=sw, verbose=0)
    per = ((model.predict(x) - y) ** 2)[:, 0]
    assert weighted == pytest.approx((per * sw).sum() / 64, rel=1e-5)
    assert base == pytest.approx(per.mean(), rel=1e-5)
    cls = gn.Sequential([gn.Input((8,)), layers.Dense(2, activation="softmax")])
    cls.compile("sgd", "sparse_categorical_crossentropy")
    labels = (x[:, 0] > 0).astype(np.int64)
    probs = cls.predict(x)
    per_sample = -np.log(probs[np.arange(64), labels])
    h = cls.fit(x, labels, class_weight={0: 1.0, 1: 0.0}, epochs=1, shuffle=False, batch_size=64, verbose=0)
    # one full batch: the loss is the class-0 samples' cross-entropy over all 64 samples
    assert h.history["loss"][0] == pytest.approx(per_sample[labels == 0].sum() / 64, rel=1e-5)
    with pytest.raises(ValueError, match=r"class_weight has no entry for classes \[1\]"):
        cls.fit(x, labels, class_weight={0: 1.0}, epochs=1, verbose=0)


def test_predict_types_and_structures():
    model = _mlp()
    x, _ = _regression(10)
    assert isinstance(model.predict(x), np.ndarray)
    assert isinstance(model.predict(torch.tensor(x)), torch.Tensor)
    # float32 round-off only: BLAS may pick other kernels for other batch sizes
    np.testing.assert_allclose(model.predict(x, batch_size=3), model(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict_on_batch(x), model.predict(x), rtol=1e-5, atol=1e-6)
    a, b = gn.Input((3,), name="a"), gn.Input((2,), name="b")
    two = gn.Model([a, b], [layers.Dense(1)(a), layers.Dense(2)(layers.Concatenate()([a, b]))])
    xa, xb = np.ones((4, 3), np.float32), np.ones((4, 2), np.float32)
    out_list = two.predict([xa, xb])
    out_dict = two.predict({"a": xa, "b": xb})
    assert [o.shape for o in out_list] == [(4, 1), (4, 2)]
    for p, q in zip(out_list, out_dict):
        np.testing.assert_array_equal(p, q)
    two.compile("adam", loss=["mse", "mae"], metrics=[["mae"], ["mse"]], loss_weights=[1.0, 0.5])
    logs = two.fit([xa, xb], [np.zeros((4, 1)), np.zeros((4, 2))], epochs=1, verbose=0).history
    names = [t.layer.name for t in two.outputs]
    # as Keras 3: the total loss, each output's loss, each output's metrics
    assert set(logs) == {"loss", f"{names[0]}_loss", f"{names[1]}_loss", f"{names[0]}_mae", f"{names[1]}_mse"}


def test_variable_size_image_batches_from_an_iterable():
    inp = gn.Input((None, None, 1))
    out = layers.Dense(3, activation="softmax")(layers.GlobalAveragePooling2D()(layers.Conv2D(4, 3)(inp)))
    model = gn.Model(inp, out)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((8, s, s, 1)).astype(np.float32), rng.integers(0, 3, 8)) for s in (12, 20, 16)]
    history = model.fit(batches, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    logs = model.evaluate(batches, return_dict=True, verbose=0)
    assert set(logs) == {"loss", "accuracy"}


def test_dataloader_input():
    from torch.utils.data import DataLoader, TensorDataset
    x, y = _regression(64)
    loader = DataLoader(TensorDataset(torch.tensor(x), torch.tensor(y)), batch_size=16, shuffle=True)
    model = _mlp()
    model.compile("adam", "mse")
    h = model.fit(loader, epochs=2, verbose=0)
    assert len(h.history["loss"]) == 2
    assert model.evaluate(TensorDataset(torch.tensor(x), torch.tensor(y)), verbose=0) > 0


def test_train_on_batch_and_test_on_batch():
    x, y = _regression(32)
    model = _mlp()
    model.compile("sgd", "mse", metrics=["mae"])
    before = model.test_on_batch(x, y)
    for _ in range(20):
        model.train_on_batch(x, y)
    after = model.test_on_batch(x, y, return_dict=True)
    assert after["loss"] < before[0]


def test_progress_display(capsys):
    x, y = _regression(64)
    model = _mlp()
    model.compile("adam", "mse", metrics=["mae"])
    model.fit(x, y, batch_size=16, epochs=2, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out and "4/4" in out and "━" in out and "mae:" in out
    model.fit(x, y, batch_size=16, epochs=2, verbose=2)
    lines = [l for l in capsys.readouterr().out.splitlines() if l.strip()]
    assert len(lines) == 4 and lines[1].startswith("4/4 - ") and "ms/step - loss:" in lines[1]
    model.fit(x, y, epochs=1)  # "auto": quiet when stdout is not a terminal
    assert capsys.readouterr().out == ""


# ------------------------------------------------------------------ errors before any training step
def test_unknown_names_list_known_ones():
    model = _mlp()
    with pytest.raises(ValueError, match=r"Unknown optimizer 'adamx'\. Known optimizers: adadelta, adafactor, adagrad, adam, "
                                         r"adamax, adamw, ftrl, lamb, lion, .*, sgd"):
        model.compile("adamx", "mse")
    with pytest.raises(ValueError, match=r"Unknown loss 'msee'\. Known losses: .*mean_squared_error"):
        model.compile("adam", "msee")
    with pytest.raises(ValueError, match=r"Unknown metric 'acuracy'\. Known metrics: acc, accuracy, auc"):
        model.compile("adam", "mse", metrics=["acuracy"])


def _count_steps(model):
    steps = []
    original = model.train_step
    model.train_step = lambda data: (steps.append(1), original(data))[1]
    return steps


def test_length_mismatch_before_training():
    model = _mlp()
    model.compile("adam", "mse")
    steps = _count_steps(model)
    x, y = _regression(10)
    with pytest.raises(ValueError, match=r"x, y \(and sample_weight\) must have the same number of samples\. Received sizes: x \[10\], y \[9\]"):
        model.fit(x, y[:9], verbose=0)
    assert steps == []


def test_wrong_input_shape_before_training():
    model = _mlp()
    model.compile("adam", "mse")
    steps = _count_steps(model)
    with pytest.raises(gn.ShapeError, match=r"Input 'input_layer.*' of model 'sequential.*' expects shape \(None, 8\)\. Received: input shape \(10, 7\)"):
        model.fit(np.zeros((10, 7), np.float32), np.zeros((10, 1), np.float32), verbose=0)
    assert steps == []


def test_labels_out_of_range_before_training():
    model = gn.Sequential([gn.Input((8,)), layers.Dense(3, activation="softmax", name="probs")])
    model.compile("adam", "sparse_categorical_crossentropy")
    steps = _count_steps(model)
    with pytest.raises(ValueError, match=r"Labels for output 'probs' must be in \[0, 3\) for sparse_categorical_crossentropy, "
                                         r"but they range over \[0, 5\]\. Use labels 0\.\.2, or give the last layer 6 units\."):
        model.fit(np.zeros((4, 8), np.float32), np.array([0, 1, 5, 2]), verbose=0)
    assert steps == []


def test_nan_inputs_refused_before_training_even_with_terminate_on_nan():
    x, y = _regression(16)
    x[3, 2] = np.nan
    model = _mlp()
    model.compile("adam", "mse")
    before = model.get_weights()
    steps = _count_steps(model)
    for callbacks in ([], [TerminateOnNaN()]):
        with pytest.raises(ValueError, match=r"x contains 1 NaN or infinite value\(s\); the first is at index \(3, 2\) "
                                             r"\(nan\)\. Training on them gives a NaN loss"):
            model.fit(x, y, epochs=1, verbose=0, callbacks=callbacks)
    assert steps == []
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_fit_before_compile():
    with pytest.raises(RuntimeError, match=r"You must call compile\(\) before fit\(\)"):
        _mlp().fit(np.zeros((2, 8)), np.zeros((2, 1)))


def test_evaluate_and_predict_call_their_callbacks():
    x, y = _regression(40)
    model = _mlp()
    model.compile("sgd", "mse")
    calls = []
    hooks = {name: (lambda name: lambda *a: calls.append(name))(name)
             for name in ("on_test_begin", "on_test_batch_begin", "on_test_batch_end", "on_test_end",
                          "on_predict_begin", "on_predict_batch_begin", "on_predict_batch_end", "on_predict_end")}
    cb = gn.callbacks.LambdaCallback(**hooks)
    model.evaluate(x, y, batch_size=16, verbose=0, callbacks=[cb])
    assert calls == ["on_test_begin"] + ["on_test_batch_begin", "on_test_batch_end"] * 3 + ["on_test_end"]
    calls.clear()
    model.predict(x, batch_size=32, verbose=0, callbacks=[cb])
    assert calls == ["on_predict_begin"] + ["on_predict_batch_begin", "on_predict_batch_end"] * 2 + ["on_predict_end"]


def test_weighted_metrics_use_sample_weight_and_metrics_do_not(keras):
    """As Keras: `metrics` ignore sample_weight, `weighted_metrics` are weighted by it."""
    x, y = _regression(8, seed=2)
    sw = np.array([1, 0, 0, 0, 0, 0, 0, 5], np.float32)
    g = gn.Sequential([gn.Input((8,)), layers.Dense(1)])
    k = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    k.set_weights(g.get_weights())
    for m in (g, k):
        m.compile("sgd", "mse", metrics=["mae"], weighted_metrics=["mse"])
    ours = g.evaluate(x, y, sample_weight=sw, return_dict=True, verbose=0)
    theirs = k.evaluate(x, y, sample_weight=sw, return_dict=True, verbose=0)
    assert set(ours) == set(theirs) == {"loss", "mae", "mse"}
    for key in ours:
        assert ours[key] == pytest.approx(theirs[key], rel=1e-5), key


@pytest.mark.parametrize("device", ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
def test_fit_evaluate_predict_move_batches_to_the_model_device(device):
    x, y = _regression(64)
    model = _mlp().to(device)
    model.compile("adam", "mse", metrics=["mae"])
    seen = []
    run = model.run

    def recording_run(inputs, training=False, mask=None):
        seen.append(inputs.device.type)
        return run(inputs, training=training, mask=mask)
    model.run = recording_run
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0, validation_split=0.25)
    assert len(history.history["val_loss"]) == 2
    model.evaluate(x, y, verbose=0)
    out = model.predict(x, verbose=0)
    assert isinstance(out, np.ndarray) and out.shape == (64, 1)
    assert seen and set(seen) == {device}
    assert next(model.parameters()).device.type == device


def test_compile_refuses_what_it_does_not_do():
    model = _mlp()
    with pytest.raises(gn.ConfigError, match=r"one training step per call.*steps_per_execution=8"):
        model.compile("sgd", "mse", steps_per_execution=8)
    with pytest.raises(gn.ConfigError, match=r"does not compile the model itself.*jit_compile=True"):
        model.compile("sgd", "mse", jit_compile=True)
