"""Keras Applications through glassnet. Keras 3 (torch backend) builds each architecture with
``weights=None`` at the smallest input size it accepts (and its smallest width multiplier), with random
non-constant weights and logits out (``classifier_activation=None``, so the comparison is not flattened by a
softmax), and saves it as ``.keras``. glassnet loads it and predicts the same (to 1e-4 of the output's scale);
glassnet saves it and Keras loads that file and predicts the same; ``gn.analyze`` counts Keras's
``count_params()`` and torch's FlopCounterMode ÷ 2 on the meta device as multiply-adds.

Also here, fast: what these architectures needed from the loader — Keras operation nodes (``x + 3.0``,
``a + b``), model names with dots, ConvNeXt's LayerScale — and the analysis of MobileNetV2 at any image size.
"""
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import sympy
import torch
from torch.utils.flop_counter import FlopCounterMode

import glassnet as gn
from glassnet import layers
from glassnet.layers import registry
from glassnet.models.config import functional_config, functional_from_config
from glassnet.models.keras_ops import KerasOperation


def _nasnet_mobile(keras, **kwargs):
    """Keras 3.15.1 refuses NASNetMobile on its torch backend ("an outstanding bug", nasnet.py); the
    architecture function it calls builds it there. At these sizes every "same" average pooling has stride 1
    (symmetric padding), so Keras's torch backend computes what TensorFlow computes."""
    from keras.src.applications import nasnet
    return nasnet.NASNet(kwargs.pop("input_shape"), penultimate_filters=1056, num_blocks=4, stem_block_filters=32,
                         skip_reduction=False, filter_multiplier=2, default_size=224, name="nasnet_mobile", **kwargs)


# name → (builder, smallest input size, extra arguments: the smallest width multiplier where there is one)
APPLICATIONS = {
    "MobileNet": (None, 32, {"alpha": 0.25}),
    "MobileNetV2": (None, 32, {"alpha": 0.35}),
    "MobileNetV3Small": (None, 32, {"alpha": 0.75}),
    "ResNet50": (None, 32, {}),
    "ResNet50V2": (None, 32, {}),
    "DenseNet121": (None, 32, {}),
    "EfficientNetB0": (None, 32, {}),
    "EfficientNetV2B0": (None, 32, {}),
    "Xception": (None, 71, {}),
    "InceptionV3": (None, 75, {}),
    "NASNetMobile": (_nasnet_mobile, 32, {}),
    "VGG16": (None, 32, {}),
    "ConvNeXtTiny": (None, 32, {}),
}
# these rescale [0, 255] inputs themselves (Rescaling/Normalization layers inside the model)
PIXEL_INPUTS = {"MobileNetV3Small", "EfficientNetB0", "EfficientNetV2B0", "ConvNeXtTiny"}


def _randomize(model, rng) -> None:
    """Keras's kernels are random already (Glorot); biases, normalisation parameters and statistics and the
    layer scales start constant: give them random values (variances and scales positive)."""
    for v in model.weights:
        path = v.path
        if "count" in path.rsplit("/", 1)[-1] or "kernel" in path.rsplit("/", 1)[-1]:
            continue
        positive = any(k in path.rsplit("/", 1)[-1] for k in ("variance", "gamma", "variable"))
        value = rng.uniform(0.5, 1.5, tuple(v.shape)) if positive else rng.normal(0.0, 0.1, tuple(v.shape))
        v.assign(value.astype(np.float32))


def _close(actual, expected, what):
    scale = float(np.abs(expected).max())
    assert np.isfinite(actual).all() and scale > 0, what
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-4 * scale, err_msg=what)


def _flops_on_meta(model, shape):
    meta = model.to("meta")
    with FlopCounterMode(display=False) as counter:
        meta(torch.empty(shape, device="meta"))
    return counter.get_total_flops()


@pytest.mark.slow
@pytest.mark.parametrize("name", list(APPLICATIONS))
def test_application_both_ways_and_analysed(keras, name, tmp_path):
    build, size, extra = APPLICATIONS[name]
    kwargs = dict(weights=None, input_shape=(size, size, 3), classifier_activation=None, **extra)
    km = build(keras, **kwargs) if build else getattr(keras.applications, name)(**kwargs)
    rng = np.random.default_rng(sum(map(ord, name)))
    _randomize(km, rng)
    x = (rng.uniform(0, 255, (2, size, size, 3)) if name in PIXEL_INPUTS
         else rng.uniform(-1, 1, (2, size, size, 3))).astype(np.float32)
    expected = km.predict(x, verbose=0)
    km.save(tmp_path / "keras.keras")
    g = gn.load_model(tmp_path / "keras.keras")
    assert g.count_params() == km.count_params()
    _close(g.predict(x), expected, f"{name}: glassnet's prediction from Keras's file")
    g.save(tmp_path / "glassnet.keras")
    del km
    k2 = keras.models.load_model(tmp_path / "glassnet.keras")
    _close(k2.predict(x, verbose=0), expected, f"{name}: Keras's prediction from glassnet's file")
    report = gn.analyze(g, batch_size=2)
    assert report.totals["params"] == k2.count_params()
    assert report.totals["macs"] == report.totals["macs_known_part"]
    assert 2 * report.totals["macs"] == _flops_on_meta(g, (2, size, size, 3)), name


# ---------------------------------------------------------------------- what the loader needed (fast)
def _config(path) -> dict:
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read("config.json"))


def _operations_model(keras):
    """Arithmetic on Keras tensors, as MobileNetV3 (hard sigmoid: ``relu6(x + 3) * (1/6)``) and ConvNeXt (the
    residual ``a + b``) write it: Keras records operation nodes with constants among their arguments."""
    L = keras.layers
    inp = keras.Input((6, 6, 3))
    x = L.Conv2D(4, 3, padding="same")(inp)
    hard_sigmoid = L.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)
    y = L.Multiply()([x, hard_sigmoid])  # a merge layer beside the operations
    y = 1.0 - y / 2.0
    y = -L.Conv2D(4, 1)(y) + x
    z = L.Add()([y, x])
    return keras.Model(inp, L.Dense(2)(L.GlobalAveragePooling2D()(z)), name="ops.model_1.0")


def test_keras_operation_nodes_and_dotted_names_both_ways(keras, tmp_path):
    rng = np.random.default_rng(0)
    km = _operations_model(keras)
    km.set_weights([(rng.standard_normal(tuple(v.shape)) * 0.4).astype(np.float32) for v in km.weights])
    x = rng.standard_normal((3, 6, 6, 3)).astype(np.float32)
    expected = km.predict(x, verbose=0)
    km.save(tmp_path / "keras.keras")
    ops = [e["class_name"] for e in _config(tmp_path / "keras.keras")["config"]["layers"]
           if e.get("module") == "keras.src.ops.numpy"]
    assert sorted(ops) == ["Add", "Add", "Multiply", "Negative", "Subtract", "TrueDivide"]
    g = gn.load_model(tmp_path / "keras.keras")
    assert g.name == "ops.model_1.0"
    np.testing.assert_allclose(g.predict(x), expected, rtol=1e-5, atol=1e-5)
    g.save(tmp_path / "glassnet.keras")
    written = _config(tmp_path / "glassnet.keras")["config"]["layers"]
    subtract = next(e for e in written if e["class_name"] == "Subtract")
    assert subtract["module"] == "keras.src.ops.numpy" and subtract["config"] == {"name": subtract["name"]}
    assert subtract["inbound_nodes"][0]["args"][0] == 1.0  # the constant stays where Keras put it
    k2 = keras.models.load_model(tmp_path / "glassnet.keras")
    np.testing.assert_allclose(k2.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)
    assert [v.path.split("/", 1)[1] for v in k2.weights] == [v.path.split("/", 1)[1] for v in km.weights]
    g.save(tmp_path / "native.glassnet")  # glassnet's own format rebuilds them too
    np.testing.assert_allclose(gn.load_model(tmp_path / "native.glassnet").predict(x), expected, rtol=1e-5,
                               atol=1e-5)
    report = gn.analyze(g)
    row = report.row(subtract["name"])
    assert row.macs == 0 and "Keras operation Subtract(1, x)" in row.reads


def test_operations_in_a_keras_legacy_h5_are_told_from_merge_layers(keras, tmp_path):
    """Keras's legacy .h5 config has no module: an operation (``Add`` with two arguments) and the merge layer
    (``Add`` with one list) share a class name and are told apart by their call. (Keras 3.15.1 cannot reload
    such a file itself: it rebuilds every ``Add`` as the layer.)"""
    rng = np.random.default_rng(1)
    km = _operations_model(keras)
    km.set_weights([(rng.standard_normal(tuple(v.shape)) * 0.4).astype(np.float32) for v in km.weights])
    x = rng.standard_normal((2, 6, 6, 3)).astype(np.float32)
    km.save(tmp_path / "legacy.h5")
    g = gn.load_model(tmp_path / "legacy.h5")
    np.testing.assert_allclose(g.predict(x), km.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    kinds = sorted(type(layer).__name__ for layer in g.layers if type(layer).__name__ in ("Add", "KerasOperation"))
    assert kinds == ["Add"] + ["KerasOperation"] * 6
    g.save(tmp_path / "glassnet.h5")  # glassnet writes legacy configs as Keras does (no module) and reads them back
    np.testing.assert_allclose(gn.load_model(tmp_path / "glassnet.h5").predict(x), km.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-5)


def test_unknown_operations_are_refused_by_name(tmp_path):
    inp = gn.Input((4,))
    config = functional_config(gn.Model(inp, layers.Dense(2)(inp)))
    dense = config["layers"][1]["name"]
    config["layers"].append({"module": "keras.src.ops.numpy", "class_name": "Einsum", "config": {"name": "einsum"},
                             "name": "einsum", "inbound_nodes": [{"args": ["ij->ji", {
                                 "class_name": "__keras_tensor__", "config": {"keras_history": [dense, 0, 0]}}],
                                 "kwargs": {}}]})
    config["output_layers"] = ["einsum", 0, 0]
    with pytest.raises(gn.ConfigError, match="The Keras operation 'Einsum' \\(einsum\\) cannot be rebuilt; glassnet "
                                              "knows the element-wise operations Add, Subtract"):
        functional_from_config(gn.Model, config)
    with pytest.raises(gn.ConfigError, match="The Keras operation Add 'a' takes 2 argument\\(s\\), at least one"):
        KerasOperation("Add", [1.0, 2.0], name="a")


def test_an_application_nested_in_a_model_loads(keras, tmp_path):
    """The usual transfer-learning file: an application used as a layer of a bigger model."""
    base = keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), alpha=0.35, include_top=False)
    inp = keras.Input((32, 32, 3))
    km = keras.Model(inp, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(base(inp))))
    km.save(tmp_path / "nested.keras")
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    _close(gn.load_model(tmp_path / "nested.keras").predict(x), km.predict(x, verbose=0), "nested application")


def test_convnext_layer_scale_and_stochastic_depth_both_ways(keras, tmp_path):
    from keras.src.applications.convnext import LayerScale, StochasticDepth
    rng = np.random.default_rng(2)
    inp = keras.Input((4, 4, 6))
    km = keras.Model(inp, StochasticDepth(0.2)(LayerScale(1e-6, 6)(keras.layers.Dense(6)(inp))))
    km.set_weights([(rng.standard_normal(tuple(v.shape))).astype(np.float32) for v in km.weights])
    x = rng.standard_normal((2, 4, 4, 6)).astype(np.float32)
    km.save(tmp_path / "k.keras")
    g = gn.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(g.predict(x), km.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert g.layers[-1].drop_path_rate == 0.2
    row = gn.analyze(g).rows[-2]
    assert (row.type, row.params, row.params_formula) == ("LayerScale", 6, "d = 6")
    g.save(tmp_path / "g.keras")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "g.keras").predict(x, verbose=0),
                               km.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_stochastic_depth_drops_whole_samples_in_training_only():
    layer = layers.StochasticDepth(0.5)
    x = torch.ones(2000, 3, 2)
    assert torch.equal(layer(x), x)
    y = layer(x, training=True)
    kept = (y[:, 0, 0] != 0).float()
    assert set(torch.unique(y).tolist()) == {0.0, 2.0} and 0.45 < kept.mean().item() < 0.55
    assert torch.equal(y, kept[:, None, None].expand_as(y) * 2)


# ---------------------------------------------------------------------- MobileNetV2 at any image size
@pytest.fixture(scope="module")
def mobilenet_v2_any_size(keras, tmp_path_factory):
    """MobileNetV2 (alpha 0.35, no top) built by Keras for images of any size; each call loads a fresh copy."""
    km = keras.applications.MobileNetV2(weights=None, input_shape=(None, None, 3), alpha=0.35, include_top=False)
    path = tmp_path_factory.mktemp("mobilenet") / "m.keras"
    km.save(path)
    return lambda: gn.load_model(path)


def _measured_rf(model, size: int) -> tuple:
    """Extent of the non-zero input gradient of the centre output position, with positive weights and the
    ReLU6 caps lifted (so no gradient is clipped away; the windows are unchanged)."""
    for layer in model.layers:
        if isinstance(layer, layers.ReLU):
            layer.max_value = None
    with torch.no_grad():
        for w in model.weights:
            if w.is_floating_point():
                w.copy_(torch.rand_like(w) * 0.1 + 0.01)
    x = torch.rand(1, size, size, 3, requires_grad=True)
    y = model(x)
    y[(0, *(s // 2 for s in y.shape[1:-1]), 0)].backward()
    hit = x.grad[0, ..., 0] != 0
    return tuple(int(idx.max() - idx.min() + 1) for idx in
                 (torch.nonzero(hit.any(dim=1)).flatten(), torch.nonzero(hit.any(dim=0)).flatten()))


def test_mobilenet_v2_at_any_size_has_macs_formulas_in_h_and_w(mobilenet_v2_any_size):
    """Every convolution's multiply-adds are a formula in H and W (not unknown); evaluated at 64×64 they sum to
    torch's flop counter ÷ 2."""
    g = mobilenet_v2_any_size()
    report = gn.analyze(g)
    convs = [r for r in report.rows if r.type in ("Conv2D", "DepthwiseConv2D")]
    assert len(convs) == 52 and convs[-1].name == "Conv_1"
    for row in convs:
        expr = sympy.sympify(row.macs_expr)
        assert row.macs is None and {s.name for s in expr.free_symbols} == {"B", "H", "W"}, row.name
        assert "H" in row.macs_formula and "W" in row.macs_formula and "?" not in row.macs_formula
    assert convs[-1].macs_formula == "1280·1·1·112·⌊⌊⌊⌊⌈H/2⌉/2⌋/2⌋/2⌋/2⌋·⌊⌊⌊⌊⌈W/2⌉/2⌋/2⌋/2⌋/2⌋"
    at = {sympy.Symbol("B"): 1, sympy.Symbol("H"): 64, sympy.Symbol("W"): 64}
    total = sum(int(sympy.sympify(r.macs_expr).subs(at)) for r in report.rows if r.macs_expr not in ("0", ""))
    assert total == gn.analyze(g, input_shape=(1, 64, 64, 3)).totals["macs"]
    assert 2 * total == _flops_on_meta(g, (1, 64, 64, 3))


def test_mobilenet_v2_at_any_size_totals_its_macs_as_a_formula(mobilenet_v2_any_size):
    """With H and W unsized the total is the sum of the rows' formulas, a formula in H and W, which at a
    size equals the analysis at that size."""
    g = mobilenet_v2_any_size()
    report = gn.analyze(g)
    shown = report.totals["formulas"]["macs"]
    total = sympy.sympify(shown.replace("·", "*").replace("⌊", "floor(").replace("⌋", ")")
                          .replace("⌈", "ceiling(").replace("⌉", ")"))
    assert report.totals["macs"] is None and {str(s) for s in total.free_symbols} == {"H", "W"}  # at B=1
    at = {s: 64 for s in total.free_symbols}
    assert int(total.subs(at)) == gn.analyze(g, input_shape=(1, 64, 64, 3)).totals["macs"]
    assert "MACs: " + report.totals["formulas"]["macs"] in report.to_text()


def test_mobilenet_v2_receptive_field_of_its_last_conv_matches_measurement(mobilenet_v2_any_size):
    g = mobilenet_v2_any_size()
    rf = gn.analyze(g).row("Conv_1").receptive_field
    assert rf == (491, 491) == _measured_rf(g, 560)


# ---------------------------------------------------------------------- coverage of keras.layers
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "tools", "keras_coverage.py")


@pytest.fixture(scope="module")
def coverage_run(keras):
    """tools/keras_coverage.py run as a script, its JSON report and its exit status."""
    done = subprocess.run([sys.executable, SCRIPT, "--json"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "KERAS_BACKEND": "torch"})
    return json.loads(done.stdout), done.returncode


def test_keras_coverage_script_groups_keras_layers_against_the_registry(coverage_run):
    report, status = coverage_run
    groups = report["groups"]
    assert list(groups) == ["modelling", "preprocessing and augmentation", "backend bridges (out of scope)",
                            "base classes and specs (not named in files)"]
    # glassnet runs torch modules (TorchModuleWrapper); the other frameworks' bridges are out of scope
    assert set(groups["backend bridges (out of scope)"]["missing"]) == {"JaxLayer", "FlaxLayer", "TFSMLayer"}
    assert {"Rescaling", "Normalization", "Resizing", "CenterCrop"} <= set(groups["preprocessing and augmentation"]
                                                                            ["present"])
    assert {"Conv2D", "Convolution2D", "GroupQueryAttention", "MaxPool2D"} <= set(groups["modelling"]["present"])
    for found in groups.values():
        assert all(registry.get(n) is not None for n in found["present"])
        assert all(registry.get(n) is None for n in found["missing"])
    assert status == (1 if groups["modelling"]["missing"] else 0)
    assert "KerasOperation" in report["glassnet_only"] and "LayerScale" in report["glassnet_only"]


def test_every_keras_modelling_class_is_present(coverage_run):
    report, status = coverage_run
    assert report["groups"]["modelling"]["missing"] == [] and status == 0
