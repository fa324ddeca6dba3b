"""Reshaping layers: UpSampling1D/2D/3D, ZeroPadding1D/2D/3D, Cropping1D/2D/3D and RepeatVector.

None of them has weights or multiply-adds. As in Keras 3 none of them supports masking: an incoming
mask is dropped with a warning (RepeatVector's input has no time axis to mask anyway).
"""
from __future__ import annotations

from fractions import Fraction

import torch
import torch.nn.functional as F

from .. import checks
from ..dims import fmt_dim, fmt_shape, is_fixed
from ..errors import ConfigError, ShapeError
from .base import Layer
from .conv import SPATIAL_NAMES, channels_first, channels_last
from .cost import Cost, per_sample

__all__ = ["UpSampling1D", "UpSampling2D", "UpSampling3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D",
           "Cropping1D", "Cropping2D", "Cropping3D", "RepeatVector"]

# input elements each output element is computed from, per spatial axis, and the flops that takes (2-D)
_TAPS = {"nearest": (1, 0), "bilinear": (2, 7), "bicubic": (4, 31)}


def _spatial_axes(rank: int, data_format: str) -> list[int]:
    return list(range(1, rank + 1)) if data_format == "channels_last" else list(range(2, rank + 2))


def _meaning(rank: int, data_format: str) -> str:
    names = ", ".join(SPATIAL_NAMES[rank])
    return f"(batch, {names}, channels)" if data_format == "channels_last" else f"(batch, channels, {names})"


def repeat_along(x: torch.Tensor, axis: int, times: int) -> torch.Tensor:
    """Each slice of ``axis`` repeated ``times`` times in place (``ops.repeat``), as one expand and reshape."""
    if times == 1:
        return x
    shape = list(x.shape)
    x = x.unsqueeze(axis + 1).expand(*shape[:axis + 1], times, *shape[axis + 1:])
    return x.reshape(*shape[:axis], shape[axis] * times, *shape[axis + 1:])


def _pairs(owner, name: str, value, rank: int) -> tuple[tuple[int, int], ...]:
    """Keras's ``padding``/``cropping`` forms: an int (all sides), ``rank`` ints (symmetric per axis) or
    ``rank`` pairs ``(before, after)``; sizes are non-negative."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            checks.positive_int(owner, name, value, allow_zero=True)
        return ((value, value),) * rank
    if not isinstance(value, (list, tuple)) or len(value) != rank:
        raise ConfigError(f"{checks.owner_text(owner)}: the `{name}` argument must be an int, a tuple of {rank} ints "
                          f"or a tuple of {rank} pairs of ints. Received: {name}={value!r}")
    return tuple(checks.int_tuple(owner, name, v, 2, allow_zero=True) for v in value)


class _UpSampling(Layer):
    """Repeats every element ``size`` times along each spatial axis (nearest neighbour)."""

    rank = 2
    interpolation = "nearest"

    def __init__(self, size, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.size = checks.int_tuple(self, "size", size, self.rank)
        self.data_format = checks.data_format(self, data_format)

    def compute_output_shape(self, input_shape):
        self._require_rank(input_shape, self.rank + 2, _meaning(self.rank, self.data_format))
        out = list(input_shape)
        for axis, s in zip(_spatial_axes(self.rank, self.data_format), self.size):
            out[axis] = input_shape[axis] * s
        return tuple(out)

    def call(self, inputs):
        x = inputs
        for axis, s in zip(_spatial_axes(self.rank, self.data_format), self.size):
            x = repeat_along(x, axis, s)
        return x

    def cost(self, input_shape, output_shape):
        taps, flops = _TAPS[self.interpolation]
        # a window of `taps` input elements per output element; the jump between outputs shrinks by `size`
        windows = [(taps, Fraction(1, s) if s > 1 else 1, 1) for s in self.size]
        over = "×".join(fmt_dim(input_shape[a]) for a in _spatial_axes(self.rank, self.data_format))
        times = "×".join(map(str, self.size))
        reads = f"repeats each element of {over} {times} times" if taps == 1 else \
            f"enlarges {over} {times} times, interpolating ({self.interpolation}) each output element from the " \
            f"nearest {taps}×{taps} inputs"
        return Cost(other_flops=per_sample(output_shape) * flops, reads=reads, rf=("window", windows))

    def get_config(self):
        return {**super().get_config(), "size": list(self.size), "data_format": self.data_format}


class UpSampling1D(_UpSampling):
    """Repeats each time step ``size`` times: ``(batch, steps, features) → (batch, size·steps, features)``.

    Example:
        >>> layers.UpSampling1D(3)(gn.Input((None, 4))).shape
        (None, None, 4)
    """

    rank = 1

    def __init__(self, size=2, **kwargs):
        super().__init__(size, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.pop("data_format")
        return {**config, "size": self.size[0]}


class UpSampling2D(_UpSampling):
    """Enlarges images by ``size`` along height and width.

    ``interpolation="nearest"`` repeats rows and columns; ``"bilinear"`` and ``"bicubic"`` interpolate as
    Keras 3's ``ops.image.resize`` does on torch (``align_corners=False``, no antialiasing).

    Example:
        >>> layers.UpSampling2D((2, 3), interpolation="bilinear")(gn.Input((4, 5, 3))).shape
        (None, 8, 15, 3)
    """

    rank = 2

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(size, data_format, **kwargs)
        lowered = interpolation.lower() if isinstance(interpolation, str) else interpolation
        self.interpolation = checks.one_of(self, "interpolation", lowered, tuple(_TAPS))

    def call(self, inputs):
        if self.interpolation == "nearest":
            return super().call(inputs)
        x = channels_first(inputs, 2) if self.data_format == "channels_last" else inputs
        size = (x.shape[2] * self.size[0], x.shape[3] * self.size[1])
        y = F.interpolate(x, size=size, mode=self.interpolation, align_corners=False)
        return channels_last(y, 2) if self.data_format == "channels_last" else y

    def get_config(self):
        return {**super().get_config(), "interpolation": self.interpolation}


class UpSampling3D(_UpSampling):
    """Repeats each voxel ``size`` times along depth, height and width."""

    rank = 3

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        super().__init__(size, data_format, **kwargs)


class _ZeroPadding(Layer):
    """Adds zeros before and after each spatial axis."""

    rank = 2

    def __init__(self, padding, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = self._standardize(padding)
        self.data_format = checks.data_format(self, data_format)

    def _standardize(self, padding):
        return _pairs(self, "padding", padding, self.rank)

    def compute_output_shape(self, input_shape):
        self._require_rank(input_shape, self.rank + 2, _meaning(self.rank, self.data_format))
        out = list(input_shape)
        for axis, (before, after) in zip(_spatial_axes(self.rank, self.data_format), self.padding):
            out[axis] = input_shape[axis] + before + after
        return tuple(out)

    def call(self, inputs):
        flat = [0, 0] if self.data_format == "channels_last" else []
        for before, after in reversed(self.padding):
            flat += [before, after]
        return F.pad(inputs, flat)

    def cost(self, input_shape, output_shape):
        return Cost(reads="copies the input into the middle of a larger block of zeros "
                          f"(padding {self._text()})")

    def _text(self):
        return ", ".join(f"{b}+{a}" for b, a in self.padding)

    def get_config(self):
        return {**super().get_config(), "padding": [list(p) for p in self.padding], "data_format": self.data_format}


class ZeroPadding1D(_ZeroPadding):
    """Zeros before and after the time axis: ``padding`` is an int or ``(before, after)``.

    Example:
        >>> layers.ZeroPadding1D((1, 2))(gn.Input((5, 3))).shape
        (None, 8, 3)
    """

    rank = 1

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)

    def _standardize(self, padding):
        return (checks.int_tuple(self, "padding", padding, 2, allow_zero=True),)

    def get_config(self):
        return {**super().get_config(), "padding": list(self.padding[0])}


class ZeroPadding2D(_ZeroPadding):
    """Zeros around images: ``padding`` is an int, ``(sym_height, sym_width)`` or
    ``((top, bottom), (left, right))``."""

    rank = 2

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class ZeroPadding3D(_ZeroPadding):
    """Zeros around volumes: an int, three symmetric sizes or three ``(before, after)`` pairs."""

    rank = 3

    def __init__(self, padding=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class _Cropping(Layer):
    """Removes elements at the start and end of each spatial axis."""

    rank = 2

    def __init__(self, cropping, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.cropping = self._standardize(cropping)
        self.data_format = checks.data_format(self, data_format)

    def _standardize(self, cropping):
        return _pairs(self, "cropping", cropping, self.rank)

    def compute_output_shape(self, input_shape):
        self._require_rank(input_shape, self.rank + 2, _meaning(self.rank, self.data_format))
        out = list(input_shape)
        for i, (axis, (before, after)) in enumerate(zip(_spatial_axes(self.rank, self.data_format), self.cropping)):
            length = input_shape[axis]
            if is_fixed(length) and before + after >= length:
                raise ShapeError(self._error(
                    f"crops {before}+{after} from the {SPATIAL_NAMES[self.rank][i]}, which leaves nothing of it",
                    f"input shape {fmt_shape(input_shape)}, cropping={self._config_cropping()}",
                    "Crop less than the input's size."))
            out[axis] = length - before - after
        return tuple(out)

    def call(self, inputs):
        index = [slice(None)] * inputs.ndim
        for axis, (before, after) in zip(_spatial_axes(self.rank, self.data_format), self.cropping):
            index[axis] = slice(before, inputs.shape[axis] - after)
        return inputs[tuple(index)]

    def cost(self, input_shape, output_shape):
        return Cost(reads="keeps the middle of each spatial axis (cropping "
                          + ", ".join(f"{b}+{a}" for b, a in self.cropping) + ")")

    def _config_cropping(self):
        return [list(c) for c in self.cropping]

    def get_config(self):
        return {**super().get_config(), "cropping": self._config_cropping(), "data_format": self.data_format}


class Cropping1D(_Cropping):
    """Removes ``cropping = (start, end)`` steps from the time axis of ``(batch, steps, features)``.

    Example:
        >>> layers.Cropping1D((1, 2))(gn.Input((10, 3))).shape
        (None, 7, 3)
    """

    rank = 1

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(cropping, None, **kwargs)

    def _standardize(self, cropping):
        return (checks.int_tuple(self, "cropping", cropping, 2, allow_zero=True),)

    def _config_cropping(self):
        return list(self.cropping[0])

    def get_config(self):
        config = super().get_config()
        config.pop("data_format")
        return config


class Cropping2D(_Cropping):
    """Crops images: an int, ``(sym_height, sym_width)`` or ``((top, bottom), (left, right))``."""

    rank = 2

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


class Cropping3D(_Cropping):
    """Crops volumes: an int, three symmetric sizes or three ``(start, end)`` pairs."""

    rank = 3

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


class RepeatVector(Layer):
    """Repeats a vector ``n`` times: ``(batch, features) → (batch, n, features)``.

    Example:
        >>> layers.RepeatVector(4)(gn.Input((6,))).shape
        (None, 4, 6)
    """

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = checks.positive_int(self, "n", n)

    def compute_output_shape(self, input_shape):
        self._require_rank(input_shape, 2, "(batch, features)",
                           "Flatten or pool the input to one vector per sample first.")
        return (input_shape[0], self.n, input_shape[1])

    def call(self, inputs):
        return inputs.unsqueeze(1).expand(inputs.shape[0], self.n, inputs.shape[1])

    def cost(self, input_shape, output_shape):
        return Cost(reads=f"repeats each sample's vector as {self.n} identical time steps")

    def get_config(self):
        return {**super().get_config(), "n": self.n}
