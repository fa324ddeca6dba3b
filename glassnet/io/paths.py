"""Name-independent weight paths, as Keras writes them in ``.keras`` files:
``layers/<snake_class>[_k]/vars/<i>``, sub-objects by attribute (``cell``, ``forward_layer``, ``layer``).

Paths depend on the model's structure, not on layer names, so a model rebuilt with other
automatic names (``dense_7`` instead of ``dense``) still finds its weights.
"""
from __future__ import annotations

from collections import Counter

import torch

from ..layers.base import Layer, to_snake_case

__all__ = ["weight_paths"]

_SUBOBJECTS = {"cell": "cell", "forward_layer": "forward_layer", "backward_layer": "backward_layer", "layer": "layer"}


def _own(layer: Layer) -> list[torch.Tensor]:
    return [getattr(layer, n) for n in layer._own_trainable + layer._own_non_trainable]


def _walk(layer: Layer, prefix: str, out: dict[str, torch.Tensor]) -> None:
    from ..models.model import Model
    if isinstance(layer, Model):
        counts: Counter = Counter()
        for sub in layer.layers:
            base = to_snake_case(type(sub).__name__)
            name = base if counts[base] == 0 else f"{base}_{counts[base]}"
            counts[base] += 1
            _walk(sub, f"{prefix}/layers/{name}" if prefix else f"layers/{name}", out)
        return
    for i, w in enumerate(_own(layer)):
        out[f"{prefix}/vars/{i}"] = w
    for attr in sorted(_SUBOBJECTS):
        sub = layer._modules.get(attr)
        if isinstance(sub, Layer):
            _walk(sub, f"{prefix}/{attr}", out)


def weight_paths(model) -> dict[str, torch.Tensor]:
    """Every weight of ``model`` under its Keras-style path, in model order."""
    out: dict[str, torch.Tensor] = {}
    _walk(model, "", out)
    return out
