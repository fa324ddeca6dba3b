"""Any ``torch.nn.Module``, analysed from its ``torch.export`` graph.

The module is exported once at the example inputs with the dimensions the user names kept symbolic
(``tracer.trace``). Every operator of the graph is costed from its arguments' symbolic shapes
(``op_costs``) and credited to the module that ran it and to each module above it (``nn_module_stack``),
so each row holds a formula over the named dims — ``24·B·T² + 3072·B·T`` — for that module and
everything inside it. Parameters come from the module's own tensors, a tensor shared by two modules
counted once. Activation memory and a training-memory estimate are formulas too, from the sizes of
the graph's tensors; receptive fields come from the graph's windows (``graph_rf``).

When torch.export cannot trace the module (data-dependent control flow), ``measured.measure_module``
counts it at the example inputs instead, and the report says so.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import operator

import sympy
import torch

from .. import dtypes
from ..dims import BATCH, fmt_shape, symbol
from ..graph import SymbolicTensor
from ..layers.cost import Cost
from ..structure import flatten
from .graph_rf import display, receptive_fields
from .op_costs import op_cost, op_name
from .params import model_params, module_params, owners, row_depth
from .report import Report, Row
from .symbolic import prod, text, tidy, value
from .tracer import ExportFailed, trace

__all__ = ["report_from_trace", "traced_cost", "graph_costs"]

_CONTRACTIONS = {"mm", "addmm", "bmm", "baddbmm", "addbmm", "matmul", "linear", "mv", "addmv", "dot", "conv1d",
                 "conv2d", "conv3d", "convolution", "_convolution", "conv_transpose1d", "conv_transpose2d",
                 "conv_transpose3d", "scaled_dot_product_attention", "einsum", "lstm", "gru", "rnn_tanh", "rnn_relu",
                 "rnn", "embedding"}


@dataclass
class _Module:
    """What one module (with everything inside it) does in the graph."""
    type: str
    macs: list = field(default_factory=list)
    other: list = field(default_factory=list)
    saved: dict = field(default_factory=dict)    # fx node -> bytes, each tensor once
    saved_extra: list = field(default_factory=list)
    ops: Counter = field(default_factory=Counter)
    unknown: Counter = field(default_factory=Counter)
    nodes: set = field(default_factory=set)


def _path_of(fqn: str) -> str | None:
    """export's path under the tracing wrapper → the user's path ('' is the model); None for the wrapper."""
    if fqn == "module":
        return ""
    if fqn.startswith("module."):
        return fqn[len("module."):]
    return None


def _stack(node, root_type: str) -> list[tuple[str, str]]:
    stack = node.meta.get("nn_module_stack") or {}
    out = []
    for fqn, cls in stack.values():
        path = _path_of(fqn)
        if path is not None:
            out.append((path, (cls if isinstance(cls, str) else cls.__qualname__).rsplit(".", 1)[-1]))
    return out or [("", root_type)]


def _bytes(node, shape_of):
    val = node.meta.get("val")
    if isinstance(val, torch.Tensor):
        n = prod(shape_of(node)) if shape_of(node) is not None else None
        return None if n is None else n * val.dtype.itemsize
    if isinstance(val, (list, tuple)) and val and all(isinstance(v, torch.Tensor) for v in val):
        conv = shape_of.converter
        parts = [prod(conv.shape(v.shape) or [None]) for v in val]
        return None if any(p is None for p in parts) else sum(p * v.dtype.itemsize for p, v in zip(parts, val))
    return sympy.Integer(0)


class _Shapes:
    """fx node → its shape in the user's names (cached); None for a value that is not a tensor."""

    def __init__(self, converter):
        self.converter, self._cache = converter, {}

    def __call__(self, node):
        if node not in self._cache:
            val = node.meta.get("val") if isinstance(node, torch.fx.Node) else None
            self._cache[node] = self.converter.shape(val.shape) if isinstance(val, torch.Tensor) else None
        return self._cache[node]


def graph_costs(tr) -> tuple[dict, list, object]:
    """{module path: _Module} (inclusive), the paths in the order they first run, and the shape lookup."""
    program = tr.program
    sig = program.graph_signature
    weights = set(sig.inputs_to_parameters) | set(sig.inputs_to_buffers) | set(sig.inputs_to_lifted_tensor_constants)
    shape_of = _Shapes(tr.converter)

    def is_activation(n):
        return not (n.op == "placeholder" and n.name in weights) and n.op != "get_attr"
    modules: dict[str, _Module] = {}
    root_type = type(tr.root).__name__
    for node in program.graph.nodes:
        if node.op != "call_function":
            continue
        cost = op_cost(node, shape_of, is_activation)
        name = op_name(node.target)
        short = name.split(".", 1)[-1]
        for path, cls in _stack(node, root_type):
            m = modules.setdefault(path, _Module(cls))
            m.nodes.add(node)
            m.macs.append(cost.macs)
            m.other.append(cost.other)
            if not cost.known:
                m.unknown[name] += 1
            elif short in _CONTRACTIONS or name == "glassnet.rnn":
                m.ops[short if name != "glassnet.rnn" else node.args[0]] += 1
            elif cost.other is not None and cost.other != 0:
                m.ops["element-wise"] += 1
            for s in cost.saved:
                m.saved.setdefault(s, _bytes(s, shape_of))
            m.saved_extra.append(cost.saved_bytes)
    position = {n: i for i, n in enumerate(program.graph.nodes)}
    order = sorted(modules, key=lambda p: (p != "", min(position[n] for n in modules[p].nodes), p.count(".")))
    return modules, order, shape_of


def _total(terms):
    return None if any(t is None for t in terms) else tidy(sympy.Add(*terms))


def _known(terms):
    return tidy(sympy.Add(*[t for t in terms if t is not None]))


def _shape_text(shape) -> str:
    if shape is None:
        return "?"
    return "(" + ", ".join(text(d) for d in shape) + (",)" if len(shape) == 1 else ")")


def _outputs(program, members: set, whole: bool) -> list:
    """The tensors a module hands on: read outside it (in graph order); the graph's outputs for the model."""
    if whole:
        out_node = next(n for n in reversed(program.graph.nodes) if n.op == "output")
        return [a for a in flatten(out_node.args[0]) if isinstance(a, torch.fx.Node)]
    return [n for n in program.graph.nodes if n in members and any(u not in members for u in n.users)]


def _peak(program, shape_of, sizes, user_inputs: set):
    """Largest sum of live activations, each tensor freed after its last reader (views share their base):
    the formula of the tensors alive at the step that is largest at the example sizes."""
    owner, size, last = {}, {}, {}
    nodes = list(program.graph.nodes)
    for i, n in enumerate(nodes):
        if n.op == "placeholder" and n.name not in user_inputs:
            continue
        aliasing = isinstance(n.target, torch._ops.OpOverload) and any(
            r.alias_info is not None for r in n.target._schema.returns) or n.target is operator.getitem
        base = n.args[0] if aliasing and n.args and isinstance(n.args[0], torch.fx.Node) else None
        owner[n] = owner.get(base, n) if base is not None and base in owner else n
        if owner[n] is n:
            size[n] = _bytes(n, shape_of)
        for a in n.all_input_nodes:
            if a in owner:
                last[owner[a]] = i
    outputs = {owner.get(a) for a in _outputs(program, set(), True)}
    live, best, best_value = {}, [], -1
    for i, n in enumerate(nodes):
        if n in size:
            if size[n] is None:
                return None
            live[n] = size[n]
        current = sum(value(v, sizes) or 0 for v in live.values())
        if current > best_value:
            best_value, best = current, list(live.values())
        for k in [k for k in live if last.get(k, -1) <= i and k not in outputs]:
            del live[k]
    return tidy(sympy.Add(*best))


def report_from_trace(tr) -> Report:
    """The report of a traced module: one row per module that ran, totals, formulas, constraints."""
    program, sizes = tr.program, tr.sizes
    modules, order, shape_of = graph_costs(tr)
    sig = program.graph_signature
    user_inputs = set(sig.user_inputs)
    rf = receptive_fields(program.graph, user_inputs, shape_of)
    holders = owners(tr.root)
    rows, exprs = [], {"rows": {}, "totals": {}}
    for path in order:
        m = modules[path]
        sub = tr.root.get_submodule(path) if path else tr.root
        params, params_formula, shared = module_params(sub, path, holders)
        macs = _total(m.macs)
        other = _total(m.other)
        outs = _outputs(program, m.nodes, path == "")
        out_shapes = [shape_of(o) for o in outs if shape_of(o) is not None]
        act = _total([_bytes(o, shape_of) for o in outs])
        saved = _total(list(m.saved.values()) + m.saved_extra)
        name = path or type(tr.root).__name__
        field_ = max((display(rf.get(o)) for o in outs), key=lambda t: (len(t), [x for x in t if isinstance(x, int)]),
                      default=())
        reads = ", ".join(f"{op} ×{k}" for op, k in m.ops.most_common()) or "no arithmetic"
        if m.unknown:
            reads += "; unknown cost: " + ", ".join(f"{op} ×{k}" for op, k in m.unknown.most_common())
        fixed = tuple(c.sentence() for c in tr.constraints if c.module == path)
        rows.append(Row(
            name, m.type, _shape_text(out_shapes[0]) if len(out_shapes) == 1 else
            "[" + ", ".join(_shape_text(s) for s in out_shapes[:3]) + (", …" if len(out_shapes) > 3 else "") + "]",
            params, params_formula, value(macs, sizes), text(macs) if macs is not None else "?", value(other, sizes),
            activation_bytes=value(act, sizes), receptive_field=field_, needs_fixed=fixed, reads=reads,
            shared_with=shared, macs_expr="?" if macs is None else str(macs), saved_bytes=value(saved, sizes),
            depth=row_depth(path, modules), macs_source="export", unknown_ops=tuple(m.unknown)))
        exprs["rows"][name] = {"macs": macs, "other_flops": other, "activation_bytes": act, "saved_bytes": saved}
    root = modules.get("") or _Module(type(tr.root).__name__)
    totals, texts = _totals(tr.root, root, program, shape_of, sizes, user_inputs, exprs["totals"])
    dims = dict(sizes)
    notes = []
    if root.unknown:
        notes.append("Operators without a cost rule make the MACs unknown (never 0): "
                     + ", ".join(f"{op} ×{k}" for op, k in root.unknown.most_common()) + ".")
    totals["formulas"] = texts
    return Report(type(tr.root).__name__, rows, totals, dims, dims.get(BATCH.name), method="export",
                  notes=notes, constraints=tr.constraints, exprs=exprs)


def _totals(module, root, program, shape_of, sizes, user_inputs, exprs) -> tuple[dict, dict]:
    p = model_params(module)
    macs, other = _total(root.macs), _total(root.other)
    saved = _total(list(root.saved.values()) + root.saved_extra)
    peak = _peak(program, shape_of, sizes, user_inputs)
    training = None if saved is None else tidy(saved + p["weights_bytes"] + 3 * p["trainable_bytes"])
    exprs.update({"macs": macs, "macs_known_part": _known(root.macs), "other_flops": other,
                  "peak_inference_activation_bytes": peak, "activations_saved_for_backward_bytes": saved,
                  "training_memory_bytes": training})
    totals = {
        "params": p["params"], "trainable_params": p["trainable_params"],
        "non_trainable_params": p["non_trainable_params"], "buffers": p["buffers"],
        "macs": value(macs, sizes), "macs_known_part": value(_known(root.macs), sizes),
        "flops": None if macs is None else 2 * value(macs, sizes), "other_flops": value(other, sizes),
        "peak_inference_activation_bytes": value(peak, sizes),
        "activations_saved_for_backward_bytes": value(saved, sizes), "weights_bytes": p["weights_bytes"],
        "training_memory_bytes": value(training, sizes),
        "training_memory_breakdown": {"weights": p["weights_bytes"], "gradients": p["trainable_bytes"],
                                      "optimizer_state (Adam: 2 per weight)": 2 * p["trainable_bytes"],
                                      "activations_saved_for_backward": value(saved, sizes)},
    }
    texts = {k: (text(v) if v is not None else None) for k, v in exprs.items() if k != "macs_known_part"}
    texts["flops"] = None if macs is None else text(tidy(2 * macs))
    return totals, texts


# ---------------------------------------------------------------------- glassnet layers without a cost rule
def traced_cost(layer, cost: Cost, inputs) -> Cost | None:
    """A glassnet layer whose cost rule leaves the multiply-adds unknown (a user's Layer, a Lambda), traced
    alone with torch.export at its symbolic input shape: its MACs and element-wise work per sample as
    formulas over the input's dims. None when the layer cannot be traced (it then stays unknown)."""
    tensors = [t for t in flatten(inputs) if isinstance(t, SymbolicTensor)]
    if not tensors:
        return None
    example, names, back = _example_sizes(tensors)
    xs = [torch.zeros(shape, dtype=dtypes.to_torch(t.dtype)) if not dtypes.to_torch(t.dtype).is_floating_point
          else torch.randn(shape, dtype=dtypes.to_torch(t.dtype)) for t, shape in zip(tensors, example)]
    arg = xs[0] if isinstance(inputs, SymbolicTensor) else xs
    axes = [{i: n for i, n in enumerate(ns) if n is not None} for ns in names]
    dynamic = {"inputs": axes[0] if isinstance(inputs, SymbolicTensor) else axes}
    try:
        tr = trace(layer, (arg,), dynamic)
    except (ExportFailed, TypeError, ValueError) as exc:
        cost.reads += f"; tracing it with torch.export failed too ({str(exc)[:120]})"
        return None
    pinned = [c for c in tr.constraints if c.kind in ("fixed", "relation")]
    if pinned:  # the trace holds at one size only (a Python loop over T, a view of a fixed size)
        cost.reads += (f"; tracing it with torch.export pinned {pinned[0].text} ({pinned[0].where}), so its "
                       "multiply-adds at other sizes stay unknown")
        return None
    modules, _, _ = graph_costs(tr)
    root = modules.get("")
    if root is None:
        return None
    per_sample = []
    for terms in (root.macs, root.other):
        total = _total(terms)
        per_sample.append(None if total is None else _per_sample(total.xreplace(back)))
    if per_sample[0] is None:
        return None
    measured = f"its multiply-adds were measured by tracing it with torch.export at input {fmt_shape(tensors[0].symbolic_shape)}"
    reads = cost.reads
    for unknown in ("its multiply-adds are unknown", "its cost is unknown"):
        reads = reads.replace(unknown, measured)
    return Cost(params=cost.params, values=cost.values, macs=per_sample[0], other_flops=per_sample[1],
                reads=reads if measured in reads else f"{reads}; {measured}", rf=cost.rf, needs_fixed=cost.needs_fixed,
                saved=cost.saved)


def _per_sample(total):
    """Work per sample: the total over the batch size B, when it is B times something."""
    per = sympy.expand(total / BATCH)
    if per.has(BATCH):
        return None
    factored = sympy.factor(per)
    return factored if len(str(factored)) < len(str(per)) else per


def _example_sizes(tensors) -> tuple[list, list, dict]:
    """Example shapes for symbolic inputs (each named dim its own size), the names to keep dynamic, and
    how to write a stand-in name (for a derived dim such as H-2) back as its expression."""
    sizes, back, out_shapes, out_names = {}, {}, [], []
    primes = iter([17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79])
    for t in tensors:
        for d in t.symbolic_shape:
            for s in (d.free_symbols if isinstance(d, sympy.Basic) else ()):
                sizes.setdefault(s, 3 if s == BATCH else next(primes))
    for k, t in enumerate(tensors):
        shape, names = [], []
        for i, d in enumerate(t.symbolic_shape):
            if isinstance(d, int):
                shape.append(d)
                names.append(None)
                continue
            shape.append(int(d.xreplace({s: sympy.Integer(v) for s, v in sizes.items()})))
            if d.is_Symbol:
                names.append(d.name)
            else:
                stand_in = f"_d{k}_{i}"
                names.append(stand_in)
                back[symbol(stand_in)] = d
        out_shapes.append(tuple(shape))
        out_names.append(names)
    return out_shapes, out_names, back
