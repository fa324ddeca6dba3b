"""Symbolic dimensions and the shape rules every layer shares.

A dimension is either a Python ``int`` (fixed) or a SymPy expression over named,
positive integer symbols (``T``, ``H``, ``W``, ``H - 2``, ``ceiling(H/2)``).  The
batch axis is the symbol ``B``.  Keras-facing shapes (``output_shape``) show every
non-int dimension as ``None``; summaries, errors and formulas show the names.

The conv/pool rules here are used both by ``compute_output_shape`` (symbolically)
and by ``call`` (for the concrete "same" padding), so shapes and arithmetic agree.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Iterable, Sequence, Union

import sympy
import torch

Dim = Union[int, sympy.Expr]
Shape = tuple

__all__ = [
    "Dim", "symbol", "BATCH", "is_fixed", "as_dim", "keras_shape", "fmt_dim", "fmt_shape",
    "name_variable_dims", "conv_output_length", "same_padding", "product", "free_names",
    "conv_transpose_padding", "conv_transpose_output_length", "adaptive_bins", "adaptive_reads",
]


@lru_cache(maxsize=None)
def symbol(name: str) -> sympy.Symbol:
    """The positive-integer symbol called ``name`` (cached, so equal names are equal symbols)."""
    return sympy.Symbol(name, integer=True, positive=True)


BATCH = symbol("B")


def is_fixed(d) -> bool:
    """True when ``d`` is a known integer size."""
    return isinstance(d, int)


def as_dim(d) -> Dim:
    """Normalise a dimension: SymPy integers become ``int``; ``None`` stays ``None``."""
    if d is None or isinstance(d, int):
        return d
    if isinstance(d, sympy.Basic):
        return int(d) if d.is_Integer else d
    raise TypeError(f"A dimension must be an int, None or a name; received {d!r}")


def keras_shape(shape) -> tuple | list | None:
    """The Keras view of a symbolic shape: ints stay, everything else becomes ``None``."""
    if shape is None:
        return None
    if isinstance(shape, list):
        return [keras_shape(s) for s in shape]
    return tuple(d if isinstance(d, int) else None for d in shape)


def fmt_dim(d) -> str:
    """A compact human form: ``26``, ``T``, ``H-2``, ``⌈H/2⌉``."""
    if d is None:
        return "None"
    if isinstance(d, int):
        return str(d)
    text = sympy.sstr(d)
    text = text.replace("ceiling(", "⌈").replace("floor(", "⌊")
    # close brackets opened above, innermost first, keeping it readable
    out, stack = [], []
    for ch in text:
        if ch in "⌈⌊":
            stack.append("⌉" if ch == "⌈" else "⌋")
            out.append(ch)
        elif ch == "(":
            stack.append(")")
            out.append(ch)
        elif ch == ")":
            out.append(stack.pop() if stack else ch)
        else:
            out.append(ch)
    return "".join(out).replace(" ", "").replace("*", "·")


def fmt_shape(shape, batch_as_none: bool = True) -> str:
    """``(None, T, 32)``: the batch axis prints as ``None``, other dims by name."""
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return "[" + ", ".join(fmt_shape(s, batch_as_none) for s in shape) + "]"
    parts = []
    for i, d in enumerate(shape):
        if i == 0 and batch_as_none and d == BATCH:
            parts.append("None")
        else:
            parts.append(fmt_dim(d))
    return "(" + ", ".join(parts) + (",)" if len(parts) == 1 else ")")


_ROLES = {
    1: ("T",),
    2: ("T", "F"),
    3: ("H", "W", "C"),
    4: ("D", "H", "W", "C"),
}


def name_variable_dims(shape: Sequence, taken: set[str] | None = None) -> tuple:
    """Give each ``None`` in a per-sample shape a readable name by its role.

    Sequences ``(None, F)`` get ``T``; images ``(None, None, C)`` get ``H`` and ``W``;
    a name already taken (another input, or the user's own) gets a numeric suffix.
    """
    taken = set() if taken is None else taken
    roles = _ROLES.get(len(shape), tuple(f"N{i}" for i in range(len(shape))))
    out = []
    for i, d in enumerate(shape):
        if d is None:
            base = roles[i]
            name, k = base, 2
            while name in taken:
                name, k = f"{base}{k}", k + 1
            taken.add(name)
            out.append(symbol(name))
        elif isinstance(d, str):
            taken.add(d)
            out.append(symbol(d))
        elif isinstance(d, bool) or not isinstance(d, int) or d < 0:
            raise ValueError(
                f"Input shape entries must be non-negative ints, None or names. Received: shape={tuple(shape)}"
            )
        else:
            out.append(d)
    return tuple(out)


def conv_output_length(length: Dim, kernel: int, stride: int, padding: str, dilation: int = 1) -> Dim:
    """Output length of a convolution or pooling window along one axis (Keras rule).

    valid: ``floor((L - k_eff)/s) + 1``; same and causal: ``ceil(L/s)``; ``k_eff = d(k-1)+1``.
    """
    k_eff = dilation * (kernel - 1) + 1
    if isinstance(length, int):
        if padding == "valid":
            return (length - k_eff) // stride + 1
        return -(-length // stride)
    if padding == "valid":
        out = sympy.floor((length - k_eff) / sympy.Integer(stride)) + 1
    else:
        out = sympy.ceiling(length / sympy.Integer(stride))
    return as_dim(out)


def same_padding(length: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """(before, after) zero padding for "same" (TF/Keras rule: the extra pad goes at the end)."""
    k_eff = dilation * (kernel - 1) + 1
    if stride == 1:
        total = k_eff - 1
    elif isinstance(length, int):
        total = max((-(-length // stride) - 1) * stride + k_eff - length, 0)
    else:  # a traced (symbolic) size: keep it symbolic
        total = torch.sym_max((-(-length // stride) - 1) * stride + k_eff - length, 0)
    return total // 2, total - total // 2


def product(dims: Iterable) -> Dim:
    out: Dim = 1
    for d in dims:
        out = out * d
    return as_dim(out) if not isinstance(out, int) else out


def free_names(d) -> set[str]:
    """Names of the symbols a dimension depends on."""
    if isinstance(d, int) or d is None:
        return set()
    return {s.name for s in d.free_symbols}


def conv_transpose_padding(kernel: int, stride: int, padding: str, output_padding: int | None = None,
                           dilation: int = 1) -> tuple[int, int]:
    """(before, after) zero padding of the stride-dilated input of a transposed convolution (Keras 3's rule,
    as its JAX backend writes it; the input does not enter, so one rule serves every length).

    valid: ``(k_eff-1, k_eff-1 + op)`` with ``op`` defaulting to ``max(k_eff, s) - k_eff``;
    same: a total of ``s + k_eff - 2`` (``k_eff + k_eff%2 - 2 + op`` when ``output_padding`` is given),
    the larger half first but at most ``k_eff - 1``.
    """
    k_eff = dilation * (kernel - 1) + 1
    if padding == "valid":
        extra = max(k_eff, stride) - k_eff if output_padding is None else output_padding
        return k_eff - 1, k_eff - 1 + extra
    total = stride + k_eff - 2 if output_padding is None else k_eff + k_eff % 2 - 2 + output_padding
    before = min(total // 2 + total % 2, k_eff - 1)
    return before, total - before


def conv_transpose_output_length(length: Dim, kernel: int, stride: int, padding: str,
                                 output_padding: int | None = None, dilation: int = 1) -> Dim:
    """Output length of a transposed convolution along one axis (Keras rule).

    ``(L-1)·s + before + after - k_eff + 2`` with the padding of :func:`conv_transpose_padding`; that is
    valid: ``(L-1)·s + k_eff + op`` (``max(k_eff, s)`` in place of ``k_eff + op`` by default); same:
    ``L·s`` by default, else ``(L-1)·s + k_eff%2 + op``.
    """
    before, after = conv_transpose_padding(kernel, stride, padding, output_padding, dilation)
    k_eff = dilation * (kernel - 1) + 1
    return as_dim((length - 1) * stride + before + after - k_eff + 2)


def adaptive_bins(length, out: int) -> list[tuple]:
    """The ``[start, end)`` windows of adaptive pooling: bin ``i`` is ``[⌊i·L/out⌋, ⌈(i+1)·L/out⌉)``
    (torch's rule, which every Keras 3 backend follows); neighbouring bins share an element when
    ``out`` does not divide ``L``."""
    # the ceiling as (a + out - 1) // out: a traced (symbolic) length keeps non-negative integer division,
    # which every exporter translates exactly
    return [((i * length) // out, ((i + 1) * length + out - 1) // out) for i in range(out)]


def adaptive_reads(length: Dim, out: int) -> Dim:
    """Elements read by the ``out`` bins along one axis: ``L`` plus one for each inner bin boundary that
    falls inside an element (``L + Σ_j (⌈j·L/out⌉ - ⌊j·L/out⌋)``, j = 1 … out-1)."""
    if isinstance(length, int):
        return sum(end - start for start, end in adaptive_bins(length, out))
    shared = [sympy.ceiling(j * length / out) - sympy.floor(j * length / out) for j in range(1, out)]
    return as_dim(sympy.Add(length, *shared))
