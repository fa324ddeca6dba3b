"""Text rendering of analysis reports and comparisons."""
from __future__ import annotations

from ..formatting import fmt_bytes, fmt_int

__all__ = ["render_table", "render_report", "fmt_int", "fmt_bytes"]


def render_table(headers: list[str], rows: list[list[str]], right: set[int] = frozenset()) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    out = [line(headers), "  ".join("─" * w for w in widths)]
    out += [line(r) for r in rows]
    return "\n".join(out)


def _rf(rf: tuple) -> str:
    if not rf:
        return "—"
    if all(isinstance(x, int) for x in rf):
        return "×".join(str(x) for x in rf)
    return ", ".join(str(x) for x in rf)


def render_report(report, convention: str) -> str:
    headers = ["Layer (type)", "Output Shape", "Params", "Param formula", "MACs", "MACs per sample", "RF", "Mask"]
    rows = []
    for r in report.rows:
        rows.append([f"{r.name} ({r.type})", r.output_shape, fmt_int(r.params), r.params_formula,
                     fmt_int(r.macs), r.macs_formula, _rf(r.receptive_field),
                     r.mask_effect if r.mask_effect != "none" else "—"])
    t = report.totals
    dims = ", ".join(f"{k}={v}" for k, v in report.dims.items())
    lines = [f'Analysis of "{report.model_name}" ({dims}); {convention}',
             render_table(headers, rows, right={2, 4}),
             f" Params: {fmt_int(t['params'])} (trainable {fmt_int(t['trainable_params'])}, "
             f"non-trainable {fmt_int(t['non_trainable_params'])})",
             f" MACs: {fmt_int(t['macs'])}" + ("" if t["macs"] is not None else
                                              f" (unknown: a dimension has no size; known part {fmt_int(t['macs_known_part'])})")
             + f"  FLOPs: {fmt_int(t['flops'])}  other element-wise FLOPs: {fmt_int(t['other_flops'])}",
             f" Peak inference activations: {fmt_bytes(t['peak_inference_activation_bytes'])}; "
             f"training memory estimate: {fmt_bytes(t['training_memory_bytes'])} "
             "(weights + gradients + Adam state + activations kept for backward)"]
    return "\n".join(lines)

