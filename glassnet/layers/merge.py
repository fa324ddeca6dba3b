"""Merging layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate."""
from __future__ import annotations

import functools

import torch

from ..dims import fmt_shape, is_fixed
from ..errors import ConfigError, ShapeError
from .base import Layer
from .cost import Cost, per_sample

__all__ = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"]


class _Merge(Layer):
    """Element-wise merge of a list of same-shaped tensors (size-1 axes broadcast).

    Masks: the output mask is the OR of the input masks, and ``None`` if any input has none.
    """

    supports_masking = True
    min_inputs = 2

    def _check_list(self, input_shape):
        if not isinstance(input_shape, list) or len(input_shape) < self.min_inputs:
            n = len(input_shape) if isinstance(input_shape, list) else 1
            raise ShapeError(self._error(
                f"should be called on a list of at least {self.min_inputs} inputs", f"{n} input(s)",
                f"Call it as {type(self).__name__}()([a, b])."))

    def compute_output_shape(self, input_shape):
        self._check_list(input_shape)
        ranks = {len(s) for s in input_shape}
        if len(ranks) != 1:
            raise ShapeError(self._error("needs inputs of one rank",
                                         "input shapes " + ", ".join(fmt_shape(s) for s in input_shape)))
        out = []
        for dims in zip(*input_shape):
            fixed = {d for d in dims if is_fixed(d) and d != 1}
            if len(fixed) > 1:
                raise ShapeError(self._error(
                    "needs inputs of the same shape (or 1 where they differ)",
                    "input shapes " + ", ".join(fmt_shape(s) for s in input_shape)))
            non_one = [d for d in dims if d != 1]
            fixed_first = [d for d in non_one if is_fixed(d)]
            out.append(fixed_first[0] if fixed_first else (non_one[0] if non_one else 1))
        return tuple(out)

    def compute_mask(self, inputs, mask=None):
        if mask is None or any(m is None for m in mask):
            return None
        return functools.reduce(torch.logical_or, mask)

    def compute_mask_shape(self, input_shape, mask_shape):
        if mask_shape is None or any(m is None for m in mask_shape):
            return None
        return mask_shape[0]

    def call(self, inputs):
        return self._merge(list(inputs))

    def cost(self, input_shape, output_shape):
        k = len(input_shape)
        return Cost(other_flops=per_sample(output_shape) * (k - 1 if not isinstance(self, Concatenate) else 0),
                    reads=f"combines {k} inputs element by element" if not isinstance(self, Concatenate)
                    else f"joins {k} inputs along axis {self.axis}")


class Add(_Merge):
    """Sum of the inputs."""

    def _merge(self, xs):
        return functools.reduce(torch.add, xs)


class Subtract(_Merge):
    """``inputs[0] - inputs[1]`` (exactly two inputs)."""

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, list) and len(input_shape) != 2:
            raise ShapeError(self._error("should be called on exactly 2 inputs", f"{len(input_shape)} inputs"))
        return super().compute_output_shape(input_shape)

    def _merge(self, xs):
        return xs[0] - xs[1]


def _expand(mask, x):
    return mask.unsqueeze(-1).expand_as(x) if mask.ndim == x.ndim - 1 else mask.expand_as(x)


class Multiply(_Merge):
    """Element-wise product of the inputs.

    With masks (as Keras 3): a masked position counts as 1; where every input is masked (and every input
    has a mask) the output is 0.
    """

    def call(self, inputs, mask=None):
        xs = list(inputs)
        masks = list(mask) if mask is not None else [None] * len(xs)
        if all(m is None for m in masks):
            return functools.reduce(torch.mul, xs)
        out, any_real = None, None
        for x, m in zip(xs, masks):
            if m is not None:
                m = _expand(m, x)
                x = torch.where(m, x, torch.ones_like(x))
                any_real = m if any_real is None else any_real | m
            out = x if out is None else out * x
        if all(m is not None for m in masks):
            out = torch.where(any_real, out, torch.zeros_like(out))
        return out


class Average(_Merge):
    """Element-wise mean of the inputs."""

    def _merge(self, xs):
        return functools.reduce(torch.add, xs) / len(xs)


def _masked_fold(op, xs, masks):
    """Keras 3's fold for Maximum/Minimum with masks: a masked position takes the other side's value."""
    out, out_mask = None, None
    for x, m in zip(xs, masks):
        m = None if m is None else _expand(m, x)
        if out is None:
            out, out_mask = x, m
            continue
        if m is not None:
            x = torch.where(m, x, out)
        if out_mask is not None:
            out = torch.where(out_mask, out, x)
        out_mask = out_mask | m if (m is not None and out_mask is not None) else None
        out = op(out, x)
    return out


class Maximum(_Merge):
    """Element-wise maximum; with masks a masked position takes the other inputs' value (Keras 3)."""

    def call(self, inputs, mask=None):
        xs = list(inputs)
        if mask is None or all(m is None for m in mask):
            return functools.reduce(torch.maximum, xs)
        return _masked_fold(torch.maximum, xs, list(mask))


class Minimum(_Merge):
    """Element-wise minimum; with masks a masked position takes the other inputs' value (Keras 3)."""

    def call(self, inputs, mask=None):
        xs = list(inputs)
        if mask is None or all(m is None for m in mask):
            return functools.reduce(torch.minimum, xs)
        return _masked_fold(torch.minimum, xs, list(mask))


class Concatenate(_Merge):
    """Concatenates a list of tensors along ``axis`` (default the last); other axes must agree."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ConfigError(self._error("takes an int axis", f"axis={axis!r}"))
        self.axis = axis

    def compute_output_shape(self, input_shape):
        self._check_list(input_shape)
        rank = len(input_shape[0])
        if any(len(s) != rank for s in input_shape) or not -rank <= self.axis < rank or self.axis % rank == 0:
            raise ShapeError(self._error(
                f"needs inputs of one rank with an axis {self.axis} other than the batch axis",
                "input shapes " + ", ".join(fmt_shape(s) for s in input_shape)))
        axis = self.axis % rank
        out = list(input_shape[0])
        for i in range(1, rank):
            if i == axis:
                continue
            fixed = {s[i] for s in input_shape if is_fixed(s[i])}
            if len(fixed) > 1:
                raise ShapeError(self._error(
                    f"needs matching shapes except on the concatenation axis {self.axis}",
                    "input shapes " + ", ".join(fmt_shape(s) for s in input_shape)))
            if fixed:
                out[i] = fixed.pop()
        total = 0
        for s in input_shape:
            total = total + s[axis]
        out[axis] = total
        return tuple(out)

    def compute_mask(self, inputs, mask=None):
        if mask is None or all(m is None for m in mask):
            return None
        full = []
        for x, m in zip(inputs, mask):
            if m is None:
                m = torch.ones(x.shape, dtype=torch.bool, device=x.device)
            elif m.ndim < x.ndim:
                m = m.unsqueeze(-1).expand(x.shape)
            full.append(m)
        return torch.cat(full, dim=self.axis).any(dim=-1)

    def compute_mask_shape(self, input_shape, mask_shape):
        if mask_shape is None or all(m is None for m in mask_shape):
            return None
        return self.compute_output_shape(input_shape)[:-1]

    def _merge(self, xs):
        return torch.cat(xs, dim=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
