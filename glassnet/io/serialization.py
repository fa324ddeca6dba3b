"""Model configs in Keras's schema: ``{"module", "class_name", "config", "build_config"}`` per layer,
``inbound_nodes`` with ``__keras_tensor__`` references for functional graphs."""
from __future__ import annotations

from typing import Any

from .. import layers as L
from ..dims import keras_shape
from ..errors import FileFormatError
from ..models.graph import Input, InputLayer, SymbolicTensor, flatten
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


def serialize_model(model) -> dict[str, Any]:
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
    if cfg.get("batch_shape") is None:
        raise FileFormatError(f"An InputLayer config has no batch_shape. Received: {str(config)[:200]}")
    return Input(batch_shape=cfg["batch_shape"], dtype=cfg.get("dtype"), name=cfg.get("name"))


def deserialize_layer(spec: dict, custom_objects: dict | None = None):
    if not isinstance(spec, dict) or "class_name" not in spec:
        raise FileFormatError(f"A layer entry must be a dict with a class_name. Received: {str(spec)[:200]}")
    cls_name = spec["class_name"]
    if cls_name in ("Sequential", "Functional", "Model"):
        return deserialize_model(spec, custom_objects)
    cls = (custom_objects or {}).get(cls_name) or LAYER_CLASSES.get(cls_name)
    if cls is None:
        raise FileFormatError(f"Unknown layer class '{cls_name}'. glassnet knows: {', '.join(sorted(LAYER_CLASSES))}.")
    config = dict(spec.get("config") or {})
    try:
        return cls.from_config(config)
    except (TypeError, ValueError) as exc:
        raise FileFormatError(f"Layer '{config.get('name', cls_name)}' ({cls_name}) has an invalid config: {exc}") from exc


def deserialize_model(spec: dict, custom_objects: dict | None = None):
    cls_name = spec.get("class_name")
    config = spec.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise FileFormatError("The model config has no list of layers.")
    if cls_name == "Sequential":
        model = Sequential(name=config.get("name"))
        for entry in config["layers"]:
            if entry.get("class_name") == "InputLayer":
                model.add(_input_from_config(entry["config"]))
            else:
                model.add(deserialize_layer(entry, custom_objects))
        return model
    if cls_name not in ("Functional", "Model"):
        raise FileFormatError(f"Unknown model class '{cls_name}'; expected Sequential or Functional.")
    created: dict[str, Any] = {}
    outputs: dict[str, list] = {}
    pending = list(config["layers"])
    for entry in pending:
        name = entry.get("name") or entry.get("config", {}).get("name")
        if entry.get("class_name") == "InputLayer":
            t = _input_from_config(entry["config"])
            created[name] = t.layer
            outputs[name] = [[t]]
        else:
            created[name] = deserialize_layer(entry, custom_objects)
            outputs[name] = []

    def decode(x):
        if isinstance(x, dict) and x.get("class_name") == "__keras_tensor__":
            layer_name, node_index, tensor_index = x["config"]["keras_history"]
            return outputs[layer_name][node_index][tensor_index]
        if isinstance(x, list):
            return [decode(v) for v in x]
        if isinstance(x, dict):
            return {k: decode(v) for k, v in x.items()}
        return x

    # replay nodes until every layer has made all of its calls (order-independent)
    todo = [(e.get("name") or e["config"]["name"], n) for e in pending if e.get("class_name") != "InputLayer"
            for n in e.get("inbound_nodes", [])]
    progress = True
    while todo and progress:
        progress, rest = False, []
        for name, node in todo:
            try:
                args, kwargs = decode(node.get("args", [])), decode(node.get("kwargs", {}))
            except (IndexError, KeyError):
                rest.append((name, node))
                continue
            out = created[name](*args, **kwargs)
            outputs[name].append(out if isinstance(out, list) else [out])
            progress = True
        todo = rest
    if todo:
        raise FileFormatError(f"The model graph cannot be rebuilt: layers {[n for n, _ in todo]} refer to missing inputs.")

    def pick(refs):
        refs = refs if refs and isinstance(refs[0], list) else [refs]
        try:
            return [outputs[n][i][j] for n, i, j in refs]
        except (KeyError, IndexError, ValueError) as exc:
            raise FileFormatError(f"The model's input_layers/output_layers refer to missing tensors: {refs}") from exc
    ins, outs = pick(config["input_layers"]), pick(config["output_layers"])
    return Model(ins[0] if len(ins) == 1 else ins, outs[0] if len(outs) == 1 else outs, name=config.get("name"))
