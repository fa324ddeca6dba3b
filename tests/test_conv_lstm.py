"""ConvLSTM1D/2D/3D against Keras 3 (torch backend): same random weights, outputs, states and gradients
for paddings, strides, dilations, data formats, masks (state carried through masked steps) and
go_backwards; float64 gradcheck; cost formulas against count_params() and the flop counter; Keras files."""
import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import glassnet as gn
from glassnet import layers
from _harness import check_layer

MASKS = {
    "none": None,
    "middle": np.array([[1, 0, 1, 1], [1, 1, 0, 0], [0, 1, 1, 0]], bool),
    "fully_masked_row": np.array([[1, 1, 1, 1], [0, 0, 0, 0], [0, 1, 0, 1]], bool),
}
F2 = "k·k·c·4·f + k·k·f·4·f + 4·f"
# id, factory, per-sample input shape, params (hand-computed), parameter formula
CASES = [
    ("1d_sequences", lambda L: L.ConvLSTM1D(3, 3, return_sequences=True), (4, 7, 2), 3 * 2 * 12 + 3 * 3 * 12 + 12,
     "k·c·4·f + k·f·4·f + 4·f"),
    ("1d_same_stride2_state", lambda L: L.ConvLSTM1D(2, 4, strides=2, padding="same", return_state=True), (4, 7, 2),
     4 * 2 * 8 + 4 * 2 * 8 + 8, "k·c·4·f + k·f·4·f + 4·f"),
    ("2d_same_backwards", lambda L: L.ConvLSTM2D(2, 3, padding="same", go_backwards=True), (4, 5, 5, 2),
     9 * 2 * 8 + 9 * 2 * 8 + 8, F2),
    ("2d_rect_dilation_seq_state", lambda L: L.ConvLSTM2D(2, (2, 3), dilation_rate=2, return_sequences=True,
                                                            return_state=True), (4, 6, 7, 2),
     6 * 2 * 8 + 6 * 2 * 8 + 8, "k1·k2·c·4·f + k1·k2·f·4·f + 4·f"),
    ("2d_channels_first_even_kernel", lambda L: L.ConvLSTM2D(2, 2, data_format="channels_first", padding="same"),
     (4, 2, 5, 5), 4 * 2 * 8 + 4 * 2 * 8 + 8, F2),
    ("2d_no_bias_relu_zero_output", lambda L: L.ConvLSTM2D(3, 3, activation="relu", use_bias=False,
                                                           return_sequences=True, zero_output_for_mask=True),
     (4, 5, 5, 1), 9 * 1 * 12 + 9 * 3 * 12, "k·k·c·4·f + k·k·f·4·f"),
    ("2d_stride2_no_forget_bias", lambda L: L.ConvLSTM2D(2, 3, strides=2, unit_forget_bias=False), (4, 7, 7, 2),
     9 * 2 * 8 + 9 * 2 * 8 + 8, F2),
    ("3d_sequences", lambda L: L.ConvLSTM3D(2, 2, return_sequences=True), (4, 3, 4, 3, 1),
     8 * 1 * 8 + 8 * 2 * 8 + 8, "k·k·k·c·4·f + k·k·k·f·4·f + 4·f"),
]
IDS = [c[0] for c in CASES]


def _pair(keras, factory, x):
    def build():
        g, k = factory(gn.layers), factory(keras.layers)
        for layer in (g, k):
            layer(torch.tensor(x, dtype=torch.float32))
        return g, k
    return build


@pytest.mark.parametrize("mask", list(MASKS))
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_conv_lstm_matches_keras(keras, case, mask):
    _, factory, shape, _, _ = case
    x = np.random.default_rng(0).standard_normal((3, *shape))
    check_layer(keras, _pair(keras, factory, x), [x], mask=MASKS[mask])


def test_initial_state_matches_keras(keras):
    from _harness import compare_with_keras
    factory = lambda L: L.ConvLSTM2D(2, 3, padding="same", return_sequences=True, return_state=True)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4, 5, 5, 2)).astype(np.float32)
    g, k = _pair(keras, factory, x)()
    states = [torch.tensor(rng.standard_normal((3, 5, 5, 2)).astype(np.float32)) for _ in range(2)]
    compare_with_keras(g, k, [x], mask=MASKS["middle"], kwargs={"initial_state": states})


def _flops_on_meta(model, shape):
    model = model.to("meta")
    with FlopCounterMode(display=False) as counter:
        model(torch.empty(shape, device="meta"))
    return counter.get_total_flops()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_params_formula_and_macs_match_flop_counter(case):
    """The formula gives count_params() for every T; multiply-adds = flop counter ÷ 2, linear in T."""
    _, factory, shape, params, formula = case
    inp = gn.Input(("T", *shape[1:]))
    model = gn.Model(inp, factory(layers)(inp))
    row = gn.analyze(model).rows[-1]
    assert row.params_formula.split(" = ")[0] == formula and row.params == params == model.count_params()
    assert row.macs_formula.startswith("T·(") and "parameters do not depend on the number of steps" in row.reads
    macs = []
    for steps in (2, 4, 8):
        concrete = gn.analyze(model, input_shape=(2, steps, *shape[1:])).rows[-1]
        assert concrete.params == params
        assert 2 * concrete.macs == _flops_on_meta(model, (2, steps, *shape[1:]))
        macs.append(concrete.macs)
    assert macs[1] == 2 * macs[0] and macs[2] == 4 * macs[0]


def test_bidirectional_conv_lstm_matches_keras(keras):
    factory = lambda L: L.Bidirectional(L.ConvLSTM1D(2, 3, padding="same", return_sequences=True))
    x = np.random.default_rng(2).standard_normal((3, 4, 6, 2))
    check_layer(keras, _pair(keras, factory, x), [x], mask=MASKS["middle"])


def test_dropout_in_training_only():
    layer = layers.ConvLSTM2D(2, 3, dropout=0.5, recurrent_dropout=0.5, padding="same")
    x = torch.randn(2, 3, 5, 5, 2)
    y = layer(x)
    torch.testing.assert_close(layer(x), y)
    assert not torch.allclose(layer(x, training=True), y) and layer.cell._dropout_masks == {}


def _model(keras_like):
    L = keras_like.layers
    x = keras_like.Input((4, 6, 6, 2))
    h = L.ConvLSTM2D(3, 3, padding="same", return_sequences=True)(x)
    h = L.ConvLSTM2D(2, 2, strides=2, go_backwards=True)(h)
    return keras_like.Model(x, L.Dense(1)(L.Flatten()(h)))


def test_keras_file_both_ways(keras, tmp_path):
    km = _model(keras)
    rng = np.random.default_rng(3)
    km.set_weights([rng.standard_normal(w.shape).astype(np.float32) * 0.4 for w in km.get_weights()])
    x = rng.standard_normal((3, 4, 6, 6, 2)).astype(np.float32)
    expected = km.predict(x, verbose=0)
    km.save(tmp_path / "k.keras")
    g = gn.load_model(tmp_path / "k.keras")
    assert g.count_params() == km.count_params()
    np.testing.assert_allclose(g.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)
    g.save(tmp_path / "g.keras")
    k2 = keras.models.load_model(tmp_path / "g.keras")
    np.testing.assert_allclose(k2.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make,match", [
    (lambda: layers.ConvLSTM2D(2, 3)(gn.Input((4, None, 5, 2))),
     r"ConvLSTMCell 'conv_lstm_cell.*' needs fixed spatial dimensions \(its state keeps them\)"),
    (lambda: layers.ConvLSTM2D(2, 3)(gn.Input((4, 5, 2))),
     r"ConvLSTM2D 'conv_lstm2d.*' expects input of rank 5 \(batch, timesteps, height, width, channels\)"),
    (lambda: layers.ConvLSTM2D(2, 3, strides=2, dilation_rate=2), r"`strides > 1` is not compatible with"),
    (lambda: layers.ConvLSTM1D(2, 3, padding="causal"), r"the `padding` argument must be one of 'valid', 'same'"),
    (lambda: layers.ConvLSTM2D(2, 5)(gn.Input((4, 3, 3, 1))), r"computes an output size of zero or less"),
    (lambda: layers.ConvLSTM2D(2, 3, stateful=True)(gn.Input((4, 5, 5, 1))),
     r"uses stateful=True, so the batch size must be static"),
])
def test_errors(make, match):
    with pytest.raises((gn.ConfigError, gn.ShapeError), match=match):
        make()


@pytest.mark.slow
def test_onnx_export_refused_with_its_reason(tmp_path):
    pytest.importorskip("onnxscript")
    model = gn.Sequential([gn.Input((None, 5, 5, 2)), layers.ConvLSTM2D(2, 3, name="clstm")])
    with pytest.raises(gn.GlassnetError, match=r"layer 'clstm' runs its convolutional cell step by step"):
        model.export_onnx(tmp_path / "m.onnx")
