"""Convolutions: Conv1D/2D/3D, DepthwiseConv1D/2D, SeparableConv1D/2D (channels-last, Keras layouts)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .. import activations, checks, initializers
from ..dims import conv_output_length, fmt_dim, fmt_shape, is_fixed, same_padding
from ..errors import ConfigError, ShapeError
from ..formula import plus, prod, sym
from .base import Layer
from .cost import Cost, numel, per_sample

__all__ = ["Conv1D", "Conv2D", "Conv3D", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D",
           "SeparableConv2D", "normalize_padding", "kernel_symbols", "spatial_pads", "pad_input",
           "channels_first", "channels_last", "SPATIAL_NAMES"]

SPATIAL_NAMES = {1: ("steps",), 2: ("height", "width"), 3: ("depth", "height", "width")}
_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


# ---------------------------------------------------------------------- shared helpers
def normalize_padding(owner, padding, allow_causal: bool = False) -> str:
    """``"VALID"`` → ``"valid"``; anything but valid/same (and causal for 1-D convolutions) is refused."""
    allowed = ("valid", "same", "causal") if allow_causal else ("valid", "same")
    p = padding.lower() if isinstance(padding, str) else padding
    if p not in allowed:
        checks.one_of(owner, "padding", padding, allowed)
    return p


def kernel_symbols(kernel_size) -> list:
    """``k`` for a square kernel (``k·k``), ``k1, k2`` for a rectangular one, with their values."""
    if len(set(kernel_size)) == 1:
        return [(sym("k"), kernel_size[0])] * len(kernel_size)
    return [(sym(f"k{i + 1}"), v) for i, v in enumerate(kernel_size)]


def spatial_pads(lengths, kernel, strides, dilation, padding) -> list[tuple[int, int]]:
    """(before, after) padding per spatial axis for concrete input lengths."""
    if padding == "valid":
        return [(0, 0)] * len(kernel)
    if padding == "causal":
        return [(d * (k - 1), 0) for k, d in zip(kernel, dilation)]
    return [same_padding(L if isinstance(L, torch.SymInt) else int(L), k, s, d)
            for L, k, s, d in zip(lengths, kernel, strides, dilation)]


def pad_input(x: torch.Tensor, pads, value: float = 0.0):
    """Pad a channels-first tensor explicitly when the split is asymmetric.

    Returns ``(x, symmetric_padding)``: torch takes symmetric padding itself, so the
    tensor is copied only for the asymmetric TF-style "same" split.
    """
    if all(isinstance(b, int) and isinstance(a, int) and b == a for b, a in pads):
        return x, tuple(b for b, _ in pads)
    flat = []
    for b, a in reversed(pads):
        flat += [b, a]
    return F.pad(x, flat, value=value), (0,) * len(pads)


def channels_first(x: torch.Tensor, rank: int) -> torch.Tensor:
    return x.permute(0, rank + 1, *range(1, rank + 1))


def channels_last(x: torch.Tensor, rank: int) -> torch.Tensor:
    return x.permute(0, *range(2, rank + 2), 1)


class _BaseConv(Layer):
    """What every convolution shares: arguments, shape rule, padding and the call skeleton."""

    rank = 2
    depthwise = False
    _weight_args: tuple[str, ...] = ("kernel", "bias")  # the weights taking Keras's *_regularizer / *_constraint

    def __init__(self, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 activation=None, use_bias=True, bias_initializer="zeros", **kwargs):
        options = {k: kwargs.pop(k) for k in list(kwargs) if k.endswith(("_regularizer", "_constraint"))
                   and k != "activity_regularizer"}
        super().__init__(**kwargs)
        self._weight_options(self._weight_args, options)
        self.kernel_size = checks.int_tuple(self, "kernel_size", kernel_size, self.rank)
        self.strides = checks.int_tuple(self, "strides", strides, self.rank)
        self.dilation_rate = checks.int_tuple(self, "dilation_rate", dilation_rate, self.rank)
        self.padding = normalize_padding(self, padding, allow_causal=self.rank == 1 and not self.depthwise)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ConfigError(
                f"{checks.owner_text(self)}: `strides > 1` not supported in conjunction with `dilation_rate > 1`. "
                f"Received: strides={self.strides} and dilation_rate={self.dilation_rate}. "
                "Use strides=1 with dilation, or dilation_rate=1 with strides.")
        self.data_format = checks.data_format(self, data_format)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = initializers.get(bias_initializer)

    # -- shape rule ---------------------------------------------------------------
    @property
    def _channel_axis(self) -> int:
        return -1 if self.data_format == "channels_last" else 1

    def _spatial_axes(self) -> list[int]:
        return list(range(1, self.rank + 1)) if self.data_format == "channels_last" else list(range(2, self.rank + 2))

    def compute_output_shape(self, input_shape):
        names = SPATIAL_NAMES[self.rank]
        meaning = "(batch, " + ", ".join(names) + ", channels)" if self.data_format == "channels_last" \
            else "(batch, channels, " + ", ".join(names) + ")"
        fix = None
        if len(input_shape) == self.rank + 1 and self.data_format == "channels_last":
            per_sample = input_shape[1:]
            if all(is_fixed(d) for d in per_sample):
                fix = f"Add a channel axis, e.g. layers.Reshape({(*per_sample, 1)})."
            else:
                fix = "Add a channel axis, e.g. x[..., None] on the data and Input(shape=(..., 1))."
        self._require_rank(input_shape, self.rank + 2, meaning, fix)
        cin = self._require_fixed(input_shape, self._channel_axis, "number of channels")
        if self.built:
            self._check_built_dim(input_shape, self._channel_axis, self._built_channels, "input channels")
        self._check_channels(cin, input_shape)
        spatial = []
        for i, axis in enumerate(self._spatial_axes()):
            L = input_shape[axis]
            out = conv_output_length(L, self.kernel_size[i], self.strides[i], self.padding, self.dilation_rate[i])
            if is_fixed(out) and out <= 0:
                k_eff = self.dilation_rate[i] * (self.kernel_size[i] - 1) + 1
                raise ShapeError(self._error(
                    f"needs an input {names[i]} of at least {k_eff} for its kernel {self.kernel_size} "
                    f"(dilation {self.dilation_rate}), otherwise the computed output size would be zero or negative",
                    f"input shape {fmt_shape(input_shape)}",
                    'Use padding="same", a smaller kernel, or a larger input.'))
            spatial.append(out)
        cout = self._out_channels(cin)
        if self.data_format == "channels_last":
            return (input_shape[0], *spatial, cout)
        return (input_shape[0], cout, *spatial)

    def _check_channels(self, cin: int, input_shape) -> None:
        pass

    # -- arithmetic ----------------------------------------------------------------
    def _conv(self, x_cf: torch.Tensor, weight: torch.Tensor, groups: int, bias=None, strides=None,
              dilation=None, pads=None) -> torch.Tensor:
        strides = self.strides if strides is None else strides
        dilation = self.dilation_rate if dilation is None else dilation
        if pads is None and self.padding == "valid":
            padding = 0  # nothing to pad (the common case, checked first: this runs at every call)
        else:
            if pads is None:
                pads = spatial_pads(x_cf.shape[2:], self.kernel_size, strides, dilation, self.padding)
            x_cf, padding = pad_input(x_cf, pads)
        return _CONV[self.rank](x_cf, weight, bias, strides, padding, dilation, groups)

    def call(self, inputs):
        x = channels_first(inputs, self.rank) if self.data_format == "channels_last" else inputs
        y = self._forward_cf(x)
        if self.data_format == "channels_last":
            y = channels_last(y, self.rank)
        return self.activation(y)

    # -- cost rule (subclasses give _rule(cin, spatial_out) -> (params, macs, values)) -------------
    def cost(self, input_shape, output_shape):
        cin = input_shape[self._channel_axis]
        cout = output_shape[self._channel_axis]
        spatial = [output_shape[a] for a in self._spatial_axes()]
        params, macs, values = self._rule(cin, spatial)
        window = "×".join(str(k) for k in self.kernel_size)
        over = "×".join(fmt_dim(input_shape[a]) for a in self._spatial_axes())
        extra = []
        if max(self.strides) > 1:
            extra.append(f"stride {self.strides if self.rank > 1 else self.strides[0]}")
        if max(self.dilation_rate) > 1:
            extra.append(f"dilation {self.dilation_rate if self.rank > 1 else self.dilation_rate[0]}")
        act = activations.ELEMENTWISE_FLOPS.get(activations.serialize(self.activation), 1)
        return Cost(
            params=params, values=values, macs=macs,
            other_flops=per_sample(output_shape) * ((1 if self.use_bias else 0) + act),
            reads=f"slides a {window} window over {over}" + (f" ({', '.join(extra)})" if extra else "")
                  + f", {self._mixing_text(cin, cout)}",
            rf=("window", list(zip(self.kernel_size, self.strides, self.dilation_rate))),
            needs_fixed=("channels",),
            saved=("input", "output") if activations.serialize(self.activation) != "linear" else ("input",))

    def _mixing_text(self, cin, cout) -> str:
        return f"mixing all {cin} input channels into each of {cout} outputs"

    def _torch_order(self) -> tuple[int, ...]:
        return (self.rank + 1, self.rank, *range(self.rank))

    def _torch_kernel(self, kernel: torch.Tensor) -> torch.Tensor:
        """Keras ``(*k, in, out)`` → torch ``(out, in, *k)``, contiguous (some CPU kernels need it for
        backward); a kernel stored in torch's memory order makes this a view, not a copy."""
        return kernel.permute(*self._torch_order()).contiguous()

    def get_config(self):
        return {**super().get_config(), "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": list(self.dilation_rate), "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias, "bias_initializer": initializers.serialize(self.bias_initializer),
                **self._weight_options_config()}


class _Conv(_BaseConv):
    """``filters`` kernels of ``kernel_size × in/groups`` slid over the spatial axes.

    Weights: ``kernel (*kernel_size, in/groups, filters)``, ``bias (filters,)``;
    params ``prod(kernel_size)·(in/groups)·filters + filters``.
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         bias_initializer, **kwargs)
        checks.positive_int(self, "filters", filters)
        if isinstance(groups, bool) or not isinstance(groups, int) or groups <= 0 or filters % groups:
            raise ConfigError(self._error(
                "needs groups to be a positive integer that divides filters",
                f"filters={filters}, groups={groups!r}"))
        self.filters, self.groups = filters, groups
        self.kernel_initializer = initializers.get(kernel_initializer)

    def _check_channels(self, cin, input_shape):
        if cin % self.groups:
            raise ShapeError(self._error(
                f"splits its input channels into groups={self.groups}, so the channels must be divisible by it",
                f"input shape {fmt_shape(input_shape)}",
                "Use a groups value that divides the number of input channels."))

    def _out_channels(self, cin):
        return self.filters

    def _rule(self, cin, spatial):
        ks = kernel_symbols(self.kernel_size)
        c, f = (sym("c/g"), sym("f")) if self.groups > 1 else (sym("c"), sym("f"))
        values = {**dict(ks), c: cin // self.groups, f: self.filters}
        kernel = prod(*(k for k, _ in ks), c, f)
        return plus(kernel, f) if self.use_bias else kernel, prod(f, *(k for k, _ in ks), c, *spatial), values

    def _mixing_text(self, cin, cout):
        if self.groups > 1:
            return f"mixing {cin // self.groups} channels per group ({self.groups} groups) into {cout} outputs"
        return f"mixing all {cin} input channels into each of {cout} outputs"

    def build(self, input_shape):
        cin = input_shape[self._channel_axis]
        self._built_channels = cin
        self.add_weight(name="kernel", shape=(*self.kernel_size, cin // self.groups, self.filters),
                        initializer=self.kernel_initializer, memory_order=self._torch_order(),
                        regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        if self.use_bias:
            self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer,
                            regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def _forward_cf(self, x):
        return self._conv(x, self._torch_kernel(self.kernel), self.groups, self.bias if self.use_bias else None)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "groups": self.groups,
                "kernel_initializer": initializers.serialize(self.kernel_initializer)}


class Conv1D(_Conv):
    """1-D convolution over ``(batch, steps, channels)``; padding ``valid``, ``same`` or ``causal``."""
    keras_aliases = ("Convolution1D",)
    rank = 1


class Conv2D(_Conv):
    """2-D convolution over ``(batch, height, width, channels)``.

    Example:
        >>> layers.Conv2D(64, (3, 3))(gn.Input((28, 28, 1))).shape
        (None, 26, 26, 64)
    """
    keras_aliases = ("Convolution2D",)
    rank = 2


class Conv3D(_Conv):
    """3-D convolution over ``(batch, depth, height, width, channels)``."""
    keras_aliases = ("Convolution3D",)
    rank = 3


class _DepthwiseMixin:
    def _depthwise_weight(self, kernel: torch.Tensor, cin: int) -> torch.Tensor:
        """Keras ``(*k, cin, dm)`` → torch ``(cin·dm, 1, *k)``; output channel ``c·dm + m``."""
        k = kernel.reshape(*self.kernel_size, 1, cin * self.depth_multiplier)
        return self._torch_kernel(k)


class _DepthwiseConv(_DepthwiseMixin, _BaseConv):
    """One kernel per input channel (``depth_multiplier`` of them), channels never mixed.

    Weights: ``kernel (*kernel_size, in, depth_multiplier)``, ``bias (in·depth_multiplier,)``.
    """

    depthwise = True
    _weight_args = ("depthwise", "bias")

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         bias_initializer, **kwargs)
        self.depth_multiplier = checks.positive_int(self, "depth_multiplier", depth_multiplier)
        self.depthwise_initializer = initializers.get(depthwise_initializer)

    def _out_channels(self, cin):
        return cin * self.depth_multiplier

    def _rule(self, cin, spatial):
        ks = kernel_symbols(self.kernel_size)
        c, m = sym("c"), sym("m")
        values = {**dict(ks), c: cin, m: self.depth_multiplier}
        kernel = prod(*(k for k, _ in ks), c, m)
        params = plus(kernel, prod(c, m)) if self.use_bias else kernel
        return params, prod(c, m, *(k for k, _ in ks), *spatial), values

    def _mixing_text(self, cin, cout):
        return f"one kernel per input channel ({cin} channels × depth_multiplier {self.depth_multiplier}), channels never mixed"

    def build(self, input_shape):
        cin = input_shape[self._channel_axis]
        self._built_channels = cin
        self.add_weight(name="kernel", shape=(*self.kernel_size, cin, self.depth_multiplier),
                        initializer=self.depthwise_initializer, regularizer=self.depthwise_regularizer,
                        constraint=self.depthwise_constraint)
        if self.use_bias:
            self.add_weight(name="bias", shape=(cin * self.depth_multiplier,), initializer=self.bias_initializer,
                            regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def _forward_cf(self, x):
        cin = x.shape[1]
        return self._conv(x, self._depthwise_weight(self.kernel, cin), cin, self.bias if self.use_bias else None)

    def get_config(self):
        return {**super().get_config(), "depth_multiplier": self.depth_multiplier,
                "depthwise_initializer": initializers.serialize(self.depthwise_initializer)}


class DepthwiseConv1D(_DepthwiseConv):
    """Depthwise 1-D convolution over ``(batch, steps, channels)``."""
    rank = 1


class DepthwiseConv2D(_DepthwiseConv):
    """Depthwise 2-D convolution: one ``kh×kw`` kernel per input channel (times ``depth_multiplier``).

    Example:
        >>> layers.DepthwiseConv2D(3, depth_multiplier=2)(gn.Input((32, 32, 8))).shape
        (None, 30, 30, 16)
    """
    rank = 2


class _SeparableConv(_DepthwiseMixin, _BaseConv):
    """Depthwise convolution followed by a pointwise (1×1) convolution, bias after both.

    Weights: ``depthwise_kernel (*k, in, dm)``, ``pointwise_kernel (1…, in·dm, filters)``, ``bias (filters,)``.
    """

    _weight_args = ("depthwise", "pointwise", "bias")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         bias_initializer, **kwargs)
        self.filters = checks.positive_int(self, "filters", filters)
        self.depth_multiplier = checks.positive_int(self, "depth_multiplier", depth_multiplier)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.pointwise_initializer = initializers.get(pointwise_initializer)

    def _out_channels(self, cin):
        return self.filters

    def _rule(self, cin, spatial):
        ks = kernel_symbols(self.kernel_size)
        c, m, f = sym("c"), sym("m"), sym("f")
        values = {**dict(ks), c: cin, m: self.depth_multiplier, f: self.filters}
        kk = [k for k, _ in ks]
        weights = plus(prod(*kk, c, m), prod(c, m, f))
        params = plus(weights, f) if self.use_bias else weights
        return params, prod(c, m, plus(prod(*kk), f), *spatial), values

    def _mixing_text(self, cin, cout):
        return f"one kernel per channel, then a 1×1 convolution mixing {cin * self.depth_multiplier} channels into {cout}"

    def build(self, input_shape):
        cin = input_shape[self._channel_axis]
        self._built_channels = cin
        dm = self.depth_multiplier
        self.add_weight(name="depthwise_kernel", shape=(*self.kernel_size, cin, dm), initializer=self.depthwise_initializer,
                        regularizer=self.depthwise_regularizer, constraint=self.depthwise_constraint)
        self.add_weight(name="pointwise_kernel", shape=((1,) * self.rank) + (cin * dm, self.filters),
                        initializer=self.pointwise_initializer, regularizer=self.pointwise_regularizer,
                        constraint=self.pointwise_constraint)
        if self.use_bias:
            self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer,
                            regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def _forward_cf(self, x):
        cin = x.shape[1]
        y = self._conv(x, self._depthwise_weight(self.depthwise_kernel, cin), cin)
        return _CONV[self.rank](y, self._torch_kernel(self.pointwise_kernel), self.bias if self.use_bias else None)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "depth_multiplier": self.depth_multiplier,
                "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
                "pointwise_initializer": initializers.serialize(self.pointwise_initializer)}


class SeparableConv1D(_SeparableConv):
    """Separable 1-D convolution over ``(batch, steps, channels)``."""
    keras_aliases = ("SeparableConvolution1D",)
    rank = 1


class SeparableConv2D(_SeparableConv):
    """Separable 2-D convolution: DepthwiseConv2D then a 1×1 Conv2D, one bias at the end."""
    keras_aliases = ("SeparableConvolution2D",)
    rank = 2
