"""Keras's preprocessing layers, as they appear inside saved models; one module per family."""
from .image import CenterCrop, Resizing
from .geometric import (RandomCrop, RandomElasticTransform, RandomFlip, RandomPerspective, RandomRotation,
                        RandomShear, RandomTranslation, RandomZoom)
from .mixing import CutMix, MixUp, RandomErasing
from .normalization import Normalization, Rescaling
from .color import (RandomBrightness, RandomColorDegeneration, RandomContrast, RandomGrayscale, RandomHue,
                    RandomInvert, RandomPosterization, RandomSaturation, Solarization)
from .filters import RandomGaussianBlur, RandomSharpness
from .composite import AugMix, RandAugment, RandomColorJitter
from .histogram import AutoContrast, ContrastLimitedAdaptiveHistogramEqualization, Equalization

__all__ = ["CenterCrop", "Normalization", "Rescaling", "Resizing"]
__all__ += ["RandomBrightness", "RandomColorDegeneration", "RandomContrast", "RandomGrayscale", "RandomHue",
            "RandomInvert", "RandomPosterization", "RandomSaturation", "Solarization", "RandomGaussianBlur",
            "RandomSharpness", "AutoContrast", "ContrastLimitedAdaptiveHistogramEqualization", "Equalization"]
__all__ += ["RandomCrop", "RandomElasticTransform", "RandomFlip", "RandomPerspective", "RandomRotation", "RandomShear",
            "RandomTranslation", "RandomZoom", "CutMix", "MixUp", "RandomErasing"]
__all__ += ["AugMix", "RandAugment", "RandomColorJitter"]
