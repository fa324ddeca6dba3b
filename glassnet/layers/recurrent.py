"""Recurrent layers: SimpleRNN, LSTM, GRU — Keras weights and mask semantics.

Every recurrent layer walks the time axis step by step with one set of weights (the cell),
so its parameters do not depend on the number of steps while its work grows linearly.

A layer keeps its weights, shapes, masks and cost rule; running the time loop fast is the job of
``glassnet.kernels.recurrent``, which the layer asks first (torch's fused kernels, a packed batch, or
a whole-sequence LSTM node for padded masks). When no fast path fits — padding in the middle,
recurrent dropout, other activations — the layer runs its one reference loop, ``_reference_loop``:
the input projection for all steps in one matrix multiply, then a loop over the recurrent part with
Keras's masked update (state carried through masked steps). ``layer.path`` forces a path (tests).
"""
from __future__ import annotations

import torch

from .. import activations, checks, initializers
from ..dims import fmt_shape, is_fixed
from ..errors import ShapeError
from ..formula import plus, prod, sym
from ..kernels import recurrent as kernels
from .base import Layer
from .cost import Cost

__all__ = ["SimpleRNNCell", "LSTMCell", "GRUCell", "SimpleRNN", "LSTM", "GRU", "RNNBase"]


def _unit_forget_bias_init(units: int, base):
    def init(shape, dtype=torch.float32):
        return torch.cat([base((units,), dtype), torch.ones(units, dtype=dtype), base((2 * units,), dtype)])
    return initializers.Initializer("unit_forget_bias", lambda s, d: init(s, d))


class _Cell(Layer):
    """Weights of one recurrent step: ``kernel (n, g·d)``, ``recurrent_kernel (d, g·d)``, ``bias``."""

    gates = 1
    n_states = 1
    kernel_name = ""

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        options = {k: kwargs.pop(k) for k in list(kwargs) if k.endswith(("_regularizer", "_constraint"))
                   and k != "activity_regularizer"}
        super().__init__(**kwargs)
        self._weight_options(("kernel", "recurrent", "bias"), options)
        self.units = checks.positive_int(self, "units", units)
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.dropout = checks.number_in(self, "dropout", dropout, 0, 1)
        self.recurrent_dropout = checks.number_in(self, "recurrent_dropout", recurrent_dropout, 0, 1)
        self.seed = seed

    def build(self, input_shape):
        n, g = input_shape[-1], self.gates * self.units
        # stored transposed in memory: torch's fused kernels read kernel.T and recurrent_kernel.T
        self.add_weight(name="kernel", shape=(n, g), initializer=self.kernel_initializer, memory_order=(1, 0),
                        regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.add_weight(name="recurrent_kernel", shape=(self.units, g), initializer=self.recurrent_initializer,
                        memory_order=(1, 0), regularizer=self.recurrent_regularizer,
                        constraint=self.recurrent_constraint)
        if self.use_bias:
            self.add_weight(name="bias", shape=self._bias_shape(), initializer=self._bias_init(),
                            regularizer=self.bias_regularizer, constraint=self.bias_constraint)

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

    def fused_ok(self) -> bool:
        """Whether torch's fused kernels compute this cell (they know only tanh and sigmoid)."""
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
                "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout, **self._weight_options_config()}


class SimpleRNNCell(_Cell):
    """``h_t = activation(x_t @ kernel + bias + h_{t-1} @ recurrent_kernel)``."""

    kernel_name = "simple_rnn"

    def step(self, xp_t, states, rec_mask=None):
        h = states[0] if rec_mask is None else states[0] * rec_mask
        h_new = self.activation(xp_t + h @ self.recurrent_kernel)
        return h_new, [h_new]

    def fused_ok(self) -> bool:
        return self.activation in (torch.tanh, torch.relu)

    def fused_fn(self):
        return torch.rnn_tanh if self.activation is torch.tanh else torch.rnn_relu


class LSTMCell(_Cell):
    """Gates ``i, f, c, o`` along the ``4·units`` axis; one bias ``(4·units,)``.

    ``c_t = σ(f)⊙c_{t-1} + σ(i)⊙tanh(g)``, ``h_t = σ(o)⊙tanh(c_t)``.
    """

    gates = 4
    n_states = 2
    kernel_name = "lstm"

    def __init__(self, units, *, unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
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
    kernel_name = "gru"

    def __init__(self, units, *, reset_after=True, **kwargs):
        super().__init__(units, **kwargs)
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

    def fused_ok(self) -> bool:
        return super().fused_ok() and self.reset_after

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
    """What SimpleRNN, LSTM and GRU share: arguments, shape rule, masks, state and the reference loop."""

    supports_masking = True
    path: str | None = None  # force "fused", "packed", "sequence" or "loop" (tests); None chooses

    def __init__(self, cell_class: type, cell_kwargs: dict, cell_name: str, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, unroll=False, zero_output_for_mask=False,
                 activity_regularizer=None, implementation=None, use_cudnn="auto", **kwargs):
        # implementation and use_cudnn choose between kernels in Keras; here the kernels choose themselves
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        checks.positive_int(self, "units", cell_kwargs.get("units"))
        checks.number_in(self, "dropout", cell_kwargs.get("dropout", 0.0), 0, 1)
        checks.number_in(self, "recurrent_dropout", cell_kwargs.get("recurrent_dropout", 0.0), 0, 1)
        self.cell = cell_class(name=cell_name, dtype=self.dtype_policy, **cell_kwargs)
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
        if self.path == "loop":
            seq, last, states = self._reference_loop(x, mask, states, rec_mask)
        else:
            try:
                seq, last, states = kernels.run(
                    cell, x, mask, states, training, return_sequences=self.return_sequences,
                    zero_output_for_mask=self.zero_output_for_mask, recurrent_dropout=rec_mask is not None,
                    path=self.path)
            except kernels.NoKernel:
                seq, last, states = self._reference_loop(x, mask, states, rec_mask)
        if self.stateful:
            self._state_values = [s.detach() for s in states]
        output = seq if self.return_sequences else last
        return [output, *states] if self.return_state else output

    def _reference_loop(self, x, mask, states, rec_mask):
        """The one reference loop: Keras's step-by-step update, any mask, any cell configuration."""
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
        ds, ns = sym("d"), sym("n")
        bias = {1: prod(ds), 3: prod(6 if getattr(self.cell, "reset_after", False) else 3, ds), 4: prod(4, ds)}[g]
        weights = prod(g, ds, plus(ns, ds))
        steps = B * T
        # what torch's CPU recurrent kernels keep per step (measured with saved_tensors_hooks), plus
        # the contiguous copy of the weights they make
        per_unit = {1: 1, 3: 10, 4: 16}[g]
        saved = ((steps * (per_unit * d + 3 * n) + g * d * (n + d), None),)
        return Cost(
            params=plus(weights, bias) if self.cell.use_bias else weights, values={ds: d, ns: n},
            macs=prod(T, g, ds, plus(ns, ds)), other_flops=T * d * self._ELEMENTWISE[g],
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
        cell = dict(units=units, activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
                    recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
                    kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
                    bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                    recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint, dropout=dropout,
                    recurrent_dropout=recurrent_dropout, seed=seed)
        super().__init__(SimpleRNNCell, cell, "simple_rnn_cell", return_sequences=return_sequences,
                         return_state=return_state, go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         activity_regularizer=activity_regularizer, **kwargs)

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
        cell = dict(units=units, activation=activation, recurrent_activation=recurrent_activation, use_bias=use_bias,
                    kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
                    bias_initializer=bias_initializer, unit_forget_bias=unit_forget_bias,
                    kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
                    bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                    recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint, dropout=dropout,
                    recurrent_dropout=recurrent_dropout, seed=seed)
        super().__init__(LSTMCell, cell, "lstm_cell", return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         activity_regularizer=activity_regularizer, **kwargs)


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
        cell = dict(units=units, activation=activation, recurrent_activation=recurrent_activation, use_bias=use_bias,
                    kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
                    bias_initializer=bias_initializer, reset_after=reset_after,
                    kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
                    bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                    recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint, dropout=dropout,
                    recurrent_dropout=recurrent_dropout, seed=seed)
        super().__init__(GRUCell, cell, "gru_cell", return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         activity_regularizer=activity_regularizer, **kwargs)
