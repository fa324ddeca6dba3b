"""Argument checks shared by every layer and by training: one helper per kind of check, each naming
the argument, what it must be and what it received (``Received: units=0``)."""
from __future__ import annotations

from typing import Any, Iterable

from .errors import ConfigError

__all__ = ["owner_text", "positive_int", "number_in", "one_of", "int_tuple", "data_format", "unsupported",
           "boolean"]


def owner_text(owner) -> str:
    """``Dense 'dense_1'`` for a layer, the text itself for a string."""
    if isinstance(owner, str):
        return owner
    name = getattr(owner, "name", None)
    return f"{type(owner).__name__} '{name}'" if name else type(owner).__name__


def _fail(owner, name: str, what: str, value) -> ConfigError:
    return ConfigError(f"{owner_text(owner)}: the `{name}` argument must be {what}. Received: {name}={value!r}")


def positive_int(owner, name: str, value, allow_zero: bool = False) -> int:
    """``value`` as an int > 0 (>= 0 with ``allow_zero``); bools and floats are refused."""
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
        raise _fail(owner, name, "a non-negative integer" if allow_zero else "a positive integer", value)
    return value


def number_in(owner, name: str, value, low: float, high: float, high_inclusive: bool = False) -> float:
    """``value`` as a float in ``[low, high)`` (``[low, high]`` with ``high_inclusive``)."""
    ok = (not isinstance(value, bool) and isinstance(value, (int, float))
          and low <= value and (value <= high if high_inclusive else value < high))
    if not ok:
        raise _fail(owner, name, f"a number in [{low:g}, {high:g}{']' if high_inclusive else ')'}", value)
    return float(value)


def one_of(owner, name: str, value, allowed: Iterable) -> Any:
    allowed = tuple(allowed)
    if value not in allowed:
        raise _fail(owner, name, "one of " + ", ".join(repr(a) for a in allowed), value)
    return value


def boolean(owner, name: str, value) -> bool:
    if not isinstance(value, (bool, int)) or value not in (0, 1):
        raise _fail(owner, name, "True or False", value)
    return bool(value)


def int_tuple(owner, name: str, value, rank: int, allow_zero: bool = False) -> tuple[int, ...]:
    """``3 → (3, 3)`` for rank 2 (Keras's ``standardize_tuple``); wrong lengths and non-positive sizes refused."""
    if isinstance(value, int) and not isinstance(value, bool):
        t = (value,) * rank
    elif isinstance(value, (list, tuple)):
        t = tuple(value)
    else:
        t = ()
    lo = 0 if allow_zero else 1
    if len(t) != rank or any(isinstance(v, bool) or not isinstance(v, int) or v < lo for v in t):
        kind = "non-negative" if allow_zero else "positive"
        raise _fail(owner, name, f"an int or a tuple of {rank} {kind} integers", value)
    return t


def data_format(owner, value) -> str:
    """``None`` → ``"channels_last"``; anything but the two Keras formats is refused."""
    value = "channels_last" if value is None else value
    return one_of(owner, "data_format", value, ("channels_last", "channels_first"))


def unsupported(owner, fix: str = "Leave it as None.", **kwargs) -> None:
    """Refuse Keras arguments glassnet does not implement, rather than storing and ignoring them."""
    for key, value in kwargs.items():
        if value is not None and value is not False:
            raise ConfigError(f"{owner_text(owner)} does not support {key}. Received: {key}={value!r}. {fix}")
