"""Utilities: ``set_random_seed`` for repeatable runs."""
from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ["set_random_seed"]


def set_random_seed(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators (weights, dropout and shuffling repeat)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
