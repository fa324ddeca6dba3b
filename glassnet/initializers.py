"""Keras initialisers with the same distributions, drawn with torch's generator.

Fans follow Keras: for a kernel of shape ``(..., in, out)`` the receptive field is
``prod(shape[:-2])``, ``fan_in = in·rf`` and ``fan_out = out·rf``.
"""
from __future__ import annotations

import inspect
import math
from typing import Callable

import torch

__all__ = ["get", "serialize", "compute_fans", "Initializer", "Zeros", "Ones", "Constant", "RandomNormal",
           "RandomUniform", "TruncatedNormal", "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeUniform",
           "HeNormal", "LecunUniform", "LecunNormal", "Orthogonal", "Identity"]

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
    """Callable ``(shape, dtype) -> torch.Tensor`` with a Keras name and config.

    ``seed`` is accepted as Keras accepts it; draws come from torch's generator, seeded by
    ``gn.utils.set_random_seed``.
    """

    keras_name = ""

    def __init__(self, name: str, fn: Callable, **config):
        self.name, self._fn, self.config = name, fn, config

    def __call__(self, shape, dtype=torch.float32) -> torch.Tensor:
        return self._fn(tuple(shape), dtype, **self.config)

    def get_config(self) -> dict:
        return dict(self.config)

    def __repr__(self) -> str:
        return f"{self.name}({', '.join(f'{k}={v}' for k, v in self.config.items())})"


def _variance_scaling(shape, dtype, scale=1.0, mode="fan_in", distribution="truncated_normal"):
    fan_in, fan_out = compute_fans(shape)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[mode]
    s = scale / max(1.0, n)
    if distribution == "truncated_normal":
        return _truncated_normal(shape, 0.0, math.sqrt(s) / _TRUNC_STD, dtype)
    if distribution == "untruncated_normal":
        return torch.randn(shape, dtype=dtype) * math.sqrt(s)
    limit = math.sqrt(3.0 * s)
    return torch.empty(shape, dtype=dtype).uniform_(-limit, limit)


def _orthogonal(shape, dtype, gain=1.0):
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


class Zeros(Initializer):
    def __init__(self):
        super().__init__("zeros", lambda s, d: torch.zeros(s, dtype=d))


class Ones(Initializer):
    def __init__(self):
        super().__init__("ones", lambda s, d: torch.ones(s, dtype=d))


class Constant(Initializer):
    def __init__(self, value=0.0):
        super().__init__("constant", lambda s, d, value: torch.full(s, float(value), dtype=d), value=value)


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__("random_normal", lambda s, d, mean, stddev: torch.randn(s, dtype=d) * stddev + mean,
                         mean=mean, stddev=stddev)


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__("random_uniform", lambda s, d, minval, maxval: torch.empty(s, dtype=d).uniform_(minval, maxval),
                         minval=minval, maxval=maxval)


class TruncatedNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__("truncated_normal", lambda s, d, mean, stddev: _truncated_normal(s, mean, stddev, d),
                         mean=mean, stddev=stddev)


class VarianceScaling(Initializer):
    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None, _name="variance_scaling"):
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"VarianceScaling mode must be fan_in, fan_out or fan_avg. Received: mode={mode!r}")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError("VarianceScaling distribution must be truncated_normal, untruncated_normal or uniform. "
                             f"Received: distribution={distribution!r}")
        super().__init__(_name, _variance_scaling, scale=scale, mode=mode, distribution=distribution)


class GlorotUniform(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_avg", "uniform", _name="glorot_uniform")

    def get_config(self):
        return {}


class GlorotNormal(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_avg", "truncated_normal", _name="glorot_normal")

    def get_config(self):
        return {}


class HeUniform(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(2.0, "fan_in", "uniform", _name="he_uniform")

    def get_config(self):
        return {}


class HeNormal(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(2.0, "fan_in", "truncated_normal", _name="he_normal")

    def get_config(self):
        return {}


class LecunUniform(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_in", "uniform", _name="lecun_uniform")

    def get_config(self):
        return {}


class LecunNormal(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_in", "truncated_normal", _name="lecun_normal")

    def get_config(self):
        return {}


class Orthogonal(Initializer):
    def __init__(self, gain=1.0, seed=None):
        super().__init__("orthogonal", _orthogonal, gain=gain)


class Identity(Initializer):
    def __init__(self, gain=1.0):
        super().__init__("identity", lambda s, d, gain: gain * torch.eye(*s, dtype=d), gain=gain)


_CLASSES: dict[str, type] = {
    "zeros": Zeros, "ones": Ones, "constant": Constant, "random_normal": RandomNormal,
    "random_uniform": RandomUniform, "truncated_normal": TruncatedNormal, "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal, "he_uniform": HeUniform, "he_normal": HeNormal,
    "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal, "orthogonal": Orthogonal, "identity": Identity,
}
_KERAS_CLASS = {"zeros": "Zeros", "ones": "Ones", "constant": "Constant", "random_normal": "RandomNormal",
                "random_uniform": "RandomUniform", "truncated_normal": "TruncatedNormal",
                "variance_scaling": "VarianceScaling", "glorot_uniform": "GlorotUniform",
                "glorot_normal": "GlorotNormal", "he_uniform": "HeUniform", "he_normal": "HeNormal",
                "lecun_uniform": "LecunUniform", "lecun_normal": "LecunNormal", "orthogonal": "OrthogonalInitializer",
                "identity": "IdentityInitializer"}
_ALIASES = {"uniform": "random_uniform", "normal": "random_normal", "orthogonalinitializer": "orthogonal",
            "identityinitializer": "identity", "variancescaling": "variance_scaling",
            **{k.replace("_", ""): k for k in _CLASSES}}


def get(identifier) -> Initializer | Callable:
    """An initialiser from a Keras name, a ``{"class_name", "config"}`` dict, or a callable."""
    if isinstance(identifier, Initializer) or (callable(identifier) and not isinstance(identifier, (str, dict))):
        return identifier
    config = {}
    if isinstance(identifier, dict):
        config = dict(identifier.get("config") or {})
        identifier = identifier.get("class_name", "")
    if isinstance(identifier, str):
        key = identifier.lower()
        key = _ALIASES.get(key.replace("_", ""), key)
        if key in _CLASSES:
            cls = _CLASSES[key]
            if not config:
                return cls()
            accepted = inspect.signature(cls).parameters
            # an argument glassnet does not have is fine at its default (None), refused otherwise
            unknown = {k for k in config if k not in accepted and config[k] is not None}
            if unknown:
                raise ValueError(f"Initializer {identifier!r} does not support {sorted(unknown)}. Received: {config}")
            return cls(**{k: v for k, v in config.items() if k in accepted})
        known = ", ".join(sorted(_CLASSES))
        raise ValueError(f"Unknown initializer {identifier!r}. Known initializers: {known}.")
    raise TypeError(f"An initializer must be a name or a callable. Received: {identifier!r}")


def serialize(init):
    """Keras's form: ``{"module": "keras.initializers", "class_name", "config"}`` (its arguments kept)."""
    if isinstance(init, Initializer) and init.name in _KERAS_CLASS:
        return {"module": "keras.initializers", "class_name": _KERAS_CLASS[init.name],
                "config": {**init.get_config(), **({"seed": None} if "seed" in inspect.signature(type(init)).parameters
                                                    else {})},
                "registered_name": None}
    return init.name if isinstance(init, Initializer) else getattr(init, "__name__", repr(init))
