"""Keras callbacks: ``from glassnet.callbacks import EarlyStopping``."""
from .training.callbacks import (Callback, CSVLogger, EarlyStopping, History, LambdaCallback,
                                 LearningRateScheduler, ModelCheckpoint, ReduceLROnPlateau, TerminateOnNaN)

__all__ = ["Callback", "History", "EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau", "CSVLogger",
           "TerminateOnNaN", "LambdaCallback", "LearningRateScheduler"]
