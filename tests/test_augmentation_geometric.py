"""Geometric augmentation against Keras 3 (torch backend): RandomFlip, RandomRotation, RandomZoom,
RandomTranslation, RandomShear, RandomCrop, RandomPerspective, RandomElasticTransform.

Value for value: settings that leave nothing to chance (a 90° turn, a fixed zoom or shift) run through both
layers' ``training=True`` calls; for random settings glassnet draws the transformation and both layers'
``transform_images`` apply it (Keras's layers accept their transformation dict the same way). Around that:
ranges and frequencies of the draws, seeds, inference identity, configs both ways, cost rules, float64
gradients, errors, a ``.keras`` file both ways and a small model training on sklearn's digits."""
import copy
import json

import numpy as np
import pytest
import torch

import glassnet as gn
from glassnet import layers
from glassnet.errors import ConfigError, ShapeError
from glassnet.layers import registry
from glassnet.layers.preprocessing.augmentation import affine_transform

FORMATS = ("channels_last", "channels_first")
WARPS = [(interp, fill) for interp in ("bilinear", "nearest") for fill in ("reflect", "wrap", "constant", "nearest")]


def _images(data_format="channels_last", shape=(3, 7, 9, 2), seed=0):
    x = torch.from_numpy((np.random.default_rng(seed).random(shape) * 255).astype(np.float32))
    return x if data_format == "channels_last" else x.permute(0, 3, 1, 2).contiguous()


def _close(ours, theirs, scale=255.0):
    theirs = torch.as_tensor(np.asarray(theirs.detach().cpu() if hasattr(theirs, "detach") else theirs))
    assert ours.shape == theirs.shape
    # float32 round-off of the sampling coordinates, relative to the pixel scale
    torch.testing.assert_close(ours, theirs, rtol=0, atol=2e-6 * scale)


# ---------------------------------------------------------------------- deterministic settings, whole calls
DETERMINISTIC = [
    ("rotate_90", lambda L, i, f, d: L.RandomRotation((0.25, 0.25), fill_mode=f, interpolation=i, fill_value=3.0,
                                                       data_format=d)),
    ("rotate_minus_45", lambda L, i, f, d: L.RandomRotation((-0.125, -0.125), fill_mode=f, interpolation=i,
                                                            data_format=d)),
    ("zoom_fixed", lambda L, i, f, d: L.RandomZoom((0.3, 0.3), (-0.2, -0.2), fill_mode=f, interpolation=i,
                                                   fill_value=-1.0, data_format=d)),
    ("zoom_one_factor", lambda L, i, f, d: L.RandomZoom((0.4, 0.4), fill_mode=f, interpolation=i, data_format=d)),
    ("translate_fixed", lambda L, i, f, d: L.RandomTranslation((0.2, 0.2), (-0.35, -0.35), fill_mode=f,
                                                               interpolation=i, data_format=d)),
]


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("interp,fill", WARPS)
@pytest.mark.parametrize("case", DETERMINISTIC, ids=[c[0] for c in DETERMINISTIC])
def test_fixed_settings_match_keras(keras, case, interp, fill, data_format):
    _, factory = case
    x = _images(data_format)
    ours = factory(layers, interp, fill, data_format)(x, training=True)
    _close(ours, factory(keras.layers, interp, fill, data_format)(x.clone(), training=True))


def test_a_90_degree_turn_is_a_transpose_and_flip():
    """Independent of Keras: a quarter turn of a square image moves every pixel exactly (no interpolation)."""
    x = _images(shape=(2, 5, 5, 3))
    out = layers.RandomRotation((0.25, 0.25), fill_mode="constant")(x, training=True)
    torch.testing.assert_close(out, torch.rot90(x, k=1, dims=(1, 2)), rtol=0, atol=1e-4)


# ---------------------------------------------------------------------- random settings: one draw, both layers apply it
def _keras_transformation(name, t):
    t = {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in (t.items() if isinstance(t, dict) else {})}
    return {"flip": lambda: {"flips": t["flips"]}, "rotation": lambda: {"rotation_matrix": t["matrix"]},
            "shear": lambda: {"shear_factor": t["shear_factor"]}, "perspective": lambda: t}[name]()


DRAWN = [
    ("flip", "flip", lambda L, i, f, d: L.RandomFlip("horizontal", data_format=d)),
    ("flip_vertical", "flip", lambda L, i, f, d: L.RandomFlip("vertical", data_format=d)),
    ("flip_both", "flip", lambda L, i, f, d: L.RandomFlip(data_format=d)),
    ("rotation", "rotation", lambda L, i, f, d: L.RandomRotation(0.3, fill_mode=f, interpolation=i, data_format=d)),
    ("shear", "shear", lambda L, i, f, d: L.RandomShear(0.3, (0.1, 0.4), interpolation=i, fill_mode=f,
                                                          data_format=d)),
    ("perspective", "perspective", lambda L, i, f, d: L.RandomPerspective(0.7, 0.6, interpolation=i, fill_value=2.0,
                                                                          data_format=d)),
]


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("interp,fill", [("bilinear", "reflect"), ("nearest", "wrap"), ("bilinear", "constant")])
@pytest.mark.parametrize("case", DRAWN, ids=[c[0] for c in DRAWN])
def test_drawn_transformations_apply_as_in_keras(keras, case, interp, fill, data_format):
    _, kind, factory = case
    x = _images(data_format, shape=(6, 7, 9, 2))
    ours = factory(layers, interp, fill, data_format)
    t = ours.get_random_transformation(x)
    theirs = factory(keras.layers, interp, fill, data_format).transform_images(x.clone(),
                                                                               _keras_transformation(kind, t))
    _close(ours.transform_images(x, t), theirs)


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("size", [(4, 5), (7, 5), (9, 4), (3, 12), (8, 10), (2, 2)])
def test_random_crop_matches_keras(keras, size, data_format):
    """Training: the window glassnet draws, applied by both (an input not larger than the target on both sides
    is sliced and resized as Keras computes it). Inference: the largest central window of the target's aspect
    ratio, resized — Keras's documented rule, which its Resizing(crop_to_aspect_ratio=True) computes."""
    x = _images(data_format)
    ours, theirs = layers.RandomCrop(*size, data_format=data_format), keras.layers.RandomCrop(*size,
                                                                                              data_format=data_format)
    t = ours.get_random_transformation(x)
    _close(ours.transform_images(x, t), theirs.transform_images(x.clone(), t))
    resized = keras.layers.Resizing(*size, crop_to_aspect_ratio=True, data_format=data_format)(x.clone())
    _close(ours(x), resized)
    assert ours(x, training=True).shape == ours(x).shape == theirs(x, training=True).shape


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("fill", ["reflect", "mirror", "constant", "wrap"])
def test_elastic_transform_matches_keras(keras, fill, data_format):
    """Keras draws the displacement noise from torch's global generator inside its transform: both draw it after
    the same ``torch.manual_seed``, glassnet ahead of time in its transformation."""
    x = _images(data_format, shape=(4, 10, 12, 2))
    ours = layers.RandomElasticTransform(0.8, 0.9, fill_mode=fill, value_range=(10, 200), data_format=data_format)
    theirs = keras.layers.RandomElasticTransform(0.8, 0.9, fill_mode=fill, value_range=(10, 200),
                                                 data_format=data_format)
    t = ours.get_random_transformation(x)
    torch.manual_seed(5)
    expected = theirs.transform_images(x.clone(), {"apply_transform": t["apply_transform"],
                                                   "distortion_factor": t["distortion_factor"], "seed": None})
    torch.manual_seed(5)
    t["noise"] = torch.stack([torch.normal(0.0, 1.0, size=(4, 10, 12)) for _ in range(2)])
    _close(ours.transform_images(x, t), expected)


def test_affine_transform_matches_keras_ops(keras):
    """The shared warp against ``keras.ops.image.affine_transform`` on arbitrary affine maps, every fill mode."""
    from keras.src.backend.torch.image import affine_transform as keras_affine
    x = _images(shape=(4, 6, 8, 3))
    rng = np.random.default_rng(3)
    t = torch.from_numpy(np.concatenate([rng.uniform(-1.5, 1.5, (4, 6)), np.zeros((4, 2))], 1).astype(np.float32))
    for interp in ("nearest", "bilinear"):
        for fill in ("constant", "nearest", "wrap", "mirror", "reflect"):
            _close(affine_transform(x, t, interp, fill, 7.0), keras_affine(x.clone(), t.clone(), interp, fill, 7.0))


# ---------------------------------------------------------------------- mixing and erasing
MIXING = [
    ("mixup", lambda L, d: L.MixUp(0.4, data_format=d)),
    ("cutmix", lambda L, d: L.CutMix(0.8, data_format=d)),
    ("erasing_noise", lambda L, d: L.RandomErasing(0.7, data_format=d)),
    ("erasing_constant", lambda L, d: L.RandomErasing(0.7, (0.1, 0.5), fill_value=3.0, data_format=d)),
    ("erasing_per_channel", lambda L, d: L.RandomErasing(0.9, fill_value=[1.0, 50.0, 300.0], data_format=d)),
]


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("case", MIXING, ids=[c[0] for c in MIXING])
def test_mixing_applies_its_draws_as_keras(keras, case, data_format):
    _, factory = case
    x, labels = _images(data_format, shape=(6, 6, 7, 3)), torch.eye(6)[:, :4]
    ours, theirs = factory(layers, data_format), factory(keras.layers, data_format)
    t = ours.get_random_transformation(x)
    _close(ours.transform_images(x, t), theirs.transform_images(x.clone(), dict(t)))
    _close(ours.transform_labels(labels, t), theirs.transform_labels(labels.clone(), dict(t)), scale=1.0)
    out = ours({"images": x, "labels": labels}, training=True)
    assert out["images"].shape == x.shape and out["labels"].shape == labels.shape


@pytest.mark.parametrize("data_format", FORMATS)
def test_boxes_and_their_label_weights_match_keras(keras, data_format):
    x = _images(data_format, shape=(5, 6, 7, 3))
    ours, theirs = layers.CutMix(data_format=data_format), keras.layers.CutMix(data_format=data_format)
    rng = np.random.default_rng(4)
    x0, y0 = (torch.from_numpy(rng.uniform(-1, 4, 5).astype(np.float32)) for _ in range(2))
    x1, y1 = x0 + torch.from_numpy(rng.uniform(0, 4, 5).astype(np.float32)), y0 + 2.5
    mask, weight = theirs._generate_batch_mask(tuple(x.shape), (x0, x1, y0, y1))
    assert torch.equal(ours._box_mask(x, x0, x1, y0, y1), mask)
    erasing = keras.layers.RandomErasing(data_format=data_format)
    assert torch.equal(layers.RandomErasing(data_format=data_format)._box_mask(x, x0, x1, y0, y1),
                       erasing._generate_batch_mask(tuple(x.shape), (x0, x1, y0, y1)))
    assert weight.shape == (5, 1, 1, 1)


def test_mixing_draws():
    x, labels = torch.rand(2000, 4, 5, 1), torch.eye(2000)
    t = layers.MixUp(0.5, seed=0).get_random_transformation(x)
    w = t["mix_weight"]
    assert w.min() >= 0 and w.max() <= 1 and abs(w.mean().item() - 0.5) < 0.03 and abs(w.var().item() - 0.125) < 0.01
    assert sorted(t["permutation_order"].tolist()) == list(range(2000))
    mixed = layers.MixUp(0.5, seed=0)({"images": x, "labels": labels}, training=True)["labels"]
    torch.testing.assert_close(mixed.sum(1), torch.ones(2000))
    t = layers.CutMix(seed=0).get_random_transformation(x)
    kept = 1 - t["batch_masks"].float().mean(dim=(1, 2, 3))  # the pasted box is a whole number of pixels ...
    assert (t["mix_weight"] - kept).abs().mean() < 0.15  # ... the weight its drawn real-valued area
    t = layers.RandomErasing(0.6, (0.1, 0.2), value_range=(0.0, 1.0), seed=0).get_random_transformation(x)
    assert abs(t["apply_erasing"].float().mean().item() - 0.3) < 0.04  # P = E[U(0, 0.6)]
    fill = t["fill_value"]
    assert fill.min() >= 0 and fill.max() <= 1 and 0.3 < (fill == 0).float().mean() < 0.7  # noise clipped at 0
    area = t["batch_masks"].float().mean(dim=(1, 2, 3))
    assert area.max() <= 0.5 and area.mean() > 0.01


# ---------------------------------------------------------------------- inference, single images, seeds
ALL = [
    lambda L: L.RandomFlip(seed=1), lambda L: L.RandomRotation(0.2, seed=1), lambda L: L.RandomZoom(0.2, seed=1),
    lambda L: L.RandomTranslation(0.1, 0.2, seed=1), lambda L: L.RandomShear(0.2, 0.2, seed=1),
    lambda L: L.RandomPerspective(seed=1), lambda L: L.RandomElasticTransform(seed=1),
    lambda L: L.MixUp(seed=1), lambda L: L.CutMix(seed=1), lambda L: L.RandomErasing(seed=1),
]
ALL_IDS = ["flip", "rotation", "zoom", "translation", "shear", "perspective", "elastic", "mixup", "cutmix", "erasing"]
BATCH_ONLY = ("mixup", "cutmix")  # they mix images of a batch: a single image has no partner


@pytest.mark.parametrize("factory", ALL, ids=ALL_IDS)
def test_inference_passes_the_input_through_and_training_changes_it(keras, factory):
    x = _images(shape=(8, 7, 9, 2))
    layer = factory(layers)
    assert torch.equal(layer(x), x) and torch.equal(layer(x, training=False), x)
    assert not torch.equal(layer(x, training=True), x)
    model = gn.Sequential([gn.Input((7, 9, 2)), factory(layers)])
    np.testing.assert_array_equal(model.predict(x.numpy()), x.numpy())
    k = keras.Sequential([keras.Input((7, 9, 2)), factory(keras.layers)])
    np.testing.assert_array_equal(k.predict(x.numpy(), verbose=0), x.numpy())


@pytest.mark.parametrize("factory,name", list(zip(ALL, ALL_IDS)), ids=ALL_IDS)
def test_seeds_repeat_and_single_images_work(factory, name):
    x = _images(shape=(4, 7, 9, 2))
    a, b = factory(layers)(x, training=True), factory(layers)(x, training=True)
    assert torch.equal(a, b)
    layer = factory(layers)
    assert not torch.equal(layer(x, training=True), layer(x, training=True))  # the stream advances
    layer = factory(layers)
    singles = [layer(x[0], training=True) for _ in range(6)]
    assert all(s.shape == x[0].shape for s in singles)
    if name in BATCH_ONLY:
        torch.testing.assert_close(singles[0], x[0])
    else:
        assert any(not torch.equal(s, x[0]) for s in singles)


def test_set_random_seed_repeats_unseeded_layers():
    x = _images(shape=(4, 7, 9, 2))
    outs = []
    for _ in range(2):
        gn.utils.set_random_seed(7)
        outs.append(layers.RandomRotation(0.3)(x, training=True))
    assert torch.equal(*outs)


def test_integer_images_come_out_as_floats():
    x = torch.randint(0, 255, (2, 5, 6, 3), dtype=torch.uint8)
    for layer in (layers.RandomFlip(), layers.RandomRotation(0.1)):
        assert layer(x).dtype == torch.float32 and torch.equal(layer(x), x.float())
        assert layer(x, training=True).dtype == torch.float32


def test_dicts_with_labels_and_refused_keys():
    x = _images(shape=(4, 7, 9, 2))
    out = layers.RandomFlip(seed=3)({"images": x, "labels": torch.arange(4)}, training=True)
    assert torch.equal(out["labels"], torch.arange(4))
    torch.testing.assert_close(out["images"], layers.RandomFlip(seed=3)(x, training=True))
    with pytest.raises(ConfigError, match=r"RandomFlip 'random_flip\w*' augments dicts with the keys 'images', "
                                          r"'labels' only. Received: keys=\['bounding_boxes', 'images'\]"):
        layers.RandomFlip()({"images": x, "bounding_boxes": {"boxes": torch.zeros(4, 1, 4)}})


# ---------------------------------------------------------------------- distributions of the draws
def test_draws_cover_their_ranges():
    x = torch.zeros(4000, 3, 4, 1)
    flips = layers.RandomFlip(seed=0).get_random_transformation(x)["flips"].float().mean().item()
    assert 0.47 < flips < 0.53
    angle = layers.RandomRotation((-0.1, 0.05), seed=0).get_random_transformation(x)["angle"]
    assert angle.min() >= -36.0 and angle.max() <= 18.0 and angle.min() < -35 and angle.max() > 17
    assert abs(angle.mean().item() + 9.0) < 0.6  # uniform on [-36°, 18°]
    zoom = layers.RandomZoom((-0.2, 0.3), seed=0).get_random_transformation(x)
    assert torch.equal(zoom["height_zoom"], zoom["width_zoom"])
    assert 0.8 <= zoom["height_zoom"].min() < 0.81 and 1.29 < zoom["height_zoom"].max() <= 1.3
    shift = layers.RandomTranslation(0.25, (0.0, 0.5), seed=0).get_random_transformation(x)["translations"]
    assert -0.75 <= shift[:, 1].min() < -0.7 and 0.7 < shift[:, 1].max() <= 0.75  # rows: ±25% of 3
    assert 0.0 <= shift[:, 0].min() < 0.05 and 1.95 < shift[:, 0].max() <= 2.0  # columns: [0, 50%] of 4
    shear = layers.RandomShear(0.0, (0.2, 0.3), seed=0).get_random_transformation(x)["shear_factor"][:, 1]
    assert 0.45 < (shear > 0).float().mean() < 0.55 and shear.abs().min() >= 0.2 and shear.abs().max() <= 0.3
    applied = layers.RandomPerspective((0.4, 0.4), seed=0).get_random_transformation(x)["apply_perspective"]
    assert 0.37 < applied.float().mean() < 0.43


def test_crop_windows_are_uniform_over_the_positions():
    layer, x = layers.RandomCrop(2, 3, seed=0), torch.zeros(1, 5, 7, 1)
    starts = np.array([layer.get_random_transformation(x) for _ in range(1200)])
    assert set(starts[:, 0]) == {0, 1, 2, 3} and set(starts[:, 1]) == {0, 1, 2, 3, 4}
    assert np.bincount(starts[:, 0]).min() > 240


# ---------------------------------------------------------------------- configs, shapes, cost, gradients, errors
CONFIGS = [  # (factory, element-wise operations per output element in training; None: not counted)
    (lambda L: L.RandomFlip("vertical", seed=4, data_format="channels_first"), 0),
    (lambda L: L.RandomRotation((-0.2, 0.1), fill_mode="wrap", interpolation="nearest", seed=2, fill_value=1.5), 0),
    (lambda L: L.RandomZoom(0.2, (-0.1, 0.3), fill_mode="constant", seed=3), 7),
    (lambda L: L.RandomZoom((0.1, 0.2)), 7),
    (lambda L: L.RandomTranslation(0.1, (0.2, 0.3), fill_mode="nearest"), 7),
    (lambda L: L.RandomShear((0.1, 0.3), (0.1, 0.2), seed=5), 7),
    (lambda L: L.RandomCrop(5, 6, seed=8), 0),
    (lambda L: L.RandomPerspective(0.5, 0.4, interpolation="nearest", fill_value=1.0, seed=1), 0),
    (lambda L: L.RandomElasticTransform((0.2, 0.6), 0.5, fill_mode="mirror", value_range=(0, 1), seed=9), None),
    (lambda L: L.MixUp(0.5, seed=3), 3),
    (lambda L: L.CutMix((0.2, 0.9), seed=4, data_format="channels_first"), 0),
    (lambda L: L.RandomErasing(0.6, (0.1, 0.2), fill_value=[1, 2, 3], value_range=(0, 1), seed=2), 0),
    (lambda L: L.RandomErasing(scale=0.3, fill_value=4.0), 0),
]
CONFIG_IDS = ["flip", "rotation", "zoom", "zoom_one_factor", "translation", "shear", "crop", "perspective", "elastic",
              "mixup", "cutmix", "erasing", "erasing_constant"]


def _comparable(config):
    return {k: list(v) if isinstance(v, (tuple, list)) else v for k, v in config.items() if k not in ("name", "dtype")}


@pytest.mark.parametrize("factory,flops", CONFIGS, ids=CONFIG_IDS)
def test_config_reads_both_ways(keras, factory, flops):
    """Keras builds the same layer from glassnet's config, and glassnet from Keras's, its seed included."""
    g, k = factory(layers), factory(keras.layers)
    g_config, k_config = g.get_config(), k.get_config()
    assert set(g_config) == set(k_config)
    assert _comparable(type(k).from_config(copy.deepcopy(g_config)).get_config()) == _comparable(k_config)
    k_config = json.loads(json.dumps(k_config))  # as a file holds it (Keras tracks a list attribute's object)
    ours = registry.deserialize({"class_name": type(k).__name__, "config": k_config})
    assert _comparable(ours.get_config()) == _comparable(g_config)  # the seed included


def test_keras_s_own_shear_config_is_read(keras):
    """Keras writes RandomShear(0.3) as x_factor=(-0.3, 0.3), which its own from_config refuses; glassnet reads it
    as the same range."""
    config = keras.layers.RandomShear(0.3, 0.2).get_config()
    ours = registry.deserialize({"class_name": "RandomShear", "config": config})
    assert ours.x_factor == (-0.3, 0.3) and ours.y_factor == (-0.2, 0.2)
    with pytest.raises((ValueError, TypeError), match="should be a number"):
        keras.layers.RandomShear.from_config(config)


@pytest.mark.parametrize("factory,flops", CONFIGS, ids=CONFIG_IDS)
def test_shapes_and_cost_rule(keras, factory, flops):
    inp, k_inp = gn.Input((9, 10, 3)), keras.Input((9, 10, 3))
    layer = factory(layers)
    assert gn.Model(inp, layer(inp)).output_shape == keras.Model(k_inp, factory(keras.layers)(k_inp)).output_shape
    cost = layer.cost((None, 9, 10, 3), layer.compute_output_shape((None, 9, 10, 3)))
    assert cost.params_count() == 0 and cost.macs_per_sample() == 0 and layer.count_params() == 0
    assert "at inference" in cost.reads
    out_elements = 5 * 6 * 3 if isinstance(layer, layers.RandomCrop) else 9 * 10 * 3
    assert cost.other_per_sample() == (None if flops is None else flops * out_elements)


def test_warps_are_differentiable_in_the_images():
    x = _images(shape=(2, 4, 5, 2)).double().requires_grad_(True)
    for layer in (layers.RandomRotation(0.2, seed=1, dtype="float64"),
                  layers.RandomPerspective(seed=2, fill_value=0.5, dtype="float64"),
                  layers.RandomZoom(0.3, fill_mode="constant", seed=3, dtype="float64")):
        t = layer.get_random_transformation(x)
        assert torch.autograd.gradcheck(lambda v: layer.transform_images(v, t), (x,))


def test_errors_name_the_layer_and_the_argument():
    with pytest.raises(ConfigError, match=r"the `factor` argument must be a number or a pair of numbers in \[-1, 1\]"
                                          r". Received: factor=2"):
        layers.RandomRotation(2)
    with pytest.raises(ConfigError, match=r"the `height_factor` argument must be a number or a pair of numbers in "
                                          r"\(-1, 1\]. Received: height_factor=-1"):
        layers.RandomZoom(-1)
    with pytest.raises(ConfigError, match=r"the `fill_mode` argument must be one of 'reflect', 'wrap', 'constant', "
                                          r"'nearest'. Received: fill_mode='mirror'"):
        layers.RandomTranslation(0.1, 0.1, fill_mode="mirror")
    with pytest.raises(ConfigError, match=r"the `mode` argument must be one of"):
        layers.RandomFlip("diagonal")
    with pytest.raises(ConfigError, match=r"the `x_factor` argument must be a number in \[0, 1\] or a pair of "
                                          r"numbers in \[-1, 1\]. Received: x_factor=-0.2"):
        layers.RandomShear(-0.2)
    with pytest.raises(ConfigError, match=r"MixUp 'mix_up\w*': the `alpha` argument must be a positive number. "
                                          r"Received: alpha=0"):
        layers.MixUp(alpha=0)
    with pytest.raises(ConfigError, match=r"the `fill_value` argument must be None, a number or a list of three "
                                          r"numbers. Received: fill_value=\[1, 2\]"):
        layers.RandomErasing(fill_value=[1, 2])
    with pytest.raises(ConfigError, match=r"the `value_range` argument must be a pair of numbers \(low, high\). "
                                          r"Received: value_range=255"):
        layers.RandomErasing(value_range=255)
    with pytest.raises(ConfigError, match=r"the `seed` argument must be an int or None. Received: seed='1'"):
        layers.RandomFlip(seed="1")
    with pytest.raises(ConfigError, match=r"RandomRotation 'random_rotation\w*' does not support bounding_box_format. "
                                          r"Received: bounding_box_format='xyxy'"):
        layers.RandomRotation(0.1, bounding_box_format="xyxy")
    with pytest.raises(ShapeError, match=r"RandomFlip 'random_flip\w*' expects a batch of images \(batch, height, "
                                         r"width, channels\) or a single image \(height, width, channels\). "
                                         r"Received: input shape \(4, 5\)"):
        layers.RandomFlip()(torch.zeros(4, 5))


# ---------------------------------------------------------------------- files both ways, training
def _augmenting_model(L, inp):
    x = L.RandomFlip("horizontal", seed=3)(inp)
    x = L.RandomRotation(0.1, fill_mode="constant", seed=4)(x)
    x = L.Conv2D(4, 3, activation="relu")(x)
    return L.Dense(10, activation="softmax")(L.Flatten()(x))


def test_keras_file_with_random_flip_and_rotation_both_ways(keras, tmp_path):
    rng = np.random.default_rng(2)
    k_inp = keras.Input((8, 8, 1))
    km = keras.Model(k_inp, _augmenting_model(keras.layers, k_inp))
    for v in km.trainable_weights:
        v.assign((rng.standard_normal(tuple(v.shape)) * 0.3).astype(np.float32))
    x = rng.uniform(0, 16, (5, 8, 8, 1)).astype(np.float32)
    expected = km.predict(x, verbose=0)
    km.save(tmp_path / "keras.keras")
    g = gn.load_model(tmp_path / "keras.keras")
    assert [type(lay).__name__ for lay in g.layers[1:3]] == ["RandomFlip", "RandomRotation"]
    assert g.layers[2].factor == (-0.1, 0.1) and g.layers[1].mode == "horizontal"
    np.testing.assert_allclose(g.predict(x), expected, rtol=1e-5, atol=1e-5)
    g.save(tmp_path / "glassnet.keras")
    k2 = keras.models.load_model(tmp_path / "glassnet.keras")
    assert k2.layers[2].get_config()["fill_mode"] == "constant"
    np.testing.assert_allclose(k2.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)


def test_a_model_with_flip_and_rotation_learns_the_digits():
    """fit runs the augmentation (every training batch is rotated), evaluate does not, and the loss falls."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    x = (digits.images[:600, :, :, None] / 16.0).astype(np.float32)
    y = digits.target[:600]
    gn.utils.set_random_seed(0)
    inp = gn.Input((8, 8, 1))
    model = gn.Model(inp, _augmenting_model(layers, inp))
    rotation = next(layer for layer in model.layers if isinstance(layer, layers.RandomRotation))
    rotated = []
    rotation.transform_images = lambda images, t: rotated.append(len(images)) or \
        type(rotation).transform_images(rotation, images, t)
    model.compile(optimizer=gn.optimizers.Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    initial_loss = model.evaluate(x, y, verbose=0)[0]
    assert rotated == []
    losses = model.fit(x, y, batch_size=32, epochs=3, verbose=0).history["loss"]
    assert sum(rotated) == 3 * 600
    assert losses[0] > losses[1] > losses[2] and losses[2] < 0.7 * initial_loss


# ---------------------------------------------------------------------- Pipeline and MaxNumBoundingBoxes
def _pipeline(L):
    # (Keras 3.15 computes garbage for a Normalization inside a Pipeline, so Rescaling stands in the middle)
    return L.Pipeline([L.RandomFlip(seed=1), L.Rescaling(0.5, offset=-0.5),
                       L.RandomRotation(0.1, fill_mode="constant", seed=2)])


def test_pipeline_chains_its_layers_and_passes_training_on():
    x = _images(shape=(4, 8, 8, 3))
    pipe = _pipeline(layers)
    torch.testing.assert_close(pipe(x), x * 0.5 - 0.5)
    expected = x
    for layer in _pipeline(layers).layers:
        expected = layer(expected, training=True)
    torch.testing.assert_close(pipe(x, training=True), expected)
    model = gn.Sequential([gn.Input((8, 8, 3)), _pipeline(layers), layers.Flatten(), layers.Dense(2)])
    cost = model.layers[0].cost((None, 8, 8, 3), (None, 8, 8, 3))
    assert [name for name, _ in cost.children] == [layer.name for layer in model.layers[0].layers]
    assert cost.params_count() == 0 and cost.macs_per_sample() == 0
    assert cost.other_per_sample() == sum(c.other_per_sample() for _, c in cost.children) > 7 * 192
    assert cost.reads.startswith("applies its 3 layers in turn: RandomFlip flips each image")


def test_pipeline_in_keras_files_both_ways(keras, tmp_path):
    """(Keras takes seconds to load a Pipeline holding a warp — it traces the warp — so this one flips twice.)"""
    def pipe(L):
        return L.Pipeline([L.RandomFlip(seed=1), L.Rescaling(0.5, offset=-0.5), L.RandomFlip("vertical", seed=2)])
    rng = np.random.default_rng(3)
    inp = keras.Input((8, 8, 3))
    km = keras.Model(inp, keras.layers.Dense(2)(keras.layers.Flatten()(pipe(keras.layers)(inp))))
    for v in km.trainable_weights:
        v.assign(rng.standard_normal(tuple(v.shape)).astype(np.float32) * 0.2)
    x = rng.uniform(0, 255, (3, 8, 8, 3)).astype(np.float32)
    km.save(tmp_path / "k.keras")
    g = gn.load_model(tmp_path / "k.keras")
    assert [type(layer).__name__ for layer in g.layers[1].layers] == ["RandomFlip", "Rescaling", "RandomFlip"]
    assert list(g.layers[1].saving_children()) == ["layers/random_flip", "layers/rescaling", "layers/random_flip_1"]
    np.testing.assert_allclose(g.predict(x), km.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    g.save(tmp_path / "g.keras")
    k2 = keras.models.load_model(tmp_path / "g.keras")
    np.testing.assert_allclose(k2.predict(x, verbose=0), km.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    assert k2.layers[1].layers[2].get_config()["mode"] == "vertical"


@pytest.mark.parametrize("count,single", [(3, False), (7, False), (3, True), (5, True)])
def test_max_num_bounding_boxes_matches_keras(keras, count, single):
    boxes = torch.arange(5 * 4 * 2, dtype=torch.float32).reshape(2, 5, 4)
    labels = torch.arange(10, dtype=torch.int32).reshape(2, 5)
    data = {"images": _images(shape=(2, 4, 4, 3)), "bounding_boxes": {"boxes": boxes, "labels": labels}}
    if single:
        data = {"images": data["images"][0], "bounding_boxes": {"boxes": boxes[0], "labels": labels[0]}}
    ours = layers.MaxNumBoundingBoxes(count, fill_value=-2, bounding_box_format="xyxy")(copy.deepcopy(data))
    theirs = keras.layers.MaxNumBoundingBoxes(count, fill_value=-2, bounding_box_format="xyxy")(copy.deepcopy(data))
    assert torch.equal(ours["images"], data["images"])
    for key in ("boxes", "labels"):
        assert torch.equal(ours["bounding_boxes"][key], theirs["bounding_boxes"][key])
    assert ours["bounding_boxes"]["boxes"].shape[-2] == count


def test_max_num_bounding_boxes_config_and_errors(keras):
    g = layers.MaxNumBoundingBoxes(4, fill_value=-3, bounding_box_format="yxyx")
    k_config = keras.layers.MaxNumBoundingBoxes(4, fill_value=-3, bounding_box_format="yxyx").get_config()
    assert set(g.get_config()) - set(k_config) == {"fill_value"}  # Keras forgets it; its constructor reads it
    assert keras.layers.MaxNumBoundingBoxes.from_config(g.get_config()).fill_value == -3
    ours = registry.deserialize({"class_name": "MaxNumBoundingBoxes", "config": k_config})
    assert ours.max_number == 4 and ours.bounding_box_format == "yxyx" and ours.fill_value == -1
    x = _images(shape=(2, 4, 4, 3))
    assert layers.MaxNumBoundingBoxes(2)(x) is x
    with pytest.raises(ConfigError, match=r"MaxNumBoundingBoxes 'max_num_bounding_boxes\w*' was given bounding boxes "
                                          r"but no bounding_box_format. Received: bounding_box_format=None"):
        layers.MaxNumBoundingBoxes(2)({"images": x, "bounding_boxes": {"boxes": torch.zeros(2, 1, 4),
                                                                       "labels": torch.zeros(2, 1)}})
    with pytest.raises(ConfigError, match=r"the `bounding_box_format` argument must be one of 'xyxy'"):
        layers.MaxNumBoundingBoxes(2, bounding_box_format="corners")


# ---------------------------------------------------------------------- the shared base's rules
def test_base_rules_match_keras(keras):
    """factor and value_range rules and the value-range mapping, as Keras's base image layer has them; the seed
    is written to the config only by a layer that takes one."""
    from glassnet.layers.preprocessing.augmentation import (_ImageAugmentation, factor_range, transform_value_range,
                                                            value_range)
    from keras.src.layers.preprocessing.image_preprocessing.base_image_preprocessing_layer import (
        BaseImagePreprocessingLayer)
    base = BaseImagePreprocessingLayer()  # its factor bounds are (-1, 1)
    for factor in (0.3, -0.3, 1, (0.2, -0.5), [-1, 0.4]):
        base._set_factor(factor)
        assert factor_range("f", factor) == tuple(float(v) for v in base.factor)
    base._FACTOR_BOUNDS = (0, 1)
    base._set_factor(0.7)
    assert factor_range("f", 0.7, (0.0, 1.0)) == tuple(float(v) for v in base.factor) == (0.0, 0.7)
    for bad in (1.5, (0.1, 0.2, 0.3), "0.1", (2.0, 3.0)):
        with pytest.raises(ConfigError, match=r"the `factor` argument must be a number or a pair of numbers"):
            factor_range("Layer", bad)
    assert value_range("v", [255, 0]) == (0, 255)
    x = _images(shape=(2, 3, 4, 1))
    expected = base._transform_value_range(x.clone(), (0, 255), (-1.0, 1.0))
    torch.testing.assert_close(transform_value_range(x, (0, 255), (-1.0, 1.0)), expected)
    assert transform_value_range(x, (0, 255), [0, 255]) is x

    class _Deterministic(_ImageAugmentation):
        def __init__(self, value_range=(0, 255), **kwargs):
            super().__init__(**kwargs)

    class _Seeded(_ImageAugmentation):
        def __init__(self, seed=None, **kwargs):
            super().__init__(seed=seed, **kwargs)

    assert "seed" not in _Deterministic().get_config() and _Seeded(seed=3).get_config()["seed"] == 3
