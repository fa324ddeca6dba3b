"""The metric contract (Keras 3's ``keras.metrics.Metric``): state tensors, ``update_state``, ``result``,
``reset_state``; and the reduction metrics ``Sum``, ``Mean`` and ``MeanMetricWrapper``.

State lives in tensors created with ``add_variable`` (float32 unless ``dtype`` says otherwise, as in
Keras); they follow the data to its device at the first update, so updating never waits on the
device. Every state tensor is a sum over samples, so a data-parallel run adds them across
processes (``state_tensors`` / ``set_state_tensors``) and every rank gets one process's numbers.
"""
from __future__ import annotations

import abc

import re
from collections import Counter

import torch

from .. import losses as L

__all__ = ["Metric", "Sum", "Mean", "MeanMetricWrapper", "reduce_to_samplewise_values"]


_NAME_COUNTS: Counter = Counter()


def _auto_name(cls_name: str) -> str:
    """Keras's automatic metric names: ``precision``, ``precision_1`` … (so two metrics never share a log key)."""
    base = _snake(cls_name)
    n = _NAME_COUNTS[base]
    _NAME_COUNTS[base] += 1
    return base if n == 0 else f"{base}_{n}"


def _snake(name: str) -> str:
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def _dtype(dtype) -> torch.dtype:
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    if isinstance(dtype, dict):
        dtype = (dtype.get("config") or {}).get("name", "float32")
    name = {"int": "int32", "float": "float32"}.get(str(dtype), str(dtype)).replace("mixed_", "")
    if name.startswith("mixed") or name in ("float16", "bfloat16"):
        return torch.float32  # metrics accumulate in float32 under mixed precision, as in Keras
    return getattr(torch, name)


def _name_of(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


class Metric(abc.ABC):
    """Base class: create state with ``add_variable`` in ``__init__``; define ``update_state``, ``result``.

    Args:
        dtype: the dtype of the state and result (float32 by default).
        name: the name the metric logs under.
    """

    def __init__(self, dtype=None, name=None):
        self.name = name or _auto_name(type(self).__name__)
        self._dtype = _dtype(dtype)
        self._variables: list[torch.Tensor] = []
        self._initial: list = []

    @property
    def dtype(self) -> str:
        return _name_of(self._dtype)

    def add_variable(self, shape, initializer="zeros", dtype=None, aggregation="sum", name=None) -> torch.Tensor:
        """A state tensor (``initializer``: "zeros" or a number); every glassnet state is summed across
        processes, so ``aggregation`` must be "sum"."""
        if aggregation not in ("sum", None, "none"):
            raise ValueError(f"Metric '{self.name}': state is summed across processes; aggregation={aggregation!r} "
                             "is not supported.")
        dt = _dtype(dtype) if dtype is not None else self._dtype
        value = torch.zeros(tuple(shape), dtype=dt, device=self._device())
        init = 0 if initializer in ("zeros", None) else float(initializer)
        if init:
            value.fill_(init)
        self._variables.append(value)
        self._initial.append(init)
        return value

    def add_weight(self, shape=(), initializer=None, dtype=None, name=None) -> torch.Tensor:
        return self.add_variable(shape, initializer, dtype=dtype, name=name)

    def _device(self):
        return self._variables[0].device if self._variables else torch.device("cpu")

    @property
    def variables(self) -> list[torch.Tensor]:
        out = list(self._variables)
        for m in self._sub_metrics():
            out.extend(m.variables)
        return out

    def _sub_metrics(self) -> list["Metric"]:
        return [v for v in vars(self).values() if isinstance(v, Metric)]

    def _follow(self, *tensors) -> None:
        """Move the state to the device of the incoming data (once; updates then never copy)."""
        for t in tensors:
            if isinstance(t, torch.Tensor):
                if self._variables and t.device != self._variables[0].device:
                    for i, v in enumerate(self._variables):
                        moved = v.to(t.device)
                        for key, attr in vars(self).items():
                            if attr is v:
                                setattr(self, key, moved)
                        self._variables[i] = moved
                return

    @abc.abstractmethod
    def update_state(self, *args, **kwargs):
        """Accumulate one batch (every metric defines it; Keras's contract)."""

    @abc.abstractmethod
    def result(self):
        """The value so far, from the accumulated state (every metric defines it)."""

    def reset_state(self) -> None:
        for v, init in zip(self._variables, self._initial):
            v.fill_(init)
        for m in self._sub_metrics():
            m.reset_state()

    def __call__(self, *args, **kwargs):
        """Update the state with one batch and return the result so far."""
        self.update_state(*args, **kwargs)
        return self.result()

    # ------------------------------------------------------------------ data-parallel
    def state_tensors(self) -> list[torch.Tensor]:
        """The tensors that add up across processes (every state tensor)."""
        return self.variables

    def set_state_tensors(self, values) -> None:
        for v, new in zip(self.variables, values):
            v.copy_(new.to(device=v.device, dtype=v.dtype))

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


def _weighted(values, sample_weight, reduce_fn, dtype):
    """Keras's ``reduce_to_samplewise_values``: per-sample values (and weights) from values of any rank."""
    values = values.to(dtype)
    if sample_weight is not None:
        sample_weight = torch.as_tensor(sample_weight, device=values.device).to(dtype)
        values, sample_weight = L.squeeze_or_expand_to_same_rank(values, sample_weight)
        w_ndim, v_ndim = sample_weight.ndim, values.ndim
        if v_ndim > w_ndim:
            values = reduce_fn(values, dim=list(range(w_ndim, v_ndim)))
        sample_weight = torch.broadcast_to(sample_weight, values.shape)
        values = values * sample_weight
        if w_ndim > 1:
            sample_weight = reduce_fn(sample_weight, dim=list(range(1, w_ndim)))
    if values.ndim > 1:
        values = reduce_fn(values, dim=list(range(1, values.ndim)))
    return values, sample_weight


reduce_to_samplewise_values = _weighted


class Sum(Metric):
    """The (weighted) sum of the values."""

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable((), name="total")

    @torch.no_grad()
    def update_state(self, values, sample_weight=None):
        values = torch.as_tensor(values)
        self._follow(values)
        values, _ = _weighted(values, sample_weight, torch.sum, self._dtype)
        self.total.add_(values.sum())

    def result(self):
        return self.total.clone()


class Mean(Metric):
    """The (weighted) mean of the values: ``Σ v·w / Σ w`` (per sample; higher ranks averaged first)."""

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable((), name="total")
        self.count = self.add_variable((), name="count")

    @torch.no_grad()
    def update_state(self, values, sample_weight=None):
        values = torch.as_tensor(values)
        self._follow(values)
        values, sample_weight = _weighted(values, sample_weight, torch.mean, self._dtype)
        self.total.add_(values.sum())
        if sample_weight is not None:
            self.count.add_(sample_weight.sum())
        else:
            self.count.add_(values.shape[0] if values.ndim >= 1 else 1)

    def result(self):
        return torch.where(self.count != 0, self.total / torch.where(self.count != 0, self.count, 1), 0.0)


class MeanMetricWrapper(Mean):
    """The mean of a per-sample function ``fn(y_true, y_pred, **kwargs)``; a ``mask`` (the output's) keeps
    masked steps out, as Keras does with the mask on ``y_pred``."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", None), dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    @torch.no_grad()
    def update_state(self, y_true, y_pred, sample_weight=None, mask=None):
        y_pred = torch.as_tensor(y_pred)
        self._follow(y_pred)
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        if mask is not None and tuple(mask.shape) in (tuple(values.shape), tuple(values.shape) + (1,)):
            m = mask.reshape(values.shape).to(self._dtype)
            if sample_weight is not None:
                sw = torch.as_tensor(sample_weight, device=m.device).to(self._dtype)
                while sw.ndim < m.ndim:
                    sw = sw.unsqueeze(-1)
                m = sw * m
            sample_weight = m
        super().update_state(values, sample_weight=sample_weight)

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs}
