"""Value preprocessing inside a model: Rescaling (``x·scale + offset``) and Normalization (``(x - mean) / std``
per feature, from statistics that are given or learnt by ``adapt``).

Both are element-wise: no multiply-adds, two element-wise operations per element. As in Keras 3 both carry
an incoming mask unchanged and output floats (an integer image becomes float32).
"""
from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import torch

from ... import checks, dtypes
from ...dims import fmt_shape, is_fixed
from ...errors import ConfigError, ShapeError
from ...formula import plus, prod, sym
from ..base import Layer
from ..cost import Cost, per_sample

__all__ = ["Rescaling", "Normalization"]

EPSILON = 1e-7  # keras.backend.epsilon(): the smallest standard deviation Normalization divides by


def constant_value(owner, name: str, value) -> Any:
    """A number or an array of numbers as Keras writes it in a config: a float, a nested list, or
    ``{"class_name": "__numpy__", "config": {"value": ..., "dtype": ...}}`` for a numpy array."""
    if isinstance(value, dict) and value.get("class_name") == "__numpy__":
        value = (value.get("config") or {}).get("value")
    if isinstance(value, (np.ndarray, torch.Tensor)):
        value = np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value).tolist()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        array = None
    if value is None or isinstance(value, bool) or array is None or not np.all(np.isfinite(array)):
        raise ConfigError(f"{checks.owner_text(owner)}: the `{name}` argument must be a finite number or an array "
                          f"of finite numbers. Received: {name}={value!r}")
    return value


def _as_float(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Integers become the layer's float type (Keras casts inputs to the compute dtype); floats stay."""
    return x if x.is_floating_point() else x.to(dtype)


def _broadcasts(shape, array_shape) -> bool:
    """Whether an array of ``array_shape`` broadcasts against ``shape`` (sizes that are not known pass)."""
    if len(array_shape) > len(shape):
        return False
    return all(a == 1 or not is_fixed(d) or d == a for a, d in zip(reversed(array_shape), reversed(shape)))


class Rescaling(Layer):
    """Multiplies every value by ``scale`` and adds ``offset``: ``x·scale + offset``.

    ``Rescaling(1 / 255)`` maps ``[0, 255]`` to ``[0, 1]``; ``Rescaling(1 / 127.5, offset=-1)`` to ``[-1, 1]``.
    ``scale`` and ``offset`` may be arrays that broadcast against the input's trailing axes (one value per
    channel: ``Rescaling([1 / 0.229, 1 / 0.224, 1 / 0.225])``). Integer inputs give float outputs.

    Args:
        scale: a number or an array of numbers.
        offset: a number or an array of numbers (default 0).

    Input shape:
        any; output shape = input shape.

    Example:
        >>> layers.Rescaling(1 / 255)(gn.Input((32, 32, 3), dtype="uint8")).dtype
        'float32'
    """

    supports_masking = True

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = constant_value(self, "scale", scale)
        self.offset = constant_value(self, "offset", offset)

    def compute_output_shape(self, input_shape):
        for name, value in (("scale", self.scale), ("offset", self.offset)):
            if not _broadcasts(input_shape, np.shape(value)):
                raise ShapeError(self._error(
                    f"has a {name} of shape {np.shape(value)}, which does not broadcast against its input",
                    f"input shape {fmt_shape(input_shape)}, {name} shape {np.shape(value)}",
                    f"Give one {name} value per element of the last axes, or a single number."))
        return input_shape

    def compute_output_dtype(self, inputs):
        return dtypes.name_of(self.dtype)

    def call(self, inputs):
        x = _as_float(inputs, self.dtype)
        scale = torch.as_tensor(self.scale, dtype=x.dtype, device=x.device)
        offset = torch.as_tensor(self.offset, dtype=x.dtype, device=x.device)
        return x * scale + offset

    def cost(self, input_shape, output_shape):
        return Cost(other_flops=per_sample(output_shape) * 2,
                    reads=f"multiplies every element by {_short(self.scale)} and adds {_short(self.offset)}")

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


def _short(value) -> str:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        return f"{float(array):.6g}"
    return f"a {'×'.join(map(str, array.shape))} array"


def _axes(owner, axis) -> tuple[int, ...]:
    """Keras's ``axis``: None (one mean for everything) → (), an int → (axis,), a sequence → tuple."""
    if axis is None:
        return ()
    values = (axis,) if isinstance(axis, int) and not isinstance(axis, bool) else axis
    if not isinstance(values, (list, tuple)) or any(isinstance(a, bool) or not isinstance(a, int) for a in values):
        raise ConfigError(f"{checks.owner_text(owner)}: the `axis` argument must be None, an int or a tuple of ints. "
                          f"Received: axis={axis!r}")
    return tuple(values)


def _batch_of(item):
    """Keras's adapt takes the inputs of ``(x, y)`` batches; a DataLoader gives such pairs as lists."""
    if isinstance(item, (tuple, list)) and item and hasattr(item[0], "shape"):
        return item[0]
    return item


def _float64(batch) -> np.ndarray:
    if isinstance(batch, torch.Tensor):
        return batch.detach().to("cpu", torch.float64).numpy()
    return np.asarray(batch, dtype=np.float64)


class Normalization(Layer):
    """Shifts and scales each feature to mean 0 and variance 1: ``(x - mean) / max(sqrt(variance), 1e-7)``.

    The statistics are given (``mean`` and ``variance``, broadcast against the kept axes from the right) or
    learnt from data with :meth:`adapt`, which stores them in the layer's non-trainable weights ``mean``,
    ``variance`` (one value per index of the kept axes) and ``count`` (an int32 scalar Keras keeps for old
    files; adapt leaves it 0), in the order and layout of Keras's files. ``invert=True`` maps normalised
    values back: ``mean + x·max(sqrt(variance), 1e-7)``.

    Args:
        axis: the axis or axes that keep a separate mean and variance per index (default -1, the features);
            None for a single mean and variance over everything.
        mean, variance: the statistics, given together, or both None to adapt.
        invert: apply the inverse transformation.

    Weights (adapted form only):
        ``mean``, ``variance`` of the kept axes' shape, ``count ()``: params ``2·c + 1``.

    Example:
        >>> import torch
        >>> norm = layers.Normalization()
        >>> norm.adapt(torch.tensor([[0., 7.], [2., 9.]]))
        >>> norm(torch.tensor([[0., 7.]])).tolist()
        [[-1.0, -1.0]]
    """

    supports_masking = True

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        self.axis = _axes(self, axis)
        if (mean is None) != (variance is None):
            raise ConfigError(self._error("needs mean and variance together, or neither (then call adapt)",
                                          f"mean={mean!r}, variance={variance!r}"))
        if mean is not None:
            mean, variance = constant_value(self, "mean", mean), constant_value(self, "variance", variance)
            if np.shape(mean) != np.shape(variance):
                raise ConfigError(self._error(
                    "needs mean and variance of the same shape",
                    f"mean shape {np.shape(mean)}, variance shape {np.shape(variance)}"))
            if np.ndim(mean) > len(self.axis):
                raise ConfigError(self._error(
                    f"keeps {len(self.axis)} axes, so mean can have at most {len(self.axis)} dimensions",
                    f"mean shape {np.shape(mean)}, axis={self.axis}"))
        self.input_mean, self.input_variance = mean, variance
        self.invert = checks.boolean(self, "invert", invert)
        self._keep: tuple[int, ...] = ()
        self._reduce: tuple[int, ...] = ()
        self._broadcast_shape: list[int] = []
        self._constants: tuple[np.ndarray, np.ndarray] | None = None

    # ------------------------------------------------------------------ shapes and weights
    def _kept_axes(self, input_shape) -> tuple[int, ...]:
        ndim = len(input_shape)
        if any(not -ndim <= a < ndim for a in self.axis):
            raise ShapeError(self._error(
                f"keeps axes {self.axis}, which an input of rank {ndim} does not have",
                f"input shape {fmt_shape(input_shape)}", "Pass axis values in the range [-rank, rank)."))
        keep = tuple(sorted(a % ndim for a in self.axis))
        for d in keep:
            self._require_fixed(input_shape, d, f"size on axis {d} (it keeps one mean per index there)")
        return keep

    def compute_output_shape(self, input_shape):
        keep = self._kept_axes(input_shape)
        if self.built:
            for d in keep:
                self._check_built_dim(input_shape, d, self._broadcast_shape[d], f"indices on axis {d}")
        return input_shape

    def compute_output_dtype(self, inputs):
        return dtypes.name_of(self.dtype)

    def build(self, input_shape):
        ndim = len(input_shape)
        self._keep = self._kept_axes(input_shape)
        self._reduce = tuple(d for d in range(ndim) if d not in self._keep)
        self._broadcast_shape = [int(input_shape[d]) if d in self._keep else 1 for d in range(ndim)]
        kept_shape = tuple(self._broadcast_shape[d] for d in self._keep)
        if self.input_mean is None:
            self.add_weight(name="mean", shape=kept_shape, initializer="zeros", trainable=False)
            self.add_weight(name="variance", shape=kept_shape, initializer="ones", trainable=False)
            self.add_weight(name="count", shape=(), dtype="int32", initializer="zeros", trainable=False)
            return
        self._constants = (self._broadcast_given(self.input_mean), self._broadcast_given(self.input_variance))

    def _broadcast_given(self, value) -> np.ndarray:
        """A given statistic aligned with the kept axes from the right, then broadcast (Keras's rule)."""
        array = np.asarray(value, dtype=np.float32)  # Keras converts the values to float32 tensors
        expanded = [1] * len(self._broadcast_shape)
        for i in range(1, array.ndim + 1):
            expanded[self._keep[-i]] = array.shape[-i]
        try:
            return np.broadcast_to(array.reshape(expanded), self._broadcast_shape).copy()
        except ValueError as exc:
            raise ShapeError(self._error(
                "has a mean and variance that do not broadcast against the kept axes",
                f"mean shape {array.shape}, kept sizes {[self._broadcast_shape[d] for d in self._keep]}")) from exc

    # ------------------------------------------------------------------ the math
    def _statistics(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self._constants is not None:
            return tuple(torch.as_tensor(c, dtype=like.dtype, device=like.device) for c in self._constants)
        return (self.mean.reshape(self._broadcast_shape).to(like.dtype),
                self.variance.reshape(self._broadcast_shape).to(like.dtype))

    def call(self, inputs):
        x = _as_float(inputs, self.dtype)
        mean, variance = self._statistics(x)
        std = torch.sqrt(variance).clamp(min=EPSILON)
        return mean + x * std if self.invert else (x - mean) / std

    def adapt(self, data) -> None:
        """Learn the mean and variance of ``data`` on the kept axes.

        ``data`` is an array or tensor (all of it at once), or an iterable of batches — a list of arrays, a
        generator, a ``torch.utils.data.DataLoader`` (of ``x`` or of ``(x, y)`` batches) — combined batch by
        batch with Keras's streaming formula, in float64, so the data never has to fit in memory at once.
        """
        if isinstance(data, (np.ndarray, torch.Tensor)):
            batches, shape = None, tuple(data.shape)
        elif hasattr(data, "__iter__") and not isinstance(data, (str, bytes, dict)):
            iterator = iter(data)
            first = next(iterator, None)
            if first is None:
                raise ValueError(self._error("cannot adapt to an empty iterable (no batches)",
                                             f"data={type(data).__name__}", "Pass at least one batch."))
            first = _batch_of(first)
            if not hasattr(first, "shape"):
                raise TypeError(self._error("adapts to batches that are arrays or tensors",
                                            f"a batch of type {type(first).__name__}",
                                            "Yield numpy arrays or torch tensors."))
            batches, shape = itertools.chain([first], (_batch_of(b) for b in iterator)), tuple(first.shape)
        else:
            raise TypeError(self._error("adapts to an array, a tensor or an iterable of batches",
                                        f"data of type {type(data).__name__}"))
        if self.input_mean is not None:
            raise ValueError(self._error("was given its mean and variance, so there is nothing to adapt",
                                         f"mean={self.input_mean!r}", "Build it with mean=None, variance=None."))
        if not self.built:
            self._build_from(shape)
        self._check_batch(shape)
        if batches is None:
            values = _float64(data)
            mean, variance = values.mean(axis=self._reduce), values.var(axis=self._reduce)
        else:
            mean, variance = self._stream(batches)
        kept_shape = tuple(self.mean.shape)
        with torch.no_grad():
            self.mean.copy_(torch.as_tensor(np.reshape(mean, kept_shape)))
            self.variance.copy_(torch.as_tensor(np.reshape(variance, kept_shape)))

    def _check_batch(self, shape) -> None:
        if len(shape) != len(self._broadcast_shape) or any(shape[d] != self._broadcast_shape[d] for d in self._keep):
            raise ShapeError(self._error(
                f"was built for inputs of rank {len(self._broadcast_shape)} with sizes "
                f"{[self._broadcast_shape[d] for d in self._keep]} on axes {list(self._keep)}",
                f"a batch of shape {tuple(shape)}", "Adapt it to data shaped like its inputs."))

    def _stream(self, batches) -> tuple[np.ndarray, np.ndarray]:
        """Keras's combination of batch statistics (the lack-of-fit sum of squares), in float64."""
        kept_shape = tuple(self._broadcast_shape[d] for d in self._keep)
        total_mean, total_var, total_count = np.zeros(kept_shape), np.zeros(kept_shape), 0
        for batch in batches:
            self._check_batch(tuple(batch.shape))
            values = _float64(batch)
            batch_mean, batch_var = values.mean(axis=self._reduce), values.var(axis=self._reduce)
            count = math.prod(values.shape[d] for d in self._reduce)
            if count == 0:
                continue
            total_count += count
            w_new = count / total_count
            w_old = 1.0 - w_new
            new_mean = total_mean * w_old + batch_mean * w_new
            total_var = (total_var + (total_mean - new_mean) ** 2) * w_old + \
                (batch_var + (batch_mean - new_mean) ** 2) * w_new
            total_mean = new_mean
        return total_mean, total_var

    # ------------------------------------------------------------------ what it shows
    def cost(self, input_shape, output_shape):
        keep = [d % len(input_shape) for d in self.axis]
        kept = math.prod(int(input_shape[d]) for d in keep) if keep else 1
        where = "per index of axes " + ", ".join(map(str, sorted(keep))) if keep else "over every element"
        c = sym("c")
        adapted = self.input_mean is None
        verb = "adds" if self.invert else "subtracts"
        return Cost(params=plus(prod(2, c), 1) if adapted else 0, values={c: kept} if adapted else {},
                    other_flops=per_sample(output_shape) * 2,
                    reads=f"{verb} a mean and {'multiplies by' if self.invert else 'divides by'} a standard "
                          f"deviation {where}, both fixed ({'adapted' if adapted else 'given'})",
                    needs_fixed=tuple(f"axis {d}" for d in sorted(keep)))

    def get_config(self):
        return {**super().get_config(), "axis": list(self.axis), "invert": self.invert,
                "mean": _listed(self.input_mean), "variance": _listed(self.input_variance)}



def _listed(value):
    return None if value is None else np.asarray(value, dtype=np.float64).tolist()
