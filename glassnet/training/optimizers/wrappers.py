"""Optimizers that wrap others: ``LossScaleOptimizer`` (dynamic loss scaling for float16) and
``MultiOptimizer`` with ``OptimizerMap`` (a different optimizer per group of weights), as in Keras 3."""
from __future__ import annotations

import re
from collections.abc import MutableMapping

import torch

from ...errors import ConfigError
from .base import Optimizer, deserialize_optimizer, serialize_optimizer

__all__ = ["LossScaleOptimizer", "MultiOptimizer", "OptimizerMap"]


class LossScaleOptimizer(Optimizer):
    """Dynamic loss scaling around ``inner_optimizer`` (Keras 3 semantics).

    The loss is multiplied by the scale before backward (``scale_loss``); the gradients are divided by it.
    A step with a non-finite gradient is skipped and halves the scale; after ``dynamic_growth_steps``
    finite steps in a row the scale doubles.
    """

    def __init__(self, inner_optimizer, initial_scale=2.0 ** 15, dynamic_growth_steps=2000, name=None, **kwargs):
        if not kwargs.pop("dynamic", True):
            raise ConfigError("LossScaleOptimizer no longer supports `dynamic=False`. Instead, simply set "
                              "`loss_scale_factor` directly on the `inner_optimizer`.")
        defaults = {"weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
                    "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
                    "loss_scale_factor": None, "gradient_accumulation_steps": None}
        for key, default in defaults.items():
            if key in kwargs and kwargs.pop(key) != default:
                raise ConfigError(f"LossScaleOptimizer does not support `{key}`. Instead, set `{key}` on the "
                                  "`inner_optimizer`.")
        if kwargs:
            raise ConfigError(f"LossScaleOptimizer does not support arguments: `{'`, `'.join(kwargs)}`.")
        if not isinstance(inner_optimizer, Optimizer):
            raise ConfigError("LossScaleOptimizer: `inner_optimizer` must be a glassnet optimizer. "
                              f"Received: inner_optimizer={inner_optimizer!r}")
        super().__init__(learning_rate=0.0, name=name)
        self.inner_optimizer = inner_optimizer
        self.initial_scale, self.dynamic_growth_steps = float(initial_scale), int(dynamic_growth_steps)
        inner_optimizer.loss_scale_factor = None

    def build(self, var_list):
        var_list = list(var_list)
        self.step_counter = self.add_variable((), dtype=torch.int64, name="step_counter")
        self.dynamic_scale = self.add_variable((), initializer=self.initial_scale, name="dynamic_scale")
        if not self.inner_optimizer.built:
            self.inner_optimizer.build(var_list)
        torch.optim.Optimizer.__init__(self, [{"params": var_list}], {"lr": self.inner_optimizer.learning_rate})
        self.param_groups = self.inner_optimizer.param_groups  # one learning rate, the inner one's
        self._trainable_variables = var_list
        self._index = {id(v): i for i, v in enumerate(var_list)}
        self.built = True

    @property
    def variables(self):
        own = [torch.tensor(0, dtype=torch.int64), torch.tensor(0.0)] + list(self._variables)
        return own + self.inner_optimizer.variables

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        if hasattr(self, "inner_optimizer"):
            self.inner_optimizer.learning_rate = value

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    def scale_loss(self, loss):
        return loss * (self.dynamic_scale if self.built else self.initial_scale)

    @torch.no_grad()
    def apply(self, grads, trainable_variables=None):
        grads = list(grads)
        if not self.built:
            self.build(trainable_variables if trainable_variables is not None else [])
        finite = all(bool(torch.isfinite(g).all()) for g in grads if g is not None)
        if not finite:
            self.step_counter.zero_()
            self.dynamic_scale.mul_(0.5)
            return
        scale = self.dynamic_scale
        self.inner_optimizer.apply([None if g is None else g / scale for g in grads], trainable_variables)
        if int(self.step_counter) == self.dynamic_growth_steps - 1:
            self.step_counter.zero_()
            self.dynamic_scale.mul_(2.0)
        else:
            self.step_counter.add_(1)

    def finalize_variable_values(self, var_list):
        self.inner_optimizer.finalize_variable_values(var_list)

    def state_dict(self):
        sd = self.inner_optimizer.state_dict()
        if sd["param_groups"]:
            sd["param_groups"][0] = {**sd["param_groups"][0], "loss_scale": float(self.dynamic_scale),
                                     "loss_scale_step_counter": int(self.step_counter)}
        return sd

    @torch.no_grad()
    def load_state_dict(self, state_dict):
        groups = [dict(g) for g in state_dict.get("param_groups") or []]
        if groups:
            self.dynamic_scale.fill_(float(groups[0].pop("loss_scale", self.initial_scale)))
            self.step_counter.fill_(int(groups[0].pop("loss_scale_step_counter", 0)))
        self.inner_optimizer.load_state_dict({"state": state_dict.get("state", {}), "param_groups": groups})

    def set_keras_variables(self, arrays):
        arrays = list(arrays)
        self.step_counter.fill_(int(arrays[2]))
        self.dynamic_scale.fill_(float(arrays[3]))
        self.inner_optimizer.set_keras_variables(arrays[4:])

    def get_config(self):
        return {"name": self.name, "inner_optimizer": serialize_optimizer(self.inner_optimizer),
                "initial_scale": self.initial_scale, "dynamic_growth_steps": self.dynamic_growth_steps}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        inner = deserialize_optimizer(config.pop("inner_optimizer"), custom_objects)
        return cls(inner, **config)


class OptimizerMap(MutableMapping):
    """Weight path (or a regular expression over paths) → optimizer, with a default for the rest.

    Paths are Keras's ``"<layer name>/<weight name>"``; ``"encoder/.*"`` matches every weight of a
    layer called ``encoder``.
    """

    def __init__(self, default_optimizer, optimizer_map=None):
        if not isinstance(default_optimizer, Optimizer):
            raise TypeError(f"default_optimizer must be a glassnet Optimizer instance. Received: {default_optimizer}")
        if optimizer_map is not None and not isinstance(optimizer_map, dict):
            raise TypeError(f"optimizer_map must be a dictionary. Received: {optimizer_map}")
        self._default_optimizer = default_optimizer
        self._optimizer_map = dict(optimizer_map or {})

    @property
    def default_optimizer(self):
        return self._default_optimizer

    def __getitem__(self, key):
        if key in self._optimizer_map:
            return self._optimizer_map[key]
        matches = [p for p in self._optimizer_map if re.fullmatch(p, key)]
        if len(matches) > 1:
            raise ValueError(f"Multiple optimizers assigned to variable {key}.")
        return self._optimizer_map[matches[0]] if matches else self._default_optimizer

    def __setitem__(self, key, optimizer):
        if key in self._optimizer_map:
            raise ValueError(f"'{key}' already exists in the OptimizerMap with value {self._optimizer_map[key]}. "
                             "Please make sure to not use duplicated keys.")
        if not isinstance(key, str):
            raise ValueError(f"key must be a string. Received: {key}")
        if not isinstance(optimizer, Optimizer) or isinstance(optimizer, (LossScaleOptimizer, MultiOptimizer)):
            raise ValueError(f"optimizer must be a plain glassnet Optimizer instance. Received: {optimizer}")
        self._optimizer_map[key] = optimizer

    def __delitem__(self, key):
        del self._optimizer_map[key]

    def __len__(self):
        return len(self._optimizer_map)

    def __iter__(self):
        return iter(self._optimizer_map)

    def __call__(self, variable):
        return self[getattr(variable, "path", "") or ""]

    def get_config(self):
        return {"default_optimizer": serialize_optimizer(self._default_optimizer),
                "optimizer_map": {k: serialize_optimizer(v) for k, v in self._optimizer_map.items()}}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(deserialize_optimizer(config["default_optimizer"], custom_objects),
                   {k: deserialize_optimizer(v, custom_objects) for k, v in (config.get("optimizer_map") or {}).items()})


class MultiOptimizer(Optimizer):
    """Each weight updated by the optimizer ``optimizer_map`` picks for it (an ``OptimizerMap`` or a callable
    ``variable -> optimizer``). The learning rate lives on the inner optimizers."""

    def __init__(self, optimizer_map, loss_scale_factor=None, name=None):
        super().__init__(learning_rate=0.0, loss_scale_factor=loss_scale_factor, name=name)
        self._optimizer_map = optimizer_map
        self._inner_optimizers: list[Optimizer] = []
        for opt in list(getattr(optimizer_map, "values", lambda: [])()) + [
                getattr(optimizer_map, "default_optimizer", None)]:
            if opt is not None and opt not in self._inner_optimizers:
                self._inner_optimizers.append(opt)

    @property
    def optimizers(self):
        return self._inner_optimizers

    def build(self, var_list):
        var_list = list(var_list)
        self._owner: dict[int, Optimizer] = {}
        groups: dict[int, list] = {}
        for var in var_list:
            opt = self._optimizer_map(var)
            if not isinstance(opt, Optimizer) or isinstance(opt, (LossScaleOptimizer, MultiOptimizer)):
                raise ValueError(f"The optimizer for weight {getattr(var, 'path', tuple(var.shape))} must be a plain "
                                 f"glassnet Optimizer (not a LossScaleOptimizer or MultiOptimizer). Received: {opt!r}")
            if opt not in self._inner_optimizers:
                self._inner_optimizers.append(opt)
            self._owner[id(var)] = opt
            groups.setdefault(id(opt), []).append(var)
        for opt in self._inner_optimizers:
            opt.loss_scale_factor = None  # the wrapper unscales once
            if id(opt) in groups:
                opt.build(groups[id(opt)])
        torch.optim.Optimizer.__init__(self, [{"params": var_list}], {"lr": 0.0})
        self._trainable_variables = var_list
        self._index = {id(v): i for i, v in enumerate(var_list)}
        self.built = True

    @property
    def learning_rate(self):
        raise AttributeError("Learning rate cannot be accessed on a MultiOptimizer. Access the learning rate on the "
                             "individual sub-optimizers instead.")

    @learning_rate.setter
    def learning_rate(self, value):
        if hasattr(self, "_inner_optimizers"):
            raise AttributeError("Learning rate cannot be set on a MultiOptimizer. Set the learning rate on the "
                                 "individual sub-optimizers instead.")

    @property
    def variables(self):
        own = [torch.tensor(self._iterations, dtype=torch.int64)]
        return own + [v for opt in self._inner_optimizers for v in (opt.variables if opt.built else [])]

    @torch.no_grad()
    def apply(self, grads, trainable_variables=None):
        grads = list(grads)
        if not self.built:
            self.build(trainable_variables)
        variables = list(trainable_variables) if trainable_variables is not None else self._trainable_variables
        if self.loss_scale_factor is not None:
            grads = [None if g is None else g / self.loss_scale_factor for g in grads]
        for opt in self._inner_optimizers:
            pairs = [(g, v) for g, v in zip(grads, variables) if self._owner.get(id(v)) is opt]
            if pairs:
                opt.apply([g for g, _ in pairs], [v for _, v in pairs])
        self._iterations += 1

    def finalize_variable_values(self, var_list):
        for opt in self._inner_optimizers:
            opt.finalize_variable_values([v for v in var_list if self._owner.get(id(v)) is opt])

    def state_dict(self):
        if not self.built:
            return {"state": {}, "param_groups": []}
        state, inner = {}, []
        for opt in self._inner_optimizers:
            if not opt.built:
                continue
            sd = opt.state_dict()
            positions = [self._index[id(v)] for v in opt._trainable_variables]
            for k, slots in sd["state"].items():
                state[positions[int(k)]] = slots
            inner.append({k: v for k, v in sd["param_groups"][0].items() if k != "params"})
        return {"state": state, "param_groups": [{"params": list(range(len(self._trainable_variables))),
                                                  "lr": 0.0, "iterations": self._iterations, "inner": inner}]}

    @torch.no_grad()
    def load_state_dict(self, state_dict):
        group = dict((state_dict.get("param_groups") or [{}])[0])
        self._iterations = int(group.get("iterations", 0))
        saved = {int(k): v for k, v in state_dict.get("state", {}).items()}
        built = [opt for opt in self._inner_optimizers if opt.built]
        for opt, g in zip(built, group.get("inner", [])):
            positions = [self._index[id(v)] for v in opt._trainable_variables]
            opt.load_state_dict({"state": {i: saved.get(p, {}) for i, p in enumerate(positions)},
                                 "param_groups": [{**g, "params": list(range(len(positions)))}]})

    def get_config(self):
        if not isinstance(self._optimizer_map, OptimizerMap):
            raise ValueError("A MultiOptimizer built from a function cannot be written to a config; use an "
                             "OptimizerMap.")
        return {"optimizer_map": {"module": "keras.optimizers", "class_name": "OptimizerMap",
                                  "config": self._optimizer_map.get_config(), "registered_name": None},
                "loss_scale_factor": self.loss_scale_factor, "name": self.name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        spec = config["optimizer_map"]
        config["optimizer_map"] = OptimizerMap.from_config(spec.get("config", spec), custom_objects)
        return cls(**config)
