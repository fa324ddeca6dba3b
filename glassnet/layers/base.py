"""The layer contract: a small ``torch.nn.Module`` base class with Keras semantics.

A layer owns Keras-named weights in Keras layouts, builds itself from the first input
shape it sees (symbolic or concrete), computes its output shape and mask over symbolic
dimensions, and does its arithmetic in ``call`` with ``torch.nn.functional``.

Masks never ride on tensors.  A layer says what it does to a mask through
``mask_rule`` ("create", "carry", "consume" or "drop"), ``compute_mask`` (on tensors)
and ``compute_mask_shape`` (on symbolic shapes); models pass masks beside tensors.
"""
from __future__ import annotations

import contextvars
import inspect
import math
import re
import warnings
from collections import Counter
from typing import Any, Iterable

import numpy as np
import torch
from torch import nn

from .. import initializers
from ..dims import fmt_shape, is_fixed, keras_shape
from ..errors import ConfigError, ShapeError, layer_message

__all__ = ["Layer", "to_snake_case", "unique_name", "reset_names", "MASK_DROP_WARNING"]

_NAME_COUNTS: Counter = Counter()

# While a model file is being read, the weights its config asks for may not exceed what the file
# could hold (set by the loaders); a hostile config cannot make glassnet allocate unbounded memory.
WEIGHT_BUDGET: contextvars.ContextVar = contextvars.ContextVar("glassnet_weight_budget", default=None)

MASK_DROP_WARNING = (
    "Layer '{name}' (of type {cls}) was passed an input with a mask attached to it. However, this layer "
    "does not support masking and will therefore destroy the mask information. Downstream layers will "
    "not see the mask."
)


def to_snake_case(name: str) -> str:
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(prefix: str) -> str:
    """Keras-style automatic names: ``dense``, ``dense_1``, ``dense_2`` …"""
    n = _NAME_COUNTS[prefix]
    _NAME_COUNTS[prefix] += 1
    return prefix if n == 0 else f"{prefix}_{n}"


def reset_names() -> None:
    """Forget the automatic-name counters (as ``keras.backend.clear_session`` does)."""
    _NAME_COUNTS.clear()


class Layer(nn.Module):
    """Base class of every glassnet layer.

    Args:
        name: layer name; unique automatic name (``dense_1``) when omitted.
        trainable: whether the weights are updated by training.
        dtype: weight dtype (float32 by default).
        input_shape: per-sample input shape, accepted for the first layer of a Sequential.
    """

    supports_masking = False

    def __init__(self, *, name: str | None = None, trainable: bool = True, dtype=None,
                 input_shape=None, batch_size: int | None = None, **kwargs):
        super().__init__()
        if kwargs:
            raise TypeError(f"Unrecognized keyword arguments passed to {type(self).__name__}: {kwargs}")
        if name is not None and (not isinstance(name, str) or not name or "." in name or "/" in name):
            raise ConfigError(
                f"A layer name must be a non-empty string without '.' or '/'. Received: name={name!r}")
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self.built = False
        self._trainable = bool(trainable)
        self.dtype = _torch_dtype(dtype)
        self._own_trainable: list[str] = []
        self._own_non_trainable: list[str] = []
        self._input_shape_arg = None if input_shape is None else (batch_size, *tuple(input_shape))
        self._build_shape = None
        self._inbound_nodes: list = []
        self._last_eager_shape = None
        self.train(False)  # Keras semantics: a plain call is inference unless training=True

    # ------------------------------------------------------------------ weights
    def add_weight(self, name: str, shape, initializer="glorot_uniform", trainable: bool = True,
                   dtype=None, memory_order: tuple[int, ...] | None = None) -> torch.Tensor:
        """Create a Keras-named weight; trainable ones are ``nn.Parameter``, others buffers.

        The weight always has its Keras shape. ``memory_order`` lays its memory out as the
        permutation torch's kernels read (e.g. ``(1, 0)`` for a recurrent kernel), so the view a
        kernel needs is contiguous and no copy is made at each call.
        """
        init = initializers.get(initializer)
        shape = tuple(int(s) for s in shape)
        budget = WEIGHT_BUDGET.get()
        if budget is not None:
            need = math.prod(shape)
            if need > budget[0]:
                from ..errors import FileFormatError
                raise FileFormatError(
                    f"{budget[1]}: layer '{self.name}' would need a weight of shape {shape} ({need:,} values), "
                    "more than the file holds; the config does not match its weights.")
            budget[0] -= need
        value = init(shape, dtype=_torch_dtype(dtype) if dtype else self.dtype)
        if memory_order is not None:
            inverse = [memory_order.index(i) for i in range(len(memory_order))]
            value = value.permute(memory_order).contiguous().permute(inverse)
        if trainable:
            self.register_parameter(name, nn.Parameter(value, requires_grad=self._trainable))
            self._own_trainable.append(name)
        else:
            self.register_buffer(name, value)
            self._own_non_trainable.append(name)
        return getattr(self, name)

    def _sublayers(self) -> list["Layer"]:
        return [m for m in self._modules.values() if isinstance(m, Layer)]

    @property
    def weights(self) -> list[torch.Tensor]:
        """Own weights (trainable, then non-trainable, in creation order), then sub-layers'."""
        out, seen = [], set()
        for n in self._own_trainable + self._own_non_trainable:
            w = getattr(self, n)
            if id(w) not in seen:
                seen.add(id(w))
                out.append(w)
        for layer in self._sublayers():
            for w in layer.weights:
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    @property
    def trainable_weights(self) -> list[torch.Tensor]:
        return [w for w in self.weights if isinstance(w, nn.Parameter) and w.requires_grad]

    @property
    def non_trainable_weights(self) -> list[torch.Tensor]:
        return [w for w in self.weights if not (isinstance(w, nn.Parameter) and w.requires_grad)]

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for n in self._own_trainable:
            getattr(self, n).requires_grad_(self._trainable)
        for layer in self._sublayers():
            layer.trainable = value

    def get_weights(self) -> list[np.ndarray]:
        return [w.detach().cpu().numpy().copy() for w in self.weights]

    def set_weights(self, weights: Iterable) -> None:
        weights = list(weights)
        mine = self.weights
        if len(weights) != len(mine):
            raise ValueError(layer_message(
                self, f"expects {len(mine)} weight arrays", f"{len(weights)} arrays",
                "Pass the arrays in the order of layer.weights."))
        for w, v in zip(mine, weights):
            v = torch.as_tensor(np.asarray(v), dtype=w.dtype)
            if tuple(v.shape) != tuple(w.shape):
                raise ShapeError(layer_message(
                    self, f"weight of shape {tuple(w.shape)} cannot take a value of another shape",
                    f"value shape {tuple(v.shape)}"))
            with torch.no_grad():
                w.copy_(v)

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(
                f"You tried to call count_params on layer '{self.name}', but the layer isn't built. "
                "You can build it manually via: `layer.build(input_shape)`.")
        return int(sum(w.numel() for w in self.weights))

    # ------------------------------------------------------------------ contract
    def build(self, input_shape) -> None:
        """Create weights for ``input_shape`` (a tuple of ints and symbolic dims)."""

    def call(self, inputs, **kwargs):
        raise TypeError(f"{type(self).__name__} defines no call(); a layer must define it.")

    def compute_output_shape(self, input_shape):
        return input_shape

    @property
    def mask_rule(self) -> str:
        """What the layer does to an incoming mask: create, carry, consume or drop."""
        return "carry" if self.supports_masking else "drop"

    def compute_mask(self, inputs, mask=None):
        return mask if self.supports_masking else None

    def compute_mask_shape(self, input_shape, mask_shape):
        return mask_shape if self.supports_masking else None

    def cost(self, input_shape, output_shape):
        """The cost rule (see ``glassnet.layers.cost``): params formula, MACs, receptive field, reads."""
        from .cost import Cost
        return Cost(reads="passes its input through unchanged in shape")

    def why_variable(self, axis: int) -> tuple[str, str] | None:
        """If this layer outputs a variable dim at ``axis``: (reason, how to fix), for errors downstream."""
        return None

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "trainable": self.trainable, "dtype": _dtype_name(self.dtype)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Layer":
        return cls(**config)

    # ------------------------------------------------------------------ calling
    def __call__(self, *args, **kwargs):
        if args and type(args[0]) is torch.Tensor:  # the hot path: eager call on a tensor
            return super().__call__(*args, **kwargs)
        from ..models.graph import contains_symbolic
        if args and contains_symbolic(args[0]):
            from ..models.graph import symbolic_call
            return symbolic_call(self, *args, **kwargs)
        return super().__call__(*args, **kwargs)

    def forward(self, inputs, *args, mask=None, training=None, **kwargs):
        if not tracing():  # under torch.compile/export the checks would pin dynamic sizes
            shape = _shapes_of(inputs)
            if shape != self._last_eager_shape:
                self._check_eager_input(shape)
                self._last_eager_shape = shape
        if training is None:
            training = self.training
        flags = _call_flags(type(self))
        if flags[1]:
            kwargs["training"] = training
        if flags[0]:
            kwargs["mask"] = mask
        elif mask is not None and self.mask_rule == "drop":
            warnings.warn(MASK_DROP_WARNING.format(name=self.name, cls=type(self).__name__), stacklevel=2)
        return self.call(inputs, *args, **kwargs)

    def _check_eager_input(self, shape) -> None:
        if not self.built:
            self._build_from(shape)
        else:
            self.compute_output_shape(shape)

    def _build_from(self, input_shape) -> None:
        """Validate and build once; ``input_shape`` includes the batch axis."""
        self.compute_output_shape(input_shape)  # validates rank and sizes before creating weights
        self.build(input_shape)
        self._build_shape = input_shape
        self.built = True

    # ------------------------------------------------------------------ helpers
    def _error(self, problem: str, received: str | None = None, fix: str | None = None) -> str:
        return layer_message(self, problem, received, fix)

    def _require_rank(self, shape, rank: int, meaning: str, fix: str | None = None, min_rank: bool = False):
        ok = len(shape) >= rank if min_rank else len(shape) == rank
        if not ok:
            at = "at least " if min_rank else ""
            raise ShapeError(self._error(
                f"expects input of rank {at}{rank} {meaning}", f"input shape {fmt_shape(shape)}", fix))

    def _require_fixed(self, shape, axis: int, what: str):
        d = shape[axis]
        if is_fixed(d):
            return d
        producer = _producer_of_current_input(self)
        if producer is not None:
            why = producer.why_variable(axis)
            if why is not None:
                raise ShapeError(
                    f"{type(self).__name__} '{self.name}' needs a fixed {what}, but {why[0]}. {why[1]}")
        raise ShapeError(self._error(
            f"needs a fixed {what} (axis {axis}) because its weights depend on it",
            f"input shape {fmt_shape(shape)}",
            "Give that dimension a size in Input(...), or reduce it first (e.g. global pooling)."))

    def _check_built_dim(self, shape, axis: int, expected: int, what: str):
        d = shape[axis]
        if is_fixed(d) and d != expected:
            raise ShapeError(self._error(
                f"expects {expected} {what} (axis {axis}), as it was built with",
                f"input shape {fmt_shape(shape)}",
                "Feed it tensors like those it was built with, or use a new layer."))

    def extra_repr(self) -> str:
        return f"name={self.name!r}"

    @property
    def input_shape(self):
        if self._build_shape is None:
            raise AttributeError(f"Layer '{self.name}' has not been built yet, so it has no input shape.")
        return keras_shape(self._build_shape)

    @property
    def output_shape(self):
        if self._build_shape is None:
            raise AttributeError(f"Layer '{self.name}' has not been built yet, so it has no output shape.")
        return keras_shape(self.compute_output_shape(self._build_shape))


# ---------------------------------------------------------------------- module helpers
_DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
           "bfloat16": torch.bfloat16, "int32": torch.int32, "int64": torch.int64, "bool": torch.bool}


def tracing() -> bool:
    """True while torch.compile or torch.export traces the model (symbolic sizes must stay symbolic)."""
    return torch.compiler.is_compiling() or torch.compiler.is_exporting()


def _torch_dtype(dtype) -> torch.dtype:
    if dtype is None:
        from ..config import floatx
        return _DTYPES[floatx()]
    if isinstance(dtype, torch.dtype):
        return dtype
    if isinstance(dtype, dict):  # Keras DTypePolicy config
        dtype = dtype.get("config", {}).get("name", "float32")
    if isinstance(dtype, str) and dtype.replace("mixed_", "") in _DTYPES:
        return _DTYPES[dtype.replace("mixed_", "")]
    raise ConfigError(f"Unknown dtype. Received: dtype={dtype!r}. Use one of {sorted(_DTYPES)}.")


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


_FLAG_CACHE: dict[type, tuple[bool, bool]] = {}


def _call_flags(cls) -> tuple[bool, bool]:
    """(call accepts mask, call accepts training), computed once per class."""
    flags = _FLAG_CACHE.get(cls)
    if flags is None:
        params = inspect.signature(cls.call).parameters
        flags = ("mask" in params, "training" in params)
        _FLAG_CACHE[cls] = flags
    return flags


def call_accepts_mask(layer) -> bool:
    return _call_flags(type(layer))[0]


def _shapes_of(x):
    if isinstance(x, torch.Tensor):
        return tuple(x.shape)
    if isinstance(x, (list, tuple)):
        return [_shapes_of(v) for v in x]
    if isinstance(x, dict):
        return {k: _shapes_of(v) for k, v in x.items()}
    return None


def _producer_of_current_input(layer):
    from ..models.graph import current_input_producer
    return current_input_producer(layer)
