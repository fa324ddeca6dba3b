"""Keras 3's callbacks (``keras.callbacks``) with the Keras hooks: History, ProgbarLogger, EarlyStopping,
ModelCheckpoint, BackupAndRestore, ReduceLROnPlateau, LearningRateScheduler, CSVLogger, TensorBoard,
RemoteMonitor, SwapEMAWeights, TerminateOnNaN, LambdaCallback. Under data-parallel training only the main
process prints and writes files."""
from __future__ import annotations

import csv
import ipaddress
import json
import math
import os
import shutil
import urllib.parse
import urllib.request
import warnings
from typing import Callable

import numpy as np
import torch

from .. import checks
from ..errors import ConfigError, GlassnetWarning
from . import distributed
from .progress import Progbar

__all__ = ["Callback", "CallbackList", "History", "ProgbarLogger", "EarlyStopping", "ModelCheckpoint",
           "BackupAndRestore", "ReduceLROnPlateau", "CSVLogger", "TerminateOnNaN", "LambdaCallback",
           "LearningRateScheduler", "TensorBoard", "RemoteMonitor", "SwapEMAWeights"]


class Callback:
    """Base class: override any of the Keras hooks. ``self.model`` is set by ``fit``."""

    def __init__(self):
        self.model = None
        self.params: dict = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params: dict):
        self.params = params

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_train_batch_begin(self, batch, logs=None): ...
    def on_train_batch_end(self, batch, logs=None): ...
    def on_test_begin(self, logs=None): ...
    def on_test_end(self, logs=None): ...
    def on_test_batch_begin(self, batch, logs=None): ...
    def on_test_batch_end(self, batch, logs=None): ...
    def on_predict_begin(self, logs=None): ...
    def on_predict_end(self, logs=None): ...
    def on_predict_batch_begin(self, batch, logs=None): ...
    def on_predict_batch_end(self, batch, logs=None): ...


_HOOKS = [n for n in vars(Callback) if n.startswith("on_")]


class CallbackList:
    """Calls a hook on every callback; batch hooks only on callbacks that override them.

    ``CallbackList(callbacks, model, params)``; Keras's keywords ``add_history`` and ``add_progbar`` append a
    ``History`` and a ``ProgbarLogger``."""

    def __init__(self, callbacks=None, model=None, params=None, add_history=False, add_progbar=False, **kwargs):
        params = dict(params or {}, **kwargs)
        self.callbacks = list(callbacks or [])
        if add_progbar and not any(isinstance(c, ProgbarLogger) for c in self.callbacks):
            self.callbacks.append(ProgbarLogger())
        if add_history and not any(isinstance(c, History) for c in self.callbacks):
            self.callbacks.append(History())
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)
        for hook in _HOOKS:
            active = [getattr(cb, hook) for cb in self.callbacks
                      if getattr(type(cb), hook, None) is not getattr(Callback, hook)
                      or hook in getattr(cb, "_overridden", ())]
            setattr(self, hook, self._make(active))
            setattr(self, "has_" + hook, bool(active))

    @staticmethod
    def _make(fns):
        def call(*args, **kwargs):
            for fn in fns:
                fn(*args, **kwargs)
        return call


class History(Callback):
    """Records the epoch logs: ``history.history["loss"]`` and so on; ``history.epoch``."""

    def __init__(self):
        super().__init__()
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)


def _monitor_op(mode: str, monitor: str):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max'. Received: mode={mode!r}")
    if mode == "auto":
        mode = "max" if ("acc" in monitor or monitor.endswith("auc")) else "min"
    return (np.less, np.inf) if mode == "min" else (np.greater, -np.inf)


class EarlyStopping(Callback):
    """Stops training when ``monitor`` stops improving for ``patience`` epochs."""

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor, self.patience, self.verbose = monitor, patience, verbose
        self.baseline, self.restore_best_weights, self.start_from_epoch = baseline, restore_best_weights, start_from_epoch
        self.op, self._init = _monitor_op(mode, monitor)
        self.min_delta = abs(min_delta) * (1 if self.op == np.greater else -1)

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best_weights, self.best_epoch = 0, 0, None, 0
        self.best = self._init

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
        self.wait += 1
        if self.op(current - self.min_delta, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self.op(current - self.min_delta, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


def _check_save_freq(owner: str, save_freq):
    if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1):
        raise ConfigError(f"{owner}: `save_freq` must be 'epoch' or a positive number of batches. "
                          f"Received: save_freq={save_freq!r}")


class _BatchCounter:
    """Keras's ``_should_save_on_batch``: every ``save_freq`` batches, counted across epochs."""

    def __init__(self, save_freq):
        self.save_freq, self.since, self.last = save_freq, 0, None

    def due(self, batch: int) -> bool:
        if self.save_freq == "epoch":
            return False
        self.since += batch + 1 if self.last is None or batch <= self.last else batch - self.last
        self.last = batch
        if self.since >= self.save_freq:
            self.since = 0
            return True
        return False


class ModelCheckpoint(Callback):
    """Saves the model (or only its weights) after each epoch, or every ``save_freq`` batches, or only when
    ``monitor`` improves.

    ``filepath`` may contain ``{epoch}``, ``{batch}`` and log keys (``"ckpt-{epoch:02d}-{val_loss:.3f}.glassnet"``).
    Every write is atomic: a crash mid-save leaves the previous file intact. A ``.glassnet`` checkpoint holds
    the optimizer state, so ``fit(resume_from=...)`` continues it exactly.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__()
        _check_save_freq("ModelCheckpoint", save_freq)
        self.filepath, self.monitor, self.verbose = os.fspath(filepath), monitor, verbose
        self.save_best_only, self.save_weights_only, self.save_freq = save_best_only, save_weights_only, save_freq
        self.op, init = _monitor_op(mode, monitor)
        self.best = init if initial_value_threshold is None else initial_value_threshold
        self._counter = _BatchCounter(save_freq)
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._counter.due(batch):
            self._save(self._epoch, batch, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs or {})

    def _save(self, epoch, batch, logs):
        if batch is None or "batch" in logs:
            path = self.filepath.format(epoch=epoch + 1, **logs)
        else:
            path = self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(f"Can save best model only with {self.monitor} available; the logs hold "
                              f"{sorted(logs)}.", GlassnetWarning, stacklevel=3)
                return
            if not self.op(current, self.best):
                return
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to {current:.5f}, saving "
                      f"model to {path}")
            self.best = current
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path, _training_state=True)


class BackupAndRestore(Callback):
    """Backs training up to ``backup_dir`` (weights, optimizer and RNG state, the epoch) at each epoch end or
    every ``save_freq`` batches; a ``fit`` started again with the same directory resumes from the last backup.
    The backup is deleted when training ends normally (``delete_checkpoint``)."""

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False, delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ConfigError("BackupAndRestore: empty `backup_dir` argument passed.")
        _check_save_freq("BackupAndRestore", save_freq)
        self.backup_dir, self.save_freq = os.fspath(backup_dir), save_freq
        self.double_checkpoint, self.delete_checkpoint = double_checkpoint, delete_checkpoint
        self._path = os.path.join(self.backup_dir, "latest.glassnet")
        self._prev = self._path + ".bkp"
        self._counter = _BatchCounter(save_freq)
        self._epoch = 0

    def on_train_begin(self, logs=None):
        path = self._path if os.path.exists(self._path) else (self._prev if os.path.exists(self._prev) else None)
        if path is None:
            return
        if not self.model.built:
            raise ValueError("To use the BackupAndRestore callback, your model must be built before you call fit(). "
                             f"Model '{self.model.name}' is unbuilt; call it on a batch of data first.")
        self.model._initial_epoch = self.model.restore_training_state(path)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        self._epoch = epoch + 1
        if self.save_freq == "epoch":
            self._backup()

    def on_train_batch_end(self, batch, logs=None):
        if self._counter.due(batch):
            self._backup()

    def _backup(self):
        if not distributed.is_main_process():
            return
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint and os.path.exists(self._path):
            shutil.copyfile(self._path, self._prev)
        self.model._epoch = self._epoch
        self.model.save(self._path, _training_state=True)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and os.path.exists(self.backup_dir) and distributed.is_main_process():
            shutil.rmtree(self.backup_dir)


class ReduceLROnPlateau(Callback):
    """Multiplies the learning rate by ``factor`` after ``patience`` epochs without improvement."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received: factor={factor}")
        self.monitor, self.factor, self.patience, self.verbose = monitor, factor, patience, verbose
        self.min_delta, self.cooldown, self.min_lr = min_delta, cooldown, min_lr
        self.op, self._init = _monitor_op(mode, monitor)

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.cooldown_counter = self._init, 0, 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = self.model.learning_rate
        current = logs.get(self.monitor)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        delta = self.min_delta if self.op == np.greater else -self.min_delta
        if self.op(current - delta, self.best):
            self.best, self.wait = current, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = self.model.learning_rate
                if old > self.min_lr:
                    self.model.learning_rate = max(old * self.factor, self.min_lr)
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {self.model.learning_rate}.")
                    self.cooldown_counter, self.wait = self.cooldown, 0


class CSVLogger(Callback):
    """Streams each epoch's logs to a CSV file (``append`` continues an existing one)."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.sep, self.append = os.fspath(filename), separator, append
        self.keys = None

    def on_train_begin(self, logs=None):
        self.file = None
        if not distributed.is_main_process():
            return
        exists = self.append and os.path.exists(self.filename)
        self.file = open(self.filename, "a" if self.append else "w", newline="")
        self.writer = None
        self._has_header = exists and os.path.getsize(self.filename) > 0

    def on_epoch_end(self, epoch, logs=None):
        if self.file is None:
            return
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
        if self.writer is None:
            self.writer = csv.DictWriter(self.file, fieldnames=["epoch"] + self.keys, delimiter=self.sep)
            if not self._has_header:
                self.writer.writeheader()
        self.writer.writerow({"epoch": epoch, **{k: logs.get(k, "NA") for k in self.keys}})
        self.file.flush()

    def on_train_end(self, logs=None):
        if self.file is not None:
            self.file.close()


class TerminateOnNaN(Callback):
    """Stops training when the loss becomes NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            if distributed.is_main_process():
                print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback from functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(self, **hooks: Callable):
        super().__init__()
        unknown = set(hooks) - set(_HOOKS)
        if unknown:
            raise ValueError(f"Unknown callback hooks {sorted(unknown)}. Known: {', '.join(_HOOKS)}.")
        self._overridden = tuple(hooks)
        for name, fn in hooks.items():
            setattr(self, name, fn)


class LearningRateScheduler(Callback):
    """Sets the learning rate at each epoch start from ``schedule(epoch, lr)``."""

    def __init__(self, schedule: Callable, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = float(self.schedule(epoch, self.model.learning_rate))
        self.model.learning_rate = lr
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self.model.learning_rate


class ProgbarLogger(Callback):
    """Prints the Keras progress bar (``verbose=1``) or one line per epoch (``verbose=2``); ``fit`` adds one
    unless ``verbose=0``. Only the main process prints."""

    def __init__(self, count_mode=None):
        super().__init__()
        self.verbose = None
        self.seen = 0

    def set_params(self, params):
        super().set_params(params)
        if self.verbose is None:
            self.verbose = params.get("verbose", 1) or 1

    def on_epoch_begin(self, epoch, logs=None):
        self.active = distributed.is_main_process()
        if self.active:
            print(f"Epoch {epoch + 1}/{self.params['epochs']}")
            self.bar = Progbar(self.params.get("steps"), self.verbose)
        self.seen = 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen = batch + 1
        if self.active and self.verbose == 1:
            self.bar.update(self.seen, _numbers(logs))

    def on_epoch_end(self, epoch, logs=None):
        if self.active:
            self.bar.update(self.seen or self.params.get("steps") or 0, _numbers(logs), finalize=True)


def _numbers(logs) -> dict:
    return {k: v for k, v in (logs or {}).items() if isinstance(v, (int, float))}


class TensorBoard(Callback):
    """Writes the logs to TensorBoard event files through ``torch.utils.tensorboard`` (needs the ``tensorboard``
    package): ``log_dir/train`` and ``log_dir/validation`` with Keras's tags (``epoch_loss``,
    ``epoch_learning_rate``, ``batch_loss`` with ``update_freq="batch"`` or every N batches), weight histograms
    every ``histogram_freq`` epochs, and the model's summary as text (``write_graph``)."""

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None):
        super().__init__()
        checks.unsupported("TensorBoard", "glassnet does not write them; leave the default.",
                           write_images=write_images, profile_batch=profile_batch or None,
                           embeddings_freq=embeddings_freq or None, embeddings_metadata=embeddings_metadata)
        checks.positive_int("TensorBoard", "histogram_freq", histogram_freq, allow_zero=True)
        if update_freq not in ("epoch", "batch") and (isinstance(update_freq, bool) or not isinstance(update_freq, int)
                                                     or update_freq < 1):
            raise ConfigError("TensorBoard: `update_freq` must be 'epoch', 'batch' or a positive number of batches. "
                              f"Received: update_freq={update_freq!r}")
        self.log_dir, self.histogram_freq, self.write_graph = os.fspath(log_dir), histogram_freq, write_graph
        self.write_steps_per_second = write_steps_per_second
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self._writers: dict = {}
        self._step = 0

    def _writer(self, name: str):
        if name not in self._writers:
            try:
                from torch.utils.tensorboard import SummaryWriter  # noqa: optional extra (the tensorboard package)
            except ImportError as exc:
                raise ImportError("The TensorBoard callback needs the `tensorboard` package: "
                                  "pip install tensorboard") from exc
            self._writers[name] = SummaryWriter(os.path.join(self.log_dir, name))
        return self._writers[name]

    def on_train_begin(self, logs=None):
        self._active = distributed.is_main_process()
        if self._active and self.write_graph:
            summary = []
            self.model.summary(print_fn=summary.append, line_length=120)
            self._writer("train").add_text("keras", "<pre>" + "\n".join(summary) + "</pre>", 0)

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self._active and self.update_freq != "epoch" and self._step % self.update_freq == 0:
            w = self._writer("train")
            for k, v in _numbers(logs).items():
                w.add_scalar("batch_" + k, v, self._step)

    def on_epoch_end(self, epoch, logs=None):
        if not self._active:
            return
        train, val = {}, {}
        for k, v in _numbers(logs).items():
            (val if k.startswith("val_") else train)[k[4:] if k.startswith("val_") else k] = v
        opt = getattr(self.model, "optimizer", None)
        if opt is not None and "learning_rate" not in train:
            try:
                train["learning_rate"] = float(self.model.learning_rate)
            except (AttributeError, RuntimeError):
                pass
        for name, values in (("train", train), ("validation", val)):
            if values:
                w = self._writer(name)
                for k, v in values.items():
                    w.add_scalar("epoch_" + k, v, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            w = self._writer("train")
            for layer in getattr(self.model, "layers", []):
                for i, weight in enumerate(layer.weights):
                    name = getattr(weight, "name", None) or f"weight_{i}"
                    w.add_histogram(f"{layer.name}/{name}", weight.detach().float().cpu(), epoch)
        for w in self._writers.values():
            w.flush()

    def on_test_end(self, logs=None):
        for w in self._writers.values():
            w.flush()

    def on_train_end(self, logs=None):
        for w in self._writers.values():
            w.close()
        self._writers = {}


_LOOPBACK_NAMES = {"localhost"}


def _is_local(url: str) -> bool:
    host = urllib.parse.urlparse(url).hostname or ""
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RemoteMonitor(Callback):
    """Posts each epoch's logs as JSON (``send_as_json``) or as a form field holding JSON to ``root + path``.

    glassnet posts only to this machine (localhost or a loopback address); forward from there to anywhere
    else. A server that cannot be reached gives a warning, not an error.
    """

    def __init__(self, root="http://localhost:9000", path="/publish/epoch/end/", field="data", headers=None,
                 send_as_json=False):
        super().__init__()
        url = root + path
        if urllib.parse.urlparse(url).scheme not in ("http", "https") or not _is_local(url):
            raise ConfigError("RemoteMonitor posts to a local URL only (localhost or a loopback address). "
                              f"Received: root={root!r}. Run a relay on this machine to forward elsewhere.")
        self.root, self.path, self.field, self.headers, self.send_as_json = root, path, field, headers, send_as_json

    def on_epoch_end(self, epoch, logs=None):
        if not distributed.is_main_process():
            return
        send = {"epoch": epoch}
        for k, v in (logs or {}).items():
            send[k] = v.item() if isinstance(v, (np.ndarray, np.generic, torch.Tensor)) else v
        headers = dict(self.headers or {})
        if self.send_as_json:
            body = json.dumps(send).encode()
            headers.setdefault("Content-Type", "application/json")
        else:
            body = urllib.parse.urlencode({self.field: json.dumps(send)}).encode()
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        request = urllib.request.Request(self.root + self.path, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
        except OSError:
            warnings.warn(f"Could not reach RemoteMonitor root server at {self.root}", GlassnetWarning, stacklevel=2)


class SwapEMAWeights(Callback):
    """With an optimizer built with ``use_ema=True``: evaluate and predict with the moving-average weights
    (swapped in at the start, back out at the end); ``swap_on_epoch=True`` also keeps them in the model
    between epochs (so checkpoints hold them)."""

    def __init__(self, swap_on_epoch=False):
        super().__init__()
        self.swap_on_epoch = swap_on_epoch
        self._swapped = False

    def _optimizers(self):
        opt = self.model.optimizer
        opt = getattr(opt, "inner_optimizer", opt)
        opts = list(getattr(opt, "optimizers", [opt]))
        ema = [o for o in opts if getattr(o, "use_ema", False) and getattr(o, "built", False)]
        if not any(getattr(o, "use_ema", False) for o in opts):
            raise ValueError("SwapEMAWeights must be used when `use_ema=True` is set on the optimizer. "
                             f"Received: use_ema={getattr(opt, 'use_ema', None)}")
        return ema

    @torch.no_grad()
    def _swap(self):
        for opt in self._optimizers():
            for var, avg in zip(opt._trainable_variables, opt._averages):
                tmp = var.detach().clone()
                var.copy_(avg)
                avg.copy_(tmp)

    @torch.no_grad()
    def _finalize(self):
        for opt in self._optimizers():
            for var, avg in zip(opt._trainable_variables, opt._averages):
                avg.copy_(var)

    def on_epoch_begin(self, epoch, logs=None):
        if self.swap_on_epoch and self._swapped:
            self._swap()
            self._swapped = False

    def on_epoch_end(self, epoch, logs=None):
        if self.swap_on_epoch and not self._swapped:
            self._swap()
            self._swapped = True
            if epoch == self.params.get("epochs", 0) - 1:
                self._finalize()

    def on_test_begin(self, logs=None):
        if not self._swapped:
            self._swap()
            self._swapped = True

    def on_test_end(self, logs=None):
        if self._swapped:
            self._swap()
            self._swapped = False

    on_predict_begin = on_test_begin
    on_predict_end = on_test_end
