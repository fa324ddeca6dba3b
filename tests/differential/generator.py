"""Random, valid model specs for the differential test of glassnet against Keras 3.

A spec is plain JSON data that describes a model. ``build(spec, L, Input, Model, Sequential)`` builds it
with either framework (``L`` is ``glassnet.layers`` or ``keras.layers``), so one spec gives two twins made
by the same code. ``generate(seed)`` draws a spec. Keras decides what is valid: while a spec grows, every
candidate layer call is tried on Keras symbolic tensors, and a call Keras refuses is drawn again.

The layers come from two tables: ``KINDS`` (one row per single-input layer class: the class name, which
tensors it accepts, how its arguments are drawn) and ``MERGES`` (layers over a list of tensors). Adding a
layer to glassnet means adding one row; ``tests/test_differential.py`` checks that every public layer class
has a row or a stated reason in ``NOT_GENERATED``.

Spec schema::

    functional: {"type": "functional", "inputs": [INPUT, ...], "layers": [ENTRY, ...]  (in creation order),
                 "calls": [{"layer": id, "in": tid | [tid, ...], "kw": {"initial_state": [tid, ...]},
                            "out": [tid, ...], "masked_in": true (if an input carries a Keras mask)},
                           ...]  (in call order),
                 "outputs": [tid, ...], "run_dim": int}
    sequential: {"type": "sequential", "inputs": [INPUT], "layers": [ENTRY, ...] (creation order),
                 "chain": [id, ...] (call order), "run_dim": int}
    INPUT:      {"shape": [int | None, ...], "dtype": "float32" | "int32", "vocab": int (int inputs),
                 "pad": None | float (float sequences: the value padded steps hold, which a Masking layer on
                 this input uses)}
    ENTRY:      {"id": int, "kind": class name | "Model", "args": {...}, "inner": ENTRY (wrappers),
                 "backward": ENTRY (Bidirectional with an explicit backward layer), "spec": SPEC ("Model"),
                 "trainable": false (a frozen nested model)}

Tensor ids ``0 .. len(inputs) - 1`` are the inputs. ``run_dim`` is the size every variable (None)
dimension takes in the data.
"""
from __future__ import annotations

import math
import random
import warnings
from dataclasses import dataclass
from typing import Any, Callable

from glassnet.layers import preprocessing as _preprocessing

__all__ = ["KINDS", "MERGES", "NOT_GENERATED", "LAMBDAS", "generate", "build", "describe", "walk_entries",
           "features", "same_padding_is_symmetric"]

# ---------------------------------------------------------------------------------------------------------
# drawing helpers

UNITS = (2, 3, 4)
FILTERS = (2, 3, 4)
ACTIVATIONS = (None, None, "relu", "tanh", "sigmoid", "gelu", "elu", "selu", "softplus", "softsign", "silu",
               "softmax", "log_softmax", "linear", "hard_sigmoid", "hard_silu", "leaky_relu", "relu6", "mish")
RNN_ACTIVATIONS = ("tanh", "tanh", "tanh", "relu", "sigmoid", "softsign")
RECURRENT_ACTIVATIONS = ("sigmoid", "sigmoid", "sigmoid", "hard_sigmoid", "tanh")

# functions a Lambda layer may hold; a spec names them, so specs stay JSON. Keras stores a lambda's bytecode
LAMBDAS: dict[str, Callable] = {
    "double": lambda t: t * 2.0,
    "shift": lambda t: t + 0.5,
    "square": lambda t: t * t,
}


def coin(r: random.Random, p: float = 0.5) -> bool:
    return r.random() < p


def act(r: random.Random):
    return r.choice(ACTIVATIONS)


@dataclass
class Tensor:
    """A tensor of the spec being drawn: its id, per-sample shape (no batch), dtype and Keras twin."""
    id: int
    shape: tuple
    dtype: str
    masked: bool = False
    kt: Any = None           # the Keras symbolic tensor of the trial build
    is_input: bool = False
    vocab: int | None = None
    pad: float | None = None
    uses: int = 0

    @property
    def rank(self) -> int:
        """Rank with the batch axis, as Keras counts it."""
        return len(self.shape) + 1

    @property
    def is_float(self) -> bool:
        return self.dtype.startswith("float")


def floats(rank: int | None = None, min_rank: int | None = None, max_rank: int | None = None,
           fixed_last: bool = True) -> Callable[[Tensor], bool]:
    """A float tensor of the given rank (batch included) with a fixed last axis."""
    def ok(t: Tensor) -> bool:
        return (t.is_float and (rank is None or t.rank == rank) and (min_rank is None or t.rank >= min_rank)
                and (max_rank is None or t.rank <= max_rank) and (not fixed_last or t.shape[-1] is not None))
    return ok


def spatial(t: Tensor, data_format: str) -> tuple:
    return tuple(t.shape[1:]) if data_format == "channels_first" else tuple(t.shape[:-1])


def data_format(r: random.Random, t: Tensor) -> str:
    """channels_first now and then, where the channel axis would be fixed."""
    return "channels_first" if t.shape[0] is not None and coin(r, 0.1) else "channels_last"


def same_padding_is_symmetric(sizes, pool, strides) -> bool:
    """Whether "same" padding splits evenly on every axis (TF rule: ``total = (ceil(L/s)-1)·s + k - L``).

    Keras 3.15.1's torch backend replicates the edge for 'same' average pooling when the split is uneven,
    where glassnet (like Keras on TensorFlow and JAX) averages only real elements; glassnet keeps the
    TF/JAX rule on purpose, so the generator draws 'same' average pooling only where the split is even
    (and never over a variable axis, whose size is not known here).
    """
    for size, k, s in zip(sizes, pool, strides):
        if size is None:
            return False
        out = -(-size // s)
        if max((out - 1) * s + k - size, 0) % 2:
            return False
    return True


def conv_args(rank: int, kind: str = "conv") -> Callable[[random.Random, Tensor], dict]:
    """Arguments for Conv/DepthwiseConv/SeparableConv of ``rank`` spatial axes."""
    def draw(r: random.Random, t: Tensor) -> dict:
        fmt = data_format(r, t)
        sizes = [d for d in spatial(t, fmt) if d is not None]
        most = min(sizes + [3])
        kernel = [r.randint(1, max(1, most)) for _ in range(rank)]
        a: dict[str, Any] = {}
        channels = t.shape[0] if fmt == "channels_first" else t.shape[-1]
        if kind != "depthwise":
            a["filters"] = r.choice(FILTERS)
        a["kernel_size"] = kernel[0] if (rank == 1 or coin(r)) and len(set(kernel)) == 1 else kernel
        stride = r.choice((1, 1, 2))
        a["strides"] = stride
        if stride == 1 and coin(r, 0.3):
            a["dilation_rate"] = 2
        a["padding"] = r.choice(("valid", "same") + (("causal",) if rank == 1 and kind == "conv" else ()))
        if kind == "conv" and coin(r, 0.2) and channels and channels > 1:
            groups = r.choice([g for g in range(2, channels + 1) if channels % g == 0])
            a["groups"] = groups
            a["filters"] = groups * r.choice((1, 2))
        if kind in ("depthwise", "separable"):
            a["depth_multiplier"] = r.choice((1, 2))
        a["activation"] = act(r)
        a["use_bias"] = coin(r, 0.8)
        if fmt != "channels_last":
            a["data_format"] = fmt
        return a
    return draw


def pool_args(rank: int, average: bool) -> Callable[[random.Random, Tensor], dict]:
    def draw(r: random.Random, t: Tensor) -> dict:
        fmt = data_format(r, t)
        pool = [r.choice((1, 2, 2, 3)) for _ in range(rank)]
        strides = None if coin(r) else [r.choice((1, 2)) for _ in range(rank)]
        padding = r.choice(("valid", "same"))
        if padding == "same" and average and not same_padding_is_symmetric(spatial(t, fmt), pool, strides or pool):
            padding = "valid"
        a: dict[str, Any] = {"pool_size": pool[0] if len(set(pool)) == 1 and coin(r) else pool,
                             "padding": padding}
        if strides is not None:
            a["strides"] = strides
        if fmt != "channels_last":
            a["data_format"] = fmt
        return a
    return draw


def global_pool_args(r: random.Random, t: Tensor) -> dict:
    a: dict[str, Any] = {"keepdims": coin(r, 0.25)}
    fmt = data_format(r, t)
    if fmt != "channels_last":
        a["data_format"] = fmt
    return a


def rnn_args(kind: str) -> Callable[[random.Random, Tensor], dict]:
    def draw(r: random.Random, t: Tensor | None, units: int | None = None) -> dict:
        a: dict[str, Any] = {"units": units or r.choice(UNITS), "return_sequences": coin(r),
                             "activation": r.choice(RNN_ACTIVATIONS), "use_bias": coin(r, 0.85)}
        if coin(r, 0.2):
            a["return_state"] = True
        if coin(r, 0.2):
            a["go_backwards"] = True
        if kind != "SimpleRNN":
            a["recurrent_activation"] = r.choice(RECURRENT_ACTIVATIONS)
        if kind == "LSTM" and coin(r, 0.2):
            a["unit_forget_bias"] = False
        if kind == "GRU" and coin(r, 0.3):
            a["reset_after"] = False
        if t is not None and t.shape[0] is not None and coin(r, 0.1):
            a["unroll"] = True
        if coin(r, 0.15):
            a["zero_output_for_mask"] = True
        if coin(r, 0.08):
            a["dropout"] = 0.25
        if coin(r, 0.05):
            a["recurrent_dropout"] = 0.25
        return a
    return draw


def reshape_args(r: random.Random, t: Tensor) -> dict:
    n = math.prod(t.shape)
    options = [[n], [-1], [-1, t.shape[-1]]]
    options += [[a, n // a] for a in range(2, n) if n % a == 0]
    options += [[a, -1, b] for a in range(2, 4) for b in range(2, 4) if n % (a * b) == 0 and n // (a * b) > 1]
    return {"target_shape": r.choice(options)}


def permute_args(r: random.Random, t: Tensor) -> dict:
    dims = list(range(1, len(t.shape) + 1))
    while dims == sorted(dims):
        r.shuffle(dims)
    return {"dims": dims}


def layernorm_args(r: random.Random, t: Tensor) -> dict:
    a: dict[str, Any] = {"epsilon": r.choice((1e-3, 1e-2)), "center": coin(r, 0.8), "scale": coin(r, 0.8)}
    if t.rank >= 3 and coin(r, 0.25) and all(d is not None for d in t.shape[-2:]):
        a["axis"] = [-2, -1]
    if coin(r, 0.05):
        a["rms_scaling"] = True
    return a


def batchnorm_args(r: random.Random, t: Tensor) -> dict:
    a: dict[str, Any] = {"momentum": r.choice((0.99, 0.9, 0.5)), "epsilon": r.choice((1e-3, 1e-2)),
                         "center": coin(r, 0.8), "scale": coin(r, 0.8)}
    if t.rank >= 3 and t.shape[0] is not None and coin(r, 0.15):
        a["axis"] = 1
    return a


def td_inner(r: random.Random, t: Tensor) -> dict | None:
    """The layer a TimeDistributed wraps: a row of KINDS that accepts one time step of ``t``."""
    step = Tensor(-1, tuple(t.shape[1:]), t.dtype)
    rows = [k for k in KINDS if k.name in TD_INNER and k.accepts(step)]
    if not rows:
        return None
    k = r.choices(rows, [k.weight for k in rows])[0]
    return {"kind": k.name, "args": k.args(r, step)}


def bidirectional_inner(r: random.Random, t: Tensor, units: int | None = None) -> dict:
    kind = r.choice(("LSTM", "GRU", "SimpleRNN"))
    return {"kind": kind, "args": RNN_ARGS[kind](r, t, units)}


@dataclass(frozen=True)
class Kind:
    """One layer class the generator draws: its name in both layers modules, which tensors it accepts, how
    its arguments are drawn and how often it is drawn; ``inner`` draws a wrapped layer (wrappers)."""
    name: str
    accepts: Callable[[Tensor], bool]
    args: Callable[[random.Random, Tensor], dict] = lambda r, t: {}
    weight: float = 1.0
    inner: Callable[[random.Random, Tensor], dict | None] | None = None


RNN_ARGS = {k: rnn_args(k) for k in ("SimpleRNN", "LSTM", "GRU")}

# One row per single-input layer class. Adding a layer to glassnet means adding its row here.
KINDS: list[Kind] = [
    Kind("Dense", floats(min_rank=2), lambda r, t: dict(units=r.choice(UNITS), activation=act(r),
                                                         use_bias=coin(r, 0.85)), 3.0),
    Kind("Activation", floats(), lambda r, t: dict(activation=r.choice(ACTIVATIONS[2:])), 0.7),
    Kind("Dropout", floats(), lambda r, t: dict(rate=r.choice((0.0, 0.0, 0.0, 0.3))), 0.4),
    Kind("Flatten", floats(min_rank=3), weight=0.7),
    Kind("Reshape", lambda t: t.is_float and None not in t.shape and math.prod(t.shape) <= 512, reshape_args, 0.5),
    Kind("Permute", lambda t: t.is_float and t.rank >= 3, permute_args, 0.5),
    Kind("Lambda", floats(), lambda r, t: dict(function=r.choice(sorted(LAMBDAS)),
                                                **({"output_shape": list(t.shape)} if coin(r) else {})), 0.2),
    Kind("Conv1D", floats(rank=3), conv_args(1), 1.2),
    Kind("Conv2D", floats(rank=4), conv_args(2), 1.5),
    Kind("Conv3D", floats(rank=5), conv_args(3), 0.8),
    Kind("DepthwiseConv1D", floats(rank=3), conv_args(1, "depthwise"), 0.5),
    Kind("DepthwiseConv2D", floats(rank=4), conv_args(2, "depthwise"), 0.6),
    Kind("SeparableConv1D", floats(rank=3), conv_args(1, "separable"), 0.5),
    Kind("SeparableConv2D", floats(rank=4), conv_args(2, "separable"), 0.6),
    Kind("MaxPooling1D", floats(rank=3), pool_args(1, False), 0.6),
    Kind("MaxPooling2D", floats(rank=4), pool_args(2, False), 0.8),
    Kind("MaxPooling3D", floats(rank=5), pool_args(3, False), 0.5),
    Kind("AveragePooling1D", floats(rank=3), pool_args(1, True), 0.6),
    Kind("AveragePooling2D", floats(rank=4), pool_args(2, True), 0.8),
    Kind("AveragePooling3D", floats(rank=5), pool_args(3, True), 0.5),
    Kind("GlobalMaxPooling1D", floats(rank=3), global_pool_args, 0.5),
    Kind("GlobalMaxPooling2D", floats(rank=4), global_pool_args, 0.5),
    Kind("GlobalMaxPooling3D", floats(rank=5), global_pool_args, 0.4),
    Kind("GlobalAveragePooling1D", floats(rank=3), global_pool_args, 0.8),
    Kind("GlobalAveragePooling2D", floats(rank=4), global_pool_args, 0.5),
    Kind("GlobalAveragePooling3D", floats(rank=5), global_pool_args, 0.4),
    Kind("BatchNormalization", floats(min_rank=2), batchnorm_args, 0.8),
    Kind("LayerNormalization", floats(min_rank=2), layernorm_args, 0.8),
    Kind("Embedding", lambda t: t.dtype.startswith("int") and t.vocab is not None,
         lambda r, t: dict(input_dim=t.vocab + r.choice((0, 2)), output_dim=r.choice((2, 3, 4)),
                           mask_zero=coin(r, 0.7)), 5.0),
    Kind("Masking", lambda t: t.is_input and t.pad is not None, lambda r, t: dict(mask_value=t.pad), 5.0),
    Kind("SimpleRNN", floats(rank=3), RNN_ARGS["SimpleRNN"], 1.0),
    Kind("LSTM", floats(rank=3), RNN_ARGS["LSTM"], 1.5),
    Kind("GRU", floats(rank=3), RNN_ARGS["GRU"], 1.5),
    Kind("Bidirectional", floats(rank=3), lambda r, t: dict(merge_mode=r.choice(("concat", "sum", "mul", "ave", None))),
         1.2, inner=bidirectional_inner),
    Kind("TimeDistributed", floats(min_rank=3), weight=1.0, inner=td_inner),
    Kind("ReLU", floats(), lambda r, t: dict(max_value=r.choice((None, 1.5)), negative_slope=r.choice((0.0, 0.1)),
                                             threshold=r.choice((0.0, 0.2))), 0.3),
    Kind("ELU", floats(), lambda r, t: dict(alpha=r.choice((1.0, 0.5))), 0.3),
    Kind("LeakyReLU", floats(), lambda r, t: dict(negative_slope=r.choice((0.3, 0.05))), 0.3),
    Kind("PReLU", floats(min_rank=2), weight=0.3),
    Kind("Softmax", floats(min_rank=2), lambda r, t: dict(axis=-1), 0.3),
    Kind("Identity", floats(), weight=0.2),
    Kind("UnitNormalization", floats(min_rank=2), weight=0.3),
    Kind("RMSNormalization", floats(min_rank=2), weight=0.3),
    Kind("RepeatVector", floats(rank=2), lambda r, t: dict(n=r.choice((2, 3))), 0.3),
    Kind("UpSampling1D", floats(rank=3), lambda r, t: dict(size=r.choice((2, 3))), 0.3),
    Kind("ZeroPadding1D", floats(rank=3), lambda r, t: dict(padding=r.choice((1, (0, 2)))), 0.3),
]

# layers TimeDistributed may wrap
TD_INNER = {"Dense", "Activation", "Dropout", "Flatten", "Conv1D", "Conv2D", "MaxPooling1D", "MaxPooling2D",
            "AveragePooling1D", "AveragePooling2D", "GlobalAveragePooling1D", "GlobalMaxPooling2D",
            "LayerNormalization", "BatchNormalization", "DepthwiseConv1D", "SeparableConv1D"}


@dataclass(frozen=True)
class Merge:
    """A layer over a list of tensors: its name, how many inputs, and "same" (equal shapes) or "concat"."""
    name: str
    min_inputs: int
    max_inputs: int
    rule: str = "same"
    weight: float = 1.0


MERGES: list[Merge] = [
    Merge("Add", 2, 3), Merge("Subtract", 2, 2), Merge("Multiply", 2, 3), Merge("Average", 2, 3),
    Merge("Maximum", 2, 3), Merge("Minimum", 2, 3), Merge("Concatenate", 2, 3, "concat", 2.0),
]

# public names of glassnet.layers that are not drawn, and why
NOT_GENERATED = {
    "Layer": "the base class",
    "Input": "every spec starts from Input tensors",
    "InputLayer": "made by Input",
    "registry": "a module, not a layer",
    "SimpleRNNCell": "cells run inside SimpleRNN/LSTM/GRU; glassnet has no RNN(cell) layer to hold one",
    "LSTMCell": "cells run inside SimpleRNN/LSTM/GRU; glassnet has no RNN(cell) layer to hold one",
    "GRUCell": "cells run inside SimpleRNN/LSTM/GRU; glassnet has no RNN(cell) layer to hold one",
}
# layers tested one by one against Keras (tests/cases.py, tests/test_layers_breadth*.py, tests/test_attention.py,
# tests/test_applications.py, tests/test_preprocessing_in_models.py) that random models do not draw yet: those
# with shape constraints the generator does not model (transposed convolutions, cropping, 3-D layers, adaptive
# pooling, attention's several inputs, ConvLSTM's rank-4+ sequences, RNN/StackedRNNCells's cell argument,
# GroupNormalization's groups), randomness in training (noise and dropout variants, StochasticDepth), state
# from adapt (Normalization), and layers of other frameworks (TorchModuleWrapper)
NOT_GENERATED.update({name: "tested layer by layer against Keras; not drawn in random models yet" for name in (
    "ActivityRegularization", "AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D",
    "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D", "AdaptiveMaxPooling3D", "AdditiveAttention", "AlphaDropout",
    "Attention", "CenterCrop", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "ConvLSTM1D", "ConvLSTM2D",
    "ConvLSTM3D", "Cropping1D", "Cropping2D", "Cropping3D", "Dot", "EinsumDense", "GaussianDropout",
    "GaussianNoise", "GroupNormalization", "GroupedQueryAttention", "LayerScale", "MultiHeadAttention",
    "Normalization", "RNN", "Rescaling", "Resizing", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
    "SpectralNormalization", "StackedRNNCells", "StochasticDepth", "UpSampling2D", "UpSampling3D",
    "ZeroPadding2D", "ZeroPadding3D")})
for _name in _preprocessing.__all__:  # random at training and identity at inference, or state from adapt
    NOT_GENERATED.setdefault(_name, "a preprocessing or augmentation layer, tested against Keras in "
                                    "tests/test_augmentation_*.py and tests/test_preprocessing_*.py")
NOT_GENERATED["ReversibleEmbedding"] = "called forward it is an Embedding (drawn); its reverse call needs a keyword"
NOT_GENERATED["TorchModuleWrapper"] = "runs a torch module; Keras's twin would run different code"


# ---------------------------------------------------------------------------------------------------------
# building a spec with either framework

def make_layer(entry: dict, L, Input, Model, Sequential):
    """One layer (or nested model) of a spec, made with the layers module ``L``."""
    kind = entry["kind"]
    if kind == "Model":
        model = build(entry["spec"], L, Input, Model, Sequential)
        if entry.get("trainable") is False:
            model.trainable = False
        return model
    args = dict(entry.get("args") or {})
    if kind == "Lambda":
        args["function"] = LAMBDAS[args["function"]]
        if args.get("output_shape") is not None:
            args["output_shape"] = tuple(args["output_shape"])
    if "backward" in entry:
        args["backward_layer"] = make_layer(entry["backward"], L, Input, Model, Sequential)
    if "inner" in entry:
        return getattr(L, kind)(make_layer(entry["inner"], L, Input, Model, Sequential), **args)
    return getattr(L, kind)(**args)


def build(spec: dict, L, Input, Model, Sequential):
    """The model a spec describes, made with ``L`` (a layers module), ``Input``, ``Model`` and ``Sequential``
    of one framework. Layers are created in the spec's creation order, then called in its call order."""
    inputs = [Input(tuple(i["shape"]), dtype=i["dtype"]) for i in spec["inputs"]]
    made = {e["id"]: make_layer(e, L, Input, Model, Sequential) for e in spec["layers"]}
    if spec["type"] == "sequential":
        return Sequential([inputs[0]] + [made[i] for i in spec["chain"]])
    tensors: dict[int, Any] = dict(enumerate(inputs))
    for call in spec["calls"]:
        x = tensors[call["in"]] if isinstance(call["in"], int) else [tensors[i] for i in call["in"]]
        kw = {k: [tensors[i] for i in ids] for k, ids in (call.get("kw") or {}).items()}
        out = made[call["layer"]](x, **kw)
        for i, o in zip(call["out"], out if isinstance(out, (list, tuple)) else [out]):
            tensors[i] = o
    outs = [tensors[i] for i in spec["outputs"]]
    return Model(inputs[0] if len(inputs) == 1 else inputs, outs[0] if len(outs) == 1 else outs)


def walk_entries(spec: dict):
    """Every layer entry of a spec, nested models' and wrapped layers' included."""
    for e in spec["layers"]:
        yield from _walk_entry(e)


def _walk_entry(e: dict):
    yield e
    for key in ("inner", "backward"):
        if key in e:
            yield from _walk_entry(e[key])
    if e["kind"] == "Model":
        yield from walk_entries(e["spec"])


# ---------------------------------------------------------------------------------------------------------
# drawing a spec

MAX_ELEMENTS = 1024  # per sample, for any tensor: keeps every model fast


def _input_domain(r: random.Random, dtype_ok: bool = True) -> dict:
    """One model input: a float vector, sequence, image or volume, or a sequence of int tokens."""
    dom = r.choices(("vec", "seq", "tok", "img", "vol"), (0.15, 0.3, 0.2 if dtype_ok else 0, 0.2, 0.15))[0]
    var = lambda p: None if coin(r, p) else 0  # noqa: E731  (None marks a variable dimension)
    if dom == "vec":
        return {"shape": [r.choice((3, 4, 6))], "dtype": "float32", "pad": None}
    if dom == "seq":
        t = var(0.2)
        return {"shape": [r.choice((3, 4, 5, 6)) if t is not None else None, r.choice((2, 3, 4))],
                "dtype": "float32", "pad": r.choice((None, 0.0, 0.0, 0.0, 1.0))}  # run._perturbed keeps 0 and 1
    if dom == "tok":
        t = var(0.2)
        return {"shape": [r.choice((4, 5, 6)) if t is not None else None], "dtype": "int32",
                "vocab": r.choice((6, 9))}
    if dom == "img":
        if coin(r, 0.1):
            return {"shape": [None, None, r.choice((1, 2, 3))], "dtype": "float32", "pad": None}
        return {"shape": [r.randint(4, 8), r.randint(4, 8), r.choice((1, 2, 3))], "dtype": "float32", "pad": None}
    return {"shape": [r.randint(3, 5), r.randint(3, 5), r.randint(3, 5), r.choice((1, 2))], "dtype": "float32",
            "pad": None}


class _Drawer:
    """Grows one (possibly nested) spec, trying every call on Keras symbolic tensors."""

    def __init__(self, r: random.Random, keras, depth: int, counter: list[int]):
        self.r, self.keras, self.depth, self.counter = r, keras, depth, counter
        self.tensors: list[Tensor] = []
        self.entries: list[dict] = []
        self.calls: list[dict] = []
        self.trial: dict[int, Any] = {}       # layer id -> Keras layer of the trial build
        self.first_in: dict[int, tuple] = {}  # layer id -> (shape, dtype) of its first call (for sharing)
        self.chain: list[int] = []

    # -- bookkeeping --------------------------------------------------------------------------------
    def _new_id(self) -> int:
        self.counter[0] += 1
        return self.counter[0]

    def add_inputs(self, inputs: list[dict]) -> None:
        for spec_in in inputs:
            kt = self.keras.Input(tuple(spec_in["shape"]), dtype=spec_in["dtype"])
            self.tensors.append(Tensor(len(self.tensors), tuple(spec_in["shape"]), spec_in["dtype"], kt=kt,
                                       is_input=True, vocab=spec_in.get("vocab"), pad=spec_in.get("pad")))

    def _make(self, entry: dict):
        k = self.keras
        return make_layer(entry, k.layers, k.Input, k.Model, k.Sequential)

    def _call(self, entry: dict | None, operands: list[Tensor], kw: dict | None = None, layer_id: int | None = None,
              single: bool = False) -> list[Tensor] | None:
        """Try the call on Keras symbolic tensors; record it and return the new tensors, or None if refused."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                layer = self.trial[layer_id] if layer_id is not None else self._make(entry)
                x = operands[0].kt if len(operands) == 1 and not (entry or {}).get("list_input") else \
                    [o.kt for o in operands]
                kwargs = {name: [self.tensors[i].kt for i in ids] for name, ids in (kw or {}).items()}
                out = layer(x, **kwargs)
        except Exception:  # noqa: BLE001  (Keras refuses the call: draw another)
            return None
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        if single and len(outs) != 1:
            return None
        for o in outs:
            shape = tuple(o.shape[1:])
            if any(d == 0 for d in shape) or math.prod(d or 8 for d in shape) > MAX_ELEMENTS:
                return None
            if not str(o.dtype).startswith("float"):
                return None
        new = []
        for o in outs:
            t = Tensor(len(self.tensors), tuple(o.shape[1:]), str(o.dtype), kt=o,
                       masked=getattr(o, "_keras_mask", None) is not None)
            self.tensors.append(t)
            new.append(t)
        for o in operands:
            o.uses += 1
        for ids in (kw or {}).values():
            for i in ids:
                self.tensors[i].uses += 1
        if layer_id is None:
            layer_id = entry["id"]
            self.entries.append(entry)
            self.trial[layer_id] = layer
            if len(operands) == 1 and not kw:
                self.first_in[layer_id] = (operands[0].shape, operands[0].dtype)
        self.calls.append({"layer": layer_id, "in": operands[0].id if len(operands) == 1 and not
                           (entry or {}).get("list_input") else [o.id for o in operands],
                           **({"kw": kw} if kw else {}), "out": [t.id for t in new],
                           **({"masked_in": True} if any(o.masked for o in operands) else {})})
        self.chain.append(layer_id)
        return new

    def _operand(self, pred: Callable[[Tensor], bool] = lambda t: True) -> Tensor | None:
        pool = [t for t in self.tensors if pred(t)]
        if not pool:
            return None
        return self.r.choices(pool, [4.0 if t.uses == 0 else 1.0 for t in pool])[0]

    # -- actions ------------------------------------------------------------------------------------
    def plain(self, t: Tensor, single: bool = False) -> bool:
        r = self.r
        rows = [k for k in KINDS if k.accepts(t)]
        if not rows:
            return False
        k = r.choices(rows, [k.weight for k in rows])[0]
        entry: dict[str, Any] = {"id": self._new_id(), "kind": k.name, "args": k.args(r, t)}
        if coin(r, 0.06):  # a frozen layer: its weights are non-trainable (order of weights, training)
            entry["args"]["trainable"] = False
        if k.inner is not None:
            inner = k.inner(r, t)
            if inner is None:
                return False
            entry["inner"] = inner
            if k.name == "Bidirectional" and coin(r, 0.25):
                entry["backward"] = {"kind": inner["kind"], "args": {
                    **inner["args"], "go_backwards": not inner["args"].get("go_backwards", False),
                    "activation": r.choice(RNN_ACTIVATIONS)}}
            if single and k.name == "Bidirectional" and (entry["args"]["merge_mode"] is None
                                                         or inner["args"].get("return_state")):
                return False
        if single and entry["args"].get("return_state"):
            return False
        return self._call(entry, [t], single=single) is not None

    def merge(self) -> bool:
        r = self.r
        m = r.choices(MERGES, [m.weight for m in MERGES])[0]
        floats_ = [t for t in self.tensors if t.is_float]
        groups: dict[tuple, list[Tensor]] = {}
        axis = -1
        if m.rule == "concat" and coin(r, 0.2):
            axis = 1
        for t in floats_:
            if m.rule == "same":
                key = t.shape
            else:
                if len(t.shape) < abs(axis):
                    continue
                key = tuple(d for i, d in enumerate(t.shape) if i != (len(t.shape) + axis if axis < 0 else axis - 1)) \
                    + (len(t.shape),)
            groups.setdefault(key, []).append(t)
        pools = [g for g in groups.values() if len(g) >= 2] or ([g for g in groups.values()] if coin(r, 0.15) else [])
        if not pools:
            return False
        pool = r.choice(pools)
        n = r.randint(m.min_inputs, m.max_inputs)
        operands = [r.choice(pool) for _ in range(n)] if len(pool) < n or coin(r, 0.1) else r.sample(pool, n)
        args = {"axis": axis} if m.rule == "concat" and axis != -1 else {}
        entry = {"id": self._new_id(), "kind": m.name, "args": args, "list_input": True}
        new = self._call(entry, operands)
        return new is not None

    def shared(self) -> bool:
        pairs = [(lid, t) for lid, (shape, dtype) in self.first_in.items() for t in self.tensors
                 if t.shape == shape and t.dtype == dtype]
        if not pairs:
            return False
        lid, t = self.r.choice(pairs)
        return self._call(None, [t], layer_id=lid) is not None

    def rnn_with_state(self) -> bool:
        r = self.r
        x = self._operand(floats(rank=3))
        vecs = [t for t in self.tensors if t.is_float and t.rank == 2 and t.shape[0] is not None and t.shape[0] <= 6]
        if x is None or not vecs:
            return False
        units = r.choice(vecs).shape[0]
        same = [t for t in vecs if t.shape[0] == units]
        kind = r.choice(("SimpleRNN", "LSTM", "GRU", "Bidirectional"))
        entry: dict[str, Any] = {"id": self._new_id(), "kind": kind}
        if kind == "Bidirectional":
            inner = bidirectional_inner(r, x, units)
            entry["args"] = {"merge_mode": r.choice(("concat", "sum", "ave", None))}
            entry["inner"] = inner
            n = 2 * (2 if inner["kind"] == "LSTM" else 1)
        else:
            entry["args"] = RNN_ARGS[kind](r, x, units)
            n = 2 if kind == "LSTM" else 1
        states = [r.choice(same).id for _ in range(n)]
        return self._call(entry, [x], kw={"initial_state": states}) is not None

    def nested(self, t: Tensor, single: bool = False) -> bool:
        if self.depth >= 2:
            return False
        operands = [t]
        if not single and coin(self.r, 0.2):
            other = self._operand(lambda u: u.id != t.id)
            if other is not None:
                operands.append(other)
        sub = draw_spec(self.r, self.keras, [{"shape": list(o.shape), "dtype": o.dtype,
                                              **({"vocab": o.vocab} if o.vocab else {})} for o in operands],
                        self.depth + 1, self.counter, sequential=len(operands) == 1 and coin(self.r, 0.4))
        if sub is None:
            return False
        entry = {"id": self._new_id(), "kind": "Model", "spec": sub, "list_input": len(operands) > 1}
        if coin(self.r, 0.1):
            entry["trainable"] = False
        return self._call(entry, operands, single=single) is not None

    # -- the whole graph ----------------------------------------------------------------------------
    def grow_functional(self, steps: int) -> None:
        r = self.r
        for t in list(self.tensors):  # every input is read at least once
            for _ in range(40):
                if (self.nested(t) if coin(r, 0.1) else self.plain(t)):
                    break
        for _ in range(steps):
            for _ in range(30):
                action = r.choices(("plain", "merge", "shared", "nested", "state"), (0.62, 0.15, 0.08, 0.07, 0.08))[0]
                if action == "plain":
                    t = self._operand(lambda u: u.is_float or u.vocab is not None)
                    ok = t is not None and self.plain(t)
                elif action == "merge":
                    ok = self.merge()
                elif action == "shared":
                    ok = self.shared()
                elif action == "nested":
                    t = self._operand(lambda u: u.is_float or u.vocab is not None)
                    ok = t is not None and self.nested(t)
                else:
                    ok = self.rnn_with_state()
                if ok:
                    break

    def grow_chain(self, steps: int) -> bool:
        for _ in range(steps):
            t = self.tensors[-1]
            for _ in range(30):
                if self.nested(t, single=True) if coin(self.r, 0.07) else self.plain(t, single=True):
                    break
            else:
                return bool(self.calls)
        return bool(self.calls)


def draw_spec(r: random.Random, keras, inputs: list[dict], depth: int, counter: list[int],
              sequential: bool) -> dict | None:
    """A (nested, when depth > 0) spec over ``inputs``; None when nothing valid could be drawn."""
    d = _Drawer(r, keras, depth, counter)
    d.add_inputs(inputs)
    if sequential:
        if not d.grow_chain(r.randint(1, 4 if depth else 6)) or not d.tensors[-1].is_float:
            return None
        entries = list(d.entries)
        if coin(r, 0.4):
            r.shuffle(entries)
        for e in entries:
            e.pop("list_input", None)
        return {"type": "sequential", "inputs": inputs, "layers": entries, "chain": d.chain}
    d.grow_functional(r.randint(1, 4) if depth else r.randint(2, 9))
    outputs = [t.id for t in d.tensors if t.uses == 0 and not t.is_input and t.is_float]
    if not outputs or any(t.uses == 0 for t in d.tensors if t.is_input):
        return None
    if len(outputs) > 1 and coin(r, 0.1):  # a dangling branch: layers (even inputs) the outputs do not need
        outputs.remove(r.choice(outputs))
    entries = list(d.entries)
    if coin(r, 0.5):
        r.shuffle(entries)
    for e in entries:
        e.pop("list_input", None)
    return {"type": "functional", "inputs": inputs, "layers": entries, "calls": d.calls, "outputs": outputs}


def generate(seed: int) -> dict:
    """A random valid model spec (valid: Keras builds it), the same for the same seed."""
    import keras  # (the generator asks Keras what is valid; build() itself needs neither framework)
    r = random.Random(seed)
    for _ in range(100):
        sequential = coin(r, 0.15)
        n_inputs = 1 if sequential else r.choices((1, 2, 3), (0.6, 0.3, 0.1))[0]
        first = _input_domain(r)
        inputs = [first]
        for _ in range(n_inputs - 1):
            inputs.append(dict(first) if coin(r, 0.5) else _input_domain(r))
        spec = draw_spec(r, keras, inputs, 0, [0], sequential)
        if spec is not None:
            spec["seed"] = seed
            spec["run_dim"] = r.choice((4, 5, 6))
            return spec
    raise RuntimeError(f"no valid spec drawn for seed {seed}")


# ---------------------------------------------------------------------------------------------------------
# describing a spec

def _args_text(args: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in args.items())


def _entry_text(e: dict) -> str:
    if e["kind"] == "Model":
        return f"Model[{describe(e['spec'], nested=True)}]"
    inner = f"{_entry_text(e['inner'])}" if "inner" in e else ""
    back = f", backward_layer={_entry_text(e['backward'])}" if "backward" in e else ""
    args = _args_text(e.get("args") or {})
    return f"{e['kind']}({', '.join(x for x in (inner, args) if x)}{back})"


def describe(spec: dict, nested: bool = False) -> str:
    """The spec as short text: inputs, each call (in call order), outputs; creation order if it differs."""
    ins = ", ".join(f"in{i}{tuple(s['shape'])}{'' if s['dtype'] == 'float32' else ':' + s['dtype']}"
                    + (f" pad={s['pad']}" if s.get("pad") is not None else "") for i, s in enumerate(spec["inputs"]))
    by_id = {e["id"]: e for e in spec["layers"]}
    if spec["type"] == "sequential":
        body = " -> ".join(_entry_text(by_id[i]) for i in spec["chain"])
        text = f"Sequential({ins}: {body})"
    else:
        lines = []
        for c in spec["calls"]:
            kw = "".join(f", {k}={['t%d' % i for i in v]}" for k, v in (c.get("kw") or {}).items())
            src = f"t{c['in']}" if isinstance(c["in"], int) else "[" + ", ".join(f"t{i}" for i in c["in"]) + "]"
            lines.append(f"{', '.join('t%d' % i for i in c['out'])} = L{c['layer']}:{_entry_text(by_id[c['layer']])}"
                         f"({src}{kw})")
        text = f"Functional({ins}; " + "; ".join(lines) + f"; outputs {['t%d' % i for i in spec['outputs']]})"
        called = []
        for c in spec["calls"]:
            if c["layer"] not in called:
                called.append(c["layer"])
        created = [e["id"] for e in spec["layers"]]
        if created != called:
            text += f" created in order {['L%d' % i for i in created]}"
    return text


def features(spec: dict) -> set[str]:
    """What a spec exercises beyond its layer kinds (the fixed-seed test checks its seeds cover them all)."""
    out = {"sequential model" if spec["type"] == "sequential" else "functional model"}
    if len(spec["inputs"]) > 1:
        out.add("several inputs")
    for s in spec["inputs"]:
        if s.get("pad") is not None:
            out.add(f"padded float input (pad value {s['pad']})")
        if None in s["shape"]:
            out.add("variable dimension")
    by_id = {e["id"]: e for e in spec["layers"]}
    if spec["type"] == "functional":
        if len(spec["outputs"]) > 1:
            out.add("several outputs")
        called = list(dict.fromkeys(c["layer"] for c in spec["calls"]))
        if [e["id"] for e in spec["layers"]] != called:
            out.add("layers created in another order than called")
        counts: dict[int, int] = {}
        produced = set()
        for c in spec["calls"]:
            counts[c["layer"]] = counts.get(c["layer"], 0) + 1
            produced.update(c["out"])
            e = by_id[c["layer"]]
            if c.get("kw", {}).get("initial_state"):
                out.add("initial_state")
            if c.get("masked_in"):
                out.add(f"masked input to {'a merge' if not isinstance(c['in'], int) and e['kind'] != 'Model' else e['kind']}")
            if e["kind"] == "Model" and not isinstance(c["in"], int):
                out.add("nested model on a list of tensors")
        if any(n > 1 for n in counts.values()):
            out.add("shared layer")
        used = {i for c in spec["calls"] for i in ([c["in"]] if isinstance(c["in"], int) else c["in"])}
        if any(t not in used and t not in spec["outputs"] for t in produced):
            out.add("dangling branch")
    for e in spec["layers"]:
        if (e.get("args") or {}).get("trainable") is False or e.get("trainable") is False:
            out.add("frozen layer")
        if e["kind"] == "Model":
            out.add(f"nested {e['spec']['type']} model")
            out |= {f"nested: {f}" if not f.startswith("nested") else f for f in features(e["spec"])}
        if e["kind"] == "Embedding" and (e.get("args") or {}).get("mask_zero"):
            out.add("Embedding(mask_zero=True)")
        if e["kind"] == "Bidirectional" and "backward" in e:
            out.add("Bidirectional with backward_layer")
    return out
