"""``Trainer``: what ``compile`` creates and ``fit`` / ``evaluate`` / ``predict`` run.

A Trainer owns the optimizer, the losses and metrics, the device and the data-parallel wrapper, and
drives the model through one explicit call, ``model.run(inputs, training) -> (outputs, masks)``. It
reads nothing private of the model: only ``run``, ``inputs``, ``outputs``, ``output_names``,
``input_names``, ``flatten_inputs``, ``check_input_shape``, ``parameters()`` and ``stop_training``.

The training step is what a hand-written PyTorch loop does — index a batch, move it to the model's
device (``_to_device``, the one place data moves), forward, loss, backward, optimizer step — with
metrics accumulated as tensors (no per-step device sync).
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import checks
from ..dtypes import float_dtype
from ..errors import ConfigError, GlassnetWarning
from ..structure import first_length, leaves, map_structure
from . import callbacks as cbs
from . import distributed, losses, metrics, optimizers
from .data import ArrayData, IterableData, make_data, slice_structure, to_tensor
from .progress import Progbar, resolve_verbose

__all__ = ["Trainer"]


class _Runner(nn.Module):
    """The model's ``run`` as a module's forward, so DistributedDataParallel can wrap it."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x, training: bool):
        return self.model.run(x, training=training)


def _per_output(spec, names: list[str], what: str) -> list:
    if isinstance(spec, dict):
        unknown = set(spec) - set(names)
        if unknown:
            raise ValueError(f"{what} names outputs {sorted(unknown)} the model does not have. Outputs: {names}.")
        return [spec.get(n) for n in names]
    if isinstance(spec, (list, tuple)) and not (isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str)):
        if len(spec) != len(names):
            raise ValueError(f"{what} has {len(spec)} entries but the model has {len(names)} outputs {names}.")
        return list(spec)
    return [spec] * len(names)


def _metric_specs(spec, names: list[str]) -> list[list]:
    spec = spec or []
    if isinstance(spec, dict):
        per = [spec.get(n, []) for n in names]
    elif len(names) > 1 and spec and all(isinstance(m, (list, tuple)) for m in spec):
        per = list(spec)
    else:
        per = [list(spec)] * len(names)
    out = [[m] if not isinstance(m, (list, tuple)) else list(m) for m in per]
    for specs in out:
        for m in specs:
            metrics.check_name(m)
    return out


class Trainer:
    """Training state for one model: optimizer, losses, metrics, device, DDP wrapper, callbacks."""

    def __init__(self, model, *, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                 weighted_metrics=None, run_eagerly=False, steps_per_execution=1, jit_compile="auto",
                 auto_scale_loss=True, _inference_only: bool = False):
        self.model = model
        self.output_names = list(model.output_names)
        self.ddp = None
        self.optimizer = None
        self.losses: list = [None] * len(self.output_names)
        self.loss_weights = [1.0] * len(self.output_names)
        self.metric_specs: list[list] = [[] for _ in self.output_names]
        self.weighted_specs: list[list] = [[] for _ in self.output_names]
        self.metrics: list[list] | None = None  # resolved at the first batch ("accuracy" needs shapes)
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
        checks.boolean("compile()", "auto_scale_loss", auto_scale_loss)  # nothing to scale without mixed precision
        self.losses = [None if l is None else losses.get(l) for l in _per_output(loss, self.output_names, "loss")]
        if all(l is None for l in self.losses):
            raise ValueError("compile() needs a loss, e.g. loss='mse'.")
        if loss_weights is not None:
            self.loss_weights = [1.0 if w is None else float(w)
                                 for w in _per_output(loss_weights, self.output_names, "loss_weights")]
        self.metric_specs = _metric_specs(metrics, self.output_names)
        self.weighted_specs = _metric_specs(weighted_metrics, self.output_names)
        self.optimizer_spec = optimizer
        self.optimizer = optimizers.get(optimizer, [p for p in model.parameters() if p.requires_grad])

    @classmethod
    def for_inference(cls, model) -> "Trainer":
        """A trainer that can only predict (an uncompiled model)."""
        return cls(model, _inference_only=True)

    # ------------------------------------------------------------------ configuration
    @property
    def learning_rate(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        for g in self.optimizer.param_groups:
            g["lr"] = float(value)

    def get_compile_config(self) -> dict:
        names = [losses.loss_name(l) if l is not None else None for l in self.losses]
        return {"optimizer": optimizers.to_config(self.optimizer),
                "loss": names[0] if len(names) == 1 else names,
                "metrics": [m for specs in self.metric_specs for m in specs if isinstance(m, str)] or None,
                "weighted_metrics": [m for specs in self.weighted_specs for m in specs if isinstance(m, str)] or None,
                "loss_weights": None if all(w == 1.0 for w in self.loss_weights) else self.loss_weights}

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
        """Where the model's weights live; every batch goes there."""
        for t in self.model.parameters():
            return t.device
        for t in self.model.buffers():
            return t.device
        return torch.device("cpu")

    @staticmethod
    def _to_device(batch, device: torch.device):
        """The one place data moves: every tensor of a batch structure to ``device``."""
        if device.type == "cpu":
            return batch
        return map_structure(lambda t: t.to(device, non_blocking=True) if isinstance(t, torch.Tensor) else t, batch)

    def _float_dtype(self) -> torch.dtype:
        return float_dtype(self.model.inputs[0].dtype if self.model.inputs else "float32")

    # ------------------------------------------------------------------ one step
    def _resolve_metrics(self, ys, outs) -> None:
        resolved = []
        for specs, wspecs, lf, t, o in zip(self.metric_specs, self.weighted_specs, self.losses, ys, outs):
            name = losses.loss_name(lf) if lf is not None else ""
            row = [(metrics.get(m, name, t, o), False) for m in specs]
            row += [(metrics.get(m, name, t, o), True) for m in wspecs]
            resolved.append(row)
        if len(outs) > 1:
            for out_name, row in zip(self.output_names, resolved):
                for m, _ in row:
                    m.name = f"{out_name}_{m.name}"
        self.metrics = resolved

    def _targets(self, y, n_outputs: int) -> list:
        if isinstance(y, dict):
            missing = [n for n in self.output_names if n not in y]
            if missing:
                raise ValueError(f"y is a dict without targets for outputs {missing}; the model's outputs are "
                                 f"{self.output_names}.")
            return [y[n] for n in self.output_names]
        ys = list(y) if isinstance(y, (list, tuple)) else [y]
        if len(ys) != n_outputs:
            raise ValueError(f"The model has {n_outputs} outputs but {len(ys)} targets were given.")
        return ys

    def _losses_and_update(self, x, y, sw, training: bool):
        runner = self.ddp if (training and self.ddp is not None) else None
        outs, masks = runner(x, training) if runner is not None else self.model.run(x, training=training)
        ys = self._targets(y, len(outs))
        if self.metrics is None:
            self._resolve_metrics(ys, outs)
        total = None
        for i, (lf, o, t) in enumerate(zip(self.losses, outs, ys)):
            if lf is None:
                continue
            mask = masks[i] if i < len(masks) else None
            use_mask = None
            if mask is None and sw is None and hasattr(lf, "mean"):
                value = lf.mean(t, o)
            else:
                values = lf(t, o)
                use_mask = mask if (mask is not None and tuple(mask.shape) == tuple(values.shape)) else None
                value = losses.reduce_loss(values, sw, use_mask)
            term = value * self.loss_weights[i]
            total = term if total is None else total + term
            # metrics are unweighted and weighted_metrics weighted by sample_weight, as in Keras; both skip
            # masked steps
            for m, weighted in self.metrics[i]:
                m.update_state(t, o.detach(), sw if weighted else None, use_mask)
        if total is None:
            raise ValueError("No loss to minimise: every output's loss is None.")
        return total

    def _train_step(self, x, y, sw):
        self.optimizer.zero_grad(set_to_none=True)
        loss = self._losses_and_update(x, y, sw, training=True)
        loss.backward()
        self.optimizer.step()
        return loss

    def _reset_metrics(self):
        for m in self._metric_list():
            m.reset_state()

    def _metric_list(self) -> list:
        return [m for row in (self.metrics or []) for m, _ in row]

    def _results(self, loss_sum, count, return_dict):
        logs = {"loss": float(loss_sum) / max(count, 1)}
        for m in self._metric_list():
            logs[m.name] = m.result()
        if return_dict:
            return logs
        return logs["loss"] if len(logs) == 1 else list(logs.values())

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        dt = self._float_dtype()
        device = self._device()
        x = map_structure(lambda a: to_tensor(a, dt), x, skip_none=True)
        y = map_structure(lambda a: to_tensor(a, dt), y, skip_none=True)
        sw = None if sample_weight is None else to_tensor(sample_weight, dt)
        if class_weight is not None:
            sw = self._class_weights(y, class_weight, sw)
        x, y, sw = self._to_device((x, y, sw), device)
        self._reset_metrics()
        self.model.train()
        loss = self._train_step(x, y, sw)
        return self._results(loss.detach(), 1, return_dict)

    # ------------------------------------------------------------------ checks before training
    def _check_data(self, data, callbacks):
        if not isinstance(data, ArrayData):
            return
        model = self.model
        xs = model.flatten_inputs(data.x)
        if len(xs) != len(model.inputs):
            raise ValueError(f"Model '{model.name}' has {len(model.inputs)} input(s) but x holds {len(xs)} array(s).")
        ys = leaves(data.y)
        lengths = {len(a) for a in xs + ys}
        if data.sw is not None:
            lengths.add(len(data.sw))
        if len(lengths) > 1:
            raise ValueError(
                f"Data cardinality is ambiguous: x, y (and sample_weight) must have the same number of samples. "
                f"Received sizes: x {[len(a) for a in xs]}, y {[len(a) for a in ys]}"
                + (f", sample_weight {len(data.sw)}" if data.sw is not None else "") + ".")
        for t, a in zip(model.inputs, xs):
            model.check_input_shape(t, tuple(a.shape))
        bad = [i for i, a in enumerate(xs) if a.is_floating_point() and not bool(torch.isfinite(a).all())]
        if bad:
            msg = (f"Input array(s) {bad} contain NaN or infinite values; training on them gives a NaN loss. "
                   "Clean the data (e.g. np.nan_to_num) first.")
            if any(isinstance(cb, cbs.TerminateOnNaN) for cb in callbacks):
                raise ValueError(msg)
            warnings.warn(msg, GlassnetWarning, stacklevel=4)
        if data.y is not None:
            ys = self._targets(data.y, len(model.outputs))
            for lf, yt, out in zip(self.losses, ys, model.outputs):
                if lf is not None and "sparse_categorical" in losses.loss_name(lf) and yt.numel():
                    n_cls = out.symbolic_shape[-1]
                    lo, hi = int(yt.min()), int(yt.max())
                    if isinstance(n_cls, int) and (lo < 0 or hi >= n_cls):
                        raise ValueError(
                            f"Labels for output '{out.layer.name}' must be in [0, {n_cls}) for "
                            f"sparse_categorical_crossentropy, but they range over [{lo}, {hi}]. "
                            f"Use labels 0..{n_cls - 1}, or give the last layer {hi + 1} units.")

    # ------------------------------------------------------------------ fit
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1,
            resume=None):
        model = self.model
        verbose = resolve_verbose(verbose)
        callbacks = list(callbacks or [])
        batch_size = batch_size or 32
        dt = self._float_dtype()
        if validation_split and validation_data is None:
            if not 0 < validation_split < 1:
                raise ValueError(f"validation_split must be in (0, 1). Received: validation_split={validation_split}")
            if not isinstance(x, (np.ndarray, torch.Tensor, list, dict)):
                raise ValueError("validation_split needs array inputs; pass validation_data for datasets and iterables.")
            n = first_length(x)
            split = int(n * (1 - validation_split))

            def cut(s, a, b):
                return slice_structure(s, slice(a, b)) if s is not None else None
            validation_data = (cut(x, split, n), cut(y, split, n)) + (
                (sample_weight[split:],) if sample_weight is not None else ())
            x, y = cut(x, 0, split), cut(y, 0, split)
            sample_weight = sample_weight[:split] if sample_weight is not None else None
        data = make_data(x, y, sample_weight, batch_size, shuffle, dt)
        if class_weight is not None and isinstance(data, ArrayData):
            data.sw = self._class_weights(data.y, class_weight, data.sw)
        self._check_data(data, callbacks)
        val = None
        if validation_data is not None:
            vd = validation_data
            if isinstance(vd, (tuple, list)) and len(vd) in (2, 3) and not isinstance(vd[0], tuple):
                val = make_data(vd[0], vd[1], vd[2] if len(vd) == 3 else None, validation_batch_size or batch_size,
                                False, dt)
            else:
                val = make_data(vd, None, None, validation_batch_size or batch_size, False, dt)
            self._check_data(val, callbacks)
        self.ddp = distributed.maybe_distribute(_Runner(model), data, val, self.ddp)
        history = cbs.History()
        progress = _ProgressCallback(verbose) if verbose else None
        all_cbs = callbacks + ([progress] if progress else []) + [history]
        steps = steps_per_epoch or (len(data) if len(data) is not None else None)
        cb = cbs.CallbackList(all_cbs, model, {"epochs": epochs, "steps": steps, "verbose": verbose})
        if resume is not None:
            initial_epoch = resume()
        device = self._device()
        model.stop_training = False
        want_batch_logs = cb.has_on_train_batch_end or verbose == 1
        cb.on_train_begin({})
        logs: dict[str, Any] = {}
        for epoch in range(initial_epoch, epochs):
            self._reset_metrics()
            model.train()
            cb.on_epoch_begin(epoch, {})
            loss_sum, count = torch.zeros((), dtype=torch.float64, device=device), 0
            for step, batch in enumerate(data.batches(epoch)):
                if steps_per_epoch is not None and step >= steps_per_epoch:
                    break
                if cb.has_on_train_batch_begin:
                    cb.on_train_batch_begin(step, {})
                xb, yb, swb = self._to_device(batch, device)
                loss = self._train_step(xb, yb, swb)
                n = first_length(xb)
                loss_sum.add_(loss.detach(), alpha=n)
                count += n
                if want_batch_logs:
                    batch_logs = {"loss": float(loss_sum) / count, **{m.name: m.result() for m in self._metric_list()}}
                    cb.on_train_batch_end(step, batch_logs)
                if model.stop_training:
                    break
            loss_sum, count = self._reduce_across_processes(loss_sum, count)
            logs = self._results(loss_sum, count, return_dict=True)
            if val is not None and (epoch + 1 - initial_epoch) % validation_freq == 0:
                val_logs = self._evaluate_data(val, validation_steps)
                logs.update({"val_" + k: v for k, v in val_logs.items()})
            model._epoch = epoch + 1
            cb.on_epoch_end(epoch, logs)
            if model.stop_training:
                break
        cb.on_train_end(logs)
        model.eval()
        history.model = model
        history.params = {"epochs": epochs, "steps": steps, "verbose": verbose}
        return history

    def _class_weights(self, y, class_weight, sw):
        if isinstance(y, (list, dict, tuple)):
            raise ValueError("class_weight is supported for single-output models only; use sample_weight instead.")
        labels = y.argmax(-1) if (y.ndim > 1 and y.shape[-1] > 1) else y.reshape(len(y), -1)[:, 0].long()
        table = torch.zeros(int(labels.max()) + 1, dtype=torch.float32)
        for k, v in class_weight.items():
            if int(k) < len(table):
                table[int(k)] = float(v)
        missing = set(torch.unique(labels).tolist()) - {int(k) for k in class_weight}
        if missing:
            raise ValueError(f"class_weight has no entry for classes {sorted(missing)} present in y.")
        w = table[labels.cpu()].to(labels.device)
        return w if sw is None else sw * w

    def _reduce_across_processes(self, loss_sum, count):
        if not distributed.is_distributed():
            return loss_sum, count
        states = [loss_sum.reshape(1).cpu(), torch.tensor([float(count)], dtype=torch.float64)] + \
                 [m.state_tensor() for m in self._metric_list()]
        flat_t = distributed.all_reduce_sum(torch.cat(states))
        loss_sum, count = flat_t[0], int(flat_t[1])
        offset = 2
        for m in self._metric_list():
            m.set_state_tensor(flat_t[offset:offset + 2])
            offset += 2
        return loss_sum, count

    # ------------------------------------------------------------------ evaluate / predict
    def _evaluate_data(self, data, steps=None, cb=None) -> dict[str, float]:
        self._reset_metrics()
        model = self.model
        model.eval()
        device = self._device()
        loss_sum, count = torch.zeros((), dtype=torch.float64, device=device), 0
        with torch.inference_mode():
            for step, batch in enumerate(data.batches()):
                if steps is not None and step >= steps:
                    break
                if cb is not None:
                    cb.on_test_batch_begin(step, {})
                xb, yb, swb = self._to_device(batch, device)
                loss = self._losses_and_update(xb, yb, swb, training=False)
                n = first_length(xb)
                loss_sum += loss.double() * n
                count += n
                if cb is not None:
                    cb.on_test_batch_end(step, {"loss": float(loss_sum) / count})
        loss_sum, count = self._reduce_across_processes(loss_sum, count)
        return self._results(loss_sum, count, return_dict=True)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        data = make_data(x, y, sample_weight, batch_size or 32, False, self._float_dtype())
        self._check_data(data, [])
        distributed.distribute_eval(data)
        cb = cbs.CallbackList(list(callbacks or []), self.model, {"steps": steps, "verbose": verbose})
        cb.on_test_begin({})
        logs = self._evaluate_data(data, steps, cb)
        cb.on_test_end(logs)
        if resolve_verbose(verbose):
            print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
        if return_dict:
            return logs
        return logs["loss"] if len(logs) == 1 else list(logs.values())

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        model = self.model
        as_numpy = not isinstance(x, IterableData) and not any(isinstance(t, torch.Tensor) for t in leaves(x))
        data = make_data(x, None, None, batch_size or 32, False, self._float_dtype())
        if isinstance(data, ArrayData):
            for t, a in zip(model.inputs, model.flatten_inputs(data.x)):
                model.check_input_shape(t, tuple(a.shape))
        device = self._device()
        cb = cbs.CallbackList(list(callbacks or []), model, {"steps": steps, "verbose": verbose})
        model.eval()
        outs: list = []
        cb.on_predict_begin({})
        with torch.inference_mode():
            for step, (xb, _, _) in enumerate(data.batches()):
                if steps is not None and step >= steps:
                    break
                cb.on_predict_batch_begin(step, {})
                out, _ = model.run(self._to_device(xb, device), training=False)
                outs.append(out)
                cb.on_predict_batch_end(step, {"outputs": out if len(out) > 1 else out[0]})
        cb.on_predict_end({})
        if not outs:
            raise ValueError("predict() got no data.")
        cat = [torch.cat([o[i] for o in outs]) for i in range(len(outs[0]))]
        if as_numpy:
            cat = [t.cpu().numpy() for t in cat]
        return cat[0] if len(cat) == 1 else cat

    def predict_on_batch(self, x):
        return self.predict(x, batch_size=first_length(x) or 1, verbose=0)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        data = make_data(x, y, sample_weight, first_length(x), False, self._float_dtype())
        logs = self._evaluate_data(data)
        return logs if return_dict else (logs["loss"] if len(logs) == 1 else list(logs.values()))


class _ProgressCallback(cbs.Callback):
    """Prints the Keras progress bar (verbose=1) or a line per epoch (verbose=2); rank 0 only."""

    def __init__(self, verbose: int):
        super().__init__()
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        self.active = distributed.is_main_process()
        if self.active:
            print(f"Epoch {epoch + 1}/{self.params['epochs']}")
            self.bar = Progbar(self.params.get("steps"), self.verbose)
        self.seen = 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen = batch + 1
        if self.active and self.verbose == 1:
            self.bar.update(self.seen, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.active:
            self.bar.update(self.seen or self.params.get("steps") or 0, logs, finalize=True)
