"""Every layer class under its Keras class name and Keras's aliases (``MaxPool2D``, ``Convolution2D`` …).

Classes register themselves (``Layer.__init_subclass__`` for glassnet's own public classes; models
register ``Sequential`` and ``Functional``), and files resolve class names only here. ``serialize``
and ``deserialize`` turn a layer into Keras's ``{"module", "class_name", "config", "build_config"}``
entry and back; loading never runs code from a config (a Lambda's bytecode needs ``safe_mode=False``).
"""
from __future__ import annotations

import contextvars
import inspect
from contextlib import contextmanager
from typing import Any

from ..dims import keras_shape
from ..errors import ConfigError

__all__ = ["register", "get", "known", "serialize", "deserialize", "loading_context", "LoadingContext"]

_CLASSES: dict[str, type] = {}


def register(cls: type, name: str | None = None, aliases: tuple[str, ...] = ()) -> type:
    """Make ``cls`` resolvable by ``name`` (default: its class name) and by each alias."""
    for key in (name or cls.__name__, *aliases):
        other = _CLASSES.get(key)
        if other is not None and other is not cls and other.__qualname__ != cls.__qualname__:
            raise ConfigError(f"Two layer classes claim the Keras name {key!r}: {other.__module__}.{other.__qualname__} "
                              f"and {cls.__module__}.{cls.__qualname__}.")
        _CLASSES[key] = cls
    return cls


def get(name: str) -> type | None:
    return _CLASSES.get(name)


def known() -> list[str]:
    """Every registered Keras name, aliases included, sorted."""
    return sorted(_CLASSES)


class LoadingContext:
    """What ``from_config`` may consult while a file is read: the caller's ``custom_objects`` and
    whether code stored in the file may run (``safe_mode``)."""

    def __init__(self, custom_objects: dict | None = None, safe_mode: bool = True):
        self.custom_objects = dict(custom_objects or {})
        self.safe_mode = bool(safe_mode)


_CONTEXT: contextvars.ContextVar = contextvars.ContextVar("glassnet_loading", default=LoadingContext())


def current() -> LoadingContext:
    return _CONTEXT.get()


@contextmanager
def loading_context(custom_objects: dict | None = None, safe_mode: bool = True):
    token = _CONTEXT.set(LoadingContext(custom_objects, safe_mode))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def serialize(layer) -> dict[str, Any]:
    """A layer as Keras writes it in a config (``build_config`` once the layer is built)."""
    out = {"module": getattr(layer, "keras_module", "keras.layers"), "class_name": getattr(layer, "keras_class_name", None)
           or type(layer).__name__, "config": layer.get_config(), "registered_name": getattr(layer, "keras_registered_name", None)}
    build = layer.get_build_config() if hasattr(layer, "get_build_config") else None
    if build is not None:
        out["build_config"] = build
    return out


# Keras config keys that change nothing glassnet computes
_IGNORED = {"quantization_config", "optional", "ragged", "sparse", "lora_rank", "lora_alpha", "input_length",
            "implementation", "use_cudnn", "registered_name", "shared_object_id"}


_TRANSPOSED = {"Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"}
_SEPARABLE = {"SeparableConv1D", "SeparableConv2D"}
# Keras 2 (tf-keras) keys Keras 3 dropped, per class. A key Keras 2 wrote but never read in that layer is
# left out; a key Keras 3 no longer has is read when it holds the one value Keras 3 computes with (None: any
# value), and refused otherwise, so a Keras 2 file never loads into something that computes differently.
_KERAS2_KEYS: dict[str, dict[str, object]] = {
    **{c: {"groups": 1} for c in _TRANSPOSED | {"DepthwiseConv1D", "DepthwiseConv2D"}},
    # Keras 2's separable convolutions inherit Conv's kernel_* arguments and use depthwise_*/pointwise_* ones
    **{c: {"groups": 1, "kernel_initializer": None} for c in _SEPARABLE},
    # the shapes Keras 2 built the layer for (glassnet builds it from the graph); Keras 3's softmax masking is
    # Keras 2's non-robust one
    "MultiHeadAttention": {"query_shape": None, "key_shape": None, "value_shape": None,
                           "softmax_robust_masking": False},
}


def _keras2_key(cls_name: str, key: str, value, config: dict) -> bool:
    """Whether ``key`` is a Keras 2 key of ``cls_name`` to leave out (refusing a value Keras 3 cannot compute)."""
    cls = _CLASSES.get(cls_name)
    known = _KERAS2_KEYS.get(cls.__name__ if cls is not None else cls_name, {})
    if key not in known:
        return False
    if known[key] is not None and value != known[key]:
        raise ConfigError(f"Layer '{config.get('name')}' ({cls_name}) has the Keras 2 setting {key}={value!r}, which "
                          f"Keras 3 and glassnet do not compute (only {key}={known[key]!r}).")
    return True


def clean_config(cls_name: str, config: dict, cls: type | None = None) -> dict:
    """A Keras layer config → glassnet constructor arguments. Keras 2 (tf-keras) configs are translated the way
    Keras 3's legacy loader translates them (``batch_input_shape``, a one-element ``axis`` list) and, beyond it,
    their keys Keras 3 dropped are read where their value changes nothing (``_KERAS2_KEYS``). A ``seed`` is
    kept for a class whose constructor takes one (``cls``), and dropped otherwise."""
    keeps_seed = cls is not None and "seed" in inspect.signature(cls.__init__).parameters
    cfg = {}
    for key, value in config.items():
        if key in _IGNORED or _keras2_key(cls_name, key, value, config) or (key == "seed" and not keeps_seed):
            continue
        if key.endswith(("_regularizer", "_constraint")) and value is None:
            continue  # Keras writes every one, most of them null; the layer's default is the same
        if key == "time_major":
            if value:
                raise ConfigError(f"Layer '{config.get('name')}' is time-major; only batch-major recurrent layers "
                                  "are supported.")
            continue
        cfg[key] = value
    if isinstance(cfg.get("name"), str) and "/" in cfg["name"]:
        # Keras 2 allowed "/" in names (MobileNetV3's "Conv/BatchNorm"); Keras 3's files use it as the path
        # separator, so it becomes "_" (a legacy .h5 file's weights are matched by layer order, not by name)
        cfg["name"] = cfg["name"].replace("/", "_")
    if "batch_input_shape" in cfg:  # Keras 2: the first layer of a Sequential carried the input shape
        bis = cfg.pop("batch_input_shape")
        if not isinstance(bis, (list, tuple)) or not bis:
            raise ConfigError(f"Layer '{config.get('name')}' has an invalid batch_input_shape {bis!r}.")
        cfg["input_shape"], cfg["batch_size"] = tuple(bis[1:]), bis[0]
    if isinstance(cfg.get("axis"), list) and len(cfg["axis"]) == 1 and cls_name != "LayerNormalization":
        cfg["axis"] = cfg["axis"][0]
    return cfg


def deserialize(spec: dict):
    """A layer (or model) from its config entry; classes come from ``custom_objects``, then the registry."""
    if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str):
        raise ConfigError(f"A layer entry must be a dict with a class_name. Received: {str(spec)[:200]}")
    cls_name = spec["class_name"]
    ctx = current()
    cls = ctx.custom_objects.get(cls_name) or ctx.custom_objects.get(str(spec.get("registered_name"))) \
        or _CLASSES.get(cls_name)
    if cls is None:
        raise ConfigError(f"Unknown layer class '{cls_name}'. glassnet knows: {', '.join(known())}.")
    config = spec.get("config")
    if not isinstance(config, dict):
        raise ConfigError(f"Layer '{spec.get('name', cls_name)}' ({cls_name}) has no config dict.")
    if getattr(cls, "config_is_graph", False):  # models read their own (layers, inbound nodes) config
        return cls.from_config(config, spec)
    cfg = clean_config(cls_name, config, cls)
    try:
        layer = cls.from_config(cfg)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise ConfigError(f"Layer '{config.get('name', cls_name)}' ({cls_name}) has an invalid config: "
                          f"{type(exc).__name__}: {exc}") from exc
    return layer


def build_config_shape(spec: dict):
    """The ``input_shape`` a config's ``build_config`` records, or None."""
    build = spec.get("build_config") if isinstance(spec, dict) else None
    shape = build.get("input_shape") if isinstance(build, dict) else None
    return keras_shape(tuple(shape)) if isinstance(shape, (list, tuple)) and shape and not isinstance(shape[0], list) else shape
