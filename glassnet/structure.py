"""Nested structures of values (lists, tuples, dicts) — the one place that walks them.

Tuples and lists keep their type; dict values are visited in insertion order; ``None`` is a leaf.
"""
from __future__ import annotations

from typing import Any, Callable

__all__ = ["flatten", "map_structure", "leaves", "first_length"]


def flatten(x) -> list:
    """Every leaf of ``x`` in order (``None`` leaves included)."""
    if isinstance(x, (list, tuple)):
        return [y for v in x for y in flatten(v)]
    if isinstance(x, dict):
        return [y for v in x.values() for y in flatten(v)]
    return [x]


def leaves(x) -> list:
    """The leaves of ``x`` that are not ``None``."""
    return [v for v in flatten(x) if v is not None]


def map_structure(fn: Callable[[Any], Any], x, skip_none: bool = False):
    """``x`` with ``fn`` applied to every leaf; the structure (list, tuple, dict) is kept.

    With ``skip_none`` a ``None`` leaf stays ``None`` without calling ``fn``.
    """
    if isinstance(x, list):
        return [map_structure(fn, v, skip_none) for v in x]
    if isinstance(x, tuple):
        return tuple(map_structure(fn, v, skip_none) for v in x)
    if isinstance(x, dict):
        return {k: map_structure(fn, v, skip_none) for k, v in x.items()}
    if skip_none and x is None:
        return None
    return fn(x)


def first_length(x) -> int | None:
    """``len`` of the first non-None leaf (the number of samples of a batch structure), or None."""
    items = leaves(x)
    return len(items[0]) if items else None
