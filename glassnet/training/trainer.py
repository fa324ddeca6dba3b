"""``Trainer``: what ``compile`` creates and ``fit`` / ``evaluate`` / ``predict`` run.

A Trainer owns the optimizer, the compiled loss and metrics, the loss tracker, the device and the
data-parallel wrapper. It drives the model through Keras 3's torch-backend contract: each batch goes to
``model.train_step(data)`` / ``test_step`` / ``predict_step`` (a model may override them, as the Keras
guides do), whose default runs the model once (``model.run(inputs, training) -> (outputs, masks)``),
computes ``compute_loss`` (the compiled loss plus ``model.losses``), backpropagates the optimizer's
scaled loss, applies the gradients and returns ``compute_metrics`` — a dict of tensors.

Data is checked before the first step (shapes, cardinalities, non-finite values, label ranges, empty
inputs), so a bad input never half-trains a model. Every batch moves to the model's device in one
place (``_to_device``; pinned memory and non-blocking copies on CUDA); metrics accumulate as tensors.
"""
from __future__ import annotations

import inspect
import math
import warnings
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import checks, config, threads
from ..dtypes import float_dtype, to_torch
from ..errors import ConfigError, GlassnetWarning, ShapeError
from ..structure import first_length, flatten, leaves, map_structure
from . import callbacks as cbs
from . import distributed, losses, metrics, optimizers
from . import validation as V
from .compile_utils import CompileLoss, CompileMetrics, pythonify
from .data import ArrayData, IterableData, is_array_input, make_data, to_tensor
from .metrics import Mean, check_name as check_metric_name
from .metrics.base import Metric
from .progress import resolve_verbose

__all__ = ["Trainer"]


class _Runner(nn.Module):
    """The model's ``run`` as a module's forward, so DistributedDataParallel can wrap it."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x, training: bool):
        return self.model.run(x, training=training)


def _default(model, name: str) -> bool:
    """Whether ``model.<name>`` is glassnet's own (not overridden by a subclass)."""
    return getattr(getattr(type(model), name, None), "glassnet_default", False)


def _unpack(data):
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    return tuple(data) + (None,) * (3 - len(data))


def _pack(x, y, sw):
    if y is None and sw is None:
        return (x,)
    return (x, y) if sw is None else (x, y, sw)


class Trainer:
    """Training state for one model: optimizer, losses, metrics, device, DDP wrapper."""

    def __init__(self, model, *, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                 weighted_metrics=None, run_eagerly=False, steps_per_execution=1, jit_compile="auto",
                 auto_scale_loss=True, _inference_only: bool = False):
        self.model = model
        self.ddp = None
        self.optimizer = None
        self._optimizer_factory = None
        self.compile_loss: CompileLoss | None = None
        self.compile_metrics = CompileMetrics()
        self.loss_tracker = Mean(name="loss")
        self.output_names: list[str] | None = None
        self.loss_spec = None
        self._trainable_cache: list | None = None  # during fit: the trainable weights, read once
        self._metrics_cache: list | None = None  # during fit/evaluate: model.metrics, read once
        self._caching = False
        if _inference_only:
            return
        if isinstance(steps_per_execution, bool) or steps_per_execution != 1:
            raise ConfigError("compile(): glassnet runs one training step per call, as torch does. "
                              f"Received: steps_per_execution={steps_per_execution!r}. Leave it at 1.")
        if jit_compile not in ("auto", False, None):
            raise ConfigError("compile(): glassnet does not compile the model itself. "
                              f"Received: jit_compile={jit_compile!r}. Leave it at 'auto', or wrap the model with "
                              "torch.compile yourself.")
        checks.boolean("compile()", "run_eagerly", run_eagerly)  # glassnet always runs eagerly
        checks.boolean("compile()", "auto_scale_loss", auto_scale_loss)
        for spec in flatten(loss) if isinstance(loss, (list, tuple, dict)) else [loss]:
            if isinstance(spec, str) and spec.lower() not in ("crossentropy", "ce"):
                losses.get(spec)  # an unknown name fails at compile, listing the known ones
        for spec in flatten(metrics) + flatten(weighted_metrics):
            if spec is not None:
                check_metric_name(spec)
        self.loss_spec = loss
        if loss is not None:
            self.compile_loss = CompileLoss(loss, loss_weights)
        elif loss_weights is not None:
            raise ConfigError("compile(): loss_weights were given without a loss. Received: "
                              f"loss_weights={loss_weights!r}. Pass loss=... as well.")
        self.compile_metrics = CompileMetrics(metrics, weighted_metrics)
        opt = optimizers.get(optimizer)
        if isinstance(opt, torch.optim.Optimizer):
            self.optimizer = opt
        elif callable(opt) and not isinstance(opt, torch.optim.Optimizer):
            self._optimizer_factory = opt
        if auto_scale_loss and self._mixed_float16() and isinstance(self.optimizer, optimizers.Optimizer) \
                and not isinstance(self.optimizer, optimizers.LossScaleOptimizer):
            self.optimizer = optimizers.LossScaleOptimizer(self.optimizer)
        if self._optimizer_factory is not None and self._model_built():
            self._build_optimizer()

    @classmethod
    def for_inference(cls, model) -> "Trainer":
        """A trainer that can only predict (an uncompiled model)."""
        return cls(model, _inference_only=True)

    # ------------------------------------------------------------------ configuration
    def _mixed_float16(self) -> bool:
        """Whether any layer computes in float16 (then the loss is scaled; Keras looks at the model's policy only,
        which misses float16 layers in a float32 model)."""
        if config.dtype_policy().compute_dtype == "float16":
            return True
        return any(getattr(getattr(m, "dtype_policy", None), "compute_dtype", None) == "float16"
                   for m in self.model.modules())

    def _model_built(self) -> bool:
        return bool(getattr(self.model, "built", False))

    def _trainable(self) -> list[torch.Tensor]:
        if self._trainable_cache is not None:
            return self._trainable_cache
        return [w for w in self.model.trainable_weights]

    def _build_optimizer(self) -> None:
        """Build the optimizer on the model's trainable weights (at the first step, as Keras does)."""
        if self._optimizer_factory is not None and self.optimizer is None:
            opt = self._optimizer_factory(self._trainable())
            if not isinstance(opt, torch.optim.Optimizer):
                raise TypeError(f"The optimizer factory must return a torch.optim.Optimizer. Received: {opt!r}")
            self.optimizer = opt
        if isinstance(self.optimizer, optimizers.Optimizer) and not self.optimizer.built:
            with torch.no_grad():
                self.optimizer.build(self._trainable())

    @property
    def learning_rate(self) -> float:
        opt = self.optimizer
        if isinstance(opt, optimizers.Optimizer):
            return opt.learning_rate
        if opt is None:
            raise RuntimeError("The optimizer is not built yet; it is built at the first training step.")
        return float(opt.param_groups[0]["lr"])

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        opt = self.optimizer
        if isinstance(opt, optimizers.Optimizer):
            opt.learning_rate = value
            return
        for g in opt.param_groups:
            g["lr"] = float(value)

    def get_compile_config(self) -> dict:
        opt = self.optimizer
        loss = self.loss_spec
        return {"optimizer": None if opt is None else optimizers.to_config(opt),
                "loss": _loss_config(loss),
                "metrics": _metric_config(self.compile_metrics.spec),
                "weighted_metrics": _metric_config(self.compile_metrics.weighted_spec),
                "loss_weights": None if self.compile_loss is None else self.compile_loss.weight_spec}

    @staticmethod
    def compile_arguments(config: dict) -> dict:
        """``compile()`` arguments from a Keras ``compile_config``; ValueError for what glassnet lacks."""
        args: dict[str, Any] = {"optimizer": optimizers.from_config(config.get("optimizer")),
                                "loss": losses.from_config(config.get("loss"))}
        for key in ("metrics", "weighted_metrics"):
            value = config.get(key)
            if value:
                args[key] = metrics.from_config(value)
        if config.get("loss_weights") is not None:
            args["loss_weights"] = config["loss_weights"]
        return args

    # ------------------------------------------------------------------ devices
    def _device(self) -> torch.device:
        """Where the model's weights live; every batch goes there. The first parameter is looked up once and
        then asked each time (``model.to(device)`` moves parameters in place)."""
        first = self.__dict__.get("_first_weight")
        if first is not None:
            return first.device
        for t in self.model.parameters():
            self._first_weight = t
            return t.device
        for t in self.model.buffers():  # not kept: .to() replaces buffers with new tensors
            return t.device
        return torch.device("cpu")

    @staticmethod
    def _to_device(batch, device: torch.device):
        """The one place data moves: every tensor of a batch structure to ``device`` (non-blocking from pinned
        memory on CUDA)."""
        if device.type == "cpu":
            return batch
        return map_structure(lambda t: t.to(device, non_blocking=True) if isinstance(t, torch.Tensor) else t, batch)

    def _float_dtype(self) -> torch.dtype:
        inputs = getattr(self.model, "inputs", None) or []
        return float_dtype(inputs[0].dtype) if inputs else torch.float32

    def _cast_inputs(self, x):
        """int and bool arrays given to float inputs take the input's declared dtype, as Keras casts them."""
        inputs = getattr(self.model, "inputs", None) or []
        if not inputs:
            return map_structure(lambda t: t.float() if isinstance(t, torch.Tensor) and t.dtype == torch.bool else t,
                                 x, skip_none=True)
        flat = self.model.flatten_inputs(x)
        if len(flat) != len(inputs):
            return x
        cast = []
        for t, sym in zip(flat, inputs):
            want = to_torch(sym.dtype)
            if isinstance(t, torch.Tensor) and want.is_floating_point and not t.is_floating_point():
                t = t.to(want)
            cast.append(t)
        if isinstance(x, dict):
            return dict(zip(self.model.input_names, cast))
        if isinstance(x, (list, tuple)):
            return type(x)(cast)
        return cast[0]

    # ------------------------------------------------------------------ the steps (Keras's torch contract)
    def forward(self, x, training: bool):
        """Run the model once: ``(y_pred in the model's structure, flat outputs, flat masks)``."""
        runner = self.ddp if (training and self.ddp is not None) else None
        outs, masks = runner(x, training) if runner is not None else self.model.run(x, training=training)
        return self.model.structure_outputs(outs), outs, masks

    def _targets(self, y, n_outputs: int) -> list:
        if y is None:
            return [None] * n_outputs
        names = self.output_names or []
        if isinstance(y, dict):
            unknown = [k for k in y if k not in names]
            if unknown:
                raise ValueError(f"y is a dict with keys {unknown} that name no output; the model's outputs are "
                                 f"{names}. Key y by output name.")
            return [y.get(n) for n in names]
        ys = list(y) if isinstance(y, (list, tuple)) else [y]
        if len(ys) != n_outputs:
            raise ValueError(f"The model has {n_outputs} output(s) {names} but {len(ys)} target array(s) were given "
                             "in y. Pass one target per output (a list in output order, or a dict by output name).")
        return ys

    def _ensure_compiled(self, ys, outs) -> None:
        if self.output_names is None:
            self.output_names = list(self.model.output_names_for(outs))
        if self.compile_loss is not None and not self.compile_loss.built:
            self.compile_loss.build(self.output_names, ys, outs)
            self._metrics_cache = None  # the per-output loss trackers are new metrics
        if not self.compile_metrics.built:
            self.compile_metrics.build(self.output_names, ys, outs)
            self._metrics_cache = None

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True, masks=None):
        """The compiled loss of the outputs plus ``model.losses`` (regularizers, ``add_loss``)."""
        outs = flatten(y_pred) if not isinstance(y_pred, torch.Tensor) else [y_pred]
        ys = self._targets(y, len(outs))
        self._ensure_compiled(ys, outs)
        terms = []
        if self.compile_loss is not None:
            value = self.compile_loss(ys, outs, sample_weight, masks)
            if value is not None:
                terms.append(value)
        for extra in self.model.losses:
            extra = extra if extra.is_floating_point() else extra.float()
            terms.append(extra.sum())
        if not terms:
            raise ValueError("No loss to compute. Provide a `loss` argument in `compile()`.")
        return terms[0] if len(terms) == 1 else torch.stack([t.float() for t in terms]).sum()

    def compute_metrics(self, x, y, y_pred, sample_weight=None, masks=None) -> dict:
        """Update the compiled metrics and return every metric's result (``model.metrics``)."""
        outs = flatten(y_pred) if not isinstance(y_pred, torch.Tensor) else [y_pred]
        ys = self._targets(y, len(outs))
        self._ensure_compiled(ys, outs)
        self.compile_metrics.update(ys, outs, sample_weight, masks)
        return self.get_metrics_result()

    def _metric_objects(self) -> list:
        if not self._caching:
            return self.model.metrics
        if self._metrics_cache is None:
            self._metrics_cache = list(self.model.metrics)
        return self._metrics_cache

    @contextmanager
    def _cached(self):
        """During fit/evaluate the trainable weights and the metric list are read once (not at every step)."""
        self._caching, self._metrics_cache = True, None
        self._trainable_cache = list(self.model.trainable_weights) if self._model_built() else None
        try:
            yield
        finally:
            self._caching, self._metrics_cache, self._trainable_cache = False, None, None

    def get_metrics_result(self) -> dict:
        out = {}
        for m in self._metric_objects():
            r = m.result()
            if isinstance(r, dict):
                out.update(r)
            else:
                out[m.name] = r
        return out

    def own_metrics(self) -> list:
        """Keras's order: the loss tracker, the compiled metrics, then the per-output loss trackers."""
        if self.loss_spec is None and not self.compile_metrics.spec and not self.compile_metrics.weighted_spec:
            own = [self.loss_tracker] if self.compile_loss is not None else []
        else:
            own = [self.loss_tracker, self.compile_metrics]
        if self.compile_loss is not None:
            own += self.compile_loss.metrics
        return own

    def _model_loss(self, x, y, y_pred, sw, masks, training: bool):
        model = self.model
        if _default(model, "compute_loss"):
            return self.compute_loss(x, y, y_pred, sw, training=training, masks=masks)
        params = inspect.signature(model.compute_loss).parameters
        if "training" in params:
            return model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sw, training=training)
        return model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sw)

    def _model_metrics(self, x, y, y_pred, sw, masks):
        if _default(self.model, "compute_metrics"):
            return self.compute_metrics(x, y, y_pred, sw, masks=masks)
        return self.model.compute_metrics(x, y, y_pred, sample_weight=sw)

    def train_step(self, data) -> dict:
        """One optimizer step on one batch; returns the logs (Keras's torch ``train_step``)."""
        x, y, sw = _unpack(data)
        y_pred, outs, masks = self.forward(x, training=True)
        self.model.zero_grad(set_to_none=True)
        loss = self._model_loss(x, y, y_pred, sw, masks, training=True)
        self.loss_tracker.update_state(loss.detach(), sample_weight=first_length(x) or 1)
        opt = self.optimizer
        if opt is None or (isinstance(opt, optimizers.Optimizer) and not opt.built):
            self._build_optimizer()
            opt = self.optimizer
        trainable = self._trainable()
        if trainable:
            scaled = opt.scale_loss(loss) if hasattr(opt, "scale_loss") else loss
            scaled.backward()
            self.apply_gradients(trainable)
        else:
            warnings.warn("The model does not have any trainable weights.", GlassnetWarning, stacklevel=2)
        return self._model_metrics(x, y, y_pred, sw, masks)

    def apply_gradients(self, trainable) -> None:
        opt = self.optimizer
        if isinstance(opt, optimizers.Optimizer):
            opt.apply([w.grad for w in trainable], trainable)
        else:
            opt.step()
            for w in trainable:  # torch's optimizers know nothing of Keras constraints
                constraint = getattr(w, "constraint", None)
                if constraint is not None:
                    with torch.no_grad():
                        w.copy_(constraint(w))

    def test_step(self, data) -> dict:
        x, y, sw = _unpack(data)
        y_pred, outs, masks = self.forward(x, training=False)
        loss = self._model_loss(x, y, y_pred, sw, masks, training=False)
        self.loss_tracker.update_state(loss.detach(), sample_weight=first_length(x) or 1)
        return self._model_metrics(x, y, y_pred, sw, masks)

    def predict_step(self, data):
        x, _, _ = _unpack(data)
        y_pred, _, _ = self.forward(x, training=False)
        return y_pred

    # ------------------------------------------------------------------ fit
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1,
            resume=None):
        model = self.model
        verbose = resolve_verbose(verbose)
        callbacks = list(callbacks or [])
        V.check_arguments("fit()", batch_size=batch_size, epochs=epochs, initial_epoch=initial_epoch,
                          steps_per_epoch=steps_per_epoch, validation_steps=validation_steps,
                          validation_batch_size=validation_batch_size, validation_freq=validation_freq)
        batch_size = batch_size or 32
        device = self._device()
        pin = device.type == "cuda"
        if validation_split and validation_data is None:
            x, y, sample_weight, validation_data = V.split_validation(x, y, sample_weight, validation_split)
        data = make_data(x, y, sample_weight, batch_size, shuffle, self._float_dtype(), pin)
        if class_weight is not None:
            if not isinstance(data, ArrayData):
                raise ValueError("class_weight needs array data; for a dataset or iterable put the weights in the "
                                 "batches as (x, y, sample_weight).")
            data.sw = self._class_weights(data.y, class_weight, data.sw)
        custom_step = not _default(model, "train_step")
        self._check_data(data, "x", training=True, custom_step=custom_step)
        val = None
        if validation_data is not None:
            vx, vy, vsw = V.unpack_validation(validation_data)
            val = make_data(vx, vy, vsw, validation_batch_size or batch_size, False, self._float_dtype(), pin)
            self._check_data(val, "validation_data", training=False, custom_step=not _default(model, "test_step"))
        if distributed.is_distributed() or distributed.launched():
            if custom_step:
                raise ConfigError("fit(): this model overrides train_step, and its gradients would not be averaged "
                                  "across processes. Data-parallel training runs the default train_step only.")
        self._prepare(data)
        self.ddp = distributed.maybe_distribute(_Runner(model), data, val, self.ddp)
        history = cbs.History()
        steps = steps_per_epoch or data.num_batches()
        params = {"epochs": epochs, "steps": steps, "verbose": verbose}
        progress = cbs.ProgbarLogger() if verbose else None
        user_progbar = any(isinstance(cb, cbs.ProgbarLogger) for cb in callbacks)
        all_cbs = callbacks + ([progress] if progress and not user_progbar else []) + [history]
        cb = cbs.CallbackList(all_cbs, model, params)
        if resume is not None:
            self._build_optimizer()
            initial_epoch = resume()
        with self._cached(), self._threads_for(data):
            model.stop_training = False
            model._initial_epoch = None
            cb.on_train_begin({})
            if model._initial_epoch:  # BackupAndRestore found a backup
                initial_epoch = max(initial_epoch, model._initial_epoch)
            epoch_logs: dict[str, Any] = {}
            for epoch in range(initial_epoch, epochs):
                model.reset_metrics()
                model.train()
                cb.on_epoch_begin(epoch, {})
                logs: dict = {}
                ran = 0
                for step, batch in enumerate(data.batches(epoch, steps_per_epoch)):
                    if cb.has_on_train_batch_begin:
                        cb.on_train_batch_begin(step, {})
                    if isinstance(data, IterableData):
                        batch = self._check_batch(batch, step, "x", training=True, custom_step=custom_step)
                    xb, yb, swb = self._to_device(batch, device)
                    logs = model.train_step(_pack(xb, yb, swb))
                    ran += 1
                    if cb.has_on_train_batch_end:
                        cb.on_train_batch_end(step, pythonify(logs))
                    if model.stop_training:
                        break
                if ran == 0:
                    if epoch == initial_epoch:
                        raise ValueError("fit(): the data gave no batch, so nothing was trained. Pass at least one "
                                         "sample (an empty iterable or array trains nothing).")
                    warnings.warn("Your input ran out of data; interrupting training. Make sure that your dataset or "
                                  "generator can generate at least `steps_per_epoch * epochs` batches.", GlassnetWarning,
                                  stacklevel=3)
                    break
                data.end_epoch()
                self._reduce_metrics()
                epoch_logs = pythonify(self._metrics_or_logs(logs))
                model.eval()
                if val is not None and V.should_validate(epoch, validation_freq):
                    cb.on_test_begin({})
                    val_logs = self._evaluate_data(val, validation_steps, cb)
                    cb.on_test_end(val_logs)
                    epoch_logs.update({"val_" + k: v for k, v in val_logs.items()})
                model._epoch = epoch + 1
                cb.on_epoch_end(epoch, epoch_logs)
                if model.stop_training:
                    break
                if isinstance(data, IterableData) and data.exhausted and steps_per_epoch is not None:
                    warnings.warn("Your input ran out of data; interrupting training. Make sure that your dataset or "
                                  "generator can generate at least `steps_per_epoch * epochs` batches.", GlassnetWarning,
                                  stacklevel=3)
                    break
            if isinstance(self.optimizer, optimizers.Optimizer) and epochs > 0:
                self.optimizer.finalize_variable_values(self._trainable())
            cb.on_train_end(epoch_logs)
            model.eval()
            history.model = model
            history.params = params
        return history

    def _prepare(self, data) -> None:
        """Build an unbuilt (subclassed) model on the first batch's shapes, and the optimizer on its weights."""
        if not self._model_built() and isinstance(data, ArrayData) and data.n:
            xb, _, _ = data.first_batch()
            self.model.build_for(self._cast_inputs(xb))
        if self._model_built():
            self._build_optimizer()

    def _metrics_or_logs(self, logs: dict) -> dict:
        """The metrics' results when the step returned the model's metrics (Keras's rule), else the last logs."""
        results = self.get_metrics_result()
        flat = {}
        for k, v in (logs or {}).items():
            if isinstance(v, dict):
                flat.update(v)
            else:
                flat[k] = v
        return results if set(flat) == set(results) else flat

    def _class_weights(self, y, class_weight, sw):
        if isinstance(y, (list, dict, tuple)):
            raise ValueError("class_weight is supported for single-output models only; use sample_weight instead.")
        if y is None:
            raise ValueError("class_weight needs labels: pass y to fit().")
        if not isinstance(class_weight, dict):
            raise TypeError(f"class_weight must be a dict {{class index: weight}}. Received: {class_weight!r}")
        bad = {k: v for k, v in class_weight.items() if not isinstance(v, (int, float)) or not math.isfinite(v)}
        if bad:
            raise ValueError(f"class_weight has {len(bad)} non-finite or non-numeric weight(s): {bad}. Give every "
                             "class a finite number.")
        labels = y.argmax(-1) if (y.ndim > 1 and y.shape[-1] > 1) else y.reshape(len(y), -1)[:, 0].long()
        missing = set(torch.unique(labels).tolist()) - {int(k) for k in class_weight}
        if missing:
            raise ValueError(f"class_weight has no entry for classes {sorted(missing)} present in y.")
        table = torch.zeros(int(labels.max()) + 1 if labels.numel() else 1, dtype=torch.float32)
        for k, v in class_weight.items():
            if int(k) < len(table):
                table[int(k)] = float(v)
        w = table[labels.cpu()].to(labels.device)
        return w if sw is None else sw * w

    def _reduce_metrics(self) -> None:
        """Sum every metric's state across processes (data-parallel), so each rank logs the global numbers."""
        if not distributed.is_distributed():
            return
        states = []
        for m in self._metric_objects():
            states.extend(m.state_tensors() if hasattr(m, "state_tensors") else m.variables)
        if not states:
            return
        flat = torch.cat([s.detach().reshape(-1).cpu().double() for s in states])
        flat = distributed.all_reduce_sum(flat)
        offset = 0
        for s in states:
            n = s.numel()
            s.copy_(flat[offset:offset + n].reshape(s.shape).to(device=s.device, dtype=s.dtype))
            offset += n

    # ------------------------------------------------------------------ checks before training
    def _check_data(self, data, what: str, training: bool, custom_step: bool) -> None:
        """Everything that can be known before the first step (V.check_arrays does the array checks)."""
        model = self.model
        if isinstance(data, IterableData):
            if data.is_iterator:
                return
            if data.num_batches() == 0:
                raise ValueError(f"{'fit' if training else 'evaluate'}(): {what} is an empty dataset or iterable; "
                                 "there is nothing to train on. Pass at least one batch.")
            return
        V.check_arrays(self, data, what, training=training, custom_step=custom_step)
        data.x = self._cast_inputs(data.x)
        if model.built and getattr(model, "inputs", None):
            for t, a in zip(model.inputs, model.flatten_inputs(data.x)):
                try:
                    model.check_input_shape(t, tuple(a.shape))
                except ShapeError as exc:
                    if what == "x":
                        raise
                    raise ShapeError(f"{what}: {exc}") from exc
        if data.y is not None and getattr(model, "outputs", None) and not custom_step:
            ys = self._targets(data.y, len(model.outputs)) if self.output_names else \
                (list(data.y) if isinstance(data.y, (list, tuple)) else [data.y])
            V.check_labels(self, ys, what)

    def _check_batch(self, batch, step: int, what: str, training: bool, custom_step: bool):
        """An iterable's batch checked before its step: rows of x, y and weights agree, values are finite."""
        x, y, sw = batch
        x = self._cast_inputs(x)
        V.check_batch(self, x, y, sw, step, what, custom_step=custom_step)
        return x, y, sw

    # ------------------------------------------------------------------ evaluate / predict
    def _evaluate_data(self, data, steps=None, cb=None) -> dict[str, float]:
        if not self._caching:
            with self._cached():
                return self._evaluate_data(data, steps, cb)
        model = self.model
        model.reset_metrics()
        model.eval()
        device = self._device()
        logs: dict = {}
        custom = not _default(model, "test_step")
        with torch.no_grad():
            for step, batch in enumerate(data.batches(0, steps)):
                if cb is not None:
                    cb.on_test_batch_begin(step, {})
                if isinstance(data, IterableData):
                    batch = self._check_batch(batch, step, "x", training=False, custom_step=custom)
                xb, yb, swb = self._to_device(batch, device)
                logs = model.test_step(_pack(xb, yb, swb))
                if cb is not None:
                    cb.on_test_batch_end(step, pythonify(logs))
                if getattr(model, "stop_evaluating", False):
                    break
        self._reduce_metrics()
        return pythonify(self._metrics_or_logs(logs))

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        V.check_arguments("evaluate()", batch_size=batch_size, steps=steps)
        device = self._device()
        data = make_data(x, y, sample_weight, batch_size or 32, False, self._float_dtype(), device.type == "cuda")
        self._check_data(data, "x", training=False, custom_step=not _default(self.model, "test_step"))
        if not self._model_built() and isinstance(data, ArrayData) and data.n:
            self.model.build_for(self._cast_inputs(data.first_batch()[0]))
        distributed.distribute_eval(data)
        cb = cbs.CallbackList(list(callbacks or []), self.model, {"steps": steps or data.num_batches(),
                                                                  "verbose": verbose})
        cb.on_test_begin({})
        with self._threads_for(data):
            logs = self._evaluate_data(data, steps, cb)
        cb.on_test_end(logs)
        if resolve_verbose(verbose):
            print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items() if isinstance(v, float)))
        if return_dict:
            return logs
        return self._flatten_in_order(logs)

    def _flatten_in_order(self, logs: dict):
        names = []
        for m in self.model.metrics:
            if isinstance(m, CompileMetrics):
                names += [s.name for s in m.metrics]
            else:
                names.append(m.name)
        values = [logs[n] for n in names if n in logs] + [logs[k] for k in sorted(logs) if k not in names]
        return values[0] if len(values) == 1 else values

    def _threads_for(self, data):
        """The block's intra-op threads (glassnet.threads): one for a model whose step is small work (its
        forward multiply-adds on the first batch, from the model's ``work_per_step``), else as they were."""
        macs = None
        work = getattr(self.model, "work_per_step", None)
        if threads.requested() is None and work is not None and isinstance(data, ArrayData) and data.n:
            macs = work(self._cast_inputs(data.head()))  # no shuffle drawn: the random state stays as it is
        return threads.for_work(macs)

    def _predict_one_batch(self, x):
        """``predict`` of one array that fits in one batch, without callbacks: the data pipeline and the
        callback machinery are left out, so serving one sample costs little more than calling the model."""
        model = self.model
        as_numpy = not isinstance(x, torch.Tensor)
        xb = self._cast_inputs(to_tensor(x, self._float_dtype()))
        if xb.shape[0] == 0:
            raise ValueError("predict(): x is empty (0 samples). Pass at least one sample.")
        if model.built and getattr(model, "inputs", None) and len(model.inputs) == 1:
            model.check_input_shape(model.inputs[0], tuple(xb.shape))
        xb = self._to_device(xb, self._device())
        if model.training:
            model.eval()
        work = getattr(model, "work_per_step", None)
        macs = work(xb) if work is not None and threads.requested() is None else None
        with threads.for_work(macs, wait=False), torch.no_grad():  # serving one batch never sleeps to look
            out = model.predict_step((xb,))
        if not as_numpy:
            return out
        return map_structure(lambda t: (t.float() if t.dtype == torch.bfloat16 else t).detach().cpu().numpy(), out)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        model = self.model
        V.check_arguments("predict()", batch_size=batch_size, steps=steps)
        if (callbacks is None and steps is None and isinstance(x, (torch.Tensor, np.ndarray)) and x.ndim
                and (isinstance(x, torch.Tensor) or x.dtype.kind in "biuf")
                and x.shape[0] <= (batch_size or 32) and len(getattr(model, "inputs", None) or [None]) == 1):
            return self._predict_one_batch(x)
        as_numpy = not any(isinstance(t, torch.Tensor) for t in leaves(x)) if is_array_input(x) else True
        device = self._device()
        data = make_data(x, None, None, batch_size or 32, False, self._float_dtype(), device.type == "cuda")
        if isinstance(data, ArrayData):
            if data.n == 0:
                raise ValueError("predict(): x is empty (0 samples). Pass at least one sample.")
            data.x = self._cast_inputs(data.x)
            if model.built and getattr(model, "inputs", None):
                for t, a in zip(model.inputs, model.flatten_inputs(data.x)):
                    model.check_input_shape(t, tuple(a.shape))
        cb = cbs.CallbackList(list(callbacks or []), model, {"steps": steps, "verbose": verbose})
        model.eval()
        outs: list = []
        cb.on_predict_begin({})
        with torch.no_grad(), self._threads_for(data):
            for step, (xb, _, _) in enumerate(data.batches(0, steps)):
                cb.on_predict_batch_begin(step, {})
                xb = self._cast_inputs(self._to_device(xb, device))
                out = model.predict_step((xb,))
                outs.append(out)
                cb.on_predict_batch_end(step, {"outputs": out})
                if getattr(model, "stop_predicting", False):
                    break
        cb.on_predict_end({})
        if not outs:
            raise ValueError("predict() got no data.")
        first = outs[0]
        flat = [flatten(o) if not isinstance(o, torch.Tensor) else [o] for o in outs]
        cat = [torch.cat([f[i] for f in flat]) for i in range(len(flat[0]))]
        if as_numpy:  # numpy has no bfloat16: such outputs come back as float32, as Keras converts them
            cat = [(t.float() if t.dtype == torch.bfloat16 else t).detach().cpu().numpy() for t in cat]
        if isinstance(first, torch.Tensor):
            return cat[0]
        it = iter(cat)
        return map_structure(lambda _: next(it), first)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        device = self._device()
        dt = self._float_dtype()
        x = self._cast_inputs(map_structure(lambda a: to_tensor(a, dt), x, skip_none=True))
        y = map_structure(lambda a: to_tensor(a, dt), y, skip_none=True)
        sw = None if sample_weight is None else to_tensor(sample_weight, dt)
        if class_weight is not None:
            if sample_weight is not None:
                raise ValueError("Arguments `sample_weight` and `class_weight` cannot be specified at the same time.")
            sw = self._class_weights(y, class_weight, None)
        V.check_batch(self, x, y, sw, 0, "x", custom_step=not _default(self.model, "train_step"))
        if not self._model_built():
            self.model.build_for(x)
        x, y, sw = self._to_device((x, y, sw), device)
        self.model.reset_metrics()
        self.model.train()
        logs = pythonify(self.model.train_step(_pack(x, y, sw)))
        self.model.eval()
        return logs if return_dict else self._flatten_in_order(logs)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        data = make_data(x, y, sample_weight, first_length(x) or 1, False, self._float_dtype())
        data.x = self._cast_inputs(data.x)
        logs = self._evaluate_data(data)
        return logs if return_dict else self._flatten_in_order(logs)

    def predict_on_batch(self, x):
        return self.predict(x, batch_size=first_length(x) or 1, verbose=0)


def _loss_config(loss):
    if loss is None:
        return None
    if isinstance(loss, (list, tuple)):
        return [_loss_config(l) for l in loss]
    if isinstance(loss, dict):
        return {k: _loss_config(v) for k, v in loss.items()}
    if isinstance(loss, str):
        return loss
    return losses.serialize(loss if isinstance(loss, losses.Loss) else losses.get(loss))


def _metric_config(spec):
    if not spec:
        return None
    if isinstance(spec, dict):
        return {k: _metric_config(v) for k, v in spec.items()}
    if isinstance(spec, (list, tuple)):
        out = [_metric_config(m) if isinstance(m, (list, tuple, dict)) else
               (m if isinstance(m, str) else (metrics.serialize(m) if isinstance(m, Metric) else
                                              getattr(m, "__name__", None)))
               for m in spec]
        return [o for o in out if o is not None] or None
    return _metric_config([spec])

