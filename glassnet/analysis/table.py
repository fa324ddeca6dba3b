"""Rendering of analysis results: text tables (wrapped, never cut), HTML tables (Jupyter) and Markdown,
all from the same cells and summary lines."""
from __future__ import annotations

import html
import re
import textwrap

from ..formatting import fmt_bytes, fmt_int

__all__ = ["render_table", "render_report", "render_html", "render_markdown", "html_table", "markdown_table",
           "wrap_text", "fmt_int", "fmt_bytes"]

# a formula may break after these (and at spaces); the characters stay on the line they end
_BREAK_AFTER = "·×+,"
_PARTS = re.compile(r"[^·×+,]*[·×+,]|[^·×+,]+")


def wrap_text(text: str, width: int) -> list[str]:
    """``text`` as lines of at most ``width`` characters, never cut: lines break at spaces and after
    ``·``, ``×``, ``+`` and ``,`` (so ``8·27·(H-2)·(W-2)`` becomes ``8·27·`` / ``(H-2)·(W-2)``); only a
    piece longer than the width is split inside. Joining the lines gives back every character."""
    width = max(int(width), 1)
    if len(text) <= width:
        return [text]
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        joined = f"{line} {word}" if line else word
        if len(joined) <= width:
            line = joined
            continue
        if line and len(word) <= width:
            lines.append(line)
            line = word
            continue
        sep = " " if line else ""
        for part in _PARTS.findall(word):
            if len(line) + len(sep) + len(part) <= width:
                line, sep = line + sep + part, ""
                continue
            if line:
                lines.append(line)
            while len(part) > width:
                lines.append(part[:width])
                part = part[width:]
            line, sep = part, ""
    if line or not lines:
        lines.append(line)
    return lines


def _fit_widths(natural: list[int], headers: list[str], right, width: int, gap: int) -> list[int]:
    """Column widths within ``width``: the widest text column gives way first, down to its header's longest
    word, so formula and name columns wrap; numbers (right-aligned columns) keep their width."""
    widths = list(natural)
    floor = [n if i in right else min(n, max(4, *(len(w) for w in h.split() or [""])))
             for i, (n, h) in enumerate(zip(natural, headers))]
    while sum(widths) + gap * (len(widths) - 1) > width:
        shrinkable = [i for i, w in enumerate(widths) if w > floor[i]]
        if not shrinkable:
            break
        i = max(shrinkable, key=lambda k: widths[k])
        widths[i] -= 1
    return widths


def render_table(headers: list[str], rows: list[list[str]], right: set[int] = frozenset(), width: int | None = None) -> str:
    """A text table with two spaces between columns. With ``width``, long cells wrap onto further lines
    (see ``wrap_text``) so the table fits where it can; nothing is ever cut."""
    natural = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    widths = natural if width is None else _fit_widths(natural, headers, right, width, 2)

    def lines(cells):
        cols = [wrap_text(c, w) for c, w in zip(cells, widths)]
        out = []
        for k in range(max(len(c) for c in cols)):
            parts = [(c[k] if k < len(c) else "") for c in cols]
            out.append("  ".join(p.rjust(w) if i in right else p.ljust(w)
                                 for i, (p, w) in enumerate(zip(parts, widths))).rstrip())
        return out
    body = [lines(r) for r in rows]
    out = lines(headers) + ["  ".join("─" * w for w in widths)]
    spaced = any(len(b) > 1 for b in body)  # a blank line between rows once some row wraps
    for k, b in enumerate(body):
        out += ([""] if spaced and k else []) + b
    return "\n".join(out)


def html_table(headers: list[str], rows: list[list[str]], right=frozenset(), indent_first: bool = False,
               attrs: str = 'style="border-collapse:collapse"') -> str:
    """An HTML table of the same cells (escaped); with ``indent_first``, leading spaces of the first column
    become left padding (nested modules)."""
    esc = html.escape
    out = [f"<table {attrs}>" if attrs else "<table>",
           "<thead><tr>" + "".join(f'<th style="text-align:{"right" if i in right else "left"};padding:2px 8px;'
                                   f'overflow-wrap:normal">'
                                   f"{esc(h)}</th>" for i, h in enumerate(headers)) + "</tr></thead><tbody>"]
    for cells in rows:
        tds = []
        for i, c in enumerate(cells):
            indent = len(c) - len(c.lstrip(" ")) if (i == 0 and indent_first) else 0
            style = ("text-align:right;white-space:nowrap" if i in right else "text-align:left") + ";padding:2px 8px" + (
                f";padding-left:{8 + 6 * indent}px" if indent else "")
            tds.append(f'<td style="{style}">{esc(c.strip() if indent_first else c)}</td>')
        out.append("<tr>" + "".join(tds) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def markdown_table(headers: list[str], rows: list[list[str]], right=frozenset(), indent_first: bool = False) -> str:
    """A GitHub Markdown table of the same cells (``|`` escaped; nesting shown with non-breaking spaces)."""
    def cell(text: str, first: bool) -> str:
        text = text.replace("|", "\\|").replace("\n", " ")
        if first and indent_first and text.startswith(" "):
            depth = (len(text) - len(text.lstrip(" "))) // 2
            text = "&nbsp;&nbsp;" * depth + text.lstrip(" ")
        return text
    out = ["| " + " | ".join(headers) + " |",
           "|" + "|".join("---:" if i in right else "---" for i in range(len(headers))) + "|"]
    out += ["| " + " | ".join(cell(c, i == 0) for i, c in enumerate(r)) + " |" for r in rows]
    return "\n".join(out)


def _rf(rf: tuple) -> str:
    if not rf:
        return "—"
    if all(isinstance(x, int) for x in rf):
        return "×".join(str(x) for x in rf)
    return ", ".join(str(x) for x in rf)


def _cells(report) -> tuple[list[str], list[list[str]], set[int]]:
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
             fmt_int(r.macs), r.macs_formula or "?", _rf(r.receptive_field)] for r in report.rows]
    return headers, rows, {2, 4}


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
        f = t.get("formulas") or {}
        if t["macs"] is not None:
            macs, flops = fmt_int(t["macs"]), fmt_int(t["flops"])
        elif f.get("macs"):  # a dimension has no size: the total is a formula of it
            macs, flops = f["macs"], f["flops"]
        else:
            macs = f"? (unknown: a dimension has no size; known part {fmt_int(t['macs_known_part'])})"
            flops = fmt_int(t["flops"])
        lines.append(f"MACs: {macs}  FLOPs: {flops}  other element-wise FLOPs: {fmt_int(t['other_flops'])}")
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


def render_report(report, convention: str, width: int | None = None) -> str:
    """The text form; with ``width`` (a terminal's columns) long cells wrap so the table fits."""
    headers, rows, right = _cells(report)
    summary = [" " + s if not s.startswith("  ") else s for s in _summary(report)]
    if width is None:
        return "\n".join([_title(report, convention), render_table(headers, rows, right=right), *summary])
    lines = textwrap.wrap(_title(report, convention), width, subsequent_indent="  ")
    lines.append(render_table(headers, rows, right=right, width=width))
    for s in summary:
        indent = " " * (len(s) - len(s.lstrip(" ")))
        lines += textwrap.wrap(s.strip(), width, initial_indent=indent, subsequent_indent=indent + "  ")
    return "\n".join(lines)


def render_html(report, convention: str) -> str:
    """A self-contained HTML table (what Jupyter shows for a report)."""
    headers, rows, right = _cells(report)
    esc = html.escape
    return "\n".join(['<div class="glassnet-report">', f"<p><b>{esc(_title(report, convention))}</b></p>",
                      html_table(headers, rows, right, indent_first=True),
                      "<ul>" + "".join(f"<li>{esc(s.strip())}</li>" for s in _summary(report)) + "</ul>", "</div>"])


def render_markdown(report, convention: str) -> str:
    headers, rows, right = _cells(report)
    out = [f"**{_title(report, convention)}**", "", markdown_table(headers, rows, right, indent_first=True), ""]
    out += [f"- {s.strip()}" for s in _summary(report)]
    return "\n".join(out)
