"""Model configs in Keras's schema: each layer as ``{"module", "class_name", "config", "build_config"}``
(``layers.registry``), and for a functional graph its ``inbound_nodes`` with ``__keras_tensor__``
references plus ``input_layers`` / ``output_layers``. Keras 2 configs (nested-list inbound nodes,
``batch_input_shape``) are read too. Errors are ``ConfigError``; the file loaders add the file's name.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

from ..errors import ConfigError
from ..graph import SymbolicTensor
from ..layers import registry
from ..layers.base import to_snake_case
from ..layers.input_layer import Input, InputLayer
from ..structure import flatten
from .keras_ops import MASK_OPERATIONS, OP_MODULE, OPERATIONS, KerasOperation

__all__ = ["functional_config", "functional_from_config", "layer_paths", "MAX_LAYERS"]

MAX_LAYERS = 100_000  # a config listing more layers than this is refused before anything is built


def layer_paths(layers) -> dict:
    """``layers/<snake_class>[_k]`` for each layer in order, as Keras's files name them."""
    counts: Counter = Counter()
    out = {}
    for layer in layers:
        if isinstance(layer, KerasOperation):  # Keras's files number layers only, not operations
            continue
        base = to_snake_case(getattr(layer, "keras_class_name", None) or type(layer).__name__)
        name = base if counts[base] == 0 else f"{base}_{counts[base]}"
        counts[base] += 1
        out[f"layers/{name}"] = layer
    return out


def _is_functional(layer) -> bool:
    return getattr(layer, "keras_class_name", None) == "Functional"


def functional_config(model) -> dict[str, Any]:
    """Keras 3's functional config. A node is numbered among the layer's nodes that belong to this model (a
    layer shared with another model keeps its own numbering here); in ``input_layers`` and ``output_layers``
    a nested functional model's nodes count from 1, as Keras numbers them (Functional.get_config)."""
    nodes = set(model.graph_nodes()) | {t.node for t in model.inputs}  # an input no output uses is still one

    def index(node) -> int:
        own = [n for n in node.layer._inbound_nodes if n in nodes]
        return own.index(node)

    def history(t: SymbolicTensor, top_level: bool = False) -> list:
        offset = 1 if top_level and _is_functional(t.node.layer) else 0
        return [t.node.layer.name, index(t.node) + offset, t.index]

    def encode(x):
        if isinstance(x, SymbolicTensor):
            return {"class_name": "__keras_tensor__",
                    "config": {"shape": list(x.shape), "dtype": x.dtype, "keras_history": history(x)}}
        if isinstance(x, (list, tuple)):
            return [encode(v) for v in x]
        if isinstance(x, dict):
            return {k: encode(v) for k, v in x.items()}
        return x

    entries = []
    for layer in model.layers:
        entry = registry.serialize(layer)
        entry["name"] = layer.name
        entry["inbound_nodes"] = [] if isinstance(layer, InputLayer) else [
            {"args": encode(layer.keras_node_args(n.args[0]) if isinstance(layer, KerasOperation) else list(n.args)),
             "kwargs": encode(n.kwargs)} for n in layer._inbound_nodes if n in nodes]
        entries.append(entry)
    ins = [history(t, top_level=True) for t in model._inputs]  # the graph's own inputs (strings included)
    outs = [history(t, top_level=True) for t in model.outputs]
    return {"name": model.name, "trainable": model.trainable, "layers": entries,
            "input_layers": ins[0] if len(ins) == 1 else ins,
            "output_layers": outs[0] if len(outs) == 1 else outs}


def input_from_config(config: dict) -> SymbolicTensor:
    cfg = dict(config)
    if "batch_input_shape" in cfg:
        cfg["batch_shape"] = cfg.pop("batch_input_shape")
    shape = cfg.get("batch_shape")
    if not isinstance(shape, (list, tuple)) or not shape or any(
            d is not None and (isinstance(d, bool) or not isinstance(d, int) or d < 0 or d > 2**31) for d in shape):
        raise ConfigError(f"An InputLayer config needs a batch_shape of non-negative ints or nulls. "
                          f"Received: {str(config)[:200]}")
    dtype = cfg.get("dtype")
    if isinstance(dtype, dict):
        dtype = (dtype.get("config") or {}).get("name")
    return Input(batch_shape=list(shape), dtype=dtype, name=cfg.get("name"))


_OP_MODULES = ("keras.src.ops", "keras.ops")


def _is_tensor_ref(x) -> bool:
    return isinstance(x, dict) and x.get("class_name") == "__keras_tensor__"


def _references(x) -> list[str]:
    """Names of the layers whose outputs a (decoded-JSON) structure refers to."""
    if _is_tensor_ref(x):
        history = (x.get("config") or {}).get("keras_history")
        return [history[0]] if isinstance(history, list) and history and isinstance(history[0], str) else []
    if isinstance(x, list):
        return [n for v in x for n in _references(v)]
    if isinstance(x, dict):
        return [n for v in x.values() for n in _references(v)]
    return []


def _mask_computations(entries: list, config: dict, names: set) -> set[str]:
    """The operation nodes that compute masks: Keras records a mask computation (``NotEqual``, ``Any``,
    ``LogicalOr`` …) as operation nodes whose outputs reach layers only as ``mask`` / ``*_mask`` arguments;
    glassnet routes masks itself, so those are not rebuilt. An operation any of whose outputs is data — an
    argument, a model output, or an input of an operation that computes data — is rebuilt."""
    ops = {_name(e) for e in entries if _is_operation(e) or _is_mask_op(e)}
    outs = config.get("output_layers") or []
    outs = outs if outs and isinstance(outs[0], list) else [outs]
    data = {o[0] for o in outs if isinstance(o, list) and o and isinstance(o[0], str)}
    feeds: dict[str, set] = {}  # operation → the layers and operations it reads
    for e in entries:
        for node in e.get("inbound_nodes") or []:
            node = node if isinstance(node, dict) else _node_from_keras2(node, names)
            kwargs = node.get("kwargs") or {}
            if _name(e) in ops:
                feeds.setdefault(_name(e), set()).update(_references([node.get("args"), kwargs]))
            else:
                data.update(_references([node.get("args"), {k: v for k, v in kwargs.items()
                                                             if k != "mask" and not k.endswith("_mask")}]))
    todo = list(ops & data)
    while todo:
        for parent in feeds.get(todo.pop(), ()):
            if parent not in data:
                data.add(parent)
                todo.append(parent)
    return ops - data


def _name(entry: dict):
    return entry.get("name") or (entry.get("config") or {}).get("name")


def _is_mask_op(entry: dict) -> bool:
    """A boolean operation of Keras's mask computations (in a legacy ``.h5`` config, which has no module)."""
    return entry.get("class_name") in MASK_OPERATIONS and str(entry.get("module", "keras.src.ops")).startswith(
        _OP_MODULES)


def _is_operation(entry: dict) -> bool:
    """An operation node (``x + 3.0`` in Keras). A ``.keras`` config names its module; Keras's legacy ``.h5``
    config does not, and there an operation is told from the merge layer of the same name (``Add``) by its
    call: an operation takes its arguments one by one, a merge layer takes one list."""
    if str(entry.get("module", "")).startswith(_OP_MODULES):
        return True
    if "module" in entry or entry.get("class_name") not in OPERATIONS:
        return False
    nodes = entry.get("inbound_nodes") or []
    return bool(nodes) and all(isinstance(n, dict) and not (len(n.get("args") or []) == 1 and isinstance(
        n["args"][0], list)) for n in nodes)


def _operation_from(name: str, entry: dict) -> KerasOperation:
    """A KerasOperation from an operation entry: its constants from its (single kind of) call."""
    nodes = entry.get("inbound_nodes") or []
    templates = [[None if _is_tensor_ref(a) else a for a in (n.get("args") or [])] for n in nodes
                 if isinstance(n, dict)]
    if not templates or any(t != templates[0] for t in templates) or any(
            (n.get("kwargs") or {}) for n in nodes if isinstance(n, dict)):
        raise ConfigError(f"The Keras operation '{name}' ({entry.get('class_name')}) has calls glassnet cannot "
                          f"rebuild: {str(nodes)[:200]}")
    return KerasOperation(entry.get("class_name"), templates[0], name=entry.get("layer_name", name))


def _keras2_refs(x, names: set):
    """Keras 2 writes a tensor among a call's keyword arguments as ``[layer, node_index, tensor_index]``: those
    (naming a layer of the model) become Keras 3 tensor references; other values pass through."""
    if isinstance(x, list) and len(x) == 3 and isinstance(x[0], str) and x[0] in names \
            and all(isinstance(i, int) and not isinstance(i, bool) for i in x[1:]):
        return {"class_name": "__keras_tensor__", "config": {"keras_history": list(x)}}
    if isinstance(x, list):
        return [_keras2_refs(v, names) for v in x]
    if isinstance(x, dict):
        return {k: _keras2_refs(v, names) for k, v in x.items()}
    return x


def _node_from_keras2(node, names: set) -> dict:
    """Keras 2 inbound node ``[[name, node_index, tensor_index, kwargs], …]`` → ``{"args", "kwargs"}``."""
    if not isinstance(node, list) or not all(isinstance(item, list) and len(item) >= 3 for item in node):
        raise ConfigError(f"An inbound node is neither a Keras 3 dict nor a Keras 2 list: {str(node)[:200]}")
    refs = [{"class_name": "__keras_tensor__", "config": {"keras_history": list(item[:3])}} for item in node]
    kwargs = node[0][3] if node and len(node[0]) > 3 and isinstance(node[0][3], dict) else {}
    return {"args": [refs[0] if len(refs) == 1 else refs], "kwargs": _keras2_refs(kwargs, names)}


# Keras 2 records arithmetic on tensors as TFOpLambda layers calling a TensorFlow function (``x + 3.0`` →
# ``__operators__.add``); the element-wise ones are the Keras 3 operations of the same meaning
_TF_FUNCTIONS = {"__operators__.add": "Add", "math.add": "Add", "math.subtract": "Subtract",
                 "math.multiply": "Multiply", "math.truediv": "TrueDivide", "math.divide": "TrueDivide",
                 "math.maximum": "Maximum", "math.minimum": "Minimum", "math.pow": "Power",
                 "math.negative": "Negative", "math.abs": "Absolute", "math.square": "Square", "math.sqrt": "Sqrt"}


def _from_tf_op_lambda(name: str, entry: dict, names: set) -> dict:
    """A Keras 2 TFOpLambda entry → the Keras 3 operation entry it stands for. Its node is
    ``[first, node_index, tensor_index, {"y": second, "name": …}]``; a constant first argument is written
    ``["_CONSTANT_VALUE", -1, value, …]``. Its name (``tf.math.multiply``) has dots, which a torch submodule
    name cannot have, so the operation is named with underscores (Keras 3 has no name for it to keep)."""
    function = (entry.get("config") or {}).get("function")
    op = _TF_FUNCTIONS.get(function) if isinstance(function, str) else None
    if op is None:
        raise ConfigError(f"Layer '{name}' (TFOpLambda) calls the TensorFlow function {function!r}, which glassnet "
                          f"cannot rebuild; it knows {', '.join(sorted(_TF_FUNCTIONS))}.")
    nodes = []
    for node in entry.get("inbound_nodes") or []:
        if not (isinstance(node, list) and len(node) == 4 and isinstance(node[0], str) and isinstance(node[3], dict)):
            raise ConfigError(f"Layer '{name}' (TFOpLambda) has an inbound node glassnet cannot read: {str(node)[:200]}")
        kwargs = {k: v for k, v in node[3].items() if k != "name"}
        args = [node[2] if node[0] == "_CONSTANT_VALUE" else _keras2_refs(list(node[:3]), names)]
        if OPERATIONS[op][0] == 2 and "y" in kwargs:
            args.append(_keras2_refs(kwargs.pop("y"), names))
        if kwargs or len(args) != OPERATIONS[op][0]:
            raise ConfigError(f"Layer '{name}' (TFOpLambda, {function}) is called with arguments glassnet cannot "
                              f"rebuild: {str(node)[:200]}")
        nodes.append({"args": args, "kwargs": {}})
    return {"module": OP_MODULE, "class_name": op, "name": name, "layer_name": name.replace(".", "_"),
            "inbound_nodes": nodes}


def check_layer_list(config) -> list:
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ConfigError("The model config has no list of layers.")
    if len(config["layers"]) > MAX_LAYERS:
        raise ConfigError(f"The model config lists {len(config['layers'])} layers; refusing such a size.")
    for entry in config["layers"]:
        if not isinstance(entry, dict):
            raise ConfigError(f"A layer entry is not a dict: {str(entry)[:100]}")
    return config["layers"]


def functional_from_config(cls, config: dict):
    entries = check_layer_list(config)
    created: dict[str, Any] = {}
    outputs: dict[str, dict[int, list]] = {}  # layer name → {node index (its k-th call): output tensors}
    ops: set[str] = set()
    pending = []
    names = {_name(e) for e in entries}
    entries = [_from_tf_op_lambda(_name(e), e, names) if e.get("class_name") == "TFOpLambda" else e for e in entries]
    masks = _mask_computations(entries, config, names)
    for entry in entries:
        name = _name(entry)
        if not isinstance(name, str):
            raise ConfigError("A layer entry has no name.")
        if name in masks:
            ops.add(name)
            continue
        pending.append((name, entry))
        try:
            if _is_operation(entry):
                created[name] = _operation_from(name, entry)
                outputs[name] = {}
            elif entry.get("class_name") == "InputLayer":
                t = input_from_config(entry.get("config") or {})
                created[name] = t.layer
                outputs[name] = {0: [t]}
            else:
                created[name] = registry.deserialize(entry)
                outputs[name] = {}
        except ConfigError:
            raise
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"Layer '{name}' cannot be built: {exc}") from exc

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

    # replay nodes until every layer has made all of its calls (order-independent); a call's outputs keep the
    # number of its node, which is what keras_history [layer, node_index, tensor_index] refers to, whichever
    # call becomes ready first
    todo = []
    for name, e in pending:
        if e.get("class_name") == "InputLayer":
            continue
        for k, n in enumerate(e.get("inbound_nodes", []) or []):
            todo.append((name, k, n if isinstance(n, dict) else _node_from_keras2(n, names)))
    progress = True
    while todo and progress:
        progress, rest = False, []
        for name, k, node in todo:
            try:
                args, kwargs = decode(node.get("args", [])), decode(node.get("kwargs", {}))
            except (IndexError, KeyError, TypeError, ValueError):
                rest.append((name, k, node))
                continue
            # a recorded mask that decodes to nothing (None, or Nones for Keras's op references and for inputs
            # that had no mask when recorded) leaves the masks to run-time routing, as Keras's run does
            kwargs = {k: v for k, v in kwargs.items()
                      if k != "training" and not (k == "mask" and all(m is None for m in flatten(v)))}
            if isinstance(created[name], KerasOperation):  # called on its tensors; its constants it holds
                args = [[a for a in args if isinstance(a, SymbolicTensor)]]
            try:
                out = created[name](*args, **kwargs)
            except ConfigError:
                raise
            except (ValueError, TypeError, IndexError) as exc:
                raise ConfigError(f"Layer '{name}' cannot be called on its inputs: {exc}") from exc
            outputs[name][k] = out if isinstance(out, list) else [out]
            progress = True
        todo = rest
    if todo:
        raise ConfigError(f"The model graph cannot be rebuilt: layers {[n for n, _, _ in todo][:5]} refer to "
                          "missing inputs.")

    def pick(refs):
        refs = refs if refs and isinstance(refs[0], list) else [refs]
        picked = []
        try:
            for n, i, j in refs:
                i -= 1 if _is_functional(created[n]) else 0  # Keras numbers a nested Functional's nodes from 1 here
                if i < 0:
                    raise IndexError(i)
                picked.append(outputs[n][i][j])
            return picked
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise ConfigError(f"The model's input_layers/output_layers refer to missing tensors: "
                              f"{str(refs)[:200]}") from exc
    ins, outs = pick(config.get("input_layers")), pick(config.get("output_layers"))
    try:
        return cls(ins[0] if len(ins) == 1 else ins, outs[0] if len(outs) == 1 else outs, name=config.get("name"),
                   trainable=config.get("trainable", True))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"The model cannot be rebuilt: {exc}") from exc
