"""The string stage of a model with text inputs: torch has no string tensors, so the layer that reads a string
``Input(..., dtype="string")`` (TextVectorization, StringLookup, Hashing) runs in Python before the torch graph.

``model(texts)`` and ``model.run(texts)`` run that stage and then the graph. ``fit``/``evaluate``/``predict``
encode the strings once, up front (arrays) or batch by batch (iterables), and hand the trainer the encoded
tensors; while it works, the model reads each string input's encoded tensor in place of the strings (its
``inputs`` are then the string stage's outputs). Sequences padded to the longest text of all the data are cut
back, batch by batch, to the longest of the batch, as Keras pads them.
"""
from __future__ import annotations

from ..errors import ConfigError
from ..layers.preprocessing.encoding import is_string_data

__all__ = ["string_stage", "string_values", "encode_strings", "encode_validation", "EncodedBatches",
           "cut_padding"]


def string_stage(model) -> dict:
    """``{id(string input): node of the layer that reads it}`` (empty for a model without string inputs)."""
    if getattr(model, "_subclassed", True):
        return {}
    inputs = [t for t in model._inputs if t.dtype == "string"]
    if not inputs:
        return {}
    stage = {}
    nodes = model.graph_nodes()
    for t in inputs:
        users = [n for n in nodes if any(p is t for p in n.parents)]
        if len(users) != 1 or not users[0].simple or not getattr(users[0].layer, "takes_strings", False):
            names = ", ".join(f"{n.layer.name} ({type(n.layer).__name__})" for n in users) or "no layer"
            raise ConfigError(
                f"String input '{t.layer.name}' of model '{model.name}' must feed exactly one layer that reads "
                f"strings (TextVectorization, StringLookup or Hashing): torch has no string tensors, so that "
                f"layer runs before the torch graph. Received: it feeds {names}.")
        stage[id(t)] = users[0]
    return stage


def string_values(model, inputs) -> list:
    """The model's inputs as a flat list, a single list of strings kept as one input."""
    if len(model._inputs) == 1 and is_string_data(inputs) and not isinstance(inputs, dict):
        return [inputs]
    return model.flatten_inputs(inputs)


def encode_strings(model, x):
    """``x`` with every string input replaced by its string stage's output tensor (same structure); an
    iterable of batches is wrapped so that each batch is encoded when it is read."""
    stage = string_stage(model)
    if not stage or x is None:
        return x
    if not _is_arrays(model, x):
        return encoded_batches(model, x)
    flat = string_values(model, x)
    encoded = [stage[id(t)].layer.call_strings(v) if id(t) in stage else v for t, v in zip(model._inputs, flat)]
    if isinstance(x, dict):
        return dict(zip(model.input_names, encoded))
    return encoded[0] if len(encoded) == 1 else encoded


def _is_arrays(model, x) -> bool:
    if is_string_data(x) or isinstance(x, dict):
        return True
    return isinstance(x, (list, tuple)) and len(x) == len(model._inputs) and any(is_string_data(v) for v in x)


def encode_validation(model, data):
    """``validation_data`` as ``(x, y)`` or ``(x, y, w)`` with ``x`` encoded (an iterable: batch by batch)."""
    if data is None or not string_stage(model):
        return data
    if isinstance(data, tuple) and len(data) in (2, 3):
        return (encode_strings(model, data[0]), *data[1:])
    return encoded_batches(model, data)


def cut_padding(layer, encoded):
    """A batch of an all-data encoding, cut to what the layer gives for that batch alone (its padding)."""
    cut = getattr(layer, "cut_to_batch", None)
    return encoded if cut is None else cut(encoded)


class EncodedBatches:
    """An iterable of ``x`` or ``(x, y[, w])`` batches whose ``x`` is encoded as each batch is read; it can be
    read again when its source can (a DataLoader, a list), and is an iterator when its source is one."""

    def __init__(self, model, source):
        self.model, self.source = model, source

    def _encode(self, batch):
        if isinstance(batch, (tuple, list)) and 2 <= len(batch) <= 3 and not isinstance(batch[0], (str, bytes)):
            return (encode_strings(self.model, batch[0]), *batch[1:])
        return encode_strings(self.model, batch)

    def __iter__(self):
        return (self._encode(b) for b in self.source)

    def __len__(self):
        return len(self.source)


def encoded_batches(model, source):
    """``EncodedBatches`` for a source that can be read again; a generator for an iterator (it stays one)."""
    wrapped = EncodedBatches(model, source)
    return iter(wrapped) if iter(source) is source else wrapped
