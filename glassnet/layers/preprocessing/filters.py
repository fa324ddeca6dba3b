"""Random filtering of images, as Keras 3 computes it on its torch backend: RandomSharpness and
RandomGaussianBlur. Each channel is convolved with a small kernel (zero padding), in training only."""
from __future__ import annotations

import torch

from ...errors import ConfigError
from . import augmentation as aug
from .color import _ColorAugmentation
from .color_ops import gaussian_blur, sharpen

__all__ = ["RandomSharpness", "RandomGaussianBlur"]


class RandomSharpness(_ColorAugmentation):
    """Blends each image with its 3×3 smoothing by a random amount: ``x + (1 − 2f)·(smooth − x)``, ``f`` drawn in
    ``factor`` — ``f = 0`` smooths, ``f = 0.5`` keeps the image, ``f = 1`` sharpens; clipped to ``value_range``."""

    _FACTOR_BOUNDS = (0.0, 1.0)

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(factor, value_range, seed, data_format, **kwargs)

    def get_random_transformation(self, images):
        return {"factor": self._uniform((images.shape[0],), self.factor[0], self.factor[1], images.device)}

    def transform_images(self, images, transformation):
        factor = (transformation["factor"] * 2).to(images).reshape(-1, 1, 1, 1)
        return self._clip(sharpen(images, factor, self.data_format))

    @property
    def _work(self):
        return 22, "sharpens or smooths each image by a random amount (a 3×3 filter per channel)"


class RandomGaussianBlur(_ColorAugmentation):
    """Blurs each image, with a probability drawn in ``factor``, by a ``kernel_size``×``kernel_size`` Gaussian
    whose standard deviations (one across, one down, shared by the batch) are drawn in ``sigma`` (a number ``s``
    means ``[0, s]``); clipped to ``value_range``.

    Example:
        >>> blur = layers.RandomGaussianBlur(factor=(1.0, 1.0), kernel_size=5, sigma=(0.5, 0.5))
        >>> blur(torch.rand(2, 8, 8, 3), training=True).shape
        torch.Size([2, 8, 8, 3])
    """

    _FACTOR_BOUNDS = (0.0, 1.0)

    def __init__(self, factor=1.0, kernel_size=3, sigma=1.0, value_range=(0, 255), data_format=None, seed=None,
                 **kwargs):
        super().__init__(factor, value_range, seed, data_format, **kwargs)
        sizes = tuple(kernel_size) if isinstance(kernel_size, (list, tuple)) else (kernel_size, kernel_size)
        if len(sizes) != 2 or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 or k % 2 == 0
                                  for k in sizes):
            raise ConfigError(self._error("needs an odd positive kernel_size (or a pair of equal ones)",
                                          f"kernel_size={kernel_size!r}"))
        if sizes[0] != sizes[1]:
            raise ConfigError(self._error(
                "blurs with square kernels only: Keras's torch backend builds a non-square kernel with its two "
                "sizes crossed, so there is no result to match", f"kernel_size={kernel_size!r}",
                "Pass one odd size."))
        self.kernel_size = sizes
        self.sigma = aug.factor_range(self, sigma, (0.0, 1.0), "sigma")

    def get_random_transformation(self, images):
        batch, device = images.shape[0], images.device
        probability = self._uniform((batch,), self.factor[0], self.factor[1], device)
        return {"should_apply_blur": self._uniform((batch,), device=device) < probability,
                "blur_factor": self._uniform((2,), self.sigma[0], self.sigma[1], device) + 1e-6}

    def transform_images(self, images, transformation):
        sigma = transformation["blur_factor"].to(images)
        blurred = gaussian_blur(images, self.kernel_size[0], sigma, self.data_format)
        apply = transformation["should_apply_blur"].to(images.device).reshape(-1, 1, 1, 1)
        return self._clip(torch.where(apply, blurred, images))

    @property
    def _work(self):
        return 2 * self.kernel_size[0] ** 2 + 3, f"blurs each image with a random {self.kernel_size[0]}×" \
            f"{self.kernel_size[0]} Gaussian, with a random probability"

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size, "sigma": self.sigma}
