"""glassnet layers, with Keras 3 names: ``from glassnet import layers``."""
from .base import Layer
from .conv import (Conv1D, Conv2D, Conv3D, DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D,
                   SeparableConv2D)
from .embedding_masking import Embedding, Masking
from .recurrent import GRU, LSTM, GRUCell, LSTMCell, SimpleRNN, SimpleRNNCell
from .wrappers import Bidirectional, TimeDistributed
from .core import Activation, Dense, Dropout, Flatten, Lambda, Permute, Reshape
from .merge import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract
from .normalization import BatchNormalization, LayerNormalization
from .pooling import (AveragePooling1D, AveragePooling2D, AveragePooling3D, GlobalAveragePooling1D,
                      GlobalAveragePooling2D, GlobalAveragePooling3D, GlobalMaxPooling1D, GlobalMaxPooling2D,
                      GlobalMaxPooling3D, MaxPooling1D, MaxPooling2D, MaxPooling3D)
from ..models.graph import InputLayer

__all__ = [
    "Layer", "InputLayer", "Dense", "Activation", "Dropout", "Flatten", "Reshape", "Permute", "Lambda",
    "Conv1D", "Conv2D", "Conv3D", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D",
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D", "GlobalAveragePooling1D",
    "GlobalAveragePooling2D", "GlobalAveragePooling3D", "BatchNormalization", "LayerNormalization",
    "Embedding", "Masking", "SimpleRNN", "LSTM", "GRU", "SimpleRNNCell", "LSTMCell", "GRUCell",
    "Bidirectional", "TimeDistributed", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
]
