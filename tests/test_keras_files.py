"""Keras model files both ways. Keras 3 (torch backend) builds each model, gives it random
non-constant weights and saves it; glassnet loads it (same params, shapes and outputs); glassnet
saves it again and Keras loads that file and predicts the same."""

import json
import zipfile

import numpy as np
import pytest
import torch

import glassnet as gn
from glassnet import layers


def _m(keras, layers_fn, shape, dtype="float32"):
    inp = keras.Input(shape, dtype=dtype)
    return keras.Model(inp, layers_fn(keras.layers, inp))


def _seq(keras, shape, *layers_fn):
    return keras.Sequential([keras.Input(shape)] + [f(keras.layers) for f in layers_fn])


def _two_in_two_out(keras):
    L = keras.layers
    a, b = keras.Input((6, 4), name="seq_a"), keras.Input((6, 4), name="seq_b")
    shared = L.LSTM(5, return_sequences=True, name="shared_lstm")
    sa, sb = shared(a), shared(b)
    o1 = L.Dense(1, name="score")(L.GlobalAveragePooling1D()(L.Concatenate()([sa, sb])))
    o2 = L.Dense(3, activation="softmax", name="probs")(L.Add()([sa, sb]))
    return keras.Model([a, b], [o1, o2])


def _nested(keras):
    L = keras.layers
    inner = keras.Sequential([keras.Input((8,)), L.Dense(6, activation="relu"), L.Dense(3)], name="inner")
    inp = keras.Input((8,))
    return keras.Model(inp, L.Dense(2)(inner(inp)))


def _out_of_graph_order(keras):
    """Layers created in another order than Keras's graph walk visits them: a short branch first in a
    Concatenate, a longer one second (Keras orders layers by depth, then first seen)."""
    L = keras.layers
    deep_2, deep_1, short = L.Dense(3), L.Dense(8), L.Dense(3)   # created in this order
    x = keras.Input((5,))
    return keras.Model(x, L.Concatenate()([short(x), deep_2(deep_1(x))]))


def _nested_functional_outputs(keras):
    """A nested functional model whose output is also a model output (Keras numbers its nodes from 1 there)."""
    L = keras.layers
    i = keras.Input((6,))
    inner = keras.Model(i, L.Dense(4, activation="tanh")(L.BatchNormalization()(L.Dense(5)(i))), name="inner_f")
    x = keras.Input((6,))
    h = inner(x)
    return keras.Model(x, [h, L.Dense(2)(h)])


MODELS = {
    "out_of_graph_order": _out_of_graph_order,
    "nested_functional_outputs": _nested_functional_outputs,
    "dense_mlp": lambda k: _seq(k, (12,), lambda L: L.Dense(16, activation="relu"), lambda L: L.Dropout(0.2),
                                lambda L: L.Dense(3, activation="softmax")),
    "cnn_strided_dilated": lambda k: _seq(k, (16, 16, 3), lambda L: L.Conv2D(8, 3, strides=2, padding="same"),
                                          lambda L: L.Conv2D(8, 3, dilation_rate=2, activation="relu"),
                                          lambda L: L.MaxPooling2D(), lambda L: L.Flatten(), lambda L: L.Dense(4)),
    "cnn_grouped": lambda k: _seq(k, (10, 10, 8), lambda L: L.Conv2D(16, 3, groups=4), lambda L: L.AveragePooling2D(2),
                                  lambda L: L.GlobalMaxPooling2D(), lambda L: L.Dense(2)),
    "depthwise_separable": lambda k: _seq(k, (12, 12, 4), lambda L: L.DepthwiseConv2D(3, depth_multiplier=2),
                                          lambda L: L.SeparableConv2D(6, 3, padding="same", depth_multiplier=2),
                                          lambda L: L.GlobalAveragePooling2D(), lambda L: L.Dense(3)),
    "variable_size_images": lambda k: _m(k, lambda L, x: L.Dense(5)(L.GlobalAveragePooling2D()(
        L.Conv2D(8, 3, activation="relu")(L.BatchNormalization()(x)))), (None, None, 3)),
    "batchnorm_layernorm": lambda k: _seq(k, (7, 5), lambda L: L.BatchNormalization(), lambda L: L.LayerNormalization(),
                                          lambda L: L.Dense(2)),
    "conv1d_causal": lambda k: _seq(k, (20, 3), lambda L: L.Conv1D(6, 3, padding="causal", dilation_rate=2),
                                    lambda L: L.MaxPooling1D(2), lambda L: L.GlobalAveragePooling1D(), lambda L: L.Dense(1)),
    "lstm_stack": lambda k: _seq(k, (9, 3), lambda L: L.LSTM(6, return_sequences=True), lambda L: L.LSTM(4),
                                 lambda L: L.Dense(1)),
    "gru_both_biases": lambda k: _seq(k, (9, 3), lambda L: L.GRU(5, return_sequences=True),
                                      lambda L: L.GRU(4, reset_after=False), lambda L: L.Dense(2)),
    "simple_rnn": lambda k: _seq(k, (9, 3), lambda L: L.SimpleRNN(7), lambda L: L.Dense(1)),
    "bidirectional": lambda k: _seq(k, (8, 4), lambda L: L.Bidirectional(L.LSTM(5, return_sequences=True)),
                                    lambda L: L.Bidirectional(L.GRU(3), merge_mode="sum"), lambda L: L.Dense(2)),
    "time_distributed": lambda k: _seq(k, (5, 6, 6, 2), lambda L: L.TimeDistributed(L.Conv2D(3, 3)),
                                       lambda L: L.TimeDistributed(L.Flatten()), lambda L: L.LSTM(4), lambda L: L.Dense(1)),
    "embedding_mask_right": lambda k: _m(k, lambda L, x: L.Dense(1)(L.LSTM(6)(L.Embedding(30, 5, mask_zero=True)(x))),
                                         (None,), "int32"),
    "embedding_mask_seq": lambda k: _m(k, lambda L, x: L.TimeDistributed(L.Dense(2))(
        L.GRU(4, return_sequences=True)(L.Embedding(30, 5, mask_zero=True)(x))), (None,), "int32"),
    "masking_bidirectional": lambda k: _m(k, lambda L, x: L.Dense(1)(L.GlobalAveragePooling1D()(
        L.Bidirectional(L.LSTM(4, return_sequences=True))(L.Masking()(x)))), (None, 3)),
    "two_inputs_two_outputs_shared": _two_in_two_out,
    "nested_model": _nested,
    "merges": lambda k: _m(k, lambda L, x: L.Dense(2)(L.Concatenate()([
        L.Subtract()([L.Dense(4)(x), L.Dense(4)(x)]), L.Multiply()([L.Dense(4)(x), L.Dense(4)(x)]),
        L.Average()([L.Dense(4)(x), L.Dense(4)(x)])])), (6,)),
    "reshape_permute": lambda k: _seq(k, (6, 4), lambda L: L.Reshape((4, 6)), lambda L: L.Permute((2, 1)),
                                      lambda L: L.Activation("gelu"), lambda L: L.Flatten(), lambda L: L.Dense(2)),
    "dense_on_images_1x1": lambda k: _seq(k, (5, 5, 8), lambda L: L.Dense(1), lambda L: L.Reshape((25,))),
    "pooling_same": lambda k: _seq(k, (9, 9, 2), lambda L: L.MaxPooling2D(3, 2, padding="same"),
                                   lambda L: L.AveragePooling2D(3, 2, padding="same"), lambda L: L.Flatten()),
}


def _inputs(keras_model, rng):
    import keras
    xs = []
    for t in keras_model.inputs:
        shape = [3] + [d if d is not None else 7 for d in t.shape[1:]]
        if "int" in str(t.dtype):
            x = rng.integers(1, 30, size=shape)
            x[1, 4:] = 0   # right-padded
            x[2, :3] = 0   # left-padded
            if x.shape[1] > 5:
                x[0, 2:4] = 0  # a gap in the middle
            xs.append(x.astype(np.int32))
        else:
            x = rng.standard_normal(shape).astype(np.float32)
            if len(shape) == 3 and any(isinstance(l, keras.layers.Masking) for l in keras_model.layers):
                x[1, 5:] = 0
                x[2, :2] = 0
                x[0, 3] = 0
            xs.append(x)
    return xs


def _randomise(keras_model, rng):
    ws = []
    for v in keras_model.weights:
        shape = tuple(v.shape)
        ws.append((rng.uniform(0.5, 1.5, shape) if "variance" in v.path else rng.standard_normal(shape) * 0.4).astype(np.float32))
    keras_model.set_weights(ws)


def _keras_predict(model, xs):
    out = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    return out if isinstance(out, list) else [out]


def _gn_predict(model, xs):
    out = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    return out if isinstance(out, list) else [out]


def _both_ways(keras, name, rng, path, back, load_kwargs):
    """Keras saves ``name`` at ``path``; glassnet loads it and predicts the same; glassnet saves it at
    ``back``; Keras loads that and predicts the same. Returns the Keras model, glassnet's and the reloaded one."""
    km = MODELS[name](keras)
    _randomise(km, rng)
    xs = _inputs(km, rng)
    expected = _keras_predict(km, xs)
    km.save(path)
    g = gn.load_model(path)
    for a, b in zip(_gn_predict(g, xs), expected):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    g.save(back)
    k2 = keras.models.load_model(back, **load_kwargs)
    for a, b in zip(_keras_predict(k2, xs), expected):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    return km, g, k2


@pytest.mark.parametrize("name", list(MODELS))
def test_keras_file_loads_and_saves_back(keras, name, tmp_path):
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    km, g, k2 = _both_ways(keras, name, rng, str(tmp_path / f"{name}.keras"),
                           str(tmp_path / f"{name}_from_glassnet.keras"), {})
    assert g.count_params() == km.count_params() == k2.count_params()
    k_shape = km.output_shape if isinstance(km.output_shape, list) else [km.output_shape]
    g_shape = g.output_shape if isinstance(g.output_shape, list) else [g.output_shape]
    assert [tuple(s) for s in g_shape] == [tuple(s) for s in k_shape]


@pytest.mark.parametrize("name", ["lstm_stack", "two_inputs_two_outputs_shared", "bidirectional", "cnn_grouped",
                                  "embedding_mask_right", "nested_model", "out_of_graph_order",
                                  "nested_functional_outputs"])
def test_legacy_h5_both_ways(keras, name, tmp_path):
    _both_ways(keras, name, np.random.default_rng(1), str(tmp_path / f"{name}.h5"), str(tmp_path / "back.h5"),
               {"compile": False})


def test_weights_h5_both_ways(keras, tmp_path):
    rng = np.random.default_rng(2)
    km = MODELS["gru_both_biases"](keras)
    _randomise(km, rng)
    xs = _inputs(km, rng)
    km.save_weights(str(tmp_path / "k.weights.h5"))
    g = gn.Sequential([gn.Input((9, 3)), gn.layers.GRU(5, return_sequences=True), gn.layers.GRU(4, reset_after=False),
                       gn.layers.Dense(2)])
    g.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(_gn_predict(g, xs)[0], _keras_predict(km, xs)[0], rtol=1e-5, atol=1e-5)
    g.save_weights(tmp_path / "g.weights.h5")
    k2 = MODELS["gru_both_biases"](keras)
    k2.load_weights(str(tmp_path / "g.weights.h5"))
    np.testing.assert_allclose(_keras_predict(k2, xs)[0], _keras_predict(km, xs)[0], rtol=1e-6)


def test_keras2_era_config_is_tolerated(tmp_path):
    """batch_input_shape on the first layer and time_major: false, as Keras 2 wrote them."""
    import json
    import h5py
    config = {"class_name": "Sequential", "config": {"name": "old", "layers": [
        {"class_name": "LSTM", "config": {"name": "lstm", "units": 3, "batch_input_shape": [None, 5, 2],
                                          "time_major": False, "return_sequences": False, "implementation": 2}},
        {"class_name": "Dense", "config": {"name": "dense", "units": 1, "activation": "linear"}}]}}
    path = tmp_path / "old.h5"
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(config)
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = np.array([b"lstm", b"dense"])
        rng = np.random.default_rng(0)
        shapes = {"lstm": [(2, 12), (3, 12), (12,)], "dense": [(3, 1), (1,)]}
        for lname, shp in shapes.items():
            names = [f"{lname}/w{i}:0".encode() for i in range(len(shp))]
            mw.create_group(lname).attrs["weight_names"] = np.array(names)
            for n, s in zip(names, shp):
                mw[lname].create_dataset(n.decode(), data=rng.standard_normal(s).astype(np.float32))
    model = gn.load_model(path)
    assert model.output_shape == (None, 1) and model.count_params() == 4 * 3 * 5 + 12 + 4
    assert not np.allclose(model.predict(np.ones((1, 5, 2), np.float32)), 0)


def test_compile_config_restored(keras, tmp_path):
    km = MODELS["dense_mlp"](keras)
    km.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss="mse")
    km.save(str(tmp_path / "c.keras"))
    g = gn.load_model(tmp_path / "c.keras")
    assert g.learning_rate == pytest.approx(0.05) and isinstance(g.optimizer, gn.optimizers.SGD)
    assert not gn.load_model(tmp_path / "c.keras", compile=False).compiled


def test_lambda_bytecode_refused_unless_unsafe(keras, tmp_path):
    inp = keras.Input((3,))
    km = keras.Model(inp, keras.layers.Lambda(lambda t: t * 2.0, output_shape=(3,))(keras.layers.Dense(3)(inp)))
    path = str(tmp_path / "lam.keras")
    km.save(path)
    with pytest.raises(gn.FileFormatError, match=r"Lambda layer 'lambda.*' holds Python bytecode\. Loading it would run "
                                                 r"code from the file, so it is refused\. Pass safe_mode=False"):
        gn.load_model(path)
    g = gn.load_model(path, safe_mode=False)
    x = np.ones((2, 3), np.float32)
    np.testing.assert_allclose(g.predict(x), km.predict(x, verbose=0), rtol=1e-6)


def test_named_function_only_from_custom_objects(tmp_path):
    import json
    import zipfile
    cfg = {"module": "keras", "class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 3], "name": "i"}},
        {"class_name": "Lambda", "config": {"name": "lam", "function": {"module": "builtins", "class_name": "function",
                                                                         "config": "double"}, "output_shape": [3]}}]}}
    path = tmp_path / "named.keras"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", json.dumps(cfg))
        import h5py, io
        buf = io.BytesIO()
        with h5py.File(buf, "w") as f:
            f.create_group("vars")
        z.writestr("model.weights.h5", buf.getvalue())
    with pytest.raises(gn.FileFormatError, match=r"Lambda layer 'lam' uses the function 'double'; pass it in custom_objects"):
        gn.load_model(path)
    m = gn.load_model(path, custom_objects={"double": lambda t: t * 2})
    np.testing.assert_allclose(m.predict(np.ones((1, 3), np.float32)), 2.0)


def test_cli_summary_of_keras_file(keras, tmp_path, capsys):
    from glassnet.cli import main
    km = MODELS["embedding_mask_right"](keras)
    path = str(tmp_path / "m.keras")
    km.save(path)
    assert main(["summary", path]) == 0
    out = capsys.readouterr().out
    assert "4·d·(n+d) + 4·d = 4·6·(5+6) + 4·6" in out and "created" in out and "consumed" in out


@pytest.mark.parametrize("suffix", [".keras", ".glassnet", ".h5"])
def test_initializer_arguments_survive_save_and_load(tmp_path, suffix):
    """RandomNormal(stddev=0.5) comes back with stddev 0.5, not the default 0.05."""
    model = gn.Sequential([gn.Input((4,)), layers.Dense(3, kernel_initializer=gn.initializers.RandomNormal(stddev=0.5),
                                                         bias_initializer=gn.initializers.Constant(0.25))])
    model.save(tmp_path / f"m{suffix}")
    dense = gn.load_model(tmp_path / f"m{suffix}").layers[0]
    assert dense.kernel_initializer.config == {"mean": 0.0, "stddev": 0.5}
    assert dense.bias_initializer.config == {"value": 0.25}


def test_unknown_training_config_loads_uncompiled_with_a_warning(tmp_path):
    """A compile config glassnet cannot restore is said, not swallowed; the model still loads."""
    model = gn.Sequential([gn.Input((3,)), layers.Dense(2)])
    model.compile("adam", "mse")
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as z:
        members = {n: z.read(n) for n in z.namelist()}
    config = json.loads(members["config.json"])
    config["compile_config"]["optimizer"] = {"class_name": "Lookahead", "config": {"learning_rate": 0.1}}
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "odd.keras", "w") as z:
        for n, data in members.items():
            z.writestr(n, data)
    with pytest.warns(gn.GlassnetWarning, match=r"odd\.keras: the model was saved compiled, but its training config "
                                                r"cannot be restored \(glassnet has no optimizer 'Lookahead'\)"):
        loaded = gn.load_model(tmp_path / "odd.keras")
    assert not loaded.compiled and loaded.count_params() == 8


def test_layer_order_is_keras_graph_order(keras):
    """model.layers (and so the weight paths of .keras files) follow Keras's graph walk, not creation order."""
    km = _out_of_graph_order(keras)
    L = layers
    deep_2, deep_1, short = L.Dense(3), L.Dense(8), L.Dense(3)
    x = gn.Input((5,))
    gm = gn.Model(x, L.Concatenate()([short(x), deep_2(deep_1(x))]))
    assert [tuple(l.kernel.shape) if hasattr(l, "kernel") else type(l).__name__ for l in gm.layers] == \
           [tuple(l.kernel.shape) if hasattr(l, "kernel") else type(l).__name__.replace("Functional", "") for l in km.layers]


def test_bidirectional_config_always_names_its_backward_layer():
    cfg = layers.Bidirectional(layers.LSTM(3)).get_config()
    assert cfg["backward_layer"]["class_name"] == "LSTM" and cfg["backward_layer"]["config"]["go_backwards"] is True


def test_optimizer_state_travels_in_keras_files_both_ways(keras, tmp_path):
    """Keras's optimizer/vars (iterations, learning rate, Adam's moments) load into glassnet's optimizer, and
    glassnet writes them back where Keras reads them."""
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((32, 4)).astype(np.float32), rng.standard_normal((32, 2)).astype(np.float32)
    km = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    km.compile(keras.optimizers.Adam(0.01), "mse")
    km.fit(x, y, batch_size=8, epochs=2, verbose=0)
    km.save(tmp_path / "k.keras")
    expected = [np.asarray(v.numpy()) for v in km.optimizer.variables]
    g = gn.load_model(tmp_path / "k.keras")
    got = g.optimizer.keras_variables()
    assert len(got) == len(expected) and int(got[0]) == 8
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    g.fit(x, y, batch_size=8, epochs=1, verbose=0)
    g.save(tmp_path / "g.keras")
    k2 = keras.models.load_model(tmp_path / "g.keras")
    for a, b in zip([np.asarray(v.numpy()) for v in k2.optimizer.variables], g.optimizer.keras_variables()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert int(k2.optimizer.iterations.numpy()) == 12
