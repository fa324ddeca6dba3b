"""Cost formulas as SymPy expressions: built once by a layer's cost rule, printed from the expression,
evaluated by substituting sizes — so the text a user reads and the number a test checks are one thing.

A formula mixes two kinds of symbols:

* the layer's own constants (``n`` inputs, ``u`` units, ``c`` channels, ``k`` kernel size …), made
  with :func:`sym`, whose values the cost rule knows (``values``);
* the input's dimensions (``T``, ``H``, ``W`` …, from ``glassnet.dims``), which stay names until the
  report is evaluated at a concrete size.

Expressions are built unevaluated (:func:`prod`, :func:`plus`) so they print in the order written:
``4·d·(n+d) + 4·d`` rather than SymPy's ``4·d + 4·d·(d+n)``.

Example:
    >>> from glassnet.formula import sym, prod, plus, text, numbers, evaluate
    >>> d, n = sym("d"), sym("n")
    >>> f = plus(prod(4, d, plus(n, d)), prod(4, d))
    >>> text(f), numbers(f, {d: 10, n: 1}), evaluate(f, {d: 10, n: 1})
    ('4·d·(n+d) + 4·d', '4·10·(1+10) + 4·10', 480)
"""
from __future__ import annotations

from functools import lru_cache

import sympy
from sympy.printing.str import StrPrinter

__all__ = ["sym", "prod", "plus", "text", "numbers", "evaluate", "as_expr"]


@lru_cache(maxsize=None)
def sym(name: str) -> sympy.Symbol:
    """A layer constant (non-negative integer); distinct from a dimension symbol of the same name."""
    return sympy.Symbol(name, integer=True, nonnegative=True)


def as_expr(x) -> sympy.Expr:
    if isinstance(x, sympy.Basic):
        return x
    return sympy.Integer(int(x))


def _is_one(x) -> bool:
    return isinstance(x, (int, sympy.Integer)) and not isinstance(x, bool) and int(x) == 1


def _is_zero(x) -> bool:
    return isinstance(x, (int, sympy.Integer)) and not isinstance(x, bool) and int(x) == 0


def prod(*factors) -> sympy.Expr:
    """The product of ``factors`` in the order given; factors equal to 1 are left out."""
    if any(_is_zero(f) for f in factors):
        return sympy.Integer(0)
    parts = [as_expr(f) for f in factors if not _is_one(f)]
    if not parts:
        return sympy.Integer(1)
    return parts[0] if len(parts) == 1 else sympy.Mul(*parts, evaluate=False)


def plus(*terms) -> sympy.Expr:
    """The sum of ``terms`` in the order given; zero terms are left out."""
    parts = []
    for t in terms:
        if not _is_zero(t):
            e = as_expr(t)
            parts.extend(e.args if e.is_Add else [e])  # a sum inside a sum needs no brackets
    if not parts:
        return sympy.Integer(0)
    return parts[0] if len(parts) == 1 else sympy.Add(*parts, evaluate=False)


class _Printer(StrPrinter):
    def __init__(self, values=None):
        super().__init__({"order": "none"})
        self.values = values or {}

    def _print_Symbol(self, expr):
        if expr in self.values:
            return str(self.values[expr])
        return expr.name

    def _print_Add(self, expr, order=None):
        # an unevaluated sum prints in the order it was written; an ordinary one (H - 2) as SymPy orders it
        written = sympy.Add(*expr.args).args != expr.args
        return super()._print_Add(expr, order="none" if written else "lex")

    def _print_Mul(self, expr):
        args = expr.args
        simple = all(not (a.is_Rational and not a.is_Integer) and not (a.is_Pow and a.exp.is_negative)
                     and not (a.is_Number and a.is_negative) for a in args)
        if not simple:
            return super()._print_Mul(expr)
        return "*".join(f"({self._print(a)})" if a.is_Add else self._print(a) for a in args)


def _pretty(raw: str) -> str:
    """``4*d*(n + d) + 4*d`` → ``4·d·(n+d) + 4·d``; ceiling/floor as ⌈ ⌉ and ⌊ ⌋."""
    raw = raw.replace("ceiling(", "⌈").replace("floor(", "⌊")
    out, stack = [], []
    for ch in raw:
        if ch in "⌈⌊":
            stack.append("⌉" if ch == "⌈" else "⌋")
            out.append(ch)
        elif ch == "(":
            stack.append(")")
            out.append(ch)
        elif ch == ")":
            out.append(stack.pop() if stack else ch)
        elif ch == " " and stack:
            continue  # no spaces inside brackets
        else:
            out.append(ch)
    return "".join(out).replace("*", "·")


def text(expr) -> str:
    """The formula in names: ``4·d·(n+d) + 4·d``."""
    return _pretty(_Printer().doprint(as_expr(expr)))


def numbers(expr, values: dict) -> str:
    """The formula with the layer's constants written as numbers: ``4·10·(1+10) + 4·10``."""
    return _pretty(_Printer(values).doprint(as_expr(expr)))


def evaluate(expr, values: dict | None = None, dims: dict | None = None):
    """The value of ``expr`` once ``values`` (and ``dims``) are substituted: an int when no symbol is
    left, else the remaining SymPy expression; ``None`` stays ``None`` (unknown)."""
    if expr is None:
        return None
    if isinstance(expr, int):
        return expr
    out = as_expr(expr)
    subs = {k: v for k, v in {**(values or {}), **(dims or {})}.items() if k in out.free_symbols}
    if subs:
        out = out.xreplace({k: sympy.Integer(v) if isinstance(v, int) else v for k, v in subs.items()})
    return int(out) if out.is_number else out
