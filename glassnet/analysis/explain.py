"""``gn.explain``: in words and numbers, how each layer reads its input, what it owns, and what it
costs as the input grows."""
from __future__ import annotations

import sympy
import torch

from ..dims import BATCH, fmt_shape
from .analyze import analyze
from .layer_costs import layer_row
from .report import CONVENTION

__all__ = ["explain", "growth"]


def growth(expr_text: str) -> str:
    """'linear in T', 'grows with H·W', 'constant' from a MACs expression."""
    if expr_text in ("?", ""):
        return "unknown"
    expr = sympy.sympify(expr_text)
    syms = sorted((s for s in expr.free_symbols if s.name != BATCH.name), key=lambda s: s.name)
    if not syms:
        return "fixed: it does not depend on any variable dimension"
    parts = []
    for s in syms:
        try:
            deg = sympy.degree(sympy.expand(expr), s)
            parts.append(f"linear in {s.name}" if deg == 1 else f"degree {deg} in {s.name}")
        except sympy.PolynomialError:
            parts.append(f"grows with {s.name}")
    return ", ".join(parts)


def explain(obj, input_shape=None, print_fn=print, *, example_inputs=None, dynamic=None, module: str | None = None) -> str:
    """Explain a model (every layer), one built layer, or any ``torch.nn.Module`` traced at
    ``example_inputs`` (every module, or only the one at path ``module``); prints and returns the text."""
    if not hasattr(obj, "graph_nodes") and not hasattr(obj, "compute_output_shape") and isinstance(obj, torch.nn.Module):
        report = analyze(obj, input_shape, example_inputs=example_inputs, dynamic=dynamic)
        rows = report.rows if module is None else [report.row(module if module else report.model_name)]
        ran = f"{len(report.rows)} module{'s' if len(report.rows) != 1 else ''} ran"
        lines = [f'Module "{report.model_name}": {ran}, {report.totals["params"]:,} parameters; '
                 f'formulas per call over {", ".join(report.dims) or "no named dims"} ({CONVENTION})']
        lines += [_paragraph(r) for r in rows]
        lines += [f"  {c.sentence()}" for c in report.constraints if module is None]
        lines += [f"Note: {n}" for n in report.notes]
        text = "\n".join(lines)
    elif hasattr(obj, "graph_nodes"):
        report = analyze(obj, input_shape)
        rows = [r for r in report.rows if r.type != "InputLayer"]
        lines = [f'Model "{obj.name}": {len(rows)} layers, {report.totals["params"]:,} parameters. ({CONVENTION})']
        for r in rows:
            lines.append(_paragraph(r))
        text = "\n".join(lines)
    elif hasattr(obj, "cost") and hasattr(obj, "compute_output_shape"):
        if not obj.built or obj._build_shape is None:
            raise ValueError(f"Layer '{obj.name}' is not built yet: call it on an Input or on data first.")
        report = _single_layer_report(obj, obj._build_shape)
        text = _paragraph(report)
    else:
        raise TypeError(f"explain() takes a glassnet model or layer, or a torch.nn.Module. Received: {type(obj).__name__}")
    if print_fn is not None:
        print_fn(text)
    return text


def _single_layer_report(layer, shape):
    out = layer.compute_output_shape(shape)
    cost = layer.cost(shape, out)
    row = layer_row(layer.name, layer, cost, fmt_shape(out), layer.count_params(), {BATCH: 1})
    row.mask_effect = layer.mask_rule
    return row


def _paragraph(r) -> str:
    lines = [f"• {r.name} ({r.type}) → {r.output_shape}", f"    reads: {r.reads}."]
    if r.params:
        lines.append(f"    owns {r.params:,} parameters: {r.params_formula}")
    elif r.shared_with:
        lines.append(f"    shares its parameters with {r.shared_with}")
    else:
        lines.append("    owns no parameters")
    if r.macs_formula not in ("0", "?"):
        per = "per sample" if r.macs_source in ("rule", "traced") else "per call"
        how = "measured at the example inputs" if r.macs_source == "measured" else growth(r.macs_expr)
        lines.append(f"    costs {r.macs_formula} multiply-adds {per} ({how})")
    elif r.macs_formula == "?":
        lines.append("    its cost is unknown")
    if r.needs_fixed:
        lines.append(f"    needs fixed: {', '.join(r.needs_fixed)}")
    if r.mask_effect not in ("none", "drop", "carry"):
        lines.append(f"    mask: {r.mask_effect}")
    return "\n".join(lines)
