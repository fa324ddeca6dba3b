"""What torch.export found about the dimensions a user asked to be dynamic, and where.

A dimension can come back fixed (a view with a hard-coded size pins ``T = 10``), tied to another (a
``view(-1, 288)`` after a convolution requires ``(H-2)·(W-2)·8 = 288``) or bounded (slicing a table of
512 positions gives ``T ≤ 512``). Each finding names the source line and module whose torch call made
it, from the events the tracer's mode noted while exporting; a guard made by plain Python on a size
(``assert T <= 512``) carries its own line.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import sympy
import torch

from ..dims import symbol
from .symbolic import Converter, text as formula_text

__all__ = ["Constraint", "Event", "map_dims"]

_TORCH_DIR = os.path.dirname(torch.__file__)


@dataclass
class Event:
    """A torch call that changed what export knows about sizes."""
    guards: tuple            # (first, last+1) indices into the shape environment's guards
    replaced: dict           # symbol -> what it was replaced by
    ranges: dict             # symbol -> (old range, new range)
    where: str               # "file.py:12"
    code: str                # the source line
    module: str | None       # the module path whose forward made the call
    call: str                # the torch function


@dataclass
class Constraint:
    """What the export found about dimensions the user asked to be dynamic."""
    dim: str             # "T"; "H, W" for an equation between two
    kind: str            # "fixed" | "relation" | "bound"
    text: str            # "T = 10", "(8·H-16)·(W-2) = 288", "T ≤ 512"
    module: str | None   # the module path whose forward made the call ("" for the model itself)
    where: str           # "model.py:12 (View.forward)"
    code: str            # that source line

    def sentence(self) -> str:
        why = {"fixed": "fixed by", "relation": "required by", "bound": "set by"}[self.kind]
        if not self.where:
            return f"{self.text} ({why} torch itself; no source line was recorded)"
        return f"{self.text} ({why} {self.where}: {self.code})"


def _source_names(env) -> dict:
    return {src.name: sym for sym, sources in (env.var_to_sources.items() if env else ()) for src in sources}


def map_dims(env, inputs: list[tuple[str, dict]], events: list[Event]) -> tuple[dict, list]:
    """Export's symbols → the user's names, and what the export found about each named dim.

    ``inputs``: per example tensor, export's name for it (``L['args'][0]``) and ``{axis: (name, min, max)}``.
    """
    by_source = _source_names(env)
    symbols: dict = {}
    found: list[tuple] = []  # (name, export symbol, requested min, requested max)
    for path, axes in inputs:
        for axis, (name, lo, hi) in axes.items():
            sym = by_source.get(f"{path}.size()[{axis}]")
            if sym is not None and all(f[:2] != (name, sym) for f in found):
                found.append((name, sym, lo, hi))
            if sym is not None and sym not in env.replacements and sym not in symbols:
                symbols[sym] = symbol(name)
    conv = Converter(symbols)
    constraints = []
    for name, sym, lo, hi in found:
        constraints += _fixed_or_bounded(name, sym, lo, hi, env, events, conv)
    return symbols, constraints + _relations(env, events, conv, symbols)


def _location(events, test, sloc) -> tuple:
    """(module, "file:line", code) of the first event passing ``test``, else of a guard made in user code."""
    for e in events:
        if test(e):
            return e.module, e.where, e.code
    loc = getattr(sloc, "framework_loc", None)
    if loc is None or isinstance(loc, str) or loc.filename.startswith(_TORCH_DIR):
        return None, "", ""
    return None, f"{loc.filename}:{loc.lineno} ({loc.name})", (loc.line or "").strip()


def _fixed_or_bounded(name, sym, lo, hi, env, events, conv) -> list[Constraint]:
    if sym in env.replacements:
        value = env.replacements[sym]
        shown = conv.expr(value)
        where = _location(events, lambda e: sym in e.replaced, env.replacements_slocs.get(sym))
        return [Constraint(name, "fixed" if value.is_Integer else "relation",
                           f"{name} = {formula_text(shown) if shown is not None else value}", *where)]
    out = []
    rng = env.var_to_range.get(sym)
    if rng is None:
        return out
    slocs = env.var_to_range_sloc.get(sym)
    if rng.upper.is_Integer and (hi is None or int(rng.upper) < hi):
        where = _location(events, lambda e: sym in e.ranges and e.ranges[sym][1].upper == rng.upper,
                          getattr(slocs, "upper", None))
        out.append(Constraint(name, "bound", f"{name} ≤ {int(rng.upper)}", *where))
    if int(rng.lower) > max(lo or 2, 2):
        where = _location(events, lambda e: sym in e.ranges and e.ranges[sym][1].lower == rng.lower,
                          getattr(slocs, "lower", None))
        out.append(Constraint(name, "bound", f"{name} ≥ {int(rng.lower)}", *where))
    return out


def _relations(env, events, conv, symbols) -> list[Constraint]:
    """Equations a torch call imposed between named dims (a view of a hard-coded size): the simplest per call."""
    out = []
    for e in events:
        picked = None
        for g in env.guards[e.guards[0]:e.guards[1]]:
            expr = g.expr
            if not isinstance(expr, sympy.Eq) or not (expr.free_symbols & set(symbols)):
                continue
            if picked is None or sympy.count_ops(expr) <= sympy.count_ops(picked):
                picked = expr
        if picked is None:
            continue
        lhs, rhs = conv.expr(picked.lhs), conv.expr(picked.rhs)
        if lhs is None or rhs is None:
            continue
        dims = ", ".join(sorted(s.name for s in (lhs - rhs).free_symbols))
        out.append(Constraint(dims, "relation", f"{formula_text(lhs)} = {formula_text(rhs)}", e.module, e.where, e.code))
    return out
