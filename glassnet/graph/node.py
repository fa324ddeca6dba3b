"""Symbolic tensors and nodes: building a model needs no data.

Calling a layer on a :class:`SymbolicTensor` records a :class:`Node` whose output shapes (and output
mask shapes) come from the layer's ``compute_output_shape`` and ``compute_mask_shape``.
"""
from __future__ import annotations

import inspect
import threading
import warnings
from typing import Any

from ..dims import fmt_shape, keras_shape
from ..errors import GlassnetWarning
from ..structure import flatten, map_structure

__all__ = ["SymbolicTensor", "Node", "symbolic_call", "contains_symbolic", "current_input_producer", "call_flags",
           "MASK_DROP_WARNING"]

MASK_DROP_WARNING = (
    "Layer '{name}' (of type {cls}) was passed an input with a mask attached to it. However, this layer "
    "does not support masking and will therefore destroy the mask information. Downstream layers will "
    "not see the mask."
)

_LOCAL = threading.local()
_FLAG_CACHE: dict[type, tuple[bool, bool]] = {}
_SIGNATURES: dict[type, inspect.Signature] = {}


def call_flags(layer) -> tuple[bool, bool]:
    """(``call`` accepts ``mask``, ``call`` accepts ``training``), read once per class."""
    cls = type(layer)
    flags = _FLAG_CACHE.get(cls)
    if flags is None:
        params = inspect.signature(cls.call).parameters
        flags = ("mask" in params, "training" in params)
        _FLAG_CACHE[cls] = flags
    return flags


def _call_signature(layer) -> inspect.Signature:
    cls = type(layer)
    sig = _SIGNATURES.get(cls)
    if sig is None:
        sig = inspect.signature(layer.call)
        _SIGNATURES[cls] = sig
    return sig


def mask_routing(layer, args: tuple, kwargs: dict) -> tuple[dict, object]:
    """Which masks a call receives, by Keras 3's rule: with one tensor argument, its masks go to ``mask``
    (when ``call`` takes it and it is not given); with several, each tensor argument ``k`` gives its masks
    to ``k_mask`` where ``call`` has such a parameter, and ``mask`` is left alone (an RNN called with
    ``initial_state`` runs unmasked, as in Keras). Returns ``({mask parameter: tensor structure whose masks
    it takes}, the tensor structure whose masks the output mask is computed from)``.
    """
    sig = _call_signature(layer)
    try:
        bound = sig.bind_partial(*args, **kwargs).arguments
    except TypeError:
        bound = {"inputs": args[0]} if args else {}
    tensor_args = {k: v for k, v in bound.items() if k != "mask" and contains_symbolic(v)}
    routes: dict = {}
    if len(tensor_args) == 1:
        if "mask" in sig.parameters and kwargs.get("mask") is None:
            routes["mask"] = next(iter(tensor_args.values()))
    else:
        for k, v in tensor_args.items():
            if f"{k}_mask" in sig.parameters and kwargs.get(f"{k}_mask") is None:
                routes[f"{k}_mask"] = v
    first = args[0] if args else next(iter(tensor_args.values()), None)
    return routes, first


class SymbolicTensor:
    """A placeholder for a tensor in a graph being built: shape, dtype, and where it comes from."""

    __slots__ = ("symbolic_shape", "dtype", "node", "index", "is_mask", "__weakref__")

    def __init__(self, shape: tuple, dtype: str = "float32", node: "Node | None" = None,
                 index: int = 0, is_mask: bool = False):
        self.symbolic_shape = tuple(shape)
        self.dtype = dtype
        self.node = node
        self.index = index
        self.is_mask = is_mask

    @property
    def shape(self) -> tuple:
        """Keras view: ``None`` for the batch axis and every variable dimension."""
        return keras_shape(self.symbolic_shape)

    @property
    def ndim(self) -> int:
        return len(self.symbolic_shape)

    @property
    def mask(self) -> "SymbolicTensor | None":
        """The mask that travels beside this tensor in the graph (``None`` when there is none)."""
        if self.node is None or self.is_mask:
            return None
        return self.node.output_masks[self.index]

    @property
    def layer(self):
        return self.node.layer if self.node is not None else None

    def __repr__(self) -> str:
        src = f", from={self.node.layer.name!r}" if self.node is not None else ""
        kind = "mask" if self.is_mask else "tensor"
        return f"<SymbolicTensor {kind} shape={fmt_shape(self.symbolic_shape)}, dtype={self.dtype}{src}>"

    def __bool__(self) -> bool:  # a symbolic tensor has no truth value; be explicit
        raise TypeError("A SymbolicTensor has no truth value; it stands for data that does not exist yet.")


class Node:
    """One call of a layer in a graph: its arguments (symbolic tensors inside), outputs and output masks."""

    def __init__(self, layer, args: tuple, kwargs: dict, mask_routes: dict,
                 output_shapes, output_dtypes, output_mask_shapes):
        self.layer = layer
        self.args = args
        self.kwargs = kwargs
        # mask parameter -> the argument (structure of SymbolicTensor) whose masks it receives at run time
        self.mask_routes = mask_routes
        multi = isinstance(output_shapes, list)
        self.multi_output = multi
        shapes = output_shapes if multi else [output_shapes]
        dtypes = output_dtypes if isinstance(output_dtypes, list) else [output_dtypes] * len(shapes)
        if not isinstance(output_mask_shapes, list):
            output_mask_shapes = [output_mask_shapes] + [None] * (len(shapes) - 1)
        self.outputs = [SymbolicTensor(s, d, self, i) for i, (s, d) in enumerate(zip(shapes, dtypes))]
        self.output_masks = [None if m is None else SymbolicTensor(m, "bool", self, i, is_mask=True)
                             for i, m in enumerate(output_mask_shapes)]
        deps = flatten((args, kwargs))
        self.parents: list[SymbolicTensor] = [t for t in deps if isinstance(t, SymbolicTensor)]
        # the common case — one tensor in, no keyword arguments — runs without structure walking
        self.simple = len(args) == 1 and isinstance(args[0], SymbolicTensor) and not kwargs
        self.accepts_mask = call_flags(layer)[0]
        # a layer that returns its output masks with its outputs (a nested model) is run through that
        self.returns_masks = callable(getattr(layer, "call_with_masks", None))
        layer._inbound_nodes.append(self)

    @property
    def input_tensors(self) -> list[SymbolicTensor]:
        return [t for t in flatten(self.args[0]) if isinstance(t, SymbolicTensor)] if self.args else []

    def output_structure(self):
        return list(self.outputs) if self.multi_output else self.outputs[0]


def contains_symbolic(x) -> bool:
    return any(isinstance(t, SymbolicTensor) for t in flatten(x))


def current_input_producer(layer):
    """The layer that produced the input of the symbolic call in progress (for error messages)."""
    cur = getattr(_LOCAL, "call", None)
    if cur is None or cur[0] is not layer:
        return None
    inputs = cur[1]
    if isinstance(inputs, SymbolicTensor) and inputs.node is not None:
        return inputs.node.layer
    return None


def _none_if_all_none(x):
    return None if all(v is None for v in flatten(x)) else x


def symbolic_call(layer, *args, **kwargs):
    """Record ``layer(*args, **kwargs)`` on symbolic tensors and return symbolic outputs."""
    inputs = args[0]
    for t in flatten(inputs):
        if not isinstance(t, SymbolicTensor):
            raise TypeError(
                f"{type(layer).__name__} '{layer.name}' was called on a mix of symbolic tensors and "
                f"other values. Received: {t!r}. Wrap constants in a layer or pass them as arguments.")
    in_shapes = map_structure(lambda t: t.symbolic_shape, inputs)
    routes, first = mask_routing(layer, args, kwargs)
    incoming = _none_if_all_none(map_structure(lambda t: t.mask, first))
    explicit = kwargs.get("mask")
    if explicit is not None:
        mask_struct = explicit
    elif "mask" in routes:
        mask_struct = _none_if_all_none(map_structure(lambda t: t.mask, routes["mask"]))
    else:
        mask_struct = incoming  # the output mask still follows the first argument's (Keras's previous_mask)
    _LOCAL.call = (layer, inputs)
    try:
        if not layer.built:
            layer._build_from(in_shapes)
        out_shapes = layer.compute_output_shape(in_shapes)
    finally:
        _LOCAL.call = None
    mask_shapes = None if mask_struct is None else map_structure(
        lambda m: None if m is None else m.symbolic_shape, mask_struct)
    out_mask_shapes = layer.compute_mask_shape(in_shapes, mask_shapes)
    if incoming is not None and explicit is None and layer.mask_rule == "drop":
        warnings.warn(MASK_DROP_WARNING.format(name=layer.name, cls=type(layer).__name__), GlassnetWarning,
                      stacklevel=3)
    out_dtypes = _output_dtypes(layer, inputs, out_shapes)
    routes = {k: v for k, v in routes.items()
              if any(t.mask is not None for t in flatten(v) if isinstance(t, SymbolicTensor))}
    node = Node(layer, args, kwargs, routes, out_shapes, out_dtypes, out_mask_shapes)
    return node.output_structure()


def _output_dtypes(layer, inputs, out_shapes):
    fn = getattr(layer, "compute_output_dtype", None)
    if fn is not None:
        return fn(inputs)
    first = flatten(inputs)[0]
    dtype = first.dtype if first.dtype != "bool" else "float32"
    return [dtype] * len(out_shapes) if isinstance(out_shapes, list) else dtype
