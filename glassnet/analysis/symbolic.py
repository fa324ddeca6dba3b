"""Sizes from torch.export's shape environment as glassnet formulas.

torch.export names a dynamic size ``s27`` and writes integer division with its own SymPy functions
(``FloorDiv``, ``CeilDiv``, ``PythonMod`` …). Reports speak in the user's names (``T``, ``H``) and in plain
SymPy (``floor``, ``ceiling``, ``Mod``), so one expression prints as a formula, evaluates at any size and
can be compared with what another tool counts. ``None`` stays ``None``: a size that cannot be written in
the user's names (a data-dependent size) is unknown, never 0.

Example:
    >>> import sympy
    >>> from glassnet.dims import symbol
    >>> T = symbol("T")
    >>> text(sympy.expand(24 * T**2 + 1536 * T * 2))
    '24·T² + 3072·T'
    >>> value(24 * T**2 + 3072 * T, {"T": 16})
    55296
"""
from __future__ import annotations

import re

import sympy
import torch
from torch.utils._sympy import functions as tsf

from ..dims import fmt_dim

__all__ = ["Converter", "text", "value", "prod", "tidy"]

_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _floor_div(a, b):
    return sympy.floor(a / b)


_REWRITE = {
    tsf.FloorDiv: _floor_div,
    tsf.CeilDiv: lambda a, b: sympy.ceiling(a / b),
    tsf.PythonMod: sympy.Mod,
    tsf.Mod: sympy.Mod,
    tsf.ModularIndexing: lambda x, div, mod: sympy.Mod(sympy.floor(x / div), mod),
    tsf.IntTrueDiv: lambda a, b: a / b,
    tsf.FloatTrueDiv: lambda a, b: a / b,
    tsf.PowByNatural: lambda a, b: a ** b,
    tsf.CeilToInt: sympy.ceiling,
    tsf.FloorToInt: sympy.floor,
    tsf.TruncToInt: sympy.floor,
    tsf.Identity: lambda a: a,
    tsf.Max: sympy.Max,
    tsf.Min: sympy.Min,
}


class Converter:
    """Turns torch sizes (ints, SymInts, export's SymPy) into SymPy over the user's dimension symbols.

    ``names`` maps export's symbols (``s27``) to glassnet symbols (``T``). An expression that still holds
    another symbol (an unbacked, data-dependent size ``u0``) converts to ``None``.
    """

    def __init__(self, names: dict):
        self.names = dict(names)
        self._cache: dict = {}

    def dim(self, d):
        if isinstance(d, int):
            return sympy.Integer(d)
        if isinstance(d, torch.SymInt):
            hint = d.node.maybe_as_int()
            return sympy.Integer(hint) if hint is not None else self.expr(d.node.expr)
        if isinstance(d, sympy.Basic):
            return self.expr(d)
        return None

    def shape(self, shape) -> tuple | None:
        out = tuple(self.dim(d) for d in shape)
        return None if any(d is None for d in out) else out

    def expr(self, e):
        if e in self._cache:
            return self._cache[e]
        out = self._convert(e)
        self._cache[e] = out
        return out

    def _convert(self, e):
        if e.is_Integer:
            return e
        if e.is_Symbol:
            return self.names.get(e)
        args = [self._convert(a) for a in e.args]
        if any(a is None for a in args):
            return None
        rule = _REWRITE.get(e.func)
        if rule is not None:
            return rule(*args)
        if e.func.__module__.startswith("torch."):
            return None  # another of torch's size functions: unknown, never guessed
        return e.func(*args)


def tidy(expr):
    """A sum as people read it: a polynomial expanded (``24·T² + 3072·T``); one with floors left with its
    like terms merged, so ``(⌊(H-1)/32⌋+1)`` stays one factor."""
    if expr is None or expr.is_Integer:
        return expr
    if expr.atoms(sympy.Function):
        return expr
    return sympy.expand(expr)


def prod(items):
    out = sympy.Integer(1)
    for x in items:
        if x is None:
            return None
        out = out * x
    return out


def value(expr, sizes: dict) -> int | None:
    """``expr`` at ``sizes`` (``{"T": 16}`` by name): an int, or None while a size is missing."""
    if expr is None:
        return None
    if isinstance(expr, int):
        return expr
    subs = {s: sympy.Integer(sizes[s.name]) for s in expr.free_symbols if s.name in sizes}
    out = expr.xreplace(subs) if subs else expr
    return int(out) if out.is_number else None


def _term_key(term, dims):
    degree = sum(sympy.degree(term, d) if term.is_polynomial(d) else 0 for d in dims)
    return (-degree, bool(term.is_number), sympy.default_sort_key(term))


def text(expr) -> str | None:
    """A formula for people: ``24·B·T² + 3072·B·T``, highest powers first, ``⌊(H-1)/32⌋`` for floors."""
    if expr is None:
        return None
    expr = sympy.sympify(expr)
    if expr.is_Integer:
        return str(int(expr))
    if expr.is_Add:
        dims = sorted(expr.free_symbols, key=lambda s: s.name)
        terms = sorted(expr.args, key=lambda t: _term_key(t, dims))
        parts = []
        for t in terms:
            negative = t.as_coeff_Mul()[0] < 0
            body = _mul_text(-t if negative else t)
            parts.append((" - " if parts else "-") + body if negative else (" + " if parts else "") + body)
        return "".join(parts)
    return _mul_text(expr)


def _mul_text(expr) -> str:
    if expr.is_Mul:
        coeff, rest = expr.as_coeff_Mul()
        factors = sorted(sympy.Mul.make_args(rest), key=lambda f: (not f.is_Symbol, sympy.default_sort_key(f)))
        parts = [] if coeff == 1 else [_atom_text(coeff)]
        parts += [_atom_text(f) for f in factors]
        return "·".join(parts)
    return _atom_text(expr)


def _atom_text(e) -> str:
    if e.is_Pow and e.exp.is_Integer and e.exp > 0:
        return _atom_text(e.base) + str(int(e.exp)).translate(_SUPERSCRIPT)
    if isinstance(e, (sympy.floor, sympy.ceiling)):
        num, den = sympy.fraction(sympy.together(e.args[0]))
        inner = _atom_text(num) if den == 1 else f"{_atom_text(num)}/{_atom_text(den)}"
        return ("⌊" + inner + "⌋") if isinstance(e, sympy.floor) else ("⌈" + inner + "⌉")
    if e.is_Add:
        return "(" + text(e).replace(" ", "") + ")"
    return re.sub(r"··(\d+)", lambda m: m.group(1).translate(_SUPERSCRIPT), fmt_dim(e))
