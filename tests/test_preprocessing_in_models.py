"""The preprocessing layers saved architectures contain — Rescaling, Normalization, Resizing, CenterCrop —
against Keras 3 (torch backend): outputs and input gradients on random non-constant statistics, glassnet's
own gradients in float64, parameter formulas against count_params and multiply-adds against torch's flop
counter, configs both ways, ``Normalization.adapt`` on arrays, tensors, iterables and DataLoaders against
Keras's adapt, integer images, Keras files both ways (adapted statistics included) and every error."""
import copy
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.flop_counter import FlopCounterMode

import glassnet as gn
from glassnet import layers
from glassnet.layers import registry
from _harness import compare_with_keras, gradcheck_model, pair

# id, factory (the same code builds both twins), per-sample input shape, output shape, params, params formula,
# element-wise FLOPs per sample (None: not counted, said in the layer's sentence)
CASES = [
    ("rescaling", lambda L: L.Rescaling(1 / 255.0), (6, 5, 3), (None, 6, 5, 3), 0, "0", 180),
    ("rescaling_offset", lambda L: L.Rescaling(1 / 127.5, offset=-1), (4, 3), (None, 4, 3), 0, "0", 24),
    ("rescaling_per_channel", lambda L: L.Rescaling([0.5, 2.0, -1.0], offset=[0.1, 0.2, 0.3]), (4, 5, 3),
     (None, 4, 5, 3), 0, "0", 120),
    ("normalization", lambda L: L.Normalization(), (5, 4), (None, 5, 4), 9, "2·c + 1", 40),
    ("normalization_two_axes", lambda L: L.Normalization(axis=(1, -1)), (4, 5, 3), (None, 4, 5, 3), 25, "2·c + 1", 120),
    ("normalization_axis_none", lambda L: L.Normalization(axis=None), (4, 3), (None, 4, 3), 3, "2·c + 1", 24),
    ("normalization_invert", lambda L: L.Normalization(invert=True), (6,), (None, 6), 13, "2·c + 1", 12),
    ("normalization_given", lambda L: L.Normalization(mean=[1.0, 2.0, 3.0], variance=[1.0, 4.0, 0.25]), (5, 3),
     (None, 5, 3), 0, "0", 30),
    ("normalization_given_scalar", lambda L: L.Normalization(axis=None, mean=2.0, variance=3.0), (4, 2),
     (None, 4, 2), 0, "0", 16),
    ("normalization_given_broadcast", lambda L: L.Normalization(axis=(1, 2), mean=[1.0, -2.0], variance=[2.0, 0.5]),
     (3, 2, 4), (None, 3, 2, 4), 0, "0", 48),
    ("normalization_given_invert", lambda L: L.Normalization(mean=[0.5, -1.0], variance=[4.0, 9.0], invert=True),
     (3, 2), (None, 3, 2), 0, "0", 12),
    ("resizing_shrink", lambda L: L.Resizing(5, 7), (12, 10, 3), (None, 5, 7, 3), 0, "0", 735),
    ("resizing_grow", lambda L: L.Resizing(13, 9), (6, 5, 2), (None, 13, 9, 2), 0, "0", 1638),
    ("resizing_nearest", lambda L: L.Resizing(5, 9, interpolation="nearest"), (12, 10, 3), (None, 5, 9, 3), 0, "0", 0),
    ("resizing_bicubic", lambda L: L.Resizing(9, 4, interpolation="bicubic"), (6, 8, 2), (None, 9, 4, 2), 0, "0", 2232),
    ("resizing_antialias", lambda L: L.Resizing(4, 5, antialias=True), (12, 11, 2), (None, 4, 5, 2), 0, "0", None),
    ("resizing_bicubic_antialias_grow", lambda L: L.Resizing(9, 7, interpolation="bicubic", antialias=True),
     (5, 6, 2), (None, 9, 7, 2), 0, "0", 3906),
    ("resizing_crop", lambda L: L.Resizing(6, 6, crop_to_aspect_ratio=True), (8, 12, 2), (None, 6, 6, 2), 0, "0", 504),
    ("resizing_pad", lambda L: L.Resizing(6, 6, pad_to_aspect_ratio=True, fill_value=0.5), (8, 12, 2),
     (None, 6, 6, 2), 0, "0", 504),
    ("resizing_pad_tall", lambda L: L.Resizing(5, 8, pad_to_aspect_ratio=True), (12, 7, 2), (None, 5, 8, 2), 0, "0", 560),
    ("resizing_channels_first", lambda L: L.Resizing(4, 6, data_format="channels_first"), (3, 8, 9),
     (None, 3, 4, 6), 0, "0", 504),
    ("center_crop", lambda L: L.CenterCrop(5, 4), (9, 8, 3), (None, 5, 4, 3), 0, "0", 0),
    ("center_crop_odd", lambda L: L.CenterCrop(4, 3), (9, 8, 2), (None, 4, 3, 2), 0, "0", 0),
    ("center_crop_smaller_input", lambda L: L.CenterCrop(10, 6), (7, 8, 2), (None, 10, 6, 2), 0, "0", 840),
    ("center_crop_channels_first", lambda L: L.CenterCrop(4, 4, data_format="channels_first"), (2, 7, 6),
     (None, 2, 4, 4), 0, "0", 0),
]
IDS = [c[0] for c in CASES]


def _input(shape, seed=0):
    return (np.random.default_rng(seed).standard_normal((3, *shape)) * 2 + 0.5).astype(np.float32)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_matches_keras_outputs_and_gradients(keras, case):
    _, factory, shape, out_shape, *_ = case
    g, k = pair(keras, factory(layers), factory(keras.layers), [shape])
    assert g.output_shape == k.output_shape == out_shape
    assert g.count_params() == k.count_params()
    x = _input(shape)
    compare_with_keras(g, k, [x])
    gradcheck_model(pair(keras, factory(layers), factory(keras.layers), [shape])[0], [x[:2]])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_cost_rule_against_count_params_and_flop_counter(case):
    """Params formula = count_params(); MACs = torch's flop counter on the meta device ÷ 2 (0: element-wise)."""
    _, factory, shape, _, params, formula, other = case
    inp = gn.Input(shape)
    model = gn.Model(inp, factory(layers)(inp))
    layer = model.layers[-1]
    cost = layer.cost(inp.symbolic_shape, layer.compute_output_shape(inp.symbolic_shape))
    assert cost.params_formula == formula and cost.params_count() == layer.count_params() == params
    row = gn.analyze(model, batch_size=3).rows[-1]
    assert row.params == params
    meta = model.to("meta")
    with FlopCounterMode(display=False) as counter:
        meta(torch.empty((3, *shape), device="meta"))
    assert row.macs == counter.get_total_flops() // 2 == 0
    assert cost.other_per_sample() == other


def _comparable(config):
    out = {}
    for key, value in config.items():
        if key in ("name", "dtype"):
            continue
        out[key] = [v for v in value] if isinstance(value, tuple) else value
    return out


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_config_reads_both_ways(keras, case):
    """Keras builds the same layer from glassnet's config and glassnet from Keras's; every key glassnet writes
    is one Keras writes."""
    _, factory, *_ = case
    g, k = factory(layers), factory(keras.layers)
    g_config, k_config = g.get_config(), k.get_config()
    assert set(g_config) == set(k_config)
    assert _comparable(type(k).from_config(copy.deepcopy(g_config)).get_config()) == _comparable(k_config)
    from_theirs = registry.deserialize({"class_name": type(k).__name__, "config": copy.deepcopy(k_config)})
    assert _comparable(from_theirs.get_config()) == _comparable(g_config)


def test_a_numpy_scale_in_a_keras_config_is_read(keras):
    """Keras writes a numpy scale as ``{"class_name": "__numpy__", ...}``."""
    k = keras.layers.Rescaling(np.array([0.5, 2.0], np.float32))
    config = keras.layers.Rescaling.from_config(k.get_config()).get_config()
    g = registry.deserialize({"class_name": "Rescaling", "config": k.get_config()})
    assert g.scale == [0.5, 2.0] and config["scale"]["class_name"] == "__numpy__"


# ---------------------------------------------------------------------- integer images
def test_integer_images_as_keras_treats_them(keras):
    """Resizing keeps an integer dtype (rounded, bicubic clamped to [0, 255] for uint8); Rescaling and CenterCrop
    output floats."""
    x = np.random.default_rng(1).integers(0, 256, (2, 9, 7, 3)).astype(np.uint8)
    for make in (lambda L: L.Resizing(5, 11), lambda L: L.Resizing(12, 4, interpolation="bicubic"),
                 lambda L: L.Resizing(4, 4, interpolation="nearest"), lambda L: L.Rescaling(1 / 255.0),
                 lambda L: L.CenterCrop(5, 5), lambda L: L.CenterCrop(11, 5)):
        g, k = pair(keras, make(layers), make(keras.layers), [(9, 7, 3)], dtype="uint8")
        yk = np.asarray(k(x).detach().cpu())
        yg = g(torch.from_numpy(x))
        assert str(yg.dtype).replace("torch.", "") == str(yk.dtype) == g.outputs[0].dtype
        np.testing.assert_allclose(yg.numpy().astype(np.float64), yk.astype(np.float64), rtol=1e-5, atol=1e-4)


# ---------------------------------------------------------------------- adapt
@pytest.fixture
def keras_streams(keras, monkeypatch):
    """Keras 3.15.1 asks ``isinstance(data, tf.data.Dataset)`` before it streams an iterable, which imports
    TensorFlow; without TensorFlow installed, that question is answered "no" here so Keras's own streaming code
    runs."""
    from keras.src.layers.preprocessing import normalization as module
    monkeypatch.setattr(module, "tf", SimpleNamespace(data=SimpleNamespace(Dataset=type("NotADataset", (), {}))))
    return keras


def _adapted(keras, make, data, keras_data=None):
    g, k = make(layers), make(keras.layers)
    g.adapt(data)
    k.adapt(data if keras_data is None else keras_data)
    return g, k


def _same_statistics(g, k):
    for name in ("mean", "variance"):
        ours, theirs = getattr(g, name).numpy(), getattr(k, f"adapt_{name}").numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6 * float(np.abs(theirs).max()), err_msg=name)


ADAPT_LAYERS = [("last_axis", lambda L: L.Normalization()), ("two_axes", lambda L: L.Normalization(axis=(1, 3))),
                ("all", lambda L: L.Normalization(axis=None)), ("invert", lambda L: L.Normalization(invert=True))]


@pytest.mark.parametrize("make", [m for _, m in ADAPT_LAYERS], ids=[n for n, _ in ADAPT_LAYERS])
def test_adapt_on_an_array_matches_keras(keras, make):
    data = (np.random.default_rng(2).standard_normal((50, 4, 3, 2)) * [1.0, 3.0] + [5.0, -2.0]).astype(np.float32)
    g, k = _adapted(keras, make, data)
    _same_statistics(g, k)
    x = data[:4]
    np.testing.assert_allclose(g(torch.from_numpy(x)).numpy(), np.asarray(k(x)), rtol=1e-5, atol=1e-5)
    g2, _ = _adapted(keras, make, torch.from_numpy(data), data)  # a torch tensor is one batch too
    _same_statistics(g2, k)


@pytest.mark.parametrize("make", [m for _, m in ADAPT_LAYERS], ids=[n for n, _ in ADAPT_LAYERS])
def test_adapt_streams_batches_as_keras_does(keras_streams, make):
    """Batches of unequal sizes, from a list, a generator and a DataLoader of (x, y) pairs, combined with
    Keras's streaming formula: the same statistics as Keras's adapt over the same batches, to 1e-6."""
    rng = np.random.default_rng(3)
    data = (rng.standard_normal((103, 4, 3, 2)) * [0.5, 4.0] + [10.0, -3.0]).astype(np.float32)
    batches = [data[i:i + 16] for i in range(0, len(data), 16)]
    keras = keras_streams
    g, k = _adapted(keras, make, batches)
    _same_statistics(g, k)
    g_gen, _ = _adapted(keras, make, (b for b in batches), batches)
    _same_statistics(g_gen, k)
    loader = DataLoader(TensorDataset(torch.from_numpy(data), torch.zeros(len(data))), batch_size=16)
    g_loader, _ = _adapted(keras, make, loader, batches)
    _same_statistics(g_loader, k)
    whole, _ = _adapted(keras, make, data)  # streaming gives the statistics of all the data at once
    np.testing.assert_allclose(g.mean.numpy(), whole.mean.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(g.variance.numpy(), whole.variance.numpy(), rtol=1e-6, atol=1e-6)


def test_adapt_errors():
    norm = layers.Normalization()
    with pytest.raises(ValueError, match="cannot adapt to an empty iterable"):
        norm.adapt([])
    with pytest.raises(TypeError, match="adapts to batches that are arrays or tensors"):
        norm.adapt([[1.0, 2.0]])
    with pytest.raises(TypeError, match="adapts to an array, a tensor or an iterable"):
        norm.adapt(3.0)
    norm.adapt(np.ones((4, 3), np.float32))
    with pytest.raises(gn.ShapeError, match=r"was built for inputs of rank 2 with sizes \[3\] on axes \[1\]"):
        norm.adapt([np.ones((4, 3), np.float32), np.ones((4, 5), np.float32)])
    with pytest.raises(ValueError, match="was given its mean and variance, so there is nothing to adapt"):
        layers.Normalization(mean=1.0, variance=2.0).adapt(np.ones((4, 3), np.float32))


# ---------------------------------------------------------------------- Keras files both ways
def _preprocessing_model(keras):
    L = keras.layers
    inp = keras.Input((10, 12, 3))
    x = L.Rescaling(1 / 255.0)(inp)
    x = L.Normalization()(x)
    x = L.Resizing(8, 8, crop_to_aspect_ratio=True)(x)
    x = L.Normalization(mean=[0.1, 0.2, 0.3], variance=[1.0, 2.0, 3.0])(x)
    x = L.CenterCrop(6, 5)(x)
    x = L.Conv2D(4, 3)(x)
    x = L.Resizing(5, 7, interpolation="bicubic")(x)
    x = L.Rescaling([1.0, 2.0, 0.5, -1.0], offset=0.25)(x)
    return keras.Model(inp, L.Dense(2)(L.GlobalAveragePooling2D()(x)))


def test_keras_file_with_an_adapted_normalization_both_ways(keras, tmp_path):
    """Keras adapts and saves; glassnet loads the statistics where Keras stores them and predicts the same; the
    file glassnet writes gives Keras the same statistics and predictions."""
    rng = np.random.default_rng(4)
    km = _preprocessing_model(keras)
    for v in km.trainable_weights:
        v.assign((rng.standard_normal(tuple(v.shape)) * 0.4).astype(np.float32))
    norm = km.layers[2]
    norm.adapt(rng.uniform(0, 1, (20, 10, 12, 3)).astype(np.float32))
    x = rng.uniform(0, 255, (3, 10, 12, 3)).astype(np.float32)
    expected = km.predict(x, verbose=0)
    km.save(tmp_path / "keras.keras")
    g = gn.load_model(tmp_path / "keras.keras")
    assert g.count_params() == km.count_params()
    np.testing.assert_array_equal(g.layers[2].mean.numpy(), norm.adapt_mean.numpy())
    np.testing.assert_allclose(g.predict(x), expected, rtol=1e-5, atol=1e-5)
    g.save(tmp_path / "glassnet.keras")
    k2 = keras.models.load_model(tmp_path / "glassnet.keras")
    np.testing.assert_array_equal(k2.layers[2].adapt_variance.numpy(), norm.adapt_variance.numpy())
    np.testing.assert_allclose(k2.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)


def test_glassnet_adapted_file_predicts_the_same_in_keras(keras, tmp_path):
    """The reverse: glassnet adapts (streaming from a DataLoader) and saves; Keras loads and predicts the same."""
    rng = np.random.default_rng(5)
    inp = gn.Input((6,))
    norm = layers.Normalization()
    model = gn.Model(inp, layers.Dense(3)(norm(inp)))
    data = torch.from_numpy((rng.standard_normal((40, 6)) * 3 + 1).astype(np.float32))
    norm.adapt(DataLoader(TensorDataset(data), batch_size=7))
    x = data[:5].numpy()
    model.save(tmp_path / "g.keras")
    k = keras.models.load_model(tmp_path / "g.keras")
    np.testing.assert_allclose(k.predict(x, verbose=0), model.predict(x), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(k.layers[1].adapt_mean.numpy(), data.numpy().mean(0), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------- masks, analysis, errors
def test_masks_pass_through_rescaling_and_normalization_and_stop_at_resizing():
    inp = gn.Input((5, 4, 3))
    x = layers.Normalization(mean=0.5, variance=2.0, axis=None)(layers.Rescaling(2.0)(layers.Masking()(inp)))
    assert x.mask is not None and x.mask.shape == (None, 5, 4)
    with pytest.warns(gn.GlassnetWarning, match="does not support masking"):
        y = layers.Resizing(3, 3)(x)
    assert y.mask is None


def test_resizing_reports_element_wise_work_and_window():
    inp = gn.Input((12, 10, 3))
    resize = layers.Resizing(4, 5)
    model = gn.Model(inp, layers.Conv2D(2, 3)(resize(inp)))
    rows = gn.analyze(model).rows
    cost = resize.cost(inp.symbolic_shape, (None, 4, 5, 3))
    assert cost.other_per_sample() == 4 * 5 * 3 * 7 and cost.rf[0] == "window"
    assert rows[1].receptive_field == (2, 2)  # a bilinear output reads 2×2 inputs
    # 3 resized rows 3 input rows apart (12 → 4), 3 resized columns 2 apart (10 → 5), each reading 2 inputs
    assert rows[2].receptive_field == (2 + 2 * 3, 2 + 2 * 2)
    variable = gn.Input((None, None, 3))
    blurred = layers.Resizing(4, 5, antialias=True)
    cost = blurred.cost(variable.symbolic_shape, blurred.compute_output_shape(variable.symbolic_shape))
    assert cost.other_flops is None and cost.macs == 0 and "not counted" in cost.reads


def test_errors():
    with pytest.raises(gn.ConfigError, match="Resizing 'r' cannot resize with Lanczos interpolation: Keras's torch "
                                             "backend does not compute it"):
        layers.Resizing(4, 4, interpolation="lanczos3", name="r")
    with pytest.raises(gn.ConfigError, match="can either crop or pad to the aspect ratio, not both"):
        layers.Resizing(4, 4, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True)
    with pytest.raises(gn.ConfigError, match="the `fill_mode` argument must be one of 'constant'"):
        layers.Resizing(4, 4, fill_mode="reflect")
    with pytest.raises(gn.ConfigError, match="the `height` argument must be a positive integer"):
        layers.CenterCrop(0, 4)
    with pytest.raises(gn.ConfigError, match="does not support bounding_box_format"):
        layers.CenterCrop(3, 4, bounding_box_format="xyxy")
    with pytest.raises(gn.ShapeError, match=r"Resizing 'rs' expects input of rank 4 \(batch, height, width, channels\)"
                                            r"\. Received: input shape \(None, 8, 8\)"):
        layers.Resizing(4, 4, name="rs")(gn.Input((8, 8)))
    with pytest.raises(gn.ConfigError, match="needs mean and variance together"):
        layers.Normalization(mean=1.0)
    with pytest.raises(gn.ConfigError, match="needs mean and variance of the same shape"):
        layers.Normalization(mean=[1.0, 2.0], variance=[1.0])
    with pytest.raises(gn.ConfigError, match="keeps 1 axes, so mean can have at most 1 dimensions"):
        layers.Normalization(mean=[[1.0]], variance=[[1.0]])
    with pytest.raises(gn.ShapeError, match="Normalization 'n' needs a fixed size on axis 2"):
        layers.Normalization(name="n")(gn.Input((4, None)))
    with pytest.raises(gn.ShapeError, match=r"keeps axes \(3,\), which an input of rank 3 does not have"):
        layers.Normalization(axis=3)(gn.Input((4, 5)))
    with pytest.raises(gn.ShapeError, match=r"has a scale of shape \(2,\), which does not broadcast"):
        layers.Rescaling([1.0, 2.0])(gn.Input((4, 3)))
    with pytest.raises(gn.ConfigError, match="the `scale` argument must be a finite number"):
        layers.Rescaling("big")
