"""Keras files both ways for the reshaping, transposed-convolution, activation, normalisation, noise,
adaptive-pooling, Identity and Dot layers: Keras 3 (torch backend) builds a model, gives it random
non-constant weights and saves ``.keras``; glassnet loads it and predicts the same; glassnet saves it and
Keras loads that file and predicts the same."""
import numpy as np
import pytest

import glassnet as gn
from glassnet import layers


def _images(keras):
    L = keras.layers
    return keras.Sequential([
        keras.Input((8, 8, 3)), L.ZeroPadding2D(((1, 0), (2, 1))), L.Conv2DTranspose(4, 3, strides=2, padding="same"),
        L.UpSampling2D(2, interpolation="bilinear"), L.Cropping2D(((1, 2), (0, 3))), L.PReLU(shared_axes=[1, 2]),
        L.GroupNormalization(groups=2), L.AdaptiveAveragePooling2D((3, 2)), L.Conv2DTranspose(3, 2, strides=3,
                                                                                               padding="same"),
        L.UpSampling2D((1, 2)), L.AdaptiveMaxPooling2D(2), L.Flatten(), L.Dense(2)])


def _channels_first(keras):
    L = keras.layers
    cf = "channels_first"
    return keras.Sequential([
        keras.Input((3, 6, 6)), L.ZeroPadding2D(1, data_format=cf), L.Conv2DTranspose(2, 3, strides=2, data_format=cf),
        L.UpSampling2D(data_format=cf, interpolation="bicubic"), L.Cropping2D(2, data_format=cf),
        L.SpatialDropout2D(0.2, data_format=cf), L.AdaptiveMaxPooling2D(2, data_format=cf), L.Flatten()])


def _sequences(keras):
    L = keras.layers
    return keras.Sequential([
        keras.Input((7, 3)), L.Conv1DTranspose(4, 3, strides=2, output_padding=1), L.UpSampling1D(2),
        L.ZeroPadding1D((1, 2)), L.Cropping1D((2, 1)), L.SpatialDropout1D(0.3), L.AdaptiveMaxPooling1D(5),
        L.Conv1DTranspose(3, 4, strides=2, padding="same"), L.AdaptiveAveragePooling1D(4), L.Flatten(), L.Dense(6),
        L.RepeatVector(3), L.LSTM(2, return_sequences=True)])


def _activations_and_norms(keras):
    L = keras.layers
    return keras.Sequential([
        keras.Input((6, 8)), L.Dense(8), L.PReLU(), L.LeakyReLU(0.1), L.ReLU(max_value=2.0, negative_slope=0.1,
                                                                            threshold=0.1),
        L.ELU(), L.GroupNormalization(groups=4, epsilon=1e-2), L.RMSNormalization(), L.UnitNormalization(axis=[1, 2]),
        L.Dense(8), L.Activation("celu"), L.Activation("sparsemax"), L.Activation("squareplus"),
        L.GroupNormalization(groups=-1, center=False), L.Softmax(axis=1), L.Identity(), L.GaussianNoise(0.1),
        L.GaussianDropout(0.2), L.AlphaDropout(0.1), L.Dense(2)])


def _spectral(keras):
    L = keras.layers
    return keras.Sequential([
        keras.Input((5, 5, 2)), L.SpectralNormalization(L.Conv2D(3, 3)), L.Flatten(),
        L.SpectralNormalization(L.Dense(2), power_iterations=2)])


def _spectral_embedding(keras):
    L = keras.layers
    inp = keras.Input((None,), dtype="int32")
    x = L.SpectralNormalization(L.Embedding(30, 4))(inp)
    return keras.Model(inp, L.Dense(1)(L.GlobalAveragePooling1D()(x)))


def _volumes(keras):
    L = keras.layers
    return keras.Sequential([
        keras.Input((3, 4, 4, 2)), L.ZeroPadding3D(1), L.Conv3DTranspose(2, 2, strides=2), L.UpSampling3D((1, 2, 1)),
        L.Cropping3D(((1, 1), (2, 2), (1, 0))), L.SpatialDropout3D(0.1), L.AdaptiveMaxPooling3D(2),
        L.AdaptiveAveragePooling3D((1, 2, 1)), L.Flatten()])


def _dot(keras):
    L = keras.layers
    a, b = keras.Input((4, 5), name="queries"), keras.Input((3, 5), name="keys")
    scores = L.Dot(axes=2)([L.Dense(5)(a), b])
    cosine = L.Dot(axes=(1, 1), normalize=True)([a, L.Dense(5)(L.Identity()(a))])
    return keras.Model([a, b], [L.Softmax()(scores), L.Flatten()(cosine)])


MODELS = {"images": _images, "channels_first": _channels_first, "sequences": _sequences,
          "activations_and_norms": _activations_and_norms, "spectral": _spectral,
          "volumes": _volumes, "dot": _dot}


def _inputs(model, rng):
    xs = []
    for t in model.inputs:
        shape = [3] + [d if d is not None else 6 for d in t.shape[1:]]
        xs.append(rng.integers(0, 30, shape).astype(np.int32) if "int" in str(t.dtype)
                  else rng.standard_normal(shape).astype(np.float32))
    return xs


def _predict(model, xs):
    out = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    return out if isinstance(out, list) else [out]


@pytest.mark.parametrize("name", list(MODELS))
def test_keras_file_both_ways(keras, name, tmp_path):
    rng = np.random.default_rng(sum(map(ord, name)))
    km = MODELS[name](keras)
    km.set_weights([(rng.standard_normal(tuple(v.shape)) * 0.4).astype(np.float32) for v in km.weights])
    xs = _inputs(km, rng)
    expected = _predict(km, xs)
    km.save(tmp_path / "keras.keras")
    g = gn.load_model(tmp_path / "keras.keras")
    assert g.count_params() == km.count_params()
    assert sorted(type(layer).__name__ for layer in g.layers if type(layer).__name__ != "InputLayer") == sorted(
        type(layer).__name__ for layer in km.layers if type(layer).__name__ != "InputLayer")
    for a, b in zip(_predict(g, xs), expected):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    g.save(tmp_path / "glassnet.keras")
    k2 = keras.models.load_model(tmp_path / "glassnet.keras")
    for a, b in zip(_predict(k2, xs), expected):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    for a, b in zip(k2.get_weights(), km.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_spectral_normalization_of_an_embedding_both_ways(keras, tmp_path):
    """Keras 3.15 casts SpectralNormalization's output to the input's dtype, which truncates an Embedding's
    vectors to integers; glassnet returns the wrapped layer's output. The file still goes both ways, weights and
    all, and glassnet's model computes what Keras's computes from the Embedding's own output."""
    rng = np.random.default_rng(3)
    km = _spectral_embedding(keras)
    km.set_weights([(rng.standard_normal(tuple(v.shape)) * 0.4).astype(np.float32) for v in km.weights])
    x = rng.integers(0, 30, (3, 6)).astype(np.int32)
    km.save(tmp_path / "keras.keras")
    g = gn.load_model(tmp_path / "keras.keras")
    for a, b in zip(g.get_weights(), km.get_weights()):
        np.testing.assert_array_equal(a, b)
    embedded = np.asarray(km.layers[1].layer(x).detach())
    np.testing.assert_array_equal(np.asarray(km.layers[1](x)), np.trunc(embedded))  # Keras's truncation
    expected = np.asarray(km.layers[-1](km.layers[-2](embedded)).detach())
    np.testing.assert_allclose(g.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    g.save(tmp_path / "glassnet.keras")
    for a, b in zip(keras.models.load_model(tmp_path / "glassnet.keras").get_weights(), km.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("suffix", [".glassnet", ".h5"])
def test_spectral_normalization_saves_and_loads(tmp_path, suffix):
    """Its kernel is stored twice (on the wrapper and on the wrapped layer, as Keras does)."""
    model = gn.Sequential([gn.Input((5,)), layers.SpectralNormalization(layers.Dense(3)), layers.Dense(2)])
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    model.save(tmp_path / f"m{suffix}")
    again = gn.load_model(tmp_path / f"m{suffix}")
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)
