"""Activation functions by Keras name, computed with torch."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

__all__ = ["get", "serialize", "ACTIVATIONS", "ELEMENTWISE_FLOPS", "NEEDS_ARGUMENTS"]


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


def celu(x, alpha: float = 1.0):
    return F.celu(x, alpha)


def glu(x, axis: int = -1):
    """Gated linear unit: the first half of ``axis`` times the sigmoid of the second (``axis`` halves)."""
    return F.glu(x, dim=axis)


def hard_tanh(x):
    return F.hardtanh(x, -1.0, 1.0)


def hard_shrink(x, threshold: float = 0.5):
    return F.hardshrink(x, threshold)


def soft_shrink(x, threshold: float = 0.5):
    return F.softshrink(x, threshold)


def tanh_shrink(x):
    return F.tanhshrink(x)


def log_sigmoid(x):
    return F.logsigmoid(x)


def squareplus(x, b: float = 4):
    return (x + torch.sqrt(x * x + b)) / 2


def sparse_plus(x):
    """0 for x <= -1, (x+1)²/4 for -1 < x < 1, x for x >= 1."""
    return torch.where(x <= -1, torch.zeros_like(x), torch.where(x < 1, 0.25 * (x + 1) ** 2, x))


def sparse_sigmoid(x):
    """0 for x <= -1, (x+1)/2 for -1 < x < 1, 1 for x >= 1."""
    return torch.where(x <= -1, torch.zeros_like(x), torch.where(x >= 1, torch.ones_like(x), 0.5 * (x + 1)))


def sparsemax(x, axis: int = -1):
    """Euclidean projection onto the simplex along ``axis`` (Martins & Astudillo, 2016), as Keras computes it."""
    z, _ = torch.sort(x, dim=axis, descending=True)
    cumsum = torch.cumsum(z, dim=axis)
    shape = [1] * x.ndim
    shape[axis] = -1
    r = torch.arange(1, x.shape[axis] + 1, device=x.device, dtype=x.dtype).view(shape)
    support = z - (cumsum - 1) / r > 0
    k = torch.sum(support, dim=axis, keepdim=True)
    tau = (torch.sum(torch.where(support, cumsum, torch.zeros_like(cumsum)), dim=axis, keepdim=True) - 1) / k
    return torch.clamp(x - tau, min=0.0)


def threshold(x, threshold: float, default_value: float):
    """``x`` where ``x > threshold``, else ``default_value`` (both arguments required, as in Keras)."""
    return F.threshold(x, threshold, default_value)


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
    "celu": celu,
    "glu": glu,
    "hard_tanh": hard_tanh,
    "hard_shrink": hard_shrink,
    "soft_shrink": soft_shrink,
    "tanh_shrink": tanh_shrink,
    "log_sigmoid": log_sigmoid,
    "squareplus": squareplus,
    "sparse_plus": sparse_plus,
    "sparse_sigmoid": sparse_sigmoid,
    "sparsemax": sparsemax,
    "threshold": threshold,
}

# element-wise operations per output element, used by the cost rules
ELEMENTWISE_FLOPS = {
    "linear": 0, "relu": 1, "relu6": 2, "tanh": 1, "sigmoid": 1, "softmax": 3, "log_softmax": 3,
    "gelu": 1, "elu": 1, "selu": 1, "softplus": 1, "softsign": 1, "silu": 2, "swish": 2, "mish": 3,
    "hard_sigmoid": 3, "hard_silu": 4, "hard_swish": 4, "exponential": 1, "leaky_relu": 1,
    "celu": 1, "glu": 2, "hard_tanh": 2, "hard_shrink": 1, "soft_shrink": 2, "tanh_shrink": 2, "log_sigmoid": 1,
    "squareplus": 4, "sparse_plus": 3, "sparse_sigmoid": 2, "sparsemax": 4, "threshold": 1,
}

# activations that need arguments besides the tensor, so they cannot stand alone in Activation(name)
NEEDS_ARGUMENTS = {"threshold": "threshold and default_value"}


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
