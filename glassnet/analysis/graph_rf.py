"""Receptive fields on an exported graph: how many input positions along each axis one output
position sees, from the convolution and pooling windows (kernel, stride, dilation) on every path from
the input — through branches (a residual add, a concatenation) the larger field wins.

State per tensor axis: ``None`` (batch, channels, or not followed), ``(size, jump, windowed)`` (the field
and the distance in input positions between neighbouring outputs), or ``"whole input"`` after a global
pooling. Padding moves where a field starts, not its size.
"""
from __future__ import annotations

import torch

from .op_costs import ELEMENTWISE_OPS, op_name, window_of

__all__ = ["receptive_fields", "display"]

_PASS = ELEMENTWISE_OPS | {
    "batch_norm", "_native_batch_norm_legit_no_training", "_native_batch_norm_legit", "native_batch_norm",
    "layer_norm", "group_norm", "instance_norm", "dropout", "native_dropout", "feature_dropout", "clone",
    "contiguous", "_to_copy", "to", "alias", "detach", "constant_pad_nd", "pad", "reflection_pad1d",
    "reflection_pad2d", "replication_pad1d", "replication_pad2d", "type_as", "copy", "lift_fresh_copy",
}
_GLOBAL = {"adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d",
           "adaptive_max_pool2d", "adaptive_max_pool3d", "_adaptive_avg_pool2d", "_adaptive_avg_pool3d"}


def _merge(states: list) -> list | None:
    states = [s for s in states if s is not None]
    if not states:
        return None
    n = max(len(s) for s in states)
    out = []
    for i in range(n):
        vals = [s[i - (n - len(s))] for s in states if i - (n - len(s)) >= 0]
        vals = [v for v in vals if v is not None]
        words = [v for v in vals if isinstance(v, str)]
        if words:
            out.append(words[0])
        elif vals:
            out.append((max(v[0] for v in vals), max(v[1] for v in vals), any(v[2] for v in vals)))
        else:
            out.append(None)
    return out


def _window(state, windows, batched: bool):
    first = 2 if batched else 1
    out = [None] * first  # batch and channels: every channel is read
    for axis, (k, s, _, d) in zip(range(first, len(state)), windows):
        v = state[axis]
        if v is None or isinstance(v, str):
            out.append(v)
        else:
            size, jump, _ = v
            out.append((size + (k - 1) * d * jump, jump * s, True))
    return out


def receptive_fields(graph, user_inputs: set, shape_of) -> dict:
    """{fx node: per-axis state} for every node a windowed path reaches from a user input."""
    state: dict = {}
    for node in graph.nodes:
        if node.op == "placeholder":
            val = node.meta.get("val")
            if node.name in user_inputs and isinstance(val, torch.Tensor) and val.dim() >= 3 and val.is_floating_point():
                state[node] = [None] + [(1, 1, False)] * (val.dim() - 1)
            continue
        if node.op != "call_function":
            continue
        ins = [a for a in node.args if isinstance(a, torch.fx.Node) and a in state]
        if not ins:
            continue
        name = op_name(node.target).split(".", 1)[-1]
        name = name[:-1] if name.endswith("_") and name[:-1] in _PASS else name
        out = shape_of(node)
        x = state.get(node.args[0]) if isinstance(node.args[0], torch.fx.Node) else None
        windows = window_of(node, shape_of) if name != "getitem" else None
        if windows is not None and x is not None:
            state[node] = _window(x, windows, batched=len(x) == len(windows) + 2)
        elif name in _GLOBAL and x is not None and out is not None:
            inp = shape_of(node.args[0])
            state[node] = x[:2] + ["whole input" if o == 1 and i != 1 else (v if o == i else None)
                                   for o, i, v in zip(out[2:], inp[2:], x[2:])]
        elif name in ("mean", "sum", "amax", "amin") and x is not None and node.kwargs.get("keepdim", len(node.args) > 2 and node.args[2]):
            dims = node.args[1] if len(node.args) > 1 else list(range(len(x)))
            dims = {d % len(x) for d in ([dims] if isinstance(dims, int) else dims)}
            state[node] = ["whole input" if i in dims and v is not None else v for i, v in enumerate(x)]
        elif name in _PASS and out is not None:
            merged = _merge([state.get(a) for a in ins if len(state[a]) == len(out)])
            if merged is not None:
                state[node] = merged
        elif name in ("cat", "concat") and out is not None:
            tensors = [t for t in node.args[0] if t in state]
            merged = _merge([state[t] for t in tensors])
            dim = (node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)) % len(out)
            if merged is not None:
                merged[dim] = None
                state[node] = merged
        elif name == "transpose" and x is not None:
            a, b = (d % len(x) for d in node.args[1:3])
            y = list(x)
            y[a], y[b] = y[b], y[a]
            state[node] = y
        elif name == "permute" and x is not None:
            state[node] = [x[d % len(x)] for d in node.args[1]]
    return state


def display(states: list) -> tuple:
    """What a row shows: the field size per windowed axis (``(435, 435)``), or ``()`` where no window ran."""
    if not states:
        return ()
    out = []
    for v in states:
        if isinstance(v, str):
            out.append(v)
        elif v is not None and v[2]:
            out.append(int(v[0]))
    return tuple(out)
