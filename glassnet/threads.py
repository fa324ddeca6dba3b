"""How many threads torch's CPU kernels split one operation across (intra-op threads), chosen for the work
and for the machine.

torch starts with one thread per core. Splitting an operation pays only when it is large and the cores are
free: for the small models people start with (an LSTM(10), a Dense network on digits) the threads spend
longer meeting at each operation's end than working, and when another program holds a core a thread waits
for it at every operation. Measured on a 2-core machine (``benchmarks/threads.py`` and the README): with
two busy-looping programs beside it, an LSTM(64) trained 6× slower on 2 threads than on 1 and a
784→512→512→10 network 8× slower; with nothing else running, 2 threads were 13% to 42% faster for work of
5·10^7 multiply-adds per step and more, and equal for an LSTM(10) (4.5·10^5).

The rule (``choose``), in order:

1. ``set_threads(n)`` (the command line's ``--threads N``), else the ``GLASSNET_THREADS`` environment
   variable: a positive integer is used as given; ``auto`` (or unset) applies the rule below.
2. Work of fewer than ``TINY_WORK_MACS`` multiply-adds per step (batch included): one thread.
3. Work of fewer than ``SMALL_WORK_MACS`` while other programs keep at least ``BUSY_CORES`` of a core busy
   (``machine_busy``: the CPU time the machine spent outside this process, from ``/proc/stat``): one thread.
4. Otherwise, or when the work is unknown: the setting from before glassnet changed it, which is torch's
   default (one thread per core) unless ``OMP_NUM_THREADS`` or ``torch.set_num_threads`` changed it.

``for_work(macs_per_step)`` applies it for a block and restores the previous setting afterwards::

    with threads.for_work(macs_per_step):   # e.g. the forward multiply-adds of one batch
        for batch in data: ...

This module sits at the bottom of the package (it imports only ``errors``), so every package above may use it.
"""
from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

import torch

from .errors import ConfigError

__all__ = ["ENV", "TINY_WORK_MACS", "SMALL_WORK_MACS", "BUSY_CORES", "set_threads", "requested", "choose",
           "machine_busy", "using", "for_work", "parse"]

ENV = "GLASSNET_THREADS"

# Forward multiply-adds per step (one batch) below which one thread is the choice. benchmarks/threads.py's sweep
# on 2 cores that other programs also used: every model measured, from 4.5·10^5 to 5.5·10^9 MACs per step
# (LSTMs, dense and convolutional networks), trained 2.7× to 24× slower at 2 threads than at 1 without the
# busy-loops; with them, 1.7× to 15× slower but for the two largest (1.06× and 0.92×). The threshold sits
# above the largest work measured there; on a quiet machine with many cores the crossover is lower (not
# measured here): set GLASSNET_THREADS there.
SMALL_WORK_MACS = 10_000_000_000
# Below this, one thread even on an idle machine: an LSTM(10) step (4.5·10^5) ran as fast on 1 thread as on 2,
# an LSTM(64) step (5.3·10^7) 13% faster on 2.
TINY_WORK_MACS = 10_000_000
# Other programs using at least this much of a core (on average since the last look) make the machine busy.
BUSY_CORES = 0.5
_WINDOW = 0.2   # seconds: the shortest interval the busy share is measured over
_STALE = 5.0    # seconds: an older measurement is taken again (by a caller that may wait)
_last: tuple[float, float, float] | None = None  # (wall, machine's busy CPU seconds, this process's CPU seconds)
_busy = False

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


def _cpu_times() -> tuple[float, float, float] | None:
    """(wall clock, CPU seconds the machine spent busy, CPU seconds this process used); None where the
    operating system does not say (no ``/proc/stat``)."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu" or len(fields) < 8:
        return None
    user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in fields[1:8])
    steal = int(fields[8]) if len(fields) > 8 else 0
    busy = (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    return time.monotonic(), busy, time.process_time()


def machine_busy(wait: bool = True) -> bool:
    """Whether other programs keep at least ``BUSY_CORES`` of a core busy: the machine's busy CPU time minus
    this process's, per second, since the last look. A look needs ``_WINDOW`` seconds since the previous
    one; with ``wait`` (before a training run) a missing or stale measurement is taken now, sleeping that
    long; without it (``predict`` of one batch) the last answer stands until enough time has passed."""
    global _last, _busy
    now = _cpu_times()
    if now is None:
        return False
    if _last is not None and wait and now[0] - _last[0] > _STALE:
        _last = None  # too old to describe the machine now
    if _last is None:
        _last = now
        if not wait:
            return _busy
        time.sleep(_WINDOW)
        now = _cpu_times()
    elapsed = now[0] - _last[0]
    if elapsed >= _WINDOW:
        others = (now[1] - _last[1]) - (now[2] - _last[2])
        _busy = others / elapsed >= BUSY_CORES
        _last = now
    return _busy


def choose(macs_per_step: int | None, wait: bool = True) -> int:
    """The intra-op threads for work of ``macs_per_step`` forward multiply-adds per step (None: unknown);
    ``wait``: whether looking at the machine may take ``_WINDOW`` seconds (see ``machine_busy``)."""
    asked = requested()
    if asked is not None:
        return asked
    if macs_per_step is not None and (macs_per_step < TINY_WORK_MACS or (
            macs_per_step < SMALL_WORK_MACS and machine_busy(wait))):
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


def for_work(macs_per_step: int | None, wait: bool = True) -> contextlib.AbstractContextManager[int]:
    """A context manager that runs its block with ``choose(macs_per_step, wait)`` threads and restores the
    setting."""
    return using(choose(macs_per_step, wait))
