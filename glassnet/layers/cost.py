"""The cost rule every layer declares: what it owns (a parameter formula), what it costs (multiply-adds
per sample as a formula of the input's dimensions), how far it sees (receptive-field step), which input
dimensions it needs fixed, and one sentence on how it reads its input.

Formulas are SymPy expressions (``glassnet.formula``): the text shown to users is printed from the same
expression that tests evaluate against ``count_params()`` and torch's flop counter.

Convention: 1 MAC = one multiply-add of a contraction (matmul, convolution); FLOPs = 2·MACs.
Element-wise work (bias, activations, gates, pooling, normalisation) is counted apart, in
``other_flops``, and never mixed into MACs. ``None`` means unknown, never 0.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sympy

from .. import formula
from ..dims import fmt_dim, product

__all__ = ["Cost", "numel", "per_sample", "positions"]


@dataclass
class Cost:
    params: Any = 0                  # parameter formula over the layer's own symbols (formula.sym)
    values: dict = field(default_factory=dict)  # what those symbols stand for in this layer
    macs: Any = 0                    # multiply-adds per sample, over the input's dims; None = unknown
    other_flops: Any = 0             # element-wise work per sample; None = unknown
    reads: str = ""
    rf: tuple = ("pointwise",)       # ("window", [(k, s, d), ...]) | ("pointwise",) | ("global",) | ("recurrent",)
    needs_fixed: tuple = ()
    saved: tuple = ()                # what autograd keeps for backward: "input", "output", (elements, itemsize)
    children: list = field(default_factory=list)  # (name, Cost) of wrapped layers

    @classmethod
    def unknown(cls, layer, reads: str) -> "Cost":
        """A layer without a cost rule: parameters counted from its tensors, multiply-adds unknown."""
        count = sum(w.numel() for w in layer.weights) if layer.built else 0
        return cls(params=count, macs=None, other_flops=None, reads=reads, rf=("unknown",))

    # -- what reports show, all printed from the expressions above
    @property
    def params_formula(self) -> str:
        """``n·u + u``."""
        return formula.text(self.params)

    @property
    def params_numbers(self) -> str:
        """``7·10 + 10``."""
        return formula.numbers(self.params, self.values)

    def params_count(self) -> int:
        return formula.evaluate(self.params, self.values)

    @property
    def macs_formula(self) -> str:
        """Multiply-adds per sample with the layer's constants as numbers and the dims as names: ``T·4·10·(1+10)``."""
        return "?" if self.macs is None else formula.numbers(self.macs, self.values)

    def macs_per_sample(self, dims: dict | None = None):
        """The multiply-adds per sample once the dims are known (an int), else an expression; None if unknown."""
        return formula.evaluate(self.macs, self.values, dims)

    def other_per_sample(self, dims: dict | None = None):
        return formula.evaluate(self.other_flops, self.values, dims)

    def macs_expr(self) -> sympy.Expr | None:
        """Per-sample multiply-adds over the dims only (the layer's constants substituted)."""
        return None if self.macs is None else sympy.sympify(formula.evaluate(self.macs, self.values))


def numel(shape) -> Any:
    """Number of elements of a shape over symbolic dims (batch included)."""
    return product(shape)


def per_sample(shape) -> Any:
    """Number of elements per sample (batch axis left out)."""
    return product(shape[1:])


def positions(shape) -> str:
    """'each of the T×H positions' style text for the non-batch, non-feature axes."""
    dims = shape[1:-1]
    if not dims:
        return "each sample"
    return "each of the " + "×".join(fmt_dim(d) for d in dims) + " positions"
