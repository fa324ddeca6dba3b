"""Activation layers: ReLU, LeakyReLU, PReLU, ELU and Softmax (with Keras 3's masked softmax)."""
from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F

from .. import checks, initializers
from ..dims import BATCH, fmt_shape, is_fixed
from ..errors import ConfigError, GlassnetWarning, ShapeError
from ..formula import prod, sym
from .base import Layer
from .core import REGULARIZER_FIX
from .cost import Cost, per_sample

__all__ = ["ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax"]

_INF = float("inf")


class _ElementWise(Layer):
    """An activation applied to each element on its own: shape kept, mask carried, nothing learnt."""

    supports_masking = True
    flops_per_element = 1

    def cost(self, input_shape, output_shape):
        return Cost(other_flops=per_sample(output_shape) * self.flops_per_element,
                    reads=f"applies {self._formula()} to every element", saved=("input",))


class ReLU(_ElementWise):
    """Rectified linear unit with Keras's three knobs.

    ``f(x) = min(x, max_value)`` for ``x >= threshold``; ``negative_slope·(x - threshold)`` below it.

    Args:
        max_value: upper bound of the output (``None``: unbounded); >= 0.
        negative_slope: slope below the threshold; >= 0.
        threshold: the value below which the slope applies; >= 0.

    Example:
        >>> layers.ReLU(max_value=6.0)(torch.tensor([-1.0, 3.0, 9.0]))
        tensor([0., 3., 6.])
    """

    flops_per_element = 2

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = None if max_value is None else checks.number_in(self, "max_value", max_value, 0, _INF)
        self.negative_slope = checks.number_in(self, "negative_slope", negative_slope, 0, _INF)
        self.threshold = checks.number_in(self, "threshold", threshold, 0, _INF)

    def call(self, inputs):
        # Keras 3's ReLU.static_call, term by term
        slope, top, thr = self.negative_slope, self.max_value, self.threshold
        if slope != 0 and top is None and thr == 0:
            return F.leaky_relu(inputs, slope)
        negative = F.relu(thr - inputs) if slope != 0 else None
        if thr != 0:
            x = torch.where(inputs > thr, inputs, torch.zeros_like(inputs))
        elif top == 6:
            x, top = F.relu6(inputs), None
        else:
            x = F.relu(inputs)
        if top is not None:
            x = torch.clamp(x, 0.0, top)
        return x - slope * negative if negative is not None else x

    def _formula(self):
        parts = [f"max_value={self.max_value:g}"] if self.max_value is not None else []
        parts += [f"negative_slope={self.negative_slope:g}"] if self.negative_slope else []
        parts += [f"threshold={self.threshold:g}"] if self.threshold else []
        return "relu" + (f" ({', '.join(parts)})" if parts else "")

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


class LeakyReLU(_ElementWise):
    """``x`` for ``x >= 0``, ``negative_slope·x`` otherwise (Keras 3 default slope 0.3).

    The Keras 2 name ``alpha`` is accepted with a deprecation warning, as Keras 3 does.
    """

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
            warnings.warn("Argument `alpha` is deprecated. Use `negative_slope` instead.", GlassnetWarning,
                          stacklevel=2)
        super().__init__(**kwargs)
        self.negative_slope = checks.number_in(self, "negative_slope", negative_slope, 0, _INF)

    def call(self, inputs):
        return F.leaky_relu(inputs, self.negative_slope)

    def _formula(self):
        return f"leaky relu (slope {self.negative_slope:g} below 0)"

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(_ElementWise):
    """``x`` for ``x > 0``, ``alpha·(exp(x) - 1)`` otherwise.

    Keras 3 leaves ``alpha`` out of its config (a reloaded Keras ELU has ``alpha=1``); glassnet writes it,
    and Keras reads it back.
    """

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
            raise ConfigError(self._error("needs a number alpha", f"alpha={alpha!r}"))
        self.alpha = float(alpha)

    def call(self, inputs):
        return F.elu(inputs, self.alpha)

    def _formula(self):
        return f"elu (alpha {self.alpha:g})"

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class PReLU(Layer):
    """Leaky ReLU with a learnt slope per element: ``relu(x) - alpha·relu(-x)``.

    Args:
        alpha_initializer: initialiser of the slopes (Keras default ``"Zeros"``: starts as a ReLU).
        shared_axes: axes (counted from 1, batch excluded) along which one slope is shared, e.g.
            ``[1, 2]`` for one slope per channel of an image.

    Weights:
        ``alpha``: the input's per-sample shape with each shared axis set to 1; every other axis must be fixed.

    Example:
        >>> layer = layers.PReLU(shared_axes=[1, 2])
        >>> layer(gn.Input((28, 28, 16))).shape, tuple(layer.alpha.shape)
        ((None, 28, 28, 16), (1, 1, 16))
    """

    supports_masking = True

    def __init__(self, alpha_initializer="Zeros", alpha_regularizer=None, alpha_constraint=None, shared_axes=None,
                 **kwargs):
        super().__init__(**kwargs)
        checks.unsupported(self, REGULARIZER_FIX, alpha_regularizer=alpha_regularizer,
                           alpha_constraint=alpha_constraint)
        self.alpha_initializer = initializers.get(alpha_initializer)
        if shared_axes is None:
            self.shared_axes = None
        else:
            axes = list(shared_axes) if isinstance(shared_axes, (list, tuple)) else [shared_axes]
            if any(isinstance(a, bool) or not isinstance(a, int) or a < 1 for a in axes):
                raise ConfigError(self._error("counts shared_axes from 1 (the batch axis cannot be shared)",
                                              f"shared_axes={shared_axes!r}"))
            self.shared_axes = axes

    def _param_shape(self, input_shape):
        shared = set(self.shared_axes or ())
        return tuple(1 if i in shared else d for i, d in enumerate(input_shape[1:], start=1))

    def compute_output_shape(self, input_shape):
        self._require_rank(input_shape, 2, "(batch, ...)", min_rank=True)
        if self.shared_axes and max(self.shared_axes) >= len(input_shape):
            raise ShapeError(self._error(f"shares its slope along axes {self.shared_axes}, which the input lacks",
                                         f"input shape {fmt_shape(input_shape)}"))
        for axis in range(1, len(input_shape)):
            if axis in (self.shared_axes or ()):
                continue
            if self.built:
                self._check_built_dim(input_shape, axis, self.alpha.shape[axis - 1], "elements")
            else:
                self._require_fixed(input_shape, axis, f"size on axis {axis} (one slope per element)")
        return input_shape

    def build(self, input_shape):
        self.add_weight(name="alpha", shape=self._param_shape(input_shape), initializer=self.alpha_initializer)

    def call(self, inputs):
        return F.relu(inputs) - self.alpha * F.relu(-inputs)

    def cost(self, input_shape, output_shape):
        shape = self._param_shape(input_shape)
        symbols = [(sym(f"d{i}"), d) for i, d in enumerate(shape, start=1) if i not in (self.shared_axes or ())]
        return Cost(params=prod(*(s for s, _ in symbols)), values=dict(symbols),
                    other_flops=per_sample(output_shape) * 4,
                    reads=f"applies a leaky relu with a learnt slope to every element ({math.prod(shape)} slopes"
                          + (f", shared along axes {self.shared_axes})" if self.shared_axes else ")"),
                    needs_fixed=tuple(f"axis {i}" for i, _ in enumerate(shape, start=1)
                                      if i not in (self.shared_axes or ())),
                    saved=("input",))

    def get_config(self):
        return {**super().get_config(), "alpha_initializer": initializers.serialize(self.alpha_initializer),
                "alpha_regularizer": None, "alpha_constraint": None, "shared_axes": self.shared_axes}


def _large_negative(dtype: torch.dtype) -> float:
    """What Keras adds for a masked logit: -1e9, or -3e4 where float16 cannot hold it."""
    return -3e4 if dtype == torch.float16 else -1e9


class Softmax(Layer):
    """Softmax over ``axis`` (an int or a list of ints), with Keras 3's masked softmax.

    With a mask (True = keep; broadcastable to the input, aligned at the last axis) masked logits are
    replaced by -1e9 before the softmax and masked outputs set to 0 after it, so a fully masked row
    gives zeros, not a uniform distribution. The mask passes through.

    Example:
        >>> x = torch.tensor([[1.0, 2.0, 3.0]])
        >>> layers.Softmax()(x, mask=torch.tensor([[True, True, False]]))
        tensor([[0.2689, 0.7311, 0.0000]])
    """

    supports_masking = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        if not axes or any(isinstance(a, bool) or not isinstance(a, int) for a in axes):
            raise ConfigError(self._error("takes an int axis or a list of int axes", f"axis={axis!r}"))
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else axis

    def _axes(self, rank: int) -> list[int]:
        return [a % rank for a in (self.axis if isinstance(self.axis, list) else [self.axis])]

    def compute_output_shape(self, input_shape):
        if any(not -len(input_shape) <= a < len(input_shape) for a in
               (self.axis if isinstance(self.axis, list) else [self.axis])):
            raise ShapeError(self._error(f"normalises over axis {self.axis}, which the input does not have",
                                         f"input shape {fmt_shape(input_shape)}"))
        return input_shape

    def compute_mask_shape(self, input_shape, mask_shape):
        if mask_shape is not None:
            self._check_mask(input_shape, mask_shape)
        return mask_shape

    def _check_mask(self, input_shape, mask_shape) -> None:
        # a graph mask starts with the batch axis: fewer axes than the input would align it with another axis
        batch_misplaced = len(mask_shape) < len(input_shape) and bool(mask_shape) and mask_shape[0] == BATCH
        ok = not batch_misplaced and len(mask_shape) <= len(input_shape) and all(
            not (is_fixed(m) and is_fixed(i)) or m in (1, i) for m, i in zip(mask_shape[::-1], input_shape[::-1]))
        if not ok:
            raise ShapeError(self._error(
                "needs a mask broadcastable to its input (aligned at the last axis, each mask axis 1 or equal to "
                "the input's, no more axes than the input)",
                f"input shape {fmt_shape(input_shape)}, mask shape {fmt_shape(mask_shape)}",
                "Pass a mask of the logits' shape, e.g. Softmax()(scores, mask=mask[:, None, :])."))

    def call(self, inputs, mask=None):
        if mask is not None:
            self._check_mask(tuple(inputs.shape), tuple(mask.shape))
            mask = mask if mask.dtype == torch.bool else mask > 0.5
            inputs = torch.where(mask, inputs, torch.tensor(_large_negative(inputs.dtype), dtype=inputs.dtype,
                                                            device=inputs.device))
        axes = self._axes(inputs.ndim)
        if len(axes) == 1:
            out = torch.softmax(inputs, dim=axes[0])
        else:
            out = torch.exp(inputs - torch.logsumexp(inputs, dim=axes, keepdim=True))
        if mask is not None:
            out = torch.where(mask, out, torch.zeros_like(out))
        return out

    def cost(self, input_shape, output_shape):
        axes = self._axes(len(input_shape))
        along_features = axes == [len(input_shape) - 1] or len(input_shape) == 2
        return Cost(other_flops=per_sample(output_shape) * 3, rf=("pointwise",) if along_features else ("global",),
                    reads=f"exponentiates every element and divides by the sum over axis {self.axis}",
                    saved=("output",))

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
