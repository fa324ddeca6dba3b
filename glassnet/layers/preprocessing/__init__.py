"""Keras's preprocessing layers, as they appear inside saved models; one module per family."""
from .image import CenterCrop, Resizing
from .normalization import Normalization, Rescaling

__all__ = ["CenterCrop", "Normalization", "Rescaling", "Resizing"]
