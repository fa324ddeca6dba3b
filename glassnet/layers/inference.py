"""Output shapes of layers that have no shape rule of their own (a user's layer, a wrapped torch module):
``call`` runs on meta tensors (weights swapped for meta ones), on zeros on the CPU when an operation cannot
run on the meta device, each variable dimension at two sizes, as Keras's ``compute_output_spec`` does."""
from __future__ import annotations

import sympy
import torch
from torch import nn

from ..dims import is_fixed
from ..dims import symbol as dim_symbol
from ..graph import call_flags
from ..structure import flatten, map_structure
from .context import CALL

__all__ = ["infer_output_shape"]


def infer_output_shape(layer, input_shape):
    """Run ``layer.call`` on meta tensors to find its output shape (Keras's ``compute_output_spec``).

    Each variable dimension is tried at two sizes; an output dimension that follows one of them keeps its
    symbol, one that differs otherwise is named after the layer. The call records no losses.
    """
    symbols = []
    for d in flatten(input_shape):
        if d is not None and not is_fixed(d):
            for s in getattr(d, "free_symbols", ()):
                if s not in symbols:
                    symbols.append(s)
    runs = []
    for size in (83, 89):
        subs = {s: size + 2 * i for i, s in enumerate(symbols)}
        runs.append(_meta_run(layer, input_shape, subs))
    first, second = runs
    flat1 = [tuple(t.shape) for t in flatten(first)]
    flat2 = [tuple(t.shape) for t in flatten(second)]
    names = {}
    for d in flatten(input_shape):
        if d is not None and not is_fixed(d):
            v1, v2 = (int(sympy.sympify(d).subs({s: 83 + 2 * i for i, s in enumerate(symbols)})),
                      int(sympy.sympify(d).subs({s: 89 + 2 * i for i, s in enumerate(symbols)})))
            names.setdefault((v1, v2), d)
    shapes = []
    for k, (a, b) in enumerate(zip(flat1, flat2)):
        dims = []
        for i, (x, y) in enumerate(zip(a, b)):
            dims.append(x if x == y else names.get((x, y), dim_symbol(f"{layer.name}_{k}_{i}")))
        shapes.append(tuple(dims))
    it = iter(shapes)
    return map_structure(lambda _: next(it), first) if isinstance(first, (list, tuple, dict)) else shapes[0]


def _meta_run(layer, input_shape, subs):
    """``layer.call`` on meta tensors (its weights swapped for meta ones); when an operation cannot run on the
    meta device, on zeros on the CPU instead (as Keras falls back)."""
    def concrete(shape):
        return tuple(int(sympy.sympify(d).subs(subs)) if not is_fixed(d) else d for d in shape)

    is_shape = lambda s: isinstance(s, tuple) and all(not isinstance(d, (tuple, list, dict)) for d in s)  # noqa: E731
    float_dtype = layer.dtype if layer.dtype.is_floating_point else torch.float32
    accepts_mask, accepts_training = call_flags(layer)
    kwargs = {"training": False} if accepts_training else {}

    def run(device):
        inputs = _map_shapes(input_shape, lambda s: torch.zeros(concrete(s), device=device, dtype=float_dtype),
                             is_shape)
        with torch.no_grad():
            return layer.call(inputs, **kwargs)
    CALL.inferring += 1
    try:
        swapped = _swap_to_meta(layer)
        try:
            return run("meta")
        except (RuntimeError, NotImplementedError, TypeError, ValueError, IndexError):
            pass
        finally:
            _restore(swapped)
        return run("cpu")
    finally:
        CALL.inferring -= 1


def _swap_to_meta(layer) -> list:
    """Every parameter and buffer below ``layer`` replaced by an empty meta tensor; what to put back."""
    saved = []
    for module in layer.modules():
        for store in (module._parameters, module._buffers):
            for name, t in list(store.items()):
                if t is not None and t.device.type != "meta":
                    saved.append((store, name, t))
                    meta = torch.empty_like(t, device="meta")
                    store[name] = nn.Parameter(meta, requires_grad=False) if isinstance(t, nn.Parameter) else meta
    return saved


def _restore(saved: list) -> None:
    for store, name, t in saved:
        store[name] = t


def _map_shapes(structure, fn, is_shape):
    if is_shape(structure):
        return fn(structure)
    if isinstance(structure, list):
        return [_map_shapes(s, fn, is_shape) for s in structure]
    if isinstance(structure, tuple):
        return tuple(_map_shapes(s, fn, is_shape) for s in structure)
    if isinstance(structure, dict):
        return {k: _map_shapes(v, fn, is_shape) for k, v in structure.items()}
    return structure
