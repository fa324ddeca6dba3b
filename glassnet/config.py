"""Global defaults, as in ``keras.config``: the float type new layers create weights in."""
from __future__ import annotations

__all__ = ["floatx", "set_floatx"]

_FLOATX = "float32"


def floatx() -> str:
    """The default float dtype name for new layers' weights (``"float32"``)."""
    return _FLOATX


def set_floatx(value: str) -> None:
    """Set the default float dtype: ``"float16"``, ``"bfloat16"``, ``"float32"`` or ``"float64"``."""
    global _FLOATX
    if value not in ("float16", "bfloat16", "float32", "float64"):
        raise ValueError(f"Unknown floatx; expected float16, bfloat16, float32 or float64. Received: {value!r}")
    _FLOATX = value
