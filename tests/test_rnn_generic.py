"""The generic RNN layer against Keras 3 (torch backend): glassnet's cells, a user's own cell written the
Keras way, StackedRNNCells; masks, return_sequences, return_state, go_backwards, zero_output_for_mask,
stateful, initial_state, unroll; Bidirectional around it; cost rules; Keras files with custom_objects."""
import functools

import numpy as np
import pytest
import sympy
import torch
from torch.utils.flop_counter import FlopCounterMode

import glassnet as gn
from glassnet import layers
from glassnet.kernels import recurrent as recurrent_kernels
from glassnet.structure import flatten
from _harness import check_layer, compare_with_keras

B, T, N = 4, 6, 3
MASKS = {
    "none": None,
    "middle": np.array([[1, 0, 1, 1, 0, 1], [1, 1, 0, 0, 1, 1], [0, 1, 0, 1, 0, 0], [1] * 6], bool),
    "fully_masked_row": np.array([[1] * 6, [0] * 6, [1] * 3 + [0] * 3, [0, 1, 1, 0, 1, 0]], bool),
}


# -- a user's cells, written twice: for glassnet (torch) and for Keras (keras.ops) ---------------------------
class MinimalRNNCell(layers.Layer):
    """Keras's documentation example: ``h = tanh(x·W + h·U)``."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="uniform", name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), initializer="uniform",
                                                name="recurrent_kernel")

    def call(self, inputs, states):
        h = torch.tanh(inputs @ self.kernel + states[0] @ self.recurrent_kernel)
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class TwoStateCell(layers.Layer):
    """Two states of different sizes, an output of a third size, and initial states of ones."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, 2]
        self.output_size = units + 2

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1] + self.units + 2, self.units + 2), name="kernel")

    def get_initial_state(self, batch_size=None):
        return [torch.ones(batch_size, self.units), torch.ones(batch_size, 2)]

    def call(self, inputs, states, training=False):
        z = torch.cat([inputs, states[0], states[1]], dim=-1) @ self.kernel
        a, b = torch.tanh(z[:, :self.units]), torch.sigmoid(z[:, self.units:])
        return torch.cat([a, b], dim=-1), [a, states[1] * b]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@functools.lru_cache(maxsize=None)
def keras_cells(keras):
    ops = keras.ops

    class MinimalRNNCell(keras.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="uniform", name="kernel")
            self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), initializer="uniform",
                                                    name="recurrent_kernel")

        def call(self, inputs, states):
            h = ops.tanh(ops.matmul(inputs, self.kernel) + ops.matmul(states[0], self.recurrent_kernel))
            return h, [h]

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    class TwoStateCell(keras.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = [units, 2]
            self.output_size = units + 2

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1] + self.units + 2, self.units + 2), name="kernel")

        def get_initial_state(self, batch_size=None):
            return [ops.ones((batch_size, self.units)), ops.ones((batch_size, 2))]

        def call(self, inputs, states, training=False):
            z = ops.matmul(ops.concatenate([inputs, states[0], states[1]], axis=-1), self.kernel)
            a, b = ops.tanh(z[:, :self.units]), ops.sigmoid(z[:, self.units:])
            return ops.concatenate([a, b], axis=-1), [a, states[1] * b]

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    return {"MinimalRNNCell": MinimalRNNCell, "TwoStateCell": TwoStateCell}


GN_CELLS = {"MinimalRNNCell": MinimalRNNCell, "TwoStateCell": TwoStateCell}


class Flat:
    """A Keras layer or model whose nested outputs come back flat, as glassnet returns them."""

    def __init__(self, inner):
        self.inner = inner

    def __call__(self, *args, **kwargs):
        out = self.inner(*args, **kwargs)
        return flatten(out) if isinstance(out, (list, tuple)) else out

    def __getattr__(self, name):
        return getattr(self.inner, name)


CELLS = {
    "lstm_cell": lambda L, C: L.LSTMCell(5),
    "gru_cell_reset_before": lambda L, C: L.GRUCell(4, reset_after=False),
    "simple_rnn_cell_relu": lambda L, C: L.SimpleRNNCell(4, "relu"),
    "user_cell": lambda L, C: C["MinimalRNNCell"](4),
    "user_two_states": lambda L, C: C["TwoStateCell"](3),
    "stacked": lambda L, C: L.StackedRNNCells([L.LSTMCell(4), C["MinimalRNNCell"](3), L.GRUCell(2)]),
    "cell_list": lambda L, C: [L.SimpleRNNCell(3), C["TwoStateCell"](2)],
}
CONFIGS = {
    "last": {},
    "sequences": {"return_sequences": True},
    "state_backwards": {"return_state": True, "go_backwards": True},
    "sequences_state_zero_output": {"return_sequences": True, "return_state": True, "zero_output_for_mask": True},
}


def _pair(keras, factory, x):
    def build():
        g = factory(layers, GN_CELLS)
        with keras.saving.custom_object_scope(keras_cells(keras)):
            k = factory(keras.layers, keras_cells(keras))
        for layer in (g, k):
            layer(torch.tensor(x, dtype=torch.float64 if gn.config.floatx() == "float64" else torch.float32))
        return g, Flat(k)
    return build


@pytest.mark.parametrize("mask", list(MASKS))
@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("cell", list(CELLS))
def test_rnn_matches_keras(keras, cell, config, mask):
    factory = lambda L, C: L.RNN(CELLS[cell](L, C), **CONFIGS[config])
    x = np.random.default_rng(0).standard_normal((B, T, N))
    check_layer(keras, _pair(keras, factory, x), [x], mask=MASKS[mask])


@pytest.mark.parametrize("cell", ["lstm_cell", "user_two_states", "stacked"])
def test_initial_state_matches_keras(keras, cell):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((B, T, N)).astype(np.float32)
    factory = lambda L, C: L.RNN(CELLS[cell](L, C), return_sequences=True, return_state=True)
    g, k = _pair(keras, factory, x)()
    states = [torch.tensor(rng.standard_normal(tuple(s.shape)).astype(np.float32))
              for s in g.get_initial_state(B, like=torch.tensor(x))] if cell != "stacked" else \
        [[torch.randn(B, 4), torch.randn(B, 4)], [torch.randn(B, 3)], [torch.randn(B, 2)]]
    compare_with_keras(g, k, [x], mask=MASKS["middle"], kwargs={"initial_state": states})


@pytest.mark.parametrize("cell", ["user_cell", "lstm_cell", "stacked"])
def test_stateful_matches_keras(keras, cell):
    """States carry from batch to batch; reset_states() starts again from zeros. (Keras cannot reset the
    nested states of stacked cells, so those are compared over fresh layers only.)"""
    factory = lambda L, C: L.RNN(CELLS[cell](L, C), stateful=True, return_sequences=True)
    g, k = factory(layers, GN_CELLS), factory(keras.layers, keras_cells(keras))
    g(gn.Input((T, N), batch_size=B)), k(keras.Input(batch_shape=(B, T, N)))  # built, states still zero
    rng = np.random.default_rng(2)
    ws = [rng.standard_normal(w.shape).astype(np.float32) * 0.5 for w in k.get_weights()]
    g.set_weights(ws), k.set_weights(ws)
    xs = [torch.tensor(rng.standard_normal((B, T, N)).astype(np.float32)) for _ in range(3)]
    for x in xs:
        torch.testing.assert_close(g(x), torch.as_tensor(k(x)), rtol=1e-5, atol=1e-5)
    if cell != "stacked":
        g.reset_states(), k.reset_states()
        torch.testing.assert_close(g(xs[0]), torch.as_tensor(k(xs[0])), rtol=1e-5, atol=1e-5)
    first = g(xs[0])
    g.reset_states()
    assert not torch.allclose(first, g(xs[0]))  # the carried state changed the result; reset removed it


def test_unroll_matches_keras_and_needs_fixed_steps(keras):
    x = np.random.default_rng(3).standard_normal((B, T, N))
    factory = lambda L, C: L.RNN(C["MinimalRNNCell"](4), unroll=True, return_sequences=True)
    check_layer(keras, _pair(keras, factory, x), [x], mask=MASKS["middle"])
    with pytest.raises(gn.ShapeError, match=r"RNN 'rnn.*' cannot unroll a recurrence whose number of time steps is "
                                            r"undefined\. Received: input shape \(None, T, 3\)"):
        layers.RNN(MinimalRNNCell(4), unroll=True)(gn.Input((None, 3)))


@pytest.mark.parametrize("merge_mode", ["concat", "sum"])
@pytest.mark.parametrize("mask", ["none", "middle"])
def test_bidirectional_around_generic_rnn(keras, merge_mode, mask):
    x = np.random.default_rng(4).standard_normal((B, T, N))
    for factory in (lambda L, C: L.Bidirectional(L.RNN(C["MinimalRNNCell"](3), return_sequences=True),
                                                 merge_mode=merge_mode),
                    lambda L, C: L.Bidirectional(L.RNN([L.GRUCell(3), C["TwoStateCell"](1)], return_state=True),
                                                 merge_mode=merge_mode)):
        check_layer(keras, _pair(keras, factory, x), [x], mask=MASKS[mask])


def _flops_on_meta(model, shape):
    model = model.to("meta")
    with FlopCounterMode(display=False) as counter:
        model(torch.empty(shape, device="meta"))
    return counter.get_total_flops()


COST_CASES = [
    ("lstm_cell", lambda: layers.RNN(layers.LSTMCell(4)), 128, "4·d·(n+d) + 4·d"),
    ("gru_cell", lambda: layers.RNN(layers.GRUCell(3, reset_after=False), return_sequences=True), 63,
     "3·d·(n+d) + 3·d"),
    ("stacked", lambda: layers.RNN([layers.LSTMCell(4), layers.GRUCell(3), layers.SimpleRNNCell(2)]), 221,
     "4·d1·(n1+d1) + 4·d1 + 3·d2·(n2+d2) + 6·d2 + d3·(n3+d3) + d3"),
]


@pytest.mark.parametrize("name,factory,params,formula", COST_CASES, ids=[c[0] for c in COST_CASES])
def test_params_formula_and_macs_match_flop_counter(name, factory, params, formula):
    """Parameters from the formula equal count_params() and stay the same for every T; multiply-adds equal
    the flop counter ÷ 2 on the meta device and grow linearly in T."""
    model = gn.Sequential([gn.Input((None, N)), factory()])
    row = gn.analyze(model).rows[-1]
    assert row.params_formula.split(" = ")[0] == formula and row.params == params == model.count_params()
    assert row.macs is None and "parameters do not depend on the number of steps" in row.reads
    macs = []
    for steps in (5, 10, 20):
        concrete = gn.analyze(model, input_shape=(2, steps, N)).rows[-1]
        assert concrete.params == params
        assert 2 * concrete.macs == _flops_on_meta(model, (2, steps, N))
        macs.append(concrete.macs)
    assert macs[2] - macs[1] == 2 * (macs[1] - macs[0]) and macs[0] > 0  # linear in T, through the origin
    expr = sympy.sympify(row.macs_expr)
    assert int(expr.subs({sympy.Symbol("B"): 2, sympy.Symbol("T"): 5})) == macs[0]


def test_a_user_cell_without_a_cost_rule_reports_unknown_macs():
    model = gn.Sequential([gn.Input((None, N)), layers.RNN(MinimalRNNCell(4), name="mine")])
    row = gn.analyze(model).row("mine")
    assert row.params == 3 * 4 + 4 * 4 == model.count_params() and row.macs is None and row.macs_formula == "?"
    assert "no step_cost" in row.reads
    stacked = gn.Sequential([gn.Input((None, N)), layers.RNN([layers.LSTMCell(2), MinimalRNNCell(4)], name="s")])
    assert gn.analyze(stacked).row("s").macs_formula == "?"


def test_known_cells_run_the_fast_kernels_and_the_reference_loop():
    """RNN(LSTMCell) takes the LSTM layer's paths: the fused kernel, the padded-sequence kernel, the loop."""
    rnn = layers.RNN(layers.LSTMCell(3), return_sequences=True)
    x = torch.randn(2, 5, 2)
    rnn(x)
    right = torch.tensor([[1, 1, 1, 0, 0], [1] * 5], dtype=torch.bool)
    assert recurrent_kernels.choose_path(rnn.cell, None, False, "cpu", None) == "fused"
    assert recurrent_kernels.choose_path(rnn.cell, right, False, "cpu", "right") == "sequence"
    fast = rnn(x, mask=right)
    rnn.path = "loop"
    torch.testing.assert_close(rnn(x, mask=right), fast, rtol=1e-5, atol=1e-6)
    lstm = layers.LSTM(3, return_sequences=True)
    lstm(x)
    lstm.set_weights(rnn.get_weights())
    torch.testing.assert_close(lstm(x, mask=right), fast, rtol=1e-5, atol=1e-6)


def test_dropout_masks_are_drawn_once_per_sequence_and_reset():
    cell = layers.LSTMCell(3, dropout=0.5, recurrent_dropout=0.5)
    rnn = layers.RNN([cell, layers.GRUCell(2)], return_sequences=True)
    x = torch.randn(2, 5, 3)
    y_infer = rnn(x)
    seen = []
    original = cell._dropout_mask

    def spy(kind, like, rate):
        m = original(kind, like, rate)
        seen.append((kind, m))
        return m
    cell._dropout_mask = spy
    y_train = rnn(x, training=True)
    assert not torch.allclose(y_train, y_infer) and cell._dropout_masks == {}
    for kind in ("input", "recurrent"):
        masks = [m for k, m in seen if k == kind]
        assert len(masks) == 5 and all(m is masks[0] for m in masks)


def _user_cell_model(keras_like, cells):
    L = keras_like.layers
    x = keras_like.Input((T, N))
    a = L.RNN(cells["MinimalRNNCell"](4), return_sequences=True)(x)
    b = L.RNN(L.StackedRNNCells([L.LSTMCell(3), cells["TwoStateCell"](2)]), return_sequences=True)(a)
    c = L.Bidirectional(L.RNN(L.GRUCell(2)))(b)
    return keras_like.Model(x, L.Dense(1)(c))


def test_keras_file_with_a_user_cell_both_ways(keras, tmp_path):
    """Keras saves a model with a user-written cell; glassnet loads it with its own class of the same name
    (custom_objects), predicts the same, saves it; Keras loads that with its class and predicts the same."""
    with keras.saving.custom_object_scope(keras_cells(keras)):
        km = _user_cell_model(keras, keras_cells(keras))
    rng = np.random.default_rng(5)
    km.set_weights([rng.standard_normal(w.shape).astype(np.float32) * 0.4 for w in km.get_weights()])
    x = rng.standard_normal((3, T, N)).astype(np.float32)
    expected = km.predict(x, verbose=0)
    km.save(tmp_path / "k.keras")
    with pytest.raises(gn.FileFormatError, match="Unknown layer class 'MinimalRNNCell'"):
        gn.load_model(tmp_path / "k.keras")
    g = gn.load_model(tmp_path / "k.keras", custom_objects=GN_CELLS)
    assert g.count_params() == km.count_params()
    np.testing.assert_allclose(g.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)
    g.save(tmp_path / "g.keras")
    k2 = keras.models.load_model(tmp_path / "g.keras", custom_objects=keras_cells(keras))
    np.testing.assert_allclose(k2.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)
    g2 = gn.load_model(tmp_path / "g.keras", custom_objects=GN_CELLS)
    np.testing.assert_allclose(g2.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)


def test_weight_paths_are_keras_paths():
    from glassnet.io.paths import weight_paths
    model = gn.Sequential([gn.Input((T, N)), layers.RNN(layers.LSTMCell(3), return_sequences=True),
                           layers.RNN([layers.GRUCell(2), layers.GRUCell(2), MinimalRNNCell(2)])])
    paths = list(weight_paths(model))
    assert paths[:3] == ["layers/rnn/cell/vars/0", "layers/rnn/cell/vars/1", "layers/rnn/cell/vars/2"]
    assert "layers/rnn_1/cell/cells/gru_cell_1/vars/2" in paths
    assert "layers/rnn_1/cell/cells/minimal_rnn_cell/vars/1" in paths


def test_cell_configs_use_keras_keys(keras):
    """Every key glassnet writes for a cell is one Keras's cell reads (so Keras loads the file)."""
    for make in (lambda L: L.SimpleRNNCell(3), lambda L: L.LSTMCell(3), lambda L: L.GRUCell(3, reset_after=False)):
        assert set(make(layers).get_config()) <= set(make(keras.layers).get_config())
    assert layers.SimpleRNNCell(3, "relu").activation is torch.relu  # Keras's argument order


@pytest.mark.parametrize("make,match", [
    (lambda: layers.RNN(layers.Dense(3)), r"The RNN cell should have a `state_size` attribute"),
    (lambda: layers.RNN(object()), r"Argument `cell` should have a `call` method"),
    (lambda: layers.StackedRNNCells([layers.LSTMCell(2), layers.Dense(2)]), r"All cells must have a `state_size`"),
    (lambda: layers.RNN(layers.LSTMCell(3))(torch.zeros(2, 4, 1), initial_state=[torch.zeros(2, 3)]),
     r"RNN 'rnn.*' expects initial_state as 2 tensor\(s\) of shape \(batch, units\) = \(2, 3\)"),
    (lambda: layers.RNN(TwoStateCell(3))(torch.zeros(2, 4, 1), initial_state=[torch.zeros(2, 3)] * 2),
     r"expects initial_state as 2 tensor\(s\) of shapes \[\(2, 3\), \(2, 2\)\]"),
    (lambda: layers.RNN(MinimalRNNCell(3), stateful=True)(gn.Input((4, 2))),
     r"uses stateful=True, so the batch size must be static"),
    (lambda: layers.LSTMCell(0), r"LSTMCell 'lstm_cell.*': the `units` argument must be a positive integer"),
    (lambda: [rnn(torch.zeros(b, 4, 2)) for rnn in [layers.RNN(MinimalRNNCell(3), stateful=True, name="st")]
              for b in (2, 3)],
     r"RNN 'st' is stateful and carries states for a batch of 2; a batch of 3 cannot continue them"),
])
def test_errors(make, match):
    with pytest.raises((gn.ConfigError, gn.ShapeError), match=match):
        make()


@pytest.mark.slow
def test_onnx_export_refuses_generic_rnn_with_its_reason(tmp_path):
    """A user's cell runs a Python loop the exporter would unroll: refused. An RNN of glassnet's own cells
    runs torch's fused kernels and exports with a dynamic time axis, like LSTM."""
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    model = gn.Sequential([gn.Input((None, N)), layers.RNN(MinimalRNNCell(3), name="mine")])
    with pytest.raises(gn.GlassnetError, match=r"cannot be exported to ONNX: layer 'mine' runs its cell step by "
                                               r"step in a Python loop"):
        model.export_onnx(tmp_path / "m.onnx")
    for layer in (layers.RNN(layers.LSTMCell(3)), layers.Bidirectional(layers.RNN(layers.GRUCell(3)))):
        model = gn.Sequential([gn.Input((None, N)), layer])
        path = tmp_path / "known.onnx"
        model.export_onnx(path)
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        for T in (4, 9):
            x = np.random.default_rng(T).standard_normal((2, T, N)).astype(np.float32)
            (out,) = sess.run(None, {sess.get_inputs()[0].name: x})
            np.testing.assert_allclose(out, model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)