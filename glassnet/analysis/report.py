"""What an analysis returns: one ``Row`` per layer (a glassnet model) or per module (any ``nn.Module``),
totals, the sizes the numbers are evaluated at, and what the model fixes — printable as text, HTML
(Jupyter shows it) and Markdown, and exportable as versioned JSON in which every unknown is ``null``.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field

from .symbolic import value
from .table import render_html, render_markdown, render_report

__all__ = ["Report", "Row", "CONVENTION", "SCHEMA_VERSION"]

CONVENTION = "1 MAC = one multiply-add (matmul/convolution); FLOPs = 2 × MACs; element-wise work is counted apart"
# 2: schema_version, method, notes and constraints; per-row depth, macs_source and unknown_ops;
#    null (never "?" or "—") for every unknown
SCHEMA_VERSION = 2

# how a report got its numbers
METHODS = {
    "rules": "from the layers' own cost rules (no data, no forward pass)",
    "export": "traced with torch.export; formulas over the named dimensions, evaluated at the example sizes",
    "flop_counter": "measured with torch.utils.flop_counter.FlopCounterMode at the example inputs only",
}


@dataclass
class Row:
    name: str
    type: str
    output_shape: str
    params: int
    params_formula: str
    macs: int | None
    macs_formula: str
    other_flops: int | None
    activation_bytes: int | None = None
    receptive_field: tuple = ()
    mask_in: str | None = None
    mask_out: str | None = None
    mask_effect: str = "none"
    needs_fixed: tuple = ()
    reads: str = ""
    connected_to: list = field(default_factory=list)
    shared_with: str | None = None
    children: list = field(default_factory=list)
    macs_expr: str = ""
    saved_bytes: int | None = None
    depth: int = 0                 # nesting of a module row (0 for the model and for glassnet layers)
    macs_source: str = "rule"      # rule | export | traced (a glassnet layer without a rule) | measured
    unknown_ops: tuple = ()        # operators whose cost is unknown (they make macs None)


def _nulls(obj):
    """JSON view: an unknown is null, never "?" or "—"."""
    if isinstance(obj, dict):
        return {k: _nulls(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nulls(v) for v in obj]
    if isinstance(obj, str) and obj in ("?", "—"):
        return None
    return obj


class Report:
    """What ``gn.analyze`` returns: ``rows``, ``totals``, ``print(report)``, ``to_dict()``, ``to_json()``,
    ``to_html()`` (and Jupyter's ``_repr_html_``), ``to_markdown()``, ``to_text(width)``.

    ``method`` says where the numbers come from (``METHODS``); ``constraints`` what the model fixes or
    bounds among the dimensions the user asked to be dynamic; ``notes`` sentences a reader must see (for
    example that export failed and the numbers were measured at the example inputs only).
    """

    def __init__(self, model_name: str, rows: list[Row], totals: dict, dims: dict, batch_size, *,
                 method: str = "rules", notes=(), constraints=(), exprs: dict | None = None):
        self.model_name, self.rows, self.totals, self.dims, self.batch_size = model_name, rows, totals, dims, batch_size
        self.method, self.notes, self.constraints = method, list(notes), list(constraints)
        self._exprs = exprs  # SymPy formulas behind the numbers (export reports), for at()

    def row(self, name: str) -> Row:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"No row named {name!r}; rows: {[r.name for r in self.rows]}")

    def to_dict(self) -> dict:
        return _nulls({"schema_version": SCHEMA_VERSION, "model": self.model_name, "method": self.method,
                       "method_text": METHODS[self.method], "convention": CONVENTION, "batch_size": self.batch_size,
                       "dims": self.dims, "rows": [asdict(r) for r in self.rows], "totals": self.totals,
                       "constraints": [asdict(c) | {"sentence": c.sentence()} for c in self.constraints],
                       "notes": self.notes})

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), default=str, **kwargs)

    def to_html(self) -> str:
        return render_html(self, CONVENTION)

    def _repr_html_(self) -> str:
        return self.to_html()

    def to_markdown(self) -> str:
        return render_markdown(self, CONVENTION)

    def at(self, **sizes) -> "Report":
        """The same report evaluated at other sizes of the named dims, e.g. ``report.at(T=512)``
        (reports traced with torch.export, whose numbers are formulas)."""
        if self._exprs is None:
            raise ValueError(f"This report ({self.method}) holds numbers, not formulas: analyse again at the new "
                             "size (gn.analyze(model, input_shape=...) for a glassnet model).")
        unknown = set(sizes) - set(self.dims)
        if unknown:
            raise ValueError(f"No dimension named {', '.join(sorted(unknown))}; this report's dims are "
                             f"{', '.join(self.dims) or 'none'}.")
        dims = {**self.dims, **{k: int(v) for k, v in sizes.items()}}
        rows = []
        for r in self.rows:
            e = self._exprs["rows"][r.name]
            rows.append(dataclasses.replace(r, **{k: value(v, dims) for k, v in e.items()}))
        totals = dict(self.totals)
        for k, v in self._exprs["totals"].items():
            totals[k] = value(v, dims)
        totals["flops"] = None if totals["macs"] is None else 2 * totals["macs"]
        breakdown = dict(totals["training_memory_breakdown"])
        breakdown["activations_saved_for_backward"] = totals.get("activations_saved_for_backward_bytes")
        totals["training_memory_breakdown"] = breakdown
        return Report(self.model_name, rows, totals, dims, dims.get("B", self.batch_size), method=self.method,
                      notes=self.notes, constraints=self.constraints, exprs=self._exprs)

    def to_text(self, width: int | None = None) -> str:
        """The text table; with ``width`` (a terminal's columns) long cells and lines wrap to fit, never cut."""
        return render_report(self, CONVENTION, width)

    def __str__(self) -> str:
        return render_report(self, CONVENTION)

    def __repr__(self) -> str:
        return f"<Report {self.model_name}: {len(self.rows)} rows, params={self.totals['params']:,}, macs={self.totals['macs']}>"
