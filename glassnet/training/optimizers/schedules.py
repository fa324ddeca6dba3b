"""Learning-rate schedules as Keras 3 defines them (``keras.optimizers.schedules``).

A schedule is called with the optimizer's step count and returns the learning rate for that step.
Each is computed in float32, as Keras computes it, so the rates agree with Keras's to the bit.

Example:
    >>> s = gn.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    >>> round(float(s(20)), 6)
    0.025
"""
from __future__ import annotations

import abc

import math

import torch

from ...errors import ConfigError

__all__ = ["LearningRateSchedule", "ExponentialDecay", "PiecewiseConstantDecay", "PolynomialDecay",
           "InverseTimeDecay", "CosineDecay", "CosineDecayRestarts", "serialize", "deserialize"]


def _f32(x) -> torch.Tensor:
    return torch.as_tensor(x, dtype=torch.float32)


def _positive_steps(owner: str, name: str, value) -> None:
    if value <= 0:
        raise ConfigError(f"{owner}: argument `{name}` must be > 0. Received: {name}={value}")


class LearningRateSchedule(abc.ABC):
    """Base class: subclasses define ``__call__(step)`` and ``get_config()``."""

    @abc.abstractmethod
    def __call__(self, step):
        """The learning rate at ``step`` (every schedule defines it)."""

    def get_config(self) -> dict:
        """What saving writes; a schedule of your own that is saved defines it (as in Keras)."""
        raise ConfigError(f"Learning rate schedule '{type(self).__name__}' cannot be saved: it defines no "
                          "get_config(). Define get_config() returning its constructor arguments.")

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate · decay_rate ** (step / decay_steps)`` (``floor`` of the exponent with
    ``staircase=True``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="ExponentialDecay"):
        _positive_steps("ExponentialDecay", "decay_steps", decay_steps)
        self.initial_learning_rate, self.decay_steps, self.decay_rate = initial_learning_rate, decay_steps, decay_rate
        self.staircase, self.name = staircase, name

    def __call__(self, step):
        p = _f32(step) / _f32(self.decay_steps)
        if self.staircase:
            p = torch.floor(p)
        return _f32(self.initial_learning_rate) * torch.pow(_f32(self.decay_rate), p)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` on ``(boundaries[i-1], boundaries[i]]``,
    ``values[-1]`` after the last boundary."""

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        if len(boundaries) != len(values) - 1:
            raise ConfigError(
                "PiecewiseConstantDecay: the length of boundaries should be 1 less than the length of values. "
                f"Received: boundaries={boundaries} of length {len(boundaries)}, and values={values} of length "
                f"{len(values)}.")
        self.boundaries, self.values, self.name = list(boundaries), list(values), name

    def __call__(self, step):
        step = float(step)
        for b, v in zip(self.boundaries, self.values):
            if step <= b:
                return _f32(v)
        return _f32(self.values[-1])

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """``(initial - end) · (1 - step/decay_steps) ** power + end``; with ``cycle=True`` the decay restarts
    with ``decay_steps`` multiplied by ``ceil(step / decay_steps)``."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False,
                 name="PolynomialDecay"):
        _positive_steps("PolynomialDecay", "decay_steps", decay_steps)
        self.initial_learning_rate, self.decay_steps = initial_learning_rate, decay_steps
        self.end_learning_rate, self.power, self.cycle, self.name = end_learning_rate, power, cycle, name

    def __call__(self, step):
        s, d = _f32(step), _f32(self.decay_steps)
        if self.cycle:
            d = d * (torch.ones(()) if float(s) == 0 else torch.ceil(s / self.decay_steps))
        else:
            s = torch.minimum(s, d)
        p = s / d
        end = _f32(self.end_learning_rate)
        return (_f32(self.initial_learning_rate) - end) * torch.pow(1 - p, _f32(self.power)) + end

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle,
                "name": self.name}


class InverseTimeDecay(LearningRateSchedule):
    """``initial_learning_rate / (1 + decay_rate · step / decay_steps)`` (``floor`` with ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="InverseTimeDecay"):
        _positive_steps("InverseTimeDecay", "decay_steps", decay_steps)
        self.initial_learning_rate, self.decay_steps, self.decay_rate = initial_learning_rate, decay_steps, decay_rate
        self.staircase, self.name = staircase, name

    def __call__(self, step):
        p = _f32(step) / _f32(self.decay_steps)
        if self.staircase:
            p = torch.floor(p)
        return _f32(self.initial_learning_rate) / (_f32(1.0) + _f32(self.decay_rate) * p)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Cosine decay from the rate to ``alpha ·`` the rate over ``decay_steps``; with ``warmup_target`` a linear
    warmup from ``initial_learning_rate`` to ``warmup_target`` over ``warmup_steps`` comes first."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay", warmup_target=None,
                 warmup_steps=0):
        _positive_steps("CosineDecay", "decay_steps", decay_steps)
        self.initial_learning_rate, self.decay_steps, self.alpha, self.name = (
            initial_learning_rate, decay_steps, alpha, name)
        self.warmup_target, self.warmup_steps = warmup_target, warmup_steps

    def _decay(self, step, decay_steps, decay_from):
        cosine = 0.5 * (1.0 + torch.cos(_f32(math.pi) * (step / decay_steps)))
        return decay_from * ((1 - self.alpha) * cosine + self.alpha)

    def __call__(self, step):
        lr0, d, s = _f32(self.initial_learning_rate), _f32(self.decay_steps), _f32(step)
        if self.warmup_target is None:
            return self._decay(torch.minimum(s, d), d, lr0)
        target, w = _f32(self.warmup_target), _f32(self.warmup_steps)
        s = torch.minimum(s, d + w)
        if bool(s < w):
            return (target - lr0) * (s / w) + lr0
        return self._decay(s - w, d, target)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR): periods grow by ``t_mul``, peaks shrink by ``m_mul``."""

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0, name="SGDRDecay"):
        _positive_steps("CosineDecayRestarts", "first_decay_steps", first_decay_steps)
        self.initial_learning_rate, self.first_decay_steps = initial_learning_rate, first_decay_steps
        self._t_mul, self._m_mul, self.alpha, self.name = t_mul, m_mul, alpha, name

    def __call__(self, step):
        t_mul, m_mul, alpha = _f32(self._t_mul), _f32(self._m_mul), _f32(self.alpha)
        fraction = _f32(step) / _f32(self.first_decay_steps)
        if float(t_mul) == 1.0:
            i_restart = torch.floor(fraction)
            fraction = fraction - i_restart
        else:
            i_restart = torch.floor(torch.log(1.0 - fraction * (1.0 - t_mul)) / torch.log(t_mul))
            sum_r = (1.0 - torch.pow(t_mul, i_restart)) / (1.0 - t_mul)
            fraction = (fraction - sum_r) / torch.pow(t_mul, i_restart)
        cosine = 0.5 * torch.pow(m_mul, i_restart) * (1.0 + torch.cos(_f32(math.pi) * fraction))
        return _f32(self.initial_learning_rate) * ((1 - alpha) * cosine + alpha)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "first_decay_steps": self.first_decay_steps,
                "t_mul": self._t_mul, "m_mul": self._m_mul, "alpha": self.alpha, "name": self.name}


_SCHEDULES = {cls.__name__: cls for cls in (ExponentialDecay, PiecewiseConstantDecay, PolynomialDecay,
                                             InverseTimeDecay, CosineDecay, CosineDecayRestarts)}


def serialize(schedule: LearningRateSchedule) -> dict:
    """Keras's ``{"module", "class_name", "config", "registered_name"}`` for a schedule."""
    return {"module": "keras.optimizers.schedules", "class_name": type(schedule).__name__,
            "config": schedule.get_config(), "registered_name": None}


def deserialize(config: dict, custom_objects: dict | None = None) -> LearningRateSchedule:
    """A schedule from Keras's serialized form (classes from ``custom_objects``, then Keras's six)."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ConfigError(f"A learning-rate schedule config must be a dict with a class_name. Received: {config!r}")
    name = config["class_name"]
    cls = (custom_objects or {}).get(name) or _SCHEDULES.get(name)
    if cls is None:
        raise ConfigError(f"Unknown learning-rate schedule {name!r}. Known: {', '.join(sorted(_SCHEDULES))}.")
    return cls.from_config(dict(config.get("config") or {}))
