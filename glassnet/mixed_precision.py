"""``keras.mixed_precision``: dtype policies and loss scaling under Keras's names.

``set_global_policy("mixed_float16")`` is ``gn.config.set_dtype_policy``; a model compiled under it wraps its
optimizer in a ``LossScaleOptimizer``.
"""
from __future__ import annotations

from .config import DTypePolicy, dtype_policy, set_dtype_policy
from .training.optimizers import LossScaleOptimizer

__all__ = ["DTypePolicy", "Policy", "dtype_policy", "global_policy", "set_dtype_policy", "set_global_policy",
           "LossScaleOptimizer"]

Policy = DTypePolicy
global_policy = dtype_policy
set_global_policy = set_dtype_policy
