"""Keras's preprocessing layers, as they appear inside saved models; one module per family."""
from .categorical import CategoryEncoding, Discretization, HashedCrossing, Hashing
from .image import CenterCrop, Resizing
from .audio import MelSpectrogram, STFTSpectrogram
from .distortion import RandomElasticTransform, RandomPerspective
from .geometric import RandomCrop, RandomFlip, RandomRotation, RandomShear, RandomTranslation, RandomZoom
from .mixing import CutMix, MixUp, RandomErasing
from .lookup import IntegerLookup, StringLookup
from .normalization import Normalization, Rescaling
from .text import TextVectorization
from .color import (RandomBrightness, RandomColorDegeneration, RandomContrast, RandomGrayscale, RandomHue,
                    RandomInvert, RandomPosterization, RandomSaturation, Solarization)
from .filters import RandomGaussianBlur, RandomSharpness
from .composite import AugMix, RandAugment, RandomColorJitter
from .histogram import AutoContrast, ContrastLimitedAdaptiveHistogramEqualization, Equalization
from .pipeline import MaxNumBoundingBoxes, Pipeline

__all__ = ["CenterCrop", "Normalization", "Rescaling", "Resizing"]
__all__ += ["RandomBrightness", "RandomColorDegeneration", "RandomContrast", "RandomGrayscale", "RandomHue",
            "RandomInvert", "RandomPosterization", "RandomSaturation", "Solarization", "RandomGaussianBlur",
            "RandomSharpness", "AutoContrast", "ContrastLimitedAdaptiveHistogramEqualization", "Equalization"]
__all__ += ["RandomCrop", "RandomElasticTransform", "RandomFlip", "RandomPerspective", "RandomRotation", "RandomShear",
            "RandomTranslation", "RandomZoom", "CutMix", "MixUp", "RandomErasing",
            "MaxNumBoundingBoxes", "Pipeline", "MelSpectrogram", "STFTSpectrogram"]
__all__ += ["AugMix", "RandAugment", "RandomColorJitter"]
__all__ += ["CategoryEncoding", "Discretization", "HashedCrossing", "Hashing", "IntegerLookup", "StringLookup",
            "TextVectorization"]
