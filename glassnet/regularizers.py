"""Weight and activity regularizers (``keras.regularizers``): penalties added to the training loss.

A regularizer is called on a tensor and returns a scalar. Given to a layer (``kernel_regularizer=``,
``activity_regularizer=``) its penalty appears in ``layer.losses`` / ``model.losses`` and ``fit`` adds it
to the loss, as Keras does.

Example:
    >>> import torch
    >>> float(gn.regularizers.L2(0.5)(torch.tensor([1.0, 2.0])))
    2.5
"""
from __future__ import annotations

import math

import torch

from ._catalogue import Catalogue
from .errors import ConfigError

__all__ = ["Regularizer", "L1", "L2", "L1L2", "OrthogonalRegularizer", "l1", "l2", "l1_l2",
           "orthogonal_regularizer", "get", "serialize", "deserialize"]


def _non_negative(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isinf(value) or math.isnan(value) \
            or value < 0:
        raise ConfigError(f"Invalid value for argument {name}: expected a non-negative float. Received: {name}={value}")
    return float(value)


class Regularizer:
    """Base class: ``__call__(x) -> scalar penalty`` and ``get_config()``."""

    def __call__(self, x):
        return torch.zeros((), dtype=x.dtype, device=x.device)

    def get_config(self) -> dict:
        raise NotImplementedError(f"{self} does not implement get_config()")

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        try:
            return f"{type(self).__name__}({self.get_config()})"
        except NotImplementedError:
            return f"{type(self).__name__}()"


class L1L2(Regularizer):
    """``l1 · Σ|x| + l2 · Σx²``."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _non_negative("l1", 0.0 if l1 is None else l1)
        self.l2 = _non_negative("l2", 0.0 if l2 is None else l2)

    def __call__(self, x):
        penalty = torch.zeros((), dtype=x.dtype, device=x.device)
        if self.l1:
            penalty = penalty + torch.tensor(self.l1, dtype=x.dtype) * torch.sum(torch.abs(x))
        if self.l2:
            penalty = penalty + torch.tensor(self.l2, dtype=x.dtype) * torch.sum(torch.square(x))
        return penalty

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(Regularizer):
    """``l1 · Σ|x|``."""

    def __init__(self, l1=0.01):
        self.l1 = _non_negative("l1", 0.01 if l1 is None else l1)

    def __call__(self, x):
        return torch.tensor(self.l1, dtype=x.dtype) * torch.sum(torch.abs(x))

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """``l2 · Σx²``."""

    def __init__(self, l2=0.01):
        self.l2 = _non_negative("l2", 0.01 if l2 is None else l2)

    def __call__(self, x):
        return torch.tensor(self.l2, dtype=x.dtype) * torch.sum(torch.square(x))

    def get_config(self):
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Pushes the rows (or columns) of a rank-2 weight towards orthogonality:
    ``factor · ½ · Σ|off-diagonal of normalised W·Wᵀ| / (n(n-1)/2)``."""

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = _non_negative("factor", factor)
        if mode not in ("rows", "columns"):
            raise ConfigError(f'Invalid value for argument `mode`. Expected one of {{"rows", "columns"}}. '
                              f"Received: mode={mode}")
        self.mode = mode

    def __call__(self, inputs):
        if inputs.ndim != 2:
            raise ValueError(f"Inputs to OrthogonalRegularizer must have rank 2. Received: inputs.shape="
                             f"{tuple(inputs.shape)}")
        axis = 1 if self.mode == "rows" else 0
        inv = torch.clamp(torch.rsqrt(torch.sum(torch.square(inputs), dim=axis, keepdim=True)), max=1.0 / 1e-7)
        x = inputs * inv
        product = x @ x.t() if self.mode == "rows" else x.t() @ x
        size = product.shape[0]
        off = product * (1.0 - torch.eye(size, dtype=inputs.dtype, device=inputs.device))
        return torch.tensor(self.factor, dtype=inputs.dtype) * 0.5 * torch.sum(torch.abs(off)) / (size * (size - 1.0) / 2.0)

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


# Keras's lower-case aliases
l1, l2, l1_l2, orthogonal_regularizer = L1, L2, L1L2, OrthogonalRegularizer

_BY_NAME = {"L1": L1, "L2": L2, "L1L2": L1L2, "OrthogonalRegularizer": OrthogonalRegularizer, "l1": L1, "l2": L2,
            "l1_l2": L1L2, "orthogonal_regularizer": OrthogonalRegularizer}


_CATALOGUE = Catalogue("regularizer", "keras.regularizers", Regularizer, _BY_NAME)
serialize, deserialize, get = _CATALOGUE.serialize, _CATALOGUE.deserialize, _CATALOGUE.get
