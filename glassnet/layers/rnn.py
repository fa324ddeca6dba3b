"""The generic recurrent layer: ``RNN(cell)`` walks the time axis and calls ``cell`` at every step, with
Keras 3's masks, states, ``go_backwards``, ``stateful`` and ``return_sequences`` / ``return_state``;
``StackedRNNCells`` makes several cells one.

A cell is written the Keras way: ``call(inputs, states) -> (output, new_states)``, a ``state_size`` (an
int, a list of ints, or a nested list for stacked cells), optionally ``output_size`` and
``get_initial_state(batch_size)``. glassnet's SimpleRNNCell, LSTMCell and GRUCell are such cells and
also tell ``glassnet.kernels.recurrent`` what they are (``kernel_name``), so an RNN of one of them runs
torch's fused kernels, or its reference loop (the input projection for all steps at once, then the
recurrent part step by step) — the same code SimpleRNN, LSTM and GRU run. Any other cell runs the
generic loop: one call of the cell per step, with Keras's masked update (states carried through masked
steps; outputs repeat the last real one, or are 0 with ``zero_output_for_mask``).

The parameters are the cell's: they do not grow with the number of steps; the work grows linearly.
"""
from __future__ import annotations

import inspect

import sympy
import torch

from ..dims import fmt_dim, fmt_shape, is_fixed
from ..errors import ConfigError, ShapeError
from ..formula import plus, prod, sym
from ..graph import call_flags
from ..kernels import recurrent as kernels
from ..structure import flatten
from . import registry
from .base import Layer, to_snake_case
from .cost import Cost

__all__ = ["RNN", "StackedRNNCells", "serialize_cell"]

_KNOWN_KERNELS = ("simple_rnn", "lstm", "gru")


def _known(cell) -> bool:
    """A glassnet cell the recurrent kernels and the reference loop know (SimpleRNN, LSTM, GRU cells)."""
    return getattr(cell, "kernel_name", None) in _KNOWN_KERNELS and hasattr(cell, "project")


def _pack(structure, flat: list):
    """``flat`` laid out as ``structure`` (lists and tuples nested, tensors as leaves)."""
    it = iter(flat)

    def rebuild(s):
        if isinstance(s, (list, tuple)):
            return type(s)(rebuild(v) for v in s)
        return next(it)
    return rebuild(structure)


def _as_list(states):
    return list(states) if isinstance(states, (list, tuple)) else [states]


def _flat_sizes(state_size) -> list:
    return flatten(state_size) if isinstance(state_size, (list, tuple)) else [state_size]


def _rename(expr, mapping: dict):
    """``expr`` with its symbols renamed, keeping the unevaluated order it prints in."""
    if isinstance(expr, sympy.Symbol):
        return mapping.get(expr, expr)
    if isinstance(expr, (sympy.Add, sympy.Mul)):
        return type(expr)(*(_rename(a, mapping) for a in expr.args), evaluate=False)
    return expr.xreplace(mapping) if isinstance(expr, sympy.Basic) else expr


def times(steps, expr):
    """``T·expr`` printed flat (``T·4·d·(n+d)``)."""
    if isinstance(expr, sympy.Mul):
        return prod(steps, *expr.args)
    return prod(steps, expr)


def serialize_cell(cell) -> dict:
    """A cell as Keras writes it; a user's class is written under its own name (resolved on loading
    through ``custom_objects``), as Keras writes an unregistered class."""
    spec = registry.serialize(cell)
    if registry.get(type(cell).__name__) is not type(cell):
        spec["module"], spec["registered_name"] = None, type(cell).__name__
    return spec


class RNN(Layer):
    """Runs ``cell`` over the time axis (Keras 3's ``keras.layers.RNN``).

    Args:
        cell: a cell (see the module docstring), or a list of cells (stacked).
        return_sequences: return every step's output ``(batch, T, out)`` instead of the last ``(batch, out)``.
        return_state: also return the final states (flattened, one tensor each).
        go_backwards: walk the sequence backwards (outputs come in the order they were computed).
        stateful: carry the final states of a batch into the next call (needs a fixed batch size).
        unroll: accepted (the loop is a Python loop either way); needs a fixed number of steps, as in Keras.
        zero_output_for_mask: masked steps output 0 instead of repeating the last real output.

    Input shape:
        ``(batch, T, ...)``; ``mask`` ``(batch, T)`` (True = real step).
    Weights:
        the cell's (in files under ``cell/``).

    Example:
        >>> rnn = layers.RNN(layers.LSTMCell(10))
        >>> gn.Sequential([gn.Input((50, 1)), rnn]).count_params()
        480
    """

    supports_masking = True
    path: str | None = None  # force "fused", "packed", "sequence" or "loop" for a known cell (tests)
    _LOOP_NOT_EXPORTABLE = ("runs its cell step by step in a Python loop, which torch's exporter unrolls to the "
                            "example's number of time steps, so the graph would accept no other length. Use SimpleRNN, "
                            "LSTM or GRU cells (or layers) for an exportable recurrence.")

    @property
    def onnx_unsupported(self) -> str | None:
        """glassnet's own cells run torch's fused kernels, which export with a dynamic time axis."""
        return None if _known(self.cell) else self._LOOP_NOT_EXPORTABLE

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, zero_output_for_mask=False, **kwargs):
        super().__init__(**kwargs)
        self.cell = self._make_cell(cell)
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards, self.stateful, self.unroll = bool(go_backwards), bool(stateful), bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self._state_values: list[torch.Tensor] | None = None

    def _make_cell(self, cell):
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        if "call" not in dir(cell):
            raise ConfigError(f"Argument `cell` should have a `call` method. Received: cell={cell!r}")
        if "state_size" not in dir(cell):
            raise ConfigError("The RNN cell should have a `state_size` attribute (single integer or list of "
                              f"integers, one integer per RNN state). Received: cell={cell!r}")
        return cell

    # -- sizes ---------------------------------------------------------------------------------
    @property
    def state_size(self) -> list:
        size = self.cell.state_size
        return list(size) if isinstance(size, (list, tuple)) else [size]

    def _n_states(self) -> int:
        return len(_flat_sizes(self.state_size))

    def _output_size(self) -> int:
        size = getattr(self.cell, "output_size", None)
        if size is None:
            size = _flat_sizes(self.state_size)[0]
        if not isinstance(size, int):
            raise ConfigError(self._error("needs the cell's output_size (or first state size) to be an integer",
                                          f"output_size={size!r}"))
        return size

    # -- shapes and masks ----------------------------------------------------------------------
    def _check_input(self, input_shape, rank=3, meaning="(batch, timesteps, features)", min_rank=True):
        fix = None
        if len(input_shape) == 2 and is_fixed(input_shape[1]):
            fix = (f"Add a feature axis, e.g. layers.Reshape(({input_shape[1]}, 1)) to read "
                   f"{input_shape[1]} time steps of 1 feature each.")
        self._require_rank(input_shape, rank, meaning, fix, min_rank=min_rank)
        if self.stateful and not is_fixed(input_shape[0]):
            raise ShapeError(self._error(
                "uses stateful=True, so the batch size must be static; found a dynamic batch size",
                f"input shape {fmt_shape(input_shape)}",
                "Pass batch_size=... (or batch_shape=...) to Input so every batch has the same size."))
        if self.unroll and not is_fixed(input_shape[1]):
            raise ShapeError(self._error(
                "cannot unroll a recurrence whose number of time steps is undefined",
                f"input shape {fmt_shape(input_shape)}", "Give the time axis a size in Input(...)."))

    def compute_output_shape(self, input_shape):
        known = _known(self.cell)
        self._check_input(input_shape, min_rank=not known)
        self._require_fixed(input_shape, -1, "number of features (last axis)")
        if known and self.cell.built:
            self._check_built_dim(input_shape, -1, self.cell.kernel.shape[0], "features")
        batch, d = input_shape[0], self._output_size()
        out = (batch, input_shape[1], d) if self.return_sequences else (batch, d)
        if self.return_state:
            return [out] + [(batch, s) for s in _flat_sizes(self.state_size)]
        return out

    def build(self, input_shape):
        step_shape = (input_shape[0], *input_shape[2:])
        if isinstance(self.cell, Layer):
            if not self.cell.built:
                self.cell._build_from(step_shape)
        elif hasattr(self.cell, "build"):
            self.cell.build(step_shape)

    @property
    def mask_rule(self):
        return "carry" if self.return_sequences else "consume"

    def compute_mask(self, inputs, mask=None):
        out = mask if self.return_sequences else None
        return [out] + [None] * self._n_states() if self.return_state else out

    def compute_mask_shape(self, input_shape, mask_shape):
        out = mask_shape if self.return_sequences else None
        return [out] + [None] * self._n_states() if self.return_state else out

    # -- states --------------------------------------------------------------------------------
    def reset_states(self) -> None:
        """Zero the carried states of a stateful layer."""
        self._state_values = None

    reset_state = reset_states

    def get_initial_state(self, batch_size: int, like: torch.Tensor | None = None):
        """The cell's initial states (its ``get_initial_state``, else zeros ``(batch, size)``), as a list."""
        fn = getattr(self.cell, "get_initial_state", None)
        if fn is None:
            where = {} if like is None else {"device": like.device, "dtype": like.dtype}

            def zeros(s):
                return [zeros(v) for v in s] if isinstance(s, (list, tuple)) else torch.zeros(batch_size, s, **where)
            return [zeros(s) for s in self.state_size]
        init = _as_list(fn(batch_size=batch_size))
        if like is not None:
            init = _pack(init, [t.to(device=like.device, dtype=like.dtype) for t in flatten(init)])
        return init

    def _initial_states(self, inputs, initial_state):
        B = inputs.shape[0]
        default = self.get_initial_state(B, like=inputs)
        if initial_state is not None:
            given = flatten(_as_list(initial_state))
            shapes = [tuple(t.shape) for t in flatten(default)]
            if len(given) != len(shapes) or any(tuple(s.shape) != e for s, e in zip(given, shapes)):
                want = f"of shape (batch, units) = {shapes[0]}" if len(set(shapes)) == 1 else f"of shapes {shapes}"
                raise ShapeError(self._error(f"expects initial_state as {len(shapes)} tensor(s) {want}",
                                             f"initial_state shapes {[tuple(s.shape) for s in given]}"))
            return _pack(default, [s.to(inputs.dtype) for s in given])
        if self.stateful and self._state_values is not None:
            if self._state_values[0].shape[0] != B:
                raise ShapeError(self._error(
                    f"is stateful and carries states for a batch of {self._state_values[0].shape[0]}; a batch of "
                    f"{B} cannot continue them", f"input shape {tuple(inputs.shape)}",
                    "Feed batches of the size it was built for, or call reset_states() first."))
            return _pack(default, self._state_values)
        return default

    # -- the call ------------------------------------------------------------------------------
    def call(self, sequences, initial_state=None, mask=None, training=False):
        B, T = sequences.shape[0], sequences.shape[1]
        if mask is not None:
            if tuple(mask.shape) != (B, T):
                raise ShapeError(self._error(
                    f"got a mask of shape {tuple(mask.shape)} that does not match the input's (batch, timesteps) = {(B, T)}",
                    f"input shape {tuple(sequences.shape)}", "Pass a boolean mask of shape (batch, timesteps)."))
            mask = mask.to(torch.bool)
        states = self._initial_states(sequences, initial_state)
        x = sequences
        if self.go_backwards:
            x = x.flip(1)
            mask = None if mask is None else mask.flip(1)
        if _known(self.cell):
            seq, last, states = self._run_known(x, mask, states, training)
        else:
            seq, last, states = self._generic_loop(x, mask, states, training)
        flat = flatten(states)
        if self.stateful:
            self._state_values = [s.detach() for s in flat]
        output = seq if self.return_sequences else last
        return [output, *flat] if self.return_state else output

    def _run_known(self, x, mask, states, training):
        """A glassnet SimpleRNN/LSTM/GRU cell: a fast kernel, else the one reference loop."""
        cell, B, rec_mask = self.cell, x.shape[0], None
        if training and cell.dropout > 0:
            keep = 1.0 - cell.dropout
            x = x * (torch.empty(B, 1, x.shape[-1], device=x.device, dtype=x.dtype).bernoulli_(keep) / keep)
        if training and cell.recurrent_dropout > 0:
            keep = 1.0 - cell.recurrent_dropout
            rec_mask = torch.empty(B, cell.units, device=x.device, dtype=x.dtype).bernoulli_(keep) / keep
        if self.path != "loop":
            try:
                return kernels.run(cell, x, mask, states, training, return_sequences=self.return_sequences,
                                   zero_output_for_mask=self.zero_output_for_mask,
                                   recurrent_dropout=rec_mask is not None, path=self.path)
            except kernels.NoKernel:
                pass
        return self._reference_loop(x, mask, states, rec_mask)

    def _reference_loop(self, x, mask, states, rec_mask):
        """The one reference loop of the known cells: Keras's step-by-step update, any mask."""
        cell = self.cell
        xp = cell.project(x)
        return self._loop(x, mask, states, lambda t, s: cell.step(xp[:, t], s, rec_mask))

    def _generic_loop(self, x, mask, states, training):
        """Any cell: ``cell(x_t, states)`` at every step."""
        cell = self.cell
        if isinstance(cell, Layer):
            def step(t, s):
                return cell(x[:, t], s, training=training)
        else:
            takes_training = "training" in inspect.signature(cell.call).parameters
            kwargs = {"training": training} if takes_training else {}

            def step(t, s):
                return cell.call(x[:, t], s, **kwargs)
        reset = getattr(cell, "reset_dropout_masks", None)
        if reset is not None:
            reset()
        try:
            return self._loop(x, mask, states, step)
        finally:
            if reset is not None:
                reset()

    def _loop(self, x, mask, states, step):
        """Keras's masked recurrence (backend ``rnn``): states carried through masked steps."""
        y, outs, zeros = None, [], None
        for t in range(x.shape[1]):
            out, new = step(t, states)
            new = new if isinstance(new, (list, tuple)) else [new]
            if mask is None:
                states, y = new, out
            else:
                m = mask[:, t]
                flat = [torch.where(m.view(-1, *([1] * (n.dim() - 1))), n, s)
                        for n, s in zip(flatten(new), flatten(states))]
                states = _pack(new, flat)
                if zeros is None:
                    zeros = torch.zeros_like(out)
                keep = m.view(-1, *([1] * (out.dim() - 1)))
                y = torch.where(keep, out, zeros if (self.zero_output_for_mask or y is None) else y)
            if self.return_sequences:
                outs.append(y)
        if y is None:  # zero time steps
            y = torch.zeros_like(flatten(states)[0])
        seq = None
        if self.return_sequences:
            seq = torch.stack(outs, dim=1) if outs else y.new_zeros(y.shape[0], 0, *y.shape[1:])
        return seq, y, states

    # -- cost rule -----------------------------------------------------------------------------
    def cost(self, input_shape, output_shape):
        T = input_shape[1]
        rule = getattr(self.cell, "step_cost", None)
        if rule is None:
            return Cost.unknown(self, f"walks the {fmt_dim(T)} time steps in order with the cell "
                                      f"{type(self.cell).__name__}, whose work per step is unknown (it has no "
                                      f"step_cost); parameters do not depend on the number of steps")
        step = rule((input_shape[0], *input_shape[2:]))
        saved_fn = getattr(self.cell, "saved_elements", None)
        saved = ((saved_fn(input_shape[0], T, input_shape), None),) if saved_fn else ("input", "output")
        return Cost(
            params=step.params, values=step.values, macs=None if step.macs is None else times(T, step.macs),
            other_flops=None if step.other_flops is None else T * step.other_flops,
            reads=(f"walks the {fmt_dim(T)} time steps in order" + (" backwards" if self.go_backwards else "")
                   + f" with {step.reads}; parameters do not depend on the number of steps"),
            rf=("recurrent",), needs_fixed=step.needs_fixed, saved=saved)

    # -- config --------------------------------------------------------------------------------
    def get_config(self):
        return {**super().get_config(), "return_sequences": self.return_sequences, "return_state": self.return_state,
                "go_backwards": self.go_backwards, "stateful": self.stateful, "unroll": self.unroll,
                "zero_output_for_mask": self.zero_output_for_mask, "cell": serialize_cell(self.cell)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        cell = config.pop("cell")
        return cls(registry.deserialize(cell) if isinstance(cell, dict) else cell, **config)

    def extra_repr(self):
        return f"name={self.name!r}, cell={type(self.cell).__name__}"


class StackedRNNCells(Layer):
    """Several cells as one: each step feeds the output of one cell to the next (Keras's
    ``StackedRNNCells``). Its state is the list of the cells' states.

    Example:
        >>> cells = layers.StackedRNNCells([layers.LSTMCell(8), layers.GRUCell(4)])
        >>> layers.RNN(cells)(gn.Input((None, 3))).shape
        (None, 4)
    """

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        cells = list(cells)
        for cell in cells:
            if "call" not in dir(cell):
                raise ConfigError(f"All cells must have a `call` method. Received cell without a `call` method: {cell!r}")
            if "state_size" not in dir(cell):
                raise ConfigError(f"All cells must have a `state_size` attribute. Received cell without a "
                                  f"`state_size`: {cell!r}")
        for i, cell in enumerate(cells):
            if isinstance(cell, torch.nn.Module):
                self.add_module(f"cells_{i}", cell)
        self.cells = cells

    @property
    def state_size(self):
        return [c.state_size for c in self.cells]

    @property
    def output_size(self):
        last = self.cells[-1]
        if getattr(last, "output_size", None) is not None:
            return last.output_size
        return _flat_sizes(last.state_size)[0]

    def get_initial_state(self, batch_size=None):
        states = []
        for cell in self.cells:
            fn = getattr(cell, "get_initial_state", None)
            if fn is not None:
                states.append(fn(batch_size=batch_size))
            elif isinstance(cell.state_size, int):
                states.append(torch.zeros(batch_size, cell.state_size))
            else:
                states.append([torch.zeros(batch_size, d) for d in cell.state_size])
        return states

    def build(self, input_shape):
        for cell in self.cells:
            if isinstance(cell, Layer):
                if not cell.built:
                    cell._build_from(tuple(input_shape))
            elif hasattr(cell, "build"):
                cell.build(tuple(input_shape))
            out = getattr(cell, "output_size", None)
            input_shape = (input_shape[0], out if out is not None else _flat_sizes(cell.state_size)[0])

    def call(self, inputs, states, training=False):
        new_states = []
        for cell, s in zip(self.cells, states):
            was_list = isinstance(s, (list, tuple))
            s = _as_list(s)
            if isinstance(cell, Layer):
                inputs, s = cell(inputs, s, training=training)
            else:
                kwargs = {"training": training} if call_flags(cell)[1] else {}
                inputs, s = cell.call(inputs, s, **kwargs)
            s = _as_list(s)
            new_states.append(s[0] if len(s) == 1 and not was_list else s)
        return inputs, new_states

    def reset_dropout_masks(self) -> None:
        for cell in self.cells:
            fn = getattr(cell, "reset_dropout_masks", None)
            if fn is not None:
                fn()

    def saving_children(self):
        """Keras's paths: ``cells/<snake_class>[_k]`` in order."""
        counts: dict[str, int] = {}
        out = {}
        for cell in self.cells:
            base = to_snake_case(type(cell).__name__)
            k = counts.get(base, 0)
            counts[base] = k + 1
            out[f"cells/{base}" if k == 0 else f"cells/{base}_{k}"] = cell
        return out

    def step_cost(self, step_input_shape):
        """The cells' costs added, each cell's symbols numbered (``d1``, ``n1``, ``d2`` …)."""
        params, macs, other, values, reads = [], [], 0, {}, []
        shape = tuple(step_input_shape)
        for i, cell in enumerate(self.cells, start=1):
            rule = getattr(cell, "step_cost", None)
            if rule is None:
                return Cost.unknown(self, f"stacks cells, one of which ({type(cell).__name__}) has no step_cost")
            c = rule(shape)
            names = {s: sym(f"{s.name}{i}") for s in c.values}
            params.append(_rename(c.params, names))
            macs.append(None if c.macs is None else _rename(c.macs, names))
            other = None if (other is None or c.other_flops is None) else other + c.other_flops
            values.update({names[s]: v for s, v in c.values.items()})
            reads.append(f"{type(cell).__name__} ({c.reads})")
            out = getattr(cell, "output_size", None)
            shape = (shape[0], out if out is not None else _flat_sizes(cell.state_size)[0])
        return Cost(params=plus(*params), values=values, macs=None if None in macs else plus(*macs),
                    other_flops=other, reads=" then ".join(reads), needs_fixed=("features (last axis)",))

    def get_config(self):
        return {**super().get_config(), "cells": [serialize_cell(c) for c in self.cells]}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        cells = [registry.deserialize(c) if isinstance(c, dict) else c for c in config.pop("cells")]
        return cls(cells, **config)
