"""What one operator of an exported graph costs, from the shapes of its arguments.

Convention (glassnet's, as in ``glassnet.layers.cost``): 1 MAC is one multiply-add of a contraction;
FLOPs = 2·MACs. Only contractions have MACs:

========================================  ============================================================
operator                                  MACs
========================================  ============================================================
mm (m,k)@(k,n); addmm                     m·k·n (the bias add is element-wise work)
bmm, baddbmm, addbmm                      b·m·k·n
matmul                                    broadcast batch · m·k·n (vector cases as torch defines them)
linear x(…, k), weight (n, k)             (elements of x / k)·k·n
mv, addmv, dot                            m·k; k
convolution, conv1d/2d/3d                 N · output positions · numel(weight) (= C_out·C_in/groups·k…)
conv_transpose1d/2d/3d                    N · input positions · numel(weight)
scaled_dot_product_attention q (…, L, E)  batch·L·S·E (q·kᵀ) + batch·L·S·E_v (weights·v); the causal
                                          mask is not subtracted (as torch's own counter)
einsum with one or two operands           product of the sizes of every index (two operands)
lstm, gru, rnn_tanh, rnn_relu             time steps · batch · Σ numel of the weight matrices
embedding                                 0 (a table look-up)
========================================  ============================================================

Element-wise work (``other``) is counted apart, per output element: 1 for most element-wise operators
(glassnet's activation table for the others: silu 2, softmax 3 …), 5 for a normalisation (mean,
variance, normalise, scale, shift; 2 for batch norm at inference), the window size for pooling, the
input size for a reduction. ``saved`` is what autograd keeps of the activations for the backward pass
(the tensors an operator's derivative reads), as in torch's derivatives.yaml for the common operators.

An operator not in these tables is unknown: its MACs and element-wise work are ``None`` (never 0), and
the report names it.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field

import sympy
import torch

from .symbolic import prod

__all__ = ["OpCost", "op_name", "op_cost", "window_of", "no_macs", "ELEMENTWISE_OPS", "FREE_OPS", "REDUCTION_OPS",
           "POOL_OPS", "ADAPTIVE_OPS", "WINDOW_OPS"]


@dataclass
class OpCost:
    macs: object = sympy.Integer(0)     # SymPy over the dims; None = unknown
    other: object = sympy.Integer(0)    # element-wise FLOPs; None = unknown
    saved: tuple = ()                   # fx nodes whose tensors autograd keeps
    saved_bytes: object = sympy.Integer(0)  # other bytes kept (masks, gates)
    known: bool = True


@dataclass
class Ctx:
    """One call: its fx arguments, the shape of its output and lookups into the graph."""
    node: object
    shape_of: object      # fx node -> tuple of SymPy dims or None
    is_activation: object  # fx node -> True unless a parameter, buffer or constant
    extra: dict = field(default_factory=dict)

    def arg(self, i, name=None, default=None):
        if i < len(self.node.args):
            return self.node.args[i]
        return self.node.kwargs.get(name, default)

    def shape(self, i, name=None):
        a = self.arg(i, name)
        return self.shape_of(a) if isinstance(a, torch.fx.Node) else None

    @property
    def out(self):
        return self.shape_of(self.node)

    def tensors(self, *idx):
        args = [self.arg(i) for i in idx] if idx else list(self.node.args)
        return tuple(a for a in args if isinstance(a, torch.fx.Node) and self.is_activation(a))


def op_name(target) -> str:
    """``aten.conv2d``, ``glassnet.rnn``; Python's own operators (on sizes) as ``operator.mul``."""
    if isinstance(target, torch._ops.OpOverload):
        return f"{target.namespace}.{target._overloadpacket.__name__}"
    if getattr(target, "__module__", None) in ("_operator", "operator"):
        return f"operator.{target.__name__}"
    return getattr(target, "__qualname__", str(target))


def _numel(shape):
    return None if shape is None else prod(shape)


# ---------------------------------------------------------------------- contractions
def _mm(c):
    a, b = c.shape(0), c.shape(1)
    return OpCost(prod([a[0], a[1], b[1]]), saved=c.tensors(0, 1))


def _addmm(c):
    a, b = c.shape(1), c.shape(2)
    return OpCost(prod([a[0], a[1], b[1]]), other=_numel(c.out), saved=c.tensors(1, 2))


def _bmm(c, first=0):
    a, b = c.shape(first), c.shape(first + 1)
    return OpCost(prod([a[0], a[1], a[2], b[2]]), other=_numel(c.out) if first else 0,
                  saved=c.tensors(first, first + 1))


def _broadcast(xs, ys):
    out = []
    for i in range(max(len(xs), len(ys))):
        x = xs[len(xs) - 1 - i] if i < len(xs) else sympy.Integer(1)
        y = ys[len(ys) - 1 - i] if i < len(ys) else sympy.Integer(1)
        out.append(y if x == 1 else x)
    return out[::-1]


def _matmul(c):
    a, b = c.shape(0), c.shape(1)
    if len(a) == 1 and len(b) == 1:
        macs = a[0]
    elif len(a) == 1:
        macs = prod([*b[:-2], b[-2], b[-1]])
    elif len(b) == 1:
        macs = prod(a)
    else:
        macs = prod([*_broadcast(a[:-2], b[:-2]), a[-2], a[-1], b[-1]])
    return OpCost(macs, saved=c.tensors(0, 1))


def _linear(c):
    x, w = c.shape(0), c.shape(1)
    bias = c.arg(2, "bias")
    return OpCost(prod([*x[:-1], x[-1], w[0]]) if len(w) == 2 else prod(x),
                  other=_numel(c.out) if bias is not None else 0, saved=c.tensors(0))


def _mv(c, first=0):
    a = c.shape(first)
    return OpCost(prod(a), other=_numel(c.out) if first else 0, saved=c.tensors(first, first + 1))


def _dot(c):
    return OpCost(c.shape(0)[0], saved=c.tensors(0, 1))


def _conv_parts(c, name):
    """(transposed, stride, padding, dilation) of a convolution call of any of torch's spellings."""
    if name in ("convolution", "_convolution"):
        return bool(c.arg(6)), c.arg(3), c.arg(4), c.arg(5)
    if name.startswith("conv_transpose"):
        return True, c.arg(3, "stride", 1), c.arg(4, "padding", 0), c.arg(7, "dilation", 1)
    return False, c.arg(3, "stride", 1), c.arg(4, "padding", 0), c.arg(5, "dilation", 1)


def _conv(c, name):
    x, w, out = c.shape(0), c.shape(1), c.out
    transposed = _conv_parts(c, name)[0]
    batched = len(x) == len(w)
    batch = x[0] if batched else sympy.Integer(1)
    positions = (x if transposed else out)[2 if batched else 1:]
    bias = c.arg(2, "bias")
    return OpCost(prod([batch, *positions, *w]), other=_numel(out) if bias is not None else 0, saved=c.tensors(0))


def _sdpa(c):
    q, k, v = c.shape(0), c.shape(1), c.shape(2)
    batch = prod(q[:-2])
    L, S, E, Ev = q[-2], k[-2], q[-1], v[-1]
    scores = prod([batch, L, S])
    masked = c.arg(3, "attn_mask") is not None
    return OpCost(scores * E + scores * Ev, other=scores * (5 if masked else 4), saved=(*c.tensors(0, 1, 2), c.node),
                  saved_bytes=4 * prod([batch, L]))


def _einsum(c):
    equation, operands = c.arg(0), c.arg(1)
    shapes = [c.shape_of(o) for o in operands]
    if "..." in equation or any(s is None for s in shapes) or len(operands) > 2:
        return OpCost(None, None, known=False)
    inputs = equation.replace(" ", "").split("->")[0].split(",")
    sizes = {}
    for letters, shape in zip(inputs, shapes):
        sizes.update(zip(letters, shape))
    if len(operands) == 1:
        return OpCost(0, other=_numel(shapes[0]))
    return OpCost(prod(sizes.values()), saved=tuple(o for o in operands if c.is_activation(o)))


_GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1, "rnn": 1}
# element-wise work per unit and time step, as glassnet's recurrent layers count it (bias, activations, gates)
_RNN_ELEMENTWISE = {4: 13, 3: 11, 1: 2}
# what torch keeps per unit and step for the backward pass (glassnet's recurrent layers measured it)
_RNN_SAVED_PER_UNIT = {4: 16, 3: 10, 1: 1}


def _rnn(c, name):
    if name == "glassnet.rnn":
        mode, x, weights = c.arg(0), c.shape(1), c.arg(3)
    else:
        mode, x, weights = name.split(".")[-1], c.shape(0), c.arg(2)
    gates = _GATES[mode]
    steps = prod(x[:2]) if len(x) == 3 else x[0]
    matrices = [c.shape_of(w) for w in weights if len(c.shape_of(w)) == 2]
    # each layer and direction has an input and a recurrent matrix of gates·units rows (and maybe a projection)
    rows = matrices[0][0]
    units = sympy.Integer(sum(1 for m in matrices if m[0] == rows) // 2) * rows / gates
    return OpCost(steps * sum((prod(m) for m in matrices), sympy.Integer(0)),
                  other=steps * units * _RNN_ELEMENTWISE[gates], saved=c.tensors(0, 1) if name == "glassnet.rnn" else c.tensors(0),
                  saved_bytes=4 * steps * units * _RNN_SAVED_PER_UNIT[gates])


# ---------------------------------------------------------------------- element-wise, pooling, reductions
# FLOPs per output element where it is not 1 (glassnet.activations.ELEMENTWISE_FLOPS for activations)
_PER_ELEMENT = {
    "silu": 2, "mish": 3, "hardswish": 4, "hardsigmoid": 3, "relu6": 2, "softmax": 3, "_softmax": 3,
    "log_softmax": 3, "_log_softmax": 3, "addcmul": 2, "addcdiv": 2, "lerp": 2, "layer_norm": 5,
    "native_layer_norm": 5, "group_norm": 5, "native_group_norm": 5, "instance_norm": 5, "rms_norm": 4,
    "_fused_rms_norm": 4, "glu": 2, "softplus": 1, "hardtanh": 1, "clamp": 1,
}
ELEMENTWISE_OPS = set(_PER_ELEMENT) | {
    "add", "sub", "rsub", "mul", "div", "true_divide", "neg", "abs", "exp", "exp2", "expm1", "log", "log2",
    "log10", "log1p", "sqrt", "rsqrt", "pow", "square", "reciprocal", "relu", "gelu", "tanh", "sigmoid",
    "elu", "selu", "celu", "leaky_relu", "prelu", "threshold", "clamp_min", "clamp_max", "maximum",
    "minimum", "where", "masked_fill", "sin", "cos", "tan", "erf", "erfc", "sign", "sgn", "round", "floor",
    "ceil", "trunc", "frac", "floor_divide", "remainder", "fmod", "eq", "ne", "lt", "le", "gt", "ge",
    "logical_and", "logical_or", "logical_not", "logical_xor", "bitwise_and", "bitwise_or", "bitwise_not",
    "bitwise_xor", "__and__", "__or__", "__xor__", "__invert__", "isnan", "isinf", "isfinite", "nan_to_num",
    "silu_", "atan", "atan2", "sinh", "cosh", "asin", "acos", "hypot", "logit", "xlogy", "outer", "ger",
    "sigmoid_", "tanh_", "softshrink", "hardshrink", "tanhshrink", "logsigmoid", "heaviside", "clip",
}
# saved for backward: the output (its derivative reads the result) or the inputs
_SAVES_OUTPUT = {"relu", "sigmoid", "tanh", "exp", "softmax", "_softmax", "log_softmax", "_log_softmax", "sqrt",
                 "rsqrt", "elu", "hardtanh", "relu6", "threshold"}
_SAVES_NOTHING = {"add", "sub", "rsub", "neg", "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or",
                  "logical_not", "logical_xor", "bitwise_and", "bitwise_or", "bitwise_not", "bitwise_xor",
                  "__and__", "__or__", "__xor__", "__invert__", "isnan", "isinf", "isfinite", "sign", "sgn",
                  "round", "floor", "ceil", "trunc", "floor_divide"}
REDUCTION_OPS = {"sum", "mean", "amax", "amin", "max", "min", "prod", "var", "std", "var_mean", "std_mean", "norm",
               "linalg_vector_norm", "logsumexp", "argmax", "argmin", "cumsum", "cumprod", "all", "any", "count_nonzero",
               "diff", "topk", "sort", "argsort", "cummax", "cummin", "median", "nansum", "nanmean", "aminmax"}
POOL_OPS = {"max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices", "max_pool2d_with_indices",
          "max_pool3d_with_indices", "avg_pool1d", "avg_pool2d", "avg_pool3d", "lp_pool1d", "lp_pool2d"}
ADAPTIVE_OPS = {"adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d",
             "adaptive_max_pool2d", "adaptive_max_pool3d", "_adaptive_avg_pool2d", "_adaptive_avg_pool3d"}
WINDOW_OPS = POOL_OPS | {"conv1d", "conv2d", "conv3d", "convolution", "_convolution"}
# no arithmetic: views, copies, creation, indexing, padding, shape bookkeeping
FREE_OPS = {
    "view", "_unsafe_view", "reshape", "transpose", "t", "permute", "expand", "expand_as", "squeeze", "unsqueeze",
    "flatten", "unflatten", "slice", "select", "narrow", "split", "split_with_sizes", "chunk", "unbind", "alias",
    "detach", "contiguous", "clone", "_to_copy", "to", "copy", "copy_", "type_as", "lift_fresh_copy", "cat",
    "concat", "stack", "hstack", "vstack", "repeat", "tile", "repeat_interleave", "index", "index_select",
    "gather", "take", "take_along_dim", "scatter", "index_put", "index_put_", "index_copy", "slice_scatter",
    "select_scatter", "masked_scatter", "masked_select", "pad", "constant_pad_nd", "reflection_pad1d",
    "reflection_pad2d", "replication_pad1d", "replication_pad2d", "flip", "roll", "tril", "triu", "movedim",
    "swapaxes", "embedding", "one_hot", "zeros", "ones", "empty", "full", "zeros_like", "ones_like",
    "empty_like", "full_like", "new_zeros", "new_ones", "new_empty", "new_full", "arange", "linspace",
    "scalar_tensor", "rand", "randn", "randint", "rand_like", "randn_like", "bernoulli", "fill", "fill_",
    "zero_", "sym_size", "sym_numel", "sym_stride", "sym_storage_offset", "_assert_tensor_metadata",
    "_assert_scalar", "sym_constrain_range_for_size", "_assert_async", "item", "_local_scalar_dense",
    "as_strided", "view_as", "reshape_as", "unfold", "diagonal", "set_", "resize_", "lift", "dropout_",
    "_set_grad_enabled", "__getitem__", "detach_", "empty_strided", "tensor_split", "narrow_copy", "_enter_autocast",
    "_exit_autocast",
}


_NORMS_AND_DROPOUT = {"batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training",
                      "native_batch_norm", "_batch_norm_with_update", "_batch_norm_no_update", "dropout",
                      "native_dropout", "feature_dropout", "alpha_dropout"}


def no_macs(short_name: str) -> bool:
    """True for an operator known to do no multiply-adds (element-wise, reduction, pooling, copy, view)."""
    name = short_name[:-1] if short_name.endswith("_") and not short_name.endswith("__") else short_name
    return name in ELEMENTWISE_OPS or name in FREE_OPS or name in REDUCTION_OPS or name in POOL_OPS \
        or name in ADAPTIVE_OPS or name in _NORMS_AND_DROPOUT or short_name in FREE_OPS


def _elementwise(c, name):
    out = c.out
    per = _PER_ELEMENT.get(name, 1)
    if name == "clamp" or name == "clip":
        per = 2 if (c.arg(1) is not None and c.arg(2) is not None) else 1
    n = _numel(out)
    if name in _SAVES_OUTPUT:
        saved = (c.node,)
    elif name in _SAVES_NOTHING:
        saved = ()
    elif name in ("mul", "div") and len(c.tensors(0, 1)) < 2:
        saved = ()  # by a constant: the derivative needs no tensor
    else:
        saved = c.tensors()
    return OpCost(0, other=None if n is None else per * n, saved=saved)


def _batch_norm(c, name):
    training = c.arg(5) if name == "batch_norm" else c.arg(5, "training", True)
    if name == "_native_batch_norm_legit_no_training":
        training = False
    return OpCost(0, other=(5 if training else 2) * _numel(c.out), saved=c.tensors(0) if training else ())


def _dropout(c, name):
    train = c.arg(2, "train", True)
    if not train:
        return OpCost(0)
    n = _numel(c.out)
    return OpCost(0, other=n, saved_bytes=n)  # the mask: one byte per element


def _pool(c, name):
    kernel = c.arg(1, "kernel_size")
    k = [kernel] if isinstance(kernel, int) else list(kernel)
    spatial = len(c.out) - (2 if len(c.shape(0)) == len(k) + 2 else 1)
    k = k * spatial if len(k) == 1 else k
    if "max" in name:  # the input and the int64 index of each maximum
        return OpCost(0, other=_numel(c.out) * prod(k), saved=c.tensors(0), saved_bytes=8 * _numel(c.out))
    return OpCost(0, other=_numel(c.out) * prod(k))


def op_cost(node, shape_of, is_activation) -> OpCost:
    """The cost of one ``call_function`` node of an exported graph."""
    name = op_name(node.target)
    c = Ctx(node, shape_of, is_activation)
    if name.startswith("operator.") or node.target is operator.getitem:
        return OpCost(0)
    if name == "glassnet.rnn":
        return _rnn(c, name)
    namespace, short = name.split(".", 1) if "." in name else ("", name)
    if namespace != "aten":
        return OpCost(None, None, known=False)
    base = short[:-1] if short.endswith("_") and short[:-1] in ELEMENTWISE_OPS else short
    try:
        return _dispatch(c, base)
    except (TypeError, IndexError):  # an argument without a shape (a data-dependent size)
        return OpCost(None, None, known=False)


def _dispatch(c, name):
    if name in ("mm",):
        return _mm(c)
    if name in ("addmm",):
        return _addmm(c)
    if name == "bmm":
        return _bmm(c)
    if name in ("baddbmm", "addbmm"):
        return _bmm(c, first=1)
    if name == "matmul":
        return _matmul(c)
    if name == "linear":
        return _linear(c)
    if name == "mv":
        return _mv(c)
    if name == "addmv":
        return _mv(c, first=1)
    if name in ("dot", "vdot", "inner") and len(c.shape(0)) == 1:
        return _dot(c)
    if name in ("conv1d", "conv2d", "conv3d", "convolution", "_convolution", "conv_transpose1d", "conv_transpose2d",
                "conv_transpose3d"):
        return _conv(c, name)
    if name in ("scaled_dot_product_attention", "_scaled_dot_product_flash_attention_for_cpu",
                "_scaled_dot_product_efficient_attention", "_scaled_dot_product_flash_attention"):
        return _sdpa(c)
    if name == "einsum":
        return _einsum(c)
    if name in ("lstm", "gru", "rnn_tanh", "rnn_relu") and isinstance(c.arg(2), (list, tuple)):
        return _rnn(c, "aten." + name)
    if name in _NORMS_AND_DROPOUT:
        return _dropout(c, name) if "dropout" in name else _batch_norm(c, name)
    if name in POOL_OPS:
        return _pool(c, name)
    if name in ADAPTIVE_OPS or name in REDUCTION_OPS:
        shape = c.shape(0)
        return OpCost(0, other=_numel(shape), saved=c.tensors(0) if "max" in name else ())
    if name in ELEMENTWISE_OPS:
        return _elementwise(c, name)
    if name in FREE_OPS:
        return OpCost(0)
    if name.endswith("_") and name[:-1] in FREE_OPS:
        return OpCost(0)
    return OpCost(None, None, known=False)


def window_of(node, shape_of):
    """(kernel, stride, padding, dilation) per spatial axis of a convolution or pooling node, else None."""
    name = op_name(node.target).split(".", 1)[-1]
    c = Ctx(node, shape_of, lambda n: True)
    x = c.shape(0)
    if name in ("conv1d", "conv2d", "conv3d", "convolution", "_convolution"):
        transposed, stride, padding, dilation = _conv_parts(c, name)
        if transposed:
            return None
        w = c.shape(1)
        k = [int(v) for v in w[2:]]
    elif name in POOL_OPS:
        kernel = c.arg(1, "kernel_size")
        k = [kernel] if isinstance(kernel, int) else list(kernel)
        stride = c.arg(2, "stride") or k
        padding = c.arg(3, "padding", 0)
        dilation = c.arg(4, "dilation", 1) if name.startswith("max") else 1
    else:
        return None
    n = len(k) if len(k) > 1 else len(x) - 2
    k = k * n if len(k) == 1 else k

    def per_axis(v):
        if isinstance(v, str):
            return [0] * n
        v = [v] if isinstance(v, int) else list(v)
        return v * n if len(v) == 1 else v
    return list(zip(k, per_axis(stride), per_axis(padding), per_axis(dilation)))
