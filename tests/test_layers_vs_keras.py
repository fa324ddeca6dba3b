"""One table drives the layer tests: for every row, glassnet and Keras 3 (torch backend) get the
same random weights and inputs; shapes, parameter counts, outputs and gradients must agree."""
import numpy as np
import pytest

import glassnet as gn
from glassnet import layers
from _harness import check_layer, pair

# id, factory (the same code builds the glassnet and the Keras layer), input shapes, output shape, params
CASES = [
    ("dense_2d", lambda L: L.Dense(10), [(7,)], (None, 10), 80),
    ("dense_3d", lambda L: L.Dense(10), [(5, 7)], (None, 5, 10), 80),
    ("dense_4d_relu", lambda L: L.Dense(10, activation="relu"), [(3, 5, 7)], (None, 3, 5, 10), 80),
    ("dense_nobias_tanh", lambda L: L.Dense(4, activation="tanh", use_bias=False), [(6,)], (None, 4), 24),
    ("activation_softmax", lambda L: L.Activation("softmax"), [(4, 6)], (None, 4, 6), 0),
    ("activation_gelu", lambda L: L.Activation("gelu"), [(6,)], (None, 6), 0),
    ("activation_sigmoid", lambda L: L.Activation("sigmoid"), [(6,)], (None, 6), 0),
    ("activation_elu", lambda L: L.Activation("elu"), [(6,)], (None, 6), 0),
    ("activation_softplus", lambda L: L.Activation("softplus"), [(6,)], (None, 6), 0),
    ("activation_hard_sigmoid", lambda L: L.Activation("hard_sigmoid"), [(6,)], (None, 6), 0),
    ("activation_silu", lambda L: L.Activation("silu"), [(6,)], (None, 6), 0),
    ("dropout_inference", lambda L: L.Dropout(0.5), [(6,)], (None, 6), 0),
    ("flatten", lambda L: L.Flatten(), [(7, 7, 3)], (None, 147), 0),
    ("reshape_minus1", lambda L: L.Reshape((-1, 3)), [(7, 7, 3)], (None, 49, 3), 0),
    ("reshape_full", lambda L: L.Reshape((3, 2, 7)), [(6, 7)], (None, 3, 2, 7), 0),
    ("permute", lambda L: L.Permute((2, 1)), [(5, 3)], (None, 3, 5), 0),
    ("conv1d_same_s2", lambda L: L.Conv1D(64, 5, strides=2, padding="same"), [(100, 12)], (None, 50, 64), 3904),
    ("conv1d_causal_d4", lambda L: L.Conv1D(8, 3, padding="causal", dilation_rate=4), [(50, 4)], (None, 50, 8), 104),
    ("conv1d_same_asym", lambda L: L.Conv1D(3, 4, strides=2, padding="same"), [(7, 2)], (None, 4, 3), 27),
    ("conv1d_valid", lambda L: L.Conv1D(8, 3), [(10, 4)], (None, 8, 8), 104),
    ("conv2d_16_3", lambda L: L.Conv2D(16, 3), [(28, 28, 1)], (None, 26, 26, 16), 160),
    ("conv2d_seed_64_3x3", lambda L: L.Conv2D(64, (3, 3), activation="relu"), [(28, 28, 1)], (None, 26, 26, 64), 640),
    ("conv2d_seed_32_7x7", lambda L: L.Conv2D(32, (7, 7), activation="relu"), [(28, 28, 1)], (None, 22, 22, 32), 1600),
    ("conv2d_same_s2_asym", lambda L: L.Conv2D(8, 3, strides=2, padding="same"), [(12, 12, 4)], (None, 6, 6, 8), 296),
    ("conv2d_same_k4_s2", lambda L: L.Conv2D(4, 4, strides=2, padding="same"), [(7, 7, 3)], (None, 4, 4, 4), 196),
    ("conv2d_same_k2_s1", lambda L: L.Conv2D(4, 2, padding="same"), [(7, 6, 3)], (None, 7, 6, 4), 52),
    ("conv2d_s3", lambda L: L.Conv2D(8, 5, strides=3), [(16, 16, 4)], (None, 4, 4, 8), 808),
    ("conv2d_dilation2", lambda L: L.Conv2D(8, 3, dilation_rate=2), [(12, 12, 4)], (None, 8, 8, 8), 296),
    ("conv2d_dilation_same", lambda L: L.Conv2D(8, 3, dilation_rate=2, padding="same"), [(9, 9, 4)], (None, 9, 9, 8), 296),
    ("conv2d_groups4", lambda L: L.Conv2D(32, 3, groups=4), [(10, 10, 16)], (None, 8, 8, 32), 1184),
    ("conv2d_rect_dil", lambda L: L.Conv2D(8, (3, 5), dilation_rate=2), [(11, 10, 4)], (None, 7, 2, 8), 488),
    ("conv2d_1x1", lambda L: L.Conv2D(16, 1), [(7, 7, 64)], (None, 7, 7, 16), 1040),
    ("conv2d_channels_first", lambda L: L.Conv2D(8, 3, data_format="channels_first"), [(3, 12, 12)], (None, 8, 10, 10), 224),
    ("conv2d_nobias_same_s2", lambda L: L.Conv2D(6, 3, strides=2, padding="same", use_bias=False), [(9, 8, 2)], (None, 5, 4, 6), 108),
    ("depthwise_dm2", lambda L: L.DepthwiseConv2D(3, depth_multiplier=2), [(12, 12, 8)], (None, 10, 10, 16), 160),
    ("depthwise_same_s2", lambda L: L.DepthwiseConv2D(3, strides=2, padding="same"), [(10, 10, 4)], (None, 5, 5, 4), 40),
    ("depthwise_dilation", lambda L: L.DepthwiseConv2D(3, dilation_rate=2, depth_multiplier=3), [(11, 11, 2)], (None, 7, 7, 6), 60),
    ("separable_16_3", lambda L: L.SeparableConv2D(16, 3), [(12, 12, 8)], (None, 10, 10, 16), 216),
    ("separable_dm2_same", lambda L: L.SeparableConv2D(16, 3, depth_multiplier=2, padding="same"), [(12, 12, 8)], (None, 12, 12, 16), 416),
    ("separable_s2_same", lambda L: L.SeparableConv2D(5, 3, strides=2, padding="same"), [(9, 9, 3)], (None, 5, 5, 5), 47),
    ("maxpool2d", lambda L: L.MaxPooling2D(), [(7, 7, 3)], (None, 3, 3, 3), 0),
    ("maxpool2d_same", lambda L: L.MaxPooling2D(3, 2, padding="same"), [(7, 7, 3)], (None, 4, 4, 3), 0),
    ("maxpool2d_same_asym", lambda L: L.MaxPooling2D(2, 2, padding="same"), [(7, 6, 3)], (None, 4, 3, 3), 0),
    ("avgpool2d_31", lambda L: L.AveragePooling2D(3, 1), [(7, 7, 3)], (None, 5, 5, 3), 0),
    ("avgpool2d_same_sym", lambda L: L.AveragePooling2D(3, 2, padding="same"), [(7, 7, 3)], (None, 4, 4, 3), 0),
    ("maxpool1d", lambda L: L.MaxPooling1D(2), [(9, 3)], (None, 4, 3), 0),
    ("maxpool1d_same", lambda L: L.MaxPooling1D(3, 2, padding="same"), [(7, 2)], (None, 4, 2), 0),
    ("avgpool1d_same_sym", lambda L: L.AveragePooling1D(3, 2, padding="same"), [(7, 2)], (None, 4, 2), 0),
    ("gap2d", lambda L: L.GlobalAveragePooling2D(), [(7, 7, 3)], (None, 3), 0),
    ("gmp2d_keepdims", lambda L: L.GlobalMaxPooling2D(keepdims=True), [(7, 7, 3)], (None, 1, 1, 3), 0),
    ("gap1d", lambda L: L.GlobalAveragePooling1D(), [(6, 5)], (None, 5), 0),
    ("gap1d_keepdims", lambda L: L.GlobalAveragePooling1D(keepdims=True), [(6, 5)], (None, 1, 5), 0),
    ("gmp1d", lambda L: L.GlobalMaxPooling1D(), [(6, 5)], (None, 5), 0),
    ("batchnorm", lambda L: L.BatchNormalization(), [(10, 16)], (None, 10, 16), 64),
    ("batchnorm_image", lambda L: L.BatchNormalization(momentum=0.9, epsilon=1e-2), [(5, 5, 4)], (None, 5, 5, 4), 16),
    ("batchnorm_axis1", lambda L: L.BatchNormalization(axis=1), [(4, 6)], (None, 4, 6), 16),
    ("layernorm", lambda L: L.LayerNormalization(), [(10, 16)], (None, 10, 16), 32),
    ("layernorm_axes", lambda L: L.LayerNormalization(axis=[1, 2]), [(3, 4)], (None, 3, 4), 24),
    ("add", lambda L: L.Add(), [(4, 5), (4, 5)], (None, 4, 5), 0),
    ("subtract", lambda L: L.Subtract(), [(4, 5), (4, 5)], (None, 4, 5), 0),
    ("multiply", lambda L: L.Multiply(), [(4, 5), (4, 5)], (None, 4, 5), 0),
    ("average", lambda L: L.Average(), [(4, 5), (4, 5), (4, 5)], (None, 4, 5), 0),
    ("concatenate_last", lambda L: L.Concatenate(), [(4, 5), (4, 3)], (None, 4, 8), 0),
    ("concatenate_axis1", lambda L: L.Concatenate(axis=1), [(4, 5), (2, 5)], (None, 6, 5), 0),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_layer_matches_keras(keras, case):
    _, factory, shapes, expected_shape, expected_params = case
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
    _, factory, shapes, _, _ = next(c for c in CASES if c[0] == name)
    rng = np.random.default_rng(3)
    inputs = [rng.standard_normal((8, *s)) for s in shapes]
    g, k, _ = check_layer(keras, lambda: pair(keras, factory(layers), factory(keras.layers), shapes),
                                    inputs, training=True)
    # the moving statistics were updated the same way
    for a, b in zip(g.get_weights(), k.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
