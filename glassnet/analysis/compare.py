"""``gn.compare``: two models side by side, aligned by layer, with totals and ratios.

It returns a ``Comparison`` and prints nothing itself: the REPL shows its text, Jupyter its HTML table,
``print(c)`` prints it once; ``to_json()``, ``to_markdown()`` and ``to_dict()`` give the same content.
"""
from __future__ import annotations

import html
import json

from ..formatting import fmt_bytes, fmt_int
from .analyze import analyze
from .report import SCHEMA_VERSION
from .table import html_table, markdown_table, render_table

__all__ = ["compare", "Comparison"]

_TOTALS = ["params", "macs", "peak_inference_activation_bytes", "training_memory_bytes"]


def _rf(r) -> str:
    if all(isinstance(v, int) for v in r.receptive_field):
        return "×".join(str(v) for v in r.receptive_field)
    return ", ".join(str(v) for v in r.receptive_field)


class Comparison:
    """Two analyses side by side: ``pairs`` of rows (None where one model has fewer layers), ``totals()``."""

    def __init__(self, a, b, ra, rb):
        self.a, self.b, self.report_a, self.report_b = a, b, ra, rb
        la = [r for r in ra.rows if r.type != "InputLayer"]
        lb = [r for r in rb.rows if r.type != "InputLayer"]
        self.pairs = [(la[i] if i < len(la) else None, lb[i] if i < len(lb) else None) for i in range(max(len(la), len(lb)))]

    def totals(self) -> dict:
        ta, tb = self.report_a.totals, self.report_b.totals

        def ratio(x, y):
            return None if (x in (None, 0) or y is None) else y / x
        return {k: {"a": ta[k], "b": tb[k], "b/a": ratio(ta[k], tb[k])} for k in _TOTALS}

    def to_dict(self) -> dict:
        return {"schema_version": SCHEMA_VERSION, "kind": "comparison", "a": self.report_a.to_dict(),
                "b": self.report_b.to_dict(), "totals": self.totals()}

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), default=str, **kwargs)

    # ------------------------------------------------------------------ the cells every form shows
    def _layer_cells(self) -> tuple[list[str], list[list[str]], set[int]]:
        name_a, name_b = self.report_a.model_name, self.report_b.model_name
        headers = ["#", name_a, "Output", "Params", "MACs", "RF", "│", name_b, "Output", "Params", "MACs", "RF"]
        rows = []
        for i, (x, y) in enumerate(self.pairs):
            def cells(r):
                if r is None:
                    return ["—", "", "", "", ""]
                return [f"{r.name} ({r.type})", r.output_shape, fmt_int(r.params), fmt_int(r.macs), _rf(r)]
            rows.append([str(i + 1), *cells(x), "│", *cells(y)])
        return headers, rows, {3, 4, 9, 10}

    def _total_cells(self) -> tuple[list[str], list[list[str]], set[int]]:
        rows = []
        for k, v in self.totals().items():
            fmt = fmt_bytes if k.endswith("bytes") else fmt_int
            rows.append([k, fmt(v["a"]), fmt(v["b"]), "—" if v["b/a"] is None else f"{v['b/a']:.2f}×"])
        return ["Totals", self.report_a.model_name, self.report_b.model_name, "ratio b/a"], rows, {1, 2, 3}

    def to_text(self, width: int | None = None) -> str:
        """The text table; with ``width`` (a terminal's columns) long cells wrap to fit, never cut."""
        headers, rows, right = self._layer_cells()
        out = [render_table(headers, rows, right=right, width=width), "Totals"]
        for k, a, b, r in self._total_cells()[1]:
            out.append(f"  {k:<32} {a:>14}  vs  {b:>14}   ratio {r}")
        return "\n".join(out)

    def __str__(self) -> str:
        return self.to_text()

    __repr__ = __str__

    def _stacked_cells(self) -> tuple[list[str], list[list[str]], set[int]]:
        """The pairs one model per row (7 columns instead of 12), for HTML and Markdown, where width is scarce."""
        headers = ["#", "Model", "Layer (type)", "Output", "Params", "MACs", "RF"]
        rows = []
        for i, pair in enumerate(self.pairs):
            for k, (r, report) in enumerate(zip(pair, (self.report_a, self.report_b))):
                first = str(i + 1) if k == 0 else ""
                rows.append([first, report.model_name, "—", "", "", "", ""] if r is None else
                            [first, report.model_name, f"{r.name} ({r.type})", r.output_shape, fmt_int(r.params),
                             fmt_int(r.macs), _rf(r)])
        return headers, rows, {4, 5}

    def _repr_html_(self) -> str:
        th, tr, tright = self._total_cells()
        title = f"<p><b>{html.escape(self.report_a.model_name)} against {html.escape(self.report_b.model_name)}</b></p>"
        return "\n".join(['<div class="glassnet-comparison">', title, html_table(*self._stacked_cells()),
                          html_table(th, tr, tright), "</div>"])

    def to_html(self) -> str:
        return self._repr_html_()

    def to_markdown(self) -> str:
        th, tr, tright = self._total_cells()
        return "\n".join([f"**{self.report_a.model_name} against {self.report_b.model_name}**", "",
                          markdown_table(*self._stacked_cells()), "", markdown_table(th, tr, tright)])

def compare(a, b, input_shape=None, batch_size: int = 1, print_fn=None, *, example_inputs=None, dynamic=None) -> Comparison:
    """Analyse two models and set them side by side (layers, or modules, aligned by position), with totals
    and ratios. Returns a ``Comparison``: the REPL and Jupyter show it, ``print(c)`` prints it. Pass
    ``print_fn=print`` (or any function of one string) to have it printed as well. Plain torch modules take
    ``example_inputs`` and ``dynamic`` as in ``analyze``."""
    def one(model):
        if hasattr(model, "graph_nodes"):
            return analyze(model, input_shape, batch_size)
        return analyze(model, input_shape, example_inputs=example_inputs, dynamic=dynamic)
    c = Comparison(a, b, one(a), one(b))
    if print_fn is not None:
        print_fn(str(c))
    return c
