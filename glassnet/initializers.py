"""Keras initialisers with the same distributions, drawn with torch's generator.

Fans follow Keras: for a kernel of shape ``(..., in, out)`` the receptive field is
``prod(shape[:-2])``, ``fan_in = in·rf`` and ``fan_out = out·rf``.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

__all__ = ["get", "compute_fans", "Initializer"]

_TRUNC_STD = 0.87962566103423978  # std of a unit normal truncated to [-2, 2]


def compute_fans(shape) -> tuple[float, float]:
    shape = tuple(shape)
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    rf = math.prod(shape[:-2])
    return float(shape[-2] * rf), float(shape[-1] * rf)


def _truncated_normal(shape, mean, std, dtype):
    t = torch.empty(shape, dtype=dtype)
    return torch.nn.init.trunc_normal_(t, mean=mean, std=std, a=mean - 2 * std, b=mean + 2 * std)


class Initializer:
    """Callable ``(shape, dtype) -> torch.Tensor`` with a Keras name and config."""

    def __init__(self, name: str, fn: Callable, **config):
        self.name, self._fn, self.config = name, fn, config

    def __call__(self, shape, dtype=torch.float32) -> torch.Tensor:
        return self._fn(tuple(shape), dtype, **self.config)

    def __repr__(self) -> str:
        return f"{self.name}({', '.join(f'{k}={v}' for k, v in self.config.items())})"


def _variance_scaling(shape, dtype, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
    fan_in, fan_out = compute_fans(shape)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[mode]
    s = scale / max(1.0, n)
    if distribution == "truncated_normal":
        return _truncated_normal(shape, 0.0, math.sqrt(s) / _TRUNC_STD, dtype)
    if distribution == "untruncated_normal":
        return torch.randn(shape, dtype=dtype) * math.sqrt(s)
    limit = math.sqrt(3.0 * s)
    return torch.empty(shape, dtype=dtype).uniform_(-limit, limit)


def _orthogonal(shape, dtype, gain=1.0, seed=None):
    if len(shape) < 2:
        raise ValueError(f"The orthogonal initializer needs a shape of rank >= 2. Received: shape={shape}")
    rows, cols = math.prod(shape[:-1]), shape[-1]
    flat = (max(rows, cols), min(rows, cols))
    a = torch.randn(flat, dtype=torch.float64)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r)).unsqueeze(0)
    if rows < cols:
        q = q.T
    return (gain * q).reshape(shape).to(dtype)


_FACTORIES: dict[str, Callable[..., Initializer]] = {
    "zeros": lambda: Initializer("zeros", lambda s, d: torch.zeros(s, dtype=d)),
    "ones": lambda: Initializer("ones", lambda s, d: torch.ones(s, dtype=d)),
    "constant": lambda value=0.0: Initializer("constant", lambda s, d, value: torch.full(s, float(value), dtype=d), value=value),
    "random_normal": lambda mean=0.0, stddev=0.05: Initializer(
        "random_normal", lambda s, d, mean, stddev: torch.randn(s, dtype=d) * stddev + mean, mean=mean, stddev=stddev),
    "random_uniform": lambda minval=-0.05, maxval=0.05: Initializer(
        "random_uniform", lambda s, d, minval, maxval: torch.empty(s, dtype=d).uniform_(minval, maxval),
        minval=minval, maxval=maxval),
    "truncated_normal": lambda mean=0.0, stddev=0.05: Initializer(
        "truncated_normal", lambda s, d, mean, stddev: _truncated_normal(s, mean, stddev, d), mean=mean, stddev=stddev),
    "glorot_uniform": lambda: Initializer("glorot_uniform", _variance_scaling, scale=1.0, mode="fan_avg", distribution="uniform"),
    "glorot_normal": lambda: Initializer("glorot_normal", _variance_scaling, scale=1.0, mode="fan_avg", distribution="truncated_normal"),
    "he_uniform": lambda: Initializer("he_uniform", _variance_scaling, scale=2.0, mode="fan_in", distribution="uniform"),
    "he_normal": lambda: Initializer("he_normal", _variance_scaling, scale=2.0, mode="fan_in", distribution="truncated_normal"),
    "lecun_uniform": lambda: Initializer("lecun_uniform", _variance_scaling, scale=1.0, mode="fan_in", distribution="uniform"),
    "lecun_normal": lambda: Initializer("lecun_normal", _variance_scaling, scale=1.0, mode="fan_in", distribution="truncated_normal"),
    "orthogonal": lambda gain=1.0: Initializer("orthogonal", _orthogonal, gain=gain),
    "identity": lambda gain=1.0: Initializer("identity", lambda s, d, gain: gain * torch.eye(*s, dtype=d), gain=gain),
}
_ALIASES = {"uniform": "random_uniform", "normal": "random_normal", "glorotuniform": "glorot_uniform",
            "glorotnormal": "glorot_normal", "henormal": "he_normal", "heuniform": "he_uniform",
            "lecunnormal": "lecun_normal", "lecununiform": "lecun_uniform", "randomnormal": "random_normal",
            "randomuniform": "random_uniform", "truncatednormal": "truncated_normal", "orthogonalinitializer": "orthogonal"}


def get(identifier) -> Initializer | Callable:
    """An initialiser from a Keras name, a ``{"class_name", "config"}`` dict, or a callable."""
    if isinstance(identifier, Initializer) or (callable(identifier) and not isinstance(identifier, (str, dict))):
        return identifier
    config = {}
    if isinstance(identifier, dict):
        config = {k: v for k, v in (identifier.get("config") or {}).items() if k != "seed"}
        identifier = identifier.get("class_name", "")
    if isinstance(identifier, str):
        key = identifier.lower()
        key = _ALIASES.get(key.replace("_", ""), key)
        if key in _FACTORIES:
            import inspect
            factory = _FACTORIES[key]
            accepted = inspect.signature(factory).parameters
            return factory(**{k: v for k, v in config.items() if k in accepted})
        known = ", ".join(sorted(_FACTORIES))
        raise ValueError(f"Unknown initializer {identifier!r}. Known initializers: {known}.")
    raise TypeError(f"An initializer must be a name or a callable. Received: {identifier!r}")


def serialize(init) -> str:
    return init.name if isinstance(init, Initializer) else getattr(init, "__name__", repr(init))
