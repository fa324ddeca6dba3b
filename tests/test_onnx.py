"""ONNX export: dynamic batch, time and image sizes, run in onnxruntime, equal to glassnet to 1e-5."""
import numpy as np
import pytest

import glassnet as gn
from glassnet import layers

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
pytestmark = pytest.mark.slow  # torch's ONNX exporter takes seconds per model


def _run(path, feeds):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    return sess.run(None, dict(zip(names, feeds)))


def _check(model, path, shapes_list, int_input=False):
    model.export_onnx(path)
    for shape in shapes_list:
        x = (np.random.default_rng(0).integers(1, 20, shape) if int_input
             else np.random.default_rng(0).standard_normal(shape).astype(np.float32))
        ours = model.predict(x, verbose=0)
        (theirs,) = _run(path, [x])
        assert theirs.shape == ours.shape
        np.testing.assert_allclose(theirs, ours, rtol=1e-5, atol=1e-5)


def test_recurrent_model_dynamic_batch_and_time(tmp_path):
    model = gn.Sequential([gn.Input((None, 3)), layers.LSTM(6, return_sequences=True), layers.GRU(4), layers.Dense(2)])
    _check(model, tmp_path / "rnn.onnx", [(2, 7, 3), (5, 12, 3)])


def test_cnn_dynamic_image_size(tmp_path):
    inp = gn.Input((None, None, 3))
    x = layers.Conv2D(8, 3, activation="relu", padding="same")(inp)
    x = layers.Conv2D(8, 3, strides=2)(x)
    x = layers.MaxPooling2D()(layers.BatchNormalization()(x))
    x = layers.SeparableConv2D(4, 3, dilation_rate=2)(x)
    out = layers.Dense(4)(layers.GlobalAveragePooling2D()(x))
    _check(gn.Model(inp, out), tmp_path / "cnn.onnx", [(2, 30, 34, 3), (3, 41, 37, 3)])


def test_strided_same_padding_exports_fixed_spatial_sizes(tmp_path):
    inp = gn.Input((None, None, 3))
    out = layers.GlobalAveragePooling2D()(layers.Conv2D(4, 3, strides=2, padding="same")(inp))
    model = gn.Model(inp, out)
    with pytest.warns(UserWarning, match=r"padding='same' with strides > 1.*exported fixed"):
        model.export_onnx(tmp_path / "s.onnx", input_shape=(2, 15, 15, 3))
    for batch in (2, 5):
        x = np.random.default_rng(batch).standard_normal((batch, 15, 15, 3)).astype(np.float32)
        np.testing.assert_allclose(_run(tmp_path / "s.onnx", [x])[0], model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


def test_embedding_model(tmp_path):
    inp = gn.Input((None,), dtype="int64")
    out = layers.Dense(1)(layers.LSTM(5)(layers.Embedding(20, 4)(inp)))
    _check(gn.Model(inp, out), tmp_path / "emb.onnx", [(2, 6), (4, 11)], int_input=True)


def test_masked_recurrent_model_refused_clearly(tmp_path):
    inp = gn.Input((None,), dtype="int64")
    out = layers.LSTM(5, name="masked_lstm")(layers.Embedding(20, 4, mask_zero=True)(inp))
    with pytest.raises(gn.GlassnetError, match=r"recurrent layer 'masked_lstm' reads a mask.*cannot express"):
        gn.Model(inp, out).export_onnx(tmp_path / "m.onnx")
