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


class KerasRMSprop(torch.optim.Optimizer):
    """RMSprop as Keras defines it: ``w -= lr·g / sqrt(v + eps)`` (eps inside the root).

    ``torch.optim.RMSprop`` adds eps outside the root, which differs by orders of magnitude
    for small gradients; this keeps Keras's numbers.
    """

    def __init__(self, params, lr=1e-3, rho=0.9, momentum=0.0, eps=1e-7, centered=False):
        super().__init__(params, dict(lr=lr, rho=rho, momentum=momentum, eps=eps, centered=centered))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, rho, mom, eps = group["lr"], group["rho"], group["momentum"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                state = self.state[p]
                if not state:
                    state["velocity"] = torch.zeros_like(p)
                    if mom > 0:
                        state["momentum"] = torch.zeros_like(p)
                    if group["centered"]:
                        state["average_grad"] = torch.zeros_like(p)
                v = state["velocity"]
                v.mul_(rho).addcmul_(g, g, value=1 - rho)
                if group["centered"]:
                    a = state["average_grad"]
                    a.mul_(rho).add_(g, alpha=1 - rho)
                    denom = (v - a * a).add_(eps).sqrt_()
                else:
                    denom = (v + eps).sqrt_()
                increment = g * lr / denom
                if mom > 0:
                    buf = state["momentum"]
                    buf.mul_(mom).add_(increment)
                    p.sub_(buf)
                else:
                    p.sub_(increment)
        return loss


def _rmsprop(params, learning_rate=1e-3, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):
    return KerasRMSprop(params, lr=learning_rate, rho=rho, momentum=momentum, eps=epsilon, centered=centered)


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


_TORCH_NAMES = {"Adam": "adam", "AdamW": "adamw", "SGD": "sgd", "KerasRMSprop": "rmsprop", "RMSprop": "rmsprop",
                "Adagrad": "adagrad"}


def to_config(optimizer) -> dict:
    """Keras's ``{"class_name", "config"}`` for a compiled optimizer (its name and learning rate)."""
    name = _TORCH_NAMES.get(type(optimizer).__name__, type(optimizer).__name__.lower())
    return {"class_name": name, "config": {"learning_rate": float(optimizer.param_groups[0]["lr"])}}


def from_config(config):
    """An optimizer spec from Keras's compile config (a name, or ``{"class_name", "config"}``).

    Raises ValueError for an optimizer glassnet does not have, so the caller can say so.
    """
    if config is None or isinstance(config, str):
        name = (config or "rmsprop").lower()
        if name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {config!r}")
        return name
    if not isinstance(config, dict):
        raise ValueError(f"an optimizer config must be a name or a dict, not {type(config).__name__}")
    name = str(config.get("class_name", "")).lower()
    if name not in OPTIMIZERS:
        raise ValueError(f"glassnet has no optimizer {config.get('class_name')!r}")
    lr = (config.get("config") or {}).get("learning_rate")
    if lr is None:
        return name
    if not isinstance(lr, (int, float)) or isinstance(lr, bool):
        raise ValueError(f"the learning rate of {name} is a schedule ({str(lr)[:80]}), which glassnet does not read yet")
    return _Spec(name, learning_rate=float(lr))
