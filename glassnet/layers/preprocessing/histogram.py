"""Contrast from each image's own values, as Keras 3 computes it on its torch backend: AutoContrast,
Equalization and ContrastLimitedAdaptiveHistogramEqualization.

These draw nothing at random. As in Keras, AutoContrast and ContrastLimitedAdaptiveHistogramEqualization
work at inference too (they are preprocessing), while Equalization works only with ``training=True``.
Values are read in ``value_range`` and mapped to [0, 255] for the arithmetic.
"""
from __future__ import annotations

import torch

from ... import checks
from ...errors import ConfigError
from ..cost import Cost, per_sample
from . import augmentation as aug
from .augmentation import _ImageAugmentation
from .color_ops import auto_contrast, clahe, equalize

__all__ = ["AutoContrast", "Equalization", "ContrastLimitedAdaptiveHistogramEqualization"]


class _Deterministic(_ImageAugmentation):
    """A layer with no random draws and no seed (Keras writes none)."""

    def __init__(self, value_range=(0, 255), data_format=None, **kwargs):
        seed = kwargs.pop("seed", None)
        super().__init__(data_format=data_format, **kwargs)
        checks.unsupported(self, "It draws nothing at random.", seed=seed)
        self.value_range = aug.value_range(self, value_range)

    def get_config(self):
        config = super().get_config()
        config.pop("seed", None)  # no draws: Keras writes no seed
        return {**config, "value_range": self.value_range}


class AutoContrast(_Deterministic):
    """Stretches each channel of each image linearly so that its minimum becomes the bottom of ``value_range``
    and its maximum the top; a constant channel is left as it is. Works at inference too, as in Keras.

    Example:
        >>> y = layers.AutoContrast()(torch.tensor([[[[10.0], [20.0]], [[30.0], [50.0]]]]))
        >>> y.flatten().tolist()
        [0.0, 63.75, 127.5, 255.0]
    """

    def __init__(self, value_range=(0, 255), *, data_format=None, **kwargs):
        super().__init__(value_range, data_format, **kwargs)
        if self.data_format == "channels_first":
            raise ConfigError(self._error(
                "computes its ranges over the first two axes after the batch, which are height and width only for "
                'channels_last images (Keras does the same), so it cannot honour data_format="channels_first"',
                "data_format='channels_first'", "Move the channels last before this layer (layers.Permute)."))

    def call(self, inputs, training=False):
        return super().call(inputs, training=True)

    def transform_images(self, images, transformation):
        results = auto_contrast(aug.transform_value_range(images, self.value_range, (0, 255)))
        results = aug.transform_value_range(results, (0, 255), self.value_range)
        return torch.where(torch.isnan(results), images, results)

    def cost(self, input_shape, output_shape):
        return Cost(other_flops=per_sample(output_shape) * 6, rf=("global",),
                    reads="stretches each channel of each image to the full value range from its minimum and "
                          "maximum, at inference as in training")


class Equalization(_Deterministic):
    """Histogram equalisation of each channel with ``bins`` bins, in training only. As Keras computes it, a
    channel's histogram is taken over the whole batch (every image of the batch shares one lookup table per
    channel); a channel whose values all fall in one bin is left as it is."""

    def __init__(self, value_range=(0, 255), bins=256, data_format=None, **kwargs):
        super().__init__(value_range, data_format, **kwargs)
        self.bins = checks.positive_int(self, "bins", bins)

    def transform_images(self, images, transformation):
        low, high = self.value_range
        scale = 255.0 / (high - low)  # Keras's _scale_values, applied even for (0, 255)
        x = images * scale + (0.0 - low * scale)
        x = x.movedim(1, -1) if self.data_format == "channels_first" else x
        y = equalize(x, self.bins)
        y = y.movedim(-1, 1) if self.data_format == "channels_first" else y
        back = (high - low) / 255.0
        return y * back + (low - 0.0 * back)

    @property
    def _work(self):
        return 8, "equalises the histogram of each channel (one histogram per channel over the batch)"

    def get_config(self):
        return {**super().get_config(), "bins": self.bins}


class ContrastLimitedAdaptiveHistogramEqualization(_Deterministic):
    """CLAHE: equalises each image region by region (``tile_grid_size`` tiles), limiting how much any value's
    count may raise the contrast (``clip_limit``; 0 or less: no limit), blending the tiles' curves bilinearly.
    Works at inference too, as in Keras; integer images come back in their dtype (truncated, as Keras casts).

    Example:
        >>> layers.ContrastLimitedAdaptiveHistogramEqualization(tile_grid_size=(2, 2))(
        ...     torch.randint(0, 256, (1, 8, 8, 3), dtype=torch.uint8)).dtype
        torch.uint8
    """

    def __init__(self, value_range=(0, 255), clip_limit=4.0, tile_grid_size=(8, 8), data_format=None, **kwargs):
        super().__init__(value_range, data_format, **kwargs)
        if isinstance(clip_limit, bool) or not isinstance(clip_limit, (int, float)):
            raise ConfigError(self._error("needs a number as clip_limit", f"clip_limit={clip_limit!r}"))
        self.clip_limit = clip_limit
        self.tile_grid_size = checks.int_tuple(self, "tile_grid_size", tile_grid_size, 2)

    def call(self, inputs, training=False):
        images, data = self._unpack(inputs)
        if images.is_floating_point():
            images = images.to(self.dtype_policy.torch_compute_dtype)
        dtype, single = images.dtype, images.ndim == 3
        x = images.unsqueeze(0) if single else images
        x = x.movedim(1, -1) if self.data_format == "channels_first" else x
        if tuple(self.value_range) != (0, 255):
            x = aug.transform_value_range(x.to(torch.float32), self.value_range, (0, 255))
        y = aug.transform_value_range(clahe(x, self.clip_limit, self.tile_grid_size), (0, 255), self.value_range)
        y = (y.movedim(-1, 1) if self.data_format == "channels_first" else y).to(dtype)
        y = y.squeeze(0) if single else y
        return y if data is None else {**data, "images": y}

    def compute_output_dtype(self, inputs):
        dtype = inputs.dtype
        return dtype if not dtype.startswith(("float", "bfloat")) else self.dtype_policy.compute_dtype

    def cost(self, input_shape, output_shape):
        return Cost(other_flops=per_sample(output_shape) * 14, rf=("global",),
                    reads=f"equalises each image over a {self.tile_grid_size[0]}×{self.tile_grid_size[1]} grid of "
                          "tiles with clipped histograms, each pixel blended from the four nearest tiles' curves, "
                          "at inference as in training")

    def get_config(self):
        return {**super().get_config(), "clip_limit": self.clip_limit, "tile_grid_size": self.tile_grid_size}
