"""glassnet layers, with Keras 3 names (and Keras's aliases): ``from glassnet import layers``."""
from . import registry
from .activation_layers import ELU, LeakyReLU, PReLU, ReLU, Softmax
from .base import Layer
from .conv import (Conv1D, Conv2D, Conv3D, DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D,
                   SeparableConv2D)
from .conv_transpose import Conv1DTranspose, Conv2DTranspose, Conv3DTranspose
from .core import Activation, Dense, Dropout, Flatten, Identity, Lambda, Permute, Reshape
from .embedding_masking import Embedding, Masking, ReversibleEmbedding
from .input_layer import Input, InputLayer
from .merge import Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract
from .normalization import (BatchNormalization, GroupNormalization, LayerNormalization, RMSNormalization,
                            SpectralNormalization, UnitNormalization)
from .pooling import (AdaptiveAveragePooling1D, AdaptiveAveragePooling2D, AdaptiveAveragePooling3D,
                      AdaptiveMaxPooling1D, AdaptiveMaxPooling2D, AdaptiveMaxPooling3D, AveragePooling1D,
                      AveragePooling2D, AveragePooling3D, GlobalAveragePooling1D, GlobalAveragePooling2D,
                      GlobalAveragePooling3D, GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D, MaxPooling1D,
                      MaxPooling2D, MaxPooling3D)
from .recurrent import GRU, LSTM, GRUCell, LSTMCell, SimpleRNN, SimpleRNNCell
from .regularization import (AlphaDropout, GaussianDropout, GaussianNoise, SpatialDropout1D, SpatialDropout2D,
                             SpatialDropout3D)
from .reshaping import (Cropping1D, Cropping2D, Cropping3D, RepeatVector, UpSampling1D, UpSampling2D, UpSampling3D,
                        ZeroPadding1D, ZeroPadding2D, ZeroPadding3D)
from .activity_regularization import ActivityRegularization
from .torch_wrapper import TorchModuleWrapper
from .wrappers import Bidirectional, TimeDistributed
from .attention import AdditiveAttention, Attention, GroupedQueryAttention, MultiHeadAttention
from .conv_lstm import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from .einsum_dense import EinsumDense
from .rnn import RNN, StackedRNNCells

GroupQueryAttention = GroupedQueryAttention  # Keras exports the class under this name

# Keras's aliases (each class also lists its own in ``keras_aliases``, which files resolve through)
Convolution1D, Convolution2D, Convolution3D = Conv1D, Conv2D, Conv3D
Convolution1DTranspose, Convolution2DTranspose, Convolution3DTranspose = (Conv1DTranspose, Conv2DTranspose,
                                                                          Conv3DTranspose)
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
    "Embedding", "Masking", "ReversibleEmbedding", "SimpleRNN", "LSTM", "GRU", "SimpleRNNCell", "LSTMCell", "GRUCell",
    "Bidirectional", "TimeDistributed", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
    "Convolution1D", "Convolution2D", "Convolution3D", "SeparableConvolution1D", "SeparableConvolution2D",
    "MaxPool1D", "MaxPool2D", "MaxPool3D", "AvgPool1D", "AvgPool2D", "AvgPool3D", "GlobalMaxPool1D",
    "GlobalMaxPool2D", "GlobalMaxPool3D", "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAvgPool3D", "registry",
    "UpSampling1D", "UpSampling2D", "UpSampling3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D",
    "Cropping2D", "Cropping3D", "RepeatVector", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
    "Convolution1DTranspose", "Convolution2DTranspose", "Convolution3DTranspose", "ReLU", "LeakyReLU", "PReLU", "ELU",
    "Softmax", "GroupNormalization", "RMSNormalization", "UnitNormalization", "SpectralNormalization",
    "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
    "AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D", "AdaptiveMaxPooling1D",
    "AdaptiveMaxPooling2D", "AdaptiveMaxPooling3D", "Identity", "Dot",
    "MultiHeadAttention", "GroupedQueryAttention", "GroupQueryAttention", "Attention", "AdditiveAttention",
    "EinsumDense", "RNN", "StackedRNNCells", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D",
    "ActivityRegularization", "TorchModuleWrapper",
]

# Preprocessing layers (glassnet.layers.preprocessing) and the layers Keras's applications define themselves
from .applications import LayerScale, StochasticDepth
from .preprocessing import CenterCrop, Normalization, Rescaling, Resizing
from .preprocessing import (RandomCrop, RandomElasticTransform, RandomFlip, RandomPerspective, RandomRotation,
                            RandomShear, RandomTranslation, RandomZoom)
from .preprocessing import CutMix, MaxNumBoundingBoxes, MixUp, Pipeline, RandomErasing
from .preprocessing import MelSpectrogram, STFTSpectrogram

__all__ += ["CenterCrop", "Normalization", "Rescaling", "Resizing", "LayerScale", "StochasticDepth"]
from .preprocessing import (AutoContrast, ContrastLimitedAdaptiveHistogramEqualization, Equalization,
                            RandomBrightness, RandomColorDegeneration, RandomContrast, RandomGaussianBlur,
                            RandomGrayscale, RandomHue, RandomInvert, RandomPosterization, RandomSaturation,
                            RandomSharpness, Solarization)
from .preprocessing import AugMix, RandAugment, RandomColorJitter

__all__ += ["AutoContrast", "ContrastLimitedAdaptiveHistogramEqualization", "Equalization", "RandomBrightness",
            "RandomColorDegeneration", "RandomContrast", "RandomGaussianBlur", "RandomGrayscale", "RandomHue",
            "RandomInvert", "RandomPosterization", "RandomSaturation", "RandomSharpness", "Solarization"]
__all__ += ["AugMix", "RandAugment", "RandomColorJitter"]
__all__ += ["RandomCrop", "RandomElasticTransform", "RandomFlip", "RandomPerspective", "RandomRotation", "RandomShear",
            "RandomTranslation", "RandomZoom", "CutMix", "MixUp", "RandomErasing",
            "MaxNumBoundingBoxes", "Pipeline", "MelSpectrogram", "STFTSpectrogram"]
from .preprocessing import (CategoryEncoding, Discretization, HashedCrossing, Hashing, IntegerLookup, StringLookup,
                            TextVectorization)

__all__ += ["StringLookup", "IntegerLookup", "TextVectorization", "CategoryEncoding", "Discretization", "Hashing",
            "HashedCrossing"]

# A Keras layer name glassnet does not have (yet) raises AttributeError saying so, and what to use instead
from .. import _keras_names  # noqa: E402 - after the layers, so every defined name resolves first

__getattr__ = _keras_names.module_getattr("layers", __name__)
