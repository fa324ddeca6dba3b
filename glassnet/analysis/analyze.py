"""``gn.analyze``: one entry point for a glassnet model (its layers' cost rules) and for any other
``torch.nn.Module`` (traced with torch.export; measured when export fails)."""
from __future__ import annotations

import torch

from .layer_costs import analyze_model
from .measured import measure_module
from .module_report import report_from_trace
from .report import Report
from .tracer import ExportFailed, trace

__all__ = ["analyze", "example_tensors"]


def _is_shape(x) -> bool:
    return isinstance(x, (tuple, list)) and bool(x) and all(isinstance(d, int) and not isinstance(d, bool) for d in x)


def example_tensors(inputs, dtype="float32"):
    """Example inputs from shapes: ``(2, 3, 32, 32)`` → one random tensor; ``[(2, 16), (2, 16)]`` → two;
    tensors, tuples of tensors and dicts of keyword arguments pass through."""
    dt = dtype if isinstance(dtype, torch.dtype) else getattr(torch, str(dtype))

    def make(shape):
        return torch.randn(shape, dtype=dt) if dt.is_floating_point else torch.zeros(shape, dtype=dt)
    if _is_shape(inputs):
        return make(tuple(inputs))
    if isinstance(inputs, list) and inputs and all(_is_shape(s) for s in inputs):
        return tuple(make(tuple(s)) for s in inputs)
    return inputs


def analyze(model, input_shape=None, batch_size: int = 1, dtype: str = "float32", *, example_inputs=None,
            dynamic=None) -> Report:
    """Analyse a model: per-layer (glassnet) or per-module (any ``nn.Module``) rows with shapes, parameters,
    MACs as formulas of the named dimensions, element-wise work, memory, receptive fields and what the
    model needs fixed.

    Args:
        model: a built glassnet model, or any ``torch.nn.Module``.
        input_shape: for a glassnet model, optional concrete input shape(s) with the batch axis, e.g.
            ``(8, 28, 28, 1)``. For any other module, the example inputs (as ``example_inputs``).
        batch_size: (glassnet models) the batch size used for memory and MACs when ``input_shape`` does
            not give one.
        dtype: the float type used for memory figures (glassnet models) or for example tensors made from
            shapes.
        example_inputs: (any module) a tensor, a tuple of positional arguments, a dict of keyword
            arguments, or shapes (``(2, 3, 224, 224)``; a list of shapes for several inputs).
        dynamic: (any module) the dims to keep symbolic, per argument of ``forward``:
            ``{"x": {0: "B", 1: "T"}}``; see ``glassnet.analysis.tracer``.

    For a glassnet model every row's ``macs_formula`` is per sample over the named dimensions. For any
    other module each row's formula is per forward call, for that module and everything inside it, over
    the dims named in ``dynamic``; the numbers are at the example sizes (``report.at(T=512)`` for
    others). ``None`` is unknown, never 0.
    """
    if hasattr(model, "graph_nodes"):  # a glassnet model (duck typing: analysis sits below models)
        if example_inputs is not None or dynamic is not None:
            raise TypeError(f"Model '{model.name}' names its dimensions in its Input: pass input_shape=..., "
                            "not example_inputs or dynamic.")
        return analyze_model(model, input_shape, batch_size, dtype)
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"analyze() takes a glassnet model or a torch.nn.Module. Received: {type(model).__name__}")
    inputs = example_inputs if example_inputs is not None else input_shape
    if inputs is None:
        raise ValueError(f"{type(model).__name__} is a plain torch module: give example inputs, e.g. "
                         "gn.analyze(module, torch.randn(2, 3, 32, 32), dynamic={'x': {0: 'B'}}).")
    inputs = example_tensors(inputs, dtype)
    try:
        traced = trace(model, inputs, dynamic)
    except ExportFailed as exc:
        return measure_module(model, inputs, dynamic, str(exc))
    return report_from_trace(traced)
