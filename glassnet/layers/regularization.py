"""Noise and dropout for training: SpatialDropout1D/2D/3D, GaussianNoise, GaussianDropout, AlphaDropout.

Each is the identity unless called with ``training=True`` (``fit`` does that). The noise comes from
torch's global generator, so ``gn.utils.set_random_seed`` (or ``torch.manual_seed``) makes it repeat;
``seed`` is accepted and written to files for Keras, as with ``Dropout``, but draws no separate stream.
Masks pass through unchanged, as in Keras 3.
"""
from __future__ import annotations

import math

import torch

from .. import checks, dtypes
from ..dims import product
from ..errors import ConfigError
from .base import Layer
from .conv import SPATIAL_NAMES
from .core import Dropout
from .cost import Cost, numel

__all__ = ["SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout",
           "AlphaDropout"]

# SELU's constants: the values AlphaDropout keeps the mean and variance of
_ALPHA = 1.6732632423543772848170429916717
_SCALE = 1.0507009873554804934193349852946


def _check_seed(owner, seed):
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ConfigError(f"{checks.owner_text(owner)}: the `seed` argument must be an int or None. Received: seed={seed!r}")
    return seed


class _SpatialDropout(Dropout):
    """Dropout of whole feature maps: one keep/drop draw per sample and channel, shared by every position."""

    rank = 1

    def __init__(self, rate, data_format=None, seed=None, name=None, dtype=None):
        super().__init__(rate, name=name, dtype=dtype)
        self.seed = _check_seed(self, seed)
        self.data_format = checks.data_format(self, data_format)

    def compute_output_shape(self, input_shape):
        names = ", ".join(SPATIAL_NAMES[self.rank])
        self._require_rank(input_shape, self.rank + 2, f"(batch, {names}, channels)" if self.data_format ==
                           "channels_last" else f"(batch, channels, {names})")
        return input_shape

    def _noise_shape(self, shape) -> list:
        channel = len(shape) - 1 if self.data_format == "channels_last" else 1
        return [d if i in (0, channel) else 1 for i, d in enumerate(shape)]

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        keep = torch.empty(self._noise_shape(inputs.shape), device=inputs.device, dtype=inputs.dtype)
        return inputs * keep.bernoulli_(1 - self.rate) / (1 - self.rate)

    def cost(self, input_shape, output_shape):
        return Cost(reads=f"zeroes a random {self.rate:g} of the channels of each sample in training, every position "
                          "of a dropped channel together (identity in inference)",
                    saved=((product(self._noise_shape(input_shape)), 4),) if self.rate > 0 else ())

    def get_config(self):
        # Keras's SpatialDropout takes only these arguments (no ``trainable``)
        return {"rate": self.rate, "seed": self.seed, "name": self.name, "dtype": dtypes.name_of(self.dtype),
                "data_format": self.data_format}


class SpatialDropout1D(_SpatialDropout):
    """Drops whole channels of ``(batch, steps, channels)``: one draw per sample and channel.

    Example:
        >>> layers.SpatialDropout1D(0.5)(gn.Input((10, 4))).shape
        (None, 10, 4)
    """

    rank = 1

    def __init__(self, rate, seed=None, name=None, dtype=None):
        super().__init__(rate, None, seed, name, dtype)

    def get_config(self):
        config = super().get_config()
        config.pop("data_format")
        return config


class SpatialDropout2D(_SpatialDropout):
    """Drops whole feature maps of images (one draw per sample and channel)."""

    rank = 2

    def __init__(self, rate, data_format=None, seed=None, name=None, dtype=None):
        super().__init__(rate, data_format, seed, name, dtype)


class SpatialDropout3D(_SpatialDropout):
    """Drops whole feature volumes (one draw per sample and channel)."""

    rank = 3

    def __init__(self, rate, data_format=None, seed=None, name=None, dtype=None):
        super().__init__(rate, data_format, seed, name, dtype)


class GaussianNoise(Layer):
    """Adds zero-mean Gaussian noise of standard deviation ``stddev`` in training.

    Example:
        >>> layer = layers.GaussianNoise(0.1)
        >>> x = torch.ones(2, 3)
        >>> bool(torch.equal(layer(x), x)), bool(torch.equal(layer(x, training=True), x))
        (True, False)
    """

    supports_masking = True

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.stddev = checks.number_in(self, "stddev", stddev, 0, 1, high_inclusive=True)
        self.seed = _check_seed(self, seed)

    def call(self, inputs, training=False):
        if not training or self.stddev == 0:
            return inputs
        return inputs + torch.randn_like(inputs) * self.stddev

    def cost(self, input_shape, output_shape):
        return Cost(reads=f"adds Gaussian noise (stddev {self.stddev:g}) to every element in training "
                          "(identity in inference)")

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class GaussianDropout(Layer):
    """Multiplies every element by Gaussian noise of mean 1 and standard deviation ``sqrt(rate/(1-rate))``
    in training (the variance of dropout at ``rate``, without zeros).
    """

    supports_masking = True

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = checks.number_in(self, "rate", rate, 0, 1)
        self.seed = _check_seed(self, seed)

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        return inputs * (1.0 + torch.randn_like(inputs) * stddev)

    def cost(self, input_shape, output_shape):
        return Cost(reads=f"multiplies every element by noise of mean 1 and variance {self.rate:g}/(1-{self.rate:g}) "
                          "in training (identity in inference)",
                    saved=((numel(input_shape), 4),) if self.rate > 0 else ())

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class AlphaDropout(Layer):
    """Dropout for SELU networks: in training a dropped element is set to SELU's saturation value
    ``-alpha·scale`` and then every element goes through ``a·x + b``, chosen so the mean and variance stay
    those of the input (Klambauer et al., 2017; Keras 3's formula).

    Args:
        rate: fraction to drop, in [0, 1).
        noise_shape: shape of the keep/drop draw, broadcast against the input (``None`` entries: the input's).
    """

    supports_masking = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = checks.number_in(self, "rate", rate, 0, 1)
        if noise_shape is not None and (not isinstance(noise_shape, (list, tuple)) or any(
                d is not None and (isinstance(d, bool) or not isinstance(d, int) or d < 1) for d in noise_shape)):
            raise ConfigError(self._error("needs noise_shape to be None or a list of positive ints and None",
                                          f"noise_shape={noise_shape!r}"))
        self.noise_shape = None if noise_shape is None else list(noise_shape)
        self.seed = _check_seed(self, seed)

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        shape = inputs.shape if self.noise_shape is None else \
            [inputs.shape[i] if d is None else d for i, d in enumerate(self.noise_shape)]
        kept = (torch.rand(shape, device=inputs.device, dtype=inputs.dtype) >= self.rate).to(inputs.dtype)
        alpha_p = -_ALPHA * _SCALE
        a = ((1 - self.rate) * (1 + self.rate * alpha_p ** 2)) ** -0.5
        b = -a * alpha_p * self.rate
        return a * (inputs * kept + alpha_p * (1 - kept)) + b

    def cost(self, input_shape, output_shape):
        return Cost(reads=f"sets a random {self.rate:g} of the elements to SELU's saturation value and rescales "
                          "so mean and variance are kept, in training (identity in inference)",
                    saved=((numel(input_shape), 4),) if self.rate > 0 else ())

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape, "seed": self.seed}
