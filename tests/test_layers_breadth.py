"""What the case table cannot show for the reshaping, transposed-convolution, activation, normalisation, noise,
adaptive-pooling, Identity and Dot layers: configs Keras reads both ways, Keras's output-size rule of transposed
convolutions over many settings, masked Softmax, SpectralNormalization's training step, the noise layers'
distributions in training, masks carried or dropped as Keras does, and every error message."""
import copy
import math
import re
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import glassnet as gn
from glassnet import activations, layers
from glassnet.dims import conv_transpose_output_length, symbol
from glassnet.layers import registry
from _harness import assert_close, compare_with_keras, pair
from cases import CASES

NEW_LAYERS = {
    "UpSampling1D", "UpSampling2D", "UpSampling3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D",
    "Cropping2D", "Cropping3D", "RepeatVector", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "ReLU",
    "LeakyReLU", "PReLU", "ELU", "Softmax", "GroupNormalization", "RMSNormalization", "UnitNormalization",
    "SpectralNormalization", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
    "GaussianDropout", "AlphaDropout", "AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D",
    "AdaptiveAveragePooling3D", "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D", "AdaptiveMaxPooling3D", "Identity",
    "Dot",
}
NEW_CASES = [c for c in CASES if type(c[1](layers)).__name__ in NEW_LAYERS]


def test_every_new_layer_has_rows_in_the_case_table():
    assert {type(c[1](layers)).__name__ for c in NEW_CASES} == NEW_LAYERS
    for name in NEW_LAYERS:
        assert registry.get(name) is getattr(layers, name)


def test_transposed_convolution_aliases():
    for alias, name in [("Convolution1DTranspose", "Conv1DTranspose"), ("Convolution2DTranspose", "Conv2DTranspose"),
                        ("Convolution3DTranspose", "Conv3DTranspose")]:
        assert getattr(layers, alias) is getattr(layers, name) is registry.get(alias)
        assert alias in layers.__all__


# ---------------------------------------------------------------------- configs both ways
def _comparable(config: dict) -> dict:
    """A config without what legitimately differs (name, dtype policy form, tuples vs lists)."""
    out = {}
    for key, value in config.items():
        if key in ("name", "dtype"):
            continue
        out[key] = _comparable(value) if isinstance(value, dict) else _lists(value)
    return out


def _lists(value):
    return [_lists(v) for v in value] if isinstance(value, (list, tuple)) else value


@pytest.mark.parametrize("case", NEW_CASES, ids=[c[0] for c in NEW_CASES])
def test_config_reads_both_ways(keras, case):
    """Keras builds the same layer from glassnet's config, and glassnet the same from Keras's; every key
    glassnet writes is one Keras knows (the regularizer/constraint keys it refuses are left out)."""
    _, factory, *_ = case
    g, k = factory(layers), factory(keras.layers)
    g_config, k_config = g.get_config(), k.get_config()
    extra = {"alpha"} if type(k).__name__ == "ELU" else set()  # Keras's ELU takes alpha but does not write it
    assert set(g_config) <= set(k_config) | extra
    from_ours = type(k).from_config(copy.deepcopy(g_config))
    assert _comparable(from_ours.get_config()) == _comparable(k_config)
    from_theirs = registry.deserialize({"class_name": type(k).__name__, "config": copy.deepcopy(k_config)})
    assert _comparable(from_theirs.get_config()) == _comparable(g_config)


def test_elu_alpha_survives_glassnet_files_and_keras_reads_it(keras):
    """Keras 3 leaves ELU's alpha out of its config; glassnet writes it and Keras honours it."""
    layer = keras.layers.ELU.from_config(layers.ELU(alpha=0.25).get_config())
    x = torch.tensor([-2.0, 1.0])
    assert_close(layer(x), layers.ELU(alpha=0.25)(x), "ELU")


# ---------------------------------------------------------------------- transposed convolutions
@settings(max_examples=60, deadline=None)
@given(length=st.integers(1, 9), k=st.integers(1, 5), s=st.integers(1, 4), d=st.integers(1, 3),
       padding=st.sampled_from(["valid", "same"]), op=st.one_of(st.none(), st.integers(0, 3)))
def test_transposed_output_length_is_keras_rule(keras, length, k, s, d, padding, op):
    """One rule for shapes and arithmetic: glassnet's symbolic length, at every concrete length, equals
    Keras's compute_output_shape and the length glassnet's call really produces; the values equal Keras's."""
    if s > 1 and d > 1:
        d = 1
    if op is not None and op >= s:
        op = s - 1
    kw = dict(strides=s, padding=padding, output_padding=op, dilation_rate=d)
    expected = keras.layers.Conv1DTranspose(2, k, **kw).compute_output_shape((None, length, 3))[1]
    formula = conv_transpose_output_length(symbol("T"), k, s, padding, op, d)
    assert int(formula.subs(symbol("T"), length)) == expected == conv_transpose_output_length(length, k, s, padding, op, d)
    if expected <= 0:
        with pytest.raises(gn.ShapeError, match="would output an empty steps"):
            layers.Conv1DTranspose(2, k, **kw)(gn.Input((length, 3)))
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Keras's own "inconsistencies across backends" notice
        g, km = pair(keras, layers.Conv1DTranspose(2, k, **kw), keras.layers.Conv1DTranspose(2, k, **kw), [(length, 3)])
        x = np.random.default_rng(length * 7 + k).standard_normal((2, length, 3)).astype(np.float32)
        out = compare_with_keras(g, km, [x])
    assert out[0].shape[1] == expected


def test_transposed_convolution_symbolic_shape_and_cost():
    model = gn.Sequential([gn.Input((None, None, 3)), layers.Conv2DTranspose(8, 3, strides=2, name="up")])
    assert model.output_shape == (None, None, None, 8)
    row = gn.analyze(model).row("up")
    assert row.output_shape == "(None, 2·H+1, 2·W+1, 8)"
    assert row.params_formula == "k·k·f·c + f = 3·3·8·3 + 8" and row.params == 224
    assert row.macs_formula == "8·3·3·3·H·W"  # one k×k×f window per input position and channel
    assert gn.analyze(model, input_shape=(2, 5, 7, 3)).row("up").macs == 2 * 8 * 9 * 3 * 35


def test_transposed_convolution_kernel_layout_is_keras():
    layer = layers.Conv2DTranspose(5, (2, 3))
    layer(gn.Input((4, 4, 7)))
    assert tuple(layer.kernel.shape) == (2, 3, 5, 7) and tuple(layer.bias.shape) == (5,)


def _measured_extents(model, shape):
    """Largest number of input positions any output position depends on, per axis (linear, positive weights)."""
    for w in model.weights:
        with torch.no_grad():
            w.copy_(torch.rand_like(w) + 0.1)
    x = torch.rand(1, *shape, requires_grad=True)
    y = model(x)
    best = [0] * (len(shape) - 1)
    for position in np.ndindex(*y.shape[1:-1]):
        x.grad = None
        y[(0, *position, 0)].backward(retain_graph=True)
        hit = x.grad[0, ..., 0].abs() > 0
        for axis in range(hit.ndim):
            idx = torch.nonzero(hit.any(dim=tuple(i for i in range(hit.ndim) if i != axis)) if hit.ndim > 1 else hit)
            best[axis] = max(best[axis], int(idx.max() - idx.min() + 1))
    return tuple(best)


@pytest.mark.parametrize("build", [
    lambda: [layers.Conv1D(1, 3), layers.UpSampling1D(2), layers.Conv1D(1, 3)],
    lambda: [layers.Conv1DTranspose(1, 4, strides=2)],
    lambda: [layers.Conv1DTranspose(1, 5, strides=2, padding="same"), layers.Conv1D(1, 2)],
    lambda: [layers.Conv1D(1, 3, strides=2), layers.Conv1DTranspose(1, 3, strides=2)],
], ids=["conv_upsample_conv", "transpose_k4_s2", "transpose_same_then_conv", "conv_s2_then_transpose_s2"])
def test_receptive_field_through_upsampling_matches_measurement(build):
    """Upsampling layers step the receptive field by a fraction of an input position (jump/stride); the
    report shows the number of input positions an output reads, the whole part of that size."""
    model = gn.Sequential([gn.Input((24, 1)), *build()])
    size = gn.analyze(model).rows[-1].receptive_field[0]
    assert isinstance(size, int) and size == _measured_extents(model, (24, 1))[0]


# ---------------------------------------------------------------------- activations and activation layers
@pytest.mark.parametrize("name,kwargs", [
    ("celu", {"alpha": 0.5}), ("glu", {"axis": 1}), ("hard_shrink", {"threshold": 0.3}),
    ("soft_shrink", {"threshold": 0.7}), ("squareplus", {"b": 2.0}), ("sparsemax", {"axis": 1}),
    ("threshold", {"threshold": 0.2, "default_value": -1.0}), ("leaky_relu", {"negative_slope": 0.05}),
    ("sparse_plus", {}), ("sparse_sigmoid", {}), ("hard_tanh", {}), ("tanh_shrink", {}), ("log_sigmoid", {}),
])
def test_activation_functions_with_arguments_match_keras(keras, name, kwargs):
    x = torch.tensor(np.random.default_rng(0).standard_normal((3, 4, 6)) * 1.5, dtype=torch.float32)
    assert_close(activations.get(name)(x, **kwargs), getattr(keras.activations, name)(x, **kwargs), name)


def test_every_keras_activation_is_known_with_its_cost(keras):
    names = {n for n in dir(keras.activations) if not n.startswith("_")} - {"get", "serialize", "deserialize"}
    assert names <= set(activations.ACTIVATIONS) and names <= set(activations.ELEMENTWISE_FLOPS)


def test_glu_halves_the_last_axis(keras):
    """Keras 3 computes glu's halved output but reports the input's shape; glassnet reports what it computes."""
    layer = layers.Activation("glu")
    assert layer(gn.Input((4, 6))).shape == (None, 4, 3)
    x = torch.randn(2, 4, 6)
    assert_close(layer(x), keras.layers.Activation("glu")(x), "glu")
    with pytest.raises(gn.ShapeError, match=re.escape(
            "Activation 'odd' applies glu, which splits the last axis in two halves, so it needs an even size there. "
            "Received: input shape (None, 4, 5).")):
        layers.Activation("glu", name="odd")(gn.Input((4, 5)))


def test_threshold_by_name_is_refused():
    with pytest.raises(gn.ConfigError, match=re.escape(
            "Activation 'thr' cannot apply 'threshold' by name: it needs threshold and default_value. Received: "
            "activation='threshold'. Use layers.ReLU(threshold=...) or a Lambda with the arguments.")):
        layers.Activation("threshold", name="thr")


def test_relu_arguments_are_checked():
    with pytest.raises(gn.ConfigError, match=r"ReLU 'r': the `max_value` argument must be a number in \[0, inf\)\. "
                                             r"Received: max_value=-1"):
        layers.ReLU(max_value=-1, name="r")
    with pytest.raises(gn.ConfigError, match=r"the `negative_slope` argument must be a number"):
        layers.LeakyReLU(negative_slope=-0.1)


def test_leaky_relu_accepts_keras_2_alpha_with_keras_warning():
    with pytest.warns(gn.GlassnetWarning, match=r"Argument `alpha` is deprecated\. Use `negative_slope` instead\."):
        layer = layers.LeakyReLU(alpha=0.1)
    assert layer.negative_slope == 0.1


def test_prelu_needs_fixed_unshared_axes():
    with pytest.raises(gn.ShapeError, match=r"PReLU 'p' needs a fixed size on axis 1 \(one slope per element\)"):
        layers.PReLU(name="p")(gn.Input((None, 3)))
    layer = layers.PReLU(shared_axes=1)
    assert layer(gn.Input((None, 3))).shape == (None, None, 3) and tuple(layer.alpha.shape) == (1, 3)
    assert layer(torch.randn(2, 7, 3)).shape == (2, 7, 3)


def _masked_scores(rng):
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    mask = rng.random((3, 1, 5)) > 0.4
    mask[0] = False  # one sample fully masked: zeros, not a uniform distribution
    return x, mask


@pytest.mark.parametrize("axis", [-1, [1, 2]])
def test_masked_softmax_matches_keras(keras, axis):
    """Keras's masked softmax: -1e9 on masked logits, zeros at masked outputs; outputs and gradients agree."""
    x, mask = _masked_scores(np.random.default_rng(1))
    xg, xk = torch.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yg = layers.Softmax(axis=axis)(xg, mask=torch.tensor(mask))
    yk = keras.layers.Softmax(axis=axis)(xk, mask=torch.tensor(mask))
    assert_close(yg, yk, "masked softmax")
    assert float(yg[0].detach().abs().sum()) == 0.0
    r = torch.randn(yg.shape)
    (yg * r).sum().backward()
    (yk * r).sum().backward()
    assert_close(xg.grad, xk.grad, "gradient")
    float_mask = torch.tensor(mask, dtype=torch.float32)  # non-boolean masks keep values > 0.5, as in Keras
    assert_close(layers.Softmax(axis=axis)(torch.tensor(x), mask=float_mask), yk, "float mask")


def test_softmax_mask_must_broadcast():
    with pytest.raises(gn.ShapeError, match=re.escape(
            "Softmax 'sm' needs a mask broadcastable to its input (aligned at the last axis, each mask axis 1 or equal "
            "to the input's, no more axes than the input). Received: input shape (2, 4, 5), mask shape (2, 4).")):
        layers.Softmax(name="sm")(torch.randn(2, 4, 5), mask=torch.ones(2, 4, dtype=torch.bool))

def test_softmax_refuses_a_graph_mask_it_cannot_broadcast_at_build(keras):
    """A (batch, steps) mask beside (batch, steps, features) logits lines its batch axis up with the steps:
    Keras fails when the model runs; glassnet when it is built."""
    k_model = keras.Model(k_in := keras.Input((6, 6)), keras.layers.Softmax()(keras.layers.Masking()(k_in)))
    with pytest.raises(ValueError, match="must be broadcastable"):
        k_model(np.ones((2, 6, 6), np.float32))
    with pytest.raises(gn.ShapeError, match=re.escape(
            "Softmax 'sm2' needs a mask broadcastable to its input (aligned at the last axis, each mask axis 1 or "
            "equal to the input's, no more axes than the input). Received: input shape (None, 6, 6), mask shape "
            "(None, 6).")):
        layers.Softmax(name="sm2")(layers.Masking()(gn.Input((6, 6))))


# ---------------------------------------------------------------------- normalisation
def test_spectral_normalization_training_step_matches_keras(keras):
    """In training the kernel is overwritten with kernel/σ (power iteration from vector_u) before the wrapped
    layer runs; outputs, gradients, the new kernel and the new vector_u agree with Keras."""
    for power_iterations in (1, 3):
        g, k = pair(keras, layers.SpectralNormalization(layers.Dense(5), power_iterations=power_iterations),
                    keras.layers.SpectralNormalization(keras.layers.Dense(5), power_iterations=power_iterations), [(4,)])
        x = np.random.default_rng(power_iterations).standard_normal((3, 4)).astype(np.float32)
        compare_with_keras(g, k, [x], training=True)
        for a, b in zip(g.get_weights(), k.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    wrapper = g.layers[-1]
    assert [w.shape for w in wrapper.weights] == [(4, 5), (1, 5), (5,)]  # kernel, vector_u, bias (Keras's order)


def test_spectral_normalization_drives_the_spectral_norm_to_one():
    layer = layers.SpectralNormalization(layers.Conv2D(4, 3), power_iterations=2)
    layer(gn.Input((8, 8, 3)))
    with torch.no_grad():
        layer.layer.kernel.mul_(5.0)
    x = torch.randn(2, 8, 8, 3)
    inference = layer(x)
    assert torch.equal(layer(x), inference)  # inference leaves the kernel alone
    for _ in range(20):
        layer(x, training=True)
    sigma = torch.linalg.matrix_norm(layer.layer.kernel.detach().reshape(-1, 4), ord=2)
    assert float(sigma) == pytest.approx(1.0, abs=1e-4)


def test_spectral_normalization_leaves_a_zero_kernel_and_refuses_a_layer_without_kernel():
    layer = layers.SpectralNormalization(layers.Dense(3, kernel_initializer="zeros"))
    layer(gn.Input((2,)))
    u = layer.vector_u.clone()
    layer(torch.randn(4, 2), training=True)
    assert torch.equal(layer.vector_u, u) and not layer.layer.kernel.any()
    with pytest.raises(gn.ConfigError, match=r"SpectralNormalization 'sn' wraps LayerNormalization 'ln', which has "
                                             r"neither a kernel nor embeddings to normalise\. Wrap a Dense"):
        layers.SpectralNormalization(layers.LayerNormalization(name="ln"), name="sn")(gn.Input((3,)))


def test_group_normalization_errors():
    with pytest.raises(gn.ShapeError, match=re.escape(
            "GroupNormalization 'g' splits its 6 channels into groups=4, so the channels must be a multiple of the "
            "groups. Received: input shape (None, 5, 6). Choose groups that divides the number of channels.")):
        layers.GroupNormalization(groups=4, name="g")(gn.Input((5, 6)))
    with pytest.raises(gn.ConfigError, match=r"the `groups` argument must be a positive integer\. Received: groups=0"):
        layers.GroupNormalization(groups=0)


@pytest.mark.parametrize("factory,keeps", [
    (lambda L: L.GroupNormalization(groups=1), True), (lambda L: L.UnitNormalization(), True),
    (lambda L: L.RMSNormalization(), False), (lambda L: L.ReLU(), True), (lambda L: L.PReLU(), True),
    (lambda L: L.ELU(), True), (lambda L: L.LeakyReLU(), True), (lambda L: L.Identity(), True), (lambda L: L.GaussianNoise(0.1), True),
    (lambda L: L.AlphaDropout(0.1), True), (lambda L: L.SpatialDropout1D(0.1), True),
    (lambda L: L.UpSampling1D(2), False), (lambda L: L.ZeroPadding1D(1), False), (lambda L: L.Cropping1D(1), False),
    (lambda L: L.AdaptiveAveragePooling1D(2), False), (lambda L: L.Conv1DTranspose(2, 3), False),
    (lambda L: L.SpectralNormalization(L.Dense(2)), False),
], ids=["groupnorm", "unitnorm", "rmsnorm", "relu", "prelu", "elu", "leaky_relu", "identity", "gaussian_noise", "alpha_dropout",
        "spatial_dropout", "upsampling", "zeropadding", "cropping", "adaptive_pooling", "conv_transpose",
        "spectralnorm"])
def test_masks_carried_or_dropped_as_in_keras(keras, factory, keeps):
    """The same layer after Masking: glassnet keeps the mask exactly where Keras 3 does, and warns where
    Keras drops it."""
    with warnings.catch_warnings(record=True) as keras_caught:
        warnings.simplefilter("always")
        k_out = factory(keras.layers)(keras.layers.Masking()(keras.Input((6, 4))))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = factory(layers)(layers.Masking()(gn.Input((6, 4))))
    assert (out.mask is not None) == keeps == (getattr(k_out, "_keras_mask", None) is not None)
    for warned in (caught, keras_caught):
        assert any("destroy the mask" in str(w.message) for w in warned) == (not keeps)


def test_dot_takes_a_mask_and_outputs_none_without_warning():
    inp = gn.Input((5,), dtype="int32")
    seq = layers.Embedding(10, 4, mask_zero=True)(inp)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = layers.Dot(axes=2)([seq, seq])
    assert out.mask is None and out.shape == (None, 5, 5)
    rows = gn.analyze(gn.Model(inp, out)).rows
    assert rows[-1].mask_effect == "consumed"


def test_dot_errors():
    with pytest.raises(gn.ShapeError, match=re.escape(
            "Dot 'd' needs the contracted axes to have one size, but axis 2 of the first input has 5 and axis 2 of "
            "the second has 6. Received: input shapes (None, 4, 5), (None, 4, 6), axes=2.")):
        layers.Dot(axes=2, name="d")([gn.Input((4, 5)), gn.Input((4, 6))])
    with pytest.raises(gn.ShapeError, match=r"Dot 'd2' should be called on a list of 2 inputs\. Received: 3 input\(s\)"):
        layers.Dot(axes=1, name="d2")([gn.Input((4,)), gn.Input((4,)), gn.Input((4,))])
    with pytest.raises(gn.ShapeError, match=r"Dot 'd3' contracts axes 0, which must be non-batch axes of both inputs"):
        layers.Dot(axes=0, name="d3")([gn.Input((4,)), gn.Input((4,))])
    with pytest.raises(gn.ConfigError, match=r"Dot 'd4' takes axes as an int or a list of two ints\. Received: axes=\[1\]"):
        layers.Dot(axes=[1], name="d4")


# ---------------------------------------------------------------------- reshaping errors
def test_reshaping_errors():
    with pytest.raises(gn.ShapeError, match=re.escape(
            "Cropping2D 'c' crops 3+3 from the width, which leaves nothing of it. Received: input shape "
            "(None, 8, 6, 1), cropping=[[1, 1], [3, 3]]. Crop less than the input's size.")):
        layers.Cropping2D(((1, 1), (3, 3)), name="c")(gn.Input((8, 6, 1)))
    with pytest.raises(gn.ShapeError, match=r"RepeatVector 'r' expects input of rank 2 \(batch, features\)\. "
                                            r"Received: input shape \(None, 3, 4\)\. Flatten or pool"):
        layers.RepeatVector(2, name="r")(gn.Input((3, 4)))
    with pytest.raises(gn.ConfigError, match=r"the `interpolation` argument must be one of 'nearest', 'bilinear', "
                                             r"'bicubic'\. Received: interpolation='lanczos3'"):
        layers.UpSampling2D(interpolation="lanczos3")
    with pytest.raises(gn.ConfigError, match=r"the `padding` argument must be an int, a tuple of 2 ints or a tuple of 2 "
                                             r"pairs of ints\. Received: padding=\(1, 2, 3\)"):
        layers.ZeroPadding2D((1, 2, 3))
    with pytest.raises(gn.ConfigError, match=r"needs each output_padding strictly less than the stride"):
        layers.Conv2DTranspose(2, 3, strides=2, output_padding=2)
    with pytest.raises(gn.ConfigError, match=r"the `padding` argument must be one of 'valid', 'same'"):
        layers.Conv1DTranspose(2, 3, padding="causal")
    with pytest.raises(gn.ConfigError, match=r"`strides > 1` not supported in conjunction with `dilation_rate > 1`"):
        layers.Conv2DTranspose(2, 3, strides=2, dilation_rate=2)


def test_symbolic_sizes_of_reshaping_layers():
    inp = gn.Input((None, None, 3))
    shapes = [layers.UpSampling2D((2, 3))(inp), layers.ZeroPadding2D(((1, 2), (0, 1)))(inp),
              layers.Cropping2D(((1, 1), (2, 0)))(inp), layers.AdaptiveMaxPooling2D((4, 5))(inp)]
    model = gn.Model(inp, shapes)
    assert [r.output_shape for r in gn.analyze(model).rows[1:]] == [
        "(None, 2·H, 3·W, 3)", "(None, H+3, W+1, 3)", "(None, H-2, W-2, 3)", "(None, 4, 5, 3)"]
    outs = model(torch.randn(2, 7, 9, 3))
    assert [tuple(o.shape) for o in outs] == [(2, 14, 27, 3), (2, 10, 10, 3), (2, 5, 7, 3), (2, 4, 5, 3)]


def test_adaptive_pooling_cost_counts_shared_elements():
    """Bins [⌊iL/n⌋, ⌈(i+1)L/n⌉) overlap when n does not divide L: 7 steps in 3 bins read 3+3+3 = 9."""
    model = gn.Sequential([gn.Input((None, 2)), layers.AdaptiveAveragePooling1D(3, name="p")])
    assert gn.analyze(model, input_shape=(1, 7, 2)).row("p").other_flops == 2 * 9
    assert gn.analyze(model, input_shape=(1, 9, 2)).row("p").other_flops == 2 * 9
    assert gn.analyze(model).row("p").receptive_field == ("whole input",)


# ---------------------------------------------------------------------- noise in training
def test_noise_layers_are_the_identity_in_inference():
    x = torch.randn(4, 5, 6, 3)
    for layer in (layers.SpatialDropout2D(0.5), layers.GaussianNoise(0.5), layers.GaussianDropout(0.5),
                  layers.AlphaDropout(0.5)):
        assert torch.equal(layer(x), x) and torch.equal(layer(x, training=False), x)
    model = gn.Sequential([gn.Input((5, 6, 3)), layers.GaussianNoise(0.5)])
    assert torch.equal(model(x), x) and not torch.equal(model(x, training=True), x)


def test_gaussian_noise_and_dropout_distributions(keras):
    ones = torch.ones(200_000)
    noise = layers.GaussianNoise(0.3)(ones, training=True) - 1
    assert float(noise.mean()) == pytest.approx(0, abs=0.005) and float(noise.std()) == pytest.approx(0.3, rel=0.01)
    factor = layers.GaussianDropout(0.2)(ones, training=True)
    assert float(factor.mean()) == pytest.approx(1, abs=0.005)
    assert float(factor.std()) == pytest.approx(math.sqrt(0.2 / 0.8), rel=0.01)
    keras_factor = keras.layers.GaussianDropout(0.2)(ones, training=True)
    assert float(keras_factor.std()) == pytest.approx(float(factor.std()), rel=0.02)


def test_alpha_dropout_keeps_mean_and_variance_with_keras_affine_map(keras):
    """Kept elements become a·x + b, dropped ones a·(-alpha·scale) + b, with Keras's a and b; a SELU-normalised
    input keeps mean 0 and variance 1."""
    rate = 0.3
    x = torch.randn(400_000)
    ours = layers.AlphaDropout(rate)(x, training=True)
    theirs = keras.layers.AlphaDropout(rate)(x, training=True)
    a, b, alpha_p = _alpha_affine(rate)
    for out in (ours, torch.as_tensor(theirs)):
        dropped = torch.isclose(out, torch.tensor(a * alpha_p + b), atol=1e-6)
        kept = torch.isclose(out, a * x + b, atol=1e-5)
        assert bool((dropped | kept).all())
        assert float(dropped.float().mean()) == pytest.approx(rate, abs=0.005)
    assert float(ours.mean()) == pytest.approx(0, abs=0.01) and float(ours.var()) == pytest.approx(1, abs=0.01)
    shared = layers.AlphaDropout(0.5, noise_shape=(None, 1, None))(torch.randn(8, 10, 3), training=True)
    a, b, alpha_p = _alpha_affine(0.5)
    dropped = torch.isclose(shared, torch.tensor(a * alpha_p + b), atol=1e-6)
    assert bool((dropped == dropped[:, :1, :]).all())  # one draw shared along axis 1


def _alpha_affine(rate):
    """(a, b, -alpha·scale) of AlphaDropout, from SELU's constants (Klambauer et al., 2017)."""
    alpha_p = -1.6732632423543772848170429916717 * 1.0507009873554804934193349852946
    a = ((1 - rate) * (1 + rate * alpha_p ** 2)) ** -0.5
    return a, -a * alpha_p * rate, alpha_p


@pytest.mark.parametrize("factory,shape,channel_axis", [
    (lambda L: L.SpatialDropout1D(0.4), (64, 9, 32), 2),
    (lambda L: L.SpatialDropout2D(0.4), (64, 5, 6, 32), 3),
    (lambda L: L.SpatialDropout2D(0.4, data_format="channels_first"), (64, 32, 5, 6), 1),
    (lambda L: L.SpatialDropout3D(0.4), (64, 3, 4, 5, 32), 4),
], ids=["1d", "2d", "2d_channels_first", "3d"])
def test_spatial_dropout_drops_whole_channels_like_keras(keras, factory, shape, channel_axis):
    x = torch.rand(shape) + 0.5  # no zeros of its own
    for out in (factory(layers)(x, training=True), torch.as_tensor(factory(keras.layers)(x, training=True))):
        reduce = tuple(i for i in range(1, len(shape)) if i != channel_axis)
        zero = (out == 0)
        assert bool((zero.all(dim=reduce) | ~zero.any(dim=reduce)).all())  # a channel is dropped whole or not at all
        kept = ~zero
        torch.testing.assert_close(out[kept], x[kept] / 0.6)
        assert float(zero.all(dim=reduce).float().mean()) == pytest.approx(0.4, abs=0.05)


def test_noise_repeats_under_torch_seed():
    x = torch.randn(3, 8, 4)
    for layer in (layers.SpatialDropout1D(0.5), layers.GaussianNoise(0.2), layers.GaussianDropout(0.2),
                  layers.AlphaDropout(0.2)):
        torch.manual_seed(5)
        first = layer(x, training=True)
        torch.manual_seed(5)
        assert torch.equal(layer(x, training=True), first)


def test_noise_arguments_are_checked():
    with pytest.raises(gn.ConfigError, match=r"GaussianNoise 'n': the `stddev` argument must be a number in \[0, 1\]\. "
                                             r"Received: stddev=1\.5"):
        layers.GaussianNoise(1.5, name="n")
    with pytest.raises(gn.ConfigError, match=r"the `rate` argument must be a number in \[0, 1\)\. Received: rate=1"):
        layers.AlphaDropout(1)
    with pytest.raises(gn.ConfigError, match=r"the `seed` argument must be an int or None\. Received: seed='a'"):
        layers.SpatialDropout1D(0.1, seed="a")


# ---------------------------------------------------------------------- adaptive pooling bins
@settings(max_examples=40, deadline=None)
@given(length=st.integers(1, 13), bins=st.integers(1, 6), kind=st.sampled_from(["Average", "Max"]))
def test_adaptive_pooling_bins_are_keras(keras, length, bins, kind):
    """Bin i covers [⌊i·L/n⌋, ⌈(i+1)·L/n⌉), as Keras 3.15 pools on every backend, for L above and below n."""
    name = f"Adaptive{kind}Pooling1D"
    x = np.random.default_rng(length * 13 + bins).standard_normal((2, length, 3)).astype(np.float32)
    ours = getattr(layers, name)(bins)(torch.tensor(x))
    assert_close(ours, getattr(keras.layers, name)(bins)(torch.tensor(x)), name)
    reduce = np.max if kind == "Max" else np.mean
    starts_ends = gn.dims.adaptive_bins(length, bins)
    assert starts_ends == [((i * length) // bins, math.ceil((i + 1) * length / bins)) for i in range(bins)]
    expected = np.stack([reduce(x[:, s:e], axis=1) for s, e in starts_ends], axis=1)
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-6, atol=1e-6)


def test_adaptive_pooling_traced_by_torch_export_keeps_any_size():
    """Under torch.export (ONNX, torch.compile) the bins stay symbolic in the input size: one exported program
    pools other sizes as torch's adaptive kernels do (sizes whose bins are all wider than one element, the
    case torch.export traces and guards here; the ONNX tests run the others)."""
    model = gn.Sequential([gn.Input((None, None, 2)), layers.AdaptiveMaxPooling2D((3, 2)),
                           layers.AdaptiveAveragePooling2D((2, 2))])
    dims = {0: torch.export.Dim.AUTO, 1: torch.export.Dim.AUTO, 2: torch.export.Dim.AUTO}
    exported = torch.export.export(model, (torch.randn(2, 11, 13, 2),), dynamic_shapes=(dims,)).module()
    for shape in [(2, 11, 13, 2), (3, 7, 5, 2), (2, 30, 17, 2), (1, 64, 9, 2)]:
        x = torch.randn(shape)
        torch.testing.assert_close(exported(x), model(x))


def test_noise_is_drawn_on_the_input_device():
    """Training-mode noise lives where the input lives (here the meta device; CUDA the same way)."""
    x = torch.empty(2, 3, 4, 5, device="meta")
    for layer in (layers.SpatialDropout2D(0.5), layers.GaussianNoise(0.5), layers.GaussianDropout(0.5),
                  layers.AlphaDropout(0.5), layers.AlphaDropout(0.5, noise_shape=(None, 1, 1, None))):
        assert layer(x, training=True).device.type == "meta"
    softmax = layers.Softmax()(torch.empty(2, 4, device="meta"), mask=torch.ones(2, 4, dtype=torch.bool, device="meta"))
    assert softmax.device.type == "meta"
