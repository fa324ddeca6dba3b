"""The layer contract: a small ``torch.nn.Module`` base class with Keras semantics.

A layer owns Keras-named weights in Keras layouts, builds itself from the first input
shape it sees (symbolic or concrete), computes its output shape and mask over symbolic
dimensions, and does its arithmetic in ``call`` with ``torch.nn.functional``.

Masks never ride on tensors.  A layer says what it does to a mask through
``mask_rule`` ("create", "carry", "consume" or "drop"), ``compute_mask`` (on tensors)
and ``compute_mask_shape`` (on symbolic shapes); models pass masks beside tensors.

Every public layer class of glassnet registers itself under its Keras class name (and the names
in ``keras_aliases``) when it is defined, so files find classes through ``layers.registry``.
"""
from __future__ import annotations

import re
import warnings
from collections import Counter
from typing import Any, Iterable

import numpy as np
import torch
from torch import nn

from .. import config, initializers
from ..checks import unsupported
from .. import dtypes as _dtypes
from ..dims import fmt_shape, is_fixed, keras_shape
from ..errors import ConfigError, GlassnetWarning, ShapeError, layer_message
from ..graph import MASK_DROP_WARNING, call_flags, contains_symbolic, current_input_producer, symbolic_call
from . import registry
from .cost import Cost

__all__ = ["Layer", "to_snake_case", "unique_name", "reset_names", "tracing"]

_NAME_COUNTS: Counter = Counter()
# names a layer cannot take: they break the paths of Keras's files
_RESERVED_NAMES = {"top_level_model_weights", "model_weights", "vars", "layers"}


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


def tracing() -> bool:
    """True while torch.compile or torch.export traces the model (symbolic sizes must stay symbolic)."""
    return torch.compiler.is_compiling() or torch.compiler.is_exporting()


def _check_name(name) -> None:
    if name is None:
        return
    if not isinstance(name, str) or not name or "/" in name \
            or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise ConfigError(
            "A layer name must be a non-empty string without '/' or control characters. "
            f"Received: name={name!r}")
    if name in _RESERVED_NAMES:
        raise ConfigError(f"The layer name {name!r} is reserved by the Keras file layout; choose another. "
                          f"Received: name={name!r}")


class Layer(nn.Module):
    """Base class of every glassnet layer.

    Args:
        name: layer name; unique automatic name (``dense_1``) when omitted.
        trainable: whether the weights are updated by training.
        dtype: weight dtype (``gn.config.floatx()``, float32, by default).
        input_shape: per-sample input shape, accepted for the first layer of a Sequential.
    """

    supports_masking = False
    keras_aliases: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__module__.startswith("glassnet.") and not cls.__name__.startswith("_"):
            registry.register(cls, aliases=vars(cls).get("keras_aliases", ()))

    def __init__(self, *, name: str | None = None, trainable: bool = True, dtype=None,
                 input_shape=None, batch_size: int | None = None, **kwargs):
        super().__init__()
        if kwargs:
            raise TypeError(f"Unrecognized keyword arguments passed to {type(self).__name__}: {kwargs}")
        _check_name(name)
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self.built = False
        self._trainable = bool(trainable)
        self.dtype = _dtypes.to_torch(dtype, default=config.floatx())
        self._own_trainable: list[str] = []
        self._own_non_trainable: list[str] = []
        self._input_shape_arg = None if input_shape is None else (batch_size, *tuple(input_shape))
        self._build_shape = None
        self._inbound_nodes: list = []
        self._last_eager_shape = None
        self.train(False)  # Keras semantics: a plain call is inference unless training=True

    # ------------------------------------------------------------------ weights
    def add_weight(self, shape=None, initializer=None, dtype=None, trainable: bool = True, regularizer=None,
                   constraint=None, name: str | None = None, *,
                   memory_order: tuple[int, ...] | None = None) -> torch.Tensor:
        """Create a weight (Keras 3's signature): trainable ones are ``nn.Parameter``, others buffers.

        ``initializer`` defaults to glorot_uniform for float weights; ``name`` to ``variable``,
        ``variable_1`` …. The weight always has its Keras shape; ``memory_order`` lays its memory out
        as the permutation torch's kernels read (e.g. ``(1, 0)`` for a recurrent kernel), so the view
        a kernel needs is contiguous and no copy is made at each call.
        """
        unsupported(self, "Apply the penalty in the loss or the projection after the step yourself.",
                    regularizer=regularizer, constraint=constraint)
        shape = tuple(int(s) for s in (shape if shape is not None else ()))
        if name is None:
            taken = set(self._own_trainable + self._own_non_trainable)
            name, k = "variable", 1
            while name in taken:
                name, k = f"variable_{k}", k + 1
        init = initializers.get("glorot_uniform" if initializer is None else initializer)
        value = init(shape, dtype=_dtypes.to_torch(dtype) if dtype is not None else self.dtype)
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

    def own_weights(self) -> list[torch.Tensor]:
        """This layer's own weights (trainable, then non-trainable, in creation order), without sub-layers'."""
        return [getattr(self, n) for n in self._own_trainable + self._own_non_trainable]

    def saving_children(self) -> dict[str, "Layer"]:
        """Sub-layers by the path Keras's files give them (``cell``, ``forward_layer``, ``layer`` …)."""
        return {k: m for k, m in self._modules.items() if isinstance(m, Layer)}

    @property
    def weights(self) -> list[torch.Tensor]:
        """Own weights (trainable, then non-trainable, in creation order), then sub-layers'."""
        out, seen = [], set()
        for w in self.own_weights():
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

    def cost(self, input_shape, output_shape) -> Cost:
        """The cost rule (see ``glassnet.layers.cost``). A layer without one reports the parameters its
        tensors hold and its multiply-adds as unknown — never 0."""
        return Cost.unknown(self, "has no cost rule: its parameters are counted from its tensors, its "
                                  "multiply-adds are unknown")

    def why_variable(self, axis: int) -> tuple[str, str] | None:
        """If this layer outputs a variable dim at ``axis``: (reason, how to fix), for errors downstream."""
        return None

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "trainable": self.trainable, "dtype": _dtypes.name_of(self.dtype)}

    def get_build_config(self) -> dict | None:
        """What Keras writes as ``build_config``: the input shape the layer was built with."""
        if self._build_shape is None:
            return None
        return {"input_shape": keras_shape(self._build_shape)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Layer":
        return cls(**config)

    # ------------------------------------------------------------------ calling
    def __call__(self, *args, **kwargs):
        if args and type(args[0]) is torch.Tensor:  # the hot path: eager call on a tensor
            return super().__call__(*args, **kwargs)
        if args and contains_symbolic(args[0]):
            return symbolic_call(self, *args, **kwargs)
        if args and isinstance(args[0], np.ndarray):  # numpy in, as Keras accepts it
            args = (torch.as_tensor(args[0]), *args[1:])
        return super().__call__(*args, **kwargs)

    def forward(self, inputs, *args, mask=None, training=None, **kwargs):
        if not tracing():  # under torch.compile/export the checks would pin dynamic sizes
            shape = _shapes_of(inputs)
            if shape != self._last_eager_shape:
                self._check_eager_input(shape)
                self._last_eager_shape = shape
        if training is None:
            training = self.training
        accepts_mask, accepts_training = call_flags(self)
        if accepts_training:
            kwargs["training"] = training
        if accepts_mask:
            kwargs["mask"] = mask
        elif mask is not None and self.mask_rule == "drop":
            warnings.warn(MASK_DROP_WARNING.format(name=self.name, cls=type(self).__name__), GlassnetWarning,
                          stacklevel=2)
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
        producer = current_input_producer(self)
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


def _shapes_of(x):
    if isinstance(x, torch.Tensor):
        return tuple(x.shape)
    if isinstance(x, (list, tuple)):
        return [_shapes_of(v) for v in x]
    if isinstance(x, dict):
        return {k: _shapes_of(v) for k, v in x.items()}
    return None
