"""Training: the Trainer behind compile/fit/evaluate/predict, losses, metrics, optimizers, callbacks, DDP."""
from . import callbacks, distributed, losses, metrics, optimizers
from .trainer import Trainer

__all__ = ["Trainer", "callbacks", "distributed", "losses", "metrics", "optimizers"]
