"""Transposed convolutions: Conv1DTranspose, Conv2DTranspose, Conv3DTranspose (Keras layouts and shapes).

Each input position spreads ``kernel × in`` weights into a window of the output; the windows of
neighbouring positions sit ``strides`` apart. Keras's output size and padding rule live in
``glassnet.dims`` (``conv_transpose_output_length``, ``conv_transpose_padding``), which both
``compute_output_shape`` and ``call`` use. ``call`` runs torch's transposed convolution without padding,
then crops (or zero-pads) each spatial axis to Keras's window — the asymmetric "same" split included.
"""
from __future__ import annotations

from fractions import Fraction

import torch.nn.functional as F

from .. import activations, checks, initializers
from ..dims import conv_transpose_output_length, conv_transpose_padding, fmt_dim, fmt_shape, is_fixed
from ..errors import ConfigError, ShapeError
from ..formula import plus, prod, sym
from .conv import SPATIAL_NAMES, _BaseConv, kernel_symbols, normalize_padding
from .cost import Cost, per_sample

__all__ = ["Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"]

_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


class _ConvTranspose(_BaseConv):
    """``filters`` kernels of ``kernel_size``, each input position's channels spread over an output window.

    Weights: ``kernel (*kernel_size, filters, in)`` (Keras's layout: filters before input channels),
    ``bias (filters,)``; params ``prod(kernel_size)·filters·in + filters``.
    """

    transposed = True  # its "same" padding does not depend on the input size (ONNX export stays dynamic)

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         bias_initializer, **kwargs)
        self.padding = normalize_padding(self, padding)  # "causal" has no transposed form
        self.filters = checks.positive_int(self, "filters", filters)
        self.output_padding = None if output_padding is None else checks.int_tuple(
            self, "output_padding", output_padding, self.rank, allow_zero=True)
        if self.output_padding is not None and any(p >= s for p, s in zip(self.output_padding, self.strides)):
            raise ConfigError(self._error(
                "needs each output_padding strictly less than the stride along its axis",
                f"output_padding={self.output_padding}, strides={self.strides}",
                "Use output_padding values in [0, stride)."))
        self.kernel_initializer = initializers.get(kernel_initializer)

    def _output_padding(self, i: int):
        return None if self.output_padding is None else self.output_padding[i]

    def compute_output_shape(self, input_shape):
        names = SPATIAL_NAMES[self.rank]
        meaning = "(batch, " + ", ".join(names) + ", channels)" if self.data_format == "channels_last" \
            else "(batch, channels, " + ", ".join(names) + ")"
        self._require_rank(input_shape, self.rank + 2, meaning)
        self._require_fixed(input_shape, self._channel_axis, "number of channels")
        if self.built:
            self._check_built_dim(input_shape, self._channel_axis, self._built_channels, "input channels")
        spatial = []
        for i, axis in enumerate(self._spatial_axes()):
            out = conv_transpose_output_length(input_shape[axis], self.kernel_size[i], self.strides[i],
                                               self.padding, self._output_padding(i), self.dilation_rate[i])
            if is_fixed(out) and out <= 0:
                raise ShapeError(self._error(
                    f"would output an empty {names[i]} for this input, kernel {self.kernel_size} and "
                    f"output_padding {self.output_padding}", f"input shape {fmt_shape(input_shape)}",
                    "Use output_padding=None, padding=\"valid\" or an odd kernel size."))
            spatial.append(out)
        if self.data_format == "channels_last":
            return (input_shape[0], *spatial, self.filters)
        return (input_shape[0], self.filters, *spatial)

    def build(self, input_shape):
        cin = input_shape[self._channel_axis]
        self._built_channels = cin
        self.add_weight(name="kernel", shape=(*self.kernel_size, self.filters, cin),
                        initializer=self.kernel_initializer, memory_order=self._torch_order())
        if self.use_bias:
            self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer)

    def _crops(self) -> list[tuple[int, int]]:
        """(start, end) to cut from torch's unpadded output ``(L-1)·s + k_eff`` per axis; negative: zeros to add."""
        crops = []
        for i in range(self.rank):
            k_eff = self.dilation_rate[i] * (self.kernel_size[i] - 1) + 1
            before, after = conv_transpose_padding(self.kernel_size[i], self.strides[i], self.padding,
                                                   self._output_padding(i), self.dilation_rate[i])
            crops.append((k_eff - 1 - before, k_eff - 1 - after))
        return crops

    def _forward_cf(self, x):
        crops = self._crops()
        extends = any(c < 0 for pair in crops for c in pair)
        bias = self.bias if self.use_bias else None
        y = _CONV_T[self.rank](x, self._torch_kernel(self.kernel), None if extends else bias, self.strides, 0, 0,
                               1, self.dilation_rate)
        index = [slice(None), slice(None)]
        for axis, (start, end) in enumerate(crops, start=2):
            index.append(slice(max(start, 0), y.shape[axis] - max(end, 0)))
        y = y[tuple(index)]
        if extends:
            flat = []
            for start, end in reversed(crops):
                flat += [max(-start, 0), max(-end, 0)]
            y = F.pad(y, flat)
            if bias is not None:
                y = y + bias.reshape(-1, *([1] * self.rank))
        return y

    def cost(self, input_shape, output_shape):
        cin = input_shape[self._channel_axis]
        ks = kernel_symbols(self.kernel_size)
        c, f = sym("c"), sym("f")
        kernel = prod(*(k for k, _ in ks), f, c)
        over = [input_shape[a] for a in self._spatial_axes()]
        window = "×".join(str(k) for k in self.kernel_size)
        stride = self.strides if self.rank > 1 else self.strides[0]
        act = activations.ELEMENTWISE_FLOPS.get(activations.serialize(self.activation), 1)
        # a window of k outputs seen from the input: the jump between outputs is 1/stride of the input's
        rf = [(k, Fraction(1, s) if s > 1 else 1, Fraction(d, s) if s > 1 else d)
              for k, s, d in zip(self.kernel_size, self.strides, self.dilation_rate)]
        return Cost(
            params=plus(kernel, f) if self.use_bias else kernel, values={**dict(ks), c: cin, f: self.filters},
            macs=prod(f, *(k for k, _ in ks), c, *over),
            other_flops=per_sample(output_shape) * ((1 if self.use_bias else 0) + act),
            reads=f"spreads each of the {'×'.join(fmt_dim(d) for d in over)} input positions over a {window} "
                  f"window of the output (stride {stride}), mixing all {cin} input channels into each of "
                  f"{self.filters} outputs",
            rf=("window", rf), needs_fixed=("channels",),
            saved=("input", "output") if activations.serialize(self.activation) != "linear" else ("input",))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "output_padding": None if self.output_padding is None else list(self.output_padding),
                "kernel_initializer": initializers.serialize(self.kernel_initializer)}


class Conv1DTranspose(_ConvTranspose):
    """Transposed 1-D convolution over ``(batch, steps, channels)``.

    Example:
        >>> layers.Conv1DTranspose(4, 3, strides=2)(gn.Input((10, 2))).shape
        (None, 21, 4)
    """

    keras_aliases = ("Convolution1DTranspose",)
    rank = 1


class Conv2DTranspose(_ConvTranspose):
    """Transposed 2-D convolution over ``(batch, height, width, channels)`` (a learnt upsampling).

    Example:
        >>> layers.Conv2DTranspose(8, 3, strides=2, padding="same")(gn.Input((7, 7, 16))).shape
        (None, 14, 14, 8)
    """

    keras_aliases = ("Convolution2DTranspose",)
    rank = 2


class Conv3DTranspose(_ConvTranspose):
    """Transposed 3-D convolution over ``(batch, depth, height, width, channels)``.

    Keras 3 puts ``data_format`` before ``output_padding`` here (and only here); so does glassnet.
    """

    keras_aliases = ("Convolution3DTranspose",)
    rank = 3

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid", data_format=None,
                 output_padding=None, dilation_rate=(1, 1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(filters, kernel_size, strides=strides, padding=padding, output_padding=output_padding,
                         data_format=data_format, dilation_rate=dilation_rate, activation=activation,
                         use_bias=use_bias, kernel_initializer=kernel_initializer,
                         bias_initializer=bias_initializer, **kwargs)
