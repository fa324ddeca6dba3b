"""What every loader shares: building a model from an untrusted config without allocating its weights
first, and turning whatever goes wrong into one ``FileFormatError`` that names the file.

A model is built on torch's meta device (shapes only, no memory); its weights are then counted against
what the file can hold — every stored value takes at least one byte — before any memory is allocated,
so a config that asks for gigabytes in a file of kilobytes is refused at once. Only then are the weights
given real (uninitialised) memory, which the loader fills from the file.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch

from ..errors import ConfigError, FileFormatError
from ..layers import registry

__all__ = ["file_errors", "build_model"]


@contextmanager
def file_errors(path: str):
    """The one place a loader's failure becomes ``FileFormatError("<path>: …")``."""
    try:
        yield
    except (FileFormatError, MemoryError, FileNotFoundError):
        raise
    except RecursionError as exc:
        raise FileFormatError(f"{path}: the model config is nested too deeply.") from exc
    except ConfigError as exc:
        raise FileFormatError(f"{path}: {exc}") from exc
    except Exception as exc:
        # the file is the untrusted side: whatever in it could not be interpreted is a format error
        raise FileFormatError(f"{path}: the model cannot be built from this file ({type(exc).__name__}: {exc}).") from exc


def build_model(config: dict, path: str, capacity: int, custom_objects=None, safe_mode: bool = True):
    """The model ``config`` describes, its weights allocated but not filled (the caller loads them).

    ``capacity`` is the most values the file could hold (its size in bytes); a config asking for more
    is refused before anything is allocated.
    """
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise FileFormatError(f"{path}: the model config is not a dict with a class_name.")
    cls = (custom_objects or {}).get(config["class_name"]) or registry.get(config["class_name"])
    if not getattr(cls, "config_is_graph", False):
        raise FileFormatError(f"{path}: unknown model class '{config['class_name']}'; expected Sequential or "
                              "Functional.")
    with registry.loading_context(custom_objects, safe_mode), torch.device("meta"):
        model = registry.deserialize(config)
    need = sum(w.numel() for w in model.weights)
    if need > capacity:
        raise FileFormatError(f"{path}: the config asks for {need:,} weight values, more than the file "
                              f"({capacity:,} bytes) can hold; the config does not match its weights.")
    return model.to_empty(device="cpu")
