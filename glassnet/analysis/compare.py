"""``gn.compare``: two models side by side, aligned by layer, with totals and ratios."""
from __future__ import annotations

from ..formatting import fmt_bytes, fmt_int
from .analyze import analyze
from .table import render_table

__all__ = ["compare", "Comparison"]


class Comparison:
    def __init__(self, a, b, ra, rb):
        self.a, self.b, self.report_a, self.report_b = a, b, ra, rb
        la = [r for r in ra.rows if r.type != "InputLayer"]
        lb = [r for r in rb.rows if r.type != "InputLayer"]
        self.pairs = [(la[i] if i < len(la) else None, lb[i] if i < len(lb) else None) for i in range(max(len(la), len(lb)))]

    def totals(self) -> dict:
        ta, tb = self.report_a.totals, self.report_b.totals

        def ratio(x, y):
            return None if (x in (None, 0) or y is None) else y / x
        keys = ["params", "macs", "peak_inference_activation_bytes", "training_memory_bytes"]
        return {k: {"a": ta[k], "b": tb[k], "b/a": ratio(ta[k], tb[k])} for k in keys}

    def to_dict(self) -> dict:
        return {"a": self.report_a.to_dict(), "b": self.report_b.to_dict(), "totals": self.totals()}

    def __str__(self) -> str:
        headers = ["#", self.report_a.model_name, "Output", "Params", "MACs", "RF", "│", self.report_b.model_name, "Output",
                   "Params", "MACs", "RF"]
        rows = []
        for i, (x, y) in enumerate(self.pairs):
            def cells(r):
                if r is None:
                    return ["—", "", "", "", ""]
                rf = "×".join(str(v) for v in r.receptive_field) if all(isinstance(v, int) for v in r.receptive_field) \
                    else ", ".join(str(v) for v in r.receptive_field)
                return [f"{r.name} ({r.type})", r.output_shape, fmt_int(r.params), fmt_int(r.macs), rf]
            rows.append([str(i + 1), *cells(x), "│", *cells(y)])
        out = [render_table(headers, rows, right={3, 4, 9, 10})]
        out.append("Totals")
        for k, v in self.totals().items():
            fmt = fmt_bytes if k.endswith("bytes") else fmt_int
            r = "—" if v["b/a"] is None else f"{v['b/a']:.2f}×"
            out.append(f"  {k:<32} {fmt(v['a']):>14}  vs  {fmt(v['b']):>14}   ratio {r}")
        return "\n".join(out)


def compare(a, b, input_shape=None, batch_size: int = 1, print_fn=print, *, example_inputs=None, dynamic=None) -> Comparison:
    """Analyse two models and print them side by side (layers, or modules, aligned by position), with
    totals and ratios. Plain torch modules take ``example_inputs`` and ``dynamic`` as in ``analyze``."""
    def one(model):
        if hasattr(model, "graph_nodes"):
            return analyze(model, input_shape, batch_size)
        return analyze(model, input_shape, example_inputs=example_inputs, dynamic=dynamic)
    c = Comparison(a, b, one(a), one(b))
    if print_fn is not None:
        print_fn(str(c))
    return c
