"""glassnet layers, with Keras 3 names (and Keras's aliases): ``from glassnet import layers``."""
from . import registry
from .base import Layer
from .conv import (Conv1D, Conv2D, Conv3D, DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D,
                   SeparableConv2D)
from .core import Activation, Dense, Dropout, Flatten, Lambda, Permute, Reshape
from .embedding_masking import Embedding, Masking
from .input_layer import Input, InputLayer
from .merge import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract
from .normalization import BatchNormalization, LayerNormalization
from .pooling import (AveragePooling1D, AveragePooling2D, AveragePooling3D, GlobalAveragePooling1D,
                      GlobalAveragePooling2D, GlobalAveragePooling3D, GlobalMaxPooling1D, GlobalMaxPooling2D,
                      GlobalMaxPooling3D, MaxPooling1D, MaxPooling2D, MaxPooling3D)
from .recurrent import GRU, LSTM, GRUCell, LSTMCell, SimpleRNN, SimpleRNNCell
from .regularization import ActivityRegularization
from .torch_wrapper import TorchModuleWrapper
from .wrappers import Bidirectional, TimeDistributed

# Keras's aliases (each class also lists its own in ``keras_aliases``, which files resolve through)
Convolution1D, Convolution2D, Convolution3D = Conv1D, Conv2D, Conv3D
SeparableConvolution1D, SeparableConvolution2D = SeparableConv1D, SeparableConv2D
MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D
GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D = GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D
GlobalAvgPool1D, GlobalAvgPool2D, GlobalAvgPool3D = (GlobalAveragePooling1D, GlobalAveragePooling2D,
                                                     GlobalAveragePooling3D)

__all__ = [
    "Layer", "Input", "InputLayer", "Dense", "Activation", "Dropout", "Flatten", "Reshape", "Permute", "Lambda",
    "Conv1D", "Conv2D", "Conv3D", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D",
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D", "GlobalAveragePooling1D",
    "GlobalAveragePooling2D", "GlobalAveragePooling3D", "BatchNormalization", "LayerNormalization",
    "Embedding", "Masking", "SimpleRNN", "LSTM", "GRU", "SimpleRNNCell", "LSTMCell", "GRUCell",
    "Bidirectional", "TimeDistributed", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
    "Convolution1D", "Convolution2D", "Convolution3D", "SeparableConvolution1D", "SeparableConvolution2D",
    "MaxPool1D", "MaxPool2D", "MaxPool3D", "AvgPool1D", "AvgPool2D", "AvgPool3D", "GlobalMaxPool1D",
    "GlobalMaxPool2D", "GlobalMaxPool3D", "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAvgPool3D", "registry",
    "ActivityRegularization", "TorchModuleWrapper",
]
