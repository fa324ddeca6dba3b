"""Random tensors with Keras's names (``keras.random``): ``normal``, ``uniform``, ``randint``, ``truncated_normal``,
``dropout``, ``shuffle``, ``categorical``, and ``SeedGenerator`` for repeatable streams.

``seed`` may be None (torch's global generator), an int, or a ``SeedGenerator`` (a torch generator that
advances at each draw, as Keras's does).
"""
from __future__ import annotations

import torch

__all__ = ["SeedGenerator", "normal", "uniform", "randint", "truncated_normal", "dropout", "shuffle", "categorical"]


class SeedGenerator:
    """A stream of random draws that repeats for the same ``seed``."""

    def __init__(self, seed: int | None = None, **kwargs):
        self.seed = seed
        self.generator = torch.Generator()
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(int(seed))


def _generator(seed):
    if seed is None:
        return None
    if isinstance(seed, SeedGenerator):
        return seed.generator
    g = torch.Generator()
    g.manual_seed(int(seed))
    return g


def _dtype(dtype):
    return getattr(torch, dtype) if isinstance(dtype, str) else (dtype or torch.float32)


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    return torch.randn(tuple(shape), generator=_generator(seed), dtype=_dtype(dtype)) * stddev + mean


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    return torch.rand(tuple(shape), generator=_generator(seed), dtype=_dtype(dtype)) * (maxval - minval) + minval


def randint(shape, minval, maxval, dtype="int32", seed=None):
    return torch.randint(int(minval), int(maxval), tuple(shape), generator=_generator(seed), dtype=_dtype(dtype))


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal draws more than two standard deviations from the mean are drawn again."""
    out = torch.empty(tuple(shape), dtype=_dtype(dtype))
    torch.nn.init.trunc_normal_(out, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=_generator(seed))
    return out * stddev + mean


def dropout(inputs, rate, noise_shape=None, seed=None):
    keep = torch.rand(tuple(noise_shape or inputs.shape), generator=_generator(seed)).to(inputs.device) >= rate
    return torch.where(keep, inputs / (1 - rate), torch.zeros_like(inputs))


def shuffle(x, axis=0, seed=None):
    order = torch.randperm(x.shape[axis], generator=_generator(seed)).to(x.device)
    return torch.index_select(x, axis, order)


def categorical(logits, num_samples, dtype="int32", seed=None):
    probs = torch.softmax(torch.as_tensor(logits).float().cpu(), dim=-1)
    return torch.multinomial(probs, num_samples, replacement=True, generator=_generator(seed)).to(_dtype(dtype))
