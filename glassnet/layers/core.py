"""Core layers: Dense, Activation, Dropout, Flatten, Reshape, Permute, Lambda."""
from __future__ import annotations

import base64
import marshal
import math
import types
from typing import Callable

import torch
import torch.nn.functional as F

from .. import activations, checks, initializers
from ..dims import BATCH, as_dim, fmt_shape, is_fixed, product, symbol
from ..errors import ConfigError, ShapeError
from ..formula import plus, prod, sym
from . import registry
from .base import Layer
from .cost import Cost, numel, per_sample, positions

__all__ = ["Dense", "Activation", "Dropout", "Flatten", "Reshape", "Permute", "Lambda", "Identity",
           "describe_variable_axes", "REGULARIZER_FIX"]

REGULARIZER_FIX = "Add the penalty to the loss yourself, or leave it as None."

def describe_variable_axes(shape) -> str:
    """'variable height and width' for images, 'a variable number of time steps' for sequences."""
    variable = [i for i, d in enumerate(shape[1:], start=1) if not is_fixed(d)]
    rank = len(shape)
    roles = {4: {1: "height", 2: "width", 3: "channels"}, 5: {1: "depth", 2: "height", 3: "width", 4: "channels"},
             3: {1: "time steps", 2: "features"}}.get(rank, {})
    names = [roles.get(i, f"axis {i}") for i in variable]
    if names == ["time steps"]:
        return "a variable number of time steps"
    return "variable " + (" and ".join(names) if len(names) <= 2 else ", ".join(names[:-1]) + " and " + names[-1])


class Dense(Layer):
    """Densely connected layer acting on the last axis: ``activation(x @ kernel + bias)``.

    Args:
        units: output size.
        activation: activation name or callable (``None``: linear).
        use_bias: whether to add ``bias``.
        kernel_initializer, bias_initializer: Keras initialiser names.

    Input shape:
        ``(batch, ..., n)`` of any rank >= 2.
    Output shape:
        ``(batch, ..., units)``.
    Weights:
        ``kernel (n, units)``, ``bias (units,)``: params ``n·units + units``.

    Example:
        >>> layers.Dense(10)(gn.Input((3, 5, 7))).shape
        (None, 3, 5, 10)
    """

    supports_masking = True

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, lora_rank=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.units = checks.positive_int(self, "units", units)
        checks.unsupported(self, "glassnet does not implement LoRA; leave it as None.", lora_rank=lora_rank)
        self._weight_options(("kernel", "bias"), dict(kernel_regularizer=kernel_regularizer,
                                                      bias_regularizer=bias_regularizer,
                                                      kernel_constraint=kernel_constraint,
                                                      bias_constraint=bias_constraint))
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def build(self, input_shape):
        n = self._require_fixed(input_shape, -1, "last dimension")
        self.add_weight(name="kernel", shape=(n, self.units), initializer=self.kernel_initializer,
                        regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        if self.use_bias:
            self.add_weight(name="bias", shape=(self.units,), initializer=self.bias_initializer,
                            regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def compute_output_shape(self, input_shape):
        self._require_rank(input_shape, 2, "(batch, ..., features)", min_rank=True)
        if self.built:
            self._check_built_dim(input_shape, -1, self.kernel.shape[0], "input features")
        else:
            self._require_fixed(input_shape, -1, "last dimension")
        return (*input_shape[:-1], self.units)

    def call(self, inputs):
        y = F.linear(inputs, self.kernel.t(), self.bias if self.use_bias else None)
        return self.activation(y)

    def cost(self, input_shape, output_shape):
        n, u = sym("n"), sym("u")
        act = activations.ELEMENTWISE_FLOPS.get(activations.serialize(self.activation), 1)
        return Cost(
            params=plus(prod(n, u), u) if self.use_bias else prod(n, u), values={n: input_shape[-1], u: self.units},
            macs=prod(*input_shape[1:-1], n, u),
            other_flops=per_sample(output_shape) * ((1 if self.use_bias else 0) + act),
            reads=f"acts on the last axis of {positions(input_shape)} with one shared "
                  f"{input_shape[-1]}×{self.units} matrix",
            needs_fixed=("last axis (features)",),
            saved=("input", "output") if activations.serialize(self.activation) != "linear" else ("input",))

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias, "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer), **self._weight_options_config()}

    def extra_repr(self):
        return f"name={self.name!r}, units={self.units}"


class Activation(Layer):
    """Applies an activation function element-wise (``Activation("relu")``).

    ``"glu"`` halves the last axis (Keras 3 computes that but reports the input shape; glassnet reports
    the shape it computes). ``"threshold"`` needs two more arguments and cannot stand alone: use
    ``ReLU(threshold=...)``.
    """

    supports_masking = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        if isinstance(activation, str) and activation in activations.NEEDS_ARGUMENTS:
            raise ConfigError(self._error(
                f"cannot apply {activation!r} by name: it needs {activations.NEEDS_ARGUMENTS[activation]}",
                f"activation={activation!r}", "Use layers.ReLU(threshold=...) or a Lambda with the arguments."))
        self.activation = activations.get(activation)

    def compute_output_shape(self, input_shape):
        if activations.serialize(self.activation) != "glu":
            return input_shape
        last = input_shape[-1]
        if is_fixed(last) and last % 2:
            raise ShapeError(self._error(
                "applies glu, which splits the last axis in two halves, so it needs an even size there",
                f"input shape {fmt_shape(input_shape)}"))
        return (*input_shape[:-1], last // 2 if is_fixed(last) else as_dim(last / 2))

    def call(self, inputs):
        return self.activation(inputs)

    def cost(self, input_shape, output_shape):
        name = activations.serialize(self.activation)
        return Cost(other_flops=per_sample(output_shape) * activations.ELEMENTWISE_FLOPS.get(name, 1),
                    reads=f"applies {name} to every element", saved=("output",))

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class Dropout(Layer):
    """Sets a fraction ``rate`` of inputs to 0 during training and scales the rest by ``1/(1-rate)``.

    Args:
        rate: fraction to drop, in [0, 1).
        noise_shape: shape of the binary mask, broadcast against the input (``None``: input shape).
        seed: accepted for Keras compatibility; use ``gn.utils.set_random_seed`` for repeatability.
    """

    supports_masking = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = checks.number_in(self, "rate", rate, 0, 1)
        self.noise_shape, self.seed = noise_shape, seed

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        if self.noise_shape is None:
            return F.dropout(inputs, self.rate, training=True)
        shape = [inputs.shape[i] if d is None else d for i, d in enumerate(self.noise_shape)]
        keep = torch.empty(shape, device=inputs.device, dtype=inputs.dtype).bernoulli_(1 - self.rate)
        return inputs * keep / (1 - self.rate)

    def cost(self, input_shape, output_shape):
        return Cost(reads=f"zeroes a random {self.rate:g} of the elements in training (identity in inference)",
                    saved=((numel(input_shape), 1),) if self.rate > 0 else ())

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape, "seed": self.seed}


class Identity(Layer):
    """Returns its input unchanged (a placeholder in a model); the mask passes through.

    Example:
        >>> layers.Identity()(gn.Input((3, 5))).shape
        (None, 3, 5)
    """

    supports_masking = True

    def call(self, inputs):
        return inputs

    def cost(self, input_shape, output_shape):
        return Cost(reads="passes its input through unchanged")


class Flatten(Layer):
    """Flattens every axis but the batch: ``(batch, d1, …, dk) → (batch, d1·…·dk)``.

    A variable dimension makes the output size variable, so a following Dense cannot be
    built; use GlobalAveragePooling2D/GlobalMaxPooling2D for variable-size images.
    """

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = checks.data_format(self, data_format)

    def compute_output_shape(self, input_shape):
        if len(input_shape) == 1:
            return (input_shape[0], 1)
        return (input_shape[0], product(input_shape[1:]))

    def call(self, inputs):
        if self.data_format == "channels_first" and inputs.ndim > 2:
            inputs = inputs.movedim(1, -1)
        return inputs.reshape(inputs.shape[0], -1)

    def cost(self, input_shape, output_shape):
        return Cost(reads="lays every position's features out in one row (the order H, W, C)", rf=("global",))

    def why_variable(self, axis):
        shape = self._build_shape
        if shape is None or all(is_fixed(d) for d in shape[1:]):
            return None
        out = self.compute_output_shape(shape)
        reason = (f"Flatten '{self.name}' outputs {fmt_shape(tuple(None if not is_fixed(d) else d for d in out))} "
                  f"because its input {fmt_shape(tuple(None if not is_fixed(d) else d for d in shape))} has "
                  f"{describe_variable_axes(shape)}")
        if len(shape) == 4:
            fix = "Use GlobalAveragePooling2D or GlobalMaxPooling2D instead of Flatten for variable-size images."
        elif len(shape) == 3:
            fix = ("Use GlobalAveragePooling1D, GlobalMaxPooling1D or a recurrent layer instead of Flatten "
                   "for variable-length sequences.")
        else:
            fix = "Give the variable dimensions a size in Input(...), or pool them away instead of flattening."
        return reason, fix

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """Reshapes each sample to ``target_shape`` (batch axis excluded; at most one ``-1``)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        target_shape = tuple(target_shape) if not isinstance(target_shape, int) else (target_shape,)
        if sum(1 for d in target_shape if d == -1) > 1:
            raise ConfigError(
                "There must be at most one unknown dimension (-1) in target_shape. "
                f"Received: target_shape={target_shape}")
        if any(isinstance(d, bool) or not isinstance(d, int) or d < -1 for d in target_shape):
            raise ConfigError(f"Reshape target dims must be non-negative ints or -1. Received: target_shape={target_shape}")
        self.target_shape = target_shape

    def compute_output_shape(self, input_shape):
        total = product(input_shape[1:])
        known = math.prod(d for d in self.target_shape if d != -1)
        if -1 not in self.target_shape:
            if is_fixed(total) and total != known:
                raise ShapeError(self._error(
                    f"cannot hold the input: the total size of the tensor must be unchanged, but the input has "
                    f"{total} values per sample and target_shape {self.target_shape} has {known}",
                    f"input shape {fmt_shape(input_shape)}, target_shape={self.target_shape}",
                    "Choose a target_shape whose sizes multiply to the input's size, or use -1 for one dimension."))
            return (input_shape[0], *self.target_shape)
        if known == 0 or (is_fixed(total) and total % known):
            raise ShapeError(self._error(
                f"cannot hold the input: its {total} values per sample cannot be divided into "
                f"target_shape {self.target_shape}",
                f"input shape {fmt_shape(input_shape)}, target_shape={self.target_shape}",
                "Choose sizes whose product divides the input's size."))
        fill = total // known if is_fixed(total) else as_dim(total / known)
        return (input_shape[0], *(fill if d == -1 else d for d in self.target_shape))

    def call(self, inputs):
        return inputs.reshape(inputs.shape[0], *self.target_shape)

    def cost(self, input_shape, output_shape):
        return Cost(reads=f"re-reads each sample's values in a new shape {tuple(self.target_shape)}", rf=("global",))

    def why_variable(self, axis):
        shape = self._build_shape
        if shape is None or all(is_fixed(d) for d in shape[1:]):
            return None
        return (f"Reshape '{self.name}' outputs a variable size because its input {fmt_shape(shape)} has "
                f"{describe_variable_axes(shape)}", "Give those dimensions a size, or pool them away.")

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Permute(Layer):
    """Permutes the non-batch axes; ``dims`` counts from 1 (``Permute((2, 1))`` swaps time and features)."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        dims = tuple(dims)
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ConfigError(
                "Invalid permutation argument `dims` for Permute Layer. The set of indices in `dims` must be "
                f"consecutive and start from 1. Received: dims={dims}")
        self.dims = dims

    def compute_output_shape(self, input_shape):
        if len(input_shape) != len(self.dims) + 1:
            raise ShapeError(self._error(
                f"permutes {len(self.dims)} axes, so it expects input of rank {len(self.dims) + 1}",
                f"input shape {fmt_shape(input_shape)}, dims={self.dims}"))
        return (input_shape[0], *(input_shape[d] for d in self.dims))

    def call(self, inputs):
        return inputs.permute(0, *self.dims)

    def cost(self, input_shape, output_shape):
        return Cost(reads=f"reorders the axes as {self.dims}", rf=("global",))

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}


class Lambda(Layer):
    """Wraps a function of tensors as a layer (no weights).

    Args:
        function: called as ``function(inputs, **arguments)``.
        output_shape: per-sample shape (tuple without batch), or a callable of the full input
            shape; inferred by probing the function when omitted.
        mask: ``None`` (the incoming mask is dropped), a callable ``(inputs, mask) -> mask``, or a tensor.
        arguments: extra keyword arguments for ``function``.
    """

    def __init__(self, function: Callable, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda needs a callable. Received: function={function!r}")
        self.function, self._output_shape, self._mask, self.arguments = function, output_shape, mask, arguments or {}
        self.supports_masking = mask is not None

    def compute_output_shape(self, input_shape):
        if callable(self._output_shape):
            return self._named(tuple(self._output_shape(input_shape)))
        if self._output_shape is not None:
            batch = input_shape[0] if isinstance(input_shape, tuple) else input_shape[0][0]
            return self._named((batch, *tuple(self._output_shape)))
        return self._probe_shape(input_shape)

    def _named(self, shape: tuple) -> tuple:
        """A given output shape with each None past the batch axis made a dimension of its own, as Keras
        leaves it variable."""
        return tuple(d if d is not None else BATCH if i == 0 else symbol(f"{self.name}_{i}")
                     for i, d in enumerate(shape))

    def _probe_shape(self, input_shape):
        """Infer the output shape by running the function on zeros of two sizes for variable dims."""
        results = []
        for size in (3, 5):
            def make(shape):
                return torch.zeros(tuple(d if is_fixed(d) else size for d in shape))
            x = make(input_shape) if isinstance(input_shape, tuple) else [make(s) for s in input_shape]
            try:
                with torch.no_grad():
                    y = self.function(x, **self.arguments)
            except Exception as exc:
                raise ShapeError(self._error(
                    "could not infer its output shape by calling its function on zeros "
                    f"({type(exc).__name__}: {exc})", f"input shape {fmt_shape(input_shape)}",
                    "Pass output_shape=... to Lambda.")) from exc
            results.append(tuple(y.shape))
        a, b = results
        batch = input_shape[0] if isinstance(input_shape, tuple) else input_shape[0][0]
        out = [batch]
        for i, (p, q) in enumerate(zip(a[1:], b[1:]), start=1):
            out.append(p if p == q else symbol(f"{self.name}_{i}"))
        return tuple(out)

    @property
    def mask_rule(self):
        return "create" if self._mask is not None else "drop"

    def compute_mask(self, inputs, mask=None):
        if callable(self._mask):
            return self._mask(inputs, mask)
        return self._mask

    def compute_mask_shape(self, input_shape, mask_shape):
        if self._mask is None:
            return None
        return mask_shape if mask_shape is not None else tuple(input_shape[:-1])

    def call(self, inputs):
        return self.function(inputs, **self.arguments)

    def cost(self, input_shape, output_shape):
        return Cost.unknown(self, f"runs the Python function {getattr(self.function, '__name__', 'lambda')}; "
                                  "its cost is unknown")

    def get_config(self):
        return {**super().get_config(), "function": getattr(self.function, "__name__", "lambda"),
                "output_shape": self._output_shape if not callable(self._output_shape) else None,
                "arguments": self.arguments}

    @classmethod
    def from_config(cls, config):
        """A Lambda from a file: a named function only from ``custom_objects``; stored bytecode only with
        ``safe_mode=False`` (loading it would run code from the file)."""
        cfg = dict(config)
        ctx = registry.current()
        fn, name = cfg.get("function"), cfg.get("name")
        if isinstance(fn, dict) and fn.get("class_name") == "__lambda__":
            if ctx.safe_mode:
                raise ConfigError(
                    f"Lambda layer '{name}' holds Python bytecode. Loading it would run code from the file, so "
                    "it is refused. Pass safe_mode=False only for a file you trust.")
            cfg["function"] = _load_bytecode(fn.get("config") or {})
        elif isinstance(fn, (dict, str)):
            fname = fn.get("config") if isinstance(fn, dict) else fn
            found = ctx.custom_objects.get(fname) if isinstance(fname, str) else None
            if not callable(found):
                raise ConfigError(f"Lambda layer '{name}' uses the function {fname!r}; pass it in "
                                  f"custom_objects={{{fname!r}: function}} to load the model.")
            cfg["function"] = found
        elif not callable(fn):
            raise ConfigError(f"Lambda layer '{name}' has no function.")
        if isinstance(cfg.get("output_shape"), dict):
            raise ConfigError(f"Lambda layer '{name}' has a callable output_shape; it cannot be loaded.")
        if cfg.pop("mask", None) is not None:
            raise ConfigError(f"Lambda layer '{name}' has a stored mask function; it cannot be loaded.")
        for key in ("function_type", "output_shape_type", "output_shape_module", "module"):
            cfg.pop(key, None)
        return cls(**cfg)


def _load_bytecode(config: dict):
    """Keras's lambda serialisation (marshal of a code object) — reached only with safe_mode=False."""
    try:
        code = marshal.loads(base64.b64decode(config["code"]))
        return types.FunctionType(code, {"__builtins__": __builtins__})
    except Exception as exc:
        raise ConfigError(f"A Lambda's bytecode cannot be loaded in this Python ({exc}).") from exc
