"""Non-affine image augmentation, as Keras 3 computes it on its torch backend: RandomPerspective (a random
projective warp of the corners) and RandomElasticTransform (a smooth random displacement field).

Both are the identity at inference and warp a random fraction of the images in training, reading the input as
Keras's ``map_coordinates`` does (``augmentation.sample``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ... import checks
from .augmentation import FILL_MODES, INTERPOLATIONS, _bad, _ImageAugmentation, _is_number, factor_range, sample
from .augmentation import value_range as _value_range_rule

__all__ = ["RandomPerspective", "RandomElasticTransform", "homography", "gaussian_blur"]

_BILINEAR_FLOPS = 7  # per output element: 4 reads weighted and summed


def homography(start_points: torch.Tensor, end_points: torch.Tensor) -> torch.Tensor:
    """Keras's ``compute_homography_matrix``: the ``(batch, 8)`` projective transforms that map each of the four
    ``end_points`` ``(batch, 4, 2)`` (x, y) to its ``start_points``."""
    sx, sy = start_points[..., 0], start_points[..., 1]
    ex, ey = end_points[..., 0], end_points[..., 1]
    one, zero = torch.ones_like(ex), torch.zeros_like(ex)
    x_rows = torch.stack([ex, ey, one, zero, zero, zero, -sx * ex, -sx * ey], dim=-1)
    y_rows = torch.stack([zero, zero, zero, ex, ey, one, -sy * ex, -sy * ey], dim=-1)
    coefficients = torch.stack([x_rows, y_rows], dim=2).reshape(-1, 8, 8)
    target = torch.stack([sx, sy], dim=2).reshape(-1, 8, 1)
    dtype = torch.promote_types(coefficients.dtype, torch.float32)
    solution = torch.linalg.solve(coefficients.to(dtype), target.to(dtype))
    return solution.reshape(-1, 8).to(start_points.dtype)


class RandomPerspective(_ImageAugmentation):
    """Moves each image's corners by up to ``scale``/2 of their coordinates and warps the image to match, for a
    fraction of the images drawn from ``factor`` (a number ``f`` → probability in ``[0, f]``, or a pair in
    ``[0, 1]``), in training. Points outside the image read ``fill_value``."""

    def __init__(self, factor=1.0, scale=1.0, interpolation="bilinear", fill_value=0.0, seed=None, data_format=None,
                 **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = factor_range(self, factor, (0.0, 1.0))
        self.scale = checks.number_in(self, "scale", scale, 0.0, 1.0, high_inclusive=True)
        self.interpolation = checks.one_of(self, "interpolation", interpolation, INTERPOLATIONS)
        if not _is_number(fill_value):
            raise _bad(self, "fill_value", "a number", fill_value)
        self.fill_value = fill_value

    def get_random_transformation(self, images):
        batch = images.shape[0]
        height, width = self._image_size(images)
        probability = self._uniform((batch,), *self.factor)
        apply = self._uniform((batch,)) < probability
        moves = self._uniform((batch, 4, 2), -0.5 * self.scale, 0.5 * self.scale)
        start = torch.tensor([[[0.0, 0.0], [width - 1, 0.0], [0.0, height - 1], [width - 1, height - 1]]])
        start = start.repeat(batch, 1, 1)
        return {"apply_perspective": apply, "start_points": start, "end_points": start + start * moves}

    def transform_images(self, images, transformation):
        nhwc = images.permute(0, 2, 3, 1) if self.data_format == "channels_first" else images
        batch, height, width, _ = nhwc.shape
        t = homography(transformation["start_points"], transformation["end_points"]).to(nhwc)
        gx = torch.arange(width, dtype=nhwc.dtype, device=nhwc.device).view(1, 1, width)
        gy = torch.arange(height, dtype=nhwc.dtype, device=nhwc.device).view(1, height, 1)
        a = [t[:, k].view(batch, 1, 1) for k in range(8)]
        denom = a[6] * gx + a[7] * gy + 1.0
        x = (a[0] * gx + a[1] * gy + a[2]) / denom
        y = (a[3] * gx + a[4] * gy + a[5]) / denom
        out = sample(nhwc, y, x, self.interpolation, "constant", self.fill_value)
        out = out.permute(0, 3, 1, 2) if self.data_format == "channels_first" else out
        apply = transformation["apply_perspective"].to(images.device).view(batch, 1, 1, 1)
        return torch.where(apply, out, images)

    @property
    def _work(self):
        return (_BILINEAR_FLOPS if self.interpolation == "bilinear" else 0), \
            f"warps a random fraction of the images by a random perspective ({self.interpolation})"

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "scale": self.scale,
                "interpolation": self.interpolation, "fill_value": self.fill_value}


def gaussian_blur(images: torch.Tensor, kernel_size: int, sigma: torch.Tensor) -> torch.Tensor:
    """Keras's torch ``gaussian_blur`` of ``(batch, channels, height, width)`` images: a square Gaussian kernel,
    zero padding, the same size out."""
    x = torch.arange(kernel_size, dtype=images.dtype, device=images.device) - (kernel_size - 1) / 2
    k1 = torch.exp(-0.5 * (x / sigma) ** 2)
    k1 = k1 / k1.sum()
    kernel = torch.outer(k1, k1).expand(images.shape[1], 1, kernel_size, kernel_size)
    return F.conv2d(images, kernel, padding=kernel_size // 2, groups=images.shape[1])


class RandomElasticTransform(_ImageAugmentation):
    """Distorts a fraction of the images (drawn from ``factor``) by a smooth random displacement field in
    training: per-pixel Gaussian noise blurred by a Gaussian of σ = 5%·min(height, width)·s and scaled by
    α = 10%·max(height, width)·s, with ``s`` drawn from ``scale``; every image is then clipped to
    ``value_range``. ``fill_mode`` also accepts ``"mirror"`` here (d c b | a b c d | c b a), as Keras does."""

    def __init__(self, factor=1.0, scale=1.0, interpolation="bilinear", fill_mode="reflect", fill_value=0.0,
                 value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = factor_range(self, factor, (0.0, 1.0))
        self.scale = factor_range(self, scale, (0.0, 1.0), name="scale")
        self.interpolation = checks.one_of(self, "interpolation", interpolation, INTERPOLATIONS)
        self.fill_mode = checks.one_of(self, "fill_mode", fill_mode, (*FILL_MODES, "mirror"))
        if not _is_number(fill_value):
            raise _bad(self, "fill_value", "a number", fill_value)
        self.fill_value = fill_value
        self.value_range = _value_range_rule(self, value_range)

    def get_random_transformation(self, images):
        if self.scale[1] == 0 or self.factor[1] == 0:
            return None
        batch = images.shape[0]
        height, width = self._image_size(images)
        probability = self._uniform((batch,), *self.factor)
        apply = self._uniform((batch,)) < probability
        distortion = self._uniform((), *self.scale)
        noise = self._normal((2, batch, height, width))
        return {"apply_transform": apply, "distortion_factor": distortion, "noise": noise}

    def transform_images(self, images, transformation):
        if transformation is None:
            return images
        nchw = images.permute(0, 3, 1, 2) if self.data_format == "channels_last" else images
        height, width = nchw.shape[2:]
        factor = transformation["distortion_factor"].to(nchw)
        alpha, sigma = max(height, width) * (0.1 * factor), min(height, width) * (0.05 * factor)
        kernel_size = int(6 * sigma) | 1
        noise = transformation["noise"].to(nchw) * sigma
        dx, dy = (gaussian_blur(n.unsqueeze(1), kernel_size, sigma).squeeze(1) for n in noise)
        gx = torch.arange(width, device=nchw.device).view(1, 1, width)
        gy = torch.arange(height, device=nchw.device).view(1, height, 1)
        out = sample(nchw.permute(0, 2, 3, 1), gy + alpha * dy, gx + alpha * dx, self.interpolation,
                     self.fill_mode, self.fill_value)
        out = out.permute(0, 3, 1, 2) if self.data_format == "channels_first" else out
        apply = transformation["apply_transform"].to(images.device).view(-1, 1, 1, 1)
        return torch.where(apply, out, images).clamp(self.value_range[0], self.value_range[1])

    @property
    def _work(self):
        return None, ("distorts a random fraction of the images by a blurred random displacement field (the blur's "
                      "width depends on the drawn scale, so its work is not counted)")

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "scale": self.scale,
                "interpolation": self.interpolation, "fill_mode": self.fill_mode, "fill_value": self.fill_value,
                "value_range": self.value_range}
