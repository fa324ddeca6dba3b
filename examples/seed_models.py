"""The seed questions' models, as functions for the command line:

    glassnet summary examples/seed_models.py:lstm_forecaster
    glassnet compare examples/seed_models.py:conv_3x3 examples/seed_models.py:conv_7x7
    glassnet explain examples/seed_models.py:names_classifier
"""
import glassnet as gn
from glassnet import layers


def lstm_forecaster(units: int = 10):
    """n sunspot years → year n+1: an LSTM reads the window step by step."""
    return gn.Sequential([gn.Input((None, 1)), layers.LSTM(units), layers.Dense(1)], name="lstm_forecaster")


def conv_3x3():
    return gn.Sequential([gn.Input((28, 28, 1)), layers.Conv2D(64, (3, 3), activation="relu")], name="conv_3x3")


def conv_7x7():
    return gn.Sequential([gn.Input((28, 28, 1)), layers.Conv2D(32, (7, 7), activation="relu")], name="conv_7x7")


def any_size_classifier():
    """Images of any size: global pooling instead of Flatten."""
    inp = gn.Input((None, None, 1))
    x = layers.Conv2D(16, 3, activation="relu")(inp)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    out = layers.Dense(10, activation="softmax")(layers.GlobalAveragePooling2D()(x))
    return gn.Model(inp, out, name="any_size_classifier")


def names_classifier():
    """Characters → gender: Embedding(mask_zero) creates the mask, the LSTM consumes it."""
    inp = gn.Input((None,), dtype="int64")
    x = layers.Embedding(30, 16, mask_zero=True)(inp)
    x = layers.LSTM(32)(x)
    return gn.Model(inp, layers.Dense(1, activation="sigmoid")(x), name="names_classifier")
