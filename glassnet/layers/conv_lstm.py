"""Convolutional LSTMs: ConvLSTM1D, ConvLSTM2D, ConvLSTM3D (Keras 3's gates, layouts and masks).

An LSTM whose four gates are convolutions: at every step the input is convolved with ``kernel``
(``strides``, ``padding``, ``dilation_rate`` as given) and the previous state ``h`` with
``recurrent_kernel`` (stride 1, ``"same"``), so the state keeps the image layout. Gates ``i, f, c, o``
along the last kernel axis, as in LSTM; one bias ``(4·filters,)``.
"""
from __future__ import annotations

import torch

from .. import activations, checks, initializers
from ..dims import conv_output_length, fmt_dim, fmt_shape, is_fixed
from ..errors import ConfigError, ShapeError
from ..formula import plus, prod, sym
from .base import Layer
from .conv import SPATIAL_NAMES, _CONV, channels_first, channels_last, kernel_symbols, normalize_padding, pad_input, \
    spatial_pads
from .core import REGULARIZER_FIX
from .cost import Cost
from .recurrent import _unit_forget_bias_init
from .rnn import RNN

__all__ = ["ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "ConvLSTMCell"]


class ConvLSTMCell(Layer):
    """One ConvLSTM step over ``(batch, *spatial, channels)`` (channels-last) or channels-first.

    Weights: ``kernel (*kernel_size, channels, 4·filters)``, ``recurrent_kernel (*kernel_size, filters,
    4·filters)``, ``bias (4·filters,)``; states ``[h, c]`` of the output's spatial shape.
    """

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 activation="tanh", recurrent_activation="sigmoid", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", unit_forget_bias=True,
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        checks.unsupported(self, REGULARIZER_FIX, kernel_regularizer=kernel_regularizer,
                           recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
                           kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
                           bias_constraint=bias_constraint)
        self.rank = checks.one_of(self, "rank", rank, (1, 2, 3))
        self.filters = checks.positive_int(self, "filters", filters)
        self.kernel_size = checks.int_tuple(self, "kernel_size", kernel_size, rank)
        self.strides = checks.int_tuple(self, "strides", strides, rank)
        self.padding = normalize_padding(self, padding)
        self.data_format = checks.data_format(self, data_format)
        self.dilation_rate = checks.int_tuple(self, "dilation_rate", dilation_rate, rank)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ConfigError(f"{checks.owner_text(self)}: specifying `strides > 1` is not compatible with "
                              f"`dilation_rate > 1`. Received: strides={self.strides} and "
                              f"dilation_rate={self.dilation_rate}")
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.dropout = checks.number_in(self, "dropout", dropout, 0, 1)
        self.recurrent_dropout = checks.number_in(self, "recurrent_dropout", recurrent_dropout, 0, 1)
        self.seed = seed
        self._state_spatial: tuple | None = None
        self._dropout_masks: dict = {}

    # -- shapes ------------------------------------------------------------------------------------
    @property
    def state_size(self):
        return [self.filters, self.filters]

    @property
    def output_size(self):
        return self.filters

    def _channel_axis(self) -> int:
        return -1 if self.data_format == "channels_last" else 1

    def _spatial(self, shape) -> tuple:
        return tuple(shape[1:-1]) if self.data_format == "channels_last" else tuple(shape[2:])

    def compute_output_shape(self, input_shape):
        """The state's (and each output step's) shape for a step input ``(batch, *spatial, channels)``."""
        meaning = "(batch, " + ", ".join(SPATIAL_NAMES[self.rank]) + ", channels)"
        self._require_rank(input_shape, self.rank + 2, meaning)
        self._require_fixed(input_shape, self._channel_axis(), "number of channels")
        spatial = []
        for d, k, s, dil in zip(self._spatial(input_shape), self.kernel_size, self.strides, self.dilation_rate):
            if not is_fixed(d):
                raise ShapeError(self._error("needs fixed spatial dimensions (its state keeps them)",
                                             f"input shape {fmt_shape(input_shape)}",
                                             "Give every spatial dimension a size in Input(...)."))
            out = conv_output_length(d, k, s, self.padding, dil)
            if out <= 0:
                raise ShapeError(self._error("computes an output size of zero or less for its kernel",
                                             f"input shape {fmt_shape(input_shape)}",
                                             'Use padding="same", a smaller kernel, or a larger input.'))
            spatial.append(out)
        if self.data_format == "channels_last":
            return (input_shape[0], *spatial, self.filters)
        return (input_shape[0], self.filters, *spatial)

    def build(self, input_shape):
        cin = input_shape[self._channel_axis()]
        self._state_spatial = self._spatial(self.compute_output_shape(input_shape))
        f4 = 4 * self.filters
        self.add_weight(name="kernel", shape=(*self.kernel_size, cin, f4), initializer=self.kernel_initializer)
        self.add_weight(name="recurrent_kernel", shape=(*self.kernel_size, self.filters, f4),
                        initializer=self.recurrent_initializer)
        if self.use_bias:
            init = _unit_forget_bias_init(self.filters, self.bias_initializer) if self.unit_forget_bias \
                else self.bias_initializer
            self.add_weight(name="bias", shape=(f4,), initializer=init)

    def get_initial_state(self, batch_size=None):
        shape = (batch_size, *self._state_spatial, self.filters) if self.data_format == "channels_last" \
            else (batch_size, self.filters, *self._state_spatial)
        return [torch.zeros(shape), torch.zeros(shape)]

    # -- one step ----------------------------------------------------------------------------------
    def _torch_kernel(self, kernel):
        """Keras ``(*k, in, out)`` → torch ``(out, in, *k)``."""
        return kernel.permute(self.rank + 1, self.rank, *range(self.rank)).contiguous()

    def _conv(self, x_cf, weight, strides, dilation, padding, bias=None):
        pads = spatial_pads(x_cf.shape[2:], self.kernel_size, strides, dilation, padding)
        x_cf, sym_pad = pad_input(x_cf, pads)
        return _CONV[self.rank](x_cf, weight, bias, strides, sym_pad, dilation)

    def _gates(self, xs, weight, strides, dilation, padding, bias):
        """The four gate pre-activations, channels-first: one convolution when the four inputs are one."""
        if all(x is xs[0] for x in xs):
            return self._conv(xs[0], weight, strides, dilation, padding, bias).chunk(4, dim=1)
        ws, bs = weight.chunk(4, dim=0), (bias.chunk(4) if bias is not None else (None,) * 4)
        return [self._conv(x, w, strides, dilation, padding, b) for x, w, b in zip(xs, ws, bs)]

    def _dropout_mask(self, kind, like, rate):
        masks = self._dropout_masks.get(kind)
        if masks is None or masks[0].shape != like.shape:
            masks = [torch.empty_like(like).bernoulli_(1.0 - rate) / (1.0 - rate) for _ in range(4)]
            self._dropout_masks[kind] = masks
        return masks

    def reset_dropout_masks(self) -> None:
        self._dropout_masks = {}

    def call(self, inputs, states, training=False):
        h, c = states
        cf = self.data_format == "channels_last"
        x = channels_first(inputs, self.rank) if cf else inputs
        hc = channels_first(h, self.rank) if cf else h
        cc = channels_first(c, self.rank) if cf else c
        xs, hs = [x] * 4, [hc] * 4
        if training and self.dropout > 0:
            xs = [x * m for m in self._dropout_mask("input", x, self.dropout)]
        if training and self.recurrent_dropout > 0:
            hs = [hc * m for m in self._dropout_mask("recurrent", hc, self.recurrent_dropout)]
        ones = (1,) * self.rank
        xi, xf, xc, xo = self._gates(xs, self._torch_kernel(self.kernel), self.strides, self.dilation_rate,
                                     self.padding, self.bias if self.use_bias else None)
        hi, hf, hcand, ho = self._gates(hs, self._torch_kernel(self.recurrent_kernel), ones, ones, "same", None)
        i = self.recurrent_activation(xi + hi)
        f = self.recurrent_activation(xf + hf)
        c_new = f * cc + i * self.activation(xc + hcand)
        o = self.recurrent_activation(xo + ho)
        h_new = o * self.activation(c_new)
        if cf:
            h_new, c_new = channels_last(h_new, self.rank), channels_last(c_new, self.rank)
        return h_new, [h_new, c_new]

    # -- cost of one step --------------------------------------------------------------------------
    def step_cost(self, step_input_shape) -> Cost:
        out = self.compute_output_shape(step_input_shape)
        ks = kernel_symbols(self.kernel_size)
        c, f = sym("c"), sym("f")
        k = [s for s, _ in ks]
        values = {**dict(ks), c: step_input_shape[self._channel_axis()], f: self.filters}
        weights = plus(prod(*k, c, 4, f), prod(*k, f, 4, f))
        spatial = self._spatial(out)
        return Cost(params=plus(weights, prod(4, f)) if self.use_bias else weights, values=values,
                    macs=plus(prod(*spatial, *k, c, 4, f), prod(*spatial, *k, f, 4, f)),
                    other_flops=13 * self.filters * _numel(spatial),
                    reads=(f"the same 4 convolutional gates (i, f, c, o): a {'×'.join(map(str, self.kernel_size))} "
                           f"window over the input and over the {'×'.join(fmt_dim(d) for d in spatial)} state"),
                    needs_fixed=("spatial dimensions", "channels"))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": list(self.dilation_rate), "activation": activations.serialize(self.activation),
                "recurrent_activation": activations.serialize(self.recurrent_activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "unit_forget_bias": self.unit_forget_bias, "dropout": self.dropout,
                "recurrent_dropout": self.recurrent_dropout, "seed": self.seed}


def _numel(dims):
    out = 1
    for d in dims:
        out = out * d
    return out


class _ConvLSTM(RNN):
    """ConvLSTM1D/2D/3D: an RNN around a ConvLSTMCell built from the layer's arguments (Keras writes the
    cell's arguments in the layer's config)."""

    rank = 2
    onnx_unsupported = ("runs its convolutional cell step by step in a Python loop, which torch's exporter unrolls "
                        "to the example's number of time steps, so the graph would accept no other length.")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 activation="tanh", recurrent_activation="sigmoid", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", unit_forget_bias=True,
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, **kwargs):
        cell = dict(rank=self.rank, filters=filters, kernel_size=kernel_size, strides=strides, padding=padding,
                    data_format=data_format, dilation_rate=dilation_rate, activation=activation,
                    recurrent_activation=recurrent_activation, use_bias=use_bias,
                    kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
                    bias_initializer=bias_initializer, unit_forget_bias=unit_forget_bias,
                    kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
                    bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                    recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint, dropout=dropout,
                    recurrent_dropout=recurrent_dropout, seed=seed)
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, **kwargs)
        checks.unsupported(self, REGULARIZER_FIX, activity_regularizer=activity_regularizer)

    def _make_cell(self, cell_kwargs):
        return ConvLSTMCell(name="conv_lstm_cell", dtype=self.dtype, **cell_kwargs)

    def compute_output_shape(self, input_shape):
        names = ", ".join(SPATIAL_NAMES[self.rank])
        inner = f"{names}, channels" if self.cell.data_format == "channels_last" else f"channels, {names}"
        self._check_input(input_shape, self.rank + 3, f"(batch, timesteps, {inner})", min_rank=False)
        state = self.cell.compute_output_shape((input_shape[0], *input_shape[2:]))
        if self.cell.built:
            self._check_built_dim(input_shape, -1 if self.cell.data_format == "channels_last" else 2,
                                  self.cell.kernel.shape[-2], "channels")
        out = (input_shape[0], input_shape[1], *state[1:]) if self.return_sequences else state
        return [out, state, state] if self.return_state else out

    def get_config(self):
        cfg = {k: v for k, v in super().get_config().items() if k != "cell"}
        cfg.update({k: v for k, v in self.cell.get_config().items() if k not in ("name", "trainable", "dtype")})
        return cfg

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def extra_repr(self):
        return f"name={self.name!r}, filters={self.cell.filters}, kernel_size={self.cell.kernel_size}"


class ConvLSTM1D(_ConvLSTM):
    """ConvLSTM over ``(batch, T, steps, channels)``; state ``(batch, steps', filters)``."""

    rank = 1


class ConvLSTM2D(_ConvLSTM):
    """ConvLSTM over ``(batch, T, height, width, channels)``; state ``(batch, height', width', filters)``.

    Weights (in ``cell``): ``kernel (kh, kw, c, 4·filters)``, ``recurrent_kernel (kh, kw, filters, 4·filters)``,
    ``bias (4·filters,)``: params ``kh·kw·c·4·f + kh·kw·f·4·f + 4·f``, the same for every T.

    Example:
        >>> layers.ConvLSTM2D(4, 3)(gn.Input((None, 8, 8, 2))).shape
        (None, 6, 6, 4)
    """

    rank = 2


class ConvLSTM3D(_ConvLSTM):
    """ConvLSTM over ``(batch, T, depth, height, width, channels)``."""

    rank = 3
