"""Saving and loading: the native format (JSON config + safetensors) and its atomic writes."""
from .native import load_model, load_weights, save_model, save_weights

__all__ = ["save_model", "load_model", "save_weights", "load_weights"]
