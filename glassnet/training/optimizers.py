"""Optimizers by Keras name with Keras defaults, mapped onto ``torch.optim``."""
from __future__ import annotations

from typing import Any, Callable

import torch

__all__ = ["get", "OPTIMIZERS", "Adam", "AdamW", "SGD", "RMSprop", "Adagrad"]


def _adam(params, learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, weight_decay=None):
    return torch.optim.Adam(params, lr=learning_rate, betas=(beta_1, beta_2), eps=epsilon, amsgrad=amsgrad,
                            weight_decay=weight_decay or 0.0)


def _adamw(params, learning_rate=1e-3, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
    return torch.optim.AdamW(params, lr=learning_rate, betas=(beta_1, beta_2), eps=epsilon,
                             weight_decay=weight_decay, amsgrad=amsgrad)


def _sgd(params, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None):
    return torch.optim.SGD(params, lr=learning_rate, momentum=momentum, nesterov=nesterov,
                           weight_decay=weight_decay or 0.0)


def _rmsprop(params, learning_rate=1e-3, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, weight_decay=None):
    return torch.optim.RMSprop(params, lr=learning_rate, alpha=rho, eps=epsilon, momentum=momentum,
                               centered=centered, weight_decay=weight_decay or 0.0)


def _adagrad(params, learning_rate=1e-3, initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=None):
    return torch.optim.Adagrad(params, lr=learning_rate, initial_accumulator_value=initial_accumulator_value,
                               eps=epsilon, weight_decay=weight_decay or 0.0)


OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": _adam, "adamw": _adamw, "sgd": _sgd, "rmsprop": _rmsprop, "adagrad": _adagrad,
}


class _Spec:
    """A Keras-style optimizer description (``Adam(learning_rate=1e-4)``), made real at compile."""

    def __init__(self, name: str, **config: Any):
        self.name, self.config = name, config

    def __call__(self, params) -> torch.optim.Optimizer:
        return OPTIMIZERS[self.name](params, **self.config)

    def __repr__(self):
        return f"{self.name}({self.config})"


def Adam(**config):
    return _Spec("adam", **config)


def AdamW(**config):
    return _Spec("adamw", **config)


def SGD(**config):
    return _Spec("sgd", **config)


def RMSprop(**config):
    return _Spec("rmsprop", **config)


def Adagrad(**config):
    return _Spec("adagrad", **config)


def get(identifier, params) -> torch.optim.Optimizer:
    """A torch optimizer from a Keras name, a spec, a torch optimizer, or a factory of params."""
    if isinstance(identifier, torch.optim.Optimizer):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in OPTIMIZERS:
            raise ValueError(f"Unknown optimizer {identifier!r}. Known optimizers: {', '.join(sorted(OPTIMIZERS))}.")
        return OPTIMIZERS[key](params)
    if callable(identifier):
        opt = identifier(params)
        if not isinstance(opt, torch.optim.Optimizer):
            raise TypeError(f"The optimizer factory must return a torch.optim.Optimizer. Received: {opt!r}")
        return opt
    raise TypeError(f"An optimizer must be a name, a torch.optim.Optimizer or a factory. Received: {identifier!r}")
