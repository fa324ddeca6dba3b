"""``clone_model`` and ``model_from_json`` (``keras.models``): a model's architecture again, with new weights."""
from __future__ import annotations

import json

from ..errors import ConfigError
from ..graph import SymbolicTensor
from ..layers import registry
from ..layers.input_layer import Input, InputLayer
from ..structure import map_structure
from .model import Model
from .sequential import Sequential

__all__ = ["clone_model", "model_from_json"]


def _clone_layer(layer):
    """Keras's default: the same class from the layer's config (new, freshly initialised weights)."""
    return type(layer).from_config(layer.get_config())


def _new_input(t: SymbolicTensor) -> SymbolicTensor:
    layer = t.layer
    return Input(tuple(layer.symbolic_shape[1:]), batch_size=layer.batch_size, dtype=layer.input_dtype,
                 name=layer.name)


def clone_model(model, input_tensors=None, clone_function=None, call_function=None, recursive=False, **kwargs):
    """A new model with ``model``'s architecture and newly initialised weights (Keras's ``clone_model``).

    Args:
        input_tensors: ``Input`` tensors for the clone (the originals' shapes by default).
        clone_function: ``layer -> new layer`` (default: the layer from its config).
        call_function: ``(layer, *args, **kwargs) -> outputs``, to change how a functional clone calls layers.
        recursive: also clone the layers of nested models with ``clone_function``.
    """
    if kwargs:
        raise ConfigError(f"clone_model() got unexpected arguments {sorted(kwargs)}.")
    clone = clone_function or _clone_layer

    def clone_layer(layer):
        if recursive and isinstance(layer, Model):
            return clone_model(layer, clone_function=clone_function, call_function=call_function, recursive=True)
        return clone(layer)
    if isinstance(model, Sequential):
        new = Sequential(name=model.name, trainable=model.trainable)
        if input_tensors is not None:
            new.add(input_tensors[0] if isinstance(input_tensors, (list, tuple)) else input_tensors)
        elif model.built:
            new.add(_new_input(model.inputs[0]))
        for layer in model.layers:
            new.add(clone_layer(layer))
        return new
    if not isinstance(model, Model):
        raise TypeError(f"clone_model expects a glassnet Model. Received: {model!r}")
    if getattr(model, "_subclassed", False):
        new = type(model).from_config(model.get_config())
        if model.built and model.inputs:
            new.build([tuple(t.shape) for t in model.inputs] if len(model.inputs) > 1 else tuple(model.inputs[0].shape))
        return new
    if input_tensors is None:
        new_inputs = [_new_input(t) for t in model.inputs]
    else:
        new_inputs = list(input_tensors) if isinstance(input_tensors, (list, tuple)) else [input_tensors]
        if len(new_inputs) != len(model.inputs):
            raise ValueError(f"clone_model: the model has {len(model.inputs)} inputs; input_tensors gives "
                             f"{len(new_inputs)}.")
    values = {id(t): n for t, n in zip(model.inputs, new_inputs)}
    clones: dict[int, object] = {}
    for node in model.graph_nodes():
        if isinstance(node.layer, InputLayer):
            continue
        layer = clones.setdefault(id(node.layer), clone_layer(node.layer))
        args = map_structure(lambda v: values[id(v)] if isinstance(v, SymbolicTensor) else v, node.args)
        kw = map_structure(lambda v: values[id(v)] if isinstance(v, SymbolicTensor) else v, node.kwargs)
        out = call_function(layer, *args, **kw) if call_function is not None else layer(*args, **kw)
        outs = out if node.multi_output else [out]
        for sym, value in zip(node.outputs, outs):
            values[id(sym)] = value
    it_in = iter(new_inputs)
    inputs = map_structure(lambda _: next(it_in), model._input_struct)
    outputs = map_structure(lambda t: values[id(t)], model._output_struct)
    return Model(inputs, outputs, name=model.name)


def model_from_json(json_string: str, custom_objects: dict | None = None):
    """A model (new weights) from ``model.to_json()``; classes from ``custom_objects``, then glassnet's registry."""
    try:
        config = json.loads(json_string)
    except json.JSONDecodeError as exc:
        raise ValueError(f"model_from_json needs the JSON of a model config ({exc}).") from exc
    with registry.loading_context(custom_objects):
        return registry.deserialize(config)
