"""What ``compile(loss=..., metrics=...)`` turns into: the loss of every output (weighted and summed, with a
tracker per output when there are several, as in Keras 3) and the metrics of every output.

Both are resolved at the first batch, when the shapes are known: ``"accuracy"`` and ``"crossentropy"``
pick their binary, categorical or sparse form from the label and prediction shapes, as Keras does.
"""
from __future__ import annotations

import torch

from . import losses as L
from . import metrics as M
from .metrics.base import MeanMetricWrapper, Metric

__all__ = ["CompileLoss", "CompileMetrics", "per_output"]


def per_output(spec, names: list[str], what: str) -> list:
    """A per-output list from a single spec, a list (one per output) or a dict keyed by output name."""
    if isinstance(spec, dict):
        unknown = set(spec) - set(names)
        if unknown:
            raise ValueError(f"{what} names outputs {sorted(unknown)} the model does not have. Outputs: {names}.")
        return [spec.get(n) for n in names]
    if isinstance(spec, (list, tuple)):
        if len(spec) != len(names):
            raise ValueError(f"{what} has {len(spec)} entries but the model has {len(names)} outputs {names}.")
        return list(spec)
    return [spec] * len(names)


def _binary_or_sparse(y_true, y_pred) -> tuple[bool, bool]:
    """Keras's rule: binary when the prediction has one unit; sparse when labels have a lower rank or one column."""
    is_binary = y_pred.shape[-1] == 1
    is_sparse = y_true.ndim < y_pred.ndim or (y_true.shape[-1] == 1 and y_pred.shape[-1] > 1)
    return is_binary, is_sparse


def resolve_loss(spec, y_true, y_pred):
    if spec is None:
        return None
    if isinstance(spec, str) and spec.lower() in ("crossentropy", "ce"):
        binary, sparse = _binary_or_sparse(y_true, y_pred)
        fn = L.binary_crossentropy if binary else (L.sparse_categorical_crossentropy if sparse
                                                   else L.categorical_crossentropy)
        return L.LossFunctionWrapper(fn, name=spec)
    return L.get(spec)


def resolve_metric(spec, y_true, y_pred) -> Metric:
    if isinstance(spec, str) and spec.lower() in ("accuracy", "acc"):
        binary, sparse = _binary_or_sparse(y_true, y_pred)
        cls = M.BinaryAccuracy if binary else (M.SparseCategoricalAccuracy if sparse else M.CategoricalAccuracy)
        return cls(name=spec)
    if isinstance(spec, str) and spec.lower() in ("crossentropy", "ce"):
        binary, sparse = _binary_or_sparse(y_true, y_pred)
        cls = M.BinaryCrossentropy if binary else (M.SparseCategoricalCrossentropy if sparse
                                                   else M.CategoricalCrossentropy)
        return cls(name=spec)
    metric = M.get(spec)
    if isinstance(spec, str):
        metric.name = spec
    return metric


class CompileLoss:
    """The compiled loss: ``Σ weight_i · loss_i(y_i, ŷ_i, sample_weight, mask_i)`` over the outputs with a loss."""

    def __init__(self, loss, loss_weights=None):
        self.spec, self.weight_spec = loss, loss_weights
        self.built = False
        self.losses: list = []
        self.weights: list[float] = []
        self.metrics: list[Metric] = []

    def build(self, names: list[str], ys: list, preds: list) -> None:
        specs = per_output(self.spec, names, "loss")
        weights = [1.0] * len(names) if self.weight_spec is None else [
            1.0 if w is None else float(w) for w in per_output(self.weight_spec, names, "loss_weights")]
        self.losses = [resolve_loss(s, y, p) if y is not None else (None if s is None else L.get(s))
                       for s, y, p in zip(specs, ys, preds)]
        self.weights = weights
        counted = [n for n, l in zip(names, self.losses) if l is not None]
        self.metrics = [M.Mean(name=f"{n}_loss") for n in counted] if len(counted) > 1 else []
        self.built = True

    def names(self) -> list[str]:
        return [L.loss_name(l) if l is not None else None for l in self.losses]

    def __call__(self, ys: list, preds: list, sample_weight=None, masks=None):
        total = None
        k = 0
        for i, (loss, y, p) in enumerate(zip(self.losses, ys, preds)):
            if loss is None:
                continue
            sw = sample_weight[i] if isinstance(sample_weight, (list, tuple)) else sample_weight
            mask = masks[i] if masks is not None and i < len(masks) else None
            if y is None:
                raise ValueError(f"Output {i} has a loss ({L.loss_name(loss)}) but no target was given for it.")
            value = loss(y, p, sw, mask) if isinstance(loss, L.Loss) else L.reduce_weighted_values(loss(y, p), sw,
                                                                                                   mask)
            value = value.float()
            if self.metrics:
                self.metrics[k].update_state(value.detach(), sample_weight=p.shape[0] if p.ndim else 1)
            k += 1
            term = value * self.weights[i] if self.weights[i] != 1.0 else value
            total = term if total is None else total + term
        return total


class CompileMetrics(Metric):
    """The compiled metrics of every output, as one metric named ``compile_metrics`` whose result is a dict
    (``{"mae": ..., "accuracy": ...}``; prefixed by the output name when there are several outputs)."""

    def __init__(self, metrics=None, weighted_metrics=None):
        super().__init__(name="compile_metrics")
        self.spec, self.weighted_spec = metrics, weighted_metrics
        self.built = False
        self.per_output: list[list[tuple[Metric, bool]]] = []

    @property
    def metrics(self) -> list[Metric]:
        return [m for row in self.per_output for m, _ in row]

    @property
    def variables(self):
        return [v for m in self.metrics for v in m.variables]

    def _specs(self, spec, names):
        if spec is None:
            return [[] for _ in names]
        if isinstance(spec, dict):
            unknown = set(spec) - set(names)
            if unknown:
                raise ValueError(f"metrics name outputs {sorted(unknown)} the model does not have. Outputs: {names}.")
            per = [spec.get(n) or [] for n in names]
        elif len(names) > 1 and spec and all(isinstance(m, (list, tuple)) or m is None for m in spec):
            if len(spec) != len(names):
                raise ValueError(f"metrics has {len(spec)} lists but the model has {len(names)} outputs {names}.")
            per = [m or [] for m in spec]
        else:
            per = [list(spec) if isinstance(spec, (list, tuple)) else [spec]] * len(names)
        return [list(m) if isinstance(m, (list, tuple)) else [m] for m in per]

    def build(self, names: list[str], ys: list, preds: list) -> None:
        rows = []
        for specs, wspecs, y, p, name in zip(self._specs(self.spec, names), self._specs(self.weighted_spec, names),
                                            ys, preds, names):
            row = [(resolve_metric(s, y, p), False) for s in specs]
            row += [(resolve_metric(s, y, p), True) for s in wspecs]
            if len(names) > 1:
                for m, _ in row:
                    m.name = f"{name}_{m.name}"
            rows.append(row)
        self.per_output = rows
        self.built = True

    def update(self, ys: list, preds: list, sample_weight=None, masks=None) -> None:
        for i, (row, y, p) in enumerate(zip(self.per_output, ys, preds)):
            if y is None:
                continue
            sw = sample_weight[i] if isinstance(sample_weight, (list, tuple)) else sample_weight
            mask = masks[i] if masks is not None and i < len(masks) else None
            p = p.detach()
            for m, weighted in row:
                w = sw if weighted else None
                if isinstance(m, MeanMetricWrapper):
                    m.update_state(y, p, w, mask=mask)
                else:
                    m.update_state(y, p, w)

    @torch.no_grad()
    def update_state(self, y_true, y_pred, sample_weight=None):
        ys = list(y_true) if isinstance(y_true, (list, tuple)) else [y_true]
        ps = list(y_pred) if isinstance(y_pred, (list, tuple)) else [y_pred]
        self.update(ys, ps, sample_weight)

    def reset_state(self):
        for m in self.metrics:
            m.reset_state()

    def result(self) -> dict:
        return {m.name: m.result() for m in self.metrics}

    def state_tensors(self):
        return self.variables

    def set_state_tensors(self, values):
        for v, new in zip(self.variables, values):
            v.copy_(new.to(device=v.device, dtype=v.dtype))


def pythonify(logs):
    """Tensors in logs as Python floats (vectors as lists), as Keras hands logs to callbacks."""
    out = {}
    for k, v in logs.items():
        if isinstance(v, dict):
            out.update(pythonify(v))
        elif isinstance(v, torch.Tensor):
            out[k] = float(v) if v.numel() == 1 else v.detach().cpu().tolist()
        else:
            out[k] = v
    return out
