"""Recurrent layers, wrappers and masks against Keras 3 (torch backend): same random weights,
same inputs; outputs, returned states and gradients for no mask and right-, left-, middle-padded
and fully masked rows."""
import numpy as np
import pytest
import torch

import glassnet as gn
from glassnet import layers
from _harness import check_layer

B, T, N = 4, 6, 3
MASKS = {
    "none": None,
    "right": np.array([[1] * 6, [1] * 4 + [0] * 2, [1] * 2 + [0] * 4, [1] + [0] * 5], bool),
    "left": np.array([[1] * 6, [0] * 2 + [1] * 4, [0] * 4 + [1] * 2, [0] * 5 + [1]], bool),
    "middle": np.array([[1, 0, 1, 1, 0, 1], [1, 1, 0, 0, 1, 1], [0, 1, 0, 1, 0, 0], [1] * 6], bool),
    "fully_masked_row": np.array([[1] * 6, [0] * 6, [1] * 3 + [0] * 3, [0, 1, 1, 0, 1, 0]], bool),
    "right_with_empty_row": np.array([[1] * 6, [0] * 6, [1] * 3 + [0] * 3, [1] + [0] * 5], bool),
}
RNNS = {
    "simple_rnn": lambda L, **k: L.SimpleRNN(5, **k),
    "lstm": lambda L, **k: L.LSTM(5, **k),
    "gru": lambda L, **k: L.GRU(5, **k),
    "gru_reset_before": lambda L, **k: L.GRU(5, reset_after=False, **k),
}
CONFIGS = {
    "last": {},
    "sequences": {"return_sequences": True},
    "state": {"return_state": True},
    "seq_state_backwards": {"return_sequences": True, "return_state": True, "go_backwards": True},
    "zero_output": {"return_sequences": True, "zero_output_for_mask": True},
    "zero_output_last": {"zero_output_for_mask": True},
    "no_bias": {"use_bias": False, "return_sequences": True},
    "relu": {"activation": "relu", "return_sequences": True},
}


def _layer_pair(keras, factory, x, mask=None):
    def build():
        g, k = factory(gn.layers), factory(keras.layers)
        for layer in (g, k):
            layer(torch.tensor(x, dtype=torch.float64 if gn.config.floatx() == "float64" else torch.float32))
        return g, k
    return build


@pytest.mark.parametrize("mask_kind", list(MASKS))
@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("rnn", list(RNNS))
def test_rnn_matches_keras(keras, rnn, config, mask_kind):
    factory = lambda L: RNNS[rnn](L, **CONFIGS[config])
    x = np.random.default_rng(0).standard_normal((B, T, N))
    mask = MASKS[mask_kind]
    check_layer(keras, _layer_pair(keras, factory, x), [x], mask=mask)


@pytest.mark.parametrize("rnn", ["lstm", "gru", "simple_rnn"])
def test_initial_state_matches_keras(keras, rnn):
    n_states = 2 if rnn == "lstm" else 1
    rng = np.random.default_rng(1)
    x = rng.standard_normal((B, T, N)).astype(np.float32)
    states = [torch.tensor(rng.standard_normal((B, 5)).astype(np.float32)) for _ in range(n_states)]
    factory = lambda L: RNNS[rnn](L, return_sequences=True, return_state=True)
    g, k = _layer_pair(keras, factory, x)()
    from _harness import compare_with_keras
    compare_with_keras(g, k, [x], mask=MASKS["left"], kwargs={"initial_state": states})


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("mask_kind", ["none", "right", "middle"])
def test_bidirectional_matches_keras(keras, merge_mode, mask_kind):
    factory = lambda L: L.Bidirectional(L.LSTM(4, return_sequences=True), merge_mode=merge_mode)
    x = np.random.default_rng(2).standard_normal((B, T, N))
    check_layer(keras, _layer_pair(keras, factory, x), [x], mask=MASKS[mask_kind])


@pytest.mark.parametrize("mask_kind", ["none", "left"])
def test_bidirectional_gru_states_matches_keras(keras, mask_kind):
    factory = lambda L: L.Bidirectional(L.GRU(4, return_state=True))
    x = np.random.default_rng(3).standard_normal((B, T, N))
    check_layer(keras, _layer_pair(keras, factory, x), [x], mask=MASKS[mask_kind])


def test_time_distributed_dense_matches_keras(keras):
    factory = lambda L: L.TimeDistributed(L.Dense(8))
    x = np.random.default_rng(4).standard_normal((B, T, 16))
    check_layer(keras, _layer_pair(keras, factory, x), [x])


def test_time_distributed_conv_matches_keras(keras):
    factory = lambda L: L.TimeDistributed(L.Conv2D(4, 3))
    x = np.random.default_rng(5).standard_normal((2, 5, 8, 8, 3))
    g, k, _ = check_layer(keras, _layer_pair(keras, factory, x), [x])
    assert g.count_params() == 112 == k.count_params()


@pytest.mark.parametrize("factory,shape,params", [
    (lambda L: L.LSTM(32), (10, 8), 5248),
    (lambda L: L.LSTM(64, use_bias=False), (None, 16), 20480),
    (lambda L: L.GRU(32), (10, 8), 4032),
    (lambda L: L.GRU(32, reset_after=False), (10, 8), 3936),
    (lambda L: L.SimpleRNN(32), (10, 8), 1312),
    (lambda L: L.Bidirectional(L.LSTM(32)), (10, 8), 10496),
    (lambda L: L.Bidirectional(L.GRU(16, return_sequences=True), merge_mode="sum"), (10, 8), 2496),
    (lambda L: L.Bidirectional(L.LSTM(32, return_sequences=True), merge_mode=None), (10, 8), 10496),
    (lambda L: L.LSTM(4, return_state=True), (5, 3), 128),
    (lambda L: L.TimeDistributed(L.Dense(8)), (10, 16), 136),
    (lambda L: L.Embedding(1000, 64), (None,), 64000),
])
def test_shapes_and_params_match_keras(keras, factory, shape, params):
    g_in, k_in = gn.Input(shape), keras.Input(shape)
    g_layer, k_layer = factory(layers), factory(keras.layers)
    g_out, k_out = g_layer(g_in), k_layer(k_in)
    g_shape = [t.shape for t in g_out] if isinstance(g_out, list) else g_out.shape
    k_shape = [tuple(t.shape) for t in k_out] if isinstance(k_out, (list, tuple)) else tuple(k_out.shape)
    assert g_shape == k_shape
    assert g_layer.count_params() == params == k_layer.count_params()
    assert [w.shape for w in g_layer.get_weights()] == [tuple(w.shape) for w in k_layer.get_weights()]


@pytest.mark.parametrize("T", [10, 50, 500])
def test_lstm_params_do_not_depend_on_time_steps(T):
    assert gn.Sequential([gn.Input((T, 1)), layers.LSTM(10)]).count_params() == 480
    assert gn.Sequential([gn.Input((T, 1)), layers.LSTM(10, use_bias=False)]).count_params() == 440


def test_lstm_default_initial_bias_has_unit_forget_gate(keras):
    layer = layers.LSTM(2)
    layer(torch.zeros(1, 3, 2))
    np.testing.assert_array_equal(layer.cell.bias.detach().numpy(), [0, 0, 1, 1, 0, 0, 0, 0])
