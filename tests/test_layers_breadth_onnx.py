"""ONNX export of the reshaping, transposed-convolution, activation, normalisation, noise, adaptive-pooling,
Identity and Dot layers: each model is exported once with its variable sizes as dynamic axes and run in
onnxruntime at two input sizes, equal to glassnet to 1e-5. None of these layers needs ``onnx_unsupported``."""
import numpy as np
import pytest

import glassnet as gn
from glassnet import layers

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
pytestmark = pytest.mark.slow  # torch's ONNX exporter takes seconds per model


def _run(path, feeds):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {i.name: x for i, x in zip(sess.get_inputs(), feeds)})


def _check(model, path, sizes, **export):
    model.export_onnx(path, **export)
    for shapes in sizes:
        rng = np.random.default_rng(len(shapes[0]))
        xs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        ours = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
        ours = ours if isinstance(ours, list) else [ours]
        theirs = _run(path, xs)
        assert len(theirs) == len(ours)
        for a, b in zip(theirs, ours):
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_images_of_any_size(tmp_path):
    model = gn.Sequential([
        gn.Input((None, None, 3)), layers.ZeroPadding2D(((1, 2), (0, 1))), layers.Cropping2D(((2, 0), (1, 1))),
        layers.UpSampling2D((2, 3)), layers.UpSampling2D(interpolation="bilinear"),
        layers.UpSampling2D(interpolation="bicubic"), layers.PReLU(shared_axes=[1, 2]),
        layers.GroupNormalization(groups=3), layers.AdaptiveMaxPooling2D((3, 2))])
    _check(model, tmp_path / "images.onnx", [[(2, 5, 6, 3)], [(1, 7, 4, 3)]])


def test_transposed_convolutions_of_any_size(tmp_path):
    model = gn.Sequential([
        gn.Input((None, None, 3)), layers.Conv2DTranspose(4, 3, strides=2), layers.GroupNormalization(groups=2),
        layers.Conv2DTranspose(4, 4, strides=(1, 2), output_padding=(0, 1)), layers.GroupNormalization(groups=4),
        layers.Conv2DTranspose(4, 3, padding="same", dilation_rate=2), layers.SpatialDropout2D(0.3),
        layers.SpectralNormalization(layers.Conv2D(2, 1)), layers.AdaptiveAveragePooling2D(2), layers.Flatten()])
    _check(model, tmp_path / "transposed.onnx", [[(2, 5, 6, 3)], [(1, 7, 4, 3)]])


def test_sequences_of_any_length(tmp_path):
    model = gn.Sequential([
        gn.Input((None, 4)), layers.ZeroPadding1D((1, 2)), layers.Cropping1D((2, 0)), layers.UpSampling1D(2),
        layers.Conv1DTranspose(8, 3, strides=2), layers.ReLU(max_value=1.0, negative_slope=0.1, threshold=0.2),
        layers.LeakyReLU(0.1), layers.ELU(0.5), layers.Activation("celu"), layers.Activation("hard_tanh"),
        layers.Activation("hard_shrink"), layers.Activation("soft_shrink"), layers.Activation("tanh_shrink"),
        layers.Activation("log_sigmoid"), layers.Activation("squareplus"), layers.Activation("sparse_plus"),
        layers.Activation("sparse_sigmoid"), layers.Activation("sparsemax"), layers.Activation("glu"),
        layers.RMSNormalization(), layers.UnitNormalization(), layers.Softmax(axis=[1, 2]), layers.GaussianNoise(0.1),
        layers.GaussianDropout(0.2), layers.AlphaDropout(0.1), layers.SpatialDropout1D(0.2), layers.Identity(),
        layers.AdaptiveMaxPooling1D(5), layers.AdaptiveAveragePooling1D(3), layers.Flatten(), layers.Dense(3),
        layers.RepeatVector(2)])
    _check(model, tmp_path / "sequences.onnx", [[(2, 5, 4)], [(3, 11, 4)]])


def test_volumes_of_any_size(tmp_path):
    model = gn.Sequential([
        gn.Input((None, None, None, 2)), layers.ZeroPadding3D(1), layers.Cropping3D(((1, 0), (0, 1), (1, 1))),
        layers.UpSampling3D((1, 2, 2)), layers.Conv3DTranspose(2, 2, strides=(1, 2, 1)), layers.SpatialDropout3D(0.1),
        layers.AdaptiveMaxPooling3D(2), layers.AdaptiveAveragePooling3D((1, 2, 1))])
    _check(model, tmp_path / "volumes.onnx", [[(2, 2, 3, 4, 2)], [(1, 3, 2, 2, 2)]])


def test_dot_of_two_sequences(tmp_path):
    a, b = gn.Input(("T", 5), name="queries"), gn.Input(("S", 5), name="keys")  # two lengths, two dynamic axes
    scores = layers.Softmax()(layers.Dot(axes=2)([layers.SpectralNormalization(layers.Dense(5))(a), b]))
    cosine = layers.Dot(axes=(2, 2), normalize=True)([a, b])
    _check(gn.Model([a, b], [scores, cosine]), tmp_path / "dot.onnx", [[(2, 4, 5), (2, 3, 5)], [(1, 6, 5), (1, 2, 5)]])


def test_strided_same_transposed_convolution(tmp_path):
    """A transposed convolution's "same" padding does not depend on the input size, so unlike strided
    convolutions it exports with dynamic spatial sizes."""
    model = gn.Sequential([gn.Input((None, None, 2)), layers.Conv2DTranspose(3, 3, strides=2, padding="same"),
                           layers.Conv2DTranspose(2, 2, strides=3, padding="same", output_padding=1)])
    _check(model, tmp_path / "same.onnx", [[(2, 5, 6, 2)], [(4, 7, 3, 2)]])


def test_adaptive_pooling_from_fewer_elements_than_bins(tmp_path):
    """Bins one element wide, and inputs shorter than the bins (elements repeat), from one exported graph."""
    model = gn.Sequential([gn.Input((None, None, 2)), layers.AdaptiveAveragePooling2D((3, 2)),
                           layers.AdaptiveMaxPooling2D((4, 4))])
    _check(model, tmp_path / "small.onnx", [[(2, 2, 1, 2)], [(3, 9, 7, 2)], [(1, 1, 1, 2)]])
