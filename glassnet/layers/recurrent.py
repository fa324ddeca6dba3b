"""Recurrent layers: SimpleRNN, LSTM, GRU and their cells — Keras weights and mask semantics.

Every recurrent layer walks the time axis step by step with one set of weights (the cell),
so its parameters do not depend on the number of steps while its work grows linearly.

The cells are Keras cells (``call(inputs, states) -> (output, new_states)``, ``state_size``), usable in
``RNN`` and ``StackedRNNCells``; SimpleRNN, LSTM and GRU are ``RNN`` around one of them. The layer
keeps its weights, shapes, masks and cost rule; running the time loop fast is the job of
``glassnet.kernels.recurrent``, which the layer asks first (torch's fused kernels, a packed batch, or
a whole-sequence LSTM node for padded masks). When no fast path fits — padding in the middle,
recurrent dropout, other activations — the layer runs its one reference loop (``RNN._reference_loop``):
the input projection for all steps in one matrix multiply, then a loop over the recurrent part with
Keras's masked update (state carried through masked steps). ``layer.path`` forces a path (tests).
"""
from __future__ import annotations

import torch

from .. import activations, checks, initializers
from ..formula import plus, prod, sym
from .base import Layer
from .cost import Cost
from .rnn import RNN

__all__ = ["SimpleRNNCell", "LSTMCell", "GRUCell", "SimpleRNN", "LSTM", "GRU", "RNNBase"]


def _unit_forget_bias_init(units: int, base):
    def init(shape, dtype=torch.float32):
        return torch.cat([base((units,), dtype), torch.ones(units, dtype=dtype), base((2 * units,), dtype)])
    return initializers.Initializer("unit_forget_bias", lambda s, d: init(s, d))


class _Cell(Layer):
    """Weights of one recurrent step: ``kernel (n, g·d)``, ``recurrent_kernel (d, g·d)``, ``bias``.

    A Keras cell: ``call(inputs, states, training) -> (output, new_states)`` for one step, ``state_size``
    and ``output_size``; and, for ``glassnet.kernels.recurrent`` and the reference loop, ``kernel_name``,
    ``project`` (the input part of every step at once) and ``step`` (the recurrent part of one step).
    """

    gates = 1
    n_states = 1
    kernel_name = ""
    _GATE_TEXT = {1: "one recurrent update", 3: "the same 3 gates (z, r, h)", 4: "the same 4 gates (i, f, c, o)"}
    _ELEMENTWISE = {1: 2, 3: 11, 4: 13}  # bias/activation/gate element-wise ops per unit and step
    _SAVED_PER_UNIT = {1: 1, 3: 10, 4: 16}  # what torch's CPU recurrent kernels keep per unit and step

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
        self._dropout_masks: dict = {}

    @property
    def state_size(self):
        return [self.units] * self.n_states if self.n_states > 1 else self.units

    @property
    def output_size(self) -> int:
        return self.units

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
        self._require_fixed(input_shape, -1, "number of features (last axis)")
        if self.built:
            self._check_built_dim(input_shape, -1, self.kernel.shape[0], "features")
        return (*input_shape[:-1], self.units)

    # -- one step, the Keras way (RNN(cell), StackedRNNCells) ------------------------------------
    def call(self, inputs, states, training=False):
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        x, rec_mask = inputs, None
        if training and self.dropout > 0:
            x = x * self._dropout_mask("input", x, self.dropout)
        if training and self.recurrent_dropout > 0:
            rec_mask = self._dropout_mask("recurrent", states[0], self.recurrent_dropout)
        return self.step(self.project(x), states, rec_mask)

    def _dropout_mask(self, kind: str, like: torch.Tensor, rate: float) -> torch.Tensor:
        """One mask per sequence, reused at every step (Keras's DropoutRNNCell); RNN resets them."""
        mask = self._dropout_masks.get(kind)
        if mask is None or mask.shape != like.shape:
            mask = torch.empty_like(like).bernoulli_(1.0 - rate) / (1.0 - rate)
            self._dropout_masks[kind] = mask
        return mask

    def reset_dropout_masks(self) -> None:
        self._dropout_masks = {}

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

    # -- cost of one step (an RNN multiplies it by the number of steps) ---------------------------
    def step_cost(self, step_input_shape) -> Cost:
        d, g, n = self.units, self.gates, step_input_shape[-1]
        ds, ns = sym("d"), sym("n")
        bias = {1: prod(ds), 3: prod(6 if getattr(self, "reset_after", False) else 3, ds), 4: prod(4, ds)}[g]
        weights = prod(g, ds, plus(ns, ds))
        return Cost(params=plus(weights, bias) if self.use_bias else weights, values={ds: d, ns: n},
                    macs=prod(g, ds, plus(ns, ds)), other_flops=d * self._ELEMENTWISE[g],
                    reads=f"{self._GATE_TEXT[g]}, carrying a state of {d}", needs_fixed=("features (last axis)",))

    def saved_elements(self, batch, steps, input_shape):
        """Elements autograd keeps over a sequence (measured on torch's CPU kernels with
        saved_tensors_hooks), plus the contiguous copy of the weights they make."""
        d, g, n = self.units, self.gates, input_shape[-1]
        return batch * steps * (self._SAVED_PER_UNIT[g] * d + 3 * n) + g * d * (n + d)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": activations.serialize(self.activation),
                "recurrent_activation": activations.serialize(self.recurrent_activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout, "seed": self.seed,
                **self._weight_options_config()}

    def extra_repr(self):
        return f"name={self.name!r}, units={self.units}"



class SimpleRNNCell(_Cell):
    """``h_t = activation(x_t @ kernel + bias + h_{t-1} @ recurrent_kernel)``.

    Weights: ``kernel (n, d)``, ``recurrent_kernel (d, d)``, ``bias (d,)``; state ``h`` ``(batch, d)``.
    """

    kernel_name = "simple_rnn"

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(units, activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
                         bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                         recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint,
                         dropout=dropout, recurrent_dropout=recurrent_dropout, seed=seed, **kwargs)

    def step(self, xp_t, states, rec_mask=None):
        h = states[0] if rec_mask is None else states[0] * rec_mask
        h_new = self.activation(xp_t + h @ self.recurrent_kernel)
        return h_new, [h_new]

    def fused_ok(self) -> bool:
        return self.activation in (torch.tanh, torch.relu)

    def fused_fn(self):
        return torch.rnn_tanh if self.activation is torch.tanh else torch.rnn_relu

    def get_config(self):
        cfg = super().get_config()
        cfg.pop("recurrent_activation")
        return cfg


class LSTMCell(_Cell):
    """Gates ``i, f, c, o`` along the ``4·units`` axis; one bias ``(4·units,)``; states ``[h, c]``.

    ``c_t = σ(f)⊙c_{t-1} + σ(i)⊙tanh(g)``, ``h_t = σ(o)⊙tanh(c_t)``.
    """

    gates = 4
    n_states = 2
    kernel_name = "lstm"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
                         bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                         recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
                         kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
                         bias_constraint=bias_constraint, dropout=dropout, recurrent_dropout=recurrent_dropout,
                         seed=seed, **kwargs)
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
    """Gates ``z, r, h`` along the ``3·units`` axis; state ``h``.

    ``reset_after=True`` (default): bias ``(2, 3·units)`` (input row, recurrent row) and
    ``hh = tanh(x_h + r⊙(h@R_h + b_rh))``; ``reset_after=False``: bias ``(3·units,)`` and
    ``hh = tanh(x_h + (r⊙h)@R_h)``.  ``h_t = z⊙h_{t-1} + (1-z)⊙hh``.
    """

    gates = 3
    kernel_name = "gru"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0, recurrent_dropout=0.0,
                 reset_after=True, seed=None, **kwargs):
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
                         bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                         recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
                         kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
                         bias_constraint=bias_constraint, dropout=dropout, recurrent_dropout=recurrent_dropout,
                         seed=seed, **kwargs)
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


class RNNBase(RNN):
    """What SimpleRNN, LSTM and GRU share: an RNN around a cell built from the layer's own arguments,
    whose config lists the cell's arguments (as Keras writes these layers, without a ``cell`` entry)."""

    def __init__(self, cell_class: type, cell_kwargs: dict, cell_name: str, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, unroll=False, zero_output_for_mask=False,
                 activity_regularizer=None, implementation=None, use_cudnn="auto", **kwargs):
        # implementation and use_cudnn choose between kernels in Keras; here the kernels choose themselves
        super().__init__((cell_class, cell_kwargs, cell_name), return_sequences=return_sequences,
                         return_state=return_state, go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         zero_output_for_mask=zero_output_for_mask, activity_regularizer=activity_regularizer,
                         **kwargs)

    def _make_cell(self, spec):
        cell_class, cell_kwargs, cell_name = spec
        checks.positive_int(self, "units", cell_kwargs.get("units"))
        checks.number_in(self, "dropout", cell_kwargs.get("dropout", 0.0), 0, 1)
        checks.number_in(self, "recurrent_dropout", cell_kwargs.get("recurrent_dropout", 0.0), 0, 1)
        # as Keras's LSTM/GRU/SimpleRNN, the cell takes the layer's trainable flag
        return cell_class(name=cell_name, dtype=self.dtype_policy, trainable=self._trainable, **cell_kwargs)


    @property
    def units(self) -> int:
        return self.cell.units

    def get_config(self):
        cfg = {k: v for k, v in super().get_config().items() if k != "cell"}
        cfg.update({k: v for k, v in self.cell.get_config().items() if k not in ("name", "trainable", "dtype")})
        return cfg

    @classmethod
    def from_config(cls, config):
        return cls(**config)

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
