"""One table drives the layer tests: for every row, glassnet and Keras 3 (torch backend) get the
same random weights and inputs; shapes, parameter counts, outputs and gradients must agree."""
import numpy as np
import pytest

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
