"""Image preprocessing inside a model: Resizing and CenterCrop, as Keras 3 computes them on its torch backend.

Both take batches of images ``(batch, height, width, channels)`` (``channels_first``: ``(batch, channels,
height, width)``) and output ``(batch, height, width, channels)`` at the target size. Resizing interpolates
with ``torch.nn.functional.interpolate`` exactly as Keras's torch backend calls it (``align_corners=False``;
``"nearest"`` is torch's ``"nearest-exact"``). Their work is element-wise (each output element is a weighted
sum of a few neighbouring inputs): no multiply-adds, a few element-wise operations per output element.
"""
from __future__ import annotations

from fractions import Fraction

import torch
import torch.nn.functional as F

from ... import checks, dtypes
from ...dims import fmt_dim, is_fixed
from ...errors import ConfigError
from ..base import Layer
from ..conv import channels_first, channels_last
from ..cost import Cost, per_sample

__all__ = ["Resizing", "CenterCrop", "crop_box", "pad_sides"]

# interpolation → (torch mode, input elements per output element along one axis, flops per output element in 2-D)
_MODES = {"bilinear": ("bilinear", 2, 7), "nearest": ("nearest-exact", 1, 0), "bicubic": ("bicubic", 4, 31)}
# what Keras knows but its torch backend cannot compute; glassnet refuses them rather than compute something else
_REFUSED = {"lanczos3": "Lanczos", "lanczos5": "Lanczos", "area": "area", "gaussian": "Gaussian",
            "mitchellcubic": "Mitchell-cubic"}


def crop_box(height: int, width: int, target_height: int, target_width: int) -> tuple[int, int, int, int]:
    """The largest central window of the target's aspect ratio: ``(top, crop_height, left, crop_width)``
    (Keras's ``crop_to_aspect_ratio`` and ``smart_resize`` rule)."""
    crop_height = max(min(height, int(float(width * target_height) / target_width)), 1)
    crop_width = max(min(width, int(float(height * target_width) / target_height)), 1)
    return int(float(height - crop_height) / 2), crop_height, int(float(width - crop_width) / 2), crop_width


def pad_sides(height: int, width: int, target_height: int, target_width: int) -> tuple[int, int]:
    """Rows added above and below, columns left and right, to reach the target's aspect ratio (Keras's
    ``pad_to_aspect_ratio`` rule: the same number on both sides)."""
    pad_height = max(height, int(float(width * target_height) / target_width))
    pad_width = max(width, int(float(height * target_width) / target_height))
    return int(float(pad_height - height) / 2), int(float(pad_width - width) / 2)


def _resize(x: torch.Tensor, size: tuple[int, int], interpolation: str, antialias: bool) -> torch.Tensor:
    """``(batch, channels, height, width)`` float images to ``size``, as Keras's torch backend resizes."""
    mode, _, _ = _MODES[interpolation]
    smooth = interpolation != "nearest"
    return F.interpolate(x, size=size, mode=mode, align_corners=False if smooth else None,
                         antialias=antialias and smooth)


class _ImageLayer(Layer):
    """A layer from images of any size to images of ``(height, width)``."""

    def __init__(self, height, width, data_format=None, *, bounding_box_format=None, **kwargs):
        super().__init__(**kwargs)
        checks.unsupported(self, "Transform the images alone; transform boxes outside the model.",
                           bounding_box_format=bounding_box_format)
        self.height = checks.positive_int(self, "height", height)
        self.width = checks.positive_int(self, "width", width)
        self.data_format = checks.data_format(self, data_format)

    def _axes(self) -> tuple[int, int]:
        return (1, 2) if self.data_format == "channels_last" else (2, 3)

    def compute_output_shape(self, input_shape):
        layout = "height, width, channels" if self.data_format == "channels_last" else "channels, height, width"
        self._require_rank(input_shape, 4, f"(batch, {layout})",
                           "Pass a batch of images; a single image needs a batch axis of 1.")
        out = list(input_shape)
        out[self._axes()[0]], out[self._axes()[1]] = self.height, self.width
        return tuple(out)

    def _spatial(self, shape) -> tuple:
        return shape[self._axes()[0]], shape[self._axes()[1]]

    def _to_nchw(self, x):
        return channels_first(x, 2) if self.data_format == "channels_last" else x

    def _from_nchw(self, y):
        return channels_last(y, 2) if self.data_format == "channels_last" else y

    def _resize_cost(self, source, interpolation: str, antialias: bool, output_shape, what: str) -> Cost:
        """Cost of interpolating images of ``source`` size (None where it varies) to the target size."""
        _, taps, flops = _MODES[interpolation]
        target = (self.height, self.width)
        fixed = all(is_fixed(s) for s in source)
        shrinks = not fixed or any(s > t for s, t in zip(source, target))
        blurred = antialias and interpolation != "nearest" and shrinks
        rf = ("window", [(taps, Fraction(int(s), t), 1) for s, t in zip(source, target)]) \
            if fixed and not blurred else ("unknown",)
        reads = (f"{what} {'×'.join(fmt_dim(s) for s in source)} images to {self.height}×{self.width}, each output "
                 f"element interpolated ({interpolation}) from the nearest {taps}×{taps} inputs")
        if blurred:
            reads += "; antialiasing widens that window by the shrink factor, so its work is not counted here"
        return Cost(other_flops=None if blurred else per_sample(output_shape) * flops, reads=reads, rf=rf)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "height": self.height, "width": self.width}


class Resizing(_ImageLayer):
    """Resizes images to ``(height, width)``.

    ``interpolation`` is ``"bilinear"`` (default), ``"nearest"`` or ``"bicubic"`` — what Keras's torch backend
    computes; Lanczos and area resampling are refused (Keras's torch backend cannot run them either).
    ``crop_to_aspect_ratio=True`` first crops the largest central window of the target's aspect ratio;
    ``pad_to_aspect_ratio=True`` first pads the short side evenly with ``fill_value``. ``antialias=True`` low-pass
    filters when shrinking (bilinear and bicubic). Integer images come back rounded, in their own dtype.

    Args:
        height, width: the output size.
        interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio, fill_mode (only ``"constant"``), fill_value,
        antialias, data_format: as in Keras.

    Example:
        >>> layers.Resizing(16, 24)(gn.Input((None, None, 3))).shape
        (None, 16, 24, 3)
    """

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False, pad_to_aspect_ratio=False,
                 fill_mode="constant", fill_value=0.0, antialias=False, data_format=None, **kwargs):
        super().__init__(height, width, data_format, **kwargs)
        if interpolation in _REFUSED:
            raise ConfigError(self._error(
                f"cannot resize with {_REFUSED[interpolation]} interpolation: Keras's torch backend does not "
                "compute it, so there is no result to match", f"interpolation={interpolation!r}",
                'Use "bilinear", "bicubic" (with antialias=True when shrinking) or "nearest".'))
        self.interpolation = checks.one_of(self, "interpolation", interpolation, tuple(_MODES))
        self.crop_to_aspect_ratio = checks.boolean(self, "crop_to_aspect_ratio", crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = checks.boolean(self, "pad_to_aspect_ratio", pad_to_aspect_ratio)
        if self.crop_to_aspect_ratio and self.pad_to_aspect_ratio:
            raise ConfigError(self._error("can either crop or pad to the aspect ratio, not both",
                                          "crop_to_aspect_ratio=True, pad_to_aspect_ratio=True"))
        self.fill_mode = checks.one_of(self, "fill_mode", fill_mode, ("constant",))
        if isinstance(fill_value, bool) or not isinstance(fill_value, (int, float)):
            raise ConfigError(self._error("needs a number as fill_value", f"fill_value={fill_value!r}"))
        self.fill_value = float(fill_value)
        self.antialias = checks.boolean(self, "antialias", antialias)

    def compute_output_dtype(self, inputs):
        return inputs.dtype

    def _source(self, height, width) -> tuple:
        """The size that is interpolated: the input, or its crop or padding to the target's aspect ratio."""
        if not (is_fixed(height) and is_fixed(width)):
            return height, width
        if self.crop_to_aspect_ratio:
            _, h, _, w = crop_box(int(height), int(width), self.height, self.width)
            return h, w
        if self.pad_to_aspect_ratio:
            top, left = pad_sides(int(height), int(width), self.height, self.width)
            return height + 2 * top, width + 2 * left
        return height, width

    def call(self, inputs):
        dtype = inputs.dtype
        x = self._to_nchw(inputs if dtype in (torch.float32, torch.float64) else inputs.to(torch.float32))
        height, width = x.shape[2], x.shape[3]
        if self.crop_to_aspect_ratio:
            top, h, left, w = crop_box(height, width, self.height, self.width)
            x = x[:, :, top:top + h, left:left + w]
        elif self.pad_to_aspect_ratio:
            top, left = pad_sides(height, width, self.height, self.width)
            if top or left:
                x = F.pad(x, (left, left, top, top), value=self.fill_value)
        y = _resize(x, (self.height, self.width), self.interpolation, self.antialias)
        if self.interpolation == "bicubic" and dtype == torch.uint8:
            y = y.clamp(0, 255)
        y = self._from_nchw(y)
        if y.dtype != dtype:
            y = (y if dtype.is_floating_point else torch.round(y)).to(dtype)
        return y

    def cost(self, input_shape, output_shape):
        what = "crops to the target's aspect ratio, then resizes" if self.crop_to_aspect_ratio else \
            "pads to the target's aspect ratio, then resizes" if self.pad_to_aspect_ratio else "resizes"
        return self._resize_cost(self._source(*self._spatial(input_shape)), self.interpolation, self.antialias,
                                 output_shape, what)

    def get_config(self):
        return {**super().get_config(), "interpolation": self.interpolation,
                "crop_to_aspect_ratio": self.crop_to_aspect_ratio, "pad_to_aspect_ratio": self.pad_to_aspect_ratio,
                "fill_mode": self.fill_mode, "fill_value": self.fill_value, "antialias": self.antialias}


class CenterCrop(_ImageLayer):
    """Keeps the central ``(height, width)`` window of each image.

    An image smaller than the target on either side is instead cropped to the target's aspect ratio and
    resized to it bilinearly (Keras's ``smart_resize``); which of the two happens is decided by each input's
    size. Outputs are floats (integer images are converted).

    Example:
        >>> layers.CenterCrop(24, 24)(gn.Input((32, 40, 3))).shape
        (None, 24, 24, 3)
    """

    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(height, width, data_format, **kwargs)

    def compute_output_dtype(self, inputs):
        return dtypes.name_of(self.dtype)

    def call(self, inputs):
        x = inputs if inputs.is_floating_point() else inputs.to(self.dtype)
        h_axis, w_axis = self._axes()
        height, width = x.shape[h_axis], x.shape[w_axis]
        if height >= self.height and width >= self.width:
            top, left = (height - self.height) // 2, (width - self.width) // 2
            return x.narrow(h_axis, top, self.height).narrow(w_axis, left, self.width)
        top, h, left, w = crop_box(height, width, self.height, self.width)
        x = self._to_nchw(x)[:, :, top:top + h, left:left + w]
        return self._from_nchw(_resize(x, (self.height, self.width), "bilinear", False))

    def cost(self, input_shape, output_shape):
        height, width = self._spatial(input_shape)
        if not (is_fixed(height) and is_fixed(width)):
            return Cost(other_flops=None, rf=("unknown",),
                        reads=f"keeps the central {self.height}×{self.width} window of each "
                              f"{fmt_dim(height)}×{fmt_dim(width)} image, or resizes an image smaller than that "
                              "bilinearly (each input's size decides, so its work is not counted here)")
        if height >= self.height and width >= self.width:
            return Cost(reads=f"keeps the central {self.height}×{self.width} window of each {height}×{width} image")
        _, h, _, w = crop_box(int(height), int(width), self.height, self.width)
        return self._resize_cost((h, w), "bilinear", False, output_shape,
                                 "is smaller than its target, so it crops to the target's aspect ratio and resizes")
