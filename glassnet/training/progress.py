"""The Keras progress display: a per-step bar with ETA (verbose=1) or one line per epoch (verbose=2)."""
from __future__ import annotations

import sys
import time

__all__ = ["Progbar", "resolve_verbose"]


def resolve_verbose(verbose) -> int:
    """``"auto"``: the bar on a terminal, quiet otherwise."""
    if verbose == "auto":
        return 1 if sys.stdout.isatty() else 0
    return int(verbose)


def _fmt_time(seconds: float) -> str:
    if seconds >= 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds >= 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{int(seconds)}s"


def _fmt_value(v: float) -> str:
    return f"{v:.4f}" if abs(v) >= 1e-3 or v == 0 else f"{v:.4e}"


class Progbar:
    def __init__(self, target: int | None, verbose: int = 1, width: int = 20, stream=None):
        self.target, self.verbose, self.width = target, verbose, width
        self.stream = stream or sys.stdout
        self.start = time.time()
        self._last_len = 0

    def update(self, step: int, values: dict[str, float] | None = None, finalize: bool = False) -> None:
        values = values or {}
        now = time.time()
        elapsed = now - self.start
        metrics = " - ".join(f"{k}: {_fmt_value(v)}" for k, v in values.items())
        if self.verbose == 1:
            if self.target:
                done = int(self.width * step / self.target)
                bar = "━" * done + "─" * (self.width - done)
                head = f"{step:>{len(str(self.target))}}/{self.target} {bar} "
            else:
                head = f"{step}/Unknown "
            per = elapsed / max(step, 1)
            if finalize:
                timing = f"{_fmt_time(elapsed)} {per * 1000:.0f}ms/step"
            else:
                eta = per * (self.target - step) if self.target else 0
                timing = f"{_fmt_time(eta)}" if self.target else f"{_fmt_time(elapsed)}"
            line = f"\r{head}{timing}" + (f" - {metrics}" if metrics else "")
            pad = max(0, self._last_len - len(line))
            self.stream.write(line + " " * pad + ("\n" if finalize else ""))
            self._last_len = len(line)
            self.stream.flush()
        elif self.verbose == 2 and finalize:
            per = elapsed / max(step, 1)
            self.stream.write(f"{step}/{self.target or step} - {_fmt_time(elapsed)} - {per * 1000:.0f}ms/step"
                              + (f" - {metrics}" if metrics else "") + "\n")
            self.stream.flush()
