"""Augmentation that mixes images (and their labels) or erases part of them, as Keras 3 computes it: MixUp,
CutMix, RandomErasing.

Each is the identity at inference. In training MixUp blends every image with another of the same batch,
CutMix pastes a rectangle of another image of the batch in, and both mix the labels by the same weights when
called on a dict ``{"images": ..., "labels": ...}`` (labels one-hot or soft, ``(batch, classes)``).
RandomErasing fills a random rectangle of some images with noise or a constant. The partner images come from
a random permutation of the batch, so these layers need batches (CutMix passes a single image through, as Keras).
"""
from __future__ import annotations

import torch

from .augmentation import _bad, _ImageAugmentation, _is_number, factor_range
from .augmentation import value_range as _value_range_rule

__all__ = ["MixUp", "CutMix", "RandomErasing"]


def _mix(weight: torch.Tensor, values: torch.Tensor, permutation: torch.Tensor) -> torch.Tensor:
    """``w·v + (1 - w)·v[permutation]``, the weight broadcast over each sample."""
    weight = weight.to(values.device).reshape(-1, *([1] * (values.ndim - 1)))
    return weight * values + (1.0 - weight) * values[permutation.to(values.device)]


class _Boxes(_ImageAugmentation):
    """Random rectangles per image: Keras's ``_compute_crop_bounds`` and ``_generate_batch_mask``."""

    def _bounds(self, batch: int, length: int, ratio: torch.Tensor):
        crop = ratio * length
        start = self._uniform((batch,)) * (length - crop)
        return start, start + crop

    def _box_mask(self, images, x0, x1, y0, y1) -> torch.Tensor:
        """``(batch, …)`` booleans, true inside each image's box, shaped like the images."""
        height, width = self._image_size(images)
        gy = torch.arange(height, dtype=torch.float32).view(1, height, 1)
        gx = torch.arange(width, dtype=torch.float32).view(1, 1, width)
        v = [t.view(-1, 1, 1) for t in (x0, x1, y0, y1)]
        mask = (gx >= v[0]) & (gx < v[1]) & (gy >= v[2]) & (gy < v[3])
        mask = mask.unsqueeze(-1 if self.data_format == "channels_last" else 1)
        return mask.expand(images.shape).to(images.device)


class MixUp(_ImageAugmentation):
    """Blends each image with another image of the batch in training: ``w·x + (1 - w)·x[permutation]``, with
    ``w ~ Beta(alpha, alpha)`` per image; labels in a dict are blended by the same weights.

    Example:
        >>> layer = layers.MixUp(alpha=0.4, seed=0)
        >>> out = layer({"images": torch.rand(4, 8, 8, 3), "labels": torch.eye(4)}, training=True)
        >>> out["labels"].sum(dim=1).tolist() == [1.0] * 4
        True
    """

    def __init__(self, alpha=0.2, data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if not _is_number(alpha) or alpha <= 0:
            raise _bad(self, "alpha", "a positive number", alpha)
        self.alpha = alpha

    def get_random_transformation(self, images):
        batch = images.shape[0]
        permutation = torch.randperm(batch, generator=self._generator)
        return {"mix_weight": self._beta((batch,), self.alpha), "permutation_order": permutation}

    def transform_images(self, images, transformation):
        return _mix(transformation["mix_weight"].to(images.dtype), images, transformation["permutation_order"])

    def transform_labels(self, labels, transformation):
        return _mix(transformation["mix_weight"], labels, transformation["permutation_order"])

    @property
    def _work(self):
        return 3, "blends each image with another image of the batch (w·x + (1 - w)·x')"

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class CutMix(_Boxes):
    """Pastes a random rectangle of another image of the batch into each image in training, covering a
    fraction ``1 - w`` of it with ``w ~ Beta(a, a)`` and ``a`` drawn from ``factor`` (a number ``f`` →
    ``[0, f]``, or a pair in ``[0, 1]``); labels in a dict are mixed by the area each image keeps."""

    def __init__(self, factor=1.0, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = factor_range(self, factor, (0.0, 1.0))

    def get_random_transformation(self, images):
        batch = images.shape[0]
        height, width = self._image_size(images)
        concentration = float(self._uniform((), *self.factor)) + 1e-6
        ratio = torch.sqrt(1.0 - self._beta((batch,), concentration))
        x0, x1 = self._bounds(batch, width, ratio)
        y0, y1 = self._bounds(batch, height, ratio)
        return {"permutation_order": torch.randperm(batch, generator=self._generator),
                "batch_masks": self._box_mask(images, x0, x1, y0, y1),
                "mix_weight": 1.0 - (x1 - x0) * (y1 - y0) / (width * height)}

    def transform_images(self, images, transformation):
        if images.shape[0] == 1:  # Keras passes a single image through
            return images
        permutation = transformation["permutation_order"].to(images.device)
        return torch.where(transformation["batch_masks"].to(images.device), images[permutation], images)

    def transform_labels(self, labels, transformation):
        if labels.shape[0] == 1:
            return labels
        return _mix(transformation["mix_weight"], labels, transformation["permutation_order"])

    @property
    def _work(self):
        return 0, "pastes a random rectangle of another image of the batch into each image (data movement only)"

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class RandomErasing(_Boxes):
    """Fills a random rectangle of a fraction of the images (drawn from ``factor``) in training. Each side of the
    rectangle is ``√s`` of the image's, ``s`` drawn from ``scale``; the fill is ``fill_value`` (a number, or one
    per channel for three channels) or, when None, Gaussian noise of standard deviation ``value_range[1]``,
    clipped to ``value_range``."""

    def __init__(self, factor=1.0, scale=(0.02, 0.33), fill_value=None, value_range=(0, 255), seed=None,
                 data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = factor_range(self, factor, (0.0, 1.0))
        self.scale = factor_range(self, scale, (0.0, 1.0), name="scale")
        ok = fill_value is None or _is_number(fill_value) or (
            isinstance(fill_value, (list, tuple)) and len(fill_value) == 3 and all(_is_number(v) for v in fill_value))
        if not ok:
            raise _bad(self, "fill_value", "None, a number or a list of three numbers", fill_value)
        self.fill_value = fill_value
        self.value_range = _value_range_rule(self, value_range)

    def get_random_transformation(self, images):
        batch = images.shape[0]
        height, width = self._image_size(images)
        sides = torch.sqrt(self._uniform((batch, 2), *self.scale))
        x0, x1 = self._bounds(batch, width, sides[:, 0])
        y0, y1 = self._bounds(batch, height, sides[:, 1])
        apply = self._uniform((batch,)) < self._uniform((batch,), *self.factor)
        if self.fill_value is None:
            fill = self._normal(images.shape, device=images.device).to(images.dtype) * self.value_range[1]
        else:
            value = torch.tensor(self.fill_value, dtype=images.dtype, device=images.device)
            if value.ndim and self.data_format == "channels_first":
                value = value.view(-1, 1, 1)
            fill = torch.ones_like(images) * value
        return {"apply_erasing": apply, "batch_masks": self._box_mask(images, x0, x1, y0, y1),
                "fill_value": fill.clamp(*self.value_range)}

    def transform_images(self, images, transformation):
        erased = torch.where(transformation["batch_masks"].to(images.device),
                             transformation["fill_value"].to(images), images)
        apply = transformation["apply_erasing"].to(images.device).view(-1, *([1] * (images.ndim - 1)))
        return torch.where(apply, erased, images)

    @property
    def _work(self):
        return 0, "fills a random rectangle of some images with noise or a constant (data movement only)"

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "scale": self.scale, "fill_value": self.fill_value,
                "value_range": self.value_range}
