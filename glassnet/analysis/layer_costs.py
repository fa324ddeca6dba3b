"""A glassnet model, analysed from its layers' own cost rules: per-layer rows — shapes, params with
formula, MACs as formulas of the named dimensions, element-wise work, memory, receptive field from the
model input, mask flow, the dimensions each layer needs fixed and how it reads its input — with no data
and no forward pass. A layer without a cost rule (a user's Layer subclass, a Lambda) is measured by
tracing it alone at its symbolic input shape with torch.export (``module_report.traced_cost``).
"""
from __future__ import annotations

import math
from fractions import Fraction

import sympy

from .. import dtypes, formula
from ..dims import BATCH, fmt_shape, is_fixed
from ..graph import SymbolicTensor
from ..layers.cost import Cost
from ..layers.input_layer import InputLayer
from ..structure import flatten, map_structure
from .module_report import traced_cost
from .symbolic import text, tidy
from .report import Report, Row

__all__ = ["analyze_model", "nested_model_cost", "layer_row", "node_cost"]


# ---------------------------------------------------------------------- evaluation helpers
def _eval(expr, subs: dict) -> int | None:
    """An expression over dims at ``subs``: an int, or None while a dimension has no size."""
    value = formula.evaluate(expr, dims=subs)
    return value if isinstance(value, int) else None


def _bytes_of(dtype: str) -> int:
    return dtypes.itemsize(dtype)


def _numel(shape, subs) -> int | None:
    total = 1
    for d in shape:
        v = _eval(d, subs)
        if v is None:
            return None
        total *= v
    return total


def _per_call(per_sample, subs) -> int | None:
    """Per-sample work times the batch size (None when either is unknown)."""
    value = _eval(per_sample, subs)
    batch = _eval(BATCH, subs)
    return None if value is None or batch is None else value * batch


def _params_text(cost: Cost) -> str:
    """``n·u + u = 7·10 + 10``; a bare count when the rule has no symbols; ``0`` for none."""
    text = cost.params_formula
    numbers = cost.params_numbers
    return text if text == numbers else f"{text} = {numbers}"


def layer_row(name: str, layer, cost: Cost, output_shape: str, params: int, subs: dict, **extra) -> "Row":
    """One row of a report from a layer's cost rule, evaluated at ``subs``."""
    per_sample = cost.macs_expr()
    other = None if cost.other_flops is None else cost.other_per_sample()
    return Row(name, type(layer).__name__, output_shape, params, _params_text(cost),
               _per_call(per_sample, subs), cost.macs_formula, _per_call(other, subs),
               reads=cost.reads, needs_fixed=tuple(cost.needs_fixed),
               macs_expr="?" if per_sample is None else str(BATCH * per_sample), **extra)


def node_cost(node) -> tuple[Cost, str]:
    """The cost of one call of a layer in a graph, and where it comes from: the layer's rule, or — for a
    layer whose rule leaves the multiply-adds unknown — a trace of that layer at its symbolic input."""
    ins = map_structure(lambda t: t.symbolic_shape, node.args[0])
    outs = node.output_structure()
    outs = [t.symbolic_shape for t in outs] if isinstance(outs, list) else outs.symbolic_shape
    cost = node.layer.cost(ins, outs)
    if cost.macs is not None or hasattr(node.layer, "graph_nodes"):
        return cost, "rule"
    traced = traced_cost(node.layer, cost, node.args[0])
    return (cost, "rule") if traced is None else (traced, "traced")


# ---------------------------------------------------------------------- receptive field
def _spatial_count(t: SymbolicTensor) -> int:
    n = t.ndim - 1
    return n if t.dtype.startswith("int") else max(n - 1, 0)


def _rf_step(states: list, rule: tuple, n_out_axes: int) -> list:
    """Apply one layer's receptive-field rule to per-axis states (size, jump) or words."""
    kind = rule[0]
    if kind == "pointwise":
        out = list(states)
    elif kind == "global":
        out = ["whole input"] * max(len(states), 1)
    elif kind == "recurrent":
        out = ["whole sequence so far"] + list(states[1:])
    elif kind == "window":
        out = []
        windows = rule[1]
        offset = len(states) - len(windows)
        for i, st in enumerate(states):
            j = i - offset
            if j < 0 or not isinstance(st, tuple):
                out.append(st)
                continue
            k, s, d = windows[j]
            size, jump = st
            out.append((size + d * (k - 1) * jump, jump * s))
    else:
        out = ["?"] * len(states)
    if n_out_axes < len(out):
        out = out[:n_out_axes] if n_out_axes else (["whole input"] if any(x != (1, 1) for x in out) else [])
    while len(out) < n_out_axes:
        out.append((1, 1))
    return out


def _merge_rf(all_states: list[list]) -> list:
    n = max(len(s) for s in all_states)
    out = []
    for i in range(n):
        vals = [s[i] for s in all_states if i < len(s)]
        words = [v for v in vals if not isinstance(v, tuple)]
        if words:
            out.append(words[0])
        else:
            out.append(max(vals))
    return out


def _rf_display(states: list) -> tuple:
    """Sizes in input positions; after upsampling a size can be fractional, and the number of input positions
    an output reads is its whole part."""
    return tuple((math.floor(s[0]) if isinstance(s[0], Fraction) else s[0]) if isinstance(s, tuple) else s
                 for s in states)


# ---------------------------------------------------------------------- masks
def _mask_effect(layer, had: bool, has: bool) -> str:
    if has and not had:
        return "created"
    if had and has:
        return "created" if layer.mask_rule == "create" else "carried"
    if had and not has:
        return "consumed" if layer.mask_rule == "consume" else "dropped"
    return "none"


# ---------------------------------------------------------------------- the walk
def _graph_rows(model, subs: dict, dtype: str, prefix: str = "") -> tuple[list[Row], dict]:
    """Rows for every node of ``model`` (graph order) and per-tensor receptive-field states."""
    rows: list[Row] = []
    rf: dict[int, list] = {}
    seen_layers: dict[int, str] = {}
    saved_ids: set[int] = set()
    for node in model.graph_nodes():
        layer = node.layer
        if isinstance(layer, InputLayer):
            t = node.outputs[0]
            rf[id(t)] = [(1, 1)] * _spatial_count(t)
            rows.append(Row(prefix + layer.name, "InputLayer", fmt_shape(t.symbolic_shape), 0, "0", 0, "0", 0,
                            _activation_bytes(t, subs), _rf_display(rf[id(t)]), None, None, "none", (),
                            "the model's input", saved_bytes=0, macs_expr="0"))
            continue
        ins = node.args[0]
        out_shapes = node.output_structure()
        out_shapes = [t.symbolic_shape for t in out_shapes] if isinstance(out_shapes, list) else out_shapes.symbolic_shape
        cost, source = node_cost(node)
        shared = seen_layers.get(id(layer))
        params = 0 if shared else (layer.count_params() if layer.built else 0)
        seen_layers.setdefault(id(layer), prefix + layer.name)
        in_tensors = [t for t in flatten(ins) if isinstance(t, SymbolicTensor)]
        states = _merge_rf([rf.get(id(t), []) for t in in_tensors]) if in_tensors else []
        for t in node.outputs:
            rf[id(t)] = _rf_step(states, cost.rf, _spatial_count(t))
        had = any(t.mask is not None for t in in_tensors)
        has = any(m is not None for m in node.output_masks)
        mask_in = ", ".join(fmt_shape(t.mask.symbolic_shape) for t in in_tensors if t.mask is not None) or None
        mask_out = ", ".join(fmt_shape(m.symbolic_shape) for m in node.output_masks if m is not None) or None
        act = sum(filter(None, (_activation_bytes(t, subs) for t in node.outputs))) if all(
            _activation_bytes(t, subs) is not None for t in node.outputs) else None
        saved = _saved_bytes(cost.saved, in_tensors, node.outputs, subs, dtype, saved_ids)
        children = [_child_row(name, c, subs) for name, c in cost.children]
        name = prefix + layer.name + (f" (call {layer._inbound_nodes.index(node)})" if shared else "")
        rows.append(layer_row(
            name, layer, cost, fmt_shape(out_shapes), params, subs,
            activation_bytes=act, receptive_field=_rf_display(rf[id(node.outputs[0])]), mask_in=mask_in,
            mask_out=mask_out, mask_effect=_mask_effect(layer, had, has),
            connected_to=[f"{t.node.layer.name}" for t in in_tensors], shared_with=shared, children=children,
            saved_bytes=saved, macs_source=source))
    return rows, rf


def _saved_bytes(items, inputs, outputs, subs, dtype, saved_ids: set) -> int | None:
    """Bytes autograd keeps for this layer; a tensor kept by two layers counts once."""
    total = 0
    for item in items:
        if item in ("input", "output"):
            for t in (inputs if item == "input" else outputs):
                if id(t) in saved_ids:
                    continue
                saved_ids.add(id(t))
                b = _activation_bytes(t, subs)
                if b is None:
                    return None
                total += b
        else:
            elements, itemsize = item
            n = _eval(elements, subs)
            if n is None:
                return None
            total += n * (itemsize or _bytes_of(dtype))
    return total


def _child_row(name, cost, subs) -> dict:
    return {"name": name, "params_formula": _params_text(cost), "macs": _per_call(cost.macs_expr(), subs),
            "macs_formula": cost.macs_formula, "reads": cost.reads}


def _activation_bytes(t: SymbolicTensor, subs) -> int | None:
    n = _numel(t.symbolic_shape, subs)
    return None if n is None else n * _bytes_of(t.dtype)


def nested_model_cost(model) -> Cost:
    """The cost rule of a model used as a layer: the sum of its own layers' rules, per sample."""
    macs, other, count = sympy.Integer(0), sympy.Integer(0), 0
    for node in model.graph_nodes():
        if isinstance(node.layer, InputLayer):
            continue
        cost, _ = node_cost(node)
        count += 1
        m = cost.macs_expr()
        macs = None if (macs is None or m is None) else macs + m
        o = None if cost.other_flops is None else cost.other_per_sample()
        other = None if (other is None or o is None) else other + o
    return Cost(params=model.count_params(), macs=macs, other_flops=other,
                reads=f"runs the {count}-layer model '{model.name}' (its costs are the sum of its layers')",
                rf=("unknown",))


def _peak_inference(model, rows_by_tensor: dict[int, int | None]) -> int | None:
    """Largest sum of live activations when each output is freed after its last consumer."""
    nodes = model.graph_nodes()
    last_use: dict[int, int] = {}
    for i, node in enumerate(nodes):
        for p in node.parents:
            last_use[id(p)] = i
    outputs = {id(t) for t in model.outputs}
    live: dict[int, int] = {}
    peak = 0
    for i, node in enumerate(nodes):
        for t in node.outputs:
            size = rows_by_tensor.get(id(t))
            if size is None:
                return None
            live[id(t)] = size
        peak = max(peak, sum(live.values()))
        for key in [k for k in live if last_use.get(k, -1) <= i and k not in outputs]:
            del live[key]
    return peak


def analyze_model(model, input_shape=None, batch_size: int = 1, dtype: str = "float32") -> Report:
    """Analyse ``model`` from its layers' cost rules (no data, no forward pass).

    Args:
        model: a built Sequential or functional Model.
        input_shape: optional concrete input shape(s) with the batch axis, e.g. ``(8, 28, 28, 1)``;
            variable dimensions then take these sizes.
        batch_size: the batch size used for memory and MACs when ``input_shape`` does not give one.
        dtype: the float type used for memory figures.

    Every row's ``macs_formula`` is per sample over the named dimensions; ``macs`` is the
    number at ``batch_size`` (``None`` while a dimension is unknown, never 0).
    """
    if not getattr(model, "built", False) or not model.inputs:
        raise ValueError(f"Model '{model.name}' is not built yet: give it an Input (or call it on data) first.")
    subs: dict = {BATCH: batch_size}
    if input_shape is not None:
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        if len(shapes) != len(model.inputs):
            raise ValueError(f"Model '{model.name}' has {len(model.inputs)} inputs; input_shape gives {len(shapes)} shapes.")
        for t, s in zip(model.inputs, shapes):
            s = tuple(s)
            model.check_input_shape(t, s)
            for sym, value in zip(t.symbolic_shape, s):
                if not is_fixed(sym) and value is not None:
                    subs[sym] = int(value)
    rows, _ = _graph_rows(model, subs, dtype)
    bytes_per = _bytes_of(dtype)
    unique = {}
    for w in model.weights:
        unique[id(w)] = w
    params = sum(w.numel() for w in unique.values())
    trainable = sum(w.numel() for w in unique.values() if getattr(w, "requires_grad", False))
    macs_list = [r.macs for r in rows]
    macs = None if any(m is None for m in macs_list) else sum(macs_list)
    known = sum(m for m in macs_list if m is not None)
    total_expr = _total_macs_formula(model, rows, subs)
    per_tensor = {}
    for node in model.graph_nodes():
        for t in node.outputs:
            per_tensor[id(t)] = _activation_bytes(t, subs)
    peak = _peak_inference(model, per_tensor)
    saved = [r.saved_bytes for r in rows]
    saved_total = None if any(s is None for s in saved) else sum(saved)
    weights_b = params * bytes_per
    train_b = trainable * bytes_per
    training = None if saved_total is None else weights_b + train_b + 2 * train_b + saved_total
    totals = {
        "params": params, "trainable_params": trainable, "non_trainable_params": params - trainable,
        "macs": macs, "macs_known_part": known, "flops": None if macs is None else 2 * macs,
        "other_flops": None if any(r.other_flops is None for r in rows) else sum(r.other_flops for r in rows),
        "peak_inference_activation_bytes": peak, "weights_bytes": weights_b,
        "training_memory_bytes": training,
        "training_memory_breakdown": {"weights": weights_b, "gradients": train_b, "optimizer_state (Adam: 2 per weight)": 2 * train_b,
                                      "activations_saved_for_backward": saved_total},
    }
    totals["formulas"] = {"macs": text(total_expr), "flops": None if total_expr is None else text(tidy(2 * total_expr))}
    dims = {str(k): v for k, v in subs.items()}
    return Report(model.name, rows, totals, dims, subs.get(BATCH))


def _total_macs_formula(model, rows, subs):
    """The model's multiply-adds as one formula: the sum of its rows' per-call formulas over the input's dims,
    the sizes given in ``subs`` put in; None when a row's cost is unknown."""
    if any(r.macs_expr == "?" for r in rows):
        return None
    names = {str(BATCH): BATCH}
    for t in model.inputs:
        names.update({str(d): d for d in t.symbolic_shape if not is_fixed(d)})
    total = sympy.Add(*[sympy.sympify(r.macs_expr or "0", locals=names) for r in rows])
    return tidy(total.xreplace({k: sympy.Integer(v) for k, v in subs.items() if isinstance(k, sympy.Symbol)}))
