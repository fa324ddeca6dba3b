"""``compile`` / ``fit`` / ``evaluate`` / ``predict`` with Keras behaviour, as a mixin of ``Model``.

The training step is what a hand-written PyTorch loop does — index a batch, forward, loss,
backward, optimizer step — with metrics accumulated as tensors (no per-step device sync).
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from . import callbacks as cbs
from . import losses as L
from . import metrics as M
from . import optimizers as O
from .data import ArrayData, IterableData, flat, make_data, map_struct, slice_structure, structure_len
from .progress import Progbar, resolve_verbose

__all__ = ["TrainingMixin"]


class _Compiled:
    def __init__(self, model, optimizer, loss, metrics, loss_weights):
        n_out = len(model._outputs)
        names = [t.layer.name for t in model._outputs]
        self.output_names = names
        self.losses = self._per_output(loss, names, "loss")
        self.losses = [None if l is None else L.get(l) for l in self.losses]
        if all(l is None for l in self.losses):
            raise ValueError("compile() needs a loss, e.g. loss='mse'.")
        if loss_weights is None:
            self.loss_weights = [1.0] * n_out
        else:
            self.loss_weights = [1.0 if w is None else float(w) for w in self._per_output(loss_weights, names, "loss_weights")]
        metric_spec = metrics or []
        if isinstance(metric_spec, dict):
            per = [metric_spec.get(n, []) for n in names]
        elif n_out > 1 and metric_spec and all(isinstance(m, (list, tuple)) for m in metric_spec):
            per = list(metric_spec)
        else:
            per = [list(metric_spec)] * n_out
        self.metric_specs = [[m] if not isinstance(m, (list, tuple)) else list(m) for m in per]
        for specs in self.metric_specs:
            for m in specs:
                M.check_name(m)
        self.metrics: list[list[M.Metric]] | None = None  # resolved at the first batch (accuracy needs shapes)
        self.optimizer_spec = optimizer

    @staticmethod
    def _per_output(spec, names, what):
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


class TrainingMixin:
    """Keras training API for ``Model`` (``compile``, ``fit``, ``evaluate``, ``predict`` …)."""

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, **kwargs):
        """Choose optimizer, loss(es) and metrics (Keras names, torch objects or callables)."""
        unknown = set(kwargs) - {"jit_compile", "run_eagerly", "steps_per_execution", "weighted_metrics", "auto_scale_loss"}
        if unknown:
            raise TypeError(f"compile() got unexpected arguments: {sorted(unknown)}")
        self._compiled = _Compiled(self, optimizer, loss, metrics, loss_weights)
        self.optimizer = O.get(optimizer, [p for p in self.parameters() if p.requires_grad])
        self.stop_training = False
        self._ddp = None

    @property
    def learning_rate(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        for g in self.optimizer.param_groups:
            g["lr"] = float(value)

    def _require_compiled(self, what: str) -> _Compiled:
        c = getattr(self, "_compiled", None)
        if c is None:
            raise RuntimeError(f"You must call compile() before {what}().")
        return c

    # ------------------------------------------------------------------ one step
    def _float_dtype(self) -> torch.dtype:
        dt = self._inputs[0].dtype if self._inputs else "float32"
        return {"float64": torch.float64, "float16": torch.float16, "bfloat16": torch.bfloat16}.get(dt, torch.float32)

    def _losses_and_update(self, x, y, sw, training: bool):
        c = self._compiled
        runner = self._ddp if (training and self._ddp is not None) else self
        out = runner(x, training=training)
        outs = out if isinstance(out, list) else [out]
        masks = self._last_masks
        ys = y if isinstance(y, (list, tuple)) else ([y] if not isinstance(y, dict) else [y[n] for n in c.output_names])
        if len(ys) != len(outs):
            raise ValueError(f"The model has {len(outs)} outputs but {len(ys)} targets were given.")
        if c.metrics is None:
            c.metrics = [[M.get(m, L.loss_name(lf) if lf is not None else "", t, o) for m in specs]
                         for specs, lf, t, o in zip(c.metric_specs, c.losses, ys, outs)]
            if len(outs) > 1:
                for name, ms in zip(c.output_names, c.metrics):
                    for m in ms:
                        m.name = f"{name}_{m.name}"
        total = None
        per_output = []
        for i, (lf, o, t) in enumerate(zip(c.losses, outs, ys)):
            mask = masks[i] if i < len(masks) else None
            if lf is None:
                per_output.append(None)
                continue
            if mask is None and sw is None and hasattr(lf, "mean"):
                values, use_mask = None, None
                value = lf.mean(t, o)
            else:
                values = lf(t, o)
                use_mask = mask if (mask is not None and tuple(mask.shape) == tuple(values.shape)) else None
                value = L.reduce_loss(values, sw, use_mask)
            per_output.append(value)
            term = value * c.loss_weights[i]
            total = term if total is None else total + term
            for m in c.metrics[i]:
                m.update_state(t, o.detach(), sw, use_mask)
        if total is None:
            raise ValueError("No loss to minimise: every output's loss is None.")
        return total, per_output

    def train_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """One optimizer step on one batch; returns the loss (and metrics)."""
        self._require_compiled("train_on_batch")
        dt = self._float_dtype()
        from .data import to_tensor
        x = map_struct(lambda a: to_tensor(a, dt), x)
        y = map_struct(lambda a: to_tensor(a, dt), y)
        sw = None if sample_weight is None else to_tensor(sample_weight, dt)
        self._reset_metrics()
        self.train()
        loss = self._train_step(x, y, sw)
        return self._results(loss.detach(), 1, return_dict)

    def _train_step(self, x, y, sw):
        self.optimizer.zero_grad(set_to_none=True)
        loss, _ = self._losses_and_update(x, y, sw, training=True)
        loss.backward()
        self.optimizer.step()
        return loss

    def _reset_metrics(self):
        c = self._compiled
        if c.metrics:
            for ms in c.metrics:
                for m in ms:
                    m.reset_state()

    def _metric_list(self) -> list[M.Metric]:
        c = self._compiled
        return [m for ms in (c.metrics or []) for m in ms]

    def _results(self, loss_sum, count, return_dict):
        logs = {"loss": float(loss_sum) / max(count, 1)}
        for m in self._metric_list():
            logs[m.name] = m.result()
        if return_dict:
            return logs
        return logs["loss"] if len(logs) == 1 else list(logs.values())

    # ------------------------------------------------------------------ checks before training
    def _check_data(self, data, callbacks):
        if not isinstance(data, ArrayData):
            return
        xs = flat(data.x)
        if len(xs) != len(self._inputs):
            raise ValueError(f"Model '{self.name}' has {len(self._inputs)} input(s) but x holds {len(xs)} array(s).")
        if isinstance(data.x, dict):
            xs = [data.x[t.layer.name] for t in self._inputs]
        lengths = {len(a) for a in xs + flat(data.y)}
        if data.sw is not None:
            lengths.add(len(data.sw))
        if len(lengths) > 1:
            raise ValueError(
                f"Data cardinality is ambiguous: x, y (and sample_weight) must have the same number of samples. "
                f"Received sizes: x {[len(a) for a in xs]}, y {[len(a) for a in flat(data.y)]}"
                + (f", sample_weight {len(data.sw)}" if data.sw is not None else "") + ".")
        for t, a in zip(self._inputs, xs):
            self._check_input_shape(t, tuple(a.shape))
        bad = [i for i, a in enumerate(xs) if a.is_floating_point() and not bool(torch.isfinite(a).all())]
        if bad:
            msg = (f"Input array(s) {bad} contain NaN or infinite values; training on them gives a NaN loss. "
                   "Clean the data (e.g. np.nan_to_num) first.")
            if any(isinstance(cb, cbs.TerminateOnNaN) for cb in callbacks):
                raise ValueError(msg)
            warnings.warn(msg, stacklevel=3)
        c = self._compiled
        if data.y is not None:
            ys = flat(data.y) if not isinstance(data.y, dict) else [data.y[n] for n in c.output_names]
            for lf, yt, out in zip(c.losses, ys, self._outputs):
                if lf is not None and "sparse_categorical" in L.loss_name(lf) and yt.numel():
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
            resume_from=None):
        """Train for ``epochs`` epochs; returns a ``History``. See the Keras documentation for the arguments.

        ``resume_from`` continues from a checkpoint written by ``ModelCheckpoint`` or ``save``:
        weights, optimizer state, epoch and RNG state are restored.
        """
        self._require_compiled("fit")
        verbose = resolve_verbose(verbose)
        callbacks = list(callbacks or [])
        batch_size = batch_size or 32
        dt = self._float_dtype()
        if validation_split and validation_data is None:
            if not 0 < validation_split < 1:
                raise ValueError(f"validation_split must be in (0, 1). Received: validation_split={validation_split}")
            if not isinstance(x, (np.ndarray, torch.Tensor, list, dict)):
                raise ValueError("validation_split needs array inputs; pass validation_data for datasets and iterables.")
            n = structure_len(x)
            split = int(n * (1 - validation_split))
            cut = lambda s, a, b: slice_structure(s, slice(a, b)) if s is not None else None
            validation_data = (cut(x, split, n), cut(y, split, n)) + ((sample_weight[split:],) if sample_weight is not None else ())
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
                val = make_data(vd[0], vd[1], vd[2] if len(vd) == 3 else None, validation_batch_size or batch_size, False, dt)
            else:
                val = make_data(vd, None, None, validation_batch_size or batch_size, False, dt)
        from .distributed import maybe_distribute
        maybe_distribute(self, data, val)
        history = cbs.History()
        progress = _ProgressCallback(verbose) if verbose else None
        all_cbs = callbacks + ([progress] if progress else []) + [history]
        steps = steps_per_epoch or (len(data) if len(data) is not None else None)
        cb = cbs.CallbackList(all_cbs, self, {"epochs": epochs, "steps": steps, "verbose": verbose})
        if resume_from is not None:
            from ..io.native import restore_training_state
            initial_epoch = restore_training_state(self, resume_from)
        self.stop_training = False
        want_batch_logs = cb.has_on_train_batch_end or verbose == 1
        cb.on_train_begin({})
        logs: dict[str, Any] = {}
        for epoch in range(initial_epoch, epochs):
            self._reset_metrics()
            self.train()
            cb.on_epoch_begin(epoch, {})
            loss_sum, count = torch.zeros((), dtype=torch.float64), 0
            for step, (xb, yb, swb) in enumerate(data.batches(epoch)):
                if steps_per_epoch is not None and step >= steps_per_epoch:
                    break
                if cb.has_on_train_batch_begin:
                    cb.on_train_batch_begin(step, {})
                loss = self._train_step(xb, yb, swb)
                n = structure_len(xb)
                loss_sum.add_(loss.detach(), alpha=n)
                count += n
                if want_batch_logs:
                    batch_logs = {"loss": float(loss_sum) / count, **{m.name: m.result() for m in self._metric_list()}}
                    cb.on_train_batch_end(step, batch_logs)
                if self.stop_training:
                    break
            loss_sum, count = self._reduce_across_processes(loss_sum, count)
            logs = self._results(loss_sum, count, return_dict=True)
            if val is not None and (epoch + 1 - initial_epoch) % validation_freq == 0:
                val_logs = self._evaluate_data(val, validation_steps)
                logs.update({"val_" + k: v for k, v in val_logs.items()})
            self._epoch = epoch + 1
            cb.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cb.on_train_end(logs)
        self.eval()
        history.model = self
        history.params = {"epochs": epochs, "steps": steps, "verbose": verbose}
        return history

    def _class_weights(self, y, class_weight, sw):
        if isinstance(y, (list, dict)):
            raise ValueError("class_weight is supported for single-output models only; use sample_weight instead.")
        labels = y.argmax(-1) if (y.ndim > 1 and y.shape[-1] > 1) else y.reshape(len(y), -1)[:, 0].long()
        table = torch.zeros(int(labels.max()) + 1, dtype=torch.float32)
        for k, v in class_weight.items():
            if int(k) < len(table):
                table[int(k)] = float(v)
        missing = set(torch.unique(labels).tolist()) - {int(k) for k in class_weight}
        if missing:
            raise ValueError(f"class_weight has no entry for classes {sorted(missing)} present in y.")
        w = table[labels]
        return w if sw is None else sw * w

    def _reduce_across_processes(self, loss_sum, count):
        from .distributed import all_reduce_sum, is_distributed
        if not is_distributed(self):
            return loss_sum, count
        states = [loss_sum.reshape(1), torch.tensor([float(count)], dtype=torch.float64)] + \
                 [m.state_tensor() for m in self._metric_list()]
        flat_t = all_reduce_sum(torch.cat(states))
        loss_sum, count = flat_t[0], int(flat_t[1])
        offset = 2
        for m in self._metric_list():
            m.set_state_tensor(flat_t[offset:offset + 2])
            offset += 2
        return loss_sum, count

    # ------------------------------------------------------------------ evaluate / predict
    def _evaluate_data(self, data, steps=None) -> dict[str, float]:
        self._reset_metrics()
        self.eval()
        loss_sum, count = torch.zeros((), dtype=torch.float64), 0
        with torch.inference_mode():
            for step, (xb, yb, swb) in enumerate(data.batches()):
                if steps is not None and step >= steps:
                    break
                loss, _ = self._losses_and_update(xb, yb, swb, training=False)
                n = structure_len(xb)
                loss_sum += loss.double() * n
                count += n
        loss_sum, count = self._reduce_across_processes(loss_sum, count)
        return self._results(loss_sum, count, return_dict=True)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        """Loss (and metrics) on the data, in inference mode. Masked steps do not count."""
        self._require_compiled("evaluate")
        data = make_data(x, y, sample_weight, batch_size or 32, False, self._float_dtype())
        self._check_data(data, [])
        from .distributed import distribute_eval
        distribute_eval(self, data)
        logs = self._evaluate_data(data, steps)
        if resolve_verbose(verbose):
            print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
        if return_dict:
            return logs
        return logs["loss"] if len(logs) == 1 else list(logs.values())

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Outputs for ``x`` in batches: numpy in → numpy out, torch in → torch out."""
        as_numpy = not any(isinstance(t, torch.Tensor) for t in flat(x)) if not isinstance(x, (IterableData,)) else False
        data = make_data(x, None, None, batch_size or 32, False, self._float_dtype())
        if isinstance(data, ArrayData):
            xs = flat(data.x) if not isinstance(data.x, dict) else [data.x[t.layer.name] for t in self._inputs]
            for t, a in zip(self._inputs, xs):
                self._check_input_shape(t, tuple(a.shape))
        self.eval()
        outs: list = []
        with torch.inference_mode():
            for step, (xb, _, _) in enumerate(data.batches()):
                if steps is not None and step >= steps:
                    break
                out = self(xb, training=False)
                outs.append(out if isinstance(out, list) else [out])
        if not outs:
            raise ValueError("predict() got no data.")
        cat = [torch.cat([o[i] for o in outs]) for i in range(len(outs[0]))]
        if as_numpy:
            cat = [t.numpy() for t in cat]
        return cat[0] if len(cat) == 1 else cat

    def predict_on_batch(self, x):
        return self.predict(x, batch_size=structure_len(x) or 1, verbose=0)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        self._require_compiled("test_on_batch")
        data = make_data(x, y, sample_weight, structure_len(x), False, self._float_dtype())
        logs = self._evaluate_data(data)
        return logs if return_dict else (logs["loss"] if len(logs) == 1 else list(logs.values()))


class _ProgressCallback(cbs.Callback):
    """Prints the Keras progress bar (verbose=1) or a line per epoch (verbose=2); rank 0 only."""

    def __init__(self, verbose: int):
        super().__init__()
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        from .distributed import is_main_process
        self.active = is_main_process()
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
