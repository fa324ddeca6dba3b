"""Augmentation policies built from the other augmentation layers, as Keras 3 composes them: RandomColorJitter,
RandAugment and AugMix.

Each holds its operations as sub-layers (no weights) that draw from the policy's own random stream, so one
``seed`` repeats the whole policy. Like their parts they are the identity unless called with ``training=True``.
"""
from __future__ import annotations

import torch

from ... import checks
from ...errors import ConfigError
from . import augmentation as aug
from .augmentation import _ImageAugmentation
from .color import (RandomBrightness, RandomColorDegeneration, RandomContrast, RandomHue, RandomPosterization,
                    RandomSaturation, Solarization)
from .filters import RandomSharpness
from .geometric import RandomRotation, RandomShear, RandomTranslation
from .histogram import AutoContrast, Equalization

__all__ = ["RandomColorJitter", "RandAugment", "AugMix"]


class _Policy(_ImageAugmentation):
    """An augmentation made of named sub-layers sharing its random stream."""

    def _adopt(self, layers: dict) -> None:
        for name, layer in layers.items():
            layer._generator = self._generator  # one stream for the policy, as Keras draws from the parent's seed
            setattr(self, name, layer)
        self._ops = list(layers)

    def _run(self, images, steps) -> torch.Tensor:
        """Apply ``(op name, its transformation)`` steps in order."""
        for name, transformation in steps:
            images = getattr(self, name).transform_images(images, transformation)
        return images

    def _draw(self, name: str, images):
        return getattr(self, name).get_random_transformation(images)


class RandomColorJitter(_Policy):
    """RandomBrightness, RandomContrast, RandomSaturation and RandomHue in that order, each present when its
    factor is given (with the meaning it has in that layer) and all reading ``value_range``. The parts follow
    ``data_format`` (Keras 3.15 builds them channels-last whatever the jitter's format, so its channels-first
    contrast averages over the wrong axes).

    Example:
        >>> jitter = layers.RandomColorJitter(brightness_factor=0.2, hue_factor=0.1, seed=3)
        >>> jitter(torch.rand(2, 4, 4, 3) * 255, training=True).shape
        torch.Size([2, 4, 4, 3])
    """

    def __init__(self, value_range=(0, 255), brightness_factor=None, contrast_factor=None, saturation_factor=None,
                 hue_factor=None, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.value_range = aug.value_range(self, value_range)
        self.brightness_factor, self.contrast_factor = brightness_factor, contrast_factor
        self.saturation_factor, self.hue_factor = saturation_factor, hue_factor
        common = {"value_range": value_range, "data_format": data_format}
        parts = {"random_brightness": (RandomBrightness, brightness_factor),
                 "random_contrast": (RandomContrast, contrast_factor),
                 "random_saturation": (RandomSaturation, saturation_factor), "random_hue": (RandomHue, hue_factor)}
        self._adopt({name: cls(factor, **common) for name, (cls, factor) in parts.items() if factor is not None})

    def get_random_transformation(self, images):
        return {name: self._draw(name, images) for name in self._ops}

    def transform_images(self, images, transformation):
        return self._run(images, transformation.items())

    @property
    def _work(self):
        return sum(getattr(self, name)._work[0] for name in self._ops), \
            "jitters " + ", ".join(name.split("_")[1] for name in self._ops) + " in turn, each by a random amount"

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range, "brightness_factor": self.brightness_factor,
                "contrast_factor": self.contrast_factor, "saturation_factor": self.saturation_factor,
                "hue_factor": self.hue_factor}


_RAND_AUGMENT = ("random_shear", "random_translation", "random_rotation", "random_brightness",
                 "random_color_degeneration", "random_contrast", "random_sharpness", "random_posterization",
                 "solarization", "auto_contrast", "equalization")
_AUG_MIX = ("random_shear", "random_translation", "random_rotation", "random_posterization", "solarization",
            "auto_contrast", "equalization")
_AUG_MIX_ALL = _AUG_MIX + ("random_brightness", "random_color_degeneration", "random_contrast", "random_sharpness")


def _operations(names, factor, value_range, interpolation, data_format) -> dict:
    """The operations ``names`` at strength ``factor`` (a pair), built as Keras's RandAugment and AugMix build
    them (posterization keeps ``max(1, int(8·upper))`` bits at most)."""
    color = {"value_range": value_range, "data_format": data_format}
    geometric = {"interpolation": interpolation, "data_format": data_format}
    make = {"random_shear": lambda: RandomShear(factor, factor, **geometric),
            "random_translation": lambda: RandomTranslation(factor, factor, **geometric),
            "random_rotation": lambda: RandomRotation(factor, **geometric),
            "random_brightness": lambda: RandomBrightness(factor, **color),
            "random_color_degeneration": lambda: RandomColorDegeneration(factor, **color),
            "random_contrast": lambda: RandomContrast(factor, **color),
            "random_sharpness": lambda: RandomSharpness(factor, **color),
            "random_posterization": lambda: RandomPosterization(max(1, int(8 * factor[1])), **color),
            "solarization": lambda: Solarization(factor, factor, **color),
            "auto_contrast": lambda: AutoContrast(**color), "equalization": lambda: Equalization(**color)}
    return {name: make[name]() for name in names}


def _policy_arguments(layer, value_range, factor, interpolation) -> None:
    if layer.data_format == "channels_first":
        raise ConfigError(layer._error(
            "includes AutoContrast, which reads its ranges over height and width of channels_last images only",
            "data_format='channels_first'", "Move the channels last before this layer (layers.Permute)."))
    layer.value_range = aug.value_range(layer, value_range)
    layer.factor = aug.factor_range(layer, factor, (0.0, 1.0))
    layer.interpolation = checks.one_of(layer, "interpolation", interpolation, aug.INTERPOLATIONS)


class RandAugment(_Policy):
    """RandAugment (Cubuk et al., 2019) as Keras composes it: in each call ``num_ops`` operations are drawn
    (with replacement) from shear, translation, rotation, brightness, colour degeneration, contrast, sharpness,
    posterization, solarization, AutoContrast and Equalization, and applied in turn to the whole batch, each
    with random settings of strength ``factor`` (per image, drawn once per call). (Keras 3.15 on torch also adds
    the brightness operation's offset, unclipped, in every step whichever operation is drawn — its
    RandomBrightness adds in place while every operation is evaluated; glassnet applies the drawn ones only.)

    Example:
        >>> augment = layers.RandAugment(num_ops=2, factor=0.5, seed=1)
        >>> augment(torch.rand(2, 8, 8, 3) * 255, training=True).shape
        torch.Size([2, 8, 8, 3])
    """

    def __init__(self, value_range=(0, 255), num_ops=2, factor=0.5, interpolation="bilinear", seed=None,
                 data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        _policy_arguments(self, value_range, factor, interpolation)
        self.num_ops = checks.positive_int(self, "num_ops", num_ops, allow_zero=True)
        self._adopt(_operations(_RAND_AUGMENT, self.factor, self.value_range, self.interpolation, self.data_format))

    def get_random_transformation(self, images):
        chosen = self._randint((self.num_ops,), 0, len(self._ops))
        names = dict.fromkeys(self._ops[i] for i in chosen.tolist())
        return {"layer_idxes": chosen, "transforms": {name: self._draw(name, images) for name in names}}

    def transform_images(self, images, transformation):
        steps = [self._ops[i] for i in transformation["layer_idxes"].tolist()]
        return self._run(images, [(name, transformation["transforms"][name]) for name in steps])

    @property
    def _work(self):
        return None, f"applies {self.num_ops} operations drawn at random from {len(self._ops)} (their work varies)"

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range, "num_ops": self.num_ops,
                "factor": self.factor, "interpolation": self.interpolation}


class AugMix(_Policy):
    """AugMix (Hendrycks et al., 2020) as Keras composes it: ``num_chains`` chains of up to ``chain_depth``
    operations each (each step an operation drawn at random, or none) augment copies of the batch; the chains
    are mixed with Dirichlet(``alpha``) weights and the mix blended with the original images by a
    Beta(``alpha``, ``alpha``) weight, then clipped to ``value_range``. ``all_ops=False`` leaves out brightness,
    colour degeneration, contrast and sharpness. (Keras draws each step's operation from Python's global
    ``random``; glassnet draws it from the layer's stream, so ``seed`` repeats it.)"""

    def __init__(self, value_range=(0, 255), num_chains=3, chain_depth=3, factor=0.3, alpha=1.0, all_ops=True,
                 interpolation="bilinear", seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        _policy_arguments(self, value_range, factor, interpolation)
        self.num_chains = checks.positive_int(self, "num_chains", num_chains)
        self.chain_depth = checks.positive_int(self, "chain_depth", chain_depth)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
            raise ConfigError(self._error("needs a positive alpha", f"alpha={alpha!r}"))
        self.alpha = alpha
        self.all_ops = checks.boolean(self, "all_ops", all_ops)
        names = _AUG_MIX_ALL if self.all_ops else _AUG_MIX
        self._adopt(_operations(names, self.factor, self.value_range, self.interpolation, self.data_format))

    def _dirichlet(self, count: int) -> torch.Tensor:
        """Dirichlet(alpha, …, alpha) weights, on a fork of torch's global generator seeded from the layer's
        stream when it has one (torch's gamma sampler reads only the global generator)."""
        dirichlet = torch.distributions.Dirichlet(torch.full((count,), float(self.alpha)))
        if self._generator is None:
            return dirichlet.sample()
        seed = int(torch.randint(0, 2 ** 62, (), generator=self._generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return dirichlet.sample()

    def get_random_transformation(self, images):
        weights, weight_sample = self._dirichlet(self.num_chains), self._beta((), self.alpha)
        chains = []
        for _ in range(self.num_chains):
            picks = self._randint((self.chain_depth,), 0, len(self._ops) + 1).tolist()  # the last: no operation
            chains.append([{"layer_name": self._ops[i], "transformation": self._draw(self._ops[i], images)}
                           for i in picks if i < len(self._ops)])
        return {"chain_mixing_weights": weights, "weight_sample": weight_sample, "chain_transforms": chains}

    def transform_images(self, images, transformation):
        weights = transformation["chain_mixing_weights"].to(images)
        weight_sample = transformation["weight_sample"].to(images)
        mixed = torch.zeros_like(images)
        for weight, chain in zip(weights, transformation["chain_transforms"]):
            augmented = self._run(images, [(step["layer_name"], step["transformation"]) for step in chain])
            mixed = mixed + augmented * weight
        images = weight_sample * images + (1 - weight_sample) * mixed
        return torch.clip(images, self.value_range[0], self.value_range[1])

    @property
    def _work(self):
        return None, f"mixes {self.num_chains} chains of up to {self.chain_depth} random operations with the " \
                     "images (the work varies with the operations drawn)"

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range, "num_chains": self.num_chains,
                "chain_depth": self.chain_depth, "factor": self.factor, "alpha": self.alpha,
                "all_ops": self.all_ops, "interpolation": self.interpolation}
