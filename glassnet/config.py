"""Global defaults, as in ``keras.config``: the float type of new weights, and the dtype policy.

A dtype policy names two types: the one variables are stored in and the one layers compute in.
``"mixed_float16"`` and ``"mixed_bfloat16"`` keep float32 variables and compute in the 16-bit type
(``torch.autocast``); a model compiled under ``"mixed_float16"`` scales its loss (``LossScaleOptimizer``).

Example:
    >>> gn.config.DTypePolicy("mixed_bfloat16").compute_dtype
    'bfloat16'
"""
from __future__ import annotations

import torch

__all__ = ["floatx", "set_floatx", "epsilon", "set_epsilon", "DTypePolicy", "dtype_policy", "set_dtype_policy",
           "image_data_format", "backend", "set_allow_nan_inputs", "nan_inputs_allowed"]

_FLOATX = "float32"
_EPSILON = 1e-7
_ALLOW_NAN_INPUTS = False
_FLOATS = ("float16", "bfloat16", "float32", "float64")


def floatx() -> str:
    """The default float dtype name for new layers' weights (``"float32"``)."""
    return _FLOATX


def set_floatx(value: str) -> None:
    """Set the default float dtype: ``"float16"``, ``"bfloat16"``, ``"float32"`` or ``"float64"``."""
    global _FLOATX, _POLICY
    if value not in _FLOATS:
        raise ValueError(f"Unknown floatx; expected float16, bfloat16, float32 or float64. Received: {value!r}")
    _FLOATX = value
    if not _POLICY_SET:
        _POLICY = DTypePolicy(value)


def epsilon() -> float:
    """Keras's fuzz factor (1e-7)."""
    return _EPSILON


def set_epsilon(value: float) -> None:
    global _EPSILON
    _EPSILON = float(value)


def set_allow_nan_inputs(allow: bool) -> None:
    """Let ``fit``/``evaluate`` take NaN in ``x`` (a model that masks missing values on purpose).

    By default a NaN or infinite value anywhere in ``x``, ``y``, ``sample_weight`` or ``class_weight`` is
    refused before the first step, naming the count and the first index. With this flag on, NaN in ``x``
    is accepted; infinite values, and NaN in targets and weights, are still refused.
    """
    global _ALLOW_NAN_INPUTS
    _ALLOW_NAN_INPUTS = bool(allow)


def nan_inputs_allowed() -> bool:
    """Whether NaN in ``x`` is accepted (``set_allow_nan_inputs``)."""
    return _ALLOW_NAN_INPUTS


def image_data_format() -> str:
    """Always ``"channels_last"``, as glassnet's tensors are."""
    return "channels_last"


def backend() -> str:
    """The engine: ``"torch"``."""
    return "torch"


class DTypePolicy:
    """Keras's ``DTypePolicy``: ``name`` is a float type (``"float32"``) or ``"mixed_float16"`` /
    ``"mixed_bfloat16"`` (float32 variables, 16-bit computation)."""

    def __init__(self, name: str | None = None):
        name = name or floatx()
        if isinstance(name, DTypePolicy):
            name = name.name
        if not isinstance(name, str):
            name = str(name).replace("torch.", "")
        if name.startswith("mixed_"):
            compute = name[len("mixed_"):]
            if compute not in ("float16", "bfloat16"):
                raise ValueError(f"Cannot convert {name!r} to a mixed precision DTypePolicy. Valid policies include "
                                 "'mixed_float16' and 'mixed_bfloat16'.")
            self.variable_dtype, self.compute_dtype = "float32", compute
        elif name in _FLOATS or name in ("int32", "int64", "uint8", "int8", "int16", "bool"):
            self.variable_dtype = self.compute_dtype = name
        else:
            raise ValueError(f"Cannot interpret dtype policy {name!r}. Use a float type such as 'float32', or "
                             "'mixed_float16' / 'mixed_bfloat16'.")
        self.name = name

    @property
    def is_mixed(self) -> bool:
        return self.variable_dtype != self.compute_dtype

    @property
    def torch_compute_dtype(self) -> torch.dtype:
        return getattr(torch, self.compute_dtype)

    @property
    def torch_variable_dtype(self) -> torch.dtype:
        return getattr(torch, self.variable_dtype)

    def get_config(self) -> dict:
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> "DTypePolicy":
        return cls(config.get("name"))

    def __eq__(self, other) -> bool:
        return isinstance(other, DTypePolicy) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f'<DTypePolicy "{self.name}">'


_POLICY = DTypePolicy("float32")
_POLICY_SET = False


def dtype_policy() -> DTypePolicy:
    """The policy new layers take when they are given no ``dtype``."""
    return _POLICY


def set_dtype_policy(policy) -> None:
    """Set the global policy: a name (``"mixed_bfloat16"``) or a ``DTypePolicy``; None resets to floatx."""
    global _POLICY, _POLICY_SET
    _POLICY = DTypePolicy(policy) if policy is not None else DTypePolicy(floatx())
    _POLICY_SET = policy is not None
