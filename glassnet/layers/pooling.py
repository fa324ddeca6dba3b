"""Pooling: Max/AveragePooling1D/2D/3D, the global poolings and the adaptive poolings (channels-last)."""
from __future__ import annotations

import math
from fractions import Fraction

import torch
import torch.nn.functional as F

from .. import checks
from ..dims import adaptive_bins, adaptive_reads, conv_output_length, fmt_dim, fmt_shape, is_fixed, product
from ..errors import ShapeError
from .base import Layer, tracing
from .cost import Cost, numel, per_sample
from .conv import SPATIAL_NAMES, channels_first, channels_last, normalize_padding, pad_input, spatial_pads

__all__ = ["MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
           "AveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
           "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D", "AdaptiveAveragePooling1D",
           "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D", "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D",
           "AdaptiveMaxPooling3D"]

_MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


class _Pooling(Layer):
    """A ``pool_size`` window slid with ``strides`` (default: ``pool_size``) over the spatial axes."""

    rank = 2

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = checks.int_tuple(self, "pool_size", pool_size, self.rank)
        self.strides = self.pool_size if strides is None else checks.int_tuple(self, "strides", strides, self.rank)
        self.padding = normalize_padding(self, padding)
        self.data_format = checks.data_format(self, data_format)

    def _spatial_axes(self):
        return list(range(1, self.rank + 1)) if self.data_format == "channels_last" else list(range(2, self.rank + 2))

    def compute_output_shape(self, input_shape):
        names = SPATIAL_NAMES[self.rank]
        self._require_rank(input_shape, self.rank + 2, "(batch, " + ", ".join(names) + ", channels)")
        out = list(input_shape)
        for i, axis in enumerate(self._spatial_axes()):
            L = conv_output_length(input_shape[axis], self.pool_size[i], self.strides[i], self.padding)
            if is_fixed(L) and L <= 0:
                raise ShapeError(self._error(
                    f"needs an input {names[i]} of at least {self.pool_size[i]} for its pool size {self.pool_size}",
                    f"input shape {fmt_shape(input_shape)}", 'Use padding="same" or a smaller pool_size.'))
            out[axis] = L
        return tuple(out)

    def call(self, inputs):
        x = channels_first(inputs, self.rank) if self.data_format == "channels_last" else inputs
        pads = spatial_pads(x.shape[2:], self.pool_size, self.strides, (1,) * self.rank, self.padding)
        y = self._pool(x, pads)
        return channels_last(y, self.rank) if self.data_format == "channels_last" else y

    def cost(self, input_shape, output_shape):
        kind = "maximum" if isinstance(self, _MaxPooling) else "mean"
        window = "×".join(str(p) for p in self.pool_size)
        over = "×".join(fmt_dim(input_shape[a]) for a in self._spatial_axes())
        return Cost(other_flops=per_sample(output_shape) * math.prod(self.pool_size),
                    reads=f"takes the {kind} of each {window} window over {over} (stride {self.strides if self.rank > 1 else self.strides[0]}), channel by channel",
                    rf=("window", [(p, s, 1) for p, s in zip(self.pool_size, self.strides)]),
                    saved=("input", (numel(output_shape), 8)) if kind == "maximum" else ("input",))

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": self.padding, "data_format": self.data_format}


class _MaxPooling(_Pooling):
    """Maximum over each window; padded positions never win."""

    def _pool(self, x, pads):
        x, padding = pad_input(x, pads, value=float("-inf"))
        return _MAX[self.rank](x, self.pool_size, self.strides, padding)


class _AveragePooling(_Pooling):
    """Mean over each window; with "same" padding only real elements are averaged (as TF/JAX)."""

    def _pool(self, x, pads):
        if all(isinstance(b, int) and isinstance(a, int) and b == a for b, a in pads):
            return _AVG[self.rank](x, self.pool_size, self.strides, tuple(b for b, _ in pads),
                                   count_include_pad=False)
        flat = []
        for b, a in reversed(pads):
            flat += [b, a]
        sums = _AVG[self.rank](F.pad(x, flat), self.pool_size, self.strides, 0) * math.prod(self.pool_size)
        ones = torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype, device=x.device)
        counts = _AVG[self.rank](F.pad(ones, flat), self.pool_size, self.strides, 0) * math.prod(self.pool_size)
        return sums / counts


class MaxPooling1D(_MaxPooling):
    """Max pooling over ``(batch, steps, channels)``."""
    keras_aliases = ("MaxPool1D",)
    rank = 1


class MaxPooling2D(_MaxPooling):
    """Max pooling over ``(batch, height, width, channels)``."""
    keras_aliases = ("MaxPool2D",)
    rank = 2


class MaxPooling3D(_MaxPooling):
    keras_aliases = ("MaxPool3D",)
    rank = 3


class AveragePooling1D(_AveragePooling):
    """Average pooling over ``(batch, steps, channels)``."""
    keras_aliases = ("AvgPool1D",)
    rank = 1


class AveragePooling2D(_AveragePooling):
    """Average pooling over ``(batch, height, width, channels)``."""
    keras_aliases = ("AvgPool2D",)
    rank = 2


class AveragePooling3D(_AveragePooling):
    keras_aliases = ("AvgPool3D",)
    rank = 3


class _GlobalPooling(Layer):
    """Reduces every spatial axis: ``(batch, *spatial, channels) → (batch, channels)``."""

    rank = 2

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = checks.data_format(self, data_format)
        self.keepdims = bool(keepdims)

    def _axes(self):
        return tuple(range(1, self.rank + 1)) if self.data_format == "channels_last" else tuple(range(2, self.rank + 2))

    def compute_output_shape(self, input_shape):
        names = SPATIAL_NAMES[self.rank]
        self._require_rank(input_shape, self.rank + 2, "(batch, " + ", ".join(names) + ", channels)")
        axes = self._axes()
        if self.keepdims:
            return tuple(1 if i in axes else d for i, d in enumerate(input_shape))
        return tuple(d for i, d in enumerate(input_shape) if i not in axes)

    def cost(self, input_shape, output_shape):
        kind = "maximum" if isinstance(self, _GlobalMax) else "mean"
        over = "×".join(fmt_dim(input_shape[a]) for a in self._axes())
        return Cost(other_flops=per_sample(input_shape), rf=("global",), saved=("input", "output") if kind == "maximum" else (),
                    reads=f"takes the {kind} over all {over} positions of each channel, so any size gives one vector")

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class _GlobalMax(_GlobalPooling):
    def call(self, inputs):
        return torch.amax(inputs, dim=self._axes(), keepdim=self.keepdims)


class _GlobalAverage(_GlobalPooling):
    def call(self, inputs):
        return torch.mean(inputs, dim=self._axes(), keepdim=self.keepdims)


class GlobalMaxPooling1D(_GlobalMax):
    """Maximum over all steps (a mask is ignored and dropped, as in Keras)."""
    keras_aliases = ("GlobalMaxPool1D",)
    rank = 1


class GlobalMaxPooling2D(_GlobalMax):
    """Maximum over height and width: any image size gives ``(batch, channels)``."""
    keras_aliases = ("GlobalMaxPool2D",)
    rank = 2


class GlobalMaxPooling3D(_GlobalMax):
    keras_aliases = ("GlobalMaxPool3D",)
    rank = 3


class GlobalAveragePooling1D(_GlobalAverage):
    """Mean over steps; with a mask, the mean over real (unmasked) steps only.

    A fully masked row gives NaN (0/0), as in Keras.
    """

    keras_aliases = ("GlobalAvgPool1D",)
    rank = 1

    @property
    def mask_rule(self):
        return "consume"

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_mask_shape(self, input_shape, mask_shape):
        return None

    def call(self, inputs, mask=None):
        if mask is None:
            return torch.mean(inputs, dim=self._axes(), keepdim=self.keepdims)
        steps = self._axes()[0]
        m = mask.to(inputs.dtype).unsqueeze(-1 if self.data_format == "channels_last" else 1)
        total = torch.sum(inputs * m, dim=steps, keepdim=self.keepdims)
        return total / torch.sum(m, dim=steps, keepdim=self.keepdims)


class GlobalAveragePooling2D(_GlobalAverage):
    """Mean over height and width: any image size gives ``(batch, channels)``."""
    keras_aliases = ("GlobalAvgPool2D",)
    rank = 2


class GlobalAveragePooling3D(_GlobalAverage):
    keras_aliases = ("GlobalAvgPool3D",)
    rank = 3


_ADAPTIVE_MAX = {1: F.adaptive_max_pool1d, 2: F.adaptive_max_pool2d, 3: F.adaptive_max_pool3d}
_ADAPTIVE_AVG = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}


class _AdaptivePooling(Layer):
    """Pools any input size to a fixed ``output_size``: along an axis of length ``L`` pooled to ``n`` bins,
    bin ``i`` covers ``[⌊i·L/n⌋, ⌈(i+1)·L/n⌉)`` (torch's rule, which Keras 3 follows on every backend;
    see ``dims.adaptive_bins``). Neighbouring bins share an element when ``n`` does not divide ``L``; an
    axis shorter than ``n`` repeats elements. A mask is dropped, as in Keras.
    """

    rank = 2
    kind = "mean"

    def __init__(self, output_size, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.output_size = checks.int_tuple(self, "output_size", output_size, self.rank)
        self.data_format = checks.data_format(self, data_format)

    def _spatial_axes(self):
        return list(range(1, self.rank + 1)) if self.data_format == "channels_last" else list(range(2, self.rank + 2))

    def compute_output_shape(self, input_shape):
        names = SPATIAL_NAMES[self.rank]
        self._require_rank(input_shape, self.rank + 2, "(batch, " + ", ".join(names) + ", channels)"
                           if self.data_format == "channels_last" else "(batch, channels, " + ", ".join(names) + ")")
        out = list(input_shape)
        for axis, n in zip(self._spatial_axes(), self.output_size):
            out[axis] = n
        return tuple(out)

    def call(self, inputs):
        if tracing():
            return self._binned(inputs)
        x = channels_first(inputs, self.rank) if self.data_format == "channels_last" else inputs
        pool = (_ADAPTIVE_MAX if self.kind == "maximum" else _ADAPTIVE_AVG)[self.rank]
        y = pool(x, self.output_size)
        return channels_last(y, self.rank) if self.data_format == "channels_last" else y

    def _binned(self, x):
        """The same pooling one axis at a time (a box's mean or maximum is that of its rows'), bin by bin from
        ``dims.adaptive_bins``: torch.export keeps the bins symbolic in the input size, where its trace of
        torch's adaptive kernels would fix them at the example's size."""
        reduce = torch.amax if self.kind == "maximum" else torch.mean
        for axis, n in zip(self._spatial_axes(), self.output_size):
            parts = []
            for start, end in adaptive_bins(x.shape[axis], n):
                index = [slice(None)] * x.ndim
                index[axis] = slice(start, end)
                parts.append(reduce(x[tuple(index)], dim=axis))
            x = torch.stack(parts, dim=axis)
        return x

    def _rf(self, lengths) -> tuple:
        """The widest bin and the step between bins per axis; ("global",) while a length is unknown."""
        if not all(is_fixed(L) for L in lengths):
            return ("global",)
        windows = []
        for L, n in zip(lengths, self.output_size):
            widest = max(end - start for start, end in adaptive_bins(L, n))
            step = Fraction(L, n)
            windows.append((widest, int(step) if step.denominator == 1 else step, 1))
        return ("window", windows)

    def cost(self, input_shape, output_shape):
        axes = self._spatial_axes()
        lengths = [input_shape[a] for a in axes]
        channels = input_shape[-1 if self.data_format == "channels_last" else 1]
        over = "×".join(fmt_dim(L) for L in lengths)
        bins = "×".join(str(n) for n in self.output_size)
        return Cost(other_flops=product([channels] + [adaptive_reads(L, n) for L, n in zip(lengths, self.output_size)]),
                    reads=f"splits {over} into {bins} bins of (nearly) equal size and takes the {self.kind} of "
                          "each bin, channel by channel, so any input size gives the same output size",
                    rf=self._rf(lengths),
                    saved=("input", (product(output_shape), 8)) if self.kind == "maximum" else ("input",))

    def get_config(self):
        return {**super().get_config(), "output_size": list(self.output_size), "data_format": self.data_format}


class AdaptiveAveragePooling1D(_AdaptivePooling):
    """Mean over ``output_size`` bins of the steps: ``(batch, steps, channels) → (batch, output_size, channels)``.

    Example:
        >>> layers.AdaptiveAveragePooling1D(4)(gn.Input((None, 3))).shape
        (None, 4, 3)
    """

    rank = 1


class AdaptiveAveragePooling2D(_AdaptivePooling):
    """Mean over an ``output_size`` grid of bins: any image size gives ``(batch, *output_size, channels)``."""

    rank = 2


class AdaptiveAveragePooling3D(_AdaptivePooling):
    rank = 3


class AdaptiveMaxPooling1D(_AdaptivePooling):
    """Maximum over ``output_size`` bins of the steps."""

    rank = 1
    kind = "maximum"


class AdaptiveMaxPooling2D(_AdaptivePooling):
    """Maximum over an ``output_size`` grid of bins: any image size gives ``(batch, *output_size, channels)``."""

    rank = 2
    kind = "maximum"


class AdaptiveMaxPooling3D(_AdaptivePooling):
    rank = 3
    kind = "maximum"
