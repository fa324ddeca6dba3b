"""The colour and intensity augmentation layers against Keras 3 (torch backend).

Deterministic settings (a fixed brightness offset, grayscale with probability 1, a fixed number of bits, the
histogram layers...) are compared value for value through the layers' calls, with input gradients; the random
layers are also compared by handing the same transformation to both ``transform_images``; random draws are
compared with Keras's by their ranges and quantiles. Then: seeds repeat, ``training=False`` is the identity
(AutoContrast and CLAHE work at inference, as in Keras), ``value_range`` is honoured, float64 ``gradcheck`` on the
differentiable ones, configs both ways, the cost rule, errors, and a Keras file both ways."""
import copy
import json

import numpy as np
import pytest
import torch

import glassnet as gn
from glassnet import layers
from glassnet.layers import registry
from _harness import assert_close, compare_with_keras, pair

CLAHE = "ContrastLimitedAdaptiveHistogramEqualization"


def _images(shape, value_range=(0, 255), seed=0, batch=3):
    low, high = value_range
    return np.random.default_rng(seed).uniform(low, high, (batch, *shape)).astype(np.float32)


# id, factory (the same code builds both twins), per-sample shape, value range of the inputs, compare gradients
DETERMINISTIC = [
    # Keras adds the brightness in place on its input, which autograd refuses for a leaf: outputs only here
    ("brightness", lambda L: L.RandomBrightness((0.3, 0.3)), (5, 6, 3), (0, 255), False),
    ("brightness_down_unit", lambda L: L.RandomBrightness((-0.4, -0.4), value_range=(0, 1)), (5, 6, 3), (0, 1),
     False),
    ("degeneration", lambda L: L.RandomColorDegeneration((0.6, 0.6)), (5, 6, 3), (0, 255), True),
    ("degeneration_saturates_cf", lambda L: L.RandomColorDegeneration((-0.5, -0.5), data_format="channels_first"),
     (3, 5, 6), (0, 255), True),
    ("grayscale", lambda L: L.RandomGrayscale(1.0), (5, 6, 3), (0, 255), True),
    ("grayscale_cf", lambda L: L.RandomGrayscale(1.0, data_format="channels_first"), (3, 4, 6), (0, 255), True),
    ("saturation", lambda L: L.RandomSaturation((0.3, 0.3)), (5, 6, 3), (0, 255), True),
    ("saturation_up_unit_cf", lambda L: L.RandomSaturation((0.7, 0.7), value_range=(0, 1),
                                                           data_format="channels_first"), (3, 5, 4), (0, 1), True),
    ("sharpness", lambda L: L.RandomSharpness((0.8, 0.8)), (5, 6, 3), (0, 255), True),
    ("smoothing_cf", lambda L: L.RandomSharpness((0.2, 0.2), data_format="channels_first"), (2, 5, 6), (0, 255),
     True),
    ("invert", lambda L: L.RandomInvert((1.0, 1.0)), (5, 6, 3), (0, 255), True),
    ("invert_unit", lambda L: L.RandomInvert((1.0, 1.0), value_range=(0, 1)), (4, 4, 1), (0, 1), True),
    ("posterization", lambda L: L.RandomPosterization((3, 3)), (5, 6, 3), (0, 255), False),
    ("posterization_unit", lambda L: L.RandomPosterization((5, 5), value_range=(0, 1)), (5, 6, 3), (0, 1), False),
    ("solarization_inverts", lambda L: L.Solarization(), (5, 6, 3), (0, 255), True),
    ("solarization_signed", lambda L: L.Solarization(value_range=(-1, 1)), (5, 6, 3), (-1, 1), True),
    ("blur", lambda L: L.RandomGaussianBlur(factor=(1.0, 1.0), sigma=(0.8, 0.8)), (5, 6, 3), (0, 255), True),
    ("blur5_cf", lambda L: L.RandomGaussianBlur(factor=(1.0, 1.0), kernel_size=5, sigma=(0.5, 0.5),
                                                data_format="channels_first"), (3, 7, 6), (0, 255), True),
    ("blur_narrow", lambda L: L.RandomGaussianBlur(factor=(1.0, 1.0), kernel_size=5, sigma=(0.2, 0.2)), (6, 6, 3),
     (0, 255), True),  # corner weights below the smallest normal float, set to 0 in glassnet
    ("auto_contrast", lambda L: L.AutoContrast(), (5, 6, 3), (0, 255), True),
    ("auto_contrast_unit", lambda L: L.AutoContrast(value_range=(0, 1)), (5, 6, 2), (0, 1), True),
    ("equalization", lambda L: L.Equalization(), (5, 6, 3), (0, 255), False),
    ("equalization_bins_unit", lambda L: L.Equalization(bins=32, value_range=(0, 1)), (5, 6, 3), (0, 1), False),
    ("equalization_cf", lambda L: L.Equalization(data_format="channels_first"), (3, 5, 6), (0, 255), False),
    ("clahe", lambda L: getattr(L, CLAHE)(tile_grid_size=(2, 3)), (8, 9, 3), (0, 255), False),
    ("clahe_padded_cf", lambda L: getattr(L, CLAHE)(tile_grid_size=(3, 4), data_format="channels_first"),
     (2, 7, 9), (0, 255), False),
    ("clahe_unlimited_unit", lambda L: getattr(L, CLAHE)(value_range=(0, 1), clip_limit=0, tile_grid_size=(2, 2)),
     (6, 6, 3), (0, 1), False),
]
DET_IDS = [c[0] for c in DETERMINISTIC]


@pytest.mark.filterwarnings("ignore:Tensor.T is deprecated")  # inside Keras's Equalization
@pytest.mark.parametrize("case", DETERMINISTIC, ids=DET_IDS)
def test_deterministic_settings_match_keras(keras, case):
    """Layer calls in training (Keras cannot put Equalization in a functional model: its symbolic output is
    its input), outputs and input gradients."""
    _, factory, shape, value_range, grads = case
    g, k = factory(layers), factory(keras.layers)
    x = _images(shape, value_range)
    x[0, ..., 0] = value_range[0] + 0.25 * (value_range[1] - value_range[0])  # a constant channel
    xg, xk = (torch.tensor(x, requires_grad=grads) for _ in range(2))
    yg, yk = g(xg, training=True), k(xk, training=True)
    assert_close(yg, yk, "output")
    if grads:
        r = torch.tensor(np.random.default_rng(1).standard_normal(x.shape), dtype=torch.float32)
        (yg * r).sum().backward()
        (yk * r).sum().backward()
        assert_close(xg.grad, xk.grad, "input gradient")


def _t(values, dtype=torch.float32, shape=(-1,)):
    return torch.tensor(values, dtype=dtype).reshape(shape)


# id, factory, per-sample shape, value range, the transformation both layers are given
TRANSFORMED = [
    ("contrast", lambda L: L.RandomContrast(0.5), (5, 6, 3), (0, 255),
     {"contrast_factor": _t([0.3, 1.7, 1.0], shape=(-1, 1, 1, 1))}),
    ("contrast_unit_cf", lambda L: L.RandomContrast((0.9, 0.9), value_range=(0, 1), data_format="channels_first"),
     (3, 5, 6), (0, 1), {"contrast_factor": _t([0.1, 1.9, 1.2], shape=(-1, 1, 1, 1))}),
    ("brightness", lambda L: L.RandomBrightness(0.5), (5, 6, 3), (0, 255),
     {"rgb_delta": _t([-40.0, 0.0, 90.0], shape=(-1, 1, 1, 1))}),
    ("degeneration", lambda L: L.RandomColorDegeneration(1.0), (5, 6, 3), (0, 255),
     {"factor": _t([-0.5, 0.2, 1.0], shape=(-1, 1, 1, 1))}),
    ("grayscale", lambda L: L.RandomGrayscale(), (5, 6, 3), (0, 255),
     {"should_apply": _t([True, False, True], torch.bool, (-1, 1, 1, 1))}),
    ("hue", lambda L: L.RandomHue(0.9), (5, 6, 3), (0, 255), {"factor": _t([-0.3, 0.2, 0.45])}),
    ("hue_unit_cf", lambda L: L.RandomHue(0.9, value_range=(0, 1), data_format="channels_first"), (3, 4, 5), (0, 1),
     {"factor": _t([0.05, -0.45, 0.3])}),
    ("saturation", lambda L: L.RandomSaturation(0.9), (5, 6, 3), (0, 255), {"factor": _t([0.0, 0.5, 3.0])}),
    ("sharpness", lambda L: L.RandomSharpness(1.0), (5, 6, 3), (0, 255), {"factor": _t([0.0, 0.5, 1.0])}),
    ("invert", lambda L: L.RandomInvert(), (5, 6, 3), (0, 255),
     {"apply_inversion": _t([True, False, True], torch.bool)}),
    ("posterization", lambda L: L.RandomPosterization(8), (5, 6, 3), (0, 255),
     {"shift_factor": _t([7, 4, 1], torch.uint8)}),
    ("solarization", lambda L: L.Solarization(0.5, 0.8), (5, 6, 3), (0, 255),
     {"additions": _t([0.0, 30.0, 100.0], shape=(-1, 1, 1, 1)),
      "thresholds": _t([50.0, 128.0, 200.0], shape=(-1, 1, 1, 1))}),
    ("solarization_signed", lambda L: L.Solarization(0.5, 0.8, value_range=(-1, 1)), (5, 6, 3), (-1, 1),
     {"additions": _t([10.0, 0.0, 60.0], shape=(-1, 1, 1, 1)),
      "thresholds": _t([100.0, 20.0, 250.0], shape=(-1, 1, 1, 1))}),
    ("blur", lambda L: L.RandomGaussianBlur(kernel_size=5), (6, 7, 3), (0, 255),
     {"should_apply_blur": _t([True, False, True], torch.bool), "blur_factor": _t([0.4, 1.3])}),
]
TR_IDS = [c[0] for c in TRANSFORMED]
NOT_DIFFERENTIABLE = {"posterization"}


@pytest.mark.parametrize("case", TRANSFORMED, ids=TR_IDS)
def test_a_given_transformation_matches_keras(keras, case):
    """Both layers' ``transform_images`` on the same images and the same draws: the same values, and (where the
    operation is differentiable) the same input gradients."""
    name, factory, shape, value_range, transformation = case
    g, k = factory(layers), factory(keras.layers)
    x = _images(shape, value_range)
    xg, xk = (torch.tensor(x, requires_grad=name not in NOT_DIFFERENTIABLE) for _ in range(2))
    yg = g.transform_images(xg, copy.deepcopy(transformation))
    theirs = copy.deepcopy(transformation)
    theirs = theirs["should_apply"] if name == "grayscale" else theirs  # Keras's RandomGrayscale draws a bare tensor
    yk = k.transform_images(xk * 1, theirs, training=True)  # Keras's RandomBrightness adds in place
    assert_close(yg, yk, "output")
    if name not in NOT_DIFFERENTIABLE:
        r = torch.tensor(np.random.default_rng(1).standard_normal(x.shape), dtype=torch.float32)
        (yg * r).sum().backward()
        (yk * r).sum().backward()
        assert_close(xg.grad, xk.grad, "input gradient")


DIFFERENTIABLE = [c for c in TRANSFORMED if c[0] not in NOT_DIFFERENTIABLE]


@pytest.mark.parametrize("case", DIFFERENTIABLE, ids=[c[0] for c in DIFFERENTIABLE])
def test_gradcheck_in_float64(case):
    _, factory, shape, value_range, transformation = case
    layer = factory(layers)
    low, high = value_range
    x = torch.tensor(_images(shape, (low + 0.1 * (high - low), high - 0.1 * (high - low)), batch=3)[:, :4, :4],
                     dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: layer.transform_images(t, transformation), (x,), eps=1e-6,
                                     atol=1e-6, rtol=1e-5)


def test_auto_contrast_gradcheck_in_float64():
    layer = layers.AutoContrast(dtype="float64")
    x = torch.tensor(_images((4, 4, 3), (20, 230)), dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: layer(t), (x,), eps=1e-6, atol=1e-6, rtol=1e-5)


# ---------------------------------------------------------------------- random draws against Keras's
def _keras_draws(k, images):
    return {key: np.asarray(v.detach().cpu(), np.float64).reshape(-1)
            for key, v in k.get_random_transformation(images, training=True).items()}


# id, factory, key, (low, high) every draw must lie in
DRAWS = [
    ("contrast", lambda L: L.RandomContrast(0.4, seed=1), "contrast_factor", (1.0, 1.4)),
    ("contrast_pair", lambda L: L.RandomContrast((0.3, 0.6), seed=1), "contrast_factor", (0.7, 1.6)),
    ("brightness", lambda L: L.RandomBrightness(0.2, seed=1), "rgb_delta", (-51.0, 51.0)),
    ("brightness_unit", lambda L: L.RandomBrightness((-0.1, 0.3), value_range=(0, 1), seed=1), "rgb_delta",
     (-0.1, 0.3)),
    ("degeneration", lambda L: L.RandomColorDegeneration(0.5, seed=1), "factor", (-0.5, 0.5)),
    ("hue", lambda L: L.RandomHue(0.6, seed=1), "factor", (-0.3, 0.3)),
    ("saturation", lambda L: L.RandomSaturation((0.2, 0.6), seed=1), "factor", (0.25, 1.5)),
    ("sharpness", lambda L: L.RandomSharpness(0.7, seed=1), "factor", (0.0, 0.7)),
    ("invert", lambda L: L.RandomInvert((0.2, 0.6), seed=1), "apply_inversion", (0, 1)),
    ("posterization", lambda L: L.RandomPosterization(5, seed=1), "shift_factor", (4, 7)),
    ("solarization_additions", lambda L: L.Solarization((0.1, 0.4), 0.5, seed=1), "additions", (0.1, 102.0)),
    ("solarization_thresholds", lambda L: L.Solarization(0.0, (0.2, 0.5), seed=1), "thresholds", (0.2, 127.5)),
    ("blur", lambda L: L.RandomGaussianBlur(0.5, seed=1), "should_apply_blur", (0, 1)),
]


@pytest.mark.parametrize("case", DRAWS, ids=[c[0] for c in DRAWS])
def test_random_draws_are_distributed_as_keras_draws(keras, case):
    """4,000 draws from each: all in the range the arguments allow, and the same mean and quartiles within a
    few standard errors."""
    _, factory, key, (low, high) = case
    images = torch.zeros(4000, 1, 1, 3)
    ours = np.asarray(factory(layers).get_random_transformation(images)[key].cpu(), np.float64).reshape(-1)
    theirs = _keras_draws(factory(keras.layers), images)[key]
    spread = max(high - low, 1e-9)
    for draws in (ours, theirs):
        assert draws.min() >= low - 1e-5 * spread and draws.max() <= high + 1e-5 * spread
    tolerance = 4 * max(theirs.std(), 1e-3) / np.sqrt(len(theirs))
    assert abs(ours.mean() - theirs.mean()) < 2 * tolerance + 1e-9
    if len(np.unique(theirs)) > 10:  # continuous: quartiles too
        for q in (0.25, 0.5, 0.75):
            assert abs(np.quantile(ours, q) - np.quantile(theirs, q)) < 0.05 * spread


def test_grayscale_frequency_and_hue_signs_match_keras(keras):
    images = torch.zeros(4000, 1, 1, 3)
    gray = layers.RandomGrayscale(0.3, seed=2).get_random_transformation(images)["should_apply"].float().mean()
    k_gray = keras.layers.RandomGrayscale(0.3, seed=2).get_random_transformation(images)
    assert abs(float(gray) - 0.3) < 0.03 and abs(float(k_gray.float().mean()) - 0.3) < 0.03
    hue = layers.RandomHue((0.2, 0.4), seed=2).get_random_transformation(images)["factor"]
    assert 0.4 < float((hue > 0).float().mean()) < 0.6 and torch.all((hue.abs() >= 0.1) & (hue.abs() <= 0.2))
    bits = layers.RandomPosterization((2, 6), seed=2).get_random_transformation(images)["shift_factor"]
    assert set(bits.tolist()) == {3, 4, 5, 6}  # 8 − bits, bits drawn in [2, 6)


RANDOM = [
    lambda L, **kw: L.RandomContrast(0.5, **kw), lambda L, **kw: L.RandomBrightness(0.3, **kw),
    lambda L, **kw: L.RandomColorDegeneration(0.8, **kw), lambda L, **kw: L.RandomGrayscale(**kw),
    lambda L, **kw: L.RandomHue(0.5, **kw), lambda L, **kw: L.RandomSaturation(0.8, **kw),
    lambda L, **kw: L.RandomSharpness(0.9, **kw), lambda L, **kw: L.RandomInvert(**kw),
    lambda L, **kw: L.RandomPosterization(6, **kw), lambda L, **kw: L.Solarization(0.5, 0.5, **kw),
    lambda L, **kw: L.RandomGaussianBlur(**kw),
]
RANDOM_IDS = ["contrast", "brightness", "degeneration", "grayscale", "hue", "saturation", "sharpness", "invert",
              "posterization", "solarization", "blur"]


@pytest.mark.parametrize("make", RANDOM, ids=RANDOM_IDS)
def test_seeds_repeat_and_inference_is_the_identity(make):
    x = torch.tensor(_images((6, 6, 3), batch=16))
    a, b = make(layers, seed=7)(x, training=True), make(layers, seed=7)(x, training=True)
    assert torch.equal(a, b) and not torch.equal(a, x)
    assert not torch.equal(a, make(layers, seed=8)(x, training=True))
    layer = make(layers, seed=7)
    assert torch.equal(layer(x, training=True), a)
    assert not torch.equal(layer(x, training=True), a)  # the stream moves on from call to call
    gn.utils.set_random_seed(3)
    c = make(layers)(x, training=True)
    gn.utils.set_random_seed(3)
    assert torch.equal(make(layers)(x, training=True), c)
    assert torch.equal(make(layers, seed=7)(x), x) and torch.equal(make(layers)(x, training=False), x)
    if make is not RANDOM[5]:  # RandomSaturation clips the saturation to value_range, as Keras: see below
        assert 0 <= float(a.min()) and float(a.max()) <= 255  # value_range honoured


@pytest.mark.parametrize("make", RANDOM[:3] + RANDOM[4:], ids=RANDOM_IDS[:3] + RANDOM_IDS[4:])  # not RandomGrayscale,
def test_outputs_stay_in_a_unit_value_range(make):  # which takes no value_range (a weighted mean stays in range)
    x = torch.tensor(_images((5, 5, 3), (0, 1), batch=32))
    y = make(layers, seed=4, value_range=(0, 1))(x, training=True)
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0 + 1e-6 and not torch.equal(y, x)


def test_saturation_is_clipped_to_the_value_range_as_keras_clips_it(keras):
    """Keras clips the HSV saturation to ``value_range``, so with (0, 255) a strong factor gives saturations above
    1 and values below 0, where (0, 1) keeps every value in range: glassnet computes the same."""
    x = _images((4, 4, 3), batch=2)
    transformation = {"factor": torch.tensor([3.0, 6.0])}
    ours = layers.RandomSaturation(0.5).transform_images(torch.tensor(x), transformation)
    theirs = keras.layers.RandomSaturation(0.5).transform_images(torch.tensor(x), transformation)
    assert_close(ours, theirs, "output")
    assert float(ours.min()) < 0
    unit = layers.RandomSaturation(0.5, value_range=(0, 1)).transform_images(torch.tensor(x / 255), transformation)
    assert float(unit.min()) >= 0 and float(unit.max()) <= 1


def test_equalization_is_inactive_at_inference_and_the_histogram_layers_are_not(keras):
    """As in Keras: Equalization only in training; AutoContrast and CLAHE at inference too."""
    x = _images((6, 6, 3))
    assert torch.equal(layers.Equalization()(torch.tensor(x)), torch.tensor(x))
    for factory in (lambda L: L.AutoContrast(), lambda L: getattr(L, CLAHE)(tile_grid_size=(2, 2))):
        g, k = pair(keras, factory(layers), factory(keras.layers), [(6, 6, 3)])
        out = compare_with_keras(g, k, [x], training=False, check_grads=False)
        assert not torch.equal(out[0], torch.tensor(x))


def test_clahe_keeps_integer_images_as_keras_does(keras):
    x = np.random.default_rng(5).integers(0, 256, (2, 9, 7, 3)).astype(np.uint8)
    g, k = pair(keras, getattr(layers, CLAHE)(tile_grid_size=(3, 2)), getattr(keras.layers, CLAHE)(
        tile_grid_size=(3, 2)), [(9, 7, 3)], dtype="uint8")
    yg, yk = g(torch.from_numpy(x)), k(x)
    assert yg.dtype == yk.dtype == torch.uint8 and g.outputs[0].dtype == "uint8"
    np.testing.assert_array_equal(yg.numpy(), np.asarray(yk))


def test_single_images_and_dicts():
    x = torch.tensor(_images((4, 5, 3)))
    layer = layers.RandomBrightness((0.2, 0.2))
    assert_close(layer(x[0], training=True), x[0].add(51.0).clamp(0, 255), "single image")
    for layer in (layers.AutoContrast(), getattr(layers, CLAHE)(tile_grid_size=(2, 2)), layers.Equalization()):
        assert_close(layer(x[1], training=True), layer(x[1:2], training=True)[0], f"single image, {layer.name}")
    out = layers.RandomContrast(0.5, seed=1)({"images": x, "labels": torch.arange(3)}, training=True)
    assert torch.equal(out["labels"], torch.arange(3)) and out["images"].shape == x.shape


# ---------------------------------------------------------------------- configs, cost, errors, files
CONFIGS = [
    lambda L: L.RandomContrast((0.2, 0.4), value_range=(0, 1), seed=3),
    lambda L: L.RandomBrightness(0.3, seed=2, data_format="channels_first"),
    lambda L: L.RandomColorDegeneration(0.4, value_range=(-1, 1)), lambda L: L.RandomGrayscale(0.2, seed=4),
    lambda L: L.RandomHue((0.1, 0.3), seed=5), lambda L: L.RandomSaturation(0.5, value_range=(0, 1)),
    lambda L: L.RandomSharpness((0.2, 0.9)), lambda L: L.RandomInvert(0.5, value_range=(0, 1)),
    lambda L: L.RandomPosterization(4), lambda L: L.Solarization(0.2, (0.3, 0.6), seed=1),
    lambda L: L.RandomGaussianBlur(0.5, kernel_size=5, sigma=(0.2, 0.9), seed=6), lambda L: L.AutoContrast((0, 1)),
    lambda L: L.Equalization(value_range=(0, 1), bins=64, data_format="channels_first"),
    lambda L: getattr(L, CLAHE)((0, 1), clip_limit=2.0, tile_grid_size=(4, 2)),
]


def _comparable(config):
    def plain(v):
        return [plain(i) for i in v] if isinstance(v, (list, tuple)) else float(v) if isinstance(v, int) and not \
            isinstance(v, bool) else v
    return {k: plain(v) for k, v in config.items() if k not in ("name", "dtype")}


@pytest.mark.parametrize("make", CONFIGS, ids=[type(m(layers)).__name__ for m in CONFIGS])
def test_config_reads_both_ways(keras, make):
    g, k = make(layers), make(keras.layers)
    g_config, k_config = g.get_config(), k.get_config()
    assert set(g_config) == set(k_config)
    assert _comparable(g_config) == _comparable(k_config)
    assert _comparable(type(k).from_config(json.loads(json.dumps(g_config))).get_config()) == _comparable(k_config)
    theirs = registry.deserialize({"class_name": type(k).__name__, "config": json.loads(json.dumps(k_config))})
    assert _comparable(theirs.get_config()) == _comparable(g_config)  # the seed included


def test_a_seed_in_a_keras_config_is_kept(keras):
    config = keras.layers.RandomContrast(0.5, seed=3).get_config()
    assert registry.deserialize({"class_name": "RandomContrast", "config": config}).seed == 3


@pytest.mark.parametrize("make", CONFIGS, ids=[type(m(layers)).__name__ for m in CONFIGS])
def test_cost_rule(make):
    layer = make(layers)
    channels_first = layer.data_format == "channels_first"
    inp = gn.Input((3, 6, 5) if channels_first else (6, 5, 3))
    model = gn.Model(inp, layer(inp))
    row = gn.analyze(model, batch_size=2).rows[-1]
    cost = layer.cost(inp.symbolic_shape, layer.compute_output_shape(inp.symbolic_shape))
    assert row.params == 0 == cost.params_count() and cost.macs == 0
    assert cost.other_per_sample() % 90 == 0 and cost.other_per_sample() > 0  # a whole number per element
    always = isinstance(layer, (layers.AutoContrast, getattr(layers, CLAHE)))
    assert ("at inference as in training" in cost.reads) == always
    assert ("in training only" in cost.reads) != always


def test_errors():
    with pytest.raises(gn.ConfigError, match=r"RandomContrast 'c': the `factor` argument must be a number or a pair "
                                             r"of numbers in \[0, 1\]\. Received: factor=1\.5"):
        layers.RandomContrast(1.5, name="c")
    with pytest.raises(gn.ConfigError, match=r"the `value_range` argument must be a pair of numbers"):
        layers.RandomBrightness(0.2, value_range=255)
    with pytest.raises(gn.ConfigError, match=r"the `factor` argument must be a number in \[0, 1\]"):
        layers.RandomGrayscale(2.0)
    with pytest.raises(gn.ConfigError, match="keeps a whole number of bits, so `factor` must be integers"):
        layers.RandomPosterization(3.5)
    with pytest.raises(gn.ConfigError, match=r"the `threshold_factor` argument must be a number or a pair of numbers "
                                             r"in \[0, 1\]\. Received: threshold_factor=\(0\.2, 1\.5\)"):
        layers.Solarization(threshold_factor=(0.2, 1.5))
    with pytest.raises(gn.ConfigError, match="needs an odd positive kernel_size"):
        layers.RandomGaussianBlur(kernel_size=4)
    with pytest.raises(gn.ConfigError, match="blurs with square kernels only"):
        layers.RandomGaussianBlur(kernel_size=(3, 5))
    with pytest.raises(gn.ConfigError, match='cannot honour data_format="channels_first"'):
        layers.AutoContrast(data_format="channels_first")
    with pytest.raises(gn.ConfigError, match="Equalization '.*' does not support seed.*It draws nothing at random"):
        layers.Equalization(seed=3)
    with pytest.raises(gn.ConfigError, match="the `tile_grid_size` argument must be an int or a tuple of 2"):
        getattr(layers, CLAHE)(tile_grid_size=(0, 2))
    with pytest.raises(gn.ConfigError, match="does not support bounding_box_format"):
        layers.RandomHue(0.2, bounding_box_format="xyxy")
    with pytest.raises(gn.ShapeError, match=r"RandomHue 'h' works on RGB images, so it needs 3 channels\. Received: "
                                            r"input shape \(B, 4, 4, 2\)\. Convert the images to RGB first\."):
        layers.RandomHue(0.2, name="h")(gn.Input((4, 4, 2)))
    with pytest.raises(gn.ShapeError, match="needs 1 or 3 channels"):
        layers.RandomGrayscale()(gn.Input((4, 4, 4)))


def _augmenting_model(keras):
    L = keras.layers
    inp = keras.Input((8, 8, 3))
    x = L.RandomContrast((0.2, 0.5), seed=3)(inp)
    x = L.RandomBrightness(0.2, value_range=(0, 255), seed=4)(x)
    x = L.Conv2D(4, 3)(x)
    return keras.Model(inp, L.Dense(2)(L.GlobalAveragePooling2D()(x)))


def test_keras_file_with_contrast_and_brightness_both_ways(keras, tmp_path):
    """Keras saves a model that augments; glassnet loads it and predicts the same (augmentation is off at
    inference) and keeps the layers' settings; glassnet's file gives Keras the same model back."""
    rng = np.random.default_rng(6)
    km = _augmenting_model(keras)
    for v in km.trainable_weights:
        v.assign((rng.standard_normal(tuple(v.shape)) * 0.3).astype(np.float32))
    x = _images((8, 8, 3), seed=7)
    expected = km.predict(x, verbose=0)
    km.save(tmp_path / "keras.keras")
    g = gn.load_model(tmp_path / "keras.keras")
    np.testing.assert_allclose(g.predict(x), expected, rtol=1e-5, atol=1e-5)
    contrast, brightness = g.layers[1], g.layers[2]
    assert (contrast.factor, brightness.factor, brightness.value_range) == ((0.2, 0.5), (-0.2, 0.2), (0, 255))
    augmented = g(torch.tensor(x), training=True)
    assert not torch.allclose(augmented, torch.tensor(expected))
    g.save(tmp_path / "glassnet.keras")
    k2 = keras.models.load_model(tmp_path / "glassnet.keras")
    np.testing.assert_allclose(k2.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)
    assert _comparable(k2.layers[1].get_config()) == _comparable(km.layers[1].get_config())  # seeds too
    assert _comparable(k2.layers[2].get_config()) == _comparable(km.layers[2].get_config())  # seeds too


# ---------------------------------------------------------------------- RandomColorJitter, RandAugment, AugMix
def _ours(name, keras_transformation):
    """A Keras sub-layer's transformation in glassnet's terms (the warps carry their matrix)."""
    t = keras_transformation
    if name == "random_shear":
        return layers.RandomShear.shear_transformation(t["shear_factor"])
    if name == "random_translation":
        return layers.RandomTranslation.shift_transformation(t["translations"])
    if name == "random_rotation":
        return {"matrix": t["rotation_matrix"]}
    return t


def test_color_jitter_applies_keras_operations_in_keras_order(keras):
    """Each part's draws handed to Keras's own parts in Keras's order give glassnet's jitter output; a jitter
    whose parts are deterministic matches Keras's through the calls."""
    make = lambda L: L.RandomColorJitter(brightness_factor=0.3, contrast_factor=0.4, saturation_factor=0.5,
                                         hue_factor=0.3, seed=2)
    g, k = make(layers), make(keras.layers)
    x = torch.tensor(_images((5, 6, 3)))
    transformation = g.get_random_transformation(x)
    expected = x
    for name in ("random_brightness", "random_contrast", "random_saturation", "random_hue"):
        expected = getattr(k, name).transform_images(expected * 1, copy.deepcopy(transformation[name]))
    assert_close(g.transform_images(x, transformation), expected, "output")
    fixed = lambda L: L.RandomColorJitter(value_range=(0, 1), brightness_factor=(0.1, 0.1),
                                          contrast_factor=(0.0, 0.0), saturation_factor=(0.3, 0.3))
    unit = torch.tensor(_images((5, 6, 3), (0, 1)))
    assert_close(fixed(layers)(unit, training=True), fixed(keras.layers)(unit, training=True), "fixed jitter")
    assert torch.equal(g(x), x)


RAND_AUGMENT_OPS = ["random_shear", "random_translation", "random_rotation", "random_brightness",
                    "random_color_degeneration", "random_contrast", "random_sharpness", "random_posterization",
                    "solarization", "auto_contrast", "equalization"]


@pytest.mark.filterwarnings("ignore:Tensor.T is deprecated")
@pytest.mark.parametrize("ops", [(i,) for i in range(11)] + [(4, 8), (9, 5), (0, 10)],
                         ids=[RAND_AUGMENT_OPS[i] for i in range(11)] + ["degeneration_solarization",
                                                                      "autocontrast_contrast", "shear_equalization"])
def test_rand_augment_matches_keras_on_keras_draws(keras, ops):
    """Keras's draws for every operation, with chosen operations. Keras 3.15 evaluates every operation in every
    step and its RandomBrightness adds its offset to its input in place, so Keras also adds the brightness
    offset (unclipped) in every step whatever operation is drawn; glassnet applies the drawn operations only.
    The offset is set to 0 here where brightness is not drawn (Keras's extra addition is then a no-op), and
    brightness is drawn alone."""
    g, k = layers.RandAugment(num_ops=len(ops), factor=0.7), keras.layers.RandAugment(num_ops=len(ops), factor=0.7)
    x = torch.tensor(_images((8, 9, 3)))
    theirs = k.get_random_transformation(x, training=True)
    theirs["layer_idxes"] = torch.tensor(ops, dtype=torch.int32)
    if ops != (3,):
        theirs["transforms"]["random_brightness"]["rgb_delta"] *= 0
    ours = {"layer_idxes": theirs["layer_idxes"],
            "transforms": {name: _ours(name, t) for name, t in theirs["transforms"].items()}}
    assert_close(g.transform_images(x, ours), k.transform_images(x, theirs, training=True), "output", atol=1e-4)


@pytest.mark.filterwarnings("ignore:Tensor.T is deprecated")
@pytest.mark.parametrize("all_ops", [True, False])
def test_aug_mix_matches_keras_on_keras_draws(keras, all_ops):
    g = layers.AugMix(factor=0.6, all_ops=all_ops, value_range=(0, 1))
    k = keras.layers.AugMix(factor=0.6, all_ops=all_ops, value_range=(0, 1))
    x = torch.tensor(_images((8, 8, 3), (0, 1)))
    names = g._ops
    assert names == k._augment_layers
    steps = [[names[i] for i in chain] for chain in ((0, 3), (), (4, 5, 6), (1, 2, len(names) - 1))]
    chains = [[{"layer_name": n, "transformation": getattr(k, n).get_random_transformation(x, training=True)}
               for n in chain] for chain in steps]
    theirs = {"chain_mixing_weights": torch.tensor([0.1, 0.2, 0.3, 0.4]), "weight_sample": torch.tensor(0.35),
              "chain_transforms": chains}
    ours = {**theirs, "chain_transforms": [[{"layer_name": s["layer_name"],
                                             "transformation": _ours(s["layer_name"], s["transformation"])}
                                            for s in chain] for chain in chains]}
    assert_close(g.transform_images(x, ours), k.transform_images(x, theirs, training=True), "output", atol=1e-6)


def test_policy_draws():
    """RandAugment picks each of its 11 operations equally often; AugMix's chain weights are a distribution,
    its blend weight lies in [0, 1] and a step does nothing with probability 1/12 (1/8 without all_ops)."""
    x = torch.zeros(2, 4, 4, 3)
    rand_augment = layers.RandAugment(num_ops=4000, seed=3)
    counts = torch.bincount(rand_augment.get_random_transformation(x)["layer_idxes"], minlength=11)
    assert counts.min() > 4000 / 11 * 0.8 and counts.max() < 4000 / 11 * 1.2
    for all_ops, ops in ((True, 11), (False, 7)):
        aug_mix = layers.AugMix(num_chains=50, chain_depth=40, all_ops=all_ops, seed=4)
        t = aug_mix.get_random_transformation(x)
        assert abs(float(t["chain_mixing_weights"].sum()) - 1) < 1e-5 and 0 <= float(t["weight_sample"]) <= 1
        skipped = 1 - sum(len(chain) for chain in t["chain_transforms"]) / (50 * 40)
        assert abs(skipped - 1 / (ops + 1)) < 0.03


POLICIES = [lambda L, **kw: L.RandomColorJitter(brightness_factor=0.2, hue_factor=0.3, **kw),
            lambda L, **kw: L.RandAugment(num_ops=3, **kw), lambda L, **kw: L.AugMix(**kw)]


@pytest.mark.parametrize("make", POLICIES, ids=["jitter", "rand_augment", "aug_mix"])
def test_policies_repeat_under_one_seed_and_are_the_identity_at_inference(make):
    x = torch.tensor(_images((6, 6, 3), batch=4))
    a = make(layers, seed=11)(x, training=True)
    assert torch.equal(a, make(layers, seed=11)(x, training=True)) and not torch.equal(a, x)
    assert float(a.min()) >= 0 and float(a.max()) <= 255
    gn.utils.set_random_seed(2)
    b = make(layers)(x, training=True)
    gn.utils.set_random_seed(2)
    assert torch.equal(make(layers)(x, training=True), b)
    assert torch.equal(make(layers, seed=11)(x), x)


COMPOSITE_CONFIGS = [
    lambda L: L.RandomColorJitter((0, 1), brightness_factor=0.2, contrast_factor=(0.1, 0.3), hue_factor=0.4),
    lambda L: L.RandAugment((0, 1), num_ops=3, factor=(0.2, 0.6), interpolation="nearest"),
    lambda L: L.AugMix(num_chains=2, chain_depth=4, factor=0.5, alpha=0.5, all_ops=False),
]


@pytest.mark.parametrize("make", COMPOSITE_CONFIGS, ids=["jitter", "rand_augment", "aug_mix"])
def test_policy_configs_read_both_ways(keras, make):
    test_config_reads_both_ways(keras, make)


def test_policy_costs():
    shape = (None, 6, 5, 3)
    jitter = layers.RandomColorJitter(brightness_factor=0.2, contrast_factor=0.3)
    parts = layers.RandomBrightness(0.2).cost(shape, shape).other_per_sample() + \
        layers.RandomContrast(0.3).cost(shape, shape).other_per_sample()
    assert jitter.cost(shape, shape).other_per_sample() == parts == 90 * (3 + 6)
    for policy in (layers.RandAugment(), layers.AugMix()):
        cost = policy.cost(shape, shape)
        assert cost.other_flops is None and cost.macs == 0 and "work varies" in cost.reads


def test_policy_errors():
    with pytest.raises(gn.ConfigError, match="RandAugment '.*' includes AutoContrast, which reads its ranges over "
                                             "height and width of channels_last images only"):
        layers.RandAugment(data_format="channels_first")
    with pytest.raises(gn.ConfigError, match="the `num_chains` argument must be a positive integer"):
        layers.AugMix(num_chains=0)
    with pytest.raises(gn.ConfigError, match="needs a positive alpha"):
        layers.AugMix(alpha=0.0)
    with pytest.raises(gn.ConfigError, match=r"RandAugment '.*': the `factor` argument must be a number or a pair "
                                             r"of numbers in \[0, 1\]"):
        layers.RandAugment(factor=2.0)


def test_keras_file_with_the_policies_both_ways(keras, tmp_path):
    L = keras.layers
    inp = keras.Input((8, 8, 3))
    x = L.RandomColorJitter(brightness_factor=0.2, saturation_factor=0.4)(inp)
    x = L.AugMix(num_chains=2)(L.RandAugment(num_ops=1)(x))
    km = keras.Model(inp, L.Dense(2)(L.GlobalAveragePooling2D()(L.Conv2D(3, 3)(x))))
    images = _images((8, 8, 3), seed=9)
    expected = km.predict(images, verbose=0)
    km.save(tmp_path / "keras.keras")
    g = gn.load_model(tmp_path / "keras.keras")
    np.testing.assert_allclose(g.predict(images), expected, rtol=1e-5, atol=1e-5)
    assert [type(layer).__name__ for layer in g.layers[1:4]] == ["RandomColorJitter", "RandAugment", "AugMix"]
    g.save(tmp_path / "glassnet.keras")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "glassnet.keras").predict(images, verbose=0),
                               expected, rtol=1e-5, atol=1e-5)


def test_fit_augments_and_predict_does_not():
    """In ``fit`` the layers see training=True (the images they pass on change from step to step); ``predict``
    passes the images through."""
    seen = []
    inp = gn.Input((8, 8, 3))
    x = layers.RandAugment(num_ops=2, seed=1)(layers.RandomColorJitter(brightness_factor=0.3, seed=2)(inp))
    x = layers.Lambda(lambda t: seen.append(t.detach().clone()) or t)(x)
    model = gn.Model(inp, layers.Dense(2)(layers.GlobalAveragePooling2D()(layers.Conv2D(4, 3)(x))))
    model.compile(optimizer="adam", loss="mse")
    images = _images((8, 8, 3), seed=3, batch=8)
    history = model.fit(images, np.zeros((8, 2), np.float32), batch_size=8, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert not torch.equal(seen[-1], torch.tensor(images)) and not torch.equal(seen[-1], seen[-2])
    seen.clear()
    model.predict(images, verbose=0)
    assert torch.equal(seen[-1], torch.tensor(images))
