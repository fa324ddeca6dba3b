"""Name-independent weight paths, as Keras writes them in ``.keras`` files:
``layers/<snake_class>[_k]/vars/<i>``, sub-objects by attribute (``cell``, ``forward_layer``, ``layer``).

Paths depend on the model's structure, not on layer names, so a model rebuilt with other
automatic names (``dense_7`` instead of ``dense``) still finds its weights. Each layer says where its
sub-layers live (``saving_children``); a model's are ``layers/...`` in layer order.
"""
from __future__ import annotations

import torch

__all__ = ["weight_paths", "object_paths"]


def _walk(layer, prefix: str, weights: dict[str, torch.Tensor], objects: dict[str, object]) -> None:
    objects[prefix] = layer
    for i, w in enumerate(layer.own_weights()):
        weights[f"{prefix}/vars/{i}" if prefix else f"vars/{i}"] = w
    for sub_path, sub in sorted(layer.saving_children().items()) if not hasattr(layer, "graph_nodes") \
            else layer.saving_children().items():
        _walk(sub, f"{prefix}/{sub_path}" if prefix else sub_path, weights, objects)


def weight_paths(model) -> dict[str, torch.Tensor]:
    """Every weight of ``model`` under its Keras-style path, in model order."""
    weights: dict[str, torch.Tensor] = {}
    _walk(model, "", weights, {})
    return weights


def object_paths(model) -> dict[str, object]:
    """Every layer and model below ``model`` by its path (the model itself at ``""``)."""
    objects: dict[str, object] = {}
    _walk(model, "", {}, objects)
    return objects
