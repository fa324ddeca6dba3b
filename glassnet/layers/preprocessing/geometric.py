"""Geometric image augmentation, as Keras 3 computes it on its torch backend: RandomFlip, RandomRotation,
RandomZoom, RandomTranslation, RandomShear, RandomCrop (RandomPerspective and RandomElasticTransform, the
non-affine warps, are in ``distortion``).

Each is the identity at inference (``training=False``, the default of a plain call and of ``predict``) — except
RandomCrop, whose output has the target size either way (see its docstring). In training each image of the
batch gets its own random transformation (RandomCrop: one window for the whole batch, as Keras). The warps
read the input as Keras's ``affine_transform`` / ``map_coordinates`` do (``augmentation.sample``): the output
pixel ``(x, y)`` reads the input at the transformed point, bilinearly or from the nearest pixel, and points
outside the image read ``fill_value`` or a reflected, wrapped or clamped pixel (``fill_mode``).

Cost: no parameters and no multiply-adds; the element-wise work counted is what one training call does per
output element (bilinear: 4 weighted reads, 7 operations; nearest, flips and crops: data movement only).
"""
from __future__ import annotations

import torch

from ... import checks
from ...dims import is_fixed
from .augmentation import (FILL_MODES, INTERPOLATIONS, _bad, _ImageAugmentation, _is_number, affine_matrix,
                           affine_transform, factor_range)
from .image import _resize, crop_box

__all__ = ["RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomShear", "RandomCrop"]

_BILINEAR_FLOPS = 7  # per output element: 4 reads weighted and summed


def _signed_factor(owner, name, factor, low_open: bool):
    """RandomZoom's and RandomTranslation's rule: a number ``f`` → ``(-|f|, |f|)``; a pair sorted; every number in
    ``[-1, 1]`` (``(-1, 1]`` for zoom, where -1 would zoom to nothing)."""
    def ok(v):
        return _is_number(v) and v <= 1.0 and (v > -1.0 if low_open else v >= -1.0)
    what = f"a number or a pair of numbers in {'(' if low_open else '['}-1, 1]"
    if isinstance(factor, (list, tuple)):
        if len(factor) != 2 or not all(ok(v) for v in factor):
            raise _bad(owner, name, what, factor)
        return tuple(sorted(float(v) for v in factor))
    if not ok(factor):
        raise _bad(owner, name, what, factor)
    return -abs(float(factor)), abs(float(factor))


class _Warp(_ImageAugmentation):
    """An augmentation that warps each image by an affine transform (``transformation["matrix"]``)."""

    def __init__(self, *, fill_mode, interpolation, fill_value, seed, data_format, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.fill_mode = checks.one_of(self, "fill_mode", fill_mode, FILL_MODES)
        self.interpolation = checks.one_of(self, "interpolation", interpolation, INTERPOLATIONS)
        if not _is_number(fill_value):
            raise _bad(self, "fill_value", "a number", fill_value)
        self.fill_value = fill_value

    def transform_images(self, images, transformation):
        return affine_transform(images, transformation["matrix"].to(images.device), self.interpolation,
                                self.fill_mode, self.fill_value, self.data_format)

    @property
    def _work(self):
        return (_BILINEAR_FLOPS if self.interpolation == "bilinear" else 0), \
            f"{self._what}, reading each output pixel from the input ({self.interpolation} interpolation, " \
            f"{self.fill_mode} fill)"

    def get_config(self):
        return {**super().get_config(), "fill_mode": self.fill_mode, "fill_value": self.fill_value,
                "interpolation": self.interpolation}


class RandomFlip(_ImageAugmentation):
    """Flips each image left-right and/or top-bottom with probability 1/2 in training.

    ``mode`` is ``"horizontal"``, ``"vertical"`` or ``"horizontal_and_vertical"`` (one draw per image flips it
    both ways or neither, as Keras does).

    Example:
        >>> layer = layers.RandomFlip("horizontal", seed=1)
        >>> x = torch.arange(6.0).reshape(1, 1, 6, 1)
        >>> bool(torch.equal(layer(x), x))
        True
    """

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.mode = checks.one_of(self, "mode", mode, ("horizontal", "vertical", "horizontal_and_vertical"))

    def get_random_transformation(self, images):
        return {"flips": self._uniform((images.shape[0], 1, 1, 1), device=images.device) <= 0.5}

    def transform_images(self, images, transformation):
        flips = transformation["flips"].to(images.device)
        h_axis, w_axis = self._spatial_axes()
        if self.mode in ("horizontal", "horizontal_and_vertical"):
            images = torch.where(flips, images.flip(w_axis), images)
        if self.mode in ("vertical", "horizontal_and_vertical"):
            images = torch.where(flips, images.flip(h_axis), images)
        return images

    @property
    def _work(self):
        return 0, f"flips each image ({self.mode.replace('_', ' ')}) with probability 1/2, moving pixels only"

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


class RandomRotation(_Warp):
    """Rotates each image about its centre by a random angle of ``factor`` × 360° in training.

    ``factor``: a number ``f`` (angles in ``[-f, f]`` turns) or a pair ``(low, high)``; ``factor=(0.25, 0.25)``
    always turns by 90°. ``fill_mode``: ``"reflect"`` (default), ``"wrap"``, ``"constant"`` (``fill_value``) or
    ``"nearest"``; ``interpolation``: ``"bilinear"`` or ``"nearest"``.
    """

    _what = "rotates each image about its centre"

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation, fill_value=fill_value, seed=seed,
                         data_format=data_format, **kwargs)
        self.factor = factor_range(self, factor)

    def get_random_transformation(self, images):
        batch = images.shape[0]
        height, width = self._image_size(images)
        angle = self._uniform((batch,), self.factor[0] * 360.0, self.factor[1] * 360.0)
        zeros, ones = torch.zeros(batch), torch.ones(batch)
        return {"angle": angle,
                "matrix": affine_matrix(0.5, 0.5, angle, zeros, zeros, ones, zeros, zeros, height, width)}

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class RandomZoom(_Warp):
    """Zooms each image about its centre in training: by ``1 + f`` with ``f`` drawn from ``height_factor``
    (rows) and ``width_factor`` (columns; ``None``: the same draw as the rows, keeping the aspect ratio).

    A factor is a number ``f`` (``[-f, f]``) or a pair; a positive draw zooms out (the image shrinks, the border
    is filled), a negative one zooms in. Each factor lies in ``(-1, 1]``.
    """

    _what = "zooms each image about its centre"

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation, fill_value=fill_value, seed=seed,
                         data_format=data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self._height = _signed_factor(self, "height_factor", height_factor, low_open=True)
        self._width = None if width_factor is None else _signed_factor(self, "width_factor", width_factor, True)

    def get_random_transformation(self, images):
        batch = images.shape[0]
        height_zoom = self._uniform((batch, 1), 1.0 + self._height[0], 1.0 + self._height[1])
        width_zoom = height_zoom if self._width is None else \
            self._uniform((batch, 1), 1.0 + self._width[0], 1.0 + self._width[1])
        return self.zoom_transformation(height_zoom, width_zoom, *self._image_size(images))

    @staticmethod
    def zoom_transformation(height_zoom, width_zoom, height: int, width: int) -> dict:
        """The transformation for given ``(batch, 1)`` zooms (Keras's ``_get_zoom_matrix``)."""
        x_offset = (torch.tensor(float(width)) - 1.0) / 2.0 * (1.0 - width_zoom)
        y_offset = (torch.tensor(float(height)) - 1.0) / 2.0 * (1.0 - height_zoom)
        zeros = torch.zeros_like(width_zoom)
        matrix = torch.cat([width_zoom, zeros, x_offset, zeros, height_zoom, y_offset, zeros, zeros], dim=1)
        return {"height_zoom": height_zoom, "width_zoom": width_zoom, "matrix": matrix}

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


class RandomTranslation(_Warp):
    """Shifts each image by a random fraction of its height (``height_factor``) and width (``width_factor``) in
    training; each factor is a number ``f`` (``[-f, f]``) or a pair in ``[-1, 1]``."""

    _what = "shifts each image"

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation, fill_value=fill_value, seed=seed,
                         data_format=data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self._height = _signed_factor(self, "height_factor", height_factor, low_open=False)
        self._width = _signed_factor(self, "width_factor", width_factor, low_open=False)

    def get_random_transformation(self, images):
        batch = images.shape[0]
        height, width = self._image_size(images)
        dy = self._uniform((batch, 1), *self._height) * height
        dx = self._uniform((batch, 1), *self._width) * width
        return self.shift_transformation(torch.cat([dx, dy], dim=1))

    @staticmethod
    def shift_transformation(translations) -> dict:
        """The transformation for ``(batch, 2)`` shifts ``(dx, dy)`` in pixels."""
        ones, zeros = torch.ones_like(translations[:, :1]), torch.zeros_like(translations[:, :1])
        matrix = torch.cat([ones, zeros, -translations[:, 0:1], zeros, ones, -translations[:, 1:], zeros, zeros], 1)
        return {"translations": translations, "matrix": matrix}

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


class RandomShear(_Warp):
    """Shears each image in training: ``x_factor`` and ``y_factor`` (numbers ``f`` in ``[0, 1]`` → draws in
    ``[-f, f]``, or pairs ``(low, high)``) are the shear coefficients along x and y; one random sign per image
    flips both. (Keras 3.15 writes ``f`` as ``(-f, f)`` in its config and then refuses to read that back;
    glassnet reads it.)"""

    _what = "shears each image"

    def __init__(self, x_factor=0.0, y_factor=0.0, interpolation="bilinear", fill_mode="reflect", fill_value=0.0,
                 data_format=None, seed=None, **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation, fill_value=fill_value, seed=seed,
                         data_format=data_format, **kwargs)
        self.x_factor = self._factor("x_factor", x_factor)
        self.y_factor = self._factor("y_factor", y_factor)

    def _factor(self, name, factor):
        # a pair may reach -1: Keras writes the number f as the pair (-f, f) in its configs
        if isinstance(factor, (list, tuple)) and len(factor) == 2 and \
                all(_is_number(v) and -1.0 <= v <= 1.0 for v in factor):
            return tuple(sorted(float(v) for v in factor))
        if _is_number(factor) and 0.0 <= factor <= 1.0:
            return -float(factor), float(factor)
        raise _bad(self, name, "a number in [0, 1] or a pair of numbers in [-1, 1]", factor)

    def get_random_transformation(self, images):
        batch = images.shape[0]
        invert = torch.where(self._uniform((batch, 1)) > 0.5, -1.0, 1.0)
        shear_y = self._uniform((batch, 1), *self.y_factor)
        shear_x = self._uniform((batch, 1), *self.x_factor)
        return self.shear_transformation(torch.cat([shear_x, shear_y], dim=1) * invert)

    @staticmethod
    def shear_transformation(shear_factor) -> dict:
        """The transformation for ``(batch, 2)`` shears ``(sx, sy)``."""
        ones, zeros = torch.ones_like(shear_factor[:, 0]), torch.zeros_like(shear_factor[:, 0])
        matrix = torch.stack([ones, shear_factor[:, 0], zeros, shear_factor[:, 1], ones, zeros, zeros, zeros], 1)
        return {"shear_factor": shear_factor, "matrix": matrix}

    def get_config(self):
        return {**super().get_config(), "x_factor": self.x_factor, "y_factor": self.y_factor}


class RandomCrop(_ImageAugmentation):
    """Crops a random ``(height, width)`` window in training — one window for the whole batch, as Keras draws it.

    At inference each image is cropped to its largest central window of the target's aspect ratio and resized
    to the target bilinearly, as Keras documents it (Keras 3.15's ``predict`` returns the uncropped input
    instead, contradicting its own ``compute_output_shape``). In training an input not larger than the target
    on both sides is cropped and resized as Keras 3.15 computes it: a target-sized slice from that central
    window's corner, resized if it comes out smaller.

    Example:
        >>> layers.RandomCrop(24, 24)(gn.Input((32, 32, 3))).shape
        (None, 24, 24, 3)
    """

    def __init__(self, height, width, seed=None, data_format=None, name=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, name=name, **kwargs)
        self.height = checks.positive_int(self, "height", height)
        self.width = checks.positive_int(self, "width", width)

    def get_random_transformation(self, images):
        """The window's top-left corner ``(top, left)`` (Keras's transformation)."""
        height, width = self._image_size(images)
        if height > self.height and width > self.width:
            top = int(self._uniform((), 0.0, float(height - self.height + 1)))
            return top, int(self._uniform((), 0.0, float(width - self.width + 1)))
        top, _, left, _ = crop_box(height, width, self.height, self.width)
        return top, left

    def _crop_and_resize(self, images, top, left, crop_height, crop_width):
        h_axis, w_axis = self._spatial_axes(images.ndim)
        images = images.narrow(h_axis, top, min(crop_height, images.shape[h_axis] - top))
        images = images.narrow(w_axis, left, min(crop_width, images.shape[w_axis] - left))
        if (images.shape[h_axis], images.shape[w_axis]) == (self.height, self.width):
            return images
        nchw = images.permute(0, 3, 1, 2) if self.data_format == "channels_last" else images
        out = _resize(nchw, (self.height, self.width), "bilinear", False)
        return out.permute(0, 2, 3, 1) if self.data_format == "channels_last" else out

    def transform_images(self, images, transformation):
        top, left = transformation
        return self._crop_and_resize(images, top, left, self.height, self.width)

    def call(self, inputs, training=False):
        if training:
            return super().call(inputs, training=True)
        images, data = self._unpack(inputs)
        images = images.to(self.dtype_policy.torch_compute_dtype)
        single = images.ndim == 3
        batch = images.unsqueeze(0) if single else images
        top, crop_height, left, crop_width = crop_box(*self._image_size(batch), self.height, self.width)
        batch = self._crop_and_resize(batch, top, left, crop_height, crop_width)
        images = batch.squeeze(0) if single else batch
        return images if data is None else {**data, "images": images}

    def compute_output_shape(self, input_shape):
        shape = super().compute_output_shape(input_shape)
        images = list(shape["images"] if isinstance(shape, dict) else shape)
        h_axis, w_axis = self._spatial_axes(len(images))
        images[h_axis], images[w_axis] = self.height, self.width
        return {**shape, "images": tuple(images)} if isinstance(shape, dict) else tuple(images)

    @property
    def _work(self):
        return 0, f"crops a random {self.height}×{self.width} window (at inference: the central one, resized)"

    def cost(self, input_shape, output_shape):
        h_axis, w_axis = self._spatial_axes(len(input_shape))
        height, width = input_shape[h_axis], input_shape[w_axis]
        cost = super().cost(input_shape, output_shape)
        cost.rf = ("unknown",)  # a crop moves every pixel; at inference it also resizes
        if is_fixed(height) and is_fixed(width) and (height > self.height and width > self.width):
            _, crop_height, _, crop_width = crop_box(int(height), int(width), self.height, self.width)
            cost.reads = (f"keeps a random {self.height}×{self.width} window of each {height}×{width} image in "
                          f"training (one per batch); at inference it resizes the central {crop_height}×{crop_width} "
                          "window to that size bilinearly (that work not counted)")
            return cost
        cost.other_flops = None
        cost.reads = (f"crops each image towards a {self.height}×{self.width} window and resizes it bilinearly when "
                      "the input is not larger than that (each input's size decides, so its work is not counted)")
        return cost

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}
