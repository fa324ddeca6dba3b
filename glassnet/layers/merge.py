"""Merging layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate and Dot."""
from __future__ import annotations

import functools

import torch

from .. import checks
from ..dims import fmt_dim, fmt_shape, is_fixed, product
from ..errors import ConfigError, ShapeError
from .base import Layer
from .cost import Cost, per_sample

__all__ = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot"]


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


def _unit_along(x: torch.Tensor, axis: int) -> torch.Tensor:
    """``x`` over its L2 norm along ``axis`` with Keras's floor (``x · min(rsqrt(Σx²), 1e7)``)."""
    return x * torch.clamp(torch.rsqrt(torch.sum(x * x, dim=axis, keepdim=True)), max=1e7)


class Dot(_Merge):
    """Dot product of two tensors along one axis each, per sample (Keras's ``batch_dot``).

    Args:
        axes: an int (the same axis of both inputs; negative counts from each input's end) or a pair.
        normalize: L2-normalise both inputs along their axis first, so the result is the cosine similarity.

    The output has the first input's axes without its contracted one, then the second's without the
    batch and its contracted axis: ``(B, T, F)·(B, S, F)`` with ``axes=2`` gives ``(B, T, S)``; two
    vectors give ``(B, 1)``. As in Keras 3, a mask is accepted and the output has none.

    Example:
        >>> layers.Dot(axes=2)([gn.Input((4, 8)), gn.Input((6, 8))]).shape
        (None, 4, 6)
    """

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        pair = isinstance(axes, (list, tuple)) and len(axes) == 2 and all(
            isinstance(a, int) and not isinstance(a, bool) for a in axes)
        if not pair and (isinstance(axes, bool) or not isinstance(axes, int)):
            raise ConfigError(self._error("takes axes as an int or a list of two ints", f"axes={axes!r}"))
        self.axes = list(axes) if pair else axes
        self.normalize = checks.boolean(self, "normalize", normalize)

    def _pair(self, rank1: int, rank2: int) -> tuple[int, int]:
        if isinstance(self.axes, int):
            return (self.axes % rank1, self.axes % rank2) if self.axes < 0 else (self.axes, self.axes)
        return tuple(a % r if a < 0 else a for a, r in zip(self.axes, (rank1, rank2)))

    def compute_output_shape(self, input_shape):
        if not isinstance(input_shape, list) or len(input_shape) != 2:
            n = len(input_shape) if isinstance(input_shape, list) else 1
            raise ShapeError(self._error("should be called on a list of 2 inputs", f"{n} input(s)",
                                         "Call it as Dot(axes)([a, b])."))
        shape1, shape2 = input_shape
        a1, a2 = self._pair(len(shape1), len(shape2))
        shapes = "input shapes " + ", ".join(fmt_shape(s) for s in input_shape)
        if len(shape1) < 2 or len(shape2) < 2 or not (0 < a1 < len(shape1) and 0 < a2 < len(shape2)):
            raise ShapeError(self._error(f"contracts axes {self.axes}, which must be non-batch axes of both inputs",
                                         shapes + f", axes={self.axes}"))
        d1, d2 = shape1[a1], shape2[a2]
        if is_fixed(d1) and is_fixed(d2) and d1 != d2:
            raise ShapeError(self._error(
                f"needs the contracted axes to have one size, but axis {a1} of the first input has {d1} and axis "
                f"{a2} of the second has {d2}", shapes + f", axes={self.axes}"))
        out = [d for i, d in enumerate(shape1) if i != a1] + [d for i, d in enumerate(shape2) if i not in (0, a2)]
        return tuple(out) if len(out) > 1 else (out[0], 1)

    @property
    def mask_rule(self):
        return "consume"

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_mask_shape(self, input_shape, mask_shape):
        return None

    def call(self, inputs, mask=None):
        x, y = inputs
        a1, a2 = self._pair(x.ndim, y.ndim)
        if self.normalize:
            x, y = _unit_along(x, a1), _unit_along(y, a2)
        x = x.movedim(a1, -1)  # (B, *rest1, n)
        y = y.movedim(a2, 1)  # (B, n, *rest2)
        rest1, rest2 = x.shape[1:-1], y.shape[2:]
        out = torch.bmm(x.reshape(x.shape[0], -1, x.shape[-1]), y.reshape(y.shape[0], y.shape[1], -1))
        out = out.reshape(x.shape[0], *rest1, *rest2)
        return out if out.ndim > 1 else out.unsqueeze(-1)

    def cost(self, input_shape, output_shape):
        shape1, shape2 = input_shape
        a1, a2 = self._pair(len(shape1), len(shape2))
        n = shape1[a1] if is_fixed(shape1[a1]) else shape2[a2]
        vectors = len(shape1) == 2 and len(shape2) == 2
        return Cost(macs=product([*output_shape[1:], n]),
                    other_flops=(product(shape1[1:]) + product(shape2[1:])) * 3 if self.normalize else 0,
                    reads=f"multiplies the two inputs along their axes {[a1, a2]} and sums ({fmt_dim(n)} terms per "
                          "output)" + (", as cosine similarities" if self.normalize else ""),
                    rf=("pointwise",) if vectors else ("global",), saved=("input",))

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}
