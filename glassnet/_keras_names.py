"""Names Keras 3 has and glassnet does not (yet): the AttributeError a package gives for them.

A Keras user types ``layers.Rescaling`` or ``gn.ops.matmul`` from habit. Instead of Python's bare
"module has no attribute", the package answers that Keras has the name, that glassnet does not (yet), and
what to use instead where there is something. A package opts in with one line at its end::

    __getattr__ = _keras_names.module_getattr("layers", __name__)

The tables list Keras 3.15's public names per Keras module; a name glassnet later defines simply resolves
and its entry is never consulted. ``tests/test_repl.py`` checks every public ``keras.layers`` name either
resolves in ``glassnet.layers`` or gives this message.
"""
from __future__ import annotations

from collections.abc import Callable

__all__ = ["KERAS_NAMES", "missing", "module_getattr"]

_OTHER_FRAMEWORK = "It wraps another framework's model; glassnet runs PyTorch only"
_FUNCTIONAL = "Use the layer: layers.{}()([a, b])"

_LAYERS: dict[str, str | None] = {
    # other frameworks and Keras internals
    "FlaxLayer": _OTHER_FRAMEWORK, "JaxLayer": _OTHER_FRAMEWORK, "TFSMLayer": _OTHER_FRAMEWORK,
    "Wrapper": "subclass layers.Layer (see layers.TimeDistributed and layers.Bidirectional)",
    "InputSpec": "Inputs are checked against gn.Input's shape and each layer's compute_output_shape",
    # Keras's functional forms of the merge layers
    "add": _FUNCTIONAL.format("Add"), "average": _FUNCTIONAL.format("Average"),
    "concatenate": "Use the layer: layers.Concatenate(axis=-1)([a, b])", "dot": "Use the layer: layers.Dot(axes)([a, b])",
    "maximum": _FUNCTIONAL.format("Maximum"), "minimum": _FUNCTIONAL.format("Minimum"),
    "multiply": _FUNCTIONAL.format("Multiply"), "subtract": _FUNCTIONAL.format("Subtract"),
    "serialize": "layer.get_config() (and type(layer).from_config(config)); model.save() for a whole model",
    "deserialize": "type(layer).from_config(config); gn.load_model() for a whole model",
}

_TOP: dict[str, str | None] = {
    "ops": "glassnet runs on PyTorch, so use torch functions (torch.matmul, torch.nn.functional.relu, torch.where, "
           "…) in layers.Lambda or in a Layer's call()",
    "backend": "The backend is always PyTorch",
    "device": "torch.device, and model.to(device)",
    "tree": "torch.utils._pytree (private to torch) or plain Python on lists and dicts",
    "applications": "torchvision.models or timm for pretrained networks (separate installs)",
    "datasets": "torchvision.datasets (a separate install); the tour's data ships inside Python packages",
    "saving": "model.save(path) and gn.load_model(path) (.glassnet, .keras, .h5)",
    "export": "model.export_onnx(path)",
    "visualization": "model.summary() and gn.analyze(model)",
    "preprocessing": "Preprocess the data before the model with torch or torchvision.transforms.v2",
    "dtype_policies": "gn.config.set_floatx(...)", "DTypePolicy": "gn.config.set_floatx(...)",
    "FloatDTypePolicy": "gn.config.set_floatx(...)",
    "distribution": "Data-parallel training: fit runs on torch.distributed when the script is started by torchrun",
    "Layer": "gn.layers.Layer", "KerasTensor": "gn.SymbolicTensor", "InputSpec": "gn.Input",
    "Variable": "torch.nn.Parameter, made by layer.add_weight(...)",
    "Initializer": "gn.initializers.Initializer", "Metric": "gn.metrics.Metric",
    "Loss": "a function (y_true, y_pred) -> per-sample loss, passed to compile(loss=...)",
    "Optimizer": "gn.optimizers (Adam, AdamW, SGD, RMSprop, Adagrad), or any torch.optim optimizer class",
    "Regularizer": None, "quantizers": None, "Quantizer": None,
    "distillation": None, "wrappers": None, "legacy": None, "remat": None, "RematScope": None, "name_scope": None,
    "StatelessScope": None, "SymbolicScope": None, "Function": None, "Operation": None, "src": None,
}

_UTILS: dict[str, str | None] = {
    "Progbar": None, "split_dataset": "torch.utils.data.random_split", "clear_session": None,
}

# Keras module → {name: what to use instead, or None}
KERAS_NAMES: dict[str, dict[str, str | None]] = {"": _TOP, "layers": _LAYERS, "utils": _UTILS}


def missing(keras_module: str, name: str, module_name: str | None = None) -> AttributeError:
    """The AttributeError for ``name`` asked of the glassnet module mirroring ``keras.<keras_module>``."""
    where = module_name or ("glassnet" + (f".{keras_module}" if keras_module else ""))
    table = KERAS_NAMES.get(keras_module, {})
    if name not in table:
        return AttributeError(f"module {where!r} has no attribute {name!r}")
    keras_path = "keras" + (f".{keras_module}" if keras_module else "") + f".{name}"
    text = f"module {where!r} has no attribute {name!r}: Keras has {keras_path}, glassnet does not (yet)."
    instead = table[name]
    if instead:  # a sentence of its own, or what to use
        text += f" {instead}." if instead[0].isupper() or instead.startswith("glassnet ") else f" Use instead: {instead}."
    return AttributeError(text)


def module_getattr(keras_module: str, module_name: str) -> Callable[[str], object]:
    """A module-level ``__getattr__`` (PEP 562) that answers with ``missing``."""
    def __getattr__(name: str):
        raise missing(keras_module, name, module_name)
    return __getattr__
