"""Every error message glassnet promises, matched by its text: build-time shape errors name the
layer, what it expected, what it received and how to fix it."""
import re

import pytest
import torch

import glassnet as gn
from glassnet import layers


def test_flatten_of_variable_image_feeding_dense():
    inp = gn.Input((None, None, 3))
    x = layers.Conv2D(64, 3, name="conv")(inp)
    x = layers.Flatten(name="flatten")(x)
    with pytest.raises(gn.ShapeError, match=re.escape(
            "Dense 'dense_out' needs a fixed last dimension, but Flatten 'flatten' outputs (None, None) because "
            "its input (None, None, None, 64) has variable height and width. Use GlobalAveragePooling2D or "
            "GlobalMaxPooling2D instead of Flatten for variable-size images.")):
        layers.Dense(10, name="dense_out")(x)


def test_flatten_of_variable_sequence_feeding_dense():
    x = layers.Flatten(name="flat")(gn.Input((None, 3)))
    with pytest.raises(gn.ShapeError, match=r"Flatten 'flat' outputs \(None, None\) because its input \(None, None, 3\) "
                                            r"has a variable number of time steps\. Use GlobalAveragePooling1D"):
        layers.Dense(2)(x)


def test_shape_error_is_value_error():
    assert issubclass(gn.ShapeError, ValueError)


def test_conv2d_on_rank3_image():
    with pytest.raises(gn.ShapeError, match=re.escape(
            "Conv2D 'conv2d_x' expects input of rank 4 (batch, height, width, channels). Received: input shape "
            "(None, 28, 28). Add a channel axis, e.g. layers.Reshape((28, 28, 1)).")):
        layers.Conv2D(8, 3, name="conv2d_x")(gn.Input((28, 28)))


def test_depthwise_on_rank3_image():
    with pytest.raises(gn.ShapeError, match=r"DepthwiseConv2D 'dw' expects input of rank 4 .* Add a channel axis"):
        layers.DepthwiseConv2D(3, name="dw")(gn.Input((28, 28)))


def test_channel_mismatch_after_build():
    conv = layers.Conv2D(4, 3, name="c")
    conv(gn.Input((8, 8, 3)))
    with pytest.raises(gn.ShapeError, match=re.escape(
            "Conv2D 'c' expects 3 input channels (axis -1), as it was built with. Received: input shape (None, 8, 8, 5).")):
        conv(gn.Input((8, 8, 5)))
    with pytest.raises(gn.ShapeError, match="expects 3 input channels"):
        conv(torch.zeros(1, 8, 8, 5))


def test_conv_needs_fixed_channels():
    with pytest.raises(gn.ShapeError, match=r"Conv2D 'c2' needs a fixed number of channels \(axis -1\)"):
        layers.Conv2D(4, 3, name="c2")(gn.Input((8, 8, None)))


def test_kernel_larger_than_input():
    with pytest.raises(gn.ShapeError, match=re.escape(
            "Conv2D 'big' needs an input height of at least 7 for its kernel (7, 7) (dilation (1, 1)), otherwise "
            "the computed output size would be zero or negative. Received: input shape (None, 5, 5, 1). "
            'Use padding="same", a smaller kernel, or a larger input.')):
        layers.Conv2D(4, 7, name="big")(gn.Input((5, 5, 1)))
    with pytest.raises(gn.ShapeError, match="at least 5 for its kernel"):
        layers.Conv1D(2, 3, dilation_rate=2)(gn.Input((4, 2)))
    with pytest.raises(gn.ShapeError, match="MaxPooling2D 'p' needs an input height of at least 3"):
        layers.MaxPooling2D(3, name="p")(gn.Input((2, 2, 1)))


def test_groups_must_divide_channels():
    with pytest.raises(gn.ShapeError, match=r"splits its input channels into groups=4, so the channels must be divisible"):
        layers.Conv2D(8, 3, groups=4)(gn.Input((8, 8, 6)))
    with pytest.raises(gn.ConfigError, match=r"groups to be a positive integer that divides filters. Received: filters=6, groups=4"):
        layers.Conv2D(6, 3, groups=4)


def test_reshape_cannot_hold_size():
    with pytest.raises(gn.ShapeError, match=re.escape(
            "Reshape 'r' cannot hold the input: the total size of the tensor must be unchanged, but the input has 18 "
            "values per sample and target_shape (4, 4) has 16. Received: input shape (None, 6, 3), target_shape=(4, 4).")):
        layers.Reshape((4, 4), name="r")(gn.Input((6, 3)))
    with pytest.raises(gn.ShapeError, match=r"its 18 values per sample cannot be divided into target_shape \(5, -1\)"):
        layers.Reshape((5, -1))(gn.Input((6, 3)))
    with pytest.raises(gn.ConfigError, match=r"at most one unknown dimension \(-1\)"):
        layers.Reshape((-1, -1))


@pytest.mark.parametrize("make,pattern", [
    (lambda: layers.Conv2D(8, 3, strides=0), r"the `strides` argument must be an int or a tuple of 2 positive integers\. Received: strides=0"),
    (lambda: layers.Conv2D(8, 3, strides=(1, 0)), r"Received: strides=\(1, 0\)"),
    (lambda: layers.Conv1D(8, 0), r"`kernel_size` argument .* Received: kernel_size=0"),
    (lambda: layers.Conv2D(8, 3, padding="full"), r"Conv2D 'conv2d.*': the `padding` argument must be one of 'valid', 'same'\. Received: padding='full'"),
    (lambda: layers.Conv2D(8, 3, padding="causal"), r"the `padding` argument must be one of 'valid', 'same'\. Received: padding='causal'"),
    (lambda: layers.MaxPooling2D(padding="reflect"), r"the `padding` argument must be one of 'valid', 'same'"),
    (lambda: layers.Conv2D(8, 3, strides=2, dilation_rate=2),
     r"`strides > 1` not supported in conjunction with `dilation_rate > 1`\. Received: strides=\(2, 2\) and dilation_rate=\(2, 2\)"),
    (lambda: layers.Dense(0), r"Dense 'dense.*': the `units` argument must be a positive integer\. Received: units=0"),
    (lambda: layers.Dropout(1.5), r"Dropout 'dropout.*': the `rate` argument must be a number in \[0, 1\)\. Received: rate=1.5"),
    (lambda: layers.Permute((1, 3)), r"must be consecutive and start from 1\. Received: dims=\(1, 3\)"),
    (lambda: layers.Activation("nope"), r"Unknown activation 'nope'\. Known activations: .*relu"),
    (lambda: layers.Dense(3, kernel_initializer="nope"), r"Unknown initializer 'nope'"),
    (lambda: layers.Dense(3, lora_rank=4), r"Dense 'dense.*' does not support lora_rank\. Received: lora_rank=4"),
    (lambda: layers.Dense(3, foo=1), r"Unrecognized keyword arguments passed to Dense: \{'foo': 1\}"),
    (lambda: layers.LSTM(-1), r"LSTM 'lstm.*': the `units` argument must be a positive integer\. Received: units=-1"),
    (lambda: layers.Bidirectional(layers.Dense(2)), r"Bidirectional needs a recurrent layer"),
    (lambda: layers.Bidirectional(layers.LSTM(2), merge_mode="max"), r"Invalid merge mode"),
    (lambda: layers.LSTM(4, dropout=1.5), r"LSTM 'lstm.*': the `dropout` argument must be a number in \[0, 1\)\. "
                                          r"Received: dropout=1\.5"),
    (lambda: layers.GRU(4, recurrent_dropout=-0.1), r"the `recurrent_dropout` argument must be a number in \[0, 1\)"),
    (lambda: layers.Embedding(0, 4), r"Embedding 'embedding.*': the `input_dim` argument must be a positive integer\. Received: input_dim=0"),
])
def test_bad_arguments_fail_at_construction(make, pattern):
    with pytest.raises((gn.ConfigError, ValueError, TypeError), match=pattern):
        make()


def test_dense_wrong_features_after_build():
    d = layers.Dense(3, name="d")
    d(torch.zeros(2, 4))
    with pytest.raises(gn.ShapeError, match=re.escape("Dense 'd' expects 4 input features (axis -1), as it was built with. "
                                                      "Received: input shape (2, 5).")):
        d(torch.zeros(2, 5))


def test_model_input_shape_mismatch():
    model = gn.Sequential([gn.Input((28, 28, 1)), layers.Conv2D(2, 3)], name="m")
    with pytest.raises(gn.ShapeError, match=re.escape(
            "Input 'input_layer")):
        model(torch.zeros(2, 28, 28))
    with pytest.raises(gn.ShapeError, match=r"of model 'm' expects shape \(None, 28, 28, 1\)\. Received: input shape \(2, 28, 28, 3\)"):
        model(torch.zeros(2, 28, 28, 3))


def test_merge_shape_mismatch():
    with pytest.raises(gn.ShapeError, match=r"Add 'add_x' needs inputs of the same shape .* Received: input shapes \(None, 3\), \(None, 4\)"):
        layers.Add(name="add_x")([gn.Input((3,)), gn.Input((4,))])
    with pytest.raises(gn.ShapeError, match=r"should be called on a list of at least 2 inputs"):
        layers.Add()(gn.Input((3,)))


# ---- recurrent layers and masks (bad input names the layer)
def test_rnn_wrong_rank():
    with pytest.raises(gn.ShapeError, match=re.escape(
            "LSTM 'lstm_r' expects input of rank 3 (batch, timesteps, features). Received: input shape (None, 5). "
            "Add a feature axis, e.g. layers.Reshape((5, 1)) to read 5 time steps of 1 feature each.")):
        layers.LSTM(4, name="lstm_r")(gn.Input((5,)))


def test_rnn_wrong_feature_count():
    lstm = layers.LSTM(4, name="l")
    lstm(torch.zeros(2, 5, 3))
    with pytest.raises(gn.ShapeError, match=r"LSTM 'l' expects 3 features \(axis -1\), as it was built with\. Received: input shape \(2, 5, 2\)"):
        lstm(torch.zeros(2, 5, 2))


def test_rnn_mask_shape_mismatch():
    lstm = layers.GRU(4, name="g")
    with pytest.raises(gn.ShapeError, match=re.escape(
            "GRU 'g' got a mask of shape (2, 4) that does not match the input's (batch, timesteps) = (2, 5). "
            "Received: input shape (2, 5, 3). Pass a boolean mask of shape (batch, timesteps).")):
        lstm(torch.zeros(2, 5, 3), mask=torch.ones(2, 4, dtype=torch.bool))


def test_stateful_needs_fixed_batch():
    with pytest.raises(gn.ShapeError, match=r"LSTM 's' uses stateful=True, so the batch size must be static.*Pass batch_size"):
        layers.LSTM(3, stateful=True, name="s")(gn.Input((5, 2)))
    out = layers.LSTM(3, stateful=True)(gn.Input((5, 2), batch_size=4))
    assert out.shape == (4, 3)


def test_embedding_out_of_range_index():
    emb = layers.Embedding(10, 3, name="emb")
    with pytest.raises(IndexError, match=re.escape(
            "Embedding 'emb' got index 12, outside [0, input_dim) = [0, 10). Received: input_dim=10. "
            "Use input_dim larger than the largest index (input_dim=13 for these data).")):
        emb(torch.tensor([[1, 12, 3]]))
    with pytest.raises(IndexError, match="got index -1"):
        emb(torch.tensor([[1, -1]]))


def test_embedding_float_indices():
    emb = layers.Embedding(10, 3, name="emb")
    with pytest.raises(TypeError, match=r"Embedding 'emb' expects integer token indices, but received non-integer values \(e\.g\. 1\.5\)"):
        emb(torch.tensor([[1.5, 2.0]]))
    torch.testing.assert_close(emb(torch.tensor([[1.0, 2.0]])), emb(torch.tensor([[1, 2]])))


def test_time_distributed_mask_mismatch():
    td = layers.TimeDistributed(layers.Dense(2), name="td")
    with pytest.raises(gn.ShapeError, match=r"TimeDistributed 'td' got a mask of shape \(2, 3\) whose \(batch, timesteps\)"):
        td(torch.zeros(2, 4, 3), mask=torch.ones(2, 3, dtype=torch.bool))


def test_initial_state_shape():
    with pytest.raises(gn.ShapeError, match=r"LSTM 'li' expects initial_state as 2 tensor\(s\) of shape \(batch, units\) = \(2, 3\)"):
        layers.LSTM(3, name="li")(torch.zeros(2, 4, 1), initial_state=[torch.zeros(2, 3)])


def test_duplicate_layer_names_in_model():
    inp = gn.Input((3,))
    a = layers.Dense(2, name="same")(inp)
    b = layers.Dense(2, name="same")(inp)
    with pytest.raises(gn.ConfigError, match="has two different layers named 'same'"):
        gn.Model(inp, [a, b])
