"""Symbolic tensors, graph nodes, ``Input`` and the runner that executes a layer graph.

Building a model needs no data: calling a layer on a :class:`SymbolicTensor` records a
:class:`Node` whose output shapes (and output mask shapes) come from the layer's
``compute_output_shape`` and ``compute_mask_shape``.  Running a model walks the nodes in
topological order and passes each layer its tensors and, explicitly beside them, masks.
"""
from __future__ import annotations

import threading
import warnings
from typing import Any, Callable


from ..dims import BATCH, fmt_shape, keras_shape, name_variable_dims
from ..errors import ConfigError
from ..layers.base import MASK_DROP_WARNING, Layer, call_accepts_mask

__all__ = ["SymbolicTensor", "Node", "InputLayer", "Input", "symbolic_call", "contains_symbolic",
           "map_structure", "flatten", "run_nodes", "topological_nodes"]

_LOCAL = threading.local()


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
    def layer(self) -> Layer | None:
        return self.node.layer if self.node is not None else None

    def __repr__(self) -> str:
        src = f", from={self.node.layer.name!r}" if self.node is not None else ""
        kind = "mask" if self.is_mask else "tensor"
        return f"<SymbolicTensor {kind} shape={fmt_shape(self.symbolic_shape)}, dtype={self.dtype}{src}>"

    def __bool__(self) -> bool:  # a symbolic tensor has no truth value; be explicit
        raise TypeError("A SymbolicTensor has no truth value; it stands for data that does not exist yet.")


class Node:
    """One call of a layer in a graph."""

    def __init__(self, layer: Layer, args: tuple, kwargs: dict, auto_mask: Any,
                 output_shapes, output_dtypes, output_mask_shapes):
        self.layer = layer
        self.args = args
        self.kwargs = kwargs
        self.auto_mask = auto_mask  # structure of SymbolicTensor|None fed as mask=, or None
        multi = isinstance(output_shapes, list)
        self.multi_output = multi
        shapes = output_shapes if multi else [output_shapes]
        dtypes = output_dtypes if isinstance(output_dtypes, list) else [output_dtypes] * len(shapes)
        if not isinstance(output_mask_shapes, list):
            output_mask_shapes = [output_mask_shapes] + [None] * (len(shapes) - 1)
        self.outputs = [SymbolicTensor(s, d, self, i) for i, (s, d) in enumerate(zip(shapes, dtypes))]
        self.output_masks = [None if m is None else SymbolicTensor(m, "bool", self, i, is_mask=True)
                             for i, m in enumerate(output_mask_shapes)]
        deps = flatten((args, kwargs)) + flatten(auto_mask)
        self.parents: list[SymbolicTensor] = [t for t in deps if isinstance(t, SymbolicTensor)]
        # the common case — one tensor in, no keyword arguments — runs without structure walking
        self.simple = len(args) == 1 and isinstance(args[0], SymbolicTensor) and not kwargs
        self.accepts_mask = call_accepts_mask(layer)
        layer._inbound_nodes.append(self)

    @property
    def input_tensors(self) -> list[SymbolicTensor]:
        return [t for t in flatten(self.args[0]) if isinstance(t, SymbolicTensor)] if self.args else []

    def output_structure(self):
        return list(self.outputs) if self.multi_output else self.outputs[0]


class InputLayer(Layer):
    """The layer behind ``Input``: no weights, it only names the model's input."""

    def __init__(self, shape=None, batch_size=None, dtype=None, batch_shape=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if batch_shape is not None:
            batch_size, shape = batch_shape[0], tuple(batch_shape[1:])
        if shape is None:
            raise ConfigError("Input needs a shape, e.g. Input((28, 28, 1)). Received: shape=None")
        if isinstance(shape, int):
            shape = (shape,)
        self.per_sample = name_variable_dims(tuple(shape))
        self.batch_size = batch_size
        from ..config import floatx
        self.input_dtype = dtype or floatx()
        batch = BATCH if batch_size is None else int(batch_size)
        self.symbolic_shape = (batch, *self.per_sample)
        self.built = True
        self._build_shape = self.symbolic_shape

    def call(self, inputs):
        return inputs

    def get_config(self):
        return {"batch_shape": keras_shape(self.symbolic_shape), "dtype": self.input_dtype,
                "sparse": False, "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "batch_input_shape" in config:
            config["batch_shape"] = config.pop("batch_input_shape")
        config.pop("sparse", None)
        config.pop("ragged", None)
        return cls(**config)


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None) -> SymbolicTensor:
    """A symbolic model input.

    Each dim of ``shape`` (no batch axis) is an ``int``, ``None`` (variable; named by its role:
    ``T`` for time, ``H``/``W`` for images) or a string that names it (``Input(("H", "W", 1))``).

    Example:
        >>> gn.Input((None, 1)).shape
        (None, None, 1)
    """
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name, batch_shape=batch_shape)
    node = Node(layer, (), {}, None, layer.symbolic_shape, layer.input_dtype, None)
    return node.outputs[0]


# ---------------------------------------------------------------------- structures
def flatten(x) -> list:
    if isinstance(x, (list, tuple)):
        return [y for v in x for y in flatten(v)]
    if isinstance(x, dict):
        return [y for v in x.values() for y in flatten(v)]
    return [x]


def map_structure(fn: Callable, x):
    if isinstance(x, list):
        return [map_structure(fn, v) for v in x]
    if isinstance(x, tuple):
        return tuple(map_structure(fn, v) for v in x)
    if isinstance(x, dict):
        return {k: map_structure(fn, v) for k, v in x.items()}
    return fn(x)


def contains_symbolic(x) -> bool:
    return any(isinstance(t, SymbolicTensor) for t in flatten(x))


def current_input_producer(layer: Layer) -> Layer | None:
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


def symbolic_call(layer: Layer, *args, **kwargs):
    """Record ``layer(*args, **kwargs)`` on symbolic tensors and return symbolic outputs."""
    inputs = args[0]
    for t in flatten(inputs):
        if not isinstance(t, SymbolicTensor):
            raise TypeError(
                f"{type(layer).__name__} '{layer.name}' was called on a mix of symbolic tensors and "
                f"other values. Received: {t!r}. Wrap constants in a layer or pass them as arguments.")
    in_shapes = map_structure(lambda t: t.symbolic_shape, inputs)
    incoming = _none_if_all_none(map_structure(lambda t: t.mask, inputs))
    explicit = kwargs.get("mask")
    if explicit is not None:
        mask_struct, auto = explicit, None
    elif call_accepts_mask(layer):
        mask_struct = auto = incoming
    else:
        mask_struct, auto = incoming, None
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
        warnings.warn(MASK_DROP_WARNING.format(name=layer.name, cls=type(layer).__name__), stacklevel=3)
    out_dtypes = _output_dtypes(layer, inputs, out_shapes)
    node = Node(layer, args, kwargs, auto, out_shapes, out_dtypes, out_mask_shapes)
    return node.output_structure()


def _output_dtypes(layer, inputs, out_shapes):
    fn = getattr(layer, "compute_output_dtype", None)
    if fn is not None:
        return fn(inputs)
    first = flatten(inputs)[0]
    dtype = first.dtype if first.dtype != "bool" else "float32"
    return [dtype] * len(out_shapes) if isinstance(out_shapes, list) else dtype


# ---------------------------------------------------------------------- running
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
    if isinstance(x, SymbolicTensor):
        return values[id(x)]
    if isinstance(x, list):
        return [_substitute(v, values) for v in x]
    if isinstance(x, tuple):
        return tuple(_substitute(v, values) for v in x)
    if isinstance(x, dict):
        return {k: _substitute(v, values) for k, v in x.items()}
    return x


def run_nodes(nodes: list[Node], values: dict, masks: dict, training) -> None:
    """Execute ``nodes`` in order, filling ``values`` and ``masks`` (keyed by symbolic tensor id)."""
    for node in nodes:
        layer = node.layer
        if node.simple:
            t = node.args[0]
            x = values[id(t)]
            in_mask = masks.get(id(t))
            out = layer(x, mask=in_mask, training=training) if node.accepts_mask else layer(x, training=training)
            out_masks = layer.compute_mask(x, in_mask)
            if not node.multi_output:
                values[id(node.outputs[0])] = out
                masks[id(node.outputs[0])] = out_masks
                continue
            args = (x,)
        else:
            out, args, in_mask = _run_general(node, layer, values, masks, training)
            out_masks = layer.compute_mask(args[0], in_mask)
        outs = list(out) if node.multi_output else [out]
        if not isinstance(out_masks, list):
            out_masks = [out_masks] + [None] * (len(outs) - 1)
        for sym, value, m in zip(node.outputs, outs, out_masks):
            values[id(sym)] = value
            masks[id(sym)] = m


def _run_general(node, layer, values, masks, training):
    """A node with several inputs or keyword arguments: substitute values into its call structure."""
    args = _substitute(node.args, values)
    kwargs = _substitute(node.kwargs, values) if node.kwargs else {}
    if "mask" in kwargs:
        in_mask = kwargs["mask"]
    else:
        in_mask = _none_if_all_none(map_structure(lambda t: masks.get(id(t)), node.args[0]))
        if node.accepts_mask:
            kwargs["mask"] = in_mask
    if "training" not in kwargs:
        kwargs["training"] = training
    return layer(*args, **kwargs), args, in_mask
