"""Analysis against independent measurements: real parameter tensors, torch's FlopCounterMode on
the meta device, receptive fields measured from input gradients, bytes autograd really saves."""
import json

import pytest
import sympy
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

import glassnet as gn
from glassnet import layers
from cases import CASES


def _flops_on_meta(model, shapes, dtypes=None):
    """torch's own count of FLOPs for one forward pass on the meta device."""
    model = model.to("meta")
    xs = [torch.empty(s, device="meta", dtype=(dtypes or {}).get(i, torch.float32)) for i, s in enumerate(shapes)]
    with FlopCounterMode(display=False) as counter:
        model(xs if len(xs) > 1 else xs[0])
    return counter.get_total_flops()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_params_and_macs_for_every_layer(case):
    """The parameter formula evaluates to count_params(); the MACs formula to torch's flop counter ÷ 2."""
    _, factory, shapes, _, expected_params, expected_formula = case
    ins = [gn.Input(s) for s in shapes]
    model = gn.Model(ins if len(ins) > 1 else ins[0], factory(layers)(ins if len(ins) > 1 else ins[0]))
    layer = model.layers[-1]
    in_shapes = [t.symbolic_shape for t in ins] if len(ins) > 1 else ins[0].symbolic_shape
    cost = layer.cost(in_shapes, layer.compute_output_shape(in_shapes))
    assert cost.params_formula == expected_formula
    assert cost.params_count() == layer.count_params() == expected_params
    report = gn.analyze(model, batch_size=3)
    row = report.rows[-1]
    assert row.params == sum(w.numel() for w in layer.weights) == model.count_params()
    flops = _flops_on_meta(model, [(3, *s) for s in shapes])
    assert 3 * cost.macs_per_sample() == flops // 2 and 2 * row.macs == flops


def test_batchnorm_without_center_or_scale_reports_its_formula():
    """32 parameters on 16 channels: the two moving statistics, "2·c", not "4·c"."""
    model = gn.Sequential([gn.Input((16,)), layers.BatchNormalization(center=False, scale=False)])
    row = gn.analyze(model).rows[-1]
    assert row.params == 32 and row.params_formula == "2·c = 2·16"


class _Custom(layers.Layer):
    """A user's layer with five weights and no cost rule."""

    def build(self, input_shape):
        for i in range(5):
            self.add_weight(shape=(input_shape[-1], 2), initializer="ones")

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 2)

    def call(self, x):
        return sum(x @ w for w in self.weights)


def test_a_layer_without_a_cost_rule_never_reports_zero_macs():
    """Its parameters come from its tensors; its multiply-adds are measured by tracing it (5 matmuls of 3×2)."""
    model = gn.Sequential([gn.Input((3,)), _Custom(name="custom")])
    report = gn.analyze(model, batch_size=4)
    row = report.row("custom")
    assert row.params == 30 == model.count_params() and row.params_formula == "30"
    assert row.macs == 4 * 30 and row.macs_formula == "30" and row.macs_source == "traced" and "no cost rule" in row.reads
    assert report.totals["macs"] == report.totals["macs_known_part"] == 120


RNN_CASES = [
    ("lstm", lambda: layers.LSTM(10), (7, 1)),
    ("lstm_seq", lambda: layers.LSTM(6, return_sequences=True), (5, 3)),
    ("gru", lambda: layers.GRU(5), (6, 4)),
    ("simple_rnn", lambda: layers.SimpleRNN(4), (6, 2)),
    ("bidirectional", lambda: layers.Bidirectional(layers.LSTM(3)), (5, 2)),
    ("time_distributed", lambda: layers.TimeDistributed(layers.Dense(4)), (5, 3)),
    ("time_distributed_conv", lambda: layers.TimeDistributed(layers.Conv2D(2, 3)), (3, 6, 6, 2)),
]


@pytest.mark.parametrize("name,factory,shape", RNN_CASES, ids=[c[0] for c in RNN_CASES])
def test_recurrent_macs_match_flop_counter_on_meta(name, factory, shape):
    model = gn.Sequential([gn.Input(shape), factory()])
    row = gn.analyze(model, batch_size=2).rows[-1]
    assert 2 * row.macs == _flops_on_meta(model, [(2, *shape)])


def test_lstm_seed_numbers_over_time():
    model = gn.Sequential([gn.Input((None, 1)), layers.LSTM(10)])
    report = gn.analyze(model)
    row = report.row("lstm") if "lstm" in [r.name for r in report.rows] else report.rows[-1]
    assert row.params == 480 and row.macs is None and report.totals["macs"] is None
    assert row.macs_formula == "T·4·10·(1+10)"
    assert row.params_formula == "4·d·(n+d) + 4·d = 4·10·(1+10) + 4·10"
    macs = [gn.analyze(model, input_shape=(1, T, 1)).rows[-1].macs for T in (10, 50, 500)]
    assert macs == [4400, 22000, 220000]  # linear in T; the parameters stay 480
    assert "walks the T time steps in order with the same 4 gates" in row.reads


def test_seed_conv_comparison():
    a = gn.Sequential([gn.Input((28, 28, 1)), layers.Conv2D(64, (3, 3))])
    b = gn.Sequential([gn.Input((28, 28, 1)), layers.Conv2D(32, (7, 7))])
    out = []
    c = gn.compare(a, b, print_fn=out.append)
    (ra, rb), = c.pairs
    assert (ra.params, rb.params) == (640, 1600)
    assert (ra.output_shape, rb.output_shape) == ("(None, 26, 26, 64)", "(None, 22, 22, 32)")
    assert (ra.macs, rb.macs) == (389_376, 758_912)
    assert (ra.receptive_field, rb.receptive_field) == ((3, 3), (7, 7))
    assert c.totals()["params"]["b/a"] == pytest.approx(2.5)
    assert "389,376" in out[0] and "758,912" in out[0] and "ratio 2.50×" in out[0]


def test_symbolic_formula_for_conv():
    model = gn.Sequential([gn.Input(("H", "W", 1)), layers.Conv2D(64, (3, 3))])
    row = gn.analyze(model).rows[-1]
    assert row.macs_formula == "64·3·3·1·(H-2)·(W-2)"  # filters·kh·kw·channels·H'·W'
    assert row.params_formula == "k·k·c·f + f = 3·3·1·64 + 64"
    assert row.macs is None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(k=st.integers(1, 4), s=st.integers(1, 3), d=st.integers(1, 2), same=st.booleans(), f=st.integers(1, 5),
       c=st.integers(1, 4), h=st.integers(8, 16), w=st.integers(8, 16), groups=st.sampled_from([1, 2]))
def test_formula_evaluated_equals_macs_and_flop_counter(k, s, d, same, f, c, h, w, groups):
    if s > 1 and d > 1:
        d = 1
    f, c = f * groups, c * groups
    model = gn.Sequential([gn.Input((None, None, c)),
                           layers.Conv2D(f, k, strides=s, dilation_rate=d, padding="same" if same else "valid", groups=groups)])
    symbolic = gn.analyze(model).rows[-1]
    concrete = gn.analyze(model, input_shape=(2, h, w, c)).rows[-1]
    expr = sympy.sympify(symbolic.macs_expr)
    value = expr.subs({sympy.Symbol("B"): 2, sympy.Symbol("H"): h, sympy.Symbol("W"): w})
    assert int(value) == concrete.macs
    assert 2 * concrete.macs == _flops_on_meta(model, [(2, h, w, c)])


@settings(max_examples=25, deadline=None)
@given(units=st.integers(1, 8), n=st.integers(1, 5), t=st.integers(1, 12), kind=st.sampled_from(["lstm", "gru", "rnn", "dense"]))
def test_formula_equals_flop_counter_for_sequences(units, n, t, kind):
    layer = {"lstm": layers.LSTM, "gru": layers.GRU, "rnn": layers.SimpleRNN, "dense": layers.Dense}[kind](units)
    model = gn.Sequential([gn.Input((None, n)), layer])
    expr = sympy.sympify(gn.analyze(model).rows[-1].macs_expr)
    macs = int(expr.subs({sympy.Symbol("B"): 2, sympy.Symbol("T"): t}))
    assert macs == gn.analyze(model, input_shape=(2, t, n)).rows[-1].macs
    assert 2 * macs == _flops_on_meta(model, [(2, t, n)])


def _measured_rf(model, shape):
    """Extent of non-zero input gradient for the centre output position (positive weights, linear)."""
    for w in model.weights:
        with torch.no_grad():
            w.copy_(torch.rand_like(w) + 0.1)
    x = torch.rand(1, *shape, requires_grad=True)
    y = model(x)
    centre = tuple(s // 2 for s in y.shape[1:-1])
    y[(0, *centre, 0)].backward()
    nz = x.grad[0, ..., 0].abs() > 0
    extents = []
    for axis in range(nz.ndim):
        other = tuple(i for i in range(nz.ndim) if i != axis)
        hit = nz.any(dim=other) if other else nz
        idx = torch.nonzero(hit).flatten()
        extents.append(int(idx.max() - idx.min() + 1))
    return tuple(extents)


def test_receptive_field_of_conv_pool_chain_matches_measurement():
    model = gn.Sequential([gn.Input((40, 40, 1)), layers.Conv2D(2, 3), layers.Conv2D(2, 3, strides=2),
                           layers.Conv2D(2, 3, dilation_rate=2), layers.AveragePooling2D(2), layers.Conv2D(1, (3, 5))])
    rows = gn.analyze(model).rows
    assert [r.receptive_field for r in rows[1:4]] == [(3, 3), (5, 5), (13, 13)]
    assert rows[-1].receptive_field == _measured_rf(model, (40, 40, 1))


def test_receptive_field_through_branches_matches_measurement():
    inp = gn.Input((41, 41, 1))
    a = layers.Conv2D(2, 3)(layers.Conv2D(2, 3, padding="same")(inp))
    b = layers.Conv2D(2, 7, padding="same")(layers.Conv2D(2, 5, padding="same", dilation_rate=2)(inp))
    b = layers.Conv2D(2, 3)(b)
    out = layers.Conv2D(1, 3)(layers.Add()([a, b]))
    model = gn.Model(inp, out)
    rf = gn.analyze(model).rows[-1].receptive_field
    assert rf == _measured_rf(model, (41, 41, 1)) == (19, 19)


def test_receptive_field_of_sequence_models():
    model = gn.Sequential([gn.Input((None, 3)), layers.Conv1D(4, 3, dilation_rate=2, padding="causal"),
                           layers.LSTM(4, return_sequences=True), layers.GlobalAveragePooling1D()])
    rows = gn.analyze(model).rows
    assert rows[1].receptive_field == (5,)
    assert rows[2].receptive_field == ("whole sequence so far",)
    assert rows[3].receptive_field == ("whole input",)


def _saved_by_autograd(model, x):
    params = {w.data_ptr() for w in model.parameters()}
    seen = {}

    def pack(t):
        if t.data_ptr() not in params:
            seen[t.data_ptr()] = t.untyped_storage().nbytes()
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x, training=True)
    return sum(seen.values())


@pytest.mark.parametrize("kind", ["cnn", "lstm"])
def test_saved_activation_estimate_within_20_percent(kind):
    if kind == "cnn":
        model = gn.Sequential([gn.Input((28, 28, 1)), layers.Conv2D(16, 3, activation="relu"), layers.MaxPooling2D(),
                               layers.Conv2D(8, 3, activation="relu"), layers.GlobalAveragePooling2D(), layers.Dense(10)])
        x = torch.randn(8, 28, 28, 1)
    else:
        model = gn.Sequential([gn.Input((50, 4)), layers.LSTM(32, return_sequences=True), layers.LSTM(16), layers.Dense(1)])
        x = torch.randn(8, 50, 4)
    report = gn.analyze(model, input_shape=tuple(x.shape))
    estimate = report.totals["training_memory_breakdown"]["activations_saved_for_backward"]
    measured = _saved_by_autograd(model, x)
    assert abs(estimate - measured) <= 0.2 * measured


def test_activation_bytes_and_peak():
    model = gn.Sequential([gn.Input((10,)), layers.Dense(20), layers.Dense(5)])
    r = gn.analyze(model, batch_size=4)
    assert [row.activation_bytes for row in r.rows] == [160, 320, 80]
    assert r.totals["peak_inference_activation_bytes"] == 160 + 320


def test_mask_flow_rows():
    inp = gn.Input((None,), dtype="int64")
    x = layers.Embedding(20, 4, mask_zero=True)(inp)
    x = layers.LSTM(3, return_sequences=True)(x)
    with pytest.warns(gn.GlassnetWarning, match="does not support masking"):
        x = layers.Conv1D(2, 1)(x)
    r = gn.analyze(gn.Model(inp, x))
    assert [row.mask_effect for row in r.rows] == ["none", "created", "carried", "dropped"]
    assert r.rows[2].mask_in == "(None, T)" and r.rows[3].mask_out is None  # JSON null, not a dash
    assert json.loads(r.to_json())["rows"][3]["mask_out"] is None


def test_needs_fixed_and_reads():
    r = gn.analyze(gn.Sequential([gn.Input((None, None, 3)), layers.Conv2D(4, 3), layers.GlobalMaxPooling2D(), layers.Dense(2)]))
    assert r.rows[1].needs_fixed == ("channels",) and r.rows[3].needs_fixed == ("last axis (features)",)
    assert r.rows[1].reads.startswith("slides a 3×3 window over H×W")
    assert r.rows[3].reads == "acts on the last axis of each sample with one shared 4×2 matrix"


def test_shared_layer_params_counted_once():
    a, b = gn.Input((4,)), gn.Input((4,))
    shared = layers.Dense(3, name="shared")
    model = gn.Model([a, b], layers.Add()([shared(a), shared(b)]))
    r = gn.analyze(model)
    rows = [row for row in r.rows if row.type == "Dense"]
    assert [row.params for row in rows] == [15, 0] and rows[1].shared_with == "shared"
    assert [row.macs for row in rows] == [12, 12]  # compute counts once per call
    assert r.totals["params"] == 15


def test_report_to_dict_and_text():
    model = gn.Sequential([gn.Input((None, 1)), layers.LSTM(10), layers.Dense(1)])
    r = gn.analyze(model)
    d = json.loads(r.to_json())
    assert d["convention"].startswith("1 MAC = one multiply-add") and d["totals"]["params"] == 491
    assert "FLOPs = 2 × MACs" in str(r) and "T·4·10·(1+10)" in str(r)
    out = []
    model.summary(costs=True, print_fn=out.append, line_length=150)
    assert "4·d·(n+d) + 4·d" in out[0] and "T·4·10·(1+10)" in out[0]


def test_explain_layer_and_model():
    layer = layers.LSTM(10)
    gn.Sequential([gn.Input((None, 1)), layer])
    text = gn.explain(layer, print_fn=None)
    assert "owns 480 parameters" in text and "linear in T" in text
    text = gn.explain(gn.Sequential([gn.Input((28, 28, 1)), layers.DepthwiseConv2D(3)]), print_fn=None)
    assert "one kernel per input channel" in text
    with pytest.raises(ValueError, match="not built yet"):
        gn.explain(layers.Dense(3), print_fn=None)


def test_nested_model_costs_its_layers():
    inner = gn.Sequential([gn.Input((8,)), layers.Dense(4)], name="inner_block")
    inp = gn.Input((8,))
    model = gn.Model(inp, layers.Dense(1)(inner(inp)))
    row = gn.analyze(model, batch_size=2).row("inner_block")
    assert row.macs == 2 * 8 * 4 and row.params == 36
    assert 2 * gn.analyze(model, batch_size=2).totals["macs"] == _flops_on_meta(model, [(2, 8)])
