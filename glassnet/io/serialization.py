"""Model configs in Keras's schema: ``{"module", "class_name", "config", "build_config"}`` per layer,
``inbound_nodes`` with ``__keras_tensor__`` references for functional graphs."""
from __future__ import annotations

import warnings
from typing import Any

from .. import layers as L
from ..dims import keras_shape
from ..errors import FileFormatError
from ..models.graph import Input, InputLayer, SymbolicTensor
from ..models.model import Model, Sequential

__all__ = ["serialize_model", "deserialize_model", "serialize_layer", "deserialize_layer", "LAYER_CLASSES"]

LAYER_CLASSES: dict[str, type] = {name: getattr(L, name) for name in L.__all__ if isinstance(getattr(L, name), type)}
LAYER_CLASSES.pop("Layer", None)


def serialize_layer(layer) -> dict[str, Any]:
    if isinstance(layer, Model):
        return serialize_model(layer)
    out = {"module": "keras.layers", "class_name": type(layer).__name__, "config": layer.get_config(),
           "registered_name": None}
    if layer._build_shape is not None and not isinstance(layer, InputLayer):
        out["build_config"] = {"input_shape": keras_shape(layer._build_shape)}
    return out


def _tensor_ref(t: SymbolicTensor) -> dict:
    node_index = t.node.layer._inbound_nodes.index(t.node)
    return {"class_name": "__keras_tensor__",
            "config": {"shape": list(t.shape), "dtype": t.dtype, "keras_history": [t.node.layer.name, node_index, t.index]}}


def _encode(x):
    if isinstance(x, SymbolicTensor):
        return _tensor_ref(x)
    if isinstance(x, (list, tuple)):
        return [_encode(v) for v in x]
    if isinstance(x, dict):
        return {k: _encode(v) for k, v in x.items()}
    return x


def serialize_model(model, keras: bool = False, legacy: bool = False) -> dict[str, Any]:
    """Keras's config schema (``legacy``: the ``.h5`` flavour, layer dicts without ``module``)."""
    out = _serialize_model(model)
    if legacy:
        out = {"class_name": out["class_name"], "config": out["config"]}
        for entry in out["config"]["layers"]:
            entry.pop("module", None)
            entry.pop("registered_name", None)
    if keras or legacy:
        for entry in out["config"]["layers"]:
            if entry.get("class_name") == "Lambda":
                raise ValueError(f"Lambda layer '{entry['config'].get('name')}' cannot be written to a Keras file: "
                                 "glassnet does not serialise Python functions. Replace it with a layer, or save "
                                 "the native .glassnet format and rebuild the Lambda in code.")
    return out


def _serialize_model(model) -> dict[str, Any]:
    if isinstance(model, Sequential):
        entries = []
        if model._input_tensor is not None:
            entries.append({"module": "keras.layers", "class_name": "InputLayer",
                            "config": model._input_tensor.layer.get_config(), "registered_name": None})
        entries += [serialize_layer(l) for l in model.layers]
        return {"module": "keras", "class_name": "Sequential", "registered_name": None,
                "config": {"name": model.name, "trainable": model.trainable, "dtype": "float32", "layers": entries},
                "build_config": {"input_shape": list(model.input_shape) if model.built else None}}
    nodes = model._nodes_all()
    entries = []
    for layer in model.layers:
        entry = serialize_layer(layer)
        entry["name"] = layer.name
        entry["inbound_nodes"] = [{"args": _encode(list(n.args)), "kwargs": _encode(n.kwargs)}
                                  for n in layer._inbound_nodes if n in nodes and not isinstance(layer, InputLayer)]
        entries.append(entry)

    def ref(t):
        return [t.node.layer.name, t.node.layer._inbound_nodes.index(t.node), t.index]
    ins = [ref(t) for t in model._inputs]
    outs = [ref(t) for t in model._outputs]
    return {"module": "keras.src.models.functional", "class_name": "Functional", "registered_name": "Functional",
            "config": {"name": model.name, "trainable": model.trainable, "layers": entries,
                       "input_layers": ins[0] if len(ins) == 1 else ins,
                       "output_layers": outs[0] if len(outs) == 1 else outs}}


def _input_from_config(config: dict) -> SymbolicTensor:
    cfg = dict(config)
    if "batch_input_shape" in cfg:
        cfg["batch_shape"] = cfg.pop("batch_input_shape")
    shape = cfg.get("batch_shape")
    if not isinstance(shape, (list, tuple)) or not shape or any(
            d is not None and (isinstance(d, bool) or not isinstance(d, int) or d < 0 or d > 2**31) for d in shape):
        raise FileFormatError(f"An InputLayer config needs a batch_shape of non-negative ints or nulls. "
                              f"Received: {str(config)[:200]}")
    dtype = cfg.get("dtype")
    if isinstance(dtype, dict):
        dtype = (dtype.get("config") or {}).get("name")
    return Input(batch_shape=list(shape), dtype=dtype, name=cfg.get("name"))


# Keras config keys that change nothing glassnet computes (or only training-time penalties)
_IGNORED = {"quantization_config", "seed", "optional", "ragged", "sparse", "lora_rank", "lora_alpha", "input_length",
            "implementation", "use_cudnn", "activity_regularizer", "registered_name", "shared_object_id"}


def _clean(cls_name: str, config: dict, ctx: dict) -> dict:
    """A Keras layer config → glassnet constructor arguments (Keras 2-era keys tolerated where clear)."""
    cfg = {}
    for key, value in config.items():
        if key in _IGNORED:
            continue
        if key.endswith(("_regularizer", "_constraint")):
            if value is not None:
                warnings.warn(f"{ctx['source']}: layer '{config.get('name')}' has a {key}; glassnet ignores it "
                              "(it only adds a training penalty or projection).", stacklevel=4)
            continue
        if key == "time_major":
            if value:
                raise FileFormatError(f"{ctx['source']}: layer '{config.get('name')}' is time-major; only batch-major "
                                      "recurrent layers are supported.")
            continue
        cfg[key] = value
    if "batch_input_shape" in cfg:  # Keras 2: the first layer of a Sequential carried the input shape
        bis = cfg.pop("batch_input_shape")
        cfg["input_shape"], cfg["batch_size"] = tuple(bis[1:]), bis[0]
    if cls_name in ("Bidirectional", "TimeDistributed"):
        for key in ("layer", "backward_layer"):
            if isinstance(cfg.get(key), dict):
                cfg[key] = deserialize_layer(cfg[key], ctx["custom_objects"], ctx["safe_mode"], ctx["source"])
    if cls_name == "Lambda":
        cfg = _lambda_config(cfg, ctx)
    if isinstance(cfg.get("axis"), list) and len(cfg["axis"]) == 1 and cls_name != "LayerNormalization":
        cfg["axis"] = cfg["axis"][0]
    return cfg


def _lambda_config(cfg: dict, ctx: dict) -> dict:
    fn = cfg.get("function")
    name = cfg.get("name")
    if isinstance(fn, dict) and fn.get("class_name") == "__lambda__":
        if ctx["safe_mode"]:
            raise FileFormatError(
                f"{ctx['source']}: Lambda layer '{name}' holds Python bytecode. Loading it would run code from the "
                "file, so it is refused. Pass safe_mode=False only for a file you trust.")
        cfg["function"] = _load_bytecode(fn.get("config") or {}, ctx)
    elif isinstance(fn, dict) or isinstance(fn, str):
        fname = fn.get("config") if isinstance(fn, dict) else fn
        found = (ctx["custom_objects"] or {}).get(fname)
        if not callable(found):
            raise FileFormatError(f"{ctx['source']}: Lambda layer '{name}' uses the function {fname!r}; pass it in "
                                  f"custom_objects={{{fname!r}: function}} to load the model.")
        cfg["function"] = found
    else:
        raise FileFormatError(f"{ctx['source']}: Lambda layer '{name}' has no function.")
    if isinstance(cfg.get("output_shape"), dict):
        raise FileFormatError(f"{ctx['source']}: Lambda layer '{name}' has a callable output_shape; it cannot be loaded.")
    if cfg.get("mask") is not None:
        raise FileFormatError(f"{ctx['source']}: Lambda layer '{name}' has a stored mask function; it cannot be loaded.")
    cfg.pop("mask", None)
    return cfg


def _load_bytecode(config: dict, ctx: dict):
    """Keras's lambda serialisation (marshal of a code object) — only with safe_mode=False."""
    import base64
    import marshal
    import types
    try:
        code = marshal.loads(base64.b64decode(config["code"]))
        return types.FunctionType(code, {"__builtins__": __builtins__})
    except Exception as exc:
        raise FileFormatError(f"{ctx['source']}: a Lambda's bytecode cannot be loaded in this Python ({exc}).") from exc


def deserialize_layer(spec: dict, custom_objects: dict | None = None, safe_mode: bool = True, source: str = "config"):
    if not isinstance(spec, dict) or "class_name" not in spec:
        raise FileFormatError(f"{source}: a layer entry must be a dict with a class_name. Received: {str(spec)[:200]}")
    cls_name = spec["class_name"]
    if cls_name in ("Sequential", "Functional", "Model"):
        return deserialize_model(spec, custom_objects, safe_mode, source)
    cls = (custom_objects or {}).get(cls_name) or LAYER_CLASSES.get(cls_name)
    if cls is None:
        raise FileFormatError(f"{source}: unknown layer class '{cls_name}'. glassnet knows: {', '.join(sorted(LAYER_CLASSES))}.")
    config = spec.get("config")
    if not isinstance(config, dict):
        raise FileFormatError(f"{source}: layer '{spec.get('name', cls_name)}' has no config dict.")
    ctx = {"custom_objects": custom_objects, "safe_mode": safe_mode, "source": source}
    cfg = _clean(cls_name, config, ctx)
    try:
        return cls.from_config(cfg)
    except FileFormatError:
        raise
    except Exception as exc:
        raise FileFormatError(f"{source}: layer '{config.get('name', cls_name)}' ({cls_name}) has an invalid config: "
                              f"{type(exc).__name__}: {exc}") from exc


_OP_MODULES = ("keras.src.ops", "keras.ops")


def _is_op(entry: dict) -> bool:
    """Keras records mask computations (NotEqual, Any) as op nodes; glassnet routes masks itself."""
    return str(entry.get("module", "")).startswith(_OP_MODULES) or entry.get("class_name") in ("NotEqual", "Any")


def _node_from_keras2(node) -> dict:
    """Keras 2 inbound node ``[[name, node_index, tensor_index, kwargs], …]`` → ``{"args", "kwargs"}``."""
    refs = [{"class_name": "__keras_tensor__", "config": {"keras_history": list(item[:3])}} for item in node]
    kwargs = node[0][3] if node and len(node[0]) > 3 and isinstance(node[0][3], dict) else {}
    return {"args": [refs[0] if len(refs) == 1 else refs], "kwargs": kwargs}


def deserialize_model(spec: dict, custom_objects: dict | None = None, safe_mode: bool = True, source: str = "config"):
    cls_name = spec.get("class_name")
    config = spec.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise FileFormatError(f"{source}: the model config has no list of layers.")
    if len(config["layers"]) > 100_000:
        raise FileFormatError(f"{source}: the model config lists {len(config['layers'])} layers; refusing such a size.")
    if cls_name == "Sequential":
        model = Sequential(name=config.get("name"))
        for entry in config["layers"]:
            if not isinstance(entry, dict):
                raise FileFormatError(f"{source}: a layer entry is not a dict: {str(entry)[:100]}")
            try:
                if entry.get("class_name") == "InputLayer":
                    model.add(_input_from_config(entry.get("config") or {}))
                else:
                    model.add(deserialize_layer(entry, custom_objects, safe_mode, source))
            except FileFormatError:
                raise
            except (ValueError, TypeError) as exc:
                raise FileFormatError(f"{source}: the model cannot be rebuilt: {exc}") from exc
        if not model.built:
            build = (spec.get("build_config") or {}).get("input_shape") or config.get("build_input_shape")
            if isinstance(build, list) and build:
                model.build(tuple(build))
        return model
    if cls_name not in ("Functional", "Model"):
        raise FileFormatError(f"{source}: unknown model class '{cls_name}'; expected Sequential or Functional.")
    created: dict[str, Any] = {}
    outputs: dict[str, list] = {}
    ops: set[str] = set()
    pending = []
    for entry in config["layers"]:
        if not isinstance(entry, dict):
            raise FileFormatError(f"{source}: a layer entry is not a dict: {str(entry)[:100]}")
        name = entry.get("name") or (entry.get("config") or {}).get("name")
        if not isinstance(name, str):
            raise FileFormatError(f"{source}: a layer entry has no name.")
        if _is_op(entry):
            ops.add(name)
            continue
        pending.append(entry)
        try:
            if entry.get("class_name") == "InputLayer":
                t = _input_from_config(entry.get("config") or {})
                created[name] = t.layer
                outputs[name] = [[t]]
            else:
                created[name] = deserialize_layer(entry, custom_objects, safe_mode, source)
                outputs[name] = []
        except FileFormatError:
            raise
        except (ValueError, TypeError) as exc:
            raise FileFormatError(f"{source}: layer '{name}' cannot be built: {exc}") from exc

    def decode(x):
        if isinstance(x, dict) and x.get("class_name") == "__keras_tensor__":
            layer_name, node_index, tensor_index = x["config"]["keras_history"]
            if layer_name in ops:
                return None
            return outputs[layer_name][node_index][tensor_index]
        if isinstance(x, list):
            return [decode(v) for v in x]
        if isinstance(x, dict):
            return {k: decode(v) for k, v in x.items()}
        return x

    # replay nodes until every layer has made all of its calls (order-independent)
    todo = []
    for e in pending:
        if e.get("class_name") == "InputLayer":
            continue
        for n in e.get("inbound_nodes", []) or []:
            todo.append((e.get("name") or e["config"]["name"], n if isinstance(n, dict) else _node_from_keras2(n)))
    progress = True
    while todo and progress:
        progress, rest = False, []
        for name, node in todo:
            try:
                args, kwargs = decode(node.get("args", [])), decode(node.get("kwargs", {}))
            except (IndexError, KeyError, TypeError, ValueError):
                rest.append((name, node))
                continue
            kwargs = {k: v for k, v in kwargs.items() if k != "training" and not (k == "mask" and v is None)}
            try:
                out = created[name](*args, **kwargs)
            except FileFormatError:
                raise
            except (ValueError, TypeError, IndexError) as exc:
                raise FileFormatError(f"{source}: layer '{name}' cannot be called on its inputs: {exc}") from exc
            outputs[name].append(out if isinstance(out, list) else [out])
            progress = True
        todo = rest
    if todo:
        raise FileFormatError(f"{source}: the model graph cannot be rebuilt: layers {[n for n, _ in todo][:5]} "
                              "refer to missing inputs.")

    def pick(refs):
        refs = refs if refs and isinstance(refs[0], list) else [refs]
        try:
            return [outputs[n][i][j] for n, i, j in refs]
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise FileFormatError(f"{source}: the model's input_layers/output_layers refer to missing tensors: "
                                  f"{str(refs)[:200]}") from exc
    ins, outs = pick(config.get("input_layers")), pick(config.get("output_layers"))
    try:
        return Model(ins[0] if len(ins) == 1 else ins, outs[0] if len(outs) == 1 else outs, name=config.get("name"))
    except (ValueError, TypeError) as exc:
        raise FileFormatError(f"{source}: the model cannot be rebuilt: {exc}") from exc
