"""Saving and loading: the native ``.glassnet`` format, Keras ``.keras`` / legacy ``.h5`` / ``.weights.h5``."""
from __future__ import annotations

import os
import zipfile

from ..errors import FileFormatError
from . import native

__all__ = ["load_model", "save_model", "save_weights", "load_weights"]


def load_model(filepath, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """Load a model from ``.glassnet``, ``.keras`` or legacy ``.h5`` (no code from the file is run).

    Lambda layers stored as Python bytecode are refused unless ``safe_mode=False``; functions named
    in a file are looked up only in ``custom_objects``. A malformed file raises ``FileFormatError``
    naming the file and what is wrong; the weights a config asks for are capped by the file's size.
    """
    path = os.fspath(filepath)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No such file: {path}")
    from ..layers.base import WEIGHT_BUDGET
    token = WEIGHT_BUDGET.set([os.path.getsize(path), path])
    try:
        return _load_model(path, custom_objects, compile, safe_mode)
    except (FileFormatError, MemoryError):
        raise
    except RecursionError as exc:
        raise FileFormatError(f"{path}: the model config is nested too deeply.") from exc
    except Exception as exc:
        # the file is the untrusted side: whatever in it could not be interpreted is a format error
        raise FileFormatError(f"{path}: the model cannot be built from this file ({type(exc).__name__}: {exc}).") from exc
    finally:
        WEIGHT_BUDGET.reset(token)


def _load_model(path, custom_objects, compile, safe_mode):
    from .keras_format import is_hdf5, load_keras, load_legacy_h5
    if is_hdf5(path):
        return load_legacy_h5(path, custom_objects, safe_mode, compile)
    if not zipfile.is_zipfile(path):
        raise FileFormatError(f"{path}: not a model file (neither a zip archive nor HDF5).")
    with native._open_zip(path) as z:
        names = set(z.namelist())
    if "model.safetensors" in names:
        return native.load_model(path, custom_objects, compile)
    if "model.weights.h5" in names or path.endswith(".keras"):
        return load_keras(path, custom_objects, safe_mode, compile)
    raise FileFormatError(f"{path}: a zip archive without model weights (neither .glassnet nor .keras).")


def save_model(model, filepath, _training_state: bool = False) -> None:
    path = os.fspath(filepath)
    from ..training.distributed import is_main_process
    if not is_main_process():
        return
    if path.endswith(".keras"):
        from .keras_format import save_keras
        save_keras(model, path)
    elif path.endswith(".weights.h5"):
        raise ValueError(f"{path} names a weights file; use model.save_weights() for .weights.h5.")
    elif path.endswith(".h5"):
        from .keras_format import save_legacy_h5
        save_legacy_h5(model, path)
    else:
        native.save_model(model, path, _training_state=_training_state)


def save_weights(model, filepath) -> None:
    path = os.fspath(filepath)
    from ..training.distributed import is_main_process
    if not is_main_process():
        return
    if path.endswith(".h5"):
        from .keras_format import save_weights_h5
        save_weights_h5(model, path)
    else:
        native.save_weights(model, path)


def load_weights(model, filepath) -> None:
    path = os.fspath(filepath)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No such file: {path}")
    from .keras_format import is_hdf5, load_weights_h5
    if is_hdf5(path):
        load_weights_h5(model, path)
    else:
        native.load_weights(model, path)
