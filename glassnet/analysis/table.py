"""Rendering of analysis reports: a text table, an HTML table (Jupyter) and Markdown, all from the
same cells and summary lines."""
from __future__ import annotations

import html

from ..formatting import fmt_bytes, fmt_int

__all__ = ["render_table", "render_report", "render_html", "render_markdown", "fmt_int", "fmt_bytes"]


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


def _cells(report, width: int | None = None) -> tuple[list[str], list[list[str]], set[int]]:
    """Headers, one list of cell texts per row, and the right-aligned columns."""
    if report.method == "rules":
        headers = ["Layer (type)", "Output Shape", "Params", "Param formula", "MACs", "MACs per sample", "RF", "Mask"]
        rows = [[f"{r.name} ({r.type})", r.output_shape, fmt_int(r.params), r.params_formula, fmt_int(r.macs),
                 r.macs_formula, _rf(r.receptive_field), r.mask_effect if r.mask_effect != "none" else "—"]
                for r in report.rows]
        return headers, rows, {2, 4}
    formula_header = "MACs formula" if report.method == "export" else "MACs (measured)"
    headers = ["Module (type)", "Output Shape", "Params", "Param formula", "MACs", formula_header, "RF"]
    rows = [["  " * r.depth + f"{r.name} ({r.type})", r.output_shape, fmt_int(r.params), r.params_formula,
             fmt_int(r.macs), _clip(r.macs_formula or "?", width), _rf(r.receptive_field)] for r in report.rows]
    return headers, rows, {2, 4}


def _clip(text: str, width: int | None) -> str:
    """A long formula shortened for a text table (to_dict, HTML and Markdown keep it whole)."""
    return text if width is None or len(text) <= width else text[:width - 1] + "…"


def _title(report, convention: str) -> str:
    dims = ", ".join(f"{k}={v}" for k, v in report.dims.items())
    if report.method == "rules":
        return f'Analysis of "{report.model_name}" ({dims}); {convention}'
    how = "traced with torch.export" if report.method == "export" else "measured at the example inputs"
    return f'Analysis of "{report.model_name}" ({how}; {dims or "no named dims"}); {convention}'


def _with_formula(number: str, formula: str | None) -> str:
    return number if not formula or formula == number.replace(",", "") else f"{number} = {formula}"


def _summary(report) -> list[str]:
    t = report.totals
    lines = [f"Params: {fmt_int(t['params'])} (trainable {fmt_int(t['trainable_params'])}, "
             f"non-trainable {fmt_int(t['non_trainable_params'])})"]
    if report.method == "rules":
        lines.append(f"MACs: {fmt_int(t['macs'])}" + ("" if t["macs"] is not None else
                     f" (unknown: a dimension has no size; known part {fmt_int(t['macs_known_part'])})")
                     + f"  FLOPs: {fmt_int(t['flops'])}  other element-wise FLOPs: {fmt_int(t['other_flops'])}")
        lines.append(f"Peak inference activations: {fmt_bytes(t['peak_inference_activation_bytes'])}; "
                     f"training memory estimate: {fmt_bytes(t['training_memory_bytes'])} "
                     "(weights + gradients + Adam state + activations kept for backward)")
        return lines
    f = t.get("formulas") or {}
    macs = _with_formula(fmt_int(t["macs"]), f.get("macs"))
    if t["macs"] is None:
        macs += f" (unknown: some operators have no cost rule; known part {fmt_int(t['macs_known_part'])})"
    lines.append(f"MACs: {macs}; FLOPs: {fmt_int(t['flops'])}; "
                 f"other element-wise FLOPs: {_with_formula(fmt_int(t['other_flops']), f.get('other_flops'))}")
    lines.append(f"Activations: peak at inference {fmt_bytes(t['peak_inference_activation_bytes'])}"
                 + (f" (= {f['peak_inference_activation_bytes']} bytes)" if f.get("peak_inference_activation_bytes") else "")
                 + f"; kept for backward {fmt_bytes(t['activations_saved_for_backward_bytes'])}"
                 + (f" (= {f['activations_saved_for_backward_bytes']} bytes)" if f.get("activations_saved_for_backward_bytes") else ""))
    lines.append(f"Training memory estimate: {fmt_bytes(t['training_memory_bytes'])}"
                 + (f" (= {f['training_memory_bytes']} bytes)" if f.get("training_memory_bytes") else "")
                 + ": weights + gradients + Adam state + activations kept for backward")
    if report.constraints:
        lines.append("Dimensions the model fixes or bounds:")
        lines += [f"  {c.sentence()}" for c in report.constraints]
    lines += [f"Note: {n}" for n in report.notes]
    return lines


def render_report(report, convention: str) -> str:
    headers, rows, right = _cells(report, width=72)
    lines = [_title(report, convention), render_table(headers, rows, right=right)]
    lines += [" " + s if not s.startswith("  ") else s for s in _summary(report)]
    return "\n".join(lines)


def render_html(report, convention: str) -> str:
    """A self-contained HTML table (what Jupyter shows for a report)."""
    headers, rows, right = _cells(report)
    esc = html.escape
    out = ['<div class="glassnet-report">', f"<p><b>{esc(_title(report, convention))}</b></p>",
           '<table style="border-collapse:collapse">',
           "<thead><tr>" + "".join(f'<th style="text-align:{"right" if i in right else "left"};padding:2px 8px">'
                                   f"{esc(h)}</th>" for i, h in enumerate(headers)) + "</tr></thead><tbody>"]
    for cells in rows:
        tds = []
        for i, c in enumerate(cells):
            indent = len(c) - len(c.lstrip(" ")) if i == 0 else 0
            style = f'text-align:{"right" if i in right else "left"};padding:2px 8px' + (
                f";padding-left:{8 + 6 * indent}px" if indent else "")
            tds.append(f'<td style="{style}">{esc(c.strip())}</td>')
        out.append("<tr>" + "".join(tds) + "</tr>")
    out.append("</tbody></table>")
    out.append("<ul>" + "".join(f"<li>{esc(s.strip())}</li>" for s in _summary(report)) + "</ul>")
    out.append("</div>")
    return "\n".join(out)


def render_markdown(report, convention: str) -> str:
    headers, rows, right = _cells(report)

    def cell(text: str, first: bool) -> str:
        text = text.replace("|", "\\|")
        if first and text.startswith(" "):
            depth = (len(text) - len(text.lstrip(" "))) // 2
            text = "&nbsp;&nbsp;" * depth + text.lstrip(" ")
        return text
    out = [f"**{_title(report, convention)}**", "",
           "| " + " | ".join(headers) + " |",
           "|" + "|".join("---:" if i in right else "---" for i in range(len(headers))) + "|"]
    out += ["| " + " | ".join(cell(c, i == 0) for i, c in enumerate(r)) + " |" for r in rows]
    out.append("")
    out += [f"- {s.strip()}" for s in _summary(report)]
    return "\n".join(out)
