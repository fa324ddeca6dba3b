"""EinsumDense: a dense layer whose contraction is an einsum equation (Keras 3's shape rules and layouts).

The equation names the input, the kernel and the output axes, e.g. ``"abc,cde->abde"`` projects the
last axis of a ``(batch, T, c)`` input onto ``d × e`` (what multi-head attention does for its query,
key and value). ``...`` may stand for leading (``"...b,bc->...c"``) or trailing axes.
"""
from __future__ import annotations

import math
import re

import torch

from .. import activations, checks, initializers
from ..dims import fmt_shape, is_fixed
from ..errors import ConfigError, ShapeError
from ..formula import plus, prod, sym
from .base import Layer
from .core import REGULARIZER_FIX
from .cost import Cost, per_sample

__all__ = ["EinsumDense", "analyze_einsum"]

_FORMS = (  # (pattern with "..." written as "0", which side the ellipsis stands on)
    (re.compile(r"([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)$"), None),
    (re.compile(r"0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)$"), "left"),
    (re.compile(r"([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0$"), "right"),
)


def _split(equation: str):
    text = equation.replace("...", "0") if isinstance(equation, str) else ""
    for pattern, elided in _FORMS:
        m = pattern.match(text)
        if m:
            return m.group(1), m.group(2), m.group(3), elided
    raise ConfigError(f"Invalid einsum equation '{equation}'. Equations must be in the form [X],[Y]->[Z], "
                      f"...[X],[Y]->...[Z], or [X]...,[Y]->[Z]....")


def analyze_einsum(equation: str, bias_axes, input_shape, partial_output_shape):
    """Keras's ``_analyze_einsum_string`` over symbolic dims.

    Returns ``(kernel_shape, bias_shape or None, output_shape, input_axes, output_axes, sizes)`` where
    ``sizes`` maps every letter to its size and ``"..."`` to the elided dims (batch axis included).
    ``None`` entries of the partial output shape take the input's size at the same letter.
    """
    ins, ws, outs, elided_side = _split(equation)
    elided = len(input_shape) - len(ins)
    if elided < 0 or (elided > 0 and elided_side is None):
        raise ShapeError(f"The einsum equation '{equation}' names {len(ins)} input axes. "
                         f"Received: input shape {fmt_shape(input_shape)}.")
    out = [input_shape[0], *partial_output_shape]
    if elided > 0 and elided_side == "left":
        for i in range(1, elided):
            out.insert(1, input_shape[i])
    elif elided > 0:
        out.extend(input_shape[len(input_shape) - elided:])
    if elided_side == "left":
        in_pos = {c: i + elided for i, c in enumerate(ins)}
        out_pos = {c: i + elided for i, c in enumerate(outs)}
    else:
        in_pos = {c: i for i, c in enumerate(ins)}
        out_pos = {c: i for i, c in enumerate(outs)}
    if len(out) != len(outs) + (elided if elided_side else 0):
        raise ConfigError(f"The einsum equation '{equation}' has {len(outs)} output axes, but output_shape "
                          f"{tuple(partial_output_shape)} gives {len(out) - 1} besides the batch axis.")
    for c in ins:
        if c in out_pos:
            i = out_pos[c]
            if out[i] is None:
                out[i] = input_shape[in_pos[c]]
            elif is_fixed(out[i]) and is_fixed(input_shape[in_pos[c]]) and out[i] != input_shape[in_pos[c]]:
                raise ShapeError(f"Input shape and output shape do not match at shared dimension '{c}'. "
                                 f"Input shape is {input_shape[in_pos[c]]}, and output shape is {out[i]}.")
    for c in outs:
        if c not in ins and c not in ws:
            raise ConfigError(f"Dimension '{c}' was specified in the output '{outs}' but has no corresponding dim "
                              f"in the input spec '{ins}' or weight spec '{ws}'.")
    kernel, input_axes, output_axes = [], [], []
    for i, c in enumerate(ws):
        if c in out_pos:
            kernel.append(out[out_pos[c]])
            output_axes.append(i)
        elif c in in_pos:
            kernel.append(input_shape[in_pos[c]])
            input_axes.append(i)
        else:
            raise ConfigError(f"Weight dimension '{c}' did not have a match in either the input spec '{ins}' or "
                              f"the output spec '{outs}'. For this layer, the weight must be fully specified.")
    bias = None
    if bias_axes is not None:
        shift = elided if elided_side == "left" else 0
        for c in bias_axes:
            if c not in outs:
                raise ConfigError(f"Bias dimension '{c}' was requested, but is not part of the output spec '{outs}'.")
        first = min(outs.find(c) for c in bias_axes)
        bias = [out[outs.find(c) + shift] if c in bias_axes else 1 for c in outs[first:]]
        if elided_side == "right":
            bias += [1] * elided
    sizes = {c: input_shape[p] for c, p in in_pos.items()}
    sizes.update({c: out[p] for c, p in out_pos.items() if c not in sizes})
    sizes.update({c: kernel[i] for i, c in enumerate(ws) if c not in sizes})
    if elided_side == "left":
        sizes["..."] = tuple(input_shape[:elided])
    elif elided_side == "right":
        sizes["..."] = tuple(input_shape[len(input_shape) - elided:])
    return kernel, bias, tuple(out), input_axes, output_axes, sizes


def _fan_initializer(init, kernel_shape, input_axes, output_axes):
    """Keras's EinsumDense gives a variance-scaling initialiser the kernel's input and output axes:
    fan_in = product of the input axes, fan_out = product of the output axes (draws are i.i.d.)."""
    if not isinstance(init, initializers.VarianceScaling):
        return init
    fan_in = math.prod(kernel_shape[i] for i in input_axes)
    fan_out = math.prod(kernel_shape[i] for i in output_axes)
    return lambda shape, dtype=torch.float32: init((fan_in, fan_out), dtype).reshape(shape)


class EinsumDense(Layer):
    """A dense layer as an einsum: ``activation(einsum(equation, inputs, kernel) + bias)``.

    Args:
        equation: ``"<input>,<kernel>-><output>"`` (letters; ``...`` for elided axes).
        output_shape: the output's shape without the batch axis (an int for one axis); ``None``
            entries take the input's size.
        activation: activation name or callable (``None``: linear).
        bias_axes: output letters that get a bias (``None``: no bias).
        kernel_initializer, bias_initializer: Keras initialiser names.

    Weights:
        ``kernel`` with one axis per kernel letter, ``bias`` over ``bias_axes`` (broadcast to the output).

    Example:
        >>> layers.EinsumDense("abc,cde->abde", (5, 2, 4), bias_axes="de")(gn.Input((5, 3))).shape
        (None, 5, 2, 4)
    """

    def __init__(self, equation, output_shape, activation=None, bias_axes=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, lora_rank=None, lora_alpha=None, gptq_unpacked_column_size=None,
                 quantization_config=None, activity_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        checks.unsupported(self, REGULARIZER_FIX, kernel_regularizer=kernel_regularizer,
                           bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                           bias_constraint=bias_constraint, activity_regularizer=activity_regularizer)
        checks.unsupported(self, "LoRA and quantization are not part of glassnet; leave them as None.",
                           lora_rank=lora_rank, lora_alpha=lora_alpha,
                           gptq_unpacked_column_size=gptq_unpacked_column_size, quantization_config=quantization_config)
        try:
            _, ws, outs, _ = _split(equation)
        except ConfigError as exc:
            raise ConfigError(f"{checks.owner_text(self)}: {exc}") from None
        self.equation = equation
        if isinstance(output_shape, int) and not isinstance(output_shape, bool):
            output_shape = (output_shape,)
        if not isinstance(output_shape, (list, tuple)) or any(
                d is not None and (isinstance(d, bool) or not isinstance(d, int) or d <= 0) for d in output_shape):
            raise ConfigError(f"{checks.owner_text(self)}: the `output_shape` argument must be an int or a tuple of "
                              f"positive ints or None. Received: output_shape={output_shape!r}")
        self.partial_output_shape = tuple(output_shape)
        if bias_axes is not None and (not isinstance(bias_axes, str) or any(c not in outs for c in bias_axes)):
            raise ConfigError(f"{checks.owner_text(self)}: the `bias_axes` argument must be letters of the output "
                              f"spec '{outs}'. Received: bias_axes={bias_axes!r}")
        self.bias_axes = bias_axes
        self.activation = activations.get(activation)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def _analyze(self, input_shape):
        try:
            return analyze_einsum(self.equation, self.bias_axes, input_shape, self.partial_output_shape)
        except (ShapeError, ConfigError) as exc:
            raise ShapeError(self._error(str(exc).rstrip("."), f"input shape {fmt_shape(input_shape)}")) from None

    def compute_output_shape(self, input_shape):
        kernel, _, out, _, _, _ = self._analyze(input_shape)
        for d in kernel:
            if not is_fixed(d):
                raise ShapeError(self._error(
                    "needs every kernel axis fixed, but one takes a variable input dimension",
                    f"input shape {fmt_shape(input_shape)}", "Give that dimension a size in Input(...)."))
        if self.built and tuple(kernel) != tuple(self.kernel.shape):
            raise ShapeError(self._error(
                f"was built with a kernel of shape {tuple(self.kernel.shape)}; this input needs {tuple(kernel)}",
                f"input shape {fmt_shape(input_shape)}", "Feed it tensors like those it was built with."))
        return out

    def build(self, input_shape):
        kernel, bias, _, input_axes, output_axes, _ = self._analyze(input_shape)
        kernel = tuple(int(d) for d in kernel)
        self.add_weight(name="kernel", shape=kernel,
                        initializer=_fan_initializer(self.kernel_initializer, kernel, input_axes, output_axes))
        if bias is not None:
            self.add_weight(name="bias", shape=tuple(int(d) for d in bias), initializer=self.bias_initializer)

    def call(self, inputs):
        y = torch.einsum(self.equation, inputs, self.kernel)
        if self.bias_axes is not None:
            y = y + self.bias
        return self.activation(y)

    def cost(self, input_shape, output_shape):
        ins, ws, outs, elided_side = _split(self.equation)
        kernel, bias, _, _, _, sizes = self._analyze(input_shape)
        batch_letter = ins[0] if elided_side != "left" else None
        weight_letters = [c for c in ws]
        values = {sym(c): int(sizes[c]) for c in weight_letters}
        params = prod(*(sym(c) for c in ws))
        if bias is not None:
            params = plus(params, prod(*(sym(c) for c in self.bias_axes)))
        # one multiply-add for every combination of the equation's indices (the batch left out)
        factors = []
        letters = list(dict.fromkeys(ins + ws + outs))
        for c in letters:
            if c == batch_letter:
                continue
            factors.append(sym(c) if c in ws else sizes[c])
        elided = list(sizes.get("...", ()))
        if elided_side == "left":
            elided = elided[1:]  # the batch axis is the first elided one
        act = activations.ELEMENTWISE_FLOPS.get(activations.serialize(self.activation), 1)
        return Cost(
            params=params, values=values, macs=prod(*elided, *factors),
            other_flops=per_sample(output_shape) * ((1 if bias is not None else 0) + act),
            reads=f"contracts its input with one shared kernel {tuple(kernel)} by the equation '{self.equation}'",
            needs_fixed=("the axes the kernel reads",),
            saved=("input", "output") if act else ("input",))

    def get_config(self):
        return {**super().get_config(), "output_shape": list(self.partial_output_shape), "equation": self.equation,
                "activation": activations.serialize(self.activation), "bias_axes": self.bias_axes,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer)}

    def extra_repr(self):
        return f"name={self.name!r}, equation={self.equation!r}"
