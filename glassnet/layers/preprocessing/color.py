"""Random colour and intensity augmentation, as Keras 3 computes it on its torch backend: RandomContrast,
RandomBrightness, RandomColorDegeneration, RandomGrayscale, RandomHue, RandomSaturation, RandomInvert,
RandomPosterization and Solarization.

Each is the identity (its input cast to the compute dtype) unless called with ``training=True``; then it draws
one random setting per image and applies it to every pixel. Values are read in ``value_range`` (``(0, 255)`` by
default: pass ``(0, 1)`` for images scaled to [0, 1]) and the results are clipped to it. Keras's quirks are kept
so a setting means the same in both: a single ``factor`` of RandomContrast draws contrast factors in
``[1, 1 + factor]`` (a pair ``(a, b)`` draws in ``[1 − a, 1 + b]``), RandomSaturation's factor ``f`` becomes a
multiplier ``f/(1 − f)`` of the saturation, Solarization draws thresholds in ``[lower, upper·255]``.
"""
from __future__ import annotations

import torch

from ... import checks
from ...errors import ConfigError, ShapeError
from . import augmentation as aug
from .augmentation import _ImageAugmentation
from .color_ops import adjust_contrast, channel_axis, grayscale, hsv_to_rgb, posterize, rgb_to_hsv, solarize

__all__ = ["RandomContrast", "RandomBrightness", "RandomColorDegeneration", "RandomGrayscale", "RandomHue",
           "RandomSaturation", "RandomInvert", "RandomPosterization", "Solarization"]

_EPSILON = 1e-7  # Keras's backend.epsilon()


class _ColorAugmentation(_ImageAugmentation):
    """A random colour layer: a ``factor`` range, a ``value_range``, and an output clipped to that range."""

    _FACTOR_BOUNDS = (-1.0, 1.0)
    _CHANNELS: tuple[int, ...] = ()   # channel counts the layer accepts (empty: any)

    def __init__(self, factor, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = aug.factor_range(self, factor, self._FACTOR_BOUNDS)
        self.value_range = aug.value_range(self, value_range)

    def _clip(self, images):
        return torch.clip(images, self.value_range[0], self.value_range[1])

    def compute_output_shape(self, input_shape):
        return _check_channels(self, super().compute_output_shape(input_shape), self._CHANNELS)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


class RandomContrast(_ColorAugmentation):
    """Scales each image's deviation from its per-channel mean by a random factor:
    ``(x − mean)·c + mean``, clipped to ``value_range``, with ``c`` drawn in ``[1 − lower, 1 + upper]``.

    Example:
        >>> layer = layers.RandomContrast((0.5, 0.5), seed=1)
        >>> layer(torch.rand(2, 4, 4, 3) * 255, training=True).shape
        torch.Size([2, 4, 4, 3])
    """

    _FACTOR_BOUNDS = (0.0, 1.0)

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(factor, value_range, seed, **kwargs)

    def get_random_transformation(self, images):
        low, high = 1.0 - self.factor[0], 1.0 + self.factor[1]
        return {"contrast_factor": self._uniform((images.shape[0], 1, 1, 1), low, high, images.device)}

    def transform_images(self, images, transformation):
        factor = transformation["contrast_factor"].to(images)
        return self._clip(adjust_contrast(images, factor, self.data_format))

    @property
    def _work(self):
        return 6, "scales each image's deviation from its channel means by a random factor and clips"


class RandomBrightness(_ColorAugmentation):
    """Adds a random amount to every value of each image, drawn in ``factor``·(high − low) of
    ``value_range``, and clips to ``value_range``. ``factor=0.2`` shifts by up to ±20% of the range."""

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(factor, value_range, seed, **kwargs)

    def get_random_transformation(self, images):
        delta = self._uniform((images.shape[0], 1, 1, 1), self.factor[0], self.factor[1], images.device)
        return {"rgb_delta": delta * (self.value_range[1] - self.value_range[0])}

    def transform_images(self, images, transformation):
        return self._clip(images + transformation["rgb_delta"].to(images))

    @property
    def _work(self):
        return 3, "adds a random brightness offset to each image and clips"


class RandomColorDegeneration(_ColorAugmentation):
    """Blends each RGB image towards its grayscale version: ``x + f·(gray − x)``, ``f`` drawn in ``factor``
    (negative ``f`` saturates), clipped to ``value_range``."""

    _CHANNELS = (3,)

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(factor, value_range, seed, data_format, **kwargs)

    def get_random_transformation(self, images):
        return {"factor": self._uniform((images.shape[0], 1, 1, 1), self.factor[0], self.factor[1], images.device)}

    def transform_images(self, images, transformation):
        factor = transformation["factor"].to(images)
        return self._clip(images + factor * (grayscale(images, self.data_format) - images))

    @property
    def _work(self):
        return 7, "blends each image towards its grayscale by a random amount and clips"


class RandomGrayscale(_ImageAugmentation):
    """Turns each image to grayscale (ITU-R 601 luma, repeated on every channel) with probability ``factor``.

    Example:
        >>> y = layers.RandomGrayscale(1.0)(torch.rand(1, 2, 2, 3), training=True)
        >>> bool(torch.equal(y[..., 0], y[..., 2]))
        True
    """

    def __init__(self, factor=0.5, data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = checks.number_in(self, "factor", factor, 0, 1, high_inclusive=True)

    def get_random_transformation(self, images):
        apply = self._uniform((images.shape[0],), device=images.device) < self.factor
        return {"should_apply": apply.reshape(-1, 1, 1, 1)}

    def transform_images(self, images, transformation):
        apply = transformation["should_apply"].to(images.device)
        return torch.where(apply, grayscale(images, self.data_format), images)

    def compute_output_shape(self, input_shape):
        return _check_channels(self, super().compute_output_shape(input_shape), (1, 3))

    @property
    def _work(self):
        return 3, "replaces each image by its grayscale with a fixed probability"

    def get_config(self):  # Keras writes neither seed nor value_range for this layer
        config = super().get_config()
        config.pop("seed", None)  # no draws: Keras writes no seed
        return {**config, "factor": self.factor}


class RandomHue(_ColorAugmentation):
    """Rotates the hue of each RGB image by a random amount: ``±f/2`` of the colour circle with ``f`` drawn in
    ``factor`` and the sign at random; the image is converted to HSV and back in [0, 1], then to
    ``value_range``."""

    _FACTOR_BOUNDS = (0.0, 1.0)
    _CHANNELS = (3,)

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(factor, value_range, seed, data_format, **kwargs)

    def get_random_transformation(self, images):
        batch, device = images.shape[0], images.device
        sign = torch.where(self._uniform((batch,), device=device) > 0.5, -1.0, 1.0)
        return {"factor": sign * self._uniform((batch,), self.factor[0], self.factor[1], device) * 0.5}

    def transform_images(self, images, transformation):
        axis = channel_axis(self.data_format)
        images = aug.transform_value_range(images, self.value_range, (0, 1))
        hue, saturation, value = rgb_to_hsv(images, self.data_format).unbind(axis)
        hue = hue + transformation["factor"].to(images).reshape(-1, 1, 1)
        hue = torch.where(hue > 1.0, hue - 1.0, hue)
        hue = torch.where(hue < 0.0, hue + 1.0, hue)
        images = hsv_to_rgb(torch.stack((hue, saturation, value), dim=axis), self.data_format)
        return aug.transform_value_range(torch.clip(images, 0, 1), (0, 1), self.value_range)

    @property
    def _work(self):
        return 40, "rotates the hue of each image by a random angle (through HSV and back)"


class RandomSaturation(_ColorAugmentation):
    """Multiplies the HSV saturation of each RGB image by ``f/(1 − f)``, ``f`` drawn in ``factor``: 0.5 keeps
    the image, 0 makes it gray, values near 1 saturate it. As in Keras, the saturation is clipped to
    ``value_range`` (not to [0, 1]), so with ``(0, 255)`` strong factors push colours past the primaries."""

    _CHANNELS = (3,)

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(factor, value_range, seed, data_format, **kwargs)

    def get_random_transformation(self, images):
        f = self._uniform((images.shape[0],), self.factor[0], self.factor[1], images.device)
        return {"factor": f / (1 - f + _EPSILON)}

    def transform_images(self, images, transformation):
        axis = channel_axis(self.data_format)
        hue, saturation, value = rgb_to_hsv(images, self.data_format).unbind(axis)
        saturation = self._clip(saturation * transformation["factor"].to(images).reshape(-1, 1, 1))
        return hsv_to_rgb(torch.stack((hue, saturation, value), dim=axis), self.data_format)

    @property
    def _work(self):
        return 35, "scales the saturation of each image by a random factor (through HSV and back)"


class RandomInvert(_ColorAugmentation):
    """Inverts each image (``high − x`` with ``high`` the top of ``value_range``) with a probability drawn in
    ``factor`` (1.0: a probability drawn in [0, 1], so about half the images)."""

    _FACTOR_BOUNDS = (0.0, 1.0)

    def __init__(self, factor=1.0, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(factor, value_range, seed, data_format, **kwargs)

    def get_random_transformation(self, images):
        batch, device = images.shape[0], images.device
        probability = self._uniform((batch,), self.factor[0], self.factor[1], device)
        return {"apply_inversion": self._uniform((batch,), device=device) < probability}

    def transform_images(self, images, transformation):
        apply = transformation["apply_inversion"].to(images.device).reshape(-1, 1, 1, 1)
        return torch.where(apply, self.value_range[1] - images, images)

    @property
    def _work(self):
        return 2, "inverts each image with a random probability"


class RandomPosterization(_ColorAugmentation):
    """Keeps the top ``b`` bits of each 8-bit value (values mapped from ``value_range`` to [0, 255] and back),
    ``b`` an integer drawn in ``[lower, upper)`` of ``factor`` (a single ``b`` when both are equal): fewer
    bits, fewer intensity levels. ``factor=4`` draws 1 to 3 bits; ``factor=(4, 4)`` always keeps 4."""

    _FACTOR_BOUNDS = (1, 8)

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(factor, value_range, seed, data_format, **kwargs)
        if any(f != int(f) for f in self.factor):
            raise ConfigError(self._error("keeps a whole number of bits, so `factor` must be integers",
                                          f"factor={factor!r}"))
        self.factor = tuple(int(f) for f in self.factor)

    def get_random_transformation(self, images):
        batch, device = images.shape[0], images.device
        low, high = self.factor
        bits = self._randint((batch,), low, high, device) if low != high else \
            torch.full((batch,), low, dtype=torch.int64, device=device)
        return {"shift_factor": (8 - bits).to(torch.uint8)}

    def transform_images(self, images, transformation):
        shift = transformation["shift_factor"].to(images.device).reshape(-1, 1, 1, 1)
        images = posterize(aug.transform_value_range(images, self.value_range, (0, 255)), shift)
        return aug.transform_value_range(images, (0, 255), self.value_range)

    @property
    def _work(self):
        return 7, "clears the low bits of each value (a random number of bits per image)"


class Solarization(_ImageAugmentation):
    """Adds a random amount to each image (drawn in ``[lower, upper·255]`` of ``addition_factor``), clips to
    [0, 255] and inverts every value at or above a random threshold (drawn in ``[lower, upper·255]`` of
    ``threshold_factor``); values are mapped from ``value_range`` to [0, 255] and back. With both factors 0,
    the threshold is 0 and every image is inverted."""

    def __init__(self, addition_factor=0.0, threshold_factor=0.0, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.addition_factor = self._factor("addition_factor", addition_factor)
        self.threshold_factor = self._factor("threshold_factor", threshold_factor)
        self.value_range = aug.value_range(self, value_range)

    def _factor(self, name, factor):
        """A number ``f`` means ``(0, f)``; a pair is sorted; every number in [0, 1]."""
        pair = tuple(factor) if isinstance(factor, (list, tuple)) else (0.0, factor)
        if len(pair) != 2 or not all(not isinstance(f, bool) and isinstance(f, (int, float)) and 0 <= f <= 1
                                     for f in pair):
            raise aug._bad(self, name, "a number or a pair of numbers in [0, 1]", factor)
        return tuple(sorted(float(f) for f in pair))

    def get_random_transformation(self, images):
        shape, device = (images.shape[0], 1, 1, 1), images.device
        return {"additions": self._uniform(shape, self.addition_factor[0], self.addition_factor[1] * 255, device),
                "thresholds": self._uniform(shape, self.threshold_factor[0], self.threshold_factor[1] * 255, device)}

    def transform_images(self, images, transformation):
        additions, thresholds = (transformation[k].to(images) for k in ("additions", "thresholds"))
        results = solarize(aug.transform_value_range(images, self.value_range, (0, 255)), additions, thresholds)
        return aug.transform_value_range(results, (0, 255), self.value_range)

    @property
    def _work(self):
        return 5, "adds a random amount and inverts the values above a random threshold"

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range, "addition_factor": self.addition_factor,
                "threshold_factor": self.threshold_factor}


def _check_channels(layer, shape, allowed: tuple[int, ...]):
    """``shape`` (or a dict's ``"images"`` shape) when its channel count, if fixed, is one of ``allowed``."""
    images = shape.get("images", ()) if isinstance(shape, dict) else shape
    channels = images[channel_axis(layer.data_format)]
    if allowed and isinstance(channels, int) and channels not in allowed:
        raise ShapeError(layer._error(f"works on RGB images, so it needs {' or '.join(map(str, allowed))} channels",
                                      f"input shape {tuple(images)}", "Convert the images to RGB first."))
    return shape
