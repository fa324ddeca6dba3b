"""Keras's preprocessing layers, as they appear inside saved models; one module per family."""
from .categorical import CategoryEncoding, Discretization, HashedCrossing, Hashing
from .image import CenterCrop, Resizing
from .lookup import IntegerLookup, StringLookup
from .normalization import Normalization, Rescaling
from .text import TextVectorization

__all__ = ["CategoryEncoding", "CenterCrop", "Discretization", "HashedCrossing", "Hashing", "IntegerLookup",
           "Normalization", "Rescaling", "Resizing", "StringLookup", "TextVectorization"]
