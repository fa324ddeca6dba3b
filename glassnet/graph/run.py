"""Running a recorded graph: nodes in topological order, each given its tensors and, beside them, masks."""
from __future__ import annotations

from ..structure import flatten, map_structure
from .node import Node, SymbolicTensor

__all__ = ["topological_nodes", "run_nodes", "keras_order", "keras_run_order"]


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


def _keras_walk(outputs: list[SymbolicTensor]) -> tuple[list[Node], dict[int, object], dict[int, int]]:
    """Keras's depth-first walk from the outputs (``keras.src.ops.function._build_map``): the nodes in post
    order (parents first), the layers by id, and the number each layer got when first seen."""
    first_seen: dict[int, int] = {}
    layers: dict[int, object] = {}
    post: list[Node] = []
    finished: set[int] = set()
    for out in outputs:
        if out.node is None or id(out.node) in finished:
            continue
        stack = [(out.node, None)]
        while stack:
            node, it = stack.pop()
            if it is None:
                if id(node) in finished:
                    continue
                layers.setdefault(id(node.layer), node.layer)
                first_seen.setdefault(id(node.layer), len(first_seen))
                it = iter(node.parents if node.parents else ())
            for parent in it:
                if parent.node is not None and id(parent.node) not in finished:
                    stack.append((node, it))
                    stack.append((parent.node, None))
                    break
            else:
                finished.add(id(node))
                post.append(node)
    return post, layers, first_seen


def keras_run_order(outputs: list[SymbolicTensor]) -> list[Node]:
    """The nodes in the order Keras runs a functional graph (``Function._run_through_graph``): by depth, the
    longest distance to an output with a layer's calls sharing the deepest, deepest first; within a depth
    in the order ``map_graph`` first meets them. Results do not depend on it; side effects do (a
    BatchNormalization called twice updates its moving statistics in this order)."""
    post, _, _ = _keras_walk(outputs)
    in_graph = {id(n) for n in post}
    nodes: dict[int, Node] = {}
    depth: dict[int, int] = {}   # insertion order is the order map_graph meets the nodes
    layer_depth: dict[int, int] = {}
    for node in reversed(post):
        d = depth.setdefault(id(node), 0)
        nodes[id(node)] = node
        d = max(d, layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = d
        depth[id(node)] = d
        for parent in node.parents:
            p = parent.node
            if p is not None and id(p) in in_graph:
                nodes[id(p)] = p
                depth[id(p)] = max(d + 1, depth.get(id(p), 0))
    by_depth: dict[int, list[Node]] = {}
    for key, d in depth.items():
        by_depth.setdefault(d, []).append(nodes[key])
    return [n for d in sorted(by_depth, reverse=True) for n in by_depth[d]]


def keras_order(inputs: list[SymbolicTensor], outputs: list[SymbolicTensor]) -> list:
    """The graph's layers in Keras's order (``keras.src.ops.function.map_graph``), which is the order of a
    functional model's ``layers``, of its config and of the weights in Keras's files: a depth-first walk from
    the outputs numbers each layer when first seen; each node's depth is its longest distance to an output;
    layers come deepest first, ties by their first-seen number."""
    post, layers, first_seen = _keras_walk(outputs)
    in_graph = {id(n) for n in post}
    node_depth: dict[int, int] = {}
    layer_depth: dict[int, int] = {}
    for node in reversed(post):
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = depth
        node_depth[id(node)] = depth
        for parent in node.parents:
            p = parent.node
            if p is not None and id(p) in in_graph:
                node_depth[id(p)] = max(depth + 1, node_depth.get(id(p), 0))
    for t in inputs:  # an input no output depends on still belongs to the model
        if t.node is not None and id(t.node.layer) not in layer_depth:
            layers[id(t.node.layer)] = t.node.layer
            layer_depth[id(t.node.layer)] = 0
            first_seen[id(t.node.layer)] = -1
    order = sorted(layer_depth, key=lambda k: (-layer_depth[k], first_seen[k]))
    return [layers[k] for k in order]
