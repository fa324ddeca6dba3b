"""ReversibleEmbedding against Keras 3: a language model's embedding that projects back onto the vocabulary,
tied or with its own reverse table, with and without a logit soft cap; files both ways; its cost."""
import numpy as np
import pytest
import torch

import glassnet as gn


def _lm(L, Input, Model, tie, cap):
    i = Input((5,), dtype="int32")
    emb = L.ReversibleEmbedding(11, 4, tie_weights=tie, logit_soft_cap=cap, mask_zero=True)
    h = L.LSTM(4, return_sequences=True)(emb(i))
    return Model(i, emb(h, reverse=True))


def _tokens():
    x = np.random.default_rng(1).integers(1, 11, (3, 5)).astype(np.int32)
    x[0, 3:] = 0  # padding: the LSTM reads the mask the forward call creates
    return x


@pytest.mark.parametrize("tie", [True, False], ids=["tied", "own-reverse-table"])
@pytest.mark.parametrize("cap", [None, 2.0], ids=["no-cap", "soft-cap"])
def test_language_model_matches_keras_both_ways(keras, tmp_path, tie, cap):
    k = _lm(keras.layers, keras.Input, keras.Model, tie, cap)
    g = _lm(gn.layers, gn.Input, gn.Model, tie, cap)
    assert [tuple(w.shape) for w in g.weights] == [tuple(w.shape) for w in k.weights]
    rng = np.random.default_rng(0)
    ws = [rng.standard_normal(tuple(v.shape)).astype(np.float32) for v in k.weights]
    k.set_weights(ws)
    g.set_weights(ws)
    x = _tokens()
    want = k.predict(x, verbose=0)
    np.testing.assert_allclose(g.predict(x), want, rtol=0, atol=1e-5)
    assert g.count_params() == k.count_params()
    g.save(tmp_path / "g.keras")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "g.keras").predict(x, verbose=0), want, atol=1e-5)
    k.save(tmp_path / "k.keras")
    np.testing.assert_allclose(gn.load_model(tmp_path / "k.keras").predict(x), want, atol=1e-5)


def test_reverse_projection_and_its_gradients_match_a_reference():
    layer = gn.layers.ReversibleEmbedding(7, 3, logit_soft_cap=1.5, dtype="float64")
    layer(torch.zeros(2, 4, dtype=torch.long))
    h = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    table = layer.embeddings
    got = layer(h, reverse=True)
    want = torch.tanh(h @ table.detach().t() / 1.5) * 1.5
    torch.testing.assert_close(got, want)
    assert torch.autograd.gradcheck(lambda t: layer(t, reverse=True), (h,))
    got.sum().backward()
    assert table.grad is not None and table.grad.abs().sum() > 0  # the tied table learns from the projection


def test_cost_counts_the_projection_as_torch_does():
    g = _lm(gn.layers, gn.Input, gn.Model, False, None)
    report = gn.analyze(g)
    rows = [r for r in report.rows if r.type == "ReversibleEmbedding"]
    assert rows[0].macs == 0 and "looks up one row" in rows[0].reads  # the forward call: a table look-up
    layer = [lay for lay in g.layers if isinstance(lay, gn.layers.ReversibleEmbedding)][0]
    assert report.totals["params"] == g.count_params()
    from torch.utils.flop_counter import FlopCounterMode
    h = torch.randn(1, 5, 4)
    with FlopCounterMode(display=False) as counter:
        layer(h, reverse=True)
    assert rows[1].macs == counter.get_total_flops() // 2 == 5 * 4 * 11
    assert rows[1].params_formula.startswith("2·V·d")  # its own reverse table doubles the weights


def test_reverse_call_on_the_wrong_width_names_the_layer():
    layer = gn.layers.ReversibleEmbedding(7, 3, name="tokens")
    with pytest.raises(gn.ShapeError, match="'tokens' projects back from output_dim=3 features.*Received"):
        layer(torch.randn(2, 5), reverse=True)
    with pytest.raises(gn.ConfigError, match="logit_soft_cap"):
        gn.layers.ReversibleEmbedding(7, 3, logit_soft_cap=0)
