"""Models: functional and subclassed ``Model``, ``Sequential``, ``clone_model``, ``model_from_json`` (``Input`` lives
with the layers, re-exported here)."""
from ..graph import SymbolicTensor
from ..io import load_model
from ..layers.input_layer import Input, InputLayer
from .cloning import clone_model, model_from_json
from .model import Model
from .sequential import Sequential


def save_model(model, filepath, overwrite: bool = True, **kwargs) -> None:
    """``model.save(filepath)`` (Keras's ``keras.models.save_model``)."""
    if kwargs:
        raise TypeError(f"save_model() got unexpected arguments {sorted(kwargs)}.")
    model.save(filepath, overwrite=overwrite)


__all__ = ["Input", "InputLayer", "SymbolicTensor", "Model", "Sequential", "clone_model", "model_from_json",
           "load_model", "save_model"]
