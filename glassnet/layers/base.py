"""The layer contract: a small ``torch.nn.Module`` base class with Keras semantics.

A layer owns Keras-named weights in Keras layouts, builds itself from the first input
shape it sees (symbolic or concrete), computes its output shape and mask over symbolic
dimensions, and does its arithmetic in ``call`` with ``torch.nn.functional``.

Masks never ride on tensors.  A layer says what it does to a mask through
``mask_rule`` ("create", "carry", "consume" or "drop"), ``compute_mask`` (on tensors)
and ``compute_mask_shape`` (on symbolic shapes); models pass masks beside tensors.

Training hooks, as Keras has them: trainable weights are ``Variable`` parameters that may carry a
regularizer (its penalty is in ``layer.losses``) and a constraint (the optimizer applies it after each
step); ``add_loss`` and ``activity_regularizer`` add the losses of a call, forgotten at the next outermost
call. A dtype policy (``"mixed_bfloat16"``) keeps float32 weights and autocasts ``call``. A user's layer
without a shape rule has its output shape found by running ``call`` on meta tensors.

Every public layer class of glassnet registers itself under its Keras class name (and the names
in ``keras_aliases``) when it is defined, so files find classes through ``layers.registry``.
"""
from __future__ import annotations

import inspect
import re
import warnings
from collections import Counter
from typing import Any, Iterable

import numpy as np
import torch
from torch import nn

from .. import config, constraints, initializers, regularizers
from .. import dtypes as _dtypes
from ..checks import unsupported
from ..dims import fmt_shape, is_fixed, keras_shape
from ..errors import ConfigError, GlassnetWarning, ShapeError, layer_message
from ..graph import MASK_DROP_WARNING, call_flags, contains_symbolic, current_input_producer, symbolic_call
from ..structure import flatten, map_structure
from . import registry
from .context import CALL, WITH_LOSSES, call_context, enter_call, exit_call, name_scope
from .cost import Cost
from .inference import infer_output_shape
from .variables import Variable

__all__ = ["Layer", "Variable", "to_snake_case", "unique_name", "reset_names", "tracing", "call_context",
           "name_scope", "infer_output_shape"]

_NAME_COUNTS: Counter = Counter()
# names a layer cannot take: they break the paths of Keras's files
_RESERVED_NAMES = {"top_level_model_weights", "model_weights", "vars", "layers"}


def module_key(name: str) -> str:
    """The key a model registers a layer under as a torch submodule: its name with each "." made "_" (torch
    refuses dots in submodule names; Keras's applications use them, e.g. 'mobilenetv2_0.35_32'); the layer
    keeps its own name for files and ``get_layer``."""
    return name.replace(".", "_")


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


_AUTOCAST_DEVICES = ("cpu", "cuda", "xpu", "mps", "hpu")
_HALF = (torch.float16, torch.bfloat16)


def _has_half(inputs) -> bool:
    if isinstance(inputs, torch.Tensor):
        return inputs.dtype in _HALF
    return isinstance(inputs, (list, tuple, dict)) and any(
        isinstance(t, torch.Tensor) and t.dtype in _HALF for t in flatten(inputs))


def _mixed_autocast_active(device_type: str) -> bool:
    return device_type in _AUTOCAST_DEVICES and torch.is_autocast_enabled(device_type)


def _to_tensor(x, float_dtype: torch.dtype):
    """numpy arrays (and NumPy scalars) in a call become tensors: floats in the layer's float type, as Keras."""
    if isinstance(x, np.ndarray) or isinstance(x, np.generic):
        t = torch.as_tensor(np.asarray(x))
        return t.to(float_dtype) if t.is_floating_point() else t
    return x


class Layer(nn.Module):
    """Base class of every glassnet layer.

    Args:
        activity_regularizer: a regularizer applied to the layer's outputs; its penalty (divided by the
            batch size, as in Keras) is added to ``layer.losses`` at each call.
        trainable: whether the weights are updated by training.
        dtype: a float type for the weights (``gn.config.floatx()``, float32, by default) or a dtype policy
            (``"mixed_bfloat16"``: float32 weights, computation in bfloat16).
        autocast: whether a mixed policy autocasts the computation.
        name: layer name; unique automatic name (``dense_1``) when omitted.
        input_shape: per-sample input shape, accepted for the first layer of a Sequential.
    """

    supports_masking = False
    keras_aliases: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__module__.startswith("glassnet.") and not cls.__name__.startswith("_"):
            registry.register(cls, aliases=vars(cls).get("keras_aliases", ()))

    def __new__(cls, *args, **kwargs):
        obj = super().__new__(cls)
        if not cls.__module__.startswith("glassnet."):  # a user's class: its arguments make its default config
            object.__setattr__(obj, "_init_call", (args, kwargs))
        return obj

    def __init__(self, *, activity_regularizer=None, trainable: bool = True, dtype=None, autocast: bool = True,
                 name: str | None = None, input_shape=None, batch_size: int | None = None, input_dim=None,
                 **kwargs):
        super().__init__()
        if kwargs:
            raise TypeError(f"Unrecognized keyword arguments passed to {type(self).__name__}: {kwargs}")
        _check_name(name)
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self.built = False
        self._trainable = bool(trainable)
        self.dtype_policy = _policy(dtype)
        self.dtype = _dtypes.to_torch(self.dtype_policy.variable_dtype)
        self.autocast = bool(autocast)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self._own_trainable: list[str] = []
        self._own_non_trainable: list[str] = []
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        self._input_shape_arg = None if input_shape is None else (batch_size, *tuple(input_shape))
        self._build_shape = None
        self._inbound_nodes: list = []
        self._last_eager_shape = None
        self._call_losses: list = []
        self.train(False)  # Keras semantics: a plain call is inference unless training=True

    @property
    def compute_dtype(self) -> str:
        return self.dtype_policy.compute_dtype

    @property
    def variable_dtype(self) -> str:
        return self.dtype_policy.variable_dtype

    # ------------------------------------------------------------------ weights
    def add_weight(self, shape=None, initializer=None, dtype=None, trainable: bool = True, autocast: bool = True,
                   regularizer=None, constraint=None, aggregation="none", overwrite_with_gradient: bool = False,
                   name: str | None = None, *, memory_order: tuple[int, ...] | None = None) -> torch.Tensor:
        """Create a weight (Keras 3's signature): trainable ones are ``Variable`` parameters, others buffers.

        ``initializer`` defaults to glorot_uniform for float weights; ``name`` to ``variable``,
        ``variable_1`` …. ``regularizer`` adds a penalty on the weight to ``layer.losses``; ``constraint``
        is applied by the optimizer after each step. The weight always has its Keras shape;
        ``memory_order`` lays its memory out as the permutation torch's kernels read (e.g. ``(1, 0)`` for a
        recurrent kernel), so the view a kernel needs is contiguous and no copy is made at each call.
        """
        unsupported(self, "glassnet does not implement it.",
                    overwrite_with_gradient=overwrite_with_gradient,
                    aggregation=None if aggregation in ("none", "mean", "sum", "only_first_replica", None)
                    else aggregation)
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
        regularizer, constraint = regularizers.get(regularizer), constraints.get(constraint)
        if trainable:
            scope = CALL.scope if CALL.scope and CALL.scope[-1] == self.name else [self.name]
            self.register_parameter(name, Variable(value, requires_grad=self._trainable, name=name,
                                                   path="/".join(scope + [name]), regularizer=regularizer,
                                                   constraint=constraint))
            self._own_trainable.append(name)
        else:
            if regularizer is not None or constraint is not None:
                raise ConfigError(self._error(f"weight '{name}' is not trainable; it cannot take a regularizer or "
                                              "a constraint", f"regularizer={regularizer!r}, constraint={constraint!r}"))
            self.register_buffer(name, value)
            self._own_non_trainable.append(name)
        return getattr(self, name)

    def _apply(self, fn, recurse=True):
        """torch's conversion (``to``, ``to_empty``) keeps each weight a ``Variable`` with its attributes: a move
        torch cannot make in place (meta → cpu) creates a plain Parameter, which is re-wrapped here."""
        saved = {n: dict(p.__dict__) for n, p in self._parameters.items() if isinstance(p, Variable)}
        out = super()._apply(fn, recurse)
        for n, attrs in saved.items():
            p = self._parameters.get(n)
            if p is not None and not isinstance(p, Variable):
                v = Variable(p.data, p.requires_grad)
                v.__dict__.update(attrs)
                self._parameters[n] = v
        return out

    def _weight_options(self, weights: tuple[str, ...], options: dict) -> None:
        """Keras's ``<weight>_regularizer`` / ``<weight>_constraint`` arguments (``kernel_regularizer`` …),
        resolved and kept as attributes of those names; each is given to ``add_weight`` for its weight."""
        self._weight_option_keys = [f"{w}_{kind}" for w in weights for kind in ("regularizer", "constraint")]
        unknown = sorted(set(options) - set(self._weight_option_keys))
        if unknown:
            raise TypeError(f"Unrecognized keyword arguments passed to {type(self).__name__}: {unknown}")
        for key in self._weight_option_keys:
            value = options.get(key)
            setattr(self, key, regularizers.get(value) if key.endswith("_regularizer") else constraints.get(value))

    def _weight_options_config(self) -> dict:
        """The ``<weight>_regularizer`` / ``<weight>_constraint`` entries of Keras's config."""
        return {k: (regularizers.serialize if k.endswith("_regularizer") else constraints.serialize)(getattr(self, k))
                for k in getattr(self, "_weight_option_keys", [])}

    def _sublayers(self) -> list["Layer"]:
        return [m for m in self._modules.values() if isinstance(m, Layer)]

    def __setattr__(self, name: str, value) -> None:
        super().__setattr__(name, value)
        if isinstance(value, (list, tuple, dict)) and value and "_modules" in self.__dict__ and any(
                isinstance(v, Layer) for v in (value.values() if isinstance(value, dict) else value)):
            self._track_nested_layers()  # registered now, so sub-layers keep the order they were assigned in

    def _track_nested_layers(self) -> None:
        """Layers kept in lists, tuples or dicts assigned as attributes (``self.blocks = [Dense(4), ...]``) are
        sub-layers too, as in Keras: register the ones not registered yet (``blocks_0``, ``blocks_1`` …)."""
        known = None
        for attr, value in list(vars(self).items()):
            if attr.startswith("_") or not isinstance(value, (list, tuple, dict)) or not value:
                continue
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(item, Layer):
                    if known is None:
                        known = {id(m) for m in self._modules.values()}
                    if id(item) not in known:
                        self.add_module(f"{attr}_{key}", item)
                        known.add(id(item))

    def own_weights(self) -> list[torch.Tensor]:
        """This layer's own weights (trainable, then non-trainable, in creation order), without sub-layers'."""
        return [getattr(self, n) for n in self._own_trainable + self._own_non_trainable]

    def saving_children(self) -> dict[str, "Layer"]:
        """Sub-layers by the path Keras's files give them (``cell``, ``forward_layer``, ``layer`` …)."""
        return {k: m for k, m in self._modules.items() if isinstance(m, Layer)}

    def _foreign_parameters(self) -> list[torch.Tensor]:
        """Parameters of plain torch modules held by this layer (a ``TorchModuleWrapper``'s, say)."""
        return [p for m in self._modules.values() if not isinstance(m, Layer) for p in m.parameters()] + \
            [b for m in self._modules.values() if not isinstance(m, Layer) for b in m.buffers()]

    @property
    def weights(self) -> list[torch.Tensor]:
        """Own weights (trainable, then non-trainable, in creation order), then sub-layers'."""
        out, seen = [], set()
        for w in self.own_weights() + self._foreign_parameters():
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
        """As Keras: none when this layer is frozen, whatever its sub-layers say."""
        if not self._trainable:
            return []
        return [w for w in self.weights if isinstance(w, nn.Parameter) and w.requires_grad]

    @property
    def non_trainable_weights(self) -> list[torch.Tensor]:
        if not self._trainable:
            return self.weights
        return [w for w in self.weights if not (isinstance(w, nn.Parameter) and w.requires_grad)]

    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights
    variables = weights

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for n in self._own_trainable:
            getattr(self, n).requires_grad_(self._trainable)
        for p in self._foreign_parameters():
            if isinstance(p, nn.Parameter):
                p.requires_grad_(self._trainable)
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

    # ------------------------------------------------------------------ losses
    def add_loss(self, loss) -> None:
        """Add a scalar loss (a tensor) computed in ``call``; ``fit`` adds every ``model.losses`` to the loss.
        The losses of a call are forgotten at the next outermost call, as in Keras."""
        if CALL.inferring:
            return
        for x in flatten(loss):
            if not isinstance(x, torch.Tensor):
                raise ValueError("`add_loss()` can only be called from inside `build()` or `call()`, on a tensor "
                                 f"input. Received invalid value: {x!r}")
            self._call_losses.append(x)
        WITH_LOSSES.add(self)

    @property
    def losses(self) -> list[torch.Tensor]:
        """Losses of the last call (``add_loss``, activity regularizers) of this layer and its sub-layers, then
        the penalties of the weight regularizers, computed now."""
        out = [x for m in self.modules() if isinstance(m, Layer) for x in m._call_losses]
        for w in self.parameters():
            regularizer = w.__dict__.get("regularizer") if w.requires_grad else None
            if regularizer is not None:
                out.append(regularizer(w))
        return out

    # ------------------------------------------------------------------ contract
    def build(self, input_shape) -> None:
        """Create weights for ``input_shape`` (a tuple of ints and symbolic dims)."""

    def call(self, inputs, **kwargs):
        raise TypeError(f"{type(self).__name__} defines no call(); a layer must define it.")

    def compute_output_shape(self, input_shape):
        """The output shape for ``input_shape``: the input's for glassnet's shape-keeping layers; a user's
        layer without its own rule is run on meta tensors (two sizes per variable dimension), as Keras does."""
        if type(self).__module__.startswith("glassnet."):
            return input_shape
        return infer_output_shape(self, input_shape)

    def compute_output_dtype(self, inputs) -> str:
        """The dtype of the outputs for symbolic ``inputs``: the compute type of a mixed policy (or of a float32
        layer given 16-bit inputs), else the first input's dtype (float32 for a boolean one)."""
        first = flatten(inputs)[0]
        dtype = first.dtype if first.dtype != "bool" else "float32"
        if dtype.startswith(("float", "bfloat")) and self.autocast and (
                self.dtype_policy.is_mixed or dtype in ("float16", "bfloat16")):
            return self.dtype_policy.compute_dtype
        return dtype

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
        """Keras's base config; for a user's layer, also the arguments its constructor was called with (when
        they are plain values), as Keras records them."""
        policy = self.dtype_policy
        dtype = policy.name if not policy.is_mixed else {
            "module": "keras", "class_name": "DTypePolicy", "config": {"name": policy.name}, "registered_name": None}
        config: dict[str, Any] = {"name": self.name, "trainable": self.trainable, "dtype": dtype}
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        init = self.__dict__.get("_init_call")
        if init is not None and getattr(type(self).get_config, "glassnet_default", False):
            config.update(_auto_config(self, *init))  # only when the class writes no get_config (as Keras)
        return config

    def get_build_config(self) -> dict | None:
        """What Keras writes as ``build_config``: the input shape the layer was built with."""
        if self._build_shape is None:
            return None
        return {"input_shape": keras_shape(self._build_shape)}

    def build_from_config(self, config: dict | None) -> None:
        """Build from ``get_build_config()``'s record (as Keras does when loading)."""
        shape = (config or {}).get("input_shape")
        if shape is not None and not self.built:
            self.build(tuple(shape) if not isinstance(shape[0], (list, tuple)) else [tuple(s) for s in shape])
            self._build_shape = tuple(shape) if not isinstance(shape[0], (list, tuple)) else [tuple(s) for s in shape]
            self.built = True

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Layer":
        return cls(**config)

    # ------------------------------------------------------------------ calling
    def __call__(self, *args, **kwargs):
        if args and type(args[0]) is torch.Tensor:  # the hot path: eager call on a tensor
            return super().__call__(*args, **kwargs)
        if args and contains_symbolic(args[0]):
            return symbolic_call(self, *args, **kwargs)
        if args and any(isinstance(v, (np.ndarray, np.generic)) for v in flatten(args[0])):  # numpy in, as Keras
            float_dtype = self.dtype if self.dtype.is_floating_point else torch.float32
            args = (map_structure(lambda v: _to_tensor(v, float_dtype), args[0]), *args[1:])
        return super().__call__(*args, **kwargs)

    def forward(self, inputs, *args, mask=None, training=None, **kwargs):
        enter_call(self)
        try:
            # under torch.compile/export the checks would pin dynamic sizes; inferring a shape needs none
            if not tracing() and not (CALL.inferring and self.built):
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
            outputs = self._call_in_policy(inputs, args, kwargs)
            if self.activity_regularizer is not None and not CALL.inferring:
                for out in flatten(outputs):
                    if isinstance(out, torch.Tensor):
                        penalty = self.activity_regularizer(out)
                        if out.ndim > 0 and out.shape[0] > 0:
                            penalty = penalty / out.shape[0]
                        self.add_loss(penalty)
            return outputs
        finally:
            exit_call()

    def _call_in_policy(self, inputs, args, kwargs):
        """``call`` under the layer's dtype policy: a mixed policy autocasts to its compute type; a float32 layer
        given 16-bit inputs (after mixed layers) casts them up and computes in float32, as Keras casts inputs."""
        policy = self.dtype_policy
        if policy.is_mixed and self.autocast:
            device = _device_type(inputs)
            if device in _AUTOCAST_DEVICES:
                with torch.autocast(device_type=device, dtype=policy.torch_compute_dtype):
                    return self.call(inputs, *args, **kwargs)
        elif self.autocast and _has_half(inputs):
            device = _device_type(inputs)
            want = policy.torch_compute_dtype
            inputs = map_structure(lambda t: t.to(want) if isinstance(t, torch.Tensor) and t.dtype in _HALF else t,
                                   inputs)
            if _mixed_autocast_active(device):
                with torch.autocast(device_type=device, enabled=False):
                    return self.call(inputs, *args, **kwargs)
        return self.call(inputs, *args, **kwargs)

    def _has_shape_rule(self) -> bool:
        """glassnet's layers and any layer defining compute_output_shape check shapes by their rule; for the
        others the rule is inferred by running ``call``, which an eager call is already doing."""
        return type(self).__module__.startswith("glassnet.") or \
            type(self).compute_output_shape is not Layer.compute_output_shape

    def _check_eager_input(self, shape) -> None:
        if not self.built:
            self._build_from(shape)
        elif self._has_shape_rule():
            self.compute_output_shape(shape)

    def _build_from(self, input_shape) -> None:
        """Validate and build once; ``input_shape`` includes the batch axis."""
        if self._has_shape_rule():
            self.compute_output_shape(input_shape)  # validates rank and sizes before creating weights
        with name_scope(self.name):
            self.build(input_shape)
        self._track_nested_layers()
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


Layer.get_config.glassnet_default = True  # a class that writes no get_config gets its constructor arguments


def _policy(dtype) -> config.DTypePolicy:
    """A layer's dtype policy from its ``dtype`` argument (None: the global policy)."""
    if dtype is None:
        return config.dtype_policy()
    if isinstance(dtype, config.DTypePolicy):
        return dtype
    if isinstance(dtype, dict):  # Keras's DTypePolicy config
        return config.DTypePolicy((dtype.get("config") or {}).get("name"))
    if isinstance(dtype, torch.dtype):
        return config.DTypePolicy(_dtypes.name_of(dtype))
    try:
        return config.DTypePolicy(str(dtype))
    except ValueError as exc:
        raise ConfigError(f"Unknown dtype. Received: dtype={dtype!r}. Use one of {sorted(_dtypes.TORCH)} or "
                          "'mixed_float16' / 'mixed_bfloat16'.") from exc


def _device_type(inputs) -> str:
    for t in flatten(inputs):
        if isinstance(t, torch.Tensor):
            return t.device.type
    return "cpu"


_PLAIN = (int, float, str, bool, type(None))


def _plain(value) -> bool:
    if isinstance(value, _PLAIN):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def _auto_config(layer, args, kwargs) -> dict:
    """The constructor arguments of a user's layer by name (Keras's automatic config)."""
    try:
        bound = inspect.signature(type(layer).__init__).bind(layer, *args, **kwargs).arguments
    except TypeError:
        bound = dict(kwargs)
    bound.pop("self", None)
    out = {}
    for key, value in bound.items():
        params = inspect.signature(type(layer).__init__).parameters
        if key in params and params[key].kind is inspect.Parameter.VAR_KEYWORD:
            out.update(value)
        elif key in params and params[key].kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        else:
            out[key] = value
    bad = [k for k, v in out.items() if not _plain(v)]
    if bad:
        raise ConfigError(
            f"Layer {type(layer).__name__} was created with arguments {bad} that are not plain values, so its "
            "config cannot be written automatically. Override get_config() (and from_config() if needed).")
    return out


def _shapes_of(x):
    if isinstance(x, torch.Tensor):
        return tuple(x.shape)
    if isinstance(x, (list, tuple)):
        return [_shapes_of(v) for v in x]
    if isinstance(x, dict):
        return {k: _shapes_of(v) for k, v in x.items()}
    return None
