"""Sequential and functional models: building without data, names, weights in Keras order, shared
layers, several inputs and outputs, nested models, summary, and torch.nn.Module behaviour."""
import re

import numpy as np
import pytest
import torch

import glassnet as gn
from glassnet import layers
from _harness import compare_with_keras


def _seq(L, I):
    return [I((28, 28, 1)), L.Conv2D(8, 3, activation="relu"), L.BatchNormalization(), L.MaxPooling2D(),
            L.SeparableConv2D(4, 3, padding="same"), L.GlobalAveragePooling2D(), L.Dropout(0.2), L.Dense(10, activation="softmax")]


def test_sequential_matches_keras(keras):
    g = gn.Sequential(_seq(layers, gn.Input))
    k = keras.Sequential(_seq(keras.layers, keras.Input))
    assert g.output_shape == k.output_shape
    assert g.count_params() == k.count_params()
    assert [w.shape for w in g.get_weights()] == [w.shape for w in k.get_weights()]
    assert len(g.trainable_weights) == len(k.trainable_weights)
    x = np.random.default_rng(0).standard_normal((2, 28, 28, 1)).astype(np.float32)
    compare_with_keras(g, k, [x])


def test_functional_two_inputs_two_outputs_shared_layer(keras):
    def build(L, I, M):
        a, b = I((6, 4), name="a"), I((6, 4), name="b")
        shared = L.LSTM(5, return_sequences=True, name="shared")
        sa, sb = shared(a), shared(b)
        merged = L.Concatenate(name="cat")([sa, sb])
        out1 = L.Dense(1, name="out1")(L.GlobalAveragePooling1D()(merged))
        out2 = L.Dense(3, activation="softmax", name="out2")(L.Add()([sa, sb]))
        return M([a, b], [out1, out2])
    g = build(layers, gn.Input, gn.Model)
    k = build(keras.layers, keras.Input, keras.Model)
    assert g.output_shape == [tuple(s) for s in k.output_shape]
    assert g.count_params() == k.count_params()
    shared = g.get_layer("shared")
    assert len(shared._inbound_nodes) == 2
    rng = np.random.default_rng(1)
    x = [rng.standard_normal((3, 6, 4)).astype(np.float32) for _ in range(2)]
    compare_with_keras(g, k, x)
    out = g({"a": torch.tensor(x[0]), "b": torch.tensor(x[1])})
    assert isinstance(out, list) and len(out) == 2


def test_nested_model_as_layer():
    inner = gn.Sequential([gn.Input((8,)), layers.Dense(4, activation="relu"), layers.Dense(2)], name="inner")
    inp = gn.Input((8,))
    outer = gn.Model(inp, layers.Dense(1)(inner(inp)))
    assert outer.count_params() == inner.count_params() + 3
    x = torch.randn(5, 8)
    torch.testing.assert_close(outer(x), outer.layers[-1](inner(x)))


def test_automatic_names_follow_keras():
    gn.layers.base.reset_names()
    assert layers.Dense(2).name == "dense"
    assert layers.Dense(2).name == "dense_1"
    assert layers.Conv2D(2, 3).name == "conv2d"
    assert layers.SimpleRNN(2).name == "simple_rnn"
    assert layers.GlobalAveragePooling2D().name == "global_average_pooling2d"
    assert layers.BatchNormalization().name == "batch_normalization"
    assert gn.Sequential().name == "sequential"


def test_summary_matches_keras_layout(keras):
    def build(L, I, S):
        return S([I((None, 8)), L.Masking(name="masking"), L.LSTM(16, return_sequences=True, name="lstm"),
                  L.LSTM(4, name="lstm_1"), L.Dense(1, name="dense")], name="seq")
    out = []
    build(layers, gn.Input, gn.Sequential).summary(print_fn=out.append, line_length=76)
    kout = []
    build(keras.layers, keras.Input, keras.Sequential).summary(print_fn=lambda s, **kw: kout.append(s), line_length=76)
    mine = out[0].splitlines()
    theirs = [re.sub(r"\x1b\[[0-9;]*m", "", l).rstrip() for l in kout[0].splitlines() if l.strip()]
    assert len(mine) == len(theirs)
    for a, b in zip(mine, theirs):
        if "(None, T," in a:  # variable dims show by name where Keras prints None; the frame is the same
            a = a.replace("(None, T,", "(None, None,")
            assert [c.strip() for c in a.split("│")] == [c.strip() for c in b.split("│")]
        else:
            assert a == b


def test_summary_functional_has_connected_to():
    a, b = gn.Input((4,), name="a"), gn.Input((4,), name="b")
    m = gn.Model([a, b], layers.Add(name="add")([a, b]), name="f")
    buf = []
    m.summary(print_fn=buf.append)
    text = buf[0]
    assert "Connected to" in text and "a[0][0], b[0][0]" in text
    assert "Total params: 0 (0.00 B)" in text


def test_symbolic_shapes_keep_names():
    x = gn.Input(("H", "W", 3))
    y = layers.Conv2D(8, 3, strides=2, padding="same")(layers.Conv2D(4, 3)(x))
    assert y.shape == (None, None, None, 8)
    assert gn.dims.fmt_shape(y.symbolic_shape) == "(None, ⌈H/2⌉-1, ⌈W/2⌉-1, 8)"
    t = gn.Input((None, 5))
    assert gn.dims.fmt_shape(t.symbolic_shape) == "(None, T, 5)"


def test_layer_called_on_tensor_builds_itself():
    layer = layers.Conv2D(4, 3)
    y = layer(torch.randn(2, 9, 9, 3))
    assert y.shape == (2, 7, 7, 4) and layer.built and layer.count_params() == 112


def test_unbuilt_count_params():
    with pytest.raises(ValueError, match="isn't built"):
        layers.Dense(3).count_params()


def test_sequential_without_input_builds_on_call():
    m = gn.Sequential([layers.Dense(4), layers.Dense(2)])
    assert not m.built
    y = m(torch.randn(3, 5))
    assert y.shape == (3, 2) and m.count_params() == 5 * 4 + 4 + 4 * 2 + 2
    assert m.output_shape == (None, 2)


def test_first_layer_input_shape_argument():
    m = gn.Sequential([layers.Dense(4, input_shape=(7,)), layers.Dense(1)])
    assert m.built and m.output_shape == (None, 1) and m.count_params() == 37


def test_sequential_add_and_pop():
    m = gn.Sequential([gn.Input((3,))])
    m.add(layers.Dense(2))
    m.add(layers.Dense(5))
    assert m.output_shape == (None, 5)
    m.pop()
    assert m.output_shape == (None, 2)
    with pytest.raises(gn.ShapeError):
        m.add(layers.Conv2D(2, 3))
    assert len(m.layers) == 1


def test_set_weights_roundtrip_and_errors():
    m = gn.Sequential([gn.Input((3,)), layers.Dense(2), layers.Dense(1)])
    ws = [np.random.default_rng(0).standard_normal(w.shape).astype(np.float32) for w in m.get_weights()]
    m.set_weights(ws)
    for a, b in zip(m.get_weights(), ws):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="expects 4 weight arrays"):
        m.set_weights(ws[:2])


def test_trainable_flag():
    m = gn.Sequential([gn.Input((3,)), layers.Dense(2), layers.BatchNormalization()])
    assert len(m.trainable_weights) == 4 and len(m.non_trainable_weights) == 2
    m.layers[0].trainable = False
    assert len(m.trainable_weights) == 2
    assert not m.layers[0].kernel.requires_grad


def test_is_torch_module():
    m = gn.Sequential([gn.Input((4,)), layers.Dense(3), layers.BatchNormalization()])
    sd = m.state_dict()
    assert "dense.kernel" in "".join(sd) or any(k.endswith("kernel") for k in sd)
    assert any(k.endswith("moving_mean") for k in sd)
    m2 = gn.Sequential([gn.Input((4,)), layers.Dense(3), layers.BatchNormalization()])
    m2.load_state_dict({k2: v for k2, v in zip(m2.state_dict(), sd.values())})
    x = torch.randn(2, 4)
    torch.testing.assert_close(m(x), m2(x))
    assert m.to(torch.float64)(x.double()).dtype == torch.float64
    params = list(m.parameters())
    assert len(params) == 4


def test_torch_compile_traces():
    m = gn.Sequential([gn.Input((6, 3)), layers.LSTM(4, return_sequences=True), layers.Dense(2)])
    x = torch.randn(2, 6, 3)
    compiled = torch.compile(m, backend="eager")
    torch.testing.assert_close(compiled(x), m(x))


def test_training_flag_defaults_to_inference():
    d = layers.Dropout(0.5)
    x = torch.ones(100, 10)
    assert torch.equal(d(x), x)
    assert not torch.equal(d(x, training=True), x)
    d.train()
    assert not torch.equal(d(x), x)


def test_embedding_output_follows_its_dtype():
    inp = gn.Input((5,), dtype="int64")
    out = layers.Embedding(10, 3, dtype="float64")(inp)
    assert out.dtype == "float64"
    model = gn.Model(inp, out)
    assert model(torch.tensor([[1, 2, 3, 4, 0]])).dtype == torch.float64


# ------------------------------------------------------------------ the inference path of a plain chain
def _chain():
    L = gn.layers
    return gn.Sequential([gn.Input((6, 6, 2)), L.Conv2D(4, 3, activation="relu"), L.Dropout(0.5),
                          L.BatchNormalization(), L.Flatten(), L.Dense(3, activation="softmax")])


def test_a_chain_at_inference_runs_each_layer_once_and_gives_the_full_paths_numbers():
    """A plain chain at inference calls each layer's ``call`` directly; the per-layer path (which a forward
    hook forces) gives the same numbers, and the hook still sees every call."""
    model = _chain()
    x = torch.randn(5, 6, 6, 2)
    with torch.no_grad():
        fast = model(x)
        seen = []
        handle = model.layers[-1].register_forward_hook(lambda m, i, o: seen.append(o.shape))
        full = model(x)
        handle.remove()
    assert seen == [(5, 3)]  # a hook forces the per-layer path, and runs
    torch.testing.assert_close(fast, full, rtol=0, atol=0)
    assert model._chain_plan() is not None and len(model._chain_plan()) == 5
    # training still goes through every layer's full call: dropout is active
    model.train()
    assert not torch.equal(model(x, training=True), model(x, training=True))


def test_the_chain_path_steps_aside_for_masks_regularizers_and_branches():
    L = gn.layers
    masked = gn.Sequential([gn.Input((4,), dtype="int32"), L.Embedding(5, 2, mask_zero=True), L.LSTM(3)])
    assert masked._chain_plan() is None  # a layer makes a mask
    i = gn.Input((3,))
    branched = gn.Model(i, L.Add()([L.Dense(2)(i), L.Dense(2)(i)]))
    assert branched._chain_plan() is None
    reg = gn.Sequential([gn.Input((3,)), L.Dense(2, activity_regularizer="l2")])
    with torch.no_grad():
        reg(torch.ones(2, 3))
    assert len(reg.losses) == 1  # the regularizer's loss is recorded: the layer ran its full call
