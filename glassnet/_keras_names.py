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

_PREP = ("It is a preprocessing layer: preprocess the data before the model, e.g. with "
         "torchvision.transforms.v2.{} (a separate install)")
_LOOKUP = ("It is a text or category preprocessing layer: map values to integer ids before the "
           "model (a Python dict, or torch.bucketize for numeric bins), then use layers.Embedding")
_OTHER_FRAMEWORK = "It wraps another framework's model; glassnet runs PyTorch only"
_FUNCTIONAL = "Use the layer: layers.{}()([a, b])"

_LAYERS: dict[str, str | None] = {
    # preprocessing that has a direct replacement
    "Rescaling": "layers.Lambda(lambda x: x * scale + offset)",
    "Normalization": "Standardise the data with the training set's mean and std before the model, or "
                     "layers.Lambda(lambda x: (x - mean) / std)",
    "CenterCrop": "layers.Cropping2D(((top, bottom), (left, right))) for a fixed input size",
    "Resizing": "Resize the data before the model: torch.nn.functional.interpolate (channels first) or "
                "torchvision.transforms.v2.Resize",
    "CategoryEncoding": "torch.nn.functional.one_hot(ids, num_classes) on the data, or layers.Embedding",
    "Pipeline": "Chain the steps with torchvision.transforms.v2.Compose, or stack layers in a Sequential",
    "MelSpectrogram": "torchaudio.transforms.MelSpectrogram on the data (torchaudio is a separate install)",
    "STFTSpectrogram": "torch.stft on the data",
    # image augmentation: torchvision.transforms.v2 has each
    "AugMix": _PREP.format("AugMix"), "AutoContrast": _PREP.format("RandomAutocontrast"),
    "CutMix": _PREP.format("CutMix"), "MixUp": _PREP.format("MixUp"), "Equalization": _PREP.format("RandomEqualize"),
    "RandAugment": _PREP.format("RandAugment"), "RandomBrightness": _PREP.format("ColorJitter(brightness=...)"),
    "RandomColorDegeneration": _PREP.format("ColorJitter(saturation=...)"),
    "RandomColorJitter": _PREP.format("ColorJitter"), "RandomContrast": _PREP.format("ColorJitter(contrast=...)"),
    "RandomCrop": _PREP.format("RandomCrop"), "RandomElasticTransform": _PREP.format("ElasticTransform"),
    "RandomErasing": _PREP.format("RandomErasing"), "RandomFlip": _PREP.format("RandomHorizontalFlip and RandomVerticalFlip"),
    "RandomGaussianBlur": _PREP.format("GaussianBlur"), "RandomGrayscale": _PREP.format("RandomGrayscale"),
    "RandomHue": _PREP.format("ColorJitter(hue=...)"), "RandomInvert": _PREP.format("RandomInvert"),
    "RandomPerspective": _PREP.format("RandomPerspective"), "RandomPosterization": _PREP.format("RandomPosterize"),
    "RandomRotation": _PREP.format("RandomRotation"), "RandomSaturation": _PREP.format("ColorJitter(saturation=...)"),
    "RandomSharpness": _PREP.format("RandomAdjustSharpness"), "RandomShear": _PREP.format("RandomAffine(shear=...)"),
    "RandomTranslation": _PREP.format("RandomAffine(translate=...)"), "RandomZoom": _PREP.format("RandomAffine(scale=...)"),
    "Solarization": _PREP.format("RandomSolarize"),
    "ContrastLimitedAdaptiveHistogramEqualization": None, "MaxNumBoundingBoxes": None,
    # text and categories
    "Discretization": _LOOKUP, "Hashing": _LOOKUP, "HashedCrossing": _LOOKUP, "IntegerLookup": _LOOKUP,
    "StringLookup": _LOOKUP, "TextVectorization": _LOOKUP,
    # other frameworks and Keras internals
    "FlaxLayer": _OTHER_FRAMEWORK, "JaxLayer": _OTHER_FRAMEWORK, "TFSMLayer": _OTHER_FRAMEWORK,
    "TorchModuleWrapper": "A glassnet model is itself a torch.nn.Module: put it inside your torch code instead",
    "Wrapper": "subclass layers.Layer (see layers.TimeDistributed and layers.Bidirectional)",
    "InputSpec": "Inputs are checked against gn.Input's shape and each layer's compute_output_shape",
    "ActivityRegularization": None,
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
    "random": "torch.randn, torch.rand and torch.Generator; gn.utils.set_random_seed(seed) seeds Python, NumPy and torch",
    "backend": "The backend is always PyTorch",
    "device": "torch.device, and model.to(device)",
    "tree": "torch.utils._pytree (private to torch) or plain Python on lists and dicts",
    "applications": "torchvision.models or timm for pretrained networks (separate installs)",
    "datasets": "torchvision.datasets (a separate install); the tour's data ships inside Python packages",
    "models": "gn.Model, gn.Sequential and gn.load_model",
    "saving": "model.save(path) and gn.load_model(path) (.glassnet, .keras, .h5)",
    "export": "model.export_onnx(path)",
    "visualization": "model.summary() and gn.analyze(model)",
    "preprocessing": "Preprocess the data before the model with torch or torchvision.transforms.v2",
    "mixed_precision": "gn.config.set_floatx(...) for the weights' dtype, or torch.autocast for mixed precision",
    "dtype_policies": "gn.config.set_floatx(...)", "DTypePolicy": "gn.config.set_floatx(...)",
    "FloatDTypePolicy": "gn.config.set_floatx(...)",
    "distribution": "Data-parallel training: fit runs on torch.distributed when the script is started by torchrun",
    "Layer": "gn.layers.Layer", "KerasTensor": "gn.SymbolicTensor", "InputSpec": "gn.Input",
    "Variable": "torch.nn.Parameter, made by layer.add_weight(...)",
    "Initializer": "gn.initializers.Initializer", "Metric": "gn.metrics.Metric",
    "Loss": "a function (y_true, y_pred) -> per-sample loss, passed to compile(loss=...)",
    "Optimizer": "gn.optimizers (Adam, AdamW, SGD, RMSprop, Adagrad), or any torch.optim optimizer class",
    "regularizers": None, "Regularizer": None, "constraints": None, "quantizers": None, "Quantizer": None,
    "distillation": None, "wrappers": None, "legacy": None, "remat": None, "RematScope": None, "name_scope": None,
    "StatelessScope": None, "SymbolicScope": None, "Function": None, "Operation": None, "src": None,
}

_LOSS_NAME = "compile(loss={!r}) or the function gn.losses.{}"
_LOSSES: dict[str, str | None] = {
    "MeanSquaredError": _LOSS_NAME.format("mse", "mean_squared_error"),
    "MeanAbsoluteError": _LOSS_NAME.format("mae", "mean_absolute_error"),
    "BinaryCrossentropy": _LOSS_NAME.format("binary_crossentropy", "binary_crossentropy"),
    "CategoricalCrossentropy": _LOSS_NAME.format("categorical_crossentropy", "categorical_crossentropy"),
    "SparseCategoricalCrossentropy": _LOSS_NAME.format("sparse_categorical_crossentropy",
                                                       "sparse_categorical_crossentropy"),
    "Huber": "compile(loss=('huber', {'delta': 1.0})) or the function gn.losses.huber",
    "Loss": "a function (y_true, y_pred) -> per-sample loss, passed to compile(loss=...)",
}

_UTILS: dict[str, str | None] = {
    "to_categorical": "torch.nn.functional.one_hot(torch.as_tensor(y), num_classes)",
    "pad_sequences": "torch.nn.utils.rnn.pad_sequence(sequences, batch_first=True) (pads at the end)",
    "plot_model": "model.summary() and gn.analyze(model)",
    "Progbar": None, "PyDataset": "a torch.utils.data.Dataset or DataLoader, which fit accepts",
    "Sequence": "a torch.utils.data.Dataset or DataLoader, which fit accepts",
    "split_dataset": "torch.utils.data.random_split", "clear_session": None,
}

# Keras module → {name: what to use instead, or None}
KERAS_NAMES: dict[str, dict[str, str | None]] = {"": _TOP, "layers": _LAYERS, "losses": _LOSSES, "utils": _UTILS}


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
