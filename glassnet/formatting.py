"""Numbers for people: the one integer and byte-size formatter every table uses."""
from __future__ import annotations

__all__ = ["fmt_int", "fmt_bytes"]


def fmt_int(v) -> str:
    """``1,814,073,344``; ``?`` for an unknown (None)."""
    return "?" if v is None else f"{v:,}"


def fmt_bytes(n) -> str:
    """Keras's sizes: ``1.92 KB`` (1 KB = 1024 B); ``?`` for an unknown (None)."""
    if n is None:
        return "?"
    n = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} TB"
