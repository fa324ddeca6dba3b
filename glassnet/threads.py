"""How many threads torch's CPU kernels split one operation across (intra-op threads), chosen for the work.

torch starts with one thread per core. Splitting an operation pays only when it is large: for the small
models people start with (an LSTM(10), a Conv2D on 28×28 digits) the threads spend longer meeting at
each operation's end than working, and when another program holds a core a thread waits for it at every
operation. ``benchmarks/threads.py`` measured this on a 2-core machine shared with other programs: the
quick tour took 66 s at 1 thread and 267 s at 2; with a busy-loop on each core, 127 s and 706 s.

The rule (``choose``), in order:

1. ``set_threads(n)`` (the command line's ``--threads N``), else the ``GLASSNET_THREADS`` environment
   variable: a positive integer is used as given; ``auto`` (or unset) applies the rule below.
2. Work of fewer than ``SMALL_WORK_MACS`` multiply-adds per step (batch included): one thread.
3. Otherwise, or when the work is unknown: the setting from before glassnet changed it, which is torch's
   default (one thread per core) unless ``OMP_NUM_THREADS`` or ``torch.set_num_threads`` changed it.

``for_work(macs_per_step)`` applies it for a block and restores the previous setting afterwards::

    with threads.for_work(macs_per_step):   # e.g. the forward multiply-adds of one batch
        for batch in data: ...

This module sits at the bottom of the package (it imports only ``errors``), so every package above may use it.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

from .errors import ConfigError

__all__ = ["ENV", "SMALL_WORK_MACS", "set_threads", "requested", "choose", "using", "for_work", "parse"]

ENV = "GLASSNET_THREADS"

# Forward multiply-adds per step (one batch) below which one thread is the choice. benchmarks/threads.py's sweep
# on 2 cores that other programs also used: every model measured, from 4.5·10^5 to 5.5·10^9 MACs per step
# (LSTMs, dense and convolutional networks), trained 2.7× to 24× slower at 2 threads than at 1 without the
# busy-loops; with them, 1.7× to 15× slower but for the two largest (1.06× and 0.92×). The threshold sits
# above the largest work measured there; on a quiet machine with many cores the crossover is lower (not
# measured here): set GLASSNET_THREADS there.
SMALL_WORK_MACS = 10_000_000_000

_override: int | None = None  # set_threads(); None: GLASSNET_THREADS, then the rule
_outer: list[int] = []        # the setting before each open using() block, outermost first


def parse(value, source: str) -> int | None:
    """A thread setting as an int, or None for ``auto``/unset; anything else raises ConfigError naming ``source``."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("", "auto"):
            return None
        value = int(text) if text.isdigit() else text
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{source} must be a positive number of threads or 'auto'. Received: {source}={value!r}")
    return value


def set_threads(value) -> None:
    """Fix the intra-op threads for everything glassnet runs from now on (``--threads N``): a positive int,
    or ``"auto"``/None to go back to ``GLASSNET_THREADS`` and the rule."""
    global _override
    _override = parse(value, "threads")


def requested() -> int | None:
    """What the user asked for: ``set_threads``, else ``GLASSNET_THREADS``; None means the rule decides."""
    if _override is not None:
        return _override
    return parse(os.environ.get(ENV), ENV)


def choose(macs_per_step: int | None) -> int:
    """The intra-op threads for work of ``macs_per_step`` forward multiply-adds per step (None: unknown)."""
    asked = requested()
    if asked is not None:
        return asked
    if macs_per_step is not None and macs_per_step < SMALL_WORK_MACS:
        return 1
    return _outer[0] if _outer else torch.get_num_threads()  # what it was before glassnet changed it


@contextlib.contextmanager
def using(n: int) -> Iterator[int]:
    """Run the block with ``n`` intra-op threads; the previous setting comes back afterwards, even on error."""
    previous = torch.get_num_threads()
    _outer.append(previous)
    if n != previous:
        torch.set_num_threads(n)
    try:
        yield n
    finally:
        _outer.pop()
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


def for_work(macs_per_step: int | None) -> contextlib.AbstractContextManager[int]:
    """A context manager that runs its block with ``choose(macs_per_step)`` threads and restores the setting."""
    return using(choose(macs_per_step))
