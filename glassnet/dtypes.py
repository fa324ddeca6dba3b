"""The one table of dtypes: Keras names, torch dtypes and sizes in bytes."""
from __future__ import annotations

import torch

from .errors import ConfigError

__all__ = ["TORCH", "to_torch", "name_of", "itemsize", "float_dtype"]

TORCH: dict[str, torch.dtype] = {
    "float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32, "float64": torch.float64,
    "uint8": torch.uint8, "int8": torch.int8, "int16": torch.int16, "int32": torch.int32, "int64": torch.int64,
    "bool": torch.bool,
}


def to_torch(dtype, default: str = "float32") -> torch.dtype:
    """A torch dtype from a Keras name (``"float32"``, ``"mixed_float16"``), a Keras DTypePolicy config,
    a torch dtype, or ``None`` (the default)."""
    if dtype is None:
        dtype = default
    if isinstance(dtype, torch.dtype):
        return dtype
    if isinstance(dtype, dict):  # Keras DTypePolicy config
        dtype = (dtype.get("config") or {}).get("name", default)
    if isinstance(dtype, str):
        key = dtype.replace("mixed_", "")
        if key in TORCH:
            return TORCH[key]
    raise ConfigError(f"Unknown dtype. Received: dtype={dtype!r}. Use one of {sorted(TORCH)}.")


def name_of(dtype) -> str:
    """The Keras name of a torch dtype (``torch.float32`` → ``"float32"``); names pass through."""
    if isinstance(dtype, str):
        return dtype
    return str(dtype).replace("torch.", "")


def itemsize(dtype) -> int:
    """Bytes per element (4 for an unknown name)."""
    try:
        return to_torch(dtype).itemsize
    except ConfigError:
        return 4


def float_dtype(dtype) -> torch.dtype:
    """The float type data takes for an input declared with ``dtype`` (float32 for non-float inputs)."""
    t = to_torch(dtype)
    return t if t.is_floating_point else torch.float32
