"""Keras 2 (tf-keras) legacy ``.h5`` files: fixtures written once by ``tools/make_keras2_fixtures.py`` (in its
own TensorFlow virtualenv; ``MANIFEST.json`` records the versions), each with an input batch and the output
tf-keras computed for it. glassnet loads each — without TensorFlow — and predicts the same; the model it
saves as ``.keras`` loads in Keras 3 and predicts the same too. Each defect these files exposed has its own
regression test below."""
import json
import os
import shutil
import warnings

import h5py
import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import glassnet as gn
from glassnet import layers
from glassnet.errors import FileFormatError
from glassnet.layers import registry
from glassnet.models.config import functional_from_config
from glassnet.models.keras_ops import KerasOperation

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "keras2")
with open(os.path.join(FIXTURES, "MANIFEST.json")) as _f:
    MANIFEST = json.load(_f)
NAMES = sorted(MANIFEST["fixtures"])


def _fixture(name):
    data = np.load(os.path.join(FIXTURES, f"{name}.npz"))
    return os.path.join(FIXTURES, f"{name}.h5"), data["x"], data["y"]


def _close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5 * float(np.abs(expected).max()))


def test_the_fixtures_are_keras_2_files():
    assert MANIFEST["tf_keras"].startswith("2.") and len(NAMES) == 8
    for name in NAMES:
        with h5py.File(_fixture(name)[0]) as f:
            assert f.attrs["keras_version"].startswith("2.") and f.attrs["backend"] == "tensorflow"


@pytest.mark.parametrize("name", NAMES)
def test_keras_2_file_loads_and_predicts_the_same(name):
    path, x, y = _fixture(name)
    model = gn.load_model(path)
    assert model.count_params() == MANIFEST["fixtures"][name]["params"]
    _close(model.predict(x), y)


@pytest.mark.parametrize("name", NAMES)
def test_analysis_of_keras_2_files_counts_what_torch_counts(name):
    """Params = Keras 2's count_params(); MACs = torch's FlopCounterMode ÷ 2 on the fixture's input. torch 2.13's
    counter counts 0 for scaled_dot_product_attention, so MultiHeadAttention's attention term (heads·T·S·(key_dim
    + value_dim) per sample) is added by hand. The masked LSTMs of seq2seq run in glassnet's recurrent kernels,
    which the counter does not see (and on the meta device a mask's padding cannot be read): only its params."""
    path, x, _ = _fixture(name)
    model = gn.load_model(path)
    report = gn.analyze(model, batch_size=x.shape[0])
    assert report.totals["params"] == MANIFEST["fixtures"][name]["params"]
    if name == "seq2seq":
        return
    with FlopCounterMode(display=False) as counter:
        model(torch.from_numpy(x))
    attention = x.shape[0] * 2 * 7 * 7 * (4 + 4) if name == "multi_head_attention" else 0
    assert report.totals["macs"] == counter.get_total_flops() // 2 + attention > 0


@pytest.mark.parametrize("name", NAMES)
def test_glassnet_turns_keras_2_files_into_keras_3_files(keras, name, tmp_path):
    """What glassnet writes from a Keras 2 file — operations included — Keras 3 loads and predicts the same."""
    path, x, y = _fixture(name)
    gn.load_model(path).save(tmp_path / "converted.keras")
    _close(keras.models.load_model(tmp_path / "converted.keras").predict(x, verbose=0), y)


# ---------------------------------------------------------------------- the defects, one test each
def _weighted_layer_names(path):
    with h5py.File(path) as f:
        group = f["model_weights"]
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs["layer_names"]]
        return [n for n in names if len(group[n].attrs["weight_names"])]


def test_inception_batchnorm_without_scale_and_layer_order():
    """InceptionV3 as tf-keras saves it failed with "layer 'conv2d_9' has 1 weights in the file;
    'batch_normalization_6' expects 3": legacy weights go by layer order, so glassnet must list a functional
    model's layers in Keras's graph order; BatchNormalization(scale=False) holds beta and the two statistics."""
    path, x, y = _fixture("inception_blocks")
    model = gn.load_model(path)
    assert [layer.name for layer in model.layers if layer.weights] == _weighted_layer_names(path)
    bn = model.get_layer("batch_normalization_6")
    assert not bn.scale and len(bn.weights) == 3
    with h5py.File(path) as f:
        stored = f["model_weights/batch_normalization_6/batch_normalization_6"]
        assert sorted(stored) == ["beta:0", "moving_mean:0", "moving_variance:0"]
        for name, weight in zip(("beta:0", "moving_mean:0", "moving_variance:0"), bn.weights):
            np.testing.assert_array_equal(weight.detach().numpy(), stored[name][()])
    _close(model.predict(x), y)


def test_xception_separable_conv_keras_2_keys_are_translated():
    """Xception as tf-keras saves it was refused: its SeparableConv2D config carries Keras 2's `groups` and the
    `kernel_initializer` Keras 2 separable convolutions inherit but never use; Keras 3's Conv transposes and
    depthwise convolutions carry `groups` too. They are read at the value Keras 3 computes with, refused at any
    other."""
    path, x, y = _fixture("xception_blocks")
    with h5py.File(path) as f:
        config = json.loads(f.attrs["model_config"])
    sep = next(e for e in config["config"]["layers"] if e["class_name"] == "SeparableConv2D")["config"]
    assert sep["groups"] == 1 and "kernel_initializer" in sep
    layer = registry.deserialize({"class_name": "SeparableConv2D", "config": dict(sep)})
    assert "groups" not in layer.get_config() and "kernel_initializer" not in layer.get_config()
    with pytest.raises(gn.ConfigError, match=r"Layer 'block2_sepconv1' \(SeparableConv2D\) has the Keras 2 setting "
                                             r"groups=2, which Keras 3 and glassnet do not compute \(only groups=1\)"):
        registry.deserialize({"class_name": "SeparableConv2D", "config": {**sep, "groups": 2}})
    for cls in ("DepthwiseConv2D", "Conv2DTranspose"):
        with pytest.raises(gn.ConfigError, match="has the Keras 2 setting groups=3"):
            registry.deserialize({"class_name": cls, "config": {"kernel_size": 3, "filters": 3, "groups": 3,
                                                                "name": "c"}})
    _close(gn.load_model(path).predict(x), y)


def test_multi_head_attention_keras_2_config_and_keyword_tensors():
    """tf-keras writes MultiHeadAttention's build shapes and `softmax_robust_masking` in its config, and the
    `value` tensor of the call as ``["input_1", 0, 0]`` among the node's keyword arguments."""
    path, x, y = _fixture("multi_head_attention")
    model = gn.load_model(path)
    query, value = model.get_layer("mha")._inbound_nodes[0].args[:2]
    assert query is value is model.inputs[0]
    with pytest.raises(gn.ConfigError, match="has the Keras 2 setting softmax_robust_masking=True"):
        registry.deserialize({"class_name": "MultiHeadAttention", "config": {
            "num_heads": 2, "key_dim": 4, "softmax_robust_masking": True, "name": "m"}})
    _close(model.predict(x), y)


def test_tf_op_lambda_layers_become_keras_operations():
    """Keras 2 records ``x + 3.0``, ``x * (1/6)``, ``1.0 - x``, ``a + b`` as TFOpLambda layers (Keras 3 cannot
    load them); glassnet rebuilds each as the Keras 3 operation of the same meaning, named without dots."""
    path, x, y = _fixture("operators_and_preprocessing")
    model = gn.load_model(path)
    ops = {layer.name: (layer.operation, layer.template) for layer in model.layers if isinstance(layer, KerasOperation)}
    assert ops == {"tf___operators___add": ("Add", [None, 3.0]), "tf_math_multiply": ("Multiply", [None, 1 / 6]),
                   "tf_math_multiply_1": ("Multiply", [None, None]), "tf_math_truediv": ("TrueDivide", [None, 2.0]),
                   "tf_math_subtract": ("Subtract", [1.0, None]), "tf___operators___add_1": ("Add", [None, None])}
    _close(model.predict(x), y)
    entry = {"class_name": "TFOpLambda", "name": "tf.reshape", "config": {"name": "tf.reshape", "function": "reshape"},
             "inbound_nodes": [["input_1", 0, 0, {"shape": [-1]}]]}
    config = {"name": "m", "layers": [{"class_name": "InputLayer", "name": "input_1", "config": {
        "batch_input_shape": [None, 4], "name": "input_1"}, "inbound_nodes": []}, entry],
        "input_layers": [["input_1", 0, 0]], "output_layers": [["tf.reshape", 0, 0]]}
    with pytest.raises(gn.ConfigError, match="Layer 'tf.reshape' \\(TFOpLambda\\) calls the TensorFlow function "
                                             "'reshape', which glassnet cannot rebuild"):
        functional_from_config(gn.Model, config)


def test_layer_names_with_slashes_are_renamed():
    """tf-keras's MobileNetV3 names layers "Conv/BatchNorm"; "/" separates Keras 3's weight paths, so the layer
    is renamed "Conv_BatchNorm" (its weights are still found: a legacy file's go by layer order)."""
    path, x, y = _fixture("operators_and_preprocessing")
    model = gn.load_model(path)
    assert {"block_conv", "block_relu6"} <= {layer.name for layer in model.layers}
    with h5py.File(path) as f:
        np.testing.assert_array_equal(model.get_layer("block_conv").kernel.detach().numpy(),
                                      f["model_weights/block/conv/block/conv/kernel:0"][()])


def test_preprocessing_layers_and_the_int64_count_of_a_keras_2_normalization():
    """Keras 2 stores an adapted Normalization's `count` as int64; glassnet's (Keras 3's) is int32: an integer
    that fits is converted, one that does not is refused."""
    path, x, y = _fixture("operators_and_preprocessing")
    model = gn.load_model(path)
    norm = model.get_layer("normalization")
    with h5py.File(path) as f:
        stored = f["model_weights/normalization/normalization"]
        assert stored["count:0"].dtype == np.int64
        assert int(norm.count) == int(stored["count:0"][()]) == 32 * 12 * 10 and norm.count.dtype == torch.int32
        np.testing.assert_array_equal(norm.mean.numpy(), stored["mean:0"][()])
    assert [type(model.get_layer(n)).__name__ for n in ("rescaling", "resizing", "center_crop")] == [
        "Rescaling", "Resizing", "CenterCrop"]
    _close(model.predict(x), y)


def test_an_int64_count_out_of_int32_range_is_refused(tmp_path):
    path, *_ = _fixture("operators_and_preprocessing")
    bad = tmp_path / "bad.h5"
    shutil.copy(path, bad)
    with h5py.File(bad, "r+") as f:
        group = f["model_weights/normalization/normalization"]
        del group["count:0"]
        group.create_dataset("count:0", data=np.int64(2**40))
    with pytest.raises(FileFormatError, match="weight 'normalization/normalization/count:0' holds integers outside "
                                              "the range of "
                                              "the model's torch.int32"):
        gn.load_model(bad)


def test_bicubic_resizing_from_a_tensorflow_file_is_flagged(tmp_path):
    """TensorFlow's bicubic kernel (a=-0.5) is not torch's (a=-0.75), which Keras on torch and glassnet use:
    a TensorFlow-written file with bicubic resizing loads with a warning that its outputs differ from TF's."""
    inp = gn.Input((6, 6, 2))
    model = gn.Model(inp, layers.Resizing(9, 9, interpolation="bicubic", name="up")(inp))
    model.save(tmp_path / "m.h5")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gn.load_model(tmp_path / "m.h5")  # written on torch: nothing to say
    with h5py.File(tmp_path / "m.h5", "r+") as f:
        f.attrs["backend"] = "tensorflow"
    with pytest.warns(gn.GlassnetWarning, match="layer 'up' resizes bicubically; the file was written on TensorFlow"):
        gn.load_model(tmp_path / "m.h5")
