"""Training: the Trainer behind compile/fit/evaluate/predict, and Keras 3's losses, metrics, optimizers (with
learning-rate schedules) and callbacks; checks on the data before the first step; DDP."""
from . import callbacks, distributed, losses, metrics, optimizers, validation
from .trainer import Trainer

__all__ = ["Trainer", "callbacks", "distributed", "losses", "metrics", "optimizers", "validation"]
