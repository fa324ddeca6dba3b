"""The graph of a subclassed model whose ``call`` cannot run on symbolic tensors (torch functions between its
layers): one eager run records each layer's call, and autograd's graph says which earlier outputs each input
came from. Work done between layers becomes a node of its own, ``TorchOps``, whose cost is unknown (never 0).
"""
from __future__ import annotations

import torch

from ..dims import BATCH, is_fixed
from ..graph import Node, SymbolicTensor, call_flags
from ..layers.base import Layer, name_scope
from ..layers.cost import Cost
from ..structure import flatten, map_structure

__all__ = ["record_graph", "TorchOps"]

_BATCH = 2  # the batch size of the recording run; the first axis of that size is the batch axis


class TorchOps(Layer):
    """Torch operations in a subclassed model's ``call`` between its layers (shown in reports, cost unknown)."""

    def call(self, inputs):
        raise TypeError("TorchOps only stands for recorded work; it is never called.")

    def cost(self, input_shape, output_shape):
        return Cost.unknown(self, "torch operations in the model's call() between its layers; their cost is not "
                                  "known to glassnet")


def record_graph(model, inputs):
    """Run ``model.call`` once on zeros shaped like the symbolic ``inputs`` and return its outputs as symbolic
    tensors, with a node per layer call (None when an output cannot be traced back)."""
    flat_inputs = flatten(inputs)
    run_sizes: dict = {}
    sizes = {}
    values = []
    for sym in flat_inputs:
        dims = []
        for d in sym.symbolic_shape[1:]:
            if is_fixed(d):
                dims.append(d)
            else:
                size = run_sizes.setdefault(d, 7 + 2 * len(run_sizes))
                sizes[size] = d
                dims.append(size)
        values.append(torch.zeros((_BATCH, *dims), dtype=model.dtype, requires_grad=True))
    it = iter(values)
    x = map_structure(lambda _: next(it), inputs)
    records = []
    hooks = [layer.register_forward_hook(lambda m, a, k, out: records.append((m, a, k, out)), with_kwargs=True)
             for layer in model._sublayers()]
    accepts_mask, accepts_training = call_flags(model)
    try:
        with torch.enable_grad(), name_scope(model.name):
            out = model.call(x, **({"training": False} if accepts_training else {}))
    finally:
        for h in hooks:
            h.remove()
    direct = {id(t): s for t, s in zip(values, flat_inputs)}
    by_grad: dict = {}
    counter = [0]

    def shape_of(t):
        shape = tuple(t.shape)
        if not shape:
            return shape
        first = BATCH if shape[0] == _BATCH else shape[0]
        return (first, *(sizes.get(d, d) for d in shape[1:]))

    def dtype_of(t):
        return str(t.dtype).replace("torch.", "")

    def resolve(t):
        if not isinstance(t, torch.Tensor):
            return t
        if id(t) in direct:
            return direct[id(t)]
        parents, seen, queue = [], set(), [t.grad_fn] if t.grad_fn is not None else []
        while queue:
            fn = queue.pop(0)
            if fn is None or fn in seen:
                continue
            seen.add(fn)
            if fn in by_grad:
                parents.append(by_grad[fn])
                continue
            var = getattr(fn, "variable", None)
            if var is not None:
                if id(var) in direct:
                    parents.append(direct[id(var)])
                continue
            queue.extend(f for f, _ in fn.next_functions)
        counter[0] += 1
        ops = TorchOps(name=f"{model.name}_ops_{counter[0]}")
        ops.built = True
        node = Node(ops, (parents[0] if len(parents) == 1 else parents,), {}, {}, shape_of(t), dtype_of(t), None)
        sym = node.outputs[0]
        direct[id(t)] = sym
        if t.grad_fn is not None:
            by_grad[t.grad_fn] = sym
        return sym
    for layer, args, kwargs, output in records:
        arg = map_structure(resolve, args[0]) if args else None
        outs = flatten(output)
        shapes_out = [shape_of(o) for o in outs]
        node = Node(layer, (arg,), {}, {}, shapes_out if len(outs) > 1 else shapes_out[0],
                    [dtype_of(o) for o in outs] if len(outs) > 1 else dtype_of(outs[0]), None)
        for o, sym in zip(outs, node.outputs):
            direct[id(o)] = sym
            if o.grad_fn is not None:
                by_grad[o.grad_fn] = sym
    outputs = map_structure(resolve, out)
    if not all(isinstance(s, SymbolicTensor) for s in flatten(outputs)):
        return None
    return outputs
