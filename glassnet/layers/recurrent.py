"""Recurrent layers: SimpleRNN, LSTM, GRU — Keras weights and mask semantics, torch's fused kernels.

Every recurrent layer walks the time axis step by step with one set of weights (the cell),
so its parameters do not depend on the number of steps while its work grows linearly.

Four execution paths give the same numbers (``layer.path`` forces one, for tests):

* ``fused``: no mask — torch's fused recurrent kernel (cuDNN on GPU, ATen/oneDNN on CPU).
* ``packed``: a right-padded mask — the fused kernel on a packed batch (each row stops at
  its last real step); outputs at padded steps repeat the last real output, as Keras does.
* ``sequence``: the same masks for LSTM on the CPU — one hand-written autograd node for the
  whole sequence (``sequence_kernel``); in float32 its recurrence runs in compiled C
  (``lstm_kernel.c``, each row stopping at its length) when a C compiler is available.
  A left-padded (pre-padded) mask takes either of these two after each row is rotated so its
  real steps come first; the outputs are rotated back, with zeros before the first real step.
* ``loop``: any other mask (padding in the middle), non-default activations or recurrent dropout — the input
  projection for all steps in one matrix multiply, then a loop over the recurrent part
  with Keras's masked update (state carried through masked steps).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .. import activations, initializers
from ..dims import fmt_shape, is_fixed
from ..errors import ConfigError, ShapeError
from .base import Layer
from .core import check_unsupported
from .cost import Cost, join
from .sequence_kernel import lstm_sequence

__all__ = ["SimpleRNNCell", "LSTMCell", "GRUCell", "SimpleRNN", "LSTM", "GRU", "RNNBase"]


def _unit_forget_bias_init(units: int, base):
    def init(shape, dtype=torch.float32):
        return torch.cat([base((units,), dtype), torch.ones(units, dtype=dtype), base((2 * units,), dtype)])
    return initializers.Initializer("unit_forget_bias", lambda s, d: init(s, d))



def _padding(mask) -> str | None:
    """Where a mask's padding sits: "right" (each row's real steps come first), "left" (they come last,
    as ``pad_sequences`` writes them), "middle" (anything else), or None without a mask."""
    if mask is None:
        return None
    if not bool((mask[:, 1:] & ~mask[:, :-1]).any()):
        return "right"
    if not bool((mask[:, :-1] & ~mask[:, 1:]).any()):
        return "left"
    return "middle"


def _shift_rows(x, shift):
    """Row b of (batch, T, ...) rotated along time by ``shift[b]`` steps: out[b, t] = x[b, (t + shift[b]) % T]."""
    T = x.shape[1]
    idx = (torch.arange(T, device=x.device)[None, :] + shift[:, None]) % T
    return x.gather(1, idx.view(*idx.shape, *([1] * (x.dim() - 2))).expand_as(x))


def _left_to_right(x, mask):
    """A left-padded batch as a right-padded one: each row rotated so its real steps come first.
    Returns the rotated input, its right-padded mask and each row's rotation."""
    lengths = mask.sum(dim=1)
    pads = x.shape[1] - lengths
    right = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]
    return _shift_rows(x, pads), right, pads

class _Cell(Layer):
    """Weights of one recurrent step: ``kernel (n, g·d)``, ``recurrent_kernel (d, g·d)``, ``bias``."""

    gates = 1
    n_states = 1

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", dropout=0.0, recurrent_dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.dropout = min(1.0, max(0.0, float(dropout)))
        self.recurrent_dropout = min(1.0, max(0.0, float(recurrent_dropout)))

    def build(self, input_shape):
        n, g = input_shape[-1], self.gates * self.units
        # stored transposed in memory: torch's fused kernels read kernel.T and recurrent_kernel.T
        self.add_weight("kernel", (n, g), self.kernel_initializer, memory_order=(1, 0))
        self.add_weight("recurrent_kernel", (self.units, g), self.recurrent_initializer, memory_order=(1, 0))
        if self.use_bias:
            self.add_weight("bias", self._bias_shape(), self._bias_init())

    def _bias_shape(self):
        return (self.gates * self.units,)

    def _bias_init(self):
        return self.bias_initializer

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    # -- arithmetic used by the loop path
    def project(self, x: torch.Tensor) -> torch.Tensor:
        """Input part of every gate for all steps at once: ``x @ kernel (+ bias)``."""
        if self.use_bias:
            return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.kernel).reshape(*x.shape[:-1], -1)
        return x @ self.kernel

    def _fused_ok(self) -> bool:
        return self.activation is torch.tanh and self.recurrent_activation is torch.sigmoid

    def _torch_params(self) -> list[torch.Tensor]:
        """torch's flat weights: ``w_ih = kernel.T``, ``w_hh = recurrent_kernel.T``, ``b_ih = bias``, ``b_hh = 0``."""
        p = [self.kernel.t(), self.recurrent_kernel.t()]
        if self.use_bias:
            p += [self.bias, torch.zeros_like(self.bias)]
        return p

    def fused_params(self) -> list[torch.Tensor]:
        """Weights in torch's layout for the fused kernels.

        With autograd on they are views of the Keras-layout weights (gradients flow back);
        without it (predict) contiguous copies are cached until a weight changes.
        """
        if torch.is_grad_enabled():
            return self._torch_params()
        key = tuple((id(w), w._version, w.device, w.dtype) for w in self._parameters.values())
        cache = getattr(self, "_param_cache", None)
        if cache is None or cache[0] != key:
            cache = (key, [p.detach().contiguous() for p in self._torch_params()])
            self._param_cache = cache
        return cache[1]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": activations.serialize(self.activation),
                "recurrent_activation": activations.serialize(self.recurrent_activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout}


class SimpleRNNCell(_Cell):
    """``h_t = activation(x_t @ kernel + bias + h_{t-1} @ recurrent_kernel)``."""

    def step(self, xp_t, states, rec_mask=None):
        h = states[0] if rec_mask is None else states[0] * rec_mask
        h_new = self.activation(xp_t + h @ self.recurrent_kernel)
        return h_new, [h_new]

    def _fused_ok(self) -> bool:
        return self.activation in (torch.tanh, torch.relu)

    def fused_fn(self):
        return torch.rnn_tanh if self.activation is torch.tanh else torch.rnn_relu


class LSTMCell(_Cell):
    """Gates ``i, f, c, o`` along the ``4·units`` axis; one bias ``(4·units,)``.

    ``c_t = σ(f)⊙c_{t-1} + σ(i)⊙tanh(g)``, ``h_t = σ(o)⊙tanh(c_t)``.
    """

    gates = 4
    n_states = 2

    def __init__(self, units, *args, unit_forget_bias=True, **kwargs):
        super().__init__(units, *args, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _bias_init(self):
        if self.unit_forget_bias:
            return _unit_forget_bias_init(self.units, self.bias_initializer)
        return self.bias_initializer

    def step(self, xp_t, states, rec_mask=None):
        h, c = states
        hr = h if rec_mask is None else h * rec_mask
        z = torch.addmm(xp_t, hr, self.recurrent_kernel)
        i, f, g, o = z.chunk(4, dim=1)
        c_new = self.recurrent_activation(f) * c + self.recurrent_activation(i) * self.activation(g)
        h_new = self.recurrent_activation(o) * self.activation(c_new)
        return h_new, [h_new, c_new]

    def fused_fn(self):
        return torch.lstm

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


class GRUCell(_Cell):
    """Gates ``z, r, h`` along the ``3·units`` axis.

    ``reset_after=True`` (default): bias ``(2, 3·units)`` (input row, recurrent row) and
    ``hh = tanh(x_h + r⊙(h@R_h + b_rh))``; ``reset_after=False``: bias ``(3·units,)`` and
    ``hh = tanh(x_h + (r⊙h)@R_h)``.  ``h_t = z⊙h_{t-1} + (1-z)⊙hh``.
    """

    gates = 3

    def __init__(self, units, *args, reset_after=True, **kwargs):
        super().__init__(units, *args, **kwargs)
        self.reset_after = bool(reset_after)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def project(self, x):
        if self.use_bias and self.reset_after:
            b = self.bias[0]
            return torch.addmm(b, x.reshape(-1, x.shape[-1]), self.kernel).reshape(*x.shape[:-1], -1)
        return super().project(x)

    def step(self, xp_t, states, rec_mask=None):
        h = states[0]
        hr = h if rec_mask is None else h * rec_mask
        d = self.units
        xz, xr, xh = xp_t.split(d, dim=1)
        if self.reset_after:
            rec = hr @ self.recurrent_kernel
            if self.use_bias:
                rec = rec + self.bias[1]
            rz, rr, rh = rec.split(d, dim=1)
            z = self.recurrent_activation(xz + rz)
            r = self.recurrent_activation(xr + rr)
            hh = self.activation(xh + r * rh)
        else:
            rz, rr = (hr @ self.recurrent_kernel[:, :2 * d]).split(d, dim=1)
            z = self.recurrent_activation(xz + rz)
            r = self.recurrent_activation(xr + rr)
            hh = self.activation(xh + (r * hr) @ self.recurrent_kernel[:, 2 * d:])
        h_new = z * h + (1 - z) * hh
        return h_new, [h_new]

    def _fused_ok(self) -> bool:
        return super()._fused_ok() and self.reset_after

    def _torch_params(self):
        d = self.units

        def reorder(w):  # Keras z, r, h → torch r, z, n along the last axis
            return torch.cat([w[..., d:2 * d], w[..., :d], w[..., 2 * d:]], dim=-1)
        p = [reorder(self.kernel).t(), reorder(self.recurrent_kernel).t()]
        if self.use_bias:
            p += [reorder(self.bias[0]), reorder(self.bias[1])]
        return p

    def fused_fn(self):
        return torch.gru

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}


class RNNBase(Layer):
    """What SimpleRNN, LSTM and GRU share: arguments, shape rule, masks, state and the three paths."""

    supports_masking = True
    cell_class: type = _Cell
    path: str | None = None  # force "fused", "packed" or "loop" (tests); None chooses

    def __init__(self, cell: _Cell, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, zero_output_for_mask=False, **kwargs):
        kwargs.pop("implementation", None)  # Keras accepts it; the math is the same
        kwargs.pop("use_cudnn", None)
        kwargs.pop("seed", None)
        super().__init__(**kwargs)
        self.cell = cell
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards, self.stateful, self.unroll = bool(go_backwards), bool(stateful), bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self._state_values: list[torch.Tensor] | None = None

    @property
    def units(self) -> int:
        return self.cell.units

    # -- shapes and masks ------------------------------------------------------------
    def compute_output_shape(self, input_shape):
        fix = None
        if len(input_shape) == 2 and is_fixed(input_shape[1]):
            fix = (f"Add a feature axis, e.g. layers.Reshape(({input_shape[1]}, 1)) to read "
                   f"{input_shape[1]} time steps of 1 feature each.")
        self._require_rank(input_shape, 3, "(batch, timesteps, features)", fix)
        self._require_fixed(input_shape, -1, "number of features (last axis)")
        if self.built:
            self._check_built_dim(input_shape, -1, self.cell.kernel.shape[0], "features")
        if self.stateful and not is_fixed(input_shape[0]):
            raise ShapeError(self._error(
                "uses stateful=True, so the batch size must be static; found a dynamic batch size",
                f"input shape {fmt_shape(input_shape)}",
                "Pass batch_size=... (or batch_shape=...) to Input so every batch has the same size."))
        batch, d = input_shape[0], self.units
        out = (batch, input_shape[1], d) if self.return_sequences else (batch, d)
        if self.return_state:
            return [out] + [(batch, d)] * self.cell.n_states
        return out

    def build(self, input_shape):
        self.cell._build_from((input_shape[0], input_shape[-1]))

    @property
    def mask_rule(self):
        return "carry" if self.return_sequences else "consume"

    def compute_mask(self, inputs, mask=None):
        out = mask if self.return_sequences else None
        return [out] + [None] * self.cell.n_states if self.return_state else out

    def compute_mask_shape(self, input_shape, mask_shape):
        out = mask_shape if self.return_sequences else None
        return [out] + [None] * self.cell.n_states if self.return_state else out

    # -- state ---------------------------------------------------------------------------
    def reset_states(self) -> None:
        """Zero the carried states of a stateful layer."""
        self._state_values = None

    reset_state = reset_states

    def _initial_states(self, inputs, initial_state) -> list[torch.Tensor]:
        B = inputs.shape[0]
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            if len(states) != self.cell.n_states or any(tuple(s.shape) != (B, self.units) for s in states):
                got = [tuple(s.shape) for s in states]
                raise ShapeError(self._error(
                    f"expects initial_state as {self.cell.n_states} tensor(s) of shape (batch, units) = {(B, self.units)}",
                    f"initial_state shapes {got}"))
            return [s.to(inputs.dtype) for s in states]
        if self.stateful and self._state_values is not None:
            return self._state_values
        zero = inputs.new_zeros(B, self.units)
        return [zero] * self.cell.n_states

    # -- the call ----------------------------------------------------------------------
    def call(self, inputs, mask=None, training=False, initial_state=None):
        B, T = inputs.shape[0], inputs.shape[1]
        if mask is not None:
            if tuple(mask.shape) != (B, T):
                raise ShapeError(self._error(
                    f"got a mask of shape {tuple(mask.shape)} that does not match the input's (batch, timesteps) = {(B, T)}",
                    f"input shape {tuple(inputs.shape)}", "Pass a boolean mask of shape (batch, timesteps)."))
            mask = mask.to(torch.bool)
        states = self._initial_states(inputs, initial_state)
        cell, x, rec_mask = self.cell, inputs, None
        if training and cell.dropout > 0:
            keep = 1.0 - cell.dropout
            x = x * (torch.empty(B, 1, x.shape[-1], device=x.device, dtype=x.dtype).bernoulli_(keep) / keep)
        if training and cell.recurrent_dropout > 0:
            keep = 1.0 - cell.recurrent_dropout
            rec_mask = torch.empty(B, self.units, device=x.device, dtype=x.dtype).bernoulli_(keep) / keep
        if self.go_backwards:
            x = x.flip(1)
            mask = None if mask is None else mask.flip(1)
        padding = _padding(mask)
        path = self._choose_path(mask, rec_mask, x, padding)
        left_mask = None
        if path in ("packed", "sequence") and padding == "left":  # pre-padded: real steps moved to the front
            left_mask = mask
            x, mask, pads = _left_to_right(x, mask)
        if path == "fused":
            seq, last, states = self._run_fused(x, states, training)
        elif path == "packed":
            seq, last, states = self._run_packed(x, mask, states, training)
        elif path == "sequence":
            seq, last, states = self._run_sequence(x, mask, states)
        else:
            seq, last, states = self._run_loop(x, mask, states, rec_mask)
        if left_mask is not None:  # back to the input's layout; steps before the first real one output zeros
            last = torch.where(left_mask[:, -1:], states[0], torch.zeros_like(states[0]))
            if seq is not None:
                seq = torch.where(left_mask[..., None], _shift_rows(seq, -pads), torch.zeros_like(seq))
        if self.stateful:
            self._state_values = [s.detach() for s in states]
        output = seq if self.return_sequences else last
        return [output, *states] if self.return_state else output

    def _choose_path(self, mask, rec_mask, x=None, padding: str | None = None) -> str:
        fused_ok = self.cell._fused_ok() and rec_mask is None
        # a right-padded mask, or a left-padded one (run as right-padded after moving each row's steps)
        right_padded = (padding or _padding(mask)) in ("right", "left")
        sequence_ok = isinstance(self.cell, LSTMCell) and fused_ok and (x is None or x.device.type == "cpu")
        if self.path is not None:
            wanted = self.path
            if wanted == "fused" and (mask is not None or not fused_ok):
                raise ConfigError(self._error("cannot use the fused path with a mask or this configuration"))
            if wanted in ("packed", "sequence") and (not right_padded or not fused_ok):
                raise ConfigError(self._error(f"can use the {wanted} path only with a right- or left-padded mask"))
            if wanted == "sequence" and not sequence_ok:
                raise ConfigError(self._error("can use the sequence path only for LSTM on the CPU"))
            return wanted
        if not fused_ok:
            return "loop"
        if mask is None:
            return "fused"
        if not right_padded:
            return "loop"
        return "sequence" if sequence_ok else "packed"

    def _call_fused(self, data, hx, training, batch_sizes=None):
        cell = self.cell
        fn, params = cell.fused_fn(), cell.fused_params()
        lead = (data,) if batch_sizes is None else (data, batch_sizes)
        tail = (cell.use_bias, 1, 0.0, bool(training), False) + (() if batch_sizes is not None else (True,))
        if cell.n_states == 2:
            out, h, c = fn(*lead, (hx[0].unsqueeze(0), hx[1].unsqueeze(0)), params, *tail)
            return out, [h[0], c[0]]
        out, h = fn(*lead, hx[0].unsqueeze(0), params, *tail)
        return out, [h[0]]

    def _run_fused(self, x, states, training):
        out, states = self._call_fused(x.contiguous(), states, training)
        return out, states[0], states  # the final h (equal to out[:, -1]) keeps backward off the sequence

    def _run_packed(self, x, mask, states, training):
        T = x.shape[1]
        lengths = mask.sum(dim=1)
        empty = lengths == 0
        packed = pack_padded_sequence(x, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
        hx = [s.index_select(0, packed.sorted_indices) for s in states]
        data, new = self._call_fused(packed.data, hx, training, packed.batch_sizes)
        new = [s.index_select(0, packed.unsorted_indices) for s in new]
        out = None
        if self.return_sequences:
            out, _ = pad_packed_sequence(packed._replace(data=data), batch_first=True, total_length=T)
        return self._finish_right_padded(out, new, mask, states, empty)

    def _run_sequence(self, x, mask, states):
        """Right-padded LSTM on the CPU: one autograd node for the whole sequence (sequence_kernel)."""
        B, T = x.shape[0], x.shape[1]
        lengths = mask.sum(dim=1)
        empty = lengths == 0
        steps = int(lengths.max()) if B else 0
        if steps == 0:
            out = x.new_zeros(B, T, self.units) if self.return_sequences else None
            return self._finish_right_padded(out, list(states), mask, states, empty)
        xp = self.cell.project(x[:, :steps])
        hs, cs = lstm_sequence(xp, self.cell.recurrent_kernel, states[0], states[1], lengths)
        idx, rows = (lengths - 1).clamp(min=0), torch.arange(B, device=x.device)
        new = [hs[idx, rows], cs[idx, rows]]
        out = None
        if self.return_sequences:
            out = hs.transpose(0, 1)
            if steps < T:
                out = F.pad(out, (0, 0, 0, T - steps))
        return self._finish_right_padded(out, new, mask, states, empty)

    def _finish_right_padded(self, out, new, mask, states, empty):
        """Keras semantics for a right-padded batch from per-row final states and raw outputs."""
        has_empty = bool(empty.any())
        if has_empty:
            new = [torch.where(empty[:, None], s0, s) for s0, s in zip(states, new)]
        if self.zero_output_for_mask:
            last = torch.where(mask[:, -1:], new[0], torch.zeros_like(new[0]))
        else:
            last = torch.where(empty[:, None], torch.zeros_like(new[0]), new[0]) if has_empty else new[0]
        seq = None
        if out is not None:
            fill = torch.zeros_like(last) if self.zero_output_for_mask else last
            seq = torch.where(mask[..., None], out, fill[:, None, :])
        return seq, last, new

    def _run_loop(self, x, mask, states, rec_mask):
        cell = self.cell
        xp = cell.project(x)
        y = None
        outs = []
        zeros = None
        for t in range(x.shape[1]):
            out, new = cell.step(xp[:, t], states, rec_mask)
            if mask is None:
                states, y = new, out
            else:
                m = mask[:, t].unsqueeze(1)
                states = [torch.where(m, n, s) for n, s in zip(new, states)]
                if zeros is None:
                    zeros = torch.zeros_like(out)
                y = torch.where(m, out, zeros if (self.zero_output_for_mask or y is None) else y)
            if self.return_sequences:
                outs.append(y)
        if y is None:  # zero time steps
            y = x.new_zeros(x.shape[0], self.units)
        seq = torch.stack(outs, dim=1) if self.return_sequences and outs else (
            x.new_zeros(x.shape[0], 0, self.units) if self.return_sequences else None)
        return seq, y, states

    # -- cost rule -----------------------------------------------------------------------
    _GATE_TEXT = {1: "one recurrent update", 3: "the same 3 gates (z, r, h)", 4: "the same 4 gates (i, f, c, o)"}
    _ELEMENTWISE = {1: 2, 3: 11, 4: 13}  # bias/activation/gate element-wise ops per unit and step

    def cost(self, input_shape, output_shape):
        B, T, n = input_shape[0], input_shape[1], input_shape[-1]
        d, g = self.units, self.cell.gates
        bias = {1: "d", 3: "6·d" if getattr(self.cell, "reset_after", False) else "3·d", 4: "4·d"}[g]
        gd = "d" if g == 1 else f"{g}·d"
        formula = f"{gd}·(n+d)" + (f" + {bias}" if self.cell.use_bias else "")
        gnum = f"{d}" if g == 1 else f"{g}·{d}"
        bias_num = bias.replace("d", str(d))
        numbers = f"{gnum}·({n}+{d})" + (f" + {bias_num}" if self.cell.use_bias else "")
        steps = B * T
        # what torch's CPU recurrent kernels keep per step (measured with saved_tensors_hooks), plus
        # the contiguous copy of the weights they make
        per_unit = {1: 1, 3: 10, 4: 16}[g]
        saved = ((steps * (per_unit * d + 3 * n) + g * d * (n + d), None),)
        return Cost(
            params_formula=formula, params_numbers=numbers, macs=steps * g * d * (n + d),
            macs_formula=join(T, g, d, f"({n}+{d})"), other_flops=steps * d * self._ELEMENTWISE[g],
            reads=(f"walks the {T if not is_fixed(T) else str(T)} time steps in order"
                   + (" backwards" if self.go_backwards else "")
                   + f" with {self._GATE_TEXT[g]}, carrying a state of {d}; parameters do not depend on the number of steps"),
            rf=("recurrent",), needs_fixed=("features (last axis)",), saved=saved)

    def get_config(self):
        cfg = {**super().get_config(), **{k: v for k, v in self.cell.get_config().items()
                                          if k not in ("name", "trainable", "dtype")}}
        cfg.update(return_sequences=self.return_sequences, return_state=self.return_state,
                   go_backwards=self.go_backwards, stateful=self.stateful, unroll=self.unroll,
                   zero_output_for_mask=self.zero_output_for_mask)
        return cfg

    def extra_repr(self):
        return f"name={self.name!r}, units={self.units}"


def _rnn_kwargs(kwargs) -> dict:
    keys = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll", "zero_output_for_mask",
            "name", "trainable", "dtype", "input_shape", "batch_size", "implementation", "use_cudnn", "seed")
    return {k: kwargs.pop(k) for k in keys if k in kwargs}


def _check_args(cls: str, units, kernel_regularizer, recurrent_regularizer, bias_regularizer, activity_regularizer,
                kernel_constraint, recurrent_constraint, bias_constraint) -> None:
    if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
        raise ConfigError(f"{cls} units must be a positive integer. Received: units={units!r}")
    check_unsupported(cls, kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
                      bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
                      kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
                      bias_constraint=bias_constraint)


class SimpleRNN(RNNBase):
    """Fully connected recurrence: ``h_t = tanh(x_t @ kernel + bias + h_{t-1} @ recurrent_kernel)``.

    Weights: ``kernel (n, d)``, ``recurrent_kernel (d, d)``, ``bias (d,)``: params ``d·(n+d) + d``.
    """

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, seed=None, **kwargs):
        _check_args("SimpleRNN", units, kernel_regularizer, recurrent_regularizer, bias_regularizer,
                    activity_regularizer, kernel_constraint, recurrent_constraint, bias_constraint)
        rest = _rnn_kwargs(kwargs)
        cell = SimpleRNNCell(units, activation, None, use_bias, kernel_initializer, recurrent_initializer,
                             bias_initializer, dropout, recurrent_dropout, name="simple_rnn_cell", **kwargs)
        super().__init__(cell, return_sequences, return_state, go_backwards, stateful, unroll, **rest)

    def get_config(self):
        cfg = super().get_config()
        cfg.pop("recurrent_activation", None)
        return cfg


class LSTM(RNNBase):
    """Long short-term memory, Keras semantics (``4·d·(n+d) + 4·d`` parameters).

    Args (Keras order): units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
        kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
        unit_forget_bias=True, …, dropout=0, recurrent_dropout=0, seed, return_sequences=False,
        return_state=False, go_backwards=False, stateful=False, unroll=False; and zero_output_for_mask.

    Input shape:
        ``(batch, timesteps, n)``; ``mask`` ``(batch, timesteps)`` (True = real step).
    Output shape:
        ``(batch, d)``, or ``(batch, timesteps, d)`` with ``return_sequences``; plus ``[h, c]`` with ``return_state``.
    Weights (in ``cell``): ``kernel (n, 4d)``, ``recurrent_kernel (d, 4d)``, ``bias (4d,)``; gates i, f, c, o.

    Example:
        >>> gn.Sequential([gn.Input((50, 1)), layers.LSTM(10)]).count_params()
        480
    """

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, unroll=False, **kwargs):
        _check_args("LSTM", units, kernel_regularizer, recurrent_regularizer, bias_regularizer,
                    activity_regularizer, kernel_constraint, recurrent_constraint, bias_constraint)
        rest = _rnn_kwargs(kwargs)
        cell = LSTMCell(units, activation, recurrent_activation, use_bias, kernel_initializer, recurrent_initializer,
                        bias_initializer, dropout, recurrent_dropout, unit_forget_bias=unit_forget_bias,
                        name="lstm_cell", **kwargs)
        super().__init__(cell, return_sequences, return_state, go_backwards, stateful, unroll, **rest)


class GRU(RNNBase):
    """Gated recurrent unit, Keras semantics (gates z, r, h; ``reset_after=True`` by default).

    Weights (in ``cell``): ``kernel (n, 3d)``, ``recurrent_kernel (d, 3d)``, ``bias (2, 3d)``
    (``(3d,)`` with ``reset_after=False``): params ``3d(n+d) + 6d`` (``+ 3d``).
    """

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, unroll=False, reset_after=True, **kwargs):
        _check_args("GRU", units, kernel_regularizer, recurrent_regularizer, bias_regularizer,
                    activity_regularizer, kernel_constraint, recurrent_constraint, bias_constraint)
        rest = _rnn_kwargs(kwargs)
        cell = GRUCell(units, activation, recurrent_activation, use_bias, kernel_initializer, recurrent_initializer,
                       bias_initializer, dropout, recurrent_dropout, reset_after=reset_after, name="gru_cell", **kwargs)
        super().__init__(cell, return_sequences, return_state, go_backwards, stateful, unroll, **rest)
