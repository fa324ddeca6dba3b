"""Saving and loading: the native ``.glassnet`` format, Keras ``.keras`` / legacy ``.h5`` / ``.weights.h5``,
and ONNX export. io sees a model only through its public interface (config, weights, ``saving_children``),
and finds layer classes only through ``layers.registry``."""
from __future__ import annotations

import os
import zipfile

from ..errors import FileFormatError
from . import glassnet_format, keras_format
from .building import file_errors
from .onnx_export import export_onnx

__all__ = ["load_model", "save_model", "save_weights", "load_weights", "restore_training_state", "export_onnx"]


def load_model(filepath, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """Load a model from ``.glassnet``, ``.keras`` or legacy ``.h5`` (no code from the file is run).

    Lambda layers stored as Python bytecode are refused unless ``safe_mode=False``; functions named
    in a file are looked up only in ``custom_objects``. A malformed file raises ``FileFormatError``
    naming the file and what is wrong; the weights a config asks for are capped by the file's size.
    """
    path = os.fspath(filepath)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No such file: {path}")
    with file_errors(path):
        if keras_format.is_hdf5(path):
            return keras_format.load_legacy_h5(path, custom_objects, safe_mode, compile)
        if not zipfile.is_zipfile(path):
            raise FileFormatError(f"{path}: not a model file (neither a zip archive nor HDF5).")
        with glassnet_format.open_zip(path) as z:
            names = set(z.namelist())
        if "model.safetensors" in names:
            return glassnet_format.load_model(path, custom_objects, compile, safe_mode)
        if "model.weights.h5" in names or path.endswith(".keras"):
            return keras_format.load_keras(path, custom_objects, safe_mode, compile)
        raise FileFormatError(f"{path}: a zip archive without model weights (neither .glassnet nor .keras).")


def save_model(model, filepath, training_state: bool = False) -> None:
    """``.keras`` and ``.h5`` in Keras's formats, anything else (``.glassnet``) in the native one."""
    path = os.fspath(filepath)
    if path.endswith(".keras"):
        keras_format.save_keras(model, path)
    elif path.endswith(".weights.h5"):
        raise ValueError(f"{path} names a weights file; use model.save_weights() for .weights.h5.")
    elif path.endswith(".h5"):
        keras_format.save_legacy_h5(model, path)
    else:
        glassnet_format.save_model(model, path, training_state=training_state)


def save_weights(model, filepath) -> None:
    path = os.fspath(filepath)
    if path.endswith(".h5"):
        keras_format.save_weights_h5(model, path)
    else:
        glassnet_format.save_weights(model, path)


def load_weights(model, filepath) -> None:
    path = os.fspath(filepath)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No such file: {path}")
    with file_errors(path):
        if keras_format.is_hdf5(path):
            keras_format.load_weights_h5(model, path)
        else:
            glassnet_format.load_weights(model, path)


def restore_training_state(model, filepath) -> int:
    """Weights, optimizer state and RNG state from a checkpoint; the epoch to resume at."""
    path = os.fspath(filepath)
    with file_errors(path):
        return glassnet_format.restore_training_state(model, path)
