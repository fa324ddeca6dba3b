"""gn.analyze on any torch.nn.Module: formulas from torch.export checked against torch's own FlopCounterMode
at several sizes (per module and in total), what a model fixes (with the source line), the measured
fallback, memory against what autograd really keeps, the output formats, and glassnet layers without a
cost rule measured by the same tracer."""
import inspect
import json

import pytest
import sympy
import torch
from torch import nn

import glassnet as gn
from glassnet import layers
from _any_module_models import check_rows, flop_counter_macs, sdpa_macs, small_cnn


# ---------------------------------------------------------------------- formulas against FlopCounterMode
def test_sequential_cnn_formulas_equal_flop_counter_per_module_at_three_sizes():
    model = small_cnn().eval()
    report = gn.analyze(model, torch.randn(2, 3, 32, 32), dynamic={"input": {0: "B", 2: "H", 3: "W"}})
    assert report.method == "export" and set(report.dims) == {"B", "H", "W"}
    assert report.row("0").macs_formula == "432·B·H·W"  # 16·3·3·3 per output position, "same" padding
    for b, h, w in [(2, 32, 32), (3, 40, 24), (1, 57, 33)]:
        counted = flop_counter_macs(model, torch.randn(b, 3, h, w))
        assert check_rows(report, {"B": b, "H": h, "W": w}, counted) == len(report.rows) == 11
    # a grouped convolution (groups=2) and a transposed one are in the sum
    assert report.row("4").macs_expr != "0" and report.row("6").macs_expr != "0"


def test_transformer_encoder_has_t_and_t_squared_terms_equal_to_flop_counter_plus_attention():
    model = nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 64, batch_first=True), 2).eval()
    report = gn.analyze(model, torch.randn(2, 10, 32), dynamic={"src": {0: "B", 1: "T"}})
    expr = sympy.sympify(report.rows[0].macs_expr)
    B, T = sorted(expr.free_symbols, key=lambda s: s.name)
    assert sympy.Poly(expr, T).degree() == 2 and expr.coeff(T, 2) == 2 * 2 * 32 * B  # q·kᵀ and weights·v, 2 layers
    attention = ["layers.0.self_attn", "layers.1.self_attn"]
    for b, t in [(2, 10), (3, 17), (1, 40)]:
        counted = flop_counter_macs(model, torch.randn(b, t, 32))
        # FlopCounterMode counts 0 for scaled_dot_product_attention in torch 2.13: added by hand
        check_rows(report, {"B": b, "T": t}, counted, attention, sdpa_macs(b * 4, t, t, 8))


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU])
def test_recurrent_layers_are_linear_in_t_and_equal_flop_counter_on_meta(cls):
    model = cls(8, 16, num_layers=2, batch_first=True, bidirectional=True)
    report = gn.analyze(model, torch.randn(2, 10, 8), dynamic={"input": {0: "B", 1: "T"}})
    gates = 4 if cls is nn.LSTM else 3
    per_step = gates * 16 * (8 + 16) * 2 + gates * 16 * (32 + 16) * 2  # two layers, two directions
    assert report.rows[0].macs_formula == f"{per_step}·B·T"
    assert not report.constraints  # the time axis stays symbolic (torch's own decomposition would pin it)
    for b, t in [(2, 10), (3, 4), (1, 33)]:
        counted = flop_counter_macs(model, torch.randn(b, t, 8), meta=True)
        check_rows(report, {"B": b, "T": t}, counted)


# ---------------------------------------------------------------------- what a model fixes
class HardCodedReshape(nn.Module):
    """Flattens (B, 10, 16) with a hard-coded 160: the sequence length can only be 10."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16 * 10, 4)

    def forward(self, x):
        return self.fc(x.reshape(x.shape[0], 16 * 10))


class PositionTable(nn.Module):
    """A learned table of 512 positions added to the input: T ≤ 512."""

    def __init__(self):
        super().__init__()
        self.pos = nn.Parameter(torch.zeros(1, 512, 16))
        self.fc = nn.Linear(16, 16)

    def forward(self, x):
        return self.fc(x + self.pos[:, : x.shape[1]])


def _line_of(cls, text):
    lines, start = inspect.getsourcelines(cls.forward)
    return start + next(i for i, line in enumerate(lines) if text in line)


def test_a_hard_coded_reshape_reports_the_dim_it_fixes_and_its_source_line():
    report = gn.analyze(HardCodedReshape(), torch.randn(2, 10, 16), dynamic={"x": {0: "B", 1: "T"}})
    (c,) = report.constraints
    assert (c.dim, c.kind, c.text) == ("T", "fixed", "T = 10")
    line = _line_of(HardCodedReshape, "x.reshape(")
    assert c.where == f"{__file__}:{line} (HardCodedReshape.forward)"
    assert c.code == "return self.fc(x.reshape(x.shape[0], 16 * 10))" and c.module == ""
    assert report.rows[0].needs_fixed == (c.sentence(),)
    assert "T = 10 (fixed by" in str(report) and "x.reshape(x.shape[0], 16 * 10)" in str(report)
    assert report.rows[0].macs_formula == "640·B"  # T is 10 in the graph, B stays a name


def test_a_position_table_reports_the_bound_it_sets():
    report = gn.analyze(PositionTable(), torch.randn(2, 10, 16), dynamic={"x": {0: "B", 1: "T"}})
    (c,) = report.constraints
    assert (c.dim, c.kind, c.text) == ("T", "bound", "T ≤ 512")
    assert c.where.endswith(f":{_line_of(PositionTable, 'self.pos[')} (PositionTable.forward)")
    assert report.rows[0].macs_formula == "256·B·T"  # the bound does not pin T


def test_a_view_of_a_fixed_size_ties_two_dims():
    class Flat(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.fc = nn.Conv2d(3, 8, 3), nn.Linear(8 * 6 * 6, 10)

        def forward(self, x):
            return self.fc(self.conv(x).view(-1, 8 * 6 * 6))
    report = gn.analyze(Flat(), torch.randn(2, 3, 8, 8), dynamic={"x": {0: "B", 2: "H", 3: "W"}})
    texts = {c.kind: c for c in report.constraints}
    assert texts["relation"].dim == "H, W" and "= 288" in texts["relation"].text
    assert texts["relation"].code == "return self.fc(self.conv(x).view(-1, 8 * 6 * 6))"
    assert {c.text for c in report.constraints if c.kind == "bound"} == {"H ≥ 3", "W ≥ 3"}


def test_dynamic_spec_mistakes_are_reported():
    with pytest.raises(ValueError, match="size 1; torch.export treats sizes 0 and 1 as constants"):
        gn.analyze(nn.Linear(4, 2), torch.randn(1, 4), dynamic={"input": {0: "B"}})
    with pytest.raises(ValueError, match="dynamic names 'x', which is not an argument given to forward"):
        gn.analyze(nn.Linear(4, 2), torch.randn(3, 4), dynamic={"x": {0: "B"}})
    with pytest.raises(ValueError, match="give example inputs"):
        gn.analyze(nn.Linear(4, 2))


# ---------------------------------------------------------------------- fallback and unknowns
class DataDependent(nn.Module):
    """Control flow on the data: torch.export cannot trace it."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(8, 8), nn.Linear(8, 3)

    def forward(self, x):
        h = self.a(x)
        if h.sum() > 0:
            h = h * 2
        return self.b(h)


def test_data_dependent_control_flow_falls_back_to_measuring_and_says_so():
    report = gn.analyze(DataDependent(), torch.randn(4, 8), dynamic={"x": {0: "B"}})
    assert report.method == "flop_counter" and report.dims == {"B": 4}
    assert report.notes[0].startswith("torch.export could not trace DataDependent (")
    assert "measured with torch.utils.flop_counter.FlopCounterMode at the example inputs only" in report.notes[0]
    assert report.totals["macs"] == 4 * (8 * 8 + 8 * 3) == flop_counter_macs(DataDependent(), torch.randn(4, 8))[""]
    assert [(r.name, r.macs, r.macs_source) for r in report.rows] == [
        ("DataDependent", 352, "measured"), ("a", 256, "measured"), ("b", 96, "measured")]
    assert "Note: torch.export could not trace" in str(report)
    assert json.loads(report.to_json())["method"] == "flop_counter"


def test_an_operator_without_a_cost_rule_is_unknown_never_zero():
    class Spectrum(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(9, 2)

        def forward(self, x):
            return self.fc(torch.fft.rfft(x).abs())
    report = gn.analyze(Spectrum(), torch.randn(3, 16), dynamic={"x": {0: "B"}})
    root = report.rows[0]
    assert root.macs is None and root.macs_formula == "?" and root.unknown_ops == ("aten.fft_rfft",)
    assert report.totals["macs"] is None and report.totals["macs_known_part"] == 3 * 9 * 2
    assert report.row("fc").macs == 54
    d = json.loads(report.to_json())
    assert d["rows"][0]["macs"] is None and d["rows"][0]["macs_formula"] is None and d["totals"]["macs"] is None


def test_tied_parameters_are_counted_once():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed, self.head = nn.Embedding(100, 16), nn.Linear(16, 100, bias=False)
            self.head.weight = self.embed.weight

        def forward(self, ids):
            return self.head(self.embed(ids))
    report = gn.analyze(Tied(), torch.zeros(2, 7, dtype=torch.long), dynamic={"ids": {0: "B", 1: "T"}})
    assert report.totals["params"] == 1600 == report.rows[0].params
    assert report.row("head").shared_with == "embed" and report.row("embed").shared_with == "head"
    assert report.row("head").macs_formula == "1600·B·T" and report.row("embed").macs == 0


# ---------------------------------------------------------------------- memory, receptive field
def _saved_by_autograd(model, x):
    params = {p.data_ptr() for p in model.parameters()}
    seen = {}

    def pack(t):
        if t.data_ptr() not in params:
            seen[t.data_ptr()] = t.untyped_storage().nbytes()
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return sum(seen.values())


@pytest.mark.parametrize("kind", ["cnn", "transformer", "lstm"])
def test_memory_kept_for_backward_within_20_percent_of_autograd(kind):
    model, x, dyn = {
        "cnn": (small_cnn().train(), torch.randn(4, 3, 32, 32), {"input": {0: "B", 2: "H", 3: "W"}}),
        "transformer": (nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True), 2),
                        torch.randn(4, 20, 32), {"src": {0: "B", 1: "T"}}),
        "lstm": (nn.LSTM(8, 16, batch_first=True), torch.randn(4, 20, 8), {"input": {0: "B", 1: "T"}}),
    }[kind]
    report = gn.analyze(model, x, dynamic=dyn)
    estimate = report.totals["activations_saved_for_backward_bytes"]
    measured = _saved_by_autograd(model, x)
    assert abs(estimate - measured) <= 0.2 * measured
    t = report.totals
    assert t["training_memory_bytes"] == t["weights_bytes"] + 3 * 4 * t["trainable_params"] + estimate
    assert "B" in t["formulas"]["activations_saved_for_backward_bytes"]


def test_peak_activation_formula_of_a_linear_chain():
    model = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 5))
    report = gn.analyze(model, torch.randn(4, 10), dynamic={"input": {0: "B"}})
    # the input (40 bytes per sample) is alive while the first output (80) is made, then the ReLU's (80)
    assert report.totals["formulas"]["peak_inference_activation_bytes"] == "160·B"
    assert report.totals["peak_inference_activation_bytes"] == 640 and report.at(B=10).totals[
        "peak_inference_activation_bytes"] == 1600


def test_receptive_field_through_a_residual_branch():
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(1, 2, 3, padding=1)
            self.b = nn.Conv2d(2, 2, 3, padding=2, dilation=2)
            self.skip = nn.Conv2d(1, 2, 1)
            self.pool = nn.MaxPool2d(2)

        def forward(self, x):
            return self.pool(self.b(self.a(x)) + self.skip(x))
    report = gn.analyze(Residual(), torch.randn(1, 1, 16, 16))
    assert report.row("a").receptive_field == (3, 3) and report.row("b").receptive_field == (7, 7)
    assert report.row("skip").receptive_field == (1, 1)
    assert report.row("pool").receptive_field == (8, 8)  # the wider branch, then a 2×2 window


# ---------------------------------------------------------------------- outputs
def test_json_html_markdown_and_evaluation_at_other_sizes():
    model = nn.Sequential(nn.Linear(8, 32), nn.GELU(), nn.Linear(32, 8))
    report = gn.analyze(model, torch.randn(2, 5, 8), dynamic={"input": {0: "B", 1: "T"}})
    d = json.loads(report.to_json())
    assert d["schema_version"] == gn.analysis.SCHEMA_VERSION == 2 and d["method"] == "export"
    assert d["rows"][0]["macs_formula"] == "512·B·T" and d["totals"]["formulas"]["macs"] == "512·B·T"
    assert d["rows"][2]["receptive_field"] == [] and d["rows"][1]["shared_with"] is None
    assert "—" not in report.to_json() and '"?"' not in report.to_json()
    html = report._repr_html_()
    assert html == report.to_html() and html.count("<tr>") == 1 + 4 and "512·B·T" in html and "<table" in html
    md = report.to_markdown().splitlines()
    assert md[2].startswith("| Module (type) |") and md[3].startswith("|---|") and len([m for m in md if m.startswith("| ")]) == 5
    big = report.at(T=1000)
    assert big.totals["macs"] == 512 * 2 * 1000 and big.row("0").macs == 8 * 32 * 2 * 1000 and big.dims["T"] == 1000
    with pytest.raises(ValueError, match="No dimension named X"):
        report.at(X=3)
    assert "MACs: 5,120 = 512·B·T" in str(report)


def test_glassnet_reports_carry_the_schema_and_null_for_unknown():
    model = gn.Sequential([gn.Input((None, 1)), layers.LSTM(10), layers.Dense(1)])
    d = json.loads(gn.analyze(model).to_json())
    assert d["schema_version"] == 2 and d["method"] == "rules" and d["rows"][1]["macs"] is None
    assert "<table" in gn.analyze(model).to_html() and "| Layer (type) |" in gn.analyze(model).to_markdown()
    with pytest.raises(ValueError, match="holds numbers, not formulas"):
        gn.analyze(model).at(T=3)


def test_compare_and_explain_plain_modules():
    a = nn.Sequential(nn.Conv2d(1, 64, 3), nn.ReLU())
    b = nn.Sequential(nn.Conv2d(1, 32, 7), nn.ReLU())
    out = []
    c = gn.compare(a, b, example_inputs=torch.randn(1, 1, 28, 28), print_fn=out.append)
    assert c.totals()["params"]["a"] == 640 and c.totals()["params"]["b"] == 1600
    assert c.totals()["macs"]["a"] == 389_376 and c.totals()["macs"]["b"] == 758_912  # as glassnet's own Conv2D rule
    assert "ratio 2.50×" in out[0]
    text = gn.explain(nn.LSTM(4, 8, batch_first=True), example_inputs=torch.randn(2, 6, 4),
                      dynamic={"input": {0: "B", 1: "T"}}, print_fn=None)
    assert "costs 384·B·T multiply-adds per call (linear in T)" in text and "owns 448 parameters: 32·4 + 32·8 + 32 + 32" in text  # two bias vectors


# ---------------------------------------------------------------------- glassnet layers without a cost rule
class _LowRank(layers.Layer):
    """A user's layer without a cost rule: a projection through a rank-2 bottleneck, x @ u @ v."""

    def build(self, input_shape):
        self.u = self.add_weight(shape=(input_shape[-1], 2), initializer="ones", name="u")
        self.v = self.add_weight(shape=(2, 5), initializer="ones", name="v")

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 5)

    def call(self, x):
        return (x @ self.u) @ self.v


def _flops_on_meta(model, shape):
    model = model.to("meta")
    with torch.utils.flop_counter.FlopCounterMode(display=False) as counter:
        model(torch.empty(shape, device="meta"))
    return counter.get_total_flops()


def test_a_glassnet_layer_without_a_cost_rule_is_measured_by_tracing():
    model = gn.Sequential([gn.Input((None, 3)), _LowRank(name="low_rank")])
    report = gn.analyze(model, batch_size=4)
    row = report.row("low_rank")
    assert row.params == 16 and row.macs_source == "traced" and row.macs_formula == "16·T"  # 3·2 + 2·5 per step
    assert row.reads == ("has no cost rule: its parameters are counted from its tensors, its multiply-adds were "
                         "measured by tracing it with torch.export at input (None, T, 3)")
    assert row.macs is None  # T has no size yet: unknown, not 0
    concrete = gn.analyze(model, input_shape=(4, 7, 3)).row("low_rank")
    assert 2 * concrete.macs == _flops_on_meta(model, (4, 7, 3)) == 2 * 4 * 7 * 16


def test_a_lambda_after_a_convolution_is_measured_in_the_convolutions_dims():
    inp = gn.Input(("H", "W", 1))
    x = layers.Conv2D(4, 3)(inp)
    out = layers.Lambda(lambda t: t @ torch.ones(4, 6), output_shape=lambda s: (*s[:-1], 6), name="proj")(x)
    model = gn.Model(inp, out)
    row = gn.analyze(model).row("proj")
    assert row.macs_source == "traced" and row.macs_formula == "24·(H-2)·(W-2)"
    assert gn.analyze(model, input_shape=(2, 9, 8, 1)).row("proj").macs == 2 * 7 * 6 * 24


# ---------------------------------------------------------------------- command line
MODELS_PY = '''
import torch
from torch import nn


def mlp():
    return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 8))


def tagger():
    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed, self.rnn, self.out = nn.Embedding(50, 8), nn.GRU(8, 16, batch_first=True), nn.Linear(16, 5)

        def forward(self, ids):
            return self.out(self.rnn(self.embed(ids))[0])
    return Tagger()
'''


def test_cli_summary_compare_explain_for_a_torch_module(tmp_path, capsys):
    from glassnet.cli import main
    path = tmp_path / "models.py"
    path.write_text(MODELS_PY)
    assert main(["summary", f"{path}:mlp", "--input-shape", "B=2,T=16,8", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["method"] == "export" and d["dims"] == {"B": 2, "T": 16} and d["totals"]["formulas"]["macs"] == "512·B·T"
    assert main(["summary", f"{path}:tagger", "--input-shape", "B=2,T=9", "--input-dtype", "int64"]) == 0
    out = capsys.readouterr().out
    assert "rnn (GRU)" in out and "1152·B·T" in out and "embed (Embedding)" in out
    assert main(["explain", f"{path}:tagger", "--input-shape", "2,T=9", "--input-dtype", "int64", "--layer", "rnn"]) == 0
    assert "costs 2304·T multiply-adds per call (linear in T)" in capsys.readouterr().out  # B not named: it is 2
    assert main(["compare", f"{path}:mlp", f"{path}:mlp", "--input-shape", "4,8"]) == 0
    assert "ratio 1.00×" in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["summary", "{path}:mlp"], "glassnet: error: {path}:mlp is a torch module: give its example input with --input-shape"),
    (["summary", "{path}:mlp", "--input-shape", "2,T=x"], "glassnet: error: --input-shape must be positive integers"),
    (["summary", "{path}:mlp", "--input-shape", "2,8", "--input-dtype", "int13"],
     "glassnet: error: --input-dtype must name a torch dtype like float32 or int64; received 'int13'"),
    (["explain", "{path}:mlp", "--input-shape", "2,8", "--layer", "nope"], "glassnet: error: No module ran at path 'nope'."),
])
def test_cli_usage_errors_for_torch_modules(tmp_path, capsys, argv, message):
    from glassnet.cli import main
    path = tmp_path / "models.py"
    path.write_text(MODELS_PY)
    assert main([a.format(path=path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message.format(path=path)) and err.count("\n") == 1
