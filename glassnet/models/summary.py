"""``model.summary()``: the Keras 3 table, drawn with box characters, shapes with dimension names.

The table fits the terminal (or ``line_length``): a cell too long for its column continues on the
next lines, breaking formulas after ``·``, ``×``, ``+`` or ``,`` — nothing is cut off."""
from __future__ import annotations

import shutil
import textwrap

from ..analysis import CONVENTION, analyze
from ..analysis.table import wrap_text
from ..dims import fmt_shape
from ..formatting import fmt_bytes
from .strings import string_stage

__all__ = ["print_summary", "summary_string"]


def _unique_weights(weights):
    seen, out = set(), []
    for w in weights:
        if id(w) not in seen:
            seen.add(id(w))
            out.append(w)
    return out


def _count(weights) -> tuple[int, int]:
    ws = _unique_weights(weights)
    return sum(w.numel() for w in ws), sum(w.numel() * w.element_size() for w in ws)


def _is_sequential_like(model) -> bool:
    if getattr(model, "keras_class_name", None) == "Sequential":
        return True
    nodes = model.graph_nodes()
    layers = [n.layer for n in nodes]
    if len({id(l) for l in layers}) != len(layers):
        return False
    for n in nodes:
        if len(n.parents) > 1:
            return False
    depth_counts: dict[int, int] = {}
    depth: dict[int, int] = {}
    for n in nodes:
        d = 1 + max((depth[id(p.node)] for p in n.parents), default=-1)
        depth[id(n)] = d
        depth_counts[d] = depth_counts.get(d, 0) + 1
    return all(c == 1 for c in depth_counts.values())


def _layer_shape(layer, model) -> str:
    nodes = [n for n in layer._inbound_nodes if n in set(model.graph_nodes())] if hasattr(model, "graph_nodes") else []
    if not nodes:
        if not layer.built:
            return "?"
        try:
            return fmt_shape(layer.compute_output_shape(layer._build_shape))
        except Exception:
            return "?"
    node = nodes[0]
    return fmt_shape(node.output_structure().symbolic_shape if not node.multi_output
                     else [t.symbolic_shape for t in node.outputs])


def _connected(layer, model) -> str:
    model_nodes = set(model.graph_nodes())
    parts = []
    for node in layer._inbound_nodes:
        if node not in model_nodes:
            continue
        for p in node.parents:
            if p.is_mask:
                continue
            src = p.node.layer
            parts.append(f"{src.name}[{src._inbound_nodes.index(p.node)}][{p.index}]")
    return ", ".join(parts) if parts else "-"


def summary_string(model, line_length=None, positions=None, expand_nested=False, show_trainable=False,
                   costs=False) -> str:
    sequential_like = _is_sequential_like(model)
    if sequential_like:
        default, positions = 88, positions or [0.45, 0.80, 1.0]
        headers = ["Layer (type)", "Output Shape", "Param #"]
    else:
        default, positions = 108, positions or [0.3, 0.56, 0.74, 1.0]
        headers = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
    cost_rows = {}
    if costs:
        report = analyze(model)
        cost_rows = {r.name: r for r in report.rows}
        default += 60
        positions = [p * (default - 60) / default for p in positions] + [
            (default - 60 + 34) / default, 1.0]
        headers += ["Param formula", "MACs per sample"]
    if show_trainable:
        default += 12
        positions = [p * 0.9 for p in positions] + [1.0]
        headers.append("Trainable")
    if line_length is None:
        line_length = min(default, shutil.get_terminal_size((80, 24)).columns - 4)
    ends = [int(p * line_length) if p <= 1 else int(p) for p in positions]
    widths = [e - s for s, e in zip([0] + ends[:-1], ends)]
    if any(w < 4 for w in widths):
        raise ValueError("Insufficient console width to print summary.")
    segs = [w - 1 if i in (0, len(widths) - 1) else w - 2 for i, w in enumerate(widths)]
    segs[-1] = line_length - sum(segs[:-1]) - len(segs) - 1
    right = {2}

    def cell_lines(text: str, width: int) -> list[str]:
        return wrap_text(text, max(width - 2, 1))

    def row(values, left, mid, right_edge) -> list[str]:
        cols = [cell_lines(v, s) for v, s in zip(values, segs)]
        height = max(len(c) for c in cols)
        out = []
        for i in range(height):
            parts = []
            for j, (c, s) in enumerate(zip(cols, segs)):
                text = c[i] if i < len(c) else ""
                parts.append(" " + (text.rjust(s - 2) if j in right else text.ljust(s - 2)) + " ")
            out.append(left + mid.join(parts) + right_edge)
        return out

    body: list[list[str]] = []
    stage = {id(n.layer): n.layer for n in string_stage(model).values()}

    def add_layer(layer, level: int, owner):
        prefix = ("   " * (level - 1) + "└ ") if level else ""
        built = layer.built
        params = f"{layer.count_params():,}" if built else "0 (unbuilt)"
        values = [f"{prefix}{layer.name} ({type(layer).__name__})", _layer_shape(layer, owner), params]
        if not sequential_like:
            values.append(_connected(layer, owner) if level == 0 else "")
        if show_trainable:
            values.append(("Y" if layer.trainable else "N") if layer.weights else "-")
        if costs and id(layer) in stage and level == 0:
            values += [_table_size(layer), f"0 ({STRING_NOTE})"]
        elif costs:
            r = cost_rows.get(layer.name)
            values += [r.params_formula if r else "", r.macs_formula if r else ""]
        body.append(values)
        if expand_nested and hasattr(layer, "graph_nodes"):
            for sub in layer.layers:
                add_layer(sub, level + 1, layer)

    for layer in model.layers:
        add_layer(layer, 0, model)
    # numbers never wrap: the parameter column takes the width its longest count needs from the widest columns
    need = max((len(v[2]) for v in body), default=0) + 2
    while segs[2] < need:
        widest = max((k for k in range(len(segs)) if k != 2), key=lambda k: segs[k])
        if segs[widest] <= 6:
            break
        segs[widest] -= 1
        segs[2] += 1
    lines = [f'Model: "{model.name}"']
    lines.append("┏" + "┳".join("━" * s for s in segs) + "┓")
    lines += row(headers, "┃", "┃", "┃")
    lines.append("┡" + "╇".join("━" * s for s in segs) + "┩")
    for i, values in enumerate(body):
        lines += row(values, "│", "│", "│")
        if i < len(body) - 1:
            lines.append("├" + "┼".join("─" * s for s in segs) + "┤")
    lines.append("└" + "┴".join("─" * s for s in segs) + "┘")
    total, total_b = _count(model.weights)
    train, train_b = _count(model.trainable_weights)
    lines.append(f" Total params: {total:,} ({fmt_bytes(total_b)})")
    lines.append(f" Trainable params: {train:,} ({fmt_bytes(train_b)})")
    lines.append(f" Non-trainable params: {total - train:,} ({fmt_bytes(total_b - train_b)})")
    for layer in stage.values():
        lines += textwrap.wrap(f"String stage: {layer.name} ({type(layer).__name__}) turns strings into tensors in "
                               f"Python before the torch graph; {_table_size(layer)}, held as a table (0 params); "
                               f"{STRING_NOTE}.", line_length, initial_indent=" ", subsequent_indent=" ")
    if costs:
        lines += textwrap.wrap(f"MACs per sample are formulas of the named input dimensions; {CONVENTION}.",
                               line_length, initial_indent=" ", subsequent_indent=" ")
    return "\n".join(lines)


STRING_NOTE = "string processing, not counted"


def _table_size(layer) -> str:
    """What a string-stage layer holds instead of parameters: its vocabulary, or its hash bins."""
    if hasattr(layer, "vocabulary_size"):
        return f"vocabulary V = {layer.vocabulary_size():,}"
    return f"{layer.num_bins:,} hash bins" if hasattr(layer, "num_bins") else "no table"


def print_summary(model, line_length=None, positions=None, print_fn=None, expand_nested=False,
                  show_trainable=False, costs=False) -> None:
    text = summary_string(model, line_length, positions, expand_nested, show_trainable, costs)
    (print_fn or print)(text)
