"""MultiHeadAttention, GroupedQueryAttention, Attention, AdditiveAttention and EinsumDense against Keras 3
(torch backend): same random weights, same inputs; outputs and gradients (float32) for masks, causal masks,
returned scores, attention axes and output shapes; float64 gradcheck; parameter formulas against
count_params(); multiply-adds against torch's flop counter on the meta device; Keras files both ways; ONNX.

Masks come from ``Embedding(mask_zero=True)`` on integer inputs, so each tensor argument carries its own
mask into ``query_mask`` / ``value_mask`` / ``key_mask`` (or ``[query_mask, value_mask]``), as in Keras.
"""
from collections import namedtuple

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import glassnet as gn
from glassnet import layers
from _harness import compare_with_keras, gradcheck_model

Case = namedtuple("Case", "id call shapes masked params formula")

MHA = "n·h·k + h·k + m·h·k + h·k + m·h·v + h·v + h·v·o + o"
GQA = "n·hq·d + hq·d + n·hkv·d + hkv·d + n·hkv·d + hkv·d + hq·d·n + n"
CASES = [
    Case("mha_self", lambda L, t: L.MultiHeadAttention(2, 4)(t[0], t[0]), [(5, 8)], False, 288, MHA),
    Case("mha_cross_masked", lambda L, t: L.MultiHeadAttention(2, 4)(t[0], t[1]), [(5, 8), (7, 6)], True, 256, MHA),
    Case("mha_key_value_dim_output_shape",
         lambda L, t: L.MultiHeadAttention(2, 4, value_dim=3, output_shape=(2, 3))(t[0], t[1], key=t[2]),
         [(5, 8), (7, 6), (7, 5)], True, 204, "n·h·k + h·k + p·h·k + h·k + m·h·v + h·v + h·v·o + o"),
    Case("mha_causal", lambda L, t: L.MultiHeadAttention(2, 4)(t[0], t[0], use_causal_mask=True), [(5, 8)], False,
         288, MHA),
    Case("mha_causal_masked", lambda L, t: L.MultiHeadAttention(2, 4)(t[0], t[1], use_causal_mask=True),
         [(6, 8), (6, 6)], True, 256, MHA),
    Case("mha_scores_masked", lambda L, t: L.MultiHeadAttention(2, 4)(t[0], t[1], return_attention_scores=True),
         [(5, 8), (7, 6)], True, 256, MHA),
    Case("mha_two_attention_axes", lambda L, t: L.MultiHeadAttention(2, 4, attention_axes=(1, 2))(t[0], t[1]),
         [(3, 4, 8), (2, 5, 6)], False, 256, MHA),
    Case("mha_negative_axis_scores",
         lambda L, t: L.MultiHeadAttention(2, 4, attention_axes=-2)(t[0], t[0], return_attention_scores=True),
         [(3, 4, 8)], False, 288, MHA),
    Case("mha_no_bias_gate_window_dropout",
         lambda L, t: L.MultiHeadAttention(2, 4, dropout=0.2, use_bias=False, sliding_window=2, use_gate=True)(
             t[0], t[1]), [(6, 8), (6, 6)], True, 288, "n·h·k + m·h·k + n·h·v + m·h·v + h·v·o"),
    Case("gqa", lambda L, t: L.GroupQueryAttention(4, 4, 2)(t[0], t[1]), [(5, 8), (7, 8)], False, 424, GQA),
    Case("gqa_scores_masked", lambda L, t: L.GroupQueryAttention(4, 4, 2)(t[0], t[1], return_attention_scores=True),
         [(5, 8), (7, 8)], True, 424, GQA),
    Case("gqa_causal_gate", lambda L, t: L.GroupQueryAttention(4, 4, 2, use_gate=True)(t[0], t[0], use_causal_mask=True),
         [(5, 8)], False, 568, "n·hq·d + hq·d + n·hkv·d + hkv·d + n·hq·d + hq·d + n·hkv·d + hkv·d + hq·d·n + n"),
    Case("attention_dot", lambda L, t: L.Attention()(t), [(5, 4), (7, 3), (7, 4)], False, 0, "0"),
    Case("attention_scale_masked", lambda L, t: L.Attention(use_scale=True)(t), [(5, 4), (7, 4)], True, 1, "1"),
    Case("attention_concat_scores_masked",
         lambda L, t: L.Attention(use_scale=True, score_mode="concat")(t, return_attention_scores=True),
         [(5, 4), (7, 4)], True, 2, "1 + 1"),
    Case("attention_causal_masked", lambda L, t: L.Attention()(t, use_causal_mask=True), [(6, 4), (6, 4)], True, 0,
         "0"),
    Case("additive_masked", lambda L, t: L.AdditiveAttention()(t), [(5, 4), (7, 4)], True, 4, "d"),
    Case("additive_no_scale_scores", lambda L, t: L.AdditiveAttention(use_scale=False)(t, return_attention_scores=True),
         [(5, 4), (7, 4)], False, 0, "0"),
    Case("einsum_matrix", lambda L, t: L.EinsumDense("ab,bc->ac", 4, bias_axes="c")(t[0]), [(3,)], False, 16,
         "b·c + c"),
    Case("einsum_heads_tanh", lambda L, t: L.EinsumDense("abc,cde->abde", (5, 2, 4), bias_axes="de",
                                                         activation="tanh")(t[0]), [(5, 3)], False, 32, "c·d·e + d·e"),
    Case("einsum_left_ellipsis", lambda L, t: L.EinsumDense("...b,bc->...c", 4, bias_axes="c")(t[0]), [(2, 5, 3)],
         False, 16, "b·c + c"),
    Case("einsum_right_ellipsis", lambda L, t: L.EinsumDense("abc...,bd->adc...", (4, 3))(t[0]), [(5, 3, 2)], False,
         20, "b·d"),
    Case("einsum_two_contracted", lambda L, t: L.EinsumDense("abc,bcd->ad", 4, bias_axes="d")(t[0]), [(5, 3)], False,
         64, "b·c·d + d"),
]
IDS = [c.id for c in CASES]
B = 3


def _model(mod, case):
    L = mod.layers
    if case.masked:
        ins = [mod.Input(s[:-1], dtype="int32") for s in case.shapes]
        ts = [L.Embedding(10, s[-1], mask_zero=True)(i) for i, s in zip(ins, case.shapes)]
    else:
        ins = [mod.Input(s) for s in case.shapes]
        ts = ins
    return mod.Model(ins if len(ins) > 1 else ins[0], case.call(L, ts))


def _inputs(case, pad_queries=True, seed=0):
    """Random inputs; for masked cases integer tokens with padding (0): the query rows right- and left-padded,
    value and key rows padded at the end and at the start."""
    rng = np.random.default_rng(seed)
    if not case.masked:
        return [rng.standard_normal((B, *s)).astype(np.float32) for s in case.shapes]
    xs = [rng.integers(1, 10, (B, *s[:-1])).astype(np.int32) for s in case.shapes]
    for i, x in enumerate(xs):
        if i == 0 and pad_queries:
            x[1, -2:], x[2, 0] = 0, 0
        elif i > 0:
            x[1, -3:] = 0
            if pad_queries:
                x[2, :2] = 0
    return xs


# Keras's own GroupQueryAttention hands masked tensors to its EinsumDense projections, which warn
@pytest.mark.filterwarnings("ignore:Layer '(query|key|value|gate)' \\(of type EinsumDense\\):UserWarning")
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_matches_keras_and_gradcheck(keras, case):
    """Outputs and gradients equal Keras's (float32), with padded queries and values; then float64 gradcheck.

    The gradcheck runs with padding only at the end of the values: torch's fused attention (like Keras's)
    gives a fully masked query row the uniform average through an additive -2.4e38, a constant of the
    float function whose analytic gradient is not zero, so finite differences cannot check such rows;
    Keras's gradients are compared on them above."""
    g, k = _model(gn, case), _model(keras, case)
    compare_with_keras(g, k, _inputs(case))
    xs = _inputs(case, pad_queries=False, seed=1)
    gradcheck_model(_model(gn, case), [x if case.masked else x.astype(np.float64) for x in xs])


def _node_cost(model):
    layer = model.layers[-1]
    node = layer._inbound_nodes[-1]
    first = node.args[0]
    in_shapes = first.symbolic_shape if hasattr(first, "symbolic_shape") else [t.symbolic_shape for t in first]
    outs = node.output_structure()
    outs = [t.symbolic_shape for t in outs] if isinstance(outs, list) else outs.symbolic_shape
    return layer, layer.cost(in_shapes, outs)


def _flops_on_meta(model, case):
    model = model.to("meta")
    xs = [torch.empty((B, *s), device="meta") for s in case.shapes]
    with FlopCounterMode(display=False) as counter:
        model(xs if len(xs) > 1 else xs[0])
    return counter.get_total_flops()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_params_formula_and_macs_match_flop_counter(case):
    """Parameter formula → count_params(); multiply-adds → torch's FlopCounterMode on the meta device ÷ 2.

    torch 2.13's flop counter does count scaled_dot_product_attention (2·B·h·T·S·(k+v) FLOPs, see
    test_flop_counter_counts_fused_attention), so no attention term is added by hand here."""
    case = case._replace(masked=False)  # masks change no cost (and Embedding checks its indices, which meta lacks)
    model = _model(gn, case)
    layer, cost = _node_cost(model)
    assert cost.params_formula == case.formula
    assert cost.params_count() == layer.count_params() == model.count_params() == case.params
    row = gn.analyze(model, batch_size=B).row(layer.name)
    assert row.macs == B * cost.macs_per_sample() == _flops_on_meta(model, case) // 2


def test_flop_counter_counts_fused_attention():
    """The meta-device measurement above relies on this: torch counts the fused kernel's two matmuls."""
    q, k, v = (torch.empty(2, 3, 5, 4, device="meta"), torch.empty(2, 3, 7, 4, device="meta"),
               torch.empty(2, 3, 7, 6, device="meta"))
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.scaled_dot_product_attention(q, k, v)
    assert counter.get_total_flops() == 2 * 2 * 3 * 5 * 7 * (4 + 6)


def test_attention_cost_shows_query_length_times_key_length():
    """Self-attention costs grow with T·T; cross-attention with T·S; the parameters stay the same."""
    x = gn.Input((None, 8))
    model = gn.Model(x, layers.MultiHeadAttention(2, 4, name="mha")(x, x))
    row = gn.analyze(model).row("mha")
    assert "2·T·T·4" in row.macs_formula and "work grows with T·T" in row.reads
    assert row.params == 288 and row.macs is None
    macs = [gn.analyze(model, input_shape=(1, t, 8)).row("mha").macs for t in (10, 20, 40)]
    assert macs == [3 * t * 8 * 2 * 4 + 2 * (2 * t * t * 4) + t * 2 * 4 * 8 for t in (10, 20, 40)]  # 256·T + 16·T²
    q, v = gn.Input(("T", 8)), gn.Input(("S", 6))
    cross = gn.Model([q, v], layers.MultiHeadAttention(2, 4, name="cross")(q, v))
    row = gn.analyze(cross).row("cross")
    assert row.macs_formula == "T·8·2·4 + S·6·2·4 + S·6·2·4 + 2·T·S·4 + 2·T·S·4 + T·2·4·8"
    assert gn.analyze(cross, input_shape=[(1, 3, 8), (1, 5, 6)]).row("cross").macs == \
        3 * 8 * 2 * 4 + 2 * 5 * 6 * 2 * 4 + 2 * (2 * 3 * 5 * 4) + 3 * 2 * 4 * 8


def test_output_mask_is_the_querys_and_value_mask_reaches_value_mask():
    q, v = gn.Input((None,), dtype="int32"), gn.Input((None,), dtype="int32")
    eq, ev = layers.Embedding(10, 8, mask_zero=True)(q), layers.Embedding(10, 6, mask_zero=True)(v)
    out = layers.MultiHeadAttention(2, 4)(eq, ev)
    assert out.mask is not None and out.mask.shape == (None, None)
    model = gn.Model([q, v], out)
    xq = torch.tensor([[1, 2, 0], [3, 0, 0]])
    xv = torch.tensor([[1, 1, 1, 0], [0, 2, 2, 2]])
    _, masks = model.run([xq, xv])
    np.testing.assert_array_equal(masks[0].numpy(), [[1, 1, 0], [1, 0, 0]])
    scores = layers.MultiHeadAttention(2, 4)(eq, ev, return_attention_scores=True)
    assert scores[0].mask is not None and scores[1].mask is None


def test_explicit_attention_mask_matches_keras(keras):
    """An attention_mask (B, T, S) passed to the call, ANDed with the masks, eager on both sides."""
    rng = np.random.default_rng(3)
    q = torch.tensor(rng.standard_normal((2, 4, 8)).astype(np.float32))
    v = torch.tensor(rng.standard_normal((2, 6, 8)).astype(np.float32))
    am = torch.tensor(rng.random((2, 4, 6)) > 0.3)
    for cls, kw in ((lambda L: L.MultiHeadAttention(2, 3), {}),
                    (lambda L: L.MultiHeadAttention(2, 3), {"return_attention_scores": True}),
                    (lambda L: L.GroupQueryAttention(3, 4, 2), {"use_causal_mask": True})):
        g, k = cls(layers), cls(keras.layers)
        g(q, v), k(q, v)
        ws = [rng.standard_normal(w.shape).astype(np.float32) * 0.5 for w in k.get_weights()]
        g.set_weights(ws), k.set_weights(ws)
        a, b = g(q, v, attention_mask=am, **kw), k(q, v, attention_mask=am, **kw)
        for x, y in zip(a if isinstance(a, list) else [a], b if isinstance(b, tuple) else [b]):
            np.testing.assert_allclose(x.detach().numpy(), y.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_an_explicit_query_mask_is_honoured_eagerly():
    """Keras 3.15.1 replaces an explicit query_mask by the query tensor's own mask (None for a plain
    tensor); glassnet uses the mask it is given, so an eager call equals the graph with Embedding masks."""
    tokens = torch.tensor([[1, 2, 3, 0, 0], [4, 5, 6, 7, 8]])
    inp = gn.Input((None,), dtype="int64")
    emb = layers.Embedding(10, 8, mask_zero=True)
    mha = layers.MultiHeadAttention(2, 4, dropout=0.1)
    model = gn.Model(inp, mha(emb(inp), emb(inp), return_attention_scores=True))
    y_graph, scores_graph = model(tokens)
    x, m = emb(tokens), tokens != 0
    y_eager, scores_eager = mha(x, x, query_mask=m, value_mask=m, return_attention_scores=True)
    torch.testing.assert_close(y_eager, y_graph)
    torch.testing.assert_close(scores_eager, scores_graph)
    assert float(scores_eager[0, :, 3:].detach().abs().sum()) == 0  # padded query rows attend nowhere


def _transformer_block(keras_like):
    L = keras_like.layers
    t = keras_like.Input((None,), dtype="int32")
    x = L.Embedding(20, 8, mask_zero=True)(t)
    a = L.MultiHeadAttention(2, 4, dropout=0.1)(x, x, use_causal_mask=True)
    x = L.LayerNormalization()(L.Add()([x, a]))
    f = L.Dense(8)(L.Dense(16, activation="relu")(x))
    x = L.LayerNormalization()(L.Add()([x, f]))
    return keras_like.Model(t, L.Dense(3)(L.GlobalAveragePooling1D()(x)))


def _attention_zoo(keras_like):
    L = keras_like.layers
    q, v = keras_like.Input((5, 8)), keras_like.Input((7, 8))
    a = L.Attention(use_scale=True, score_mode="concat")([q, v])
    b = L.AdditiveAttention()([q, v])
    g = L.GroupQueryAttention(4, 4, 2, use_gate=True)(q, v)
    e = L.EinsumDense("abc,cd->abd", (5, 4), bias_axes="d", activation="relu")(g)
    m, s = L.MultiHeadAttention(2, 3, value_dim=2, output_shape=4)(q, v, return_attention_scores=True)
    return keras_like.Model([q, v], [a, b, e, m, s])


def _both_ways(keras, build, xs, tmp_path):
    km = build(keras)
    rng = np.random.default_rng(7)
    km.set_weights([rng.standard_normal(w.shape).astype(np.float32) * 0.4 for w in km.get_weights()])
    feed = xs if len(xs) > 1 else xs[0]
    expected = km.predict(feed, verbose=0)
    expected = expected if isinstance(expected, list) else [expected]
    km.save(tmp_path / "k.keras")
    g = gn.load_model(tmp_path / "k.keras")
    assert g.count_params() == km.count_params()
    got = g.predict(feed, verbose=0)
    for a, b in zip(got if isinstance(got, list) else [got], expected):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    g.save(tmp_path / "g.keras")
    k2 = keras.models.load_model(tmp_path / "g.keras")
    got = k2.predict(feed, verbose=0)
    for a, b in zip(got if isinstance(got, list) else [got], expected):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    return g


def test_transformer_block_keras_file_both_ways(keras, tmp_path):
    tokens = np.random.default_rng(0).integers(1, 20, (3, 9)).astype(np.int32)
    tokens[1, 6:], tokens[2, :3] = 0, 0
    g = _both_ways(keras, _transformer_block, [tokens], tmp_path)
    names = [type(l).__name__ for l in g.layers]
    assert "MultiHeadAttention" in names


def test_attention_layers_keras_file_both_ways(keras, tmp_path):
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((3, 5, 8)).astype(np.float32), rng.standard_normal((3, 7, 8)).astype(np.float32)]
    g = _both_ways(keras, _attention_zoo, xs, tmp_path)
    gqa = next(l for l in g.layers if type(l).__name__ == "GroupedQueryAttention")
    assert gqa.count_params() == 568


@pytest.mark.parametrize("make,match", [
    (lambda: layers.MultiHeadAttention(2, 4, attention_axes=(2,))(gn.Input((5, 8)), gn.Input((5, 8))),
     r"MultiHeadAttention 'multi_head_attention.*' can attend only over axes 1 to 1 of its input \(not batch, heads "
     r"or features\)\. Received: attention_axes=\(2,\) for a query of rank 3"),
    (lambda: layers.MultiHeadAttention(2, 4)(gn.Input((5, 8)), gn.Input((7, 8)), key=gn.Input((6, 8))),
     r"needs value and key to agree on every dimension but the last\. Received: value_shape=\(None, 7, 8\) and "
     r"key_shape=\(None, 6, 8\)"),
    (lambda: layers.GroupQueryAttention(4, 3, 2), r"`num_query_heads` must be divisible by `num_key_value_heads`"),
    (lambda: layers.GroupQueryAttention(4, 4, 2)(gn.Input((5, 8)), gn.Input((7, 6))),
     r"needs query and value with the same last dimension"),
    (lambda: layers.Attention()(gn.Input((5, 4))), r"must be called on a list of inputs, namely \[query, value\]"),
    (lambda: layers.Attention()([gn.Input((5, 4)), gn.Input((7, 3))]),
     r"scores query against key feature by feature, so they need the same last dimension"),
    (lambda: layers.MultiHeadAttention(2, 4, dropout=0.1, flash_attention=True),
     r"dropout is not supported when flash attention is enabled"),
    (lambda: layers.MultiHeadAttention(2, 4, kernel_regularizer="l2"), r"does not support kernel_regularizer"),
    (lambda: layers.MultiHeadAttention(0, 4), r"the `num_heads` argument must be a positive integer"),
    (lambda: layers.Attention(score_mode="add"), r"the `score_mode` argument must be one of 'dot', 'concat'"),
    (lambda: layers.EinsumDense("ab->b", 3), r"EinsumDense 'einsum_dense.*': Invalid einsum equation 'ab->b'"),
    (lambda: layers.EinsumDense("abc,cd->abd", (6, 4))(gn.Input((5, 3))),
     r"Input shape and output shape do not match at shared dimension 'b'\. Input shape is 5, and output shape is 6\. "
     r"Received: input shape \(None, 5, 3\)"),
    (lambda: layers.EinsumDense("ab,bc->ac", 4)(gn.Input((5, 3))), r"The einsum equation 'ab,bc->ac' names 2 input axes"),
    (lambda: layers.EinsumDense("ab,bx->ac", 4)(gn.Input((3,))), r"Dimension 'c' was specified in the output 'ac' but has "
                                                                 r"no corresponding dim"),
    (lambda: layers.MultiHeadAttention(2, 4)(gn.Input((5, 8)), gn.Input((2, 5, 8))),
     r"needs query and value of the same rank"),
    (lambda: layers.Attention()([torch.ones(2, 5, 4), torch.ones(2, 7, 4)], mask=torch.ones(2, 5, dtype=torch.bool)),
     r"takes its masks as a list, namely \[query_mask, value_mask\]"),
    (lambda: layers.EinsumDense("ab,bc->ac", 3, bias_axes="x"), r"the `bias_axes` argument must be letters"),
])
def test_errors(make, match):
    with pytest.raises((gn.ConfigError, gn.ShapeError), match=match):
        make()


def test_flash_attention_refuses_scores():
    layer = layers.MultiHeadAttention(2, 4, flash_attention=True)
    x = torch.randn(2, 3, 8)
    assert layer(x, x).shape == (2, 3, 8)
    with pytest.raises(gn.ConfigError, match="cannot return attention scores with flash attention enabled"):
        layer(x, x, return_attention_scores=True)


ONNX_CASES = [
    ("mha_self", lambda t: layers.MultiHeadAttention(2, 4)(t[0], t[0]), [(None, 8)], [[(2, 5, 8)], [(3, 9, 8)]]),
    ("mha_causal", lambda t: layers.MultiHeadAttention(2, 4)(t[0], t[0], use_causal_mask=True), [(None, 8)],
     [[(2, 5, 8)], [(3, 9, 8)]]),
    ("mha_cross", lambda t: layers.MultiHeadAttention(2, 4)(t[0], t[1]), [("T", 8), ("S", 6)],
     [[(2, 5, 8), (2, 7, 6)], [(3, 9, 8), (3, 4, 6)]]),
    ("gqa", lambda t: layers.GroupedQueryAttention(4, 4, 2)(t[0], t[0]), [(None, 8)], [[(2, 5, 8)], [(3, 9, 8)]]),
    ("attention", lambda t: layers.Attention(use_scale=True)(t), [("T", 4), ("S", 4)],
     [[(2, 5, 4), (2, 7, 4)], [(3, 9, 4), (3, 4, 4)]]),
    ("additive_causal", lambda t: layers.AdditiveAttention()(t, use_causal_mask=True), [("T", 4), ("S", 4)],
     [[(2, 5, 4), (2, 7, 4)], [(3, 9, 4), (3, 4, 4)]]),
    ("einsum", lambda t: layers.EinsumDense("abc,cde->abde", (None, 2, 4), bias_axes="de")(t[0]), [(None, 3)],
     [[(2, 5, 3)], [(3, 9, 3)]]),
]


@pytest.mark.slow
@pytest.mark.parametrize("name,build,shapes,sizes", ONNX_CASES, ids=[c[0] for c in ONNX_CASES])
def test_onnx_export_at_two_sizes(name, build, shapes, sizes, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    ins = [gn.Input(s) for s in shapes]
    model = gn.Model(ins if len(ins) > 1 else ins[0], build(ins))
    model.export_onnx(tmp_path / "m.onnx")
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    for i, size in enumerate(sizes):
        xs = [np.random.default_rng(i).standard_normal(s).astype(np.float32) for s in size]
        (theirs,) = sess.run(None, {inp.name: x for inp, x in zip(sess.get_inputs(), xs)})
        np.testing.assert_allclose(theirs, model.predict(xs if len(xs) > 1 else xs[0], verbose=0), rtol=1e-5,
                                   atol=1e-5)
