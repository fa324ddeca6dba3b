"""Running a recorded graph: nodes in topological order, each given its tensors and, beside them, masks."""
from __future__ import annotations

from ..structure import flatten, map_structure
from .node import Node, SymbolicTensor

__all__ = ["topological_nodes", "run_nodes"]


def topological_nodes(outputs: list[SymbolicTensor]) -> list[Node]:
    """Every node the outputs depend on, parents before children (stable DFS order)."""
    order: list[Node] = []
    state: dict[int, int] = {}
    for out in outputs:
        stack = [(out.node, False)]
        while stack:
            node, done = stack.pop()
            if done:
                if state.get(id(node)) != 2:
                    state[id(node)] = 2
                    order.append(node)
                continue
            if state.get(id(node)):
                continue
            state[id(node)] = 1
            stack.append((node, True))
            for p in reversed(node.parents):
                if state.get(id(p.node)) is None:
                    stack.append((p.node, False))
    return order


def _substitute(x, values: dict):
    return map_structure(lambda v: values[id(v)] if isinstance(v, SymbolicTensor) else v, x)


def run_nodes(nodes: list[Node], values: dict, masks: dict, training) -> None:
    """Execute ``nodes`` in order, filling ``values`` and ``masks`` (keyed by symbolic tensor id)."""
    for node in nodes:
        layer = node.layer
        if node.simple and not node.returns_masks:
            t = node.args[0]
            x = values[id(t)]
            in_mask = masks.get(id(t))
            out = layer(x, mask=in_mask, training=training) if node.accepts_mask else layer(x, training=training)
            out_masks = layer.compute_mask(x, in_mask)
            if not node.multi_output:
                values[id(node.outputs[0])] = out
                masks[id(node.outputs[0])] = out_masks
                continue
        else:
            out, out_masks = _run_general(node, layer, values, masks, training)
        outs = list(out) if node.multi_output else [out]
        if not isinstance(out_masks, list):
            out_masks = [out_masks] + [None] * (len(outs) - 1)
        for sym, value, m in zip(node.outputs, outs, out_masks):
            values[id(sym)] = value
            masks[id(sym)] = m


def _run_general(node, layer, values, masks, training):
    """A node with several inputs or keyword arguments: substitute values into its call structure and route
    the masks of its tensor arguments as ``mask_routing`` decided when the node was recorded."""
    args = _substitute(node.args, values)
    kwargs = _substitute(node.kwargs, values) if node.kwargs else {}

    def masks_of(structure):
        found = map_structure(lambda t: masks.get(id(t)) if isinstance(t, SymbolicTensor) else None, structure)
        return None if all(m is None for m in flatten(found)) else found
    for name, structure in node.mask_routes.items():
        kwargs[name] = masks_of(structure)
    if "mask" in kwargs:
        in_mask = kwargs["mask"]
    else:
        in_mask = masks_of(node.args[0])  # the first argument's masks decide the output mask
        if node.returns_masks:
            kwargs["mask"] = in_mask
    if "training" not in kwargs:
        kwargs["training"] = training
    if node.returns_masks:
        return layer.call_with_masks(*args, **kwargs)
    return layer(*args, **kwargs), layer.compute_mask(args[0], in_mask)
