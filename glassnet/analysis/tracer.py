"""Tracing any ``torch.nn.Module`` with ``torch.export``, keeping the dimensions the user names dynamic.

``trace(module, example_inputs, dynamic)`` exports the module with ``torch.export.Dim.AUTO`` on every
dimension the user names, so the export never fails because the model pins a size: it pins it, and the
trace reports where. While it exports, one ``TorchFunctionMode``

* runs torch's recurrent kernels (``nn.LSTM``, ``nn.GRU``, ``nn.RNN``) as one opaque operator,
  ``glassnet::rnn``, whose shape rule keeps the time axis symbolic (torch's own decomposition walks the
  steps one by one and pins the sequence length);
* notes, for every torch call that adds a guard, pins a size or narrows a size's range, the source
  line and module that made the call, so a report can say which line fixed ``T`` and why ``T ≤ 512``.

The dynamic dimensions are given per argument of ``forward``, by name or by position::

    dynamic={"x": {0: "B", 1: "T"}}                      # forward(self, x)
    dynamic={"input_ids": {1: "T"}, "attention_mask": {1: "T"}}
    dynamic=[{0: "B", 2: "H", 3: "W"}]                   # the first positional argument
    dynamic={"x": {1: torch.export.Dim("T", max=512)}}   # a Dim gives its name and its range

Equal names are one dimension. Example sizes of dynamic dimensions must be 2 or more (torch.export
treats sizes 0 and 1 as constants).
"""
from __future__ import annotations

import contextlib
import inspect
import io
import linecache
import logging
import os
import sys
import warnings
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.export import Dim
from torch.overrides import TorchFunctionMode
from torch.utils import _pytree as pytree

from .constraints import Constraint, Event, map_dims
from .symbolic import Converter

__all__ = ["trace", "prepare", "Trace", "Constraint", "bind_inputs", "ExportFailed"]

_TORCH_DIR = os.path.dirname(torch.__file__)
_THIS_FILE = __file__


class ExportFailed(RuntimeError):
    """torch.export could not trace the module (the reason is the message)."""


# ---------------------------------------------------------------------- recurrent kernels as one operator
@torch.library.custom_op("glassnet::rnn", mutates_args=())
def _rnn_op(mode: str, x: torch.Tensor, hx: list[torch.Tensor], weights: list[torch.Tensor], has_biases: bool,
            num_layers: int, dropout: float, train: bool, bidirectional: bool, batch_first: bool) -> list[torch.Tensor]:
    """torch's recurrent kernel (``torch._VF.lstm`` / ``gru`` / ``rnn_tanh`` / ``rnn_relu``) as one operator."""
    fn = {"lstm": torch._VF.lstm, "gru": torch._VF.gru, "rnn_tanh": torch._VF.rnn_tanh, "rnn_relu": torch._VF.rnn_relu}[mode]
    state = tuple(hx) if mode == "lstm" else hx[0]
    out = fn(x, state, weights, has_biases, num_layers, dropout, train, bidirectional, batch_first)
    return [t.clone() for t in out]


@_rnn_op.register_fake
def _rnn_shapes(mode, x, hx, weights, has_biases, num_layers, dropout, train, bidirectional, batch_first):
    directions = 2 if bidirectional else 1
    state = hx[0].shape[-1]
    if x.dim() == 3:
        steps, batch = (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1])
        out = x.new_empty((batch, steps, directions * state) if batch_first else (steps, batch, directions * state))
    else:
        out = x.new_empty((x.shape[0], directions * state))
    return [out] + [h.new_empty(h.shape) for h in hx]


_RNN_FUNCS = {torch._VF.lstm: "lstm", torch._VF.gru: "gru", torch._VF.rnn_tanh: "rnn_tanh", torch._VF.rnn_relu: "rnn_relu"}


# ---------------------------------------------------------------------- where sizes get pinned
def _shape_env(args, kwargs):
    for a in pytree.tree_leaves((args, kwargs)):
        fake = getattr(a, "fake_mode", None)
        if fake is None and hasattr(a, "elem"):  # a functional wrapper around a fake tensor
            fake = getattr(a.elem, "fake_mode", None)
        if fake is not None and fake.shape_env is not None:
            return fake.shape_env
    return None


def _user_frame():
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if not (name.startswith(_TORCH_DIR) or name == _THIS_FILE or name.startswith("<")):
            return frame
        frame = frame.f_back
    return None


class _TraceMode(TorchFunctionMode):
    def __init__(self, module_names: dict):
        super().__init__()
        self.module_names = module_names
        self.events: list[Event] = []
        self.env = None      # export's shape environment, found on the first call with fake tensors
        self.inputs: list = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        mode = _RNN_FUNCS.get(func)
        if mode is not None and len(args) == 9 and isinstance(args[2], (list, tuple)):
            x, hx, weights, *flags = args
            hx = list(hx) if isinstance(hx, (list, tuple)) else [hx]
            func, args = torch.ops.glassnet.rnn.default, (mode, x, hx, list(weights), *flags)
        if self.env is None:
            self.env = _shape_env(args, kwargs)
            self.inputs = list(self.env.var_to_range) if self.env is not None else []  # the example's sizes
        env = self.env
        if env is None:
            out = func(*args, **kwargs)
            return tuple(out) if func is torch.ops.glassnet.rnn.default else out
        n_guards, n_replaced = len(env.guards), len(env.replacements)
        ranges = [env.var_to_range.get(k) for k in self.inputs]
        out = func(*args, **kwargs)
        if len(env.guards) != n_guards or len(env.replacements) != n_replaced or \
                ranges != [env.var_to_range.get(k) for k in self.inputs]:
            self._note(env, func, n_guards, n_replaced, dict(zip(self.inputs, ranges)))
        return tuple(out) if func is torch.ops.glassnet.rnn.default else out

    def _note(self, env, func, n_guards, n_replaced, ranges):
        frame = _user_frame()
        where = code = ""
        module = None
        if frame is not None:
            code = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
            owner = frame.f_locals.get("self")
            if not isinstance(owner, nn.Module):
                owner = frame.f_locals.get("module")
            module = self.module_names.get(id(owner))
            function = frame.f_code.co_name if owner is None else f"{type(owner).__name__}.{frame.f_code.co_name}"
            where = f"{frame.f_code.co_filename}:{frame.f_lineno} ({function})"
        self.events.append(Event(
            (n_guards, len(env.guards)), dict(list(env.replacements.items())[n_replaced:]),
            {k: (old, env.var_to_range.get(k)) for k, old in ranges.items() if env.var_to_range.get(k) != old},
            where, code, module, getattr(func, "__name__", str(func))))


class _Entry(nn.Module):
    """Calls the user's module with (args, kwargs); its only child is the module, so paths lose 'module.'."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, args, kwargs):
        return _tensor_leaves(self.module(*args, **kwargs))


def _tensor_leaves(out, depth: int = 0):
    """Every tensor in whatever forward returns (tuples, dicts, dataclasses, a Hugging Face cache …)."""
    if isinstance(out, torch.Tensor):
        return [out]
    if depth > 4 or out is None or isinstance(out, (int, float, bool, str)):
        return []
    if isinstance(out, dict):
        items = list(out.values())
    elif isinstance(out, (list, tuple)):
        items = list(out)
    elif hasattr(out, "__dict__"):
        items = list(vars(out).values())
    else:
        return []
    return [t for item in items for t in _tensor_leaves(item, depth + 1)]


# ---------------------------------------------------------------------- inputs and dynamic dims
def bind_inputs(module: nn.Module, example_inputs) -> tuple[tuple, dict, inspect.BoundArguments]:
    """``example_inputs`` (a tensor, a tuple of positional arguments or a dict of keyword arguments) bound
    to ``module.forward``'s parameters."""
    if isinstance(example_inputs, torch.Tensor):
        args, kwargs = (example_inputs,), {}
    elif isinstance(example_inputs, dict):
        args, kwargs = (), dict(example_inputs)
    elif isinstance(example_inputs, (list, tuple)):
        args, kwargs = tuple(example_inputs), {}
    else:
        raise TypeError("example inputs must be a tensor, a tuple of positional arguments or a dict of keyword "
                        f"arguments. Received: {type(example_inputs).__name__}")
    try:
        bound = inspect.signature(module.forward).bind(*args, **kwargs)
    except TypeError as exc:
        raise TypeError(f"{type(module).__name__}.forward does not take these example inputs: {exc}") from None
    return args, kwargs, bound


def _dim_spec(value):
    """('T', min, max) from a name or a torch.export.Dim."""
    if isinstance(value, str):
        return value, None, None
    name = getattr(value, "__name__", None)
    if name is not None and hasattr(value, "min"):
        lo, hi = value.min, value.max
        return name, (lo if isinstance(lo, int) and lo > 2 else None), (hi if isinstance(hi, int) and hi < sys.maxsize - 1 else None)
    raise TypeError(f"A dynamic dimension is a name or a torch.export.Dim. Received: {value!r}")


def _spec_for(bound: inspect.BoundArguments, args, dynamic) -> dict:
    """{parameter name: {axis: (name, min, max)} or a list of those for a list of tensors}."""
    if dynamic is None:
        return {}
    names = list(bound.arguments)
    if isinstance(dynamic, (list, tuple)):
        dynamic = {names[i]: d for i, d in enumerate(dynamic) if d is not None}
    if not isinstance(dynamic, dict):
        raise TypeError(f"dynamic must map forward's argument names to {{axis: name}}. Received: {dynamic!r}")
    out = {}
    for param, axes in dynamic.items():
        if param not in bound.arguments:
            raise ValueError(f"dynamic names '{param}', which is not an argument given to forward "
                             f"(given: {', '.join(names)}).")
        if isinstance(axes, (list, tuple)):
            out[param] = [{int(a): _dim_spec(v) for a, v in (ax or {}).items()} for ax in axes]
        else:
            out[param] = {int(a): _dim_spec(v) for a, v in axes.items()}
    return out


@dataclass
class _Leaf:
    path: str            # the export source of the tensor, e.g. L['args'][0]
    label: str           # how a person names it: x, inputs[1]
    tensor: torch.Tensor
    axes: dict           # axis -> (name, min, max)


def _leaves(args, kwargs, bound, spec) -> list[_Leaf]:
    """The example tensors in export's order, each with the dims the user named on it."""
    positional = []  # the parameter each positional argument fills (a *args parameter takes the rest)
    for pname, param in bound.signature.parameters.items():
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            positional += [pname] * (len(args) - len(positional))
        elif param.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            positional.append(pname)
    out = []
    flat, _ = pytree.tree_flatten_with_path((args, kwargs))
    for keys, leaf in flat:
        if not isinstance(leaf, torch.Tensor):
            continue
        top = "args" if keys[0].idx == 0 else "kwargs"
        path = f"L['{top}']" + "".join(f"[{k.idx}]" if hasattr(k, "idx") else f"[{k.key!r}]" for k in keys[1:])
        pname = positional[keys[1].idx] if top == "args" else keys[1].key
        rest = keys[2:]
        label = pname + "".join(f"[{getattr(k, 'idx', getattr(k, 'key', ''))}]" for k in rest)
        axes = spec.get(pname, {})
        if isinstance(axes, list):
            axes = axes[rest[0].idx] if rest and hasattr(rest[0], "idx") and rest[0].idx < len(axes) else {}
        axes = {a % leaf.dim() if leaf.dim() else a: v for a, v in axes.items()}  # -1 is the last axis
        out.append(_Leaf(path, label, leaf, axes))
    return out


def _export_spec(args, kwargs, leaves: list[_Leaf]):
    by_id = {id(leaf.tensor): leaf for leaf in leaves}

    def one(t):
        leaf = by_id.get(id(t)) if isinstance(t, torch.Tensor) else None
        if leaf is None or not leaf.axes:
            return None
        return {axis: Dim.AUTO(min=lo or 2, max=hi) if hi else Dim.AUTO(min=lo or 2)
                for axis, (_, lo, hi) in leaf.axes.items()}
    return pytree.tree_map(one, (args, kwargs), is_leaf=lambda x: isinstance(x, torch.Tensor) or x is None)


# ---------------------------------------------------------------------- the trace
@dataclass
class Trace:
    program: object                      # the torch.export.ExportedProgram
    converter: Converter                 # export's sizes in the user's names
    sizes: dict                          # user dim name -> example size
    root: nn.Module
    constraints: list = field(default_factory=list)
    inputs: list = field(default_factory=list)  # _Leaf per example tensor, export's order


def prepare(module: nn.Module, example_inputs, dynamic=None) -> tuple[tuple, dict, list, dict]:
    """(args, kwargs, the example tensors with their named dims, {dim name: example size}), checked."""
    args, kwargs, bound = bind_inputs(module, example_inputs)
    leaves = _leaves(args, kwargs, bound, _spec_for(bound, args, dynamic))
    sizes: dict = {}
    for leaf in leaves:
        for axis, (name, _, _) in leaf.axes.items():
            if axis >= leaf.tensor.dim():
                raise ValueError(f"dynamic names axis {axis} of '{leaf.label}', which has shape {tuple(leaf.tensor.shape)}.")
            size = int(leaf.tensor.shape[axis])
            if size < 2:
                raise ValueError(f"The example gives dynamic dimension {name} (axis {axis} of '{leaf.label}') size {size}; "
                                 "torch.export treats sizes 0 and 1 as constants. Give an example of size 2 or more.")
            if sizes.setdefault(name, size) != size:
                raise ValueError(f"Dimension {name} has size {sizes[name]} in one example input and {size} in "
                                 f"'{leaf.label}'; one name is one size.")
    return args, kwargs, leaves, sizes


def trace(module: nn.Module, example_inputs, dynamic=None) -> Trace:
    """Export ``module`` at ``example_inputs`` with the named dims dynamic (see the module docstring).
    Raises ``ExportFailed`` (with torch's reason) when torch.export cannot trace it."""
    args, kwargs, leaves, sizes = prepare(module, example_inputs, dynamic)
    names = {id(m): path for path, m in module.named_modules(remove_duplicate=False)}
    mode = _TraceMode(names)
    try:
        with warnings.catch_warnings(), _quiet_torch_logs():
            warnings.simplefilter("ignore")
            with mode:
                program = torch.export.export(_Entry(module), (args, kwargs),
                                              dynamic_shapes=_export_spec(args, kwargs, leaves), strict=False)
    except Exception as exc:  # noqa: BLE001 - whatever export raises, the caller falls back to measuring
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ExportFailed(f"{type(exc).__name__}: {first}") from exc
    env = _find_env(program)
    symbols, constraints = map_dims(env, [(leaf.path, leaf.axes) for leaf in leaves], mode.events)
    return Trace(program, Converter(symbols), sizes, module, constraints, leaves)


@contextlib.contextmanager
def _quiet_torch_logs():
    """A failed export logs warnings and prints its partial graph to stderr; the report says what failed,
    once, so both are held back while exporting."""
    loggers = [logging.getLogger(n) for n in ("torch.fx.experimental.symbolic_shapes", "torch._export", "torch.export",
                                                "torch._dynamo", "torch.fx.experimental.recording")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _find_env(program):
    for node in program.graph.nodes:
        val = node.meta.get("val")
        fake = getattr(val, "fake_mode", None)
        if fake is not None and fake.shape_env is not None:
            return fake.shape_env
    return None
