"""Mask semantics: the fixed-weight vectors of the reference (Keras 3.15.1), mask creation and
propagation through layers and graphs, and the four recurrent execution paths (fused, packed, sequence
and the reference loop) agreeing."""
import warnings

import numpy as np
import pytest
import torch

import glassnet as gn
from glassnet.kernels import native
from glassnet.kernels import recurrent as recurrent_kernels
from glassnet import layers

K = np.linspace(-0.5, 0.5, 16).reshape(2, 8)
R = np.linspace(0.4, -0.4, 16).reshape(2, 8)
b = np.linspace(-0.1, 0.1, 8)
X = torch.tensor(np.linspace(-1, 1, 16).reshape(2, 4, 2), dtype=torch.float32)
MASK = torch.tensor([[1, 1, 0, 0], [1, 0, 1, 1]], dtype=torch.bool)


def _lstm(**kwargs):
    layer = layers.LSTM(2, **kwargs)
    layer(X)
    layer.set_weights([K, R, b])
    return layer


def test_reference_vectors_no_mask():
    y, h, c = _lstm(return_sequences=True, return_state=True)(X)
    np.testing.assert_allclose(y.detach().numpy(), [
        [[-0.003290, -0.026050], [0.001086, -0.026480], [0.008411, -0.012899], [0.016223, 0.007834]],
        [[0.014773, 0.027576], [0.025062, 0.054293], [0.032299, 0.079616], [0.037427, 0.103177]]], atol=1e-6)
    np.testing.assert_allclose(h.detach().numpy(), [[0.016223, 0.007834], [0.037427, 0.103177]], atol=1e-6)
    np.testing.assert_allclose(c.detach().numpy(), [[0.031394, 0.015076], [0.062772, 0.164771]], atol=1e-6)


def test_reference_vectors_masked():
    y, h, c = _lstm(return_sequences=True, return_state=True)(X, mask=MASK)
    np.testing.assert_allclose(y.detach().numpy(), [
        [[-0.003290, -0.026050], [0.001086, -0.026480], [0.001086, -0.026480], [0.001086, -0.026480]],
        [[0.014773, 0.027576], [0.014773, 0.027576], [0.028728, 0.068536], [0.036200, 0.098280]]], atol=1e-6)
    np.testing.assert_allclose(h.detach().numpy(), [[0.001086, -0.026480], [0.036200, 0.098280]], atol=1e-6)
    np.testing.assert_allclose(c.detach().numpy(), [[0.002294, -0.057781], [0.060622, 0.156564]], atol=1e-6)
    last = _lstm()(X, mask=MASK)
    np.testing.assert_allclose(last.detach().numpy(), [[0.001086, -0.026480], [0.036200, 0.098280]], atol=1e-6)


def test_reference_vectors_zero_output_and_backwards():
    y = _lstm(return_sequences=True, zero_output_for_mask=True)(X, mask=MASK)
    np.testing.assert_allclose(y.detach().numpy(), [
        [[-0.003290, -0.026050], [0.001086, -0.026480], [0, 0], [0, 0]],
        [[0.014773, 0.027576], [0, 0], [0.028728, 0.068536], [0.036200, 0.098280]]], atol=1e-6)
    y = _lstm(return_sequences=True, go_backwards=True)(X, mask=MASK)
    np.testing.assert_allclose(y.detach().numpy(), [
        [[0, 0], [0, 0], [0.001428, -0.013674], [-0.001611, -0.031791]],
        [[0.025392, 0.068287], [0.030692, 0.082143], [0.030692, 0.082143], [0.025076, 0.059015]]], atol=1e-6)


def test_reference_vectors_gru():
    layer = layers.GRU(2, return_sequences=True)
    layer(X)
    layer.set_weights([np.linspace(-0.5, 0.5, 12).reshape(2, 6), np.linspace(0.4, -0.4, 12).reshape(2, 6),
                       np.linspace(-0.1, 0.1, 12).reshape(2, 6)])
    np.testing.assert_allclose(layer(X, mask=MASK).detach().numpy(), [
        [[-0.081608, -0.147513], [-0.093851, -0.169248], [-0.093851, -0.169248], [-0.093851, -0.169248]],
        [[0.045617, 0.071213], [0.045617, 0.071213], [0.146627, 0.225625], [0.220393, 0.340290]]], atol=1e-6)


RIGHT = torch.tensor([[1] * 7, [1] * 5 + [0] * 2, [0] * 7, [1] * 2 + [0] * 5], dtype=torch.bool)
LEFT = RIGHT.flip(1)  # pre-padded: run as right-padded after rotating each row, then rotated back


@pytest.mark.parametrize("cls", [layers.LSTM, layers.GRU, layers.SimpleRNN])
@pytest.mark.parametrize("config", [{}, {"return_sequences": True}, {"return_sequences": True, "zero_output_for_mask": True},
                                    {"return_state": True}])
def test_paths_agree(cls, config):
    """Forcing each path on the same inputs gives the same outputs and gradients."""
    torch.manual_seed(0)
    layer = cls(6, **config)
    x = torch.randn(4, 7, 3)
    layer(x)
    results = {}
    paths = [("fused", None), ("packed", RIGHT), ("loop", RIGHT), ("loop_nomask", None), ("packed_left", LEFT),
             ("loop_left", LEFT)]
    compiled = native.library() is not None  # GRU and SimpleRNN take the sequence path with the C recurrence
    if cls is layers.LSTM or compiled:
        paths += [("sequence", RIGHT), ("sequence_left", LEFT)]
    for path, mask in paths:
        layer.path = path.replace("_nomask", "").replace("_left", "")
        xi = x.clone().requires_grad_(True)
        out = layer(xi, mask=mask)
        outs = out if isinstance(out, list) else [out]
        sum(o.sum() * (i + 1) for i, o in enumerate(outs)).backward()
        results[path] = ([o.detach() for o in outs], xi.grad, [w.grad.clone() for w in layer.trainable_weights])
        for w in layer.trainable_weights:
            w.grad = None
    layer.path = None
    pairs = (("fused", "loop_nomask"), ("packed", "loop"), ("packed_left", "loop_left"))
    if cls is layers.LSTM or compiled:
        pairs += (("sequence", "loop"), ("sequence_left", "loop_left"))
    for a, b in pairs:
        for oa, ob in zip(results[a][0], results[b][0]):
            torch.testing.assert_close(oa, ob, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(results[a][1], results[b][1], rtol=1e-5, atol=1e-6)
        for ga, gb in zip(results[a][2], results[b][2]):
            torch.testing.assert_close(ga, gb, rtol=1e-5, atol=1e-6)


def test_path_choice():
    layer = layers.LSTM(3)
    x = torch.randn(2, 4, 2)
    layer(x)
    right = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]], dtype=torch.bool)
    left = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]], dtype=torch.bool)
    middle = torch.tensor([[1, 0, 1, 1], [1, 1, 1, 1]], dtype=torch.bool)

    def choose(rnn, mask, recurrent_dropout=False):
        return recurrent_kernels.choose_path(rnn.cell, mask, recurrent_dropout, "cpu", recurrent_kernels.padding_of(mask))
    assert choose(layer, None) == "fused"
    assert choose(layer, right) == "sequence"  # LSTM on the CPU: the hand-written BPTT kernel
    assert choose(layers.GRU(3), right) == "sequence"  # the compiled GRU recurrence
    assert recurrent_kernels.choose_path(layers.GRU(3).cell, right, False, "cpu", "right", compiled=False) == "packed"
    assert choose(layers.GRU(3, reset_after=False), right) == "loop"
    assert choose(layers.SimpleRNN(3), left) == "sequence" and choose(layers.SimpleRNN(3, activation="relu"), right) == "packed"
    assert choose(layer, left) == "sequence"  # pre-padded: rotated to right-padded and back
    assert choose(layer, middle) == "loop"
    assert choose(layer, None, recurrent_dropout=True) == "loop"
    assert choose(layers.LSTM(3, activation="relu"), None) == "loop"
    assert recurrent_kernels.choose_path(layer.cell, right, False, "cuda", "right") == "packed"
    with pytest.raises(gn.ConfigError, match="packed path only with a right- or left-padded mask"):
        layer.path = "packed"
        layer(x, mask=middle)


def test_masking_creates_mask_and_zeroes_steps():
    x = torch.tensor(np.random.default_rng(0).standard_normal((2, 4, 3)), dtype=torch.float32)
    x[0, 2:] = 0
    x[1, 3] = 0
    x[1, 1, 0] = 0  # a partial zero is not masked
    m = layers.Masking()
    np.testing.assert_array_equal(m.compute_mask(x).numpy(), [[1, 1, 0, 0], [1, 1, 1, 0]])
    x2 = x.clone()
    x2[0, 2:] = 5.0
    masked = layers.Masking(mask_value=5.0)
    np.testing.assert_array_equal(masked.compute_mask(x2).numpy(), [[1, 1, 0, 0], [1, 1, 1, 1]])
    assert torch.all(masked(x2)[0, 2:] == 0)


def test_embedding_mask_zero_keeps_row_zero():
    emb = layers.Embedding(10, 3, mask_zero=True)
    ids = torch.tensor([[1, 2, 0, 0], [3, 0, 4, 0]])
    out = emb(ids)
    np.testing.assert_array_equal(emb.compute_mask(ids).numpy(), [[1, 1, 0, 0], [1, 0, 1, 0]])
    torch.testing.assert_close(out[0, 2], emb.embeddings[0])
    assert emb.count_params() == 30


def _graph_mask(model, x):
    """Run a model and return the mask that travels beside its output."""
    _, masks = model.run(x)
    return masks[0]


@pytest.mark.parametrize("middle,keeps", [
    (lambda: layers.Dense(3), True), (lambda: layers.Dropout(0.5), True), (lambda: layers.LayerNormalization(), True),
    (lambda: layers.TimeDistributed(layers.Dense(3)), True), (lambda: layers.LSTM(3, return_sequences=True), True),
    (lambda: layers.Bidirectional(layers.LSTM(3, return_sequences=True)), True),
    (lambda: layers.Conv1D(3, 1), False), (lambda: layers.Reshape((4, 3)), False),
    (lambda: layers.Permute((1, 2)), False), (lambda: layers.Lambda(lambda t: t * 2), False),
])
def test_mask_propagation_through_layers(middle, keeps):
    x = torch.randn(2, 4, 3)
    x[0, 2:] = 0
    inp = gn.Input((4, 3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = middle()(layers.Masking()(inp))
    assert (out.mask is not None) == keeps
    assert any("destroy the mask" in str(w.message) for w in caught) == (not keeps)
    mask = _graph_mask(gn.Model(inp, out), x)
    if keeps:
        np.testing.assert_array_equal(mask.numpy(), [[1, 1, 0, 0], [1, 1, 1, 1]])
        assert tuple(out.mask.shape) == (None, 4)
    else:
        assert mask is None


def test_consumers_drop_mask_without_warning():
    inp = gn.Input((4, 3))
    m = layers.Masking()(inp)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert layers.GlobalAveragePooling1D()(m).mask is None
        assert layers.LSTM(2)(m).mask is None


def test_global_average_pooling_1d_uses_mask():
    x = torch.randn(2, 4, 3)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 0]], dtype=torch.bool)
    out = layers.GlobalAveragePooling1D()(x, mask=mask)
    torch.testing.assert_close(out[0], x[0, :2].mean(0))
    torch.testing.assert_close(out[1], x[1, :3].mean(0))


def test_merge_masks_combine_as_keras():
    x = torch.tensor(np.random.default_rng(0).standard_normal((2, 4, 3)), dtype=torch.float32)
    x[0, 2:] = 0
    x[1, 3] = 0
    xb = torch.flip(x, dims=[1])
    ia, ib = gn.Input((4, 3)), gn.Input((4, 3))
    ma, mb = layers.Masking()(ia), layers.Masking()(ib)
    for merge, expected in [
        (layers.Add(), [[1, 1, 1, 1], [1, 1, 1, 1]]),
        (layers.Average(), [[1, 1, 1, 1], [1, 1, 1, 1]]),
        (layers.Multiply(), [[1, 1, 1, 1], [1, 1, 1, 1]]),
        (layers.Concatenate(axis=-1), [[1, 1, 1, 1], [1, 1, 1, 1]]),
        (layers.Concatenate(axis=1), [[1, 1, 0, 0, 0, 0, 1, 1], [1, 1, 1, 0, 0, 1, 1, 1]]),
    ]:
        out = merge([ma, mb])
        model = gn.Model([ia, ib], out)
        _, masks = model.run([x, xb])
        np.testing.assert_array_equal(masks[0].numpy(), expected)
        assert len(out.mask.shape) == 2
    unmasked = layers.Add()([ma, ib])
    assert unmasked.mask is None


def test_masked_model_equals_unpadded_sequences():
    """An Embedding(mask_zero) → LSTM model gives each padded row the output of its unpadded sequence."""
    torch.manual_seed(0)
    inp = gn.Input((None,), dtype="int64")
    out = layers.Dense(1)(layers.LSTM(8)(layers.Embedding(20, 4, mask_zero=True)(inp)))
    model = gn.Model(inp, out)
    seqs = [[3, 5, 7, 2, 9], [4, 1], [8, 8, 8], [6]]
    padded = torch.zeros(4, 5, dtype=torch.long)
    for i, s in enumerate(seqs):
        padded[i, :len(s)] = torch.tensor(s)
    batch = model(padded)
    for i, s in enumerate(seqs):
        torch.testing.assert_close(batch[i], model(torch.tensor([s]))[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("merge", ["Multiply", "Maximum", "Minimum", "Add", "Average"])
def test_merges_of_masked_inputs_match_keras(keras, merge):
    """Keras 3: Multiply counts a masked position as 1 (0 where every input is masked); Maximum/Minimum take
    the other input's value there."""
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((3, 5, 2)).astype(np.float32), rng.standard_normal((3, 5, 2)).astype(np.float32)
    a[0, 1], a[1, 3], a[2, 4] = 0, 0, 0
    b[0, 1], b[1, 2], b[2, 0] = 0, 0, 0   # row 0, step 1: masked in both
    outs = []
    for L, I, M in ((layers, gn.Input, gn.Model), (keras.layers, keras.Input, keras.Model)):
        ia, ib = I((5, 2)), I((5, 2))
        out = getattr(L, merge)()([L.Masking()(ia), L.Masking()(ib)])
        outs.append(np.asarray(M([ia, ib], out)([torch.tensor(a), torch.tensor(b)]).detach().cpu()))
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-6, atol=1e-6)


def test_layernorm_rms_scaling_is_keras_3s_variance_scaling(keras):
    x = np.random.default_rng(2).standard_normal((4, 6)).astype(np.float32) + 3.0
    with pytest.warns(gn.GlassnetWarning, match="rms_scaling=True is deprecated"):
        g = layers.LayerNormalization(rms_scaling=True)
    with warnings.catch_warnings():  # Keras gives its own deprecation warning, at construction and call
        warnings.simplefilter("ignore")
        k = keras.layers.LayerNormalization(rms_scaling=True)
        expected = np.asarray(k(torch.tensor(x)).detach().cpu())
    np.testing.assert_allclose(g(torch.tensor(x)).detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_a_second_tensor_argument_stops_the_automatic_mask_but_not_its_propagation(keras):
    """Keras 3: an RNN called with initial_state has two tensor arguments, so the automatic mask is not
    passed into call (the LSTM runs every step), yet the first argument's mask still reaches the output and
    GlobalAveragePooling1D averages over the real steps only."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 6, 2)).astype(np.float32)
    x[0, :2], x[1, :4] = 0, 0  # pre-padded: run unmasked, the padded steps change the state
    h0, c0 = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((3, 4)).astype(np.float32)
    outs, models = [], []
    for L, I, M in ((layers, gn.Input, gn.Model), (keras.layers, keras.Input, keras.Model)):
        xi, hi, ci = I((6, 2)), I((4,)), I((4,))
        seq = L.LSTM(4, return_sequences=True)(L.Masking()(xi), initial_state=[hi, ci])
        models.append(M([xi, hi, ci], L.GlobalAveragePooling1D()(seq)))
    models[0].set_weights(models[1].get_weights())
    for m in models:
        outs.append(np.asarray(m([torch.tensor(x), torch.tensor(h0), torch.tensor(c0)]).detach().cpu()))
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-6)


class _TwoInputs(layers.Layer):
    """A layer taking two tensors, as MultiHeadAttention does: each tensor's mask arrives as <name>_mask."""

    supports_masking = True

    def call(self, query, value, query_mask=None, value_mask=None):
        self.seen = (query_mask, value_mask)
        return query + value.mean(dim=1, keepdim=True)

    def compute_output_shape(self, input_shape):
        return input_shape


def test_each_tensor_argument_gives_its_mask_to_its_own_parameter():
    q, v = gn.Input((4, 2)), gn.Input((3, 2))
    layer = _TwoInputs()
    out = layer(layers.Masking()(q), layers.Masking()(v))
    assert out.mask is not None  # the first argument's mask travels on
    model = gn.Model([q, v], out)
    xq, xv = torch.ones(2, 4, 2), torch.ones(2, 3, 2)
    xq[0, 3], xv[1, 0] = 0, 0
    _, masks = model.run([xq, xv])
    qm, vm = layer.seen
    np.testing.assert_array_equal(qm.numpy(), [[1, 1, 1, 0], [1, 1, 1, 1]])
    np.testing.assert_array_equal(vm.numpy(), [[1, 1, 1], [0, 1, 1]])
    np.testing.assert_array_equal(masks[0].numpy(), qm.numpy())
