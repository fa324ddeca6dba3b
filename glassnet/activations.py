"""Activation functions by Keras name, computed with torch."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

__all__ = ["get", "serialize", "ACTIVATIONS"]


def linear(x):
    return x


def softmax(x, axis: int = -1):
    return torch.softmax(x, dim=axis)


def log_softmax(x, axis: int = -1):
    return torch.log_softmax(x, dim=axis)


def gelu(x, approximate: bool = False):
    return F.gelu(x, approximate="tanh" if approximate else "none")


def hard_sigmoid(x):
    # Keras 3: relu6(x + 3) / 6
    return F.relu6(x + 3.0) / 6.0


def hard_silu(x):
    return x * hard_sigmoid(x)


def leaky_relu(x, negative_slope: float = 0.2):
    return F.leaky_relu(x, negative_slope)


def selu(x):
    return F.selu(x)


def softsign(x):
    return F.softsign(x)


ACTIVATIONS: dict[str, Callable] = {
    "linear": linear,
    "relu": torch.relu,
    "relu6": F.relu6,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "softmax": softmax,
    "log_softmax": log_softmax,
    "gelu": gelu,
    "elu": F.elu,
    "selu": selu,
    "softplus": F.softplus,
    "softsign": softsign,
    "silu": F.silu,
    "swish": F.silu,
    "mish": F.mish,
    "hard_sigmoid": hard_sigmoid,
    "hard_silu": hard_silu,
    "hard_swish": hard_silu,
    "exponential": torch.exp,
    "leaky_relu": leaky_relu,
}

# element-wise operations per output element, used by the cost rules
ELEMENTWISE_FLOPS = {
    "linear": 0, "relu": 1, "relu6": 2, "tanh": 1, "sigmoid": 1, "softmax": 3, "log_softmax": 3,
    "gelu": 1, "elu": 1, "selu": 1, "softplus": 1, "softsign": 1, "silu": 2, "swish": 2, "mish": 3,
    "hard_sigmoid": 3, "hard_silu": 4, "hard_swish": 4, "exponential": 1, "leaky_relu": 1,
}


def get(identifier) -> Callable:
    """An activation from its Keras name, a callable, or ``None`` (linear)."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        fn = ACTIVATIONS.get(identifier)
        if fn is None:
            known = ", ".join(sorted(ACTIVATIONS))
            raise ValueError(f"Unknown activation {identifier!r}. Known activations: {known}.")
        return fn
    if callable(identifier):
        return identifier
    raise TypeError(f"An activation must be a name or a callable. Received: activation={identifier!r}")


def serialize(fn: Callable) -> str:
    """The Keras name of an activation function (the function's own name otherwise)."""
    for name, f in ACTIVATIONS.items():
        if f is fn:
            return name
    return getattr(fn, "__name__", repr(fn))
