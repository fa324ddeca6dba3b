"""One table drives the layer tests: for every row, glassnet and Keras 3 (torch backend) get the
same random weights and inputs; shapes, parameter counts, outputs and gradients must agree."""
import numpy as np
import pytest
import torch

import glassnet as gn
from glassnet import layers
from _harness import check_layer, pair
from cases import CASES

@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_layer_matches_keras(keras, case):
    _, factory, shapes, expected_shape, expected_params, _ = case
    rng = np.random.default_rng(7)
    inputs = [rng.standard_normal((3, *s)) for s in shapes]
    g, k, out = check_layer(keras, lambda: pair(keras, factory(layers), factory(keras.layers), shapes), inputs)
    layer = g.layers[-1]
    assert g.output_shape == expected_shape == tuple(k.output_shape)
    sym = layer.compute_output_shape(layer._build_shape)
    assert gn.dims.keras_shape(sym) == expected_shape
    assert g.count_params() == expected_params == k.count_params()
    assert [w.shape for w in g.get_weights()] == [w.shape for w in k.get_weights()]
    assert tuple(out[0].shape)[1:] == expected_shape[1:]


TRAINING_CASES = ["batchnorm", "batchnorm_image", "batchnorm_axis1", "layernorm"]


@pytest.mark.parametrize("name", TRAINING_CASES)
def test_training_mode_matches_keras(keras, name):
    _, factory, shapes, _, _, _ = next(c for c in CASES if c[0] == name)
    rng = np.random.default_rng(3)
    inputs = [rng.standard_normal((8, *s)) for s in shapes]
    g, k, _ = check_layer(keras, lambda: pair(keras, factory(layers), factory(keras.layers), shapes),
                                    inputs, training=True)
    # the moving statistics were updated the same way
    for a, b in zip(g.get_weights(), k.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _avg_pool_same_tf(x, pool, stride):
    """TensorFlow's and JAX's "same" average pooling in NumPy: windows are cut at the border and average
    only the real elements (padding sits after the data when it is odd)."""
    n, h, w, c = x.shape
    oh, ow = -(-h // stride[0]), -(-w // stride[1])
    pad_h = max((oh - 1) * stride[0] + pool[0] - h, 0)
    pad_w = max((ow - 1) * stride[1] + pool[1] - w, 0)
    top, left = pad_h // 2, pad_w // 2
    out = np.zeros((n, oh, ow, c), x.dtype)
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * stride[0] - top, j * stride[1] - left
            rs, cs = slice(max(r0, 0), min(r0 + pool[0], h)), slice(max(c0, 0), min(c0 + pool[1], w))
            out[:, i, j] = x[:, rs, cs].mean(axis=(1, 2))
    return out


@pytest.mark.parametrize("pool,stride,shape", [((2, 2), (2, 2), (7, 6)), ((3, 3), (2, 2), (8, 8)),
                                               ((3, 2), (1, 2), (5, 7))])
def test_same_average_pooling_averages_real_elements_as_tensorflow_and_jax(pool, stride, shape):
    """glassnet keeps the TensorFlow/JAX rule for asymmetric "same" padding (Keras's torch backend replicates
    the edge instead); files saved by most Keras users expect this rule."""
    x = np.random.default_rng(0).standard_normal((2, *shape, 3)).astype(np.float32)
    out = layers.AveragePooling2D(pool, stride, padding="same")(torch.tensor(x)).numpy()
    np.testing.assert_allclose(out, _avg_pool_same_tf(x, pool, stride), rtol=1e-6, atol=1e-6)
