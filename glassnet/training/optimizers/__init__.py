"""Keras 3's optimizers (``keras.optimizers``) with Keras's update rules, on ``torch.optim.Optimizer``.

``gn.optimizers.Adam(learning_rate=1e-3)`` is created without weights and built on the model's
trainable weights at the first step; ``model.compile("adam")`` takes Keras's names. Any
``torch.optim.Optimizer`` (or a function ``params -> torch.optim.Optimizer``) is accepted too.
"""
from __future__ import annotations

from typing import Any

import torch

from . import legacy, schedules
from .base import CLASSES, Optimizer, deserialize_optimizer, serialize_optimizer
from .rules import (SGD, Adadelta, Adafactor, Adagrad, Adam, Adamax, AdamW, Ftrl, Lamb, Lion, Muon, Nadam, RMSprop,
                    ScheduleFreeAdamW)
from .wrappers import LossScaleOptimizer, MultiOptimizer, OptimizerMap

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "Nadam", "Ftrl", "Lion",
           "Lamb", "Adafactor", "Muon", "ScheduleFreeAdamW", "LossScaleOptimizer", "MultiOptimizer", "OptimizerMap",
           "schedules", "legacy", "get", "serialize", "deserialize", "to_config", "from_config"]


def serialize(optimizer: Optimizer) -> dict:
    """Keras's serialized form of an optimizer."""
    return serialize_optimizer(optimizer)


def deserialize(config, custom_objects: dict | None = None) -> Optimizer:
    """An optimizer from Keras's serialized form or name."""
    return deserialize_optimizer(config, custom_objects)


def get(identifier) -> Any:
    """An optimizer from a Keras name or config, an optimizer, a ``torch.optim.Optimizer``, or a factory
    ``params -> torch.optim.Optimizer`` (returned as is, for the trainer to call)."""
    if isinstance(identifier, torch.optim.Optimizer):
        return identifier
    if isinstance(identifier, (str, dict)):
        return deserialize_optimizer(identifier)
    if callable(identifier):
        return identifier
    raise TypeError(f"An optimizer must be a name, an Optimizer, a torch.optim.Optimizer or a factory. "
                    f"Received: {identifier!r}")


def to_config(optimizer) -> dict:
    """What Keras writes as the compile config's optimizer (a torch optimizer: its name and learning rate)."""
    if isinstance(optimizer, Optimizer):
        return serialize_optimizer(optimizer)
    name = type(optimizer).__name__.lower()
    return {"class_name": name, "config": {"learning_rate": float(optimizer.param_groups[0]["lr"])}}


def from_config(config) -> Optimizer:
    """An optimizer from Keras's compile config (a name or a serialized dict; ``None`` → Keras's rmsprop)."""
    return deserialize_optimizer(config if config is not None else "rmsprop")
