"""``gn.explain``: in words and numbers, how each layer reads its input, what it owns, and what it
costs as the input grows.

It returns an ``Explanation`` and prints nothing itself: the REPL shows its text, Jupyter an HTML table,
``print(e)`` prints it once; ``to_json()``, ``to_markdown()`` and ``to_dict()`` give the same content.
"""
from __future__ import annotations

import html
import json

import sympy
import torch

from ..dims import BATCH, fmt_shape
from .analyze import analyze
from .layer_costs import layer_row
from .report import CONVENTION, SCHEMA_VERSION
from .table import html_table, markdown_table, wrap_text

__all__ = ["explain", "growth", "Explanation"]


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


class Explanation:
    """What ``gn.explain`` returns: a header, one entry per layer (or module) and closing notes.

    ``str(e)`` and ``repr(e)`` are the text (one paragraph per layer), ``_repr_html_`` an HTML table,
    ``to_markdown()`` a Markdown table, ``to_dict()``/``to_json()`` the same facts with null for unknowns.
    ``"owns 480 parameters" in e`` searches the text.
    """

    def __init__(self, subject: str, rows: list, header: str | None = None, notes=()):
        self.subject, self.rows, self.header, self.notes = subject, list(rows), header, list(notes)

    @property
    def text(self) -> str:
        return "\n".join(([self.header] if self.header else []) + [_paragraph(r) for r in self.rows] + self.notes)

    def to_text(self, width: int | None = None) -> str:
        """The text; with ``width`` (a terminal's columns) each line wraps under its own indent, formulas
        breaking after ``·`` or ``+`` (see ``table.wrap_text``), never cut."""
        if width is None:
            return self.text
        out = []
        for line in self.text.splitlines():
            indent = " " * (len(line) - len(line.lstrip(" ")))
            body = line.strip()
            hang = indent + ("  " if body.startswith("•") else "    " if not indent else "  ")
            pieces = wrap_text(body, max(width - len(hang), 20))
            out.append(indent + pieces[0])
            out += [hang + p for p in pieces[1:]]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.text

    __repr__ = __str__

    def __contains__(self, part: str) -> bool:
        return part in self.text

    def to_dict(self) -> dict:
        return {"schema_version": SCHEMA_VERSION, "kind": "explanation", "subject": self.subject,
                "header": self.header, "convention": CONVENTION, "layers": [_facts(r) for r in self.rows],
                "notes": self.notes}

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), default=str, **kwargs)

    def _cells(self):
        headers = ["Layer (type)", "Output shape", "Reads its input", "Parameters", "Multiply-adds", "Needs fixed",
                   "Mask"]
        rows = []
        for r in self.rows:
            f = _facts(r)
            rows.append([f"{r.name} ({r.type})", r.output_shape, r.reads, _owns(r), _costs(r) or "none",
                         ", ".join(f["needs_fixed"]) or "—", f["mask"] or "—"])
        return headers, rows

    def _repr_html_(self) -> str:
        esc = html.escape
        out = ['<div class="glassnet-explanation">']
        if self.header:
            out.append(f"<p><b>{esc(self.header)}</b></p>")
        out.append(html_table(*self._cells()))
        if self.notes:
            out.append("<ul>" + "".join(f"<li>{esc(n.strip())}</li>" for n in self.notes) + "</ul>")
        return "\n".join(out + ["</div>"])

    def to_html(self) -> str:
        return self._repr_html_()

    def to_markdown(self) -> str:
        headers, rows = self._cells()
        out = ([f"**{self.header}**", ""] if self.header else []) + [markdown_table(headers, rows)]
        return "\n".join(out + ([""] + [f"- {n.strip()}" for n in self.notes] if self.notes else []))


def explain(obj, input_shape=None, print_fn=None, *, example_inputs=None, dynamic=None, module: str | None = None) -> Explanation:
    """Explain a model (every layer), one built layer, or any ``torch.nn.Module`` traced at
    ``example_inputs`` (every module, or only the one at path ``module``). Returns an ``Explanation``: the
    REPL and Jupyter show it, ``print(e)`` prints it. Pass ``print_fn=print`` (or any function of one
    string) to have it printed as well."""
    if not hasattr(obj, "graph_nodes") and not hasattr(obj, "compute_output_shape") and isinstance(obj, torch.nn.Module):
        report = analyze(obj, input_shape, example_inputs=example_inputs, dynamic=dynamic)
        rows = report.rows if module is None else [report.row(module if module else report.model_name)]
        ran = f"{len(report.rows)} module{'s' if len(report.rows) != 1 else ''} ran"
        header = (f'Module "{report.model_name}": {ran}, {report.totals["params"]:,} parameters; '
                  f'formulas per call over {", ".join(report.dims) or "no named dims"} ({CONVENTION})')
        notes = [f"  {c.sentence()}" for c in report.constraints if module is None] + [f"Note: {n}" for n in report.notes]
        result = Explanation(report.model_name, rows, header, notes)
    elif hasattr(obj, "graph_nodes"):
        report = analyze(obj, input_shape)
        rows = [r for r in report.rows if r.type != "InputLayer"]
        header = f'Model "{obj.name}": {len(rows)} layers, {report.totals["params"]:,} parameters. ({CONVENTION})'
        result = Explanation(obj.name, rows, header)
    elif hasattr(obj, "cost") and hasattr(obj, "compute_output_shape"):
        if not obj.built or obj._build_shape is None:
            raise ValueError(f"Layer '{obj.name}' is not built yet: call it on an Input or on data first.")
        result = Explanation(obj.name, [_single_layer_report(obj, obj._build_shape)])
    else:
        raise TypeError(f"explain() takes a glassnet model or layer, or a torch.nn.Module. Received: {type(obj).__name__}")
    if print_fn is not None:
        print_fn(str(result))
    return result


def _single_layer_report(layer, shape):
    out = layer.compute_output_shape(shape)
    cost = layer.cost(shape, out)
    row = layer_row(layer.name, layer, cost, fmt_shape(out), layer.count_params(), {BATCH: 1})
    row.mask_effect = layer.mask_rule
    return row


def _known_formula(r) -> str | None:
    return None if r.macs_formula in (None, "?", "") else r.macs_formula


def _owns(r) -> str:
    if r.params:
        return f"{r.params:,} parameters: {r.params_formula}"
    if r.shared_with:
        return f"shares its parameters with {r.shared_with}"
    return "no parameters"


def _costs(r) -> str | None:
    """'T·4·10·(1+10) multiply-adds per sample (linear in T)'; 'unknown'; None when it does no multiply-adds."""
    formula = _known_formula(r)
    if formula is None:
        return "unknown"
    if formula == "0":
        return None
    per = "per sample" if r.macs_source in ("rule", "traced") else "per call"
    how = "measured at the example inputs" if r.macs_source == "measured" else growth(r.macs_expr)
    return f"{formula} multiply-adds {per} ({how})"


def _facts(r) -> dict:
    """One layer's entry in ``Explanation.to_dict``; unknowns are None."""
    formula = _known_formula(r)
    return {"name": r.name, "type": r.type, "output_shape": r.output_shape, "reads": r.reads, "params": r.params,
            "params_formula": r.params_formula, "shared_with": r.shared_with, "macs": r.macs,
            "macs_formula": formula, "macs_per": "sample" if r.macs_source in ("rule", "traced") else "call",
            "growth": None if formula is None or r.macs_source == "measured" else growth(r.macs_expr),
            "needs_fixed": list(r.needs_fixed),
            "mask": None if r.mask_effect in ("none", "drop", "carry") else r.mask_effect}


def _paragraph(r) -> str:
    lines = [f"• {r.name} ({r.type}) → {r.output_shape}", f"    reads: {r.reads}."]
    lines.append(f"    owns {_owns(r)}" if r.params or not r.shared_with else f"    {_owns(r)}")
    cost = _costs(r)
    if cost == "unknown":
        lines.append("    its cost is unknown")
    elif cost:
        lines.append(f"    costs {cost}")
    if r.needs_fixed:
        lines.append(f"    needs fixed: {', '.join(r.needs_fixed)}")
    if r.mask_effect not in ("none", "drop", "carry"):
        lines.append(f"    mask: {r.mask_effect}")
    return "\n".join(lines)
