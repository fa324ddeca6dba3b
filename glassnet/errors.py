"""Exceptions raised by glassnet and the one helper that words their messages."""
from __future__ import annotations

__all__ = ["GlassnetError", "ShapeError", "ConfigError", "FileFormatError", "GlassnetWarning", "layer_message"]


class GlassnetError(Exception):
    """Base class of every error glassnet raises on purpose."""


class ShapeError(GlassnetError, ValueError):
    """A tensor shape does not fit what a layer needs."""


class ConfigError(GlassnetError, ValueError):
    """A layer or model argument is invalid."""


class FileFormatError(GlassnetError, ValueError):
    """A model or weights file is malformed or unsafe."""


class GlassnetWarning(UserWarning):
    """Every warning glassnet gives (a dropped mask, suspicious data, an ignored setting in a file)."""


def layer_message(layer, problem: str, received: str | None = None, fix: str | None = None) -> str:
    """Build the one message shape used everywhere.

    ``<Type> '<name>' <problem>. Received: <received>. <fix>``
    """
    who = f"{type(layer).__name__} '{layer.name}'" if layer is not None else ""
    text = f"{who} {problem}".strip()
    if not text.endswith((".", "?")):
        text += "."
    if received:
        text += f" Received: {received}."
    if fix:
        text += f" {fix}"
    return text
