"""Attention: MultiHeadAttention, GroupedQueryAttention (Keras's ``GroupQueryAttention``), Attention
(Luong, dot or concat scores) and AdditiveAttention (Bahdanau), with Keras 3's weights, masks and numerics.

Every query position scores every key position, so the work grows with query length × key length
(``T·S``; ``T·T`` for self-attention) while the parameters depend only on the feature sizes.

MultiHeadAttention and GroupedQueryAttention take their tensors as separate arguments
(``layer(query, value, key=None, ...)``); their masks arrive as ``query_mask``, ``value_mask`` and
``key_mask`` (in a graph each argument gives its own), the output carries the query's mask. They run
``torch.nn.functional.scaled_dot_product_attention`` where Keras runs its fused kernel (rank-3 inputs,
no dropout, no scores returned) and the explicit softmax otherwise, with Keras's masking constants in
each, so a fully masked query row gives what Keras gives on either path.
"""
from __future__ import annotations

import inspect
import math
import string

import torch
import torch.nn.functional as F

from .. import checks, initializers
from ..dims import fmt_dim, fmt_shape, is_fixed, keras_shape, product
from ..errors import ConfigError, ShapeError
from ..formula import plus, prod, sym
from .base import Layer
from .core import REGULARIZER_FIX
from .cost import Cost
from .einsum_dense import EinsumDense

__all__ = ["MultiHeadAttention", "GroupedQueryAttention", "Attention", "AdditiveAttention"]

_SOFTMAX_NEGATIVE = -1e9      # Keras's Softmax(mask): masked scores are replaced by this, then zeroed
_SDPA_NEGATIVE = 3.38953e38 * -0.7  # Keras's torch dot_product_attention: additive mask value


def _shape_of(t):
    if t is None:
        return None
    return tuple(t.symbolic_shape) if hasattr(t, "symbolic_shape") else tuple(t.shape)


def _causal(t: int, s: int, device) -> torch.Tensor:
    """(1, T, S): query position i sees key positions j <= i."""
    return torch.ones(t, s, dtype=torch.bool, device=device).tril()[None]


def _sliding(t: int, s: int, window: int, device) -> torch.Tensor:
    """(1, T, S): |i - j| < window."""
    i, j = torch.arange(t, device=device)[:, None], torch.arange(s, device=device)[None, :]
    return ((i - j).abs() < window)[None]


def merged_mask(query, value, query_mask=None, value_mask=None, key_mask=None, attention_mask=None,
                use_causal_mask=False, sliding_window=None):
    """Keras's merged boolean mask ``(B, T, S)`` (or broadcastable): query rows, value/key columns,
    causal and sliding-window bands, and an explicit ``attention_mask``, all ANDed; None if none."""
    auto = None
    for m, axis in ((query_mask, -1), (value_mask, -2), (key_mask, -2)):
        if m is not None:
            m = m.to(torch.bool).unsqueeze(axis)
            auto = m if auto is None else auto & m
    t, s = query.shape[1], value.shape[1]
    if use_causal_mask:
        auto = _causal(t, s, query.device) if auto is None else auto & _causal(t, s, query.device)
    if sliding_window is not None:
        band = _sliding(t, s, sliding_window, query.device)
        auto = band if auto is None else auto & band
    if attention_mask is not None:
        attention_mask = attention_mask.to(torch.bool)
    if auto is not None:
        attention_mask = auto if attention_mask is None else attention_mask & auto
    return attention_mask


def masked_softmax(scores, mask, axes):
    """Keras's ``Softmax(axis=axes)(scores, mask)``: masked scores → -1e9, softmax, masked → 0."""
    if mask is not None:
        scores = torch.where(mask, scores, torch.tensor(_SOFTMAX_NEGATIVE, dtype=scores.dtype, device=scores.device))
    if len(axes) > 1:
        out = torch.exp(scores - torch.logsumexp(scores, dim=axes, keepdim=True))
    else:
        out = torch.softmax(scores, dim=axes[0])
    return out if mask is None else torch.where(mask, out, torch.zeros((), dtype=out.dtype, device=out.device))


def sdpa(q, k, v, mask, scale, causal_only):
    """Keras's fused path: ``(B, T, N, H)`` in and out; a boolean mask becomes Keras's additive one."""
    bias = None
    if mask is not None:
        while mask.dim() < 4:
            mask = mask.unsqueeze(-3)
        bias = torch.where(mask, torch.zeros((), dtype=q.dtype, device=q.device),
                           torch.tensor(_SDPA_NEGATIVE, dtype=q.dtype, device=q.device)).contiguous()
    out = F.scaled_dot_product_attention(q.transpose(1, 2).contiguous(), k.transpose(1, 2).contiguous(),
                                         v.transpose(1, 2).contiguous(), attn_mask=bias,
                                         is_causal=bool(causal_only and mask is None), scale=scale)
    return out.transpose(1, 2)


class _Projected(Layer):
    """What MultiHeadAttention and GroupedQueryAttention share: the ``(query, value, key=None)`` call,
    whose other tensors' shapes build the projections, and Keras's masks and arguments."""

    supports_masking = True
    _PROJECTIONS: tuple[tuple[str, str], ...] = ()  # (attribute, Keras file path) pairs, set by subclasses

    def _common_init(self, dropout, use_bias, sliding_window, flash_attention, kernel_initializer, bias_initializer,
                     use_gate, seed, refused):
        checks.unsupported(self, REGULARIZER_FIX, **refused)
        self.dropout = checks.number_in(self, "dropout", dropout, 0, 1)
        self.use_bias = checks.boolean(self, "use_bias", use_bias)
        self.use_gate = checks.boolean(self, "use_gate", use_gate)
        if sliding_window is not None:
            checks.positive_int(self, "sliding_window", sliding_window)
        self.sliding_window = sliding_window
        if flash_attention is not None:
            checks.boolean(self, "flash_attention", flash_attention)
        # flash attention is a kernel choice in Keras; its constraints (no dropout, no scores) are kept
        self.flash_attention = flash_attention
        if flash_attention and self.dropout > 0:
            raise ConfigError(f"{checks.owner_text(self)}: dropout is not supported when flash attention is "
                              f"enabled. Received: dropout={dropout}, flash_attention=True. Set dropout to 0.0.")
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.seed = seed
        self._active: dict | None = None
        self._built_shapes: dict | None = None

    # -- the call's tensors, for build and shapes -------------------------------------------------
    def _bind(self, args, kwargs) -> dict:
        return inspect.signature(self.call).bind(*args, **kwargs).arguments

    def __call__(self, *args, **kwargs):
        bound = self._bind(args, kwargs)
        rest = {k: v for k, v in bound.items() if k not in ("query", "value")}
        self._active = bound
        try:
            return super().__call__(bound["query"], bound["value"], **rest)
        finally:
            self._active = None

    def _spec(self, query_shape=None) -> dict:
        """The arguments of the call in progress, else of the recorded call whose query has this shape."""
        if self._active is not None:
            return self._active
        nodes = [n for n in self._inbound_nodes
                 if query_shape is None or _shape_of(n.args[0]) == tuple(query_shape)] or self._inbound_nodes[-1:]
        return self._bind(nodes[0].args, nodes[0].kwargs) if nodes else {}

    def _other_shapes(self, query_shape):
        spec = self._spec(query_shape)
        if "value" in spec:
            return _shape_of(spec["value"]), _shape_of(spec.get("key")), spec
        if self._built_shapes is not None:
            return self._built_shapes["value_shape"], self._built_shapes.get("key_shape"), spec
        raise ShapeError(self._error("needs the value tensor's shape: call it as layer(query, value)"))

    def get_build_config(self):
        if self._built_shapes is None:
            return None
        return {"shapes_dict": {k: list(keras_shape(v)) for k, v in self._built_shapes.items() if v is not None}}

    def saving_children(self):
        return {path: getattr(self, attr) for attr, path in self._PROJECTIONS if hasattr(self, attr)}

    def _sublayer_kwargs(self):
        return dict(kernel_initializer=initializers.get(initializers.serialize(self.kernel_initializer)),
                    bias_initializer=initializers.get(initializers.serialize(self.bias_initializer)), dtype=self.dtype)

    def _check_key_value(self, value_shape, key_shape):
        if key_shape is not None and tuple(value_shape[1:-1]) != tuple(key_shape[1:-1]):
            raise ShapeError(self._error(
                "needs value and key to agree on every dimension but the last",
                f"value_shape={fmt_shape(value_shape)} and key_shape={fmt_shape(key_shape)}"))

    def compute_mask(self, inputs, mask=None):
        return mask  # the query's

    def compute_mask_shape(self, input_shape, mask_shape):
        return mask_shape

    def _masks(self, query, value, query_mask, value_mask, key_mask, attention_mask, use_causal_mask):
        """(boolean mask or None, whether only the causal rule applies)."""
        causal_only = bool(use_causal_mask) and query_mask is None and value_mask is None and key_mask is None \
            and attention_mask is None and self.sliding_window is None
        if causal_only:
            return None, True
        return merged_mask(query, value, query_mask, value_mask, key_mask, attention_mask, use_causal_mask,
                           self.sliding_window), False

    def _check_scores_allowed(self, return_attention_scores):
        if self.flash_attention and return_attention_scores:
            raise ConfigError(self._error("cannot return attention scores with flash attention enabled",
                                          "return_attention_scores=True", "Set flash_attention=None or False."))

    def extra_repr(self):
        return f"name={self.name!r}"


def _proj_equation(free_dims: int, bound_dims: int, output_dims: int):
    """Keras's ``_build_proj_equation``: (equation, bias axes, output rank)."""
    letters = string.ascii_lowercase
    free = letters[:free_dims]
    bound = letters[free_dims:free_dims + bound_dims]
    out = letters[free_dims + bound_dims:free_dims + bound_dims + output_dims]
    return f"{free}{bound},{bound}{out}->{free}{out}", out, len(free) + len(out)


def _attention_equations(rank: int, attn_axes: tuple[int, ...]):
    """Keras's ``_build_attention_equation``: (dot-product equation, combine equation, scores rank)."""
    letters = string.ascii_lowercase
    target = letters[:rank]
    batch_dims = [i for i in range(rank) if i not in attn_axes and i != rank - 1]
    source, offset = "", rank
    for i in range(rank):
        if i in batch_dims or i == rank - 1:
            source += target[i]
        else:
            source += letters[offset]
            offset += 1
    product_ = "".join([target[i] for i in batch_dims] + [target[i] for i in attn_axes]
                       + [source[i] for i in attn_axes])
    return f"{source},{target}->{product_}", f"{product_},{source}->{target}", len(product_)


class MultiHeadAttention(_Projected):
    """Multi-head attention (Vaswani et al.): project query, key and value into ``num_heads`` heads,
    attend with scaled dot products, project the heads back.

    Args (Keras order): num_heads, key_dim, value_dim=None (= key_dim), dropout=0.0, use_bias=True,
        output_shape=None (= the query's last dim), attention_axes=None (every axis but batch, heads and
        features), sliding_window=None, flash_attention=None, kernel_initializer="glorot_uniform",
        bias_initializer="zeros", regularizers/constraints (refused), use_gate=False, seed=None.

    Call: ``layer(query, value, key=None, query_mask=None, value_mask=None, key_mask=None,
    attention_mask=None, return_attention_scores=False, training=None, use_causal_mask=False)``.

    Input shape:
        query ``(batch, T, n)``, value ``(batch, S, m)``, key ``(batch, S, p)`` (more axes with
        ``attention_axes``).
    Output shape:
        ``(batch, T, n)`` (or ``output_shape``); scores ``(batch, heads, T, S)``.
    Weights (sub-layers ``query``, ``key``, ``value``, ``attention_output``, EinsumDense):
        kernels ``(n, heads, key_dim)``, ``(p, heads, key_dim)``, ``(m, heads, value_dim)``,
        ``(heads, value_dim, n)``, biases ``(heads, key_dim)`` … ``(n,)``.

    Example:
        >>> x = gn.Input((10, 16))
        >>> layers.MultiHeadAttention(num_heads=2, key_dim=8)(x, x).shape
        (None, 10, 16)
    """

    _PROJECTIONS = (("query_dense", "query_dense"), ("key_dense", "key_dense"), ("_gate_dense", "_gate_dense"),
                    ("value_dense", "value_dense"), ("output_dense", "output_dense"))

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True, output_shape=None,
                 attention_axes=None, sliding_window=None, flash_attention=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, use_gate=False, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = checks.positive_int(self, "num_heads", num_heads)
        self.key_dim = checks.positive_int(self, "key_dim", key_dim)
        self.value_dim = checks.positive_int(self, "value_dim", value_dim) if value_dim else self.key_dim
        if output_shape:
            output_shape = (output_shape,) if isinstance(output_shape, int) else output_shape
            if not isinstance(output_shape, (list, tuple)):
                raise ConfigError(f"{checks.owner_text(self)}: the `output_shape` argument must be an int, a list or "
                                  f"a tuple. Received: output_shape={output_shape!r}")
            output_shape = checks.int_tuple(self, "output_shape", tuple(output_shape), len(output_shape))
        self.output_shape_arg = tuple(output_shape) if output_shape else None
        if isinstance(attention_axes, int) and not isinstance(attention_axes, bool):
            attention_axes = (attention_axes,)
        elif attention_axes is not None and (not isinstance(attention_axes, (list, tuple)) or not attention_axes or any(
                isinstance(a, bool) or not isinstance(a, int) for a in attention_axes)):
            raise ConfigError(f"{checks.owner_text(self)}: `attention_axes` must be an int, list, or tuple of ints. "
                              f"Received: attention_axes={attention_axes!r}")
        self.attention_axes = None if attention_axes is None else tuple(attention_axes)
        self._common_init(dropout, use_bias, sliding_window, flash_attention, kernel_initializer, bias_initializer,
                          use_gate, seed, dict(kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                                               activity_regularizer=activity_regularizer,
                                               kernel_constraint=kernel_constraint, bias_constraint=bias_constraint))
        self._scale = 1.0 / math.sqrt(float(self.key_dim))

    # -- shapes -----------------------------------------------------------------------------------
    def _axes(self, query_rank: int) -> tuple[int, ...]:
        """Attention axes of the projected ``(batch, ..., heads, size)`` tensors (rank = query rank + 1)."""
        rank = query_rank + 1
        if self.attention_axes is None:
            return tuple(range(1, rank - 2))
        axes = tuple(a if a >= 0 else (rank - 1) + a for a in self.attention_axes)
        if any(not 1 <= a <= rank - 3 for a in axes):
            raise ShapeError(self._error(
                f"can attend only over axes 1 to {query_rank - 2} of its input (not batch, heads or features)",
                f"attention_axes={self.attention_axes} for a query of rank {query_rank}"))
        return axes

    def compute_output_shape(self, query_shape):
        value_shape, key_shape, spec = self._other_shapes(query_shape)
        self._require_rank(query_shape, 3, "(batch, ..., features)", min_rank=True)
        self._require_fixed(query_shape, -1, "number of query features (last axis)")
        self._check_key_value(value_shape, key_shape)
        if len(value_shape) != len(query_shape):
            raise ShapeError(self._error("needs query and value of the same rank",
                                         f"query_shape={fmt_shape(query_shape)}, value_shape={fmt_shape(value_shape)}"))
        axes = self._axes(len(query_shape))
        out = (*query_shape[:-1], *(self.output_shape_arg or (query_shape[-1],)))
        if not spec.get("return_attention_scores"):
            return out
        proj = (*query_shape[:-1], self.num_heads)
        kproj = (*(key_shape or value_shape)[:-1], self.num_heads)
        batch = [i for i in range(len(proj)) if i not in axes]
        return [out, tuple([proj[i] for i in batch] + [proj[i] for i in axes] + [kproj[i] for i in axes])]

    def build(self, query_shape, value_shape=None, key_shape=None):
        if value_shape is None:
            value_shape, key_shape, _ = self._other_shapes(query_shape)
        self._built_shapes = {"query_shape": tuple(query_shape), "value_shape": tuple(value_shape),
                              "key_shape": None if key_shape is None else tuple(key_shape)}
        key_shape = value_shape if key_shape is None else key_shape

        def proj(shape, size, name, activation=None):
            eq, bias_axes, out_rank = _proj_equation(len(shape) - 1, 1, 2)
            layer = EinsumDense(eq, [None] * (out_rank - 1 - 2) + [self.num_heads, size], activation=activation,
                                bias_axes=bias_axes if self.use_bias else None, name=name, **self._sublayer_kwargs())
            layer._build_from(tuple(shape))
            return layer
        self.query_dense = proj(query_shape, self.key_dim, "query")
        self.key_dense = proj(key_shape, self.key_dim, "key")
        if self.use_gate:
            self._gate_dense = proj(query_shape, self.value_dim, "gate", "sigmoid")
        self.value_dense = proj(value_shape, self.value_dim, "value")
        out_dims = list(self.output_shape_arg or (query_shape[-1],))
        eq, bias_axes, out_rank = _proj_equation(len(query_shape) - 1, 2, len(out_dims))
        self.output_dense = EinsumDense(eq, [None] * (out_rank - 1 - len(out_dims)) + out_dims,
                                        bias_axes=bias_axes if self.use_bias else None, name="attention_output",
                                        **self._sublayer_kwargs())
        self.output_dense._build_from((*query_shape[:-1], self.num_heads, self.value_dim))
        axes = self._axes(len(query_shape))
        self._dot_equation, self._combine_equation, scores_rank = _attention_equations(len(query_shape) + 1, axes)
        self._norm_axes = tuple(range(scores_rank - len(axes), scores_rank))
        self._built_axes = axes

    # -- the call ---------------------------------------------------------------------------------
    def call(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None, attention_mask=None,
             return_attention_scores=False, training=None, use_causal_mask=False):
        self._check_scores_allowed(return_attention_scores)
        key = value if key is None else key
        mask, causal_only = self._masks(query, value, query_mask, value_mask, key_mask, attention_mask,
                                        use_causal_mask)
        gate = self._gate_dense(query) if self.use_gate else None
        q, k, v = self.query_dense(query), self.key_dense(key), self.value_dense(value)  # (B, T|S, N, H)
        if not (self.dropout > 0 or return_attention_scores or q.dim() != 4):
            out, scores = sdpa(q, k, v, mask, self._scale, causal_only), None
        else:
            if causal_only:
                mask = _causal(query.shape[1], value.shape[1], query.device)
            scores = torch.einsum(self._dot_equation, k, q * self._scale)
            if mask is not None:
                axis = -len(self._built_axes) * 2 - 1
                while mask.dim() < scores.dim():
                    mask = mask.unsqueeze(axis)
            scores = masked_softmax(scores, mask, self._norm_axes)
            dropped = F.dropout(scores, self.dropout, training=bool(training)) if self.dropout > 0 else scores
            out = torch.einsum(self._combine_equation, dropped, v)
        out = self.output_dense(out if gate is None else out * gate)
        return [out, scores] if return_attention_scores else out

    # -- cost -------------------------------------------------------------------------------------
    def cost(self, input_shape, output_shape):
        value_shape, key_shape, _ = self._other_shapes(input_shape)
        key_shape = key_shape or value_shape
        axes = self._axes(len(input_shape))
        n, m, p, h, k, v, o = (sym(s) for s in ("n", "m", "p", "h", "k", "v", "o"))
        separate_key = self._built_shapes is not None and self._built_shapes.get("key_shape") is not None
        p = p if separate_key else m
        out_size = product(self.output_shape_arg or (input_shape[-1],))
        values = {n: input_shape[-1], m: value_shape[-1], p: key_shape[-1], h: self.num_heads, k: self.key_dim,
                  v: self.value_dim, o: out_size}
        bias = self.use_bias
        params = plus(prod(n, h, k), prod(h, k) if bias else 0, prod(p, h, k), prod(h, k) if bias else 0,
                      prod(n, h, v) if self.use_gate else 0, prod(h, v) if self.use_gate and bias else 0,
                      prod(m, h, v), prod(h, v) if bias else 0, prod(h, v, o), o if bias else 0)
        q_pos, kv_pos = input_shape[1:-1], value_shape[1:-1]
        rows = [input_shape[a] for a in axes]            # query positions each head scores
        cols = [key_shape[a] for a in axes]              # key positions each query position sees
        other = [input_shape[a] for a in range(1, len(input_shape) - 1) if a not in axes]
        macs = plus(prod(*q_pos, n, h, k), prod(*kv_pos, p, h, k), prod(*q_pos, n, h, v) if self.use_gate else 0,
                    prod(*kv_pos, m, h, v), prod(*other, h, *rows, *cols, k), prod(*other, h, *rows, *cols, v),
                    prod(*q_pos, h, v, o))
        scores = product([*other, self.num_heads, *rows, *cols])
        t = "×".join(fmt_dim(d) for d in rows) or "1"
        s = "×".join(fmt_dim(d) for d in cols) or "1"
        return Cost(
            params=params, values=values, macs=macs, other_flops=scores * 5,
            reads=(f"each of {self.num_heads} heads scores every one of the {t} query positions against every one "
                   f"of the {s} key positions (work grows with {t}·{s}; the parameters do not), then mixes the values"),
            rf=("global",), needs_fixed=("features (last axis) of query, key and value",),
            saved=("input", (input_shape[0] * scores, None)),
            children=[(c.name, c.cost(c._build_shape, c.compute_output_shape(c._build_shape)))
                      for c in self.saving_children().values()])

    def get_config(self):
        axes = getattr(self, "_built_axes", None) or self.attention_axes
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "dropout": self.dropout, "use_bias": self.use_bias,
                "use_gate": self.use_gate, "output_shape": None if self.output_shape_arg is None
                else list(self.output_shape_arg), "attention_axes": None if axes is None else list(axes),
                "sliding_window": self.sliding_window,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer), "seed": self.seed}


class GroupedQueryAttention(_Projected):
    """Grouped-query attention (Ainslie et al., 2023): ``num_query_heads`` query heads share
    ``num_key_value_heads`` key/value heads (each kv head serves ``num_query_heads / num_key_value_heads``).

    Keras exports it as ``keras.layers.GroupQueryAttention``; its class (and so its weight paths in files) is
    ``GroupedQueryAttention``. Both names work here; files written here name the class by its module, which
    Keras resolves.

    Args (Keras order): head_dim, num_query_heads, num_key_value_heads, dropout=0.0, use_bias=True,
        sliding_window=None, flash_attention=None, kernel_initializer="glorot_uniform", bias_initializer="zeros",
        regularizers/constraints (refused), use_gate=False, seed=None.

    Input shape:
        query ``(batch, T, n)``, value ``(batch, S, n)``, key ``(batch, S, p)``.
    Output shape:
        ``(batch, T, n)``; scores ``(batch, num_query_heads, T, S)``.
    Weights: ``query`` ``(n, hq, head_dim)``, ``key``/``value`` ``(n, hkv, head_dim)``,
        ``attention_output`` ``(hq, head_dim, n)`` and their biases.
    """

    keras_aliases = ("GroupQueryAttention",)
    keras_module = "keras.src.layers.attention.grouped_query_attention"
    _PROJECTIONS = (("query_dense", "_query_dense"), ("key_dense", "_key_dense"), ("gate_dense", "_gate_dense"),
                    ("value_dense", "_value_dense"), ("output_dense", "_output_dense"))

    def __init__(self, head_dim, num_query_heads, num_key_value_heads, dropout=0.0, use_bias=True,
                 sliding_window=None, flash_attention=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, use_gate=False, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.head_dim = checks.positive_int(self, "head_dim", head_dim)
        self.num_query_heads = checks.positive_int(self, "num_query_heads", num_query_heads)
        self.num_key_value_heads = checks.positive_int(self, "num_key_value_heads", num_key_value_heads)
        if num_query_heads % num_key_value_heads:
            raise ConfigError(f"{checks.owner_text(self)}: `num_query_heads` must be divisible by "
                              f"`num_key_value_heads`. Received: num_query_heads={num_query_heads}, "
                              f"num_key_value_heads={num_key_value_heads}")
        self.num_repeats = num_query_heads // num_key_value_heads
        self._common_init(dropout, use_bias, sliding_window, flash_attention, kernel_initializer, bias_initializer,
                          use_gate, seed, dict(kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                                               activity_regularizer=activity_regularizer,
                                               kernel_constraint=kernel_constraint, bias_constraint=bias_constraint))
        self._scale = 1.0 / math.sqrt(float(self.head_dim))

    def compute_output_shape(self, query_shape):
        value_shape, key_shape, spec = self._other_shapes(query_shape)
        self._require_rank(query_shape, 3, "(batch, steps, features)")
        for shape in (value_shape, key_shape or value_shape):
            if len(shape) != 3:
                raise ShapeError(self._error("expects value and key of rank 3 (batch, steps, features)",
                                             f"shape {fmt_shape(shape)}"))
        self._require_fixed(query_shape, -1, "number of query features (last axis)")
        if is_fixed(value_shape[-1]) and value_shape[-1] != query_shape[-1]:
            raise ShapeError(self._error(
                "needs query and value with the same last dimension",
                f"query_shape={fmt_shape(query_shape)}, value_shape={fmt_shape(value_shape)}"))
        self._check_key_value(value_shape, key_shape)
        if not spec.get("return_attention_scores"):
            return tuple(query_shape)
        return [tuple(query_shape), (query_shape[0], self.num_query_heads, query_shape[1],
                                     (key_shape or value_shape)[1])]

    def build(self, query_shape, value_shape=None, key_shape=None):
        if value_shape is None:
            value_shape, key_shape, _ = self._other_shapes(query_shape)
        self._built_shapes = {"query_shape": tuple(query_shape), "value_shape": tuple(value_shape),
                              "key_shape": None if key_shape is None else tuple(key_shape)}
        key_shape = value_shape if key_shape is None else key_shape
        common = self._sublayer_kwargs()

        def dense(eq, out, bias, name, shape, activation=None):
            layer = EinsumDense(eq, out, activation=activation, bias_axes=bias if self.use_bias else None, name=name,
                                **common)
            layer._build_from(tuple(shape))
            return layer
        hq, hkv, d = self.num_query_heads, self.num_key_value_heads, self.head_dim
        self.query_dense = dense("bqm,muh->bquh", (None, hq, d), "uh", "query", query_shape)
        self.key_dense = dense("bkm,mvh->bkvh", (None, hkv, d), "vh", "key", key_shape)
        if self.use_gate:
            self.gate_dense = dense("bqm,muh->bquh", (None, hq, d), "uh", "gate", query_shape, "sigmoid")
        self.value_dense = dense("bkm,mvh->bkvh", (None, hkv, d), "vh", "value", value_shape)
        self.output_dense = dense("bquh,uhm->bqm", (None, query_shape[-1]), "m", "attention_output",
                                  (query_shape[0], query_shape[1], hq, d))

    def call(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None, attention_mask=None,
             return_attention_scores=False, training=None, use_causal_mask=False):
        self._check_scores_allowed(return_attention_scores)
        key = value if key is None else key
        mask, causal_only = self._masks(query, value, query_mask, value_mask, key_mask, attention_mask,
                                        use_causal_mask)
        gate = self.gate_dense(query) if self.use_gate else None
        q = self.query_dense(query)                                                   # (B, T, hq, d)
        k = self.key_dense(key).repeat_interleave(self.num_repeats, dim=2)            # (B, S, hq, d)
        v = self.value_dense(value).repeat_interleave(self.num_repeats, dim=2)
        if not (self.dropout > 0 or return_attention_scores):
            out, scores = sdpa(q, k, v, mask, self._scale, causal_only), None
        else:
            if causal_only:
                mask = _causal(query.shape[1], value.shape[1], query.device)
            scores = torch.einsum("bquh,bkuh->buqk", q * self._scale, k)
            if mask is not None:
                while mask.dim() < scores.dim():
                    mask = mask.unsqueeze(-3)
            scores = masked_softmax(scores, mask, (-1,))
            dropped = F.dropout(scores, self.dropout, training=bool(training)) if self.dropout > 0 else scores
            out = torch.einsum("buqk,bkuh->bquh", dropped, v)
        out = self.output_dense(out if gate is None else out * gate)
        return [out, scores] if return_attention_scores else out

    def cost(self, input_shape, output_shape):
        value_shape, key_shape, _ = self._other_shapes(input_shape)
        key_shape = key_shape or value_shape
        n, p, hq, hkv, d = (sym(s) for s in ("n", "p", "hq", "hkv", "d"))
        separate_key = self._built_shapes is not None and self._built_shapes.get("key_shape") is not None
        p = p if separate_key else n
        values = {n: input_shape[-1], p: key_shape[-1], hq: self.num_query_heads, hkv: self.num_key_value_heads,
                  d: self.head_dim}
        b = self.use_bias
        params = plus(prod(n, hq, d), prod(hq, d) if b else 0, prod(p, hkv, d), prod(hkv, d) if b else 0,
                      prod(n, hq, d) if self.use_gate else 0, prod(hq, d) if self.use_gate and b else 0,
                      prod(n, hkv, d), prod(hkv, d) if b else 0, prod(hq, d, n), n if b else 0)
        T, S = input_shape[1], key_shape[1]
        macs = plus(prod(T, n, hq, d), prod(S, p, hkv, d), prod(T, n, hq, d) if self.use_gate else 0,
                    prod(S, n, hkv, d), prod(hq, T, S, d), prod(hq, T, S, d), prod(T, hq, d, n))
        return Cost(
            params=params, values=values, macs=macs, other_flops=self.num_query_heads * T * S * 5,
            reads=(f"each of {self.num_query_heads} query heads (sharing {self.num_key_value_heads} key/value heads) "
                   f"scores every one of the {fmt_dim(T)} query positions against every one of the {fmt_dim(S)} "
                   f"key positions (work grows with {fmt_dim(T)}·{fmt_dim(S)}; the parameters do not)"),
            rf=("global",), needs_fixed=("features (last axis) of query, key and value",),
            saved=("input", (input_shape[0] * self.num_query_heads * T * S, None)))

    def get_config(self):
        return {**super().get_config(), "head_dim": self.head_dim, "num_query_heads": self.num_query_heads,
                "num_key_value_heads": self.num_key_value_heads, "use_bias": self.use_bias,
                "use_gate": self.use_gate, "sliding_window": self.sliding_window, "dropout": self.dropout,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer), "seed": self.seed}


class Attention(Layer):
    """Dot-product (Luong) attention over ``[query, value]`` or ``[query, value, key]``.

    ``scores = query·keyᵀ`` (``score_mode="dot"``, times a learned scalar ``scale`` with ``use_scale``)
    or ``concat_score_weight·Σ tanh(scale·(query + key))`` (``"concat"``); softmax over the keys;
    the output mixes the values. Masks come as ``[query_mask, value_mask]``: masked values get no
    weight, masked query positions output 0; the output carries the query's mask.

    Input shape: ``[(batch, Tq, d), (batch, Tv, dv), (batch, Tv, d)]``. Output shape: ``(batch, Tq, dv)``;
    scores ``(batch, Tq, Tv)`` with ``return_attention_scores=True``.
    """

    supports_masking = True

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.use_scale = checks.boolean(self, "use_scale", use_scale)
        self.score_mode = checks.one_of(self, "score_mode", score_mode, ("dot", "concat"))
        self.dropout = checks.number_in(self, "dropout", dropout, 0, 1)
        self.seed = seed
        self._return_scores = False

    def __call__(self, *args, **kwargs):
        self._return_scores = bool(kwargs.get("return_attention_scores", False))
        try:
            return super().__call__(*args, **kwargs)
        finally:
            self._return_scores = False

    def _validate(self, shapes):
        if not isinstance(shapes, list) or not 2 <= len(shapes) <= 3:
            raise ShapeError(self._error(
                "must be called on a list of inputs, namely [query, value] or [query, value, key]",
                f"inputs={shapes!r}"))

    def _returns_scores(self) -> bool:
        if self._return_scores:
            return True
        return any(n.kwargs.get("return_attention_scores") for n in self._inbound_nodes[-1:])

    def compute_output_shape(self, input_shape):
        self._validate(input_shape)
        q, v = input_shape[0], input_shape[1]
        k = input_shape[2] if len(input_shape) > 2 else v
        for s in input_shape:
            self._require_rank(s, 3, "(batch, steps, features)")
        self._require_fixed(q, -1, "number of query features (last axis)")
        if is_fixed(k[-1]) and k[-1] != q[-1]:
            raise ShapeError(self._error("scores query against key feature by feature, so they need the same last "
                                         "dimension", f"query shape {fmt_shape(q)}, key shape {fmt_shape(k)}"))
        out = (*q[:-1], v[-1])
        return [out, (*q[:-1], k[-2])] if self._returns_scores() else out

    def build(self, input_shape):
        if self.use_scale:
            self.add_weight(name="scale", shape=self._scale_shape(input_shape), initializer=self._scale_init())
        if self.score_mode == "concat":
            self.add_weight(name="concat_score_weight", shape=(), initializer="ones")

    def _scale_shape(self, input_shape):
        return ()

    def _scale_init(self):
        return "ones"

    def _scores(self, q, k):
        scale = self.scale if self.use_scale else None
        if self.score_mode == "dot":
            scores = q @ k.transpose(-2, -1)
            return scores if scale is None else scores * scale
        x = q.unsqueeze(-2) + k.unsqueeze(-3)
        return self.concat_score_weight * torch.tanh(x if scale is None else scale * x).sum(-1)

    def call(self, inputs, mask=None, training=False, return_attention_scores=False, use_causal_mask=False):
        self._validate(inputs)
        if mask is not None and (not isinstance(mask, (list, tuple)) or not 2 <= len(mask) <= 3):
            raise ShapeError(self._error("takes its masks as a list, namely [query_mask, value_mask]",
                                         f"mask={mask!r}"))
        q, v = inputs[0], inputs[1]
        k = inputs[2] if len(inputs) > 2 else v
        q_mask = mask[0] if mask else None
        v_mask = mask[1] if mask else None
        scores = self._scores(q, k)
        scores_mask = v_mask
        if use_causal_mask:
            causal = _causal(scores.shape[-2], scores.shape[-1], scores.device)
            scores_mask = causal if v_mask is None else v_mask.to(torch.bool).unsqueeze(-2) & causal
        if scores_mask is not None:
            padding = ~scores_mask.to(torch.bool)
            if padding.dim() == 2:
                padding = padding.unsqueeze(-2)
            scores = torch.where(padding, scores - (65504.0 if scores.dtype == torch.float16 else 1.0e9), scores)
        weights = torch.softmax(scores, dim=-1)
        dropped = F.dropout(weights, self.dropout, training=True) if training and self.dropout > 0 else weights
        out = dropped @ v
        if q_mask is not None:
            out = torch.where(q_mask.to(torch.bool).unsqueeze(-1), out, torch.zeros((), dtype=out.dtype, device=out.device))
        return [out, weights] if return_attention_scores else out

    def compute_mask(self, inputs, mask=None):
        return mask[0] if mask else None

    def compute_mask_shape(self, input_shape, mask_shape):
        return mask_shape[0] if isinstance(mask_shape, list) and mask_shape else None

    @property
    def mask_rule(self):
        return "carry"

    def _score_rule(self, T, S, d):
        """(parameter formula, multiply-adds of the scores, how they are made)."""
        params = plus(1 if self.use_scale else 0, 1 if self.score_mode == "concat" else 0)
        if self.score_mode == "dot":
            return params, prod(T, S, sym("d")), "dot products"
        return params, 0, "a weighted sum of tanh(query + key)"

    def cost(self, input_shape, output_shape):
        q, v = input_shape[0], input_shape[1]
        k = input_shape[2] if len(input_shape) > 2 else v
        T, S = q[1], k[1]
        d, dv = sym("d"), sym("dv")
        params, score_macs, kind = self._score_rule(T, S, d)
        return Cost(
            params=params, values={d: q[-1], dv: v[-1]}, macs=plus(score_macs, prod(T, S, dv)),
            other_flops=T * S * (5 if self.score_mode == "dot" else 5 + 2 * q[-1]),
            reads=(f"scores every one of the {fmt_dim(T)} query positions against every one of the {fmt_dim(S)} "
                   f"key positions by {kind} (work grows with {fmt_dim(T)}·{fmt_dim(S)}), then mixes the values"),
            rf=("global",), needs_fixed=("features (last axis)",), saved=("input", (q[0] * T * S, None)))

    def get_config(self):
        return {**super().get_config(), "use_scale": self.use_scale, "score_mode": self.score_mode,
                "dropout": self.dropout, "seed": self.seed}


class AdditiveAttention(Attention):
    """Additive (Bahdanau) attention: ``scores = Σ scale·tanh(query + key)`` over the features
    (``scale (d,)`` learned with ``use_scale``); otherwise as :class:`Attention`.
    """

    def __init__(self, use_scale=True, dropout=0.0, *, seed=None, **kwargs):
        super().__init__(use_scale=use_scale, score_mode="dot", dropout=dropout, seed=seed, **kwargs)

    def _scale_shape(self, input_shape):
        return (self._require_fixed(input_shape[0], -1, "number of query features (last axis)"),)

    def _scale_init(self):
        return "glorot_uniform"

    def _score_rule(self, T, S, d):
        if self.use_scale:  # Σ_d scale_d·tanh(q + k): a contraction over d
            return d, prod(T, S, d), "a learned weighted sum of tanh(query + key)"
        return 0, 0, "the sum of tanh(query + key)"

    def _scores(self, q, k):
        t = torch.tanh(q.unsqueeze(-2) + k.unsqueeze(-3))            # (B, Tq, Tv, d)
        if not self.use_scale:
            return t.sum(-1)
        return (t @ self.scale.unsqueeze(-1)).squeeze(-1)           # a contraction over d

    def get_config(self):
        cfg = super().get_config()
        cfg.pop("score_mode")
        return cfg
