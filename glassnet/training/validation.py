"""Checks on training input, made before the first step so a bad input never half-trains a model.

Each message names the argument (``x``, ``y``, ``sample_weight``, ``validation_data``, ``batch_size``), what is
wrong with it, what was received and how to fix it: empty data, mismatched sample counts, NaN or infinite
values (with their count and the first index), labels outside the output's classes, one-hot labels given to
a sparse loss, a missing ``y``, a dict of inputs with a wrong key.
"""
from __future__ import annotations

import torch

from .. import checks, config
from ..errors import ConfigError
from ..structure import first_length, flatten, leaves
from . import losses as L

__all__ = ["check_arguments", "split_validation", "unpack_validation", "should_validate", "check_arrays",
           "check_labels", "check_batch", "non_finite"]


def check_arguments(owner: str, **values) -> None:
    """``batch_size``-like arguments: None or a positive int (``steps_per_epoch=0`` is refused too)."""
    for name, value in values.items():
        if value is None:
            continue
        if name == "validation_freq":
            if isinstance(value, list) and all(isinstance(v, int) and v >= 1 for v in value):
                continue
            checks.positive_int(owner, name, value)
        elif name == "initial_epoch":
            checks.positive_int(owner, name, value, allow_zero=True)
        else:
            checks.positive_int(owner, name, value)


def split_validation(x, y, sample_weight, validation_split):
    """The last ``validation_split`` of the arrays as validation data (Keras's ``train_validation_split``)."""
    from_arrays = isinstance(x, (torch.Tensor,)) or hasattr(x, "shape") or isinstance(x, (list, dict))
    if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float)) \
            or not 0 < validation_split < 1:
        raise ConfigError(f"fit(): the `validation_split` argument must be a number in (0, 1). "
                          f"Received: validation_split={validation_split!r}")
    if not from_arrays:
        raise ValueError("fit(): validation_split needs array inputs; pass validation_data for datasets and iterables.")
    n = first_length(x)
    split = int(n * (1 - validation_split))
    if split == 0 or split == n:
        raise ValueError(f"fit(): validation_split={validation_split} of {n} samples leaves "
                         f"{'no training samples' if split == 0 else 'no validation samples'} "
                         f"({split} for training, {n - split} for validation). Use more data or another split.")

    def cut(s, a, b):
        return None if s is None else _slice(s, slice(a, b))
    val = (cut(x, split, n), cut(y, split, n)) + ((cut(sample_weight, split, n),) if sample_weight is not None else ())
    return cut(x, 0, split), cut(y, 0, split), cut(sample_weight, 0, split), val


def _slice(s, idx):
    if isinstance(s, dict):
        return {k: _slice(v, idx) for k, v in s.items()}
    if isinstance(s, (list, tuple)) and not hasattr(s, "shape") and s and hasattr(s[0], "__len__") \
            and not isinstance(s[0], (int, float)):
        return type(s)(_slice(v, idx) for v in s)
    return s[idx]


def unpack_validation(validation_data):
    """``(x, y)`` / ``(x, y, sample_weight)`` tuples, or a dataset/iterable."""
    vd = validation_data
    if isinstance(vd, (tuple, list)) and len(vd) in (2, 3) and not (isinstance(vd, list) and vd
                                                                   and isinstance(vd[0], tuple)):
        return vd[0], vd[1], vd[2] if len(vd) == 3 else None
    return vd, None, None


def should_validate(epoch: int, freq) -> bool:
    if isinstance(freq, list):
        return epoch + 1 in freq
    return (epoch + 1) % freq == 0


def _names(structure, base: str) -> list[str]:
    if isinstance(structure, dict):
        return [f"{base}[{k!r}]" for k in structure]
    if isinstance(structure, (list, tuple)):
        return [f"{base}[{i}]" for i in range(len(structure))]
    return [base]


def non_finite(name: str, t: torch.Tensor, allow_nan: bool = False) -> str | None:
    """A message when ``t`` holds NaN or infinite values (their count, the first index), else None."""
    if not isinstance(t, torch.Tensor) or not t.is_floating_point() or t.numel() == 0:
        return None
    bad = torch.isinf(t) if allow_nan else ~torch.isfinite(t)
    count = int(bad.sum())
    if count == 0:
        return None
    first = tuple(int(i) for i in torch.nonzero(bad)[0])
    first_text = first[0] if len(first) == 1 else first
    value = float(t[first])
    kind = "infinite" if allow_nan else "NaN or infinite"
    return (f"{name} contains {count} {kind} value(s); the first is at index {first_text} ({value}). Training on "
            "them gives a NaN loss. Clean the data first (np.nan_to_num, or drop those samples)"
            + ("." if allow_nan else "; inputs that are NaN on purpose (a model that masks them) are allowed after "
               "gn.config.set_allow_nan_inputs(True)."))


def _check_finite(x, y, sw, prefix: str = "") -> None:
    allow = config_allow_nan()
    for name, t in zip(_names(x, prefix + "x"), flatten(x)):
        msg = non_finite(name, t, allow_nan=allow)
        if msg:
            raise ValueError(msg)
    if y is not None:
        for name, t in zip(_names(y, prefix + "y"), flatten(y)):
            msg = non_finite(name, t)
            if msg:
                raise ValueError(msg)
    if sw is not None:
        msg = non_finite(prefix + "sample_weight", sw)
        if msg:
            raise ValueError(msg)


def config_allow_nan() -> bool:
    return config.nan_inputs_allowed()


def _check_cardinality(x, y, sw, where: str) -> None:
    xs, ys = leaves(x), leaves(y)
    lengths = {len(a) for a in xs + ys if hasattr(a, "__len__") and getattr(a, "ndim", 1) > 0}
    if sw is not None:
        lengths.add(len(sw))
    if len(lengths) > 1:
        raise ValueError(
            f"Data cardinality is ambiguous{where}: x, y (and sample_weight) must have the same number of samples. "
            f"Received sizes: x {[len(a) for a in xs]}, y {[len(a) for a in ys]}"
            + (f", sample_weight {len(sw)}" if sw is not None else "")
            + ". Pair each x row with one y row; a y with 1 row is not broadcast.")


def _check_keys(trainer, x, what: str) -> None:
    model = trainer.model
    names = list(getattr(model, "input_names", []) or [])
    if isinstance(x, dict) and names:
        unknown = [k for k in x if k not in names]
        missing = [n for n in names if n not in x]
        if unknown or missing:
            raise ValueError(f"{what} is a dict keyed by input name, but key(s) {unknown or missing} "
                             f"{'name no input' if unknown else 'are missing'}. Model '{model.name}' has inputs "
                             f"{names}; use exactly those keys.")


def _check_y_needed(trainer, y, what: str, custom_step: bool) -> None:
    if y is None and not custom_step and trainer.compile_loss is not None:
        raise ValueError(f"{what} came without targets (y is None), but the model was compiled with a loss "
                         f"({trainer.loss_spec!r}) that needs them. Pass y=... (or (x, y) batches), or compile "
                         "without a loss when the model adds its own with add_loss.")


def check_arrays(trainer, data, what: str, training: bool, custom_step: bool) -> None:
    model = trainer.model
    if data.n == 0 or data.n is None:
        raise ValueError(f"{'fit' if training else 'evaluate'}(): {what} is empty (0 samples); there is nothing to "
                         f"{'train on' if training else 'evaluate'}. Pass at least one sample.")
    _check_keys(trainer, data.x, what)
    inputs = getattr(model, "inputs", None)
    if inputs:
        xs = model.flatten_inputs(data.x)
        if len(xs) != len(inputs):
            raise ValueError(f"Model '{model.name}' has {len(inputs)} input(s) but {what} holds {len(xs)} array(s).")
    _check_cardinality(data.x, data.y, data.sw, "" if what == "x" else f" in {what}")
    _check_y_needed(trainer, data.y, what if what != "x" else "fit()'s x" if training else "evaluate()'s x",
                    custom_step)
    _check_finite(data.x, data.y, data.sw, "" if what == "x" else f"{what}: ")


def check_labels(trainer, ys: list, what: str) -> None:
    """Sparse-loss labels: integral, finite, in range, not one-hot."""
    loss = trainer.compile_loss
    if loss is None:
        return
    outputs = trainer.model.outputs
    specs = loss.spec if isinstance(loss.spec, (list, tuple)) else [loss.spec] * len(outputs)
    if isinstance(loss.spec, dict):
        specs = [loss.spec.get(n) for n in trainer.model.output_names]
    for spec, yt, out in zip(specs, ys, outputs):
        name = L.loss_name(L.get(spec)) if spec is not None and not (isinstance(spec, str) and spec.lower() in
                                                                      ("crossentropy", "ce")) else ""
        if yt is None or "sparse_categorical" not in str(name) or not yt.numel():
            continue
        where = f"for output '{out.layer.name}'"
        prefix = "" if what == "x" else f"{what}: "
        n_cls = out.symbolic_shape[-1]
        if yt.is_floating_point():
            bad = ~torch.isfinite(yt)
            if bool(bad.any()):
                first = tuple(int(i) for i in torch.nonzero(bad)[0])
                raise ValueError(f"{prefix}the labels {where} contain {int(bad.sum())} NaN or infinite value(s) "
                                 f"(the first at index {first[0] if len(first) == 1 else first}); "
                                 f"{name} needs integer class labels. Remove or fix those samples.")
        if yt.ndim == len(out.symbolic_shape) and yt.shape[-1] > 1 and yt.shape[-1] == n_cls:
            raise ValueError(f"{prefix}the labels {where} look one-hot (shape {tuple(yt.shape)}), but {name} expects "
                             f"integer class labels of shape {tuple(yt.shape[:-1])}. Pass y.argmax(-1), or compile with "
                             "loss='categorical_crossentropy'.")
        if isinstance(n_cls, int):
            lo, hi = float(yt.min()), float(yt.max())
            if lo < 0 or hi >= n_cls:
                raise ValueError(
                    f"{prefix}Labels for output '{out.layer.name}' must be in [0, {n_cls}) for {name}, but they range "
                    f"over [{lo:g}, {hi:g}]. Use labels 0..{n_cls - 1}, or give the last layer {int(hi) + 1} units.")


def check_batch(trainer, x, y, sw, step: int, what: str, custom_step: bool) -> None:
    """One batch of an iterable, before its step."""
    where = f" in batch {step} of {what}"
    if first_length(x) == 0:
        raise ValueError(f"Batch {step} of {what} is empty (0 samples). Every batch needs at least one sample.")
    _check_keys(trainer, x, f"batch {step} of {what}")
    _check_cardinality(x, y, sw, where)
    _check_y_needed(trainer, y, f"batch {step} of {what}", custom_step)
    _check_finite(x, y, sw, f"batch {step} of {what}: ")
    outputs = getattr(trainer.model, "outputs", None)
    if y is not None and outputs and not custom_step:
        ys = list(y) if isinstance(y, (list, tuple)) else ([y] if not isinstance(y, dict) else
                                                           [y.get(n) for n in trainer.model.output_names])
        if len(ys) == len(outputs):
            check_labels(trainer, ys, f"batch {step} of {what}")
