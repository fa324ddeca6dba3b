"""The cost rule every layer declares: what it owns (params and formula), what it costs (multiply-adds
as a formula of the input's dimensions), how far it sees (receptive-field step), which input
dimensions it needs fixed, and one sentence on how it reads its input.

Convention: 1 MAC = one multiply-add of a contraction (matmul, convolution); FLOPs = 2·MACs.
Element-wise work (bias, activations, gates, pooling, normalisation) is counted apart, in
``other_flops``, and never mixed into MACs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..dims import fmt_dim, is_fixed, product

__all__ = ["Cost", "numel", "per_sample", "paren", "join"]


@dataclass
class Cost:
    params_formula: str = "0"
    params_numbers: str = "0"
    macs: Any = 0                    # per call (batch axis included); None = unknown
    macs_formula: str = "0"          # per sample, with the numbers and the dimension names
    other_flops: Any = 0             # element-wise work per call; None = unknown
    reads: str = ""
    rf: tuple = ("pointwise",)       # ("window", [(k, s, d), ...]) | ("pointwise",) | ("global",) | ("recurrent",)
    needs_fixed: tuple = ()
    saved: tuple = ()                # what autograd keeps for backward: "input", "output", (elements, itemsize)
    children: list = field(default_factory=list)  # (name, Cost) of wrapped layers


def numel(shape) -> Any:
    """Number of elements of a shape over symbolic dims (batch included)."""
    return product(shape)


def per_sample(shape) -> Any:
    return product(shape[1:])


def paren(d) -> str:
    """A dimension for a product: ``T``, ``26``, ``(H-2)``."""
    text = fmt_dim(d)
    return text if (is_fixed(d) or text.isalnum()) else f"({text})"


def join(*factors) -> str:
    """``64·9·(H-2)·(W-2)``: factors of 1 are left out."""
    parts = [f if isinstance(f, str) else paren(f) for f in factors if not (is_fixed(f) and f == 1)]
    return "·".join(parts) if parts else "1"


def nonlinear(activation_name: str) -> bool:
    return activation_name not in ("linear", "None")


def positions(shape) -> str:
    """'each of the T×H positions' style text for the non-batch, non-feature axes."""
    dims = shape[1:-1]
    if not dims:
        return "each sample"
    return "each of the " + "×".join(fmt_dim(d) for d in dims) + " positions"
