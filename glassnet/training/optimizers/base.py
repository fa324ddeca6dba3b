"""``Optimizer``: Keras 3's optimizer contract on ``torch.optim.Optimizer``.

An optimizer is created without variables (``Adam(learning_rate=1e-3)``) and built on the trainable
weights at the first step, as in Keras. ``apply(grads, variables)`` does what Keras's does, in
Keras's order: unscale by ``loss_scale_factor``, accumulate gradients
(``gradient_accumulation_steps``), clip (``clipnorm`` / ``clipvalue`` / ``global_clipnorm``), decay
weights, run the rule's ``update_step`` with the learning rate of this step (a float, a schedule of
the step count, or a callable), update the moving average (``use_ema``), project constrained
weights, count the iteration.

Subclasses write Keras's two methods: ``build(var_list)`` creating slots with
``add_optimizer_variables`` (so the variables come in Keras's order and ``.keras`` files map onto
them) and ``update_step(gradient, variable, learning_rate)`` updating tensors in place.

It is a ``torch.optim.Optimizer``: ``step()`` applies the ``.grad`` of its parameters,
``param_groups[0]["lr"]`` is the learning rate, and ``state_dict()`` / ``load_state_dict()`` hold every
slot by parameter index (``{"momentum": tensor, ...}``) with the iteration count and scalars in the
parameter group, so checkpoints restore it on any device.
"""
from __future__ import annotations

import re
import warnings
from typing import Any, Callable

import torch

from ... import checks
from ...errors import ConfigError, GlassnetWarning
from . import schedules

__all__ = ["Optimizer", "clip_by_global_norm", "global_norm", "serialize_optimizer", "deserialize_optimizer", "CLASSES"]

_BASE_ARGS = ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm", "use_ema", "ema_momentum",
              "ema_overwrite_frequency", "loss_scale_factor", "gradient_accumulation_steps")


def _snake(name: str) -> str:
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def global_norm(values) -> torch.Tensor:
    """``sqrt(Σ‖g‖²)`` over the tensors that are not None."""
    return torch.sqrt(torch.stack([torch.sum(torch.square(v)) for v in values if v is not None]).sum())


def clip_by_global_norm(values, clip_norm: float) -> list:
    """Keras's global clipping: every tensor scaled by ``clip_norm / max(global_norm, clip_norm)``."""
    norm = global_norm(values)
    scale = clip_norm * torch.minimum(1.0 / norm, torch.tensor(1.0 / clip_norm, dtype=norm.dtype))
    scale = scale + (norm - norm)  # NaN when the norm is not finite, as in Keras
    return [None if v is None else v * scale for v in values]


# every optimizer class by its Keras class name (filled as the classes are defined)
CLASSES: dict[str, type] = {}


class Optimizer(torch.optim.Optimizer):
    """Base class of glassnet's optimizers (Keras 3's ``keras.optimizers.Optimizer``).

    Args:
        learning_rate: a float, a ``LearningRateSchedule`` (called with the iteration count) or a
            callable without arguments.
        weight_decay: if set, each step first shrinks weights by ``weight_decay · learning_rate``.
        clipnorm, clipvalue, global_clipnorm: gradient clipping (at most one).
        use_ema, ema_momentum, ema_overwrite_frequency: an exponential moving average of the weights;
            ``fit`` writes it into the model at the end (``finalize_variable_values``).
        loss_scale_factor: the loss is multiplied by it before backward, the gradients divided by it.
        gradient_accumulation_steps: update every N steps with the mean gradient of the N.
        name: the optimizer's name.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__module__.startswith("glassnet."):
            CLASSES[cls.__name__] = cls

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        if kwargs.pop("decay", None) is not None:
            warnings.warn("Argument `decay` is no longer supported and will be ignored.", GlassnetWarning,
                          stacklevel=2)
        if kwargs:
            raise ConfigError(f"{type(self).__name__}: argument(s) not recognized: {kwargs}")
        owner = type(self).__name__
        if gradient_accumulation_steps is not None and (
                isinstance(gradient_accumulation_steps, bool) or not isinstance(gradient_accumulation_steps, int)
                or gradient_accumulation_steps < 2):
            raise ConfigError(f"{owner}: `gradient_accumulation_steps` must be an integer >= 2. "
                              f"Received: gradient_accumulation_steps={gradient_accumulation_steps}")
        if use_ema:
            checks.number_in(owner, "ema_momentum", ema_momentum, 0.0, 1.0, high_inclusive=True)
            if ema_overwrite_frequency is not None:
                checks.positive_int(owner, "ema_overwrite_frequency", ema_overwrite_frequency)
        clips = {k: v for k, v in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                                   ("global_clipnorm", global_clipnorm)) if v is not None}
        if len(clips) > 1:
            raise ConfigError(f"{owner}: only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. "
                              f"Received: {', '.join(f'{k}={v}' for k, v in clips.items())}")
        self.name = name or _snake(owner)
        self.weight_decay, self.clipnorm, self.clipvalue, self.global_clipnorm = (
            weight_decay, clipnorm, clipvalue, global_clipnorm)
        self.use_ema, self.ema_momentum, self.ema_overwrite_frequency = bool(use_ema), ema_momentum, \
            ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        if isinstance(learning_rate, bool) or not (
                isinstance(learning_rate, (int, float, schedules.LearningRateSchedule)) or callable(learning_rate)):
            raise ConfigError(
                f"{owner}: argument `learning_rate` should be a float, a LearningRateSchedule, or a callable "
                f"(returning the learning rate). Received: learning_rate={learning_rate!r}")
        self._learning_rate = float(learning_rate) if isinstance(learning_rate, (int, float)) else learning_rate
        self.built = False
        self._iterations = 0
        self._variables: list[torch.Tensor] = []      # every optimizer variable, in Keras's creation order
        self._slot_of: list[tuple[int, str] | None] = []  # (parameter index, slot name) of each, or None
        self._scalars: dict[str, Any] = {}           # optimizer-level numbers (Nadam's u_product …)
        self._trainable_variables: list[torch.Tensor] = []
        self._index: dict[int, int] = {}
        self._exclude_ids: set[int] = set()
        self._exclude_pattern = None
        self.param_groups: list[dict] = []
        self.defaults: dict = {}

    # ------------------------------------------------------------------ building
    def build(self, variables) -> None:
        """Create the optimizer's variables for ``variables`` (the model's trainable weights)."""
        variables = list(variables)
        torch.optim.Optimizer.__init__(self, [{"params": variables}], {"lr": self._initial_lr()})
        self._trainable_variables = variables
        self._index = {id(v): i for i, v in enumerate(variables)}
        if self.use_ema:
            self._averages = self.add_optimizer_variables(variables, "average")
        if self.gradient_accumulation_steps:
            self._accumulated_gradients = self.add_optimizer_variables(variables, "gradient_accumulator")
        self.built = True

    def _initial_lr(self) -> float:
        return self._learning_rate if isinstance(self._learning_rate, float) else float(self._current_lr())

    def add_variable(self, shape, initializer="zeros", dtype=None, name=None, device=None) -> torch.Tensor:
        """An optimizer variable that belongs to no weight (e.g. a step counter)."""
        value = torch.zeros(shape, dtype=dtype or torch.float32, device=device)
        if initializer not in ("zeros", None):
            value.fill_(float(initializer))
        self._variables.append(value)
        self._slot_of.append(None)
        return value

    def add_variable_from_reference(self, reference_variable, name=None, initializer="zeros") -> torch.Tensor:
        """A slot shaped like ``reference_variable`` (``initializer``: "zeros" or a number)."""
        ref = reference_variable
        value = torch.zeros_like(ref, memory_format=torch.contiguous_format).detach()
        if initializer not in ("zeros", None):
            value.fill_(float(initializer))
        return self._add_slot(self._index[id(ref)], value, name or "var")

    def _add_slot(self, index: int, value: torch.Tensor, name: str) -> torch.Tensor:
        """Record ``value`` as the slot ``name`` of weight ``index`` (saved under that weight)."""
        self._variables.append(value)
        self._slot_of.append((index, name))
        return value

    def add_optimizer_variables(self, trainable_variables, name, initializer="zeros"):
        """One slot per variable for each name; with several names they are created variable by variable
        (Keras's order: ``v0/momentum, v0/velocity, v1/momentum …``). Returns a list, or a tuple of lists."""
        names = [name] if isinstance(name, str) else list(name)
        inits = initializer if isinstance(initializer, (list, tuple)) else [initializer] * len(names)
        out = tuple([] for _ in names)
        for v in trainable_variables:
            for i, (n, init) in enumerate(zip(names, inits)):
                out[i].append(self.add_variable_from_reference(v, name=n, initializer=init))
        return out[0] if isinstance(name, str) else out

    def _get_variable_index(self, variable) -> int:
        return self._index[id(variable)]

    @property
    def variables(self) -> list[torch.Tensor]:
        """Keras's ``optimizer.variables`` order: the iteration count and learning rate first (as tensors),
        then every slot as it was created."""
        head = [torch.tensor(self._iterations, dtype=torch.int64)]
        if isinstance(self._learning_rate, float):
            head.append(torch.tensor(self.learning_rate, dtype=torch.float32))
        return head + list(self._variables)

    # ------------------------------------------------------------------ learning rate and iterations
    @property
    def iterations(self) -> int:
        """Update steps taken (with gradient accumulation: real steps // accumulation steps)."""
        if self.gradient_accumulation_steps:
            return self._iterations // self.gradient_accumulation_steps
        return self._iterations

    def _current_lr(self):
        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            return lr(self._iterations)
        if callable(lr):
            return lr()
        return self.param_groups[0]["lr"] if self.built else lr

    @property
    def learning_rate(self) -> float:
        """The learning rate of the next step."""
        return float(self._current_lr())

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        if isinstance(value, schedules.LearningRateSchedule) or (callable(value) and not isinstance(value, float)):
            self._learning_rate = value
        elif isinstance(self._learning_rate, schedules.LearningRateSchedule):
            raise TypeError("This optimizer was created with a `LearningRateSchedule` object as its `learning_rate` "
                            "constructor argument, hence its learning rate is not settable. If you need the learning "
                            "rate to be settable, you should instantiate the optimizer with a float `learning_rate` "
                            "argument.")
        else:
            self._learning_rate = float(value)
        if self.built:
            for g in self.param_groups:
                g["lr"] = self._initial_lr()

    # ------------------------------------------------------------------ applying gradients
    def scale_loss(self, loss):
        """The loss times ``loss_scale_factor`` (before backward), as Keras's ``scale_loss``."""
        return loss * self.loss_scale_factor if self.loss_scale_factor is not None else loss

    def apply_gradients(self, grads_and_vars):
        grads, variables = zip(*grads_and_vars)
        self.apply(list(grads), list(variables))
        return self._iterations

    @torch.no_grad()
    def step(self, closure: Callable | None = None):
        """torch's contract: apply the ``.grad`` of every parameter the optimizer was built on."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        params = [p for g in self.param_groups for p in g["params"]]
        self.apply([p.grad for p in params], params)
        return loss

    @torch.no_grad()
    def apply(self, grads, trainable_variables=None) -> None:
        """Update ``trainable_variables`` (the variables the optimizer was built on, when None) from ``grads``."""
        grads = list(grads)
        if not grads:
            return
        if trainable_variables is None:
            if not self.built:
                raise ValueError("When passing `grads` without `variables`, the optimizer must already be built on "
                                 "a list of variables. Call `optimizer.build(trainable_variables)` first.")
            trainable_variables = self._trainable_variables
        trainable_variables = list(trainable_variables)
        if not self.built:
            self.build(trainable_variables)
        unknown = [v for v in trainable_variables if id(v) not in self._index]
        if unknown:
            raise ValueError(f"Unknown variable of shape {tuple(unknown[0].shape)}: this optimizer can only be called "
                             "for the variables it was originally built with. When working with a new set of "
                             "variables, you should recreate a new optimizer instance.")
        pairs = [(g, v) for g, v in zip(grads, trainable_variables) if g is not None]
        if not pairs:
            raise ValueError("No gradients provided for any variable.")
        if len(pairs) < len(grads):
            missing = [_describe(v) for g, v in zip(grads, trainable_variables) if g is None]
            warnings.warn(f"Gradients do not exist for variables {missing} when minimizing the loss. If using "
                          "`model.compile()`, did you forget to provide a `loss` argument?", GlassnetWarning,
                          stacklevel=3)
        grads, variables = [g for g, _ in pairs], [v for _, v in pairs]
        if self.loss_scale_factor is not None:
            grads = [g / self.loss_scale_factor for g in grads]
        self._apply_to(grads, variables)
        for v in variables:
            constraint = getattr(v, "constraint", None)
            if constraint is not None:
                v.copy_(constraint(v))
        self._iterations += 1

    def _apply_to(self, grads, variables) -> None:
        """Accumulate or update, then the moving average (Keras's ``_backend_apply_gradients``)."""
        steps = self.gradient_accumulation_steps
        if steps:
            accs = [self._accumulated_gradients[self._get_variable_index(v)] for v in variables]
            if (self._iterations + 1) % steps == 0:
                grads = [(g + a) / steps for g, a in zip(grads, accs)]
                self._update(grads, variables)
                for a in self._accumulated_gradients:
                    a.zero_()
            else:
                for g, a in zip(grads, accs):
                    a.add_(g)
        else:
            self._update(grads, variables)
        if self.use_ema:
            momentum = self.ema_momentum if self.iterations != 0 else 0.0
            for var, avg in zip(self._trainable_variables, self._averages):
                avg.copy_(momentum * avg + (1 - momentum) * var)
            if self.ema_overwrite_frequency and (self.iterations + 1) % self.ema_overwrite_frequency == 0:
                self._overwrite_with_average(self._trainable_variables)

    def _update(self, grads, variables) -> None:
        grads = self._clip_gradients(grads)
        lr = self.learning_rate
        self._apply_weight_decay(variables, lr)
        self._update_all(grads, variables, lr)

    def _update_all(self, grads, variables, learning_rate) -> None:
        for g, v in zip(grads, variables):
            self.update_step(g, v, learning_rate)

    def update_step(self, gradient, variable, learning_rate) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define update_step(gradient, variable, learning_rate).")

    def _clip_gradients(self, grads):
        if self.clipnorm and self.clipnorm > 0:
            return [self._clip_by_norm(g) for g in grads]
        if self.global_clipnorm and self.global_clipnorm > 0:
            return clip_by_global_norm(grads, self.global_clipnorm)
        if self.clipvalue and self.clipvalue > 0:
            return [torch.clamp(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    def _clip_by_norm(self, g):
        l2sum = torch.sum(torch.square(g))
        l2norm = torch.sqrt(l2sum) if bool(l2sum > 0) else l2sum
        return g * self.clipnorm / torch.clamp(l2norm, min=self.clipnorm)

    # ------------------------------------------------------------------ weight decay
    def exclude_from_weight_decay(self, var_list=None, var_names=None) -> None:
        """Exclude variables (or any whose name contains one of ``var_names``) from weight decay."""
        if self.built:
            raise ValueError("`exclude_from_weight_decay()` can only be configured before the optimizer is built.")
        self._exclude_ids = {id(v) for v in (var_list or [])}
        self._exclude_pattern = re.compile("|".join(set(var_names))) if var_names else None

    def _use_weight_decay(self, variable) -> bool:
        if id(variable) in self._exclude_ids:
            return False
        name = getattr(variable, "name", None)
        return not (self._exclude_pattern is not None and isinstance(name, str)
                    and self._exclude_pattern.search(name) is not None)

    def _apply_weight_decay(self, variables, lr) -> None:
        if self.weight_decay is None:
            return
        factor = 1 - self.weight_decay * lr  # Keras's torch backend: one multiply per weight
        for v in variables:
            if self._use_weight_decay(v):
                v.mul_(factor)

    # ------------------------------------------------------------------ moving average
    def _overwrite_with_average(self, variables) -> None:
        for var, avg in zip(variables, self._averages):
            var.copy_(avg)

    @torch.no_grad()
    def finalize_variable_values(self, var_list) -> None:
        """With ``use_ema``: write the moving averages into the weights (``fit`` does this at its end)."""
        if self.use_ema and self.built:
            self._overwrite_with_average(list(var_list))

    # ------------------------------------------------------------------ state (checkpoints)
    def state_dict(self) -> dict:
        """torch's layout: slots by parameter index; the iteration count and scalars in the group."""
        if not self.built:
            return {"state": {}, "param_groups": []}
        state: dict[int, dict] = {}
        for value, slot in zip(self._variables, self._slot_of):
            if slot is not None:
                state.setdefault(slot[0], {})[slot[1]] = value
        group = {"params": list(range(len(self._trainable_variables))), "lr": float(self.param_groups[0]["lr"]),
                 "iterations": self._iterations, **self._scalars}
        unowned = [v for v, s in zip(self._variables, self._slot_of) if s is None]
        if unowned:
            group["unowned"] = [v.tolist() for v in unowned]
        return {"state": state, "param_groups": [group]}

    @torch.no_grad()
    def load_state_dict(self, state_dict: dict) -> None:
        """Restore slots in place (cast to each slot's dtype and device) and the scalars; the optimizer must
        be built on weights of the same shapes."""
        groups = state_dict.get("param_groups") or []
        if not self.built:
            raise ValueError(f"Optimizer '{self.name}' is not built yet: build it on the model's weights first.")
        if len(groups) != 1 or len(groups[0].get("params", [])) != len(self._trainable_variables):
            raise ValueError(f"the saved optimizer state covers {len(groups[0].get('params', [])) if groups else 0} "
                             f"weights; this optimizer has {len(self._trainable_variables)}")
        saved = {int(k): v for k, v in state_dict.get("state", {}).items()}
        for value, slot in zip(self._variables, self._slot_of):
            if slot is None:
                continue
            idx, name = slot
            if name not in saved.get(idx, {}):
                raise ValueError(f"the saved state has no '{name}' for weight {idx}")
            src = torch.as_tensor(saved[idx][name])
            if tuple(src.shape) != tuple(value.shape):
                raise ValueError(f"slot '{name}' of weight {idx} has shape {tuple(src.shape)}, expected "
                                 f"{tuple(value.shape)}")
            value.copy_(src.to(device=value.device, dtype=value.dtype))
        group = dict(groups[0])
        self._iterations = int(group.pop("iterations", 0))
        unowned = group.pop("unowned", [])
        for v, data in zip([v for v, s in zip(self._variables, self._slot_of) if s is None], unowned):
            v.copy_(torch.as_tensor(data, dtype=v.dtype))
        lr = group.pop("lr", None)
        group.pop("params", None)
        self._scalars.update({k: group[k] for k in self._scalars if k in group})
        if lr is not None and isinstance(self._learning_rate, float):
            self.learning_rate = float(lr)

    # ------------------------------------------------------------------ Keras's variables
    def keras_variables(self) -> list:
        """The optimizer's variables as numpy arrays in the order Keras saves ``optimizer/vars`` in a
        ``.keras`` file (iteration count, learning rate, then the slots)."""
        return [v.detach().cpu().numpy() for v in self.variables]

    @torch.no_grad()
    def set_keras_variables(self, arrays) -> None:
        """Load the ``optimizer/vars`` of a ``.keras`` file (Keras's order), after ``build``."""
        if not self.built:
            raise ValueError(f"Optimizer '{self.name}' is not built yet: build it on the model's weights first.")
        arrays = list(arrays)
        expected = self.variables
        if len(arrays) != len(expected):
            raise ValueError(f"the file holds {len(arrays)} optimizer variables; {type(self).__name__} '{self.name}' "
                             f"has {len(expected)}")
        for i, (a, v) in enumerate(zip(arrays, expected)):
            if tuple(torch.as_tensor(a).shape) != tuple(v.shape):
                raise ValueError(f"optimizer variable {i} has shape {tuple(torch.as_tensor(a).shape)}, expected "
                                 f"{tuple(v.shape)}")
        self._iterations = int(arrays[0])
        rest = arrays[1:]
        if isinstance(self._learning_rate, float):
            self.learning_rate = float(rest[0])
            rest = rest[1:]
        for a, v in zip(rest, self._variables):
            v.copy_(torch.as_tensor(a).to(device=v.device, dtype=v.dtype))

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict:
        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            lr = schedules.serialize(lr)
        elif callable(lr):
            raise ValueError(f"Optimizer '{self.name}' has a learning rate given as a function, which cannot be "
                             "written to a config; use a LearningRateSchedule.")
        else:
            lr = self.learning_rate
        return {"name": self.name, "learning_rate": lr, **{k: getattr(self, k) for k in _BASE_ARGS}}

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"], custom_objects)
        config.pop("is_legacy_optimizer", None)
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} learning_rate={self._learning_rate!r} built={self.built}>"

    def __getstate__(self):
        return self.__dict__

    def __setstate__(self, state):
        self.__dict__.update(state)


def serialize_optimizer(optimizer) -> dict:
    """Keras's ``{"module", "class_name", "config", "registered_name"}`` for an optimizer."""
    return {"module": "keras.optimizers", "class_name": type(optimizer).__name__, "config": optimizer.get_config(),
            "registered_name": None}


def deserialize_optimizer(config, custom_objects: dict | None = None) -> Optimizer:
    """An optimizer from a Keras name (``"adam"``) or serialized dict; classes from ``custom_objects`` first."""
    if isinstance(config, str):
        key = {k.lower(): k for k in CLASSES}.get(config.lower())
        if key is None:
            raise ValueError(f"Unknown optimizer {config!r}. Known optimizers: "
                             f"{', '.join(sorted(k.lower() for k in CLASSES))}.")
        return CLASSES[key]()
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(f"An optimizer config must be a name or a dict with a class_name. Received: {config!r}")
    name = config["class_name"]
    cls = (custom_objects or {}).get(name) or CLASSES.get(name) or {k.lower(): v for k, v in CLASSES.items()}.get(
        name.lower())
    if cls is None:
        raise ValueError(f"glassnet has no optimizer {name!r}")
    return cls.from_config(dict(config.get("config") or {}), custom_objects)


def _describe(v) -> str:
    return getattr(v, "path", None) or f"tensor of shape {tuple(v.shape)}"
