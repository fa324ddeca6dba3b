"""Two preprocessing layers that compute no pixels themselves: Pipeline (a chain of preprocessing layers) and
MaxNumBoundingBoxes (pads or truncates bounding boxes to a fixed count), as Keras 3 defines them."""
from __future__ import annotations

from types import SimpleNamespace

import sympy
import torch
import torch.nn.functional as F

from ... import checks, formula
from ...errors import ConfigError
from ...structure import flatten
from .. import registry
from ..base import Layer, to_snake_case
from ..cost import Cost

__all__ = ["Pipeline", "MaxNumBoundingBoxes"]

BOX_FORMATS = ("xyxy", "yxyx", "xywh", "center_xywh", "center_yxhw", "rel_xyxy", "rel_yxyx", "rel_xywh",
               "rel_center_xywh")


class Pipeline(Layer):
    """Applies ``layers`` one after the other, passing ``training`` on (augmentation inside is active only in
    training). Unlike a Sequential model it is one layer: in a model's summary it is one row, its cost the sum
    of its layers' (each listed as a child).

    Example:
        >>> pipe = layers.Pipeline([layers.RandomFlip(seed=1), layers.RandomRotation(0.1, seed=2)])
        >>> pipe(gn.Input((8, 8, 3))).shape
        (None, 8, 8, 3)
    """

    def __init__(self, layers, name=None):
        super().__init__(name=name)
        if not isinstance(layers, (list, tuple)) or not all(isinstance(layer, Layer) for layer in layers):
            raise ConfigError(self._error("needs a list of glassnet layers", f"layers={layers!r}"))
        self._pipeline_layers = torch.nn.ModuleList(layers)

    @property
    def layers(self) -> list:
        return list(self._pipeline_layers)

    def saving_children(self):
        """Keras's paths: ``layers/<snake_class>``, ``layers/<snake_class>_1`` … in order."""
        seen: dict[str, int] = {}
        children = {}
        for layer in self._pipeline_layers:
            base = to_snake_case(type(layer).__name__)
            n = seen.get(base, 0)
            seen[base] = n + 1
            children[f"layers/{base}" + (f"_{n}" if n else "")] = layer
        return children

    def build(self, input_shape):
        shape = input_shape
        for layer in self._pipeline_layers:
            if not layer.built:
                layer._build_from(shape)
            shape = layer.compute_output_shape(shape)

    def call(self, inputs, training=False):
        for layer in self._pipeline_layers:
            inputs = layer(inputs, training=training)
        return inputs

    def compute_output_shape(self, input_shape):
        for layer in self._pipeline_layers:
            input_shape = layer.compute_output_shape(input_shape)
        return input_shape

    def compute_output_dtype(self, inputs):
        dtype = flatten(inputs)[0].dtype
        for layer in self._pipeline_layers:
            dtype = layer.compute_output_dtype(SimpleNamespace(dtype=dtype))
        return dtype

    def cost(self, input_shape, output_shape):
        children, shape = [], input_shape
        for layer in self._pipeline_layers:
            out = layer.compute_output_shape(shape)
            children.append((layer.name, layer.cost(shape, out)))
            shape = out
        costs = [c for _, c in children]
        macs = None if any(c.macs is None for c in costs) else sympy.Add(*(c.macs_expr() for c in costs))
        other = None if any(c.other_flops is None for c in costs) else \
            sympy.Add(*(sympy.sympify(formula.evaluate(c.other_flops, c.values)) for c in costs))
        pointwise = all(c.rf == ("pointwise",) for c in costs)
        steps = "; then ".join(f"{type(layer).__name__} {c.reads}" for layer, c in zip(self._pipeline_layers, costs))
        return Cost(params=sum(c.params_count() for c in costs), macs=macs, other_flops=other,
                    reads=f"applies its {len(costs)} layers in turn: {steps}",
                    rf=("pointwise",) if pointwise else ("unknown",), children=children)

    @classmethod
    def from_config(cls, config):
        layers = config.get("layers")
        if not isinstance(layers, (list, tuple)):
            raise ConfigError(f"A Pipeline config needs a `layers` list of serialized layers. Received: "
                              f"layers={layers!r}")
        return cls([registry.deserialize(spec) for spec in layers], name=config.get("name"))

    def get_config(self):
        # Keras's Pipeline writes only these two keys
        return {"layers": [registry.serialize(layer) for layer in self._pipeline_layers], "name": self.name}


class MaxNumBoundingBoxes(Layer):
    """Pads (with ``fill_value``) or truncates each sample's bounding boxes to ``max_number``, so that a batch
    of boxes is one dense tensor; images and labels pass through, in training and at inference alike.

    Call it on a dict ``{"images": ..., "bounding_boxes": {"boxes": (batch, n, 4), "labels": (batch, n)}}``
    (single samples: ``(n, 4)`` and ``(n,)``) with ``bounding_box_format`` set, as Keras requires; a tensor
    passes through unchanged.
    """

    def __init__(self, max_number, fill_value=-1, *, bounding_box_format=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.max_number = checks.positive_int(self, "max_number", int(max_number) if isinstance(
            max_number, float) and max_number.is_integer() else max_number)
        if isinstance(fill_value, bool) or not isinstance(fill_value, (int, float)):
            raise ConfigError(self._error("needs a number as fill_value", f"fill_value={fill_value!r}"))
        self.fill_value = int(fill_value)
        self.bounding_box_format = None if bounding_box_format is None else \
            checks.one_of(self, "bounding_box_format", bounding_box_format, BOX_FORMATS)
        self.data_format = checks.data_format(self, data_format)

    def _pad(self, values: torch.Tensor, single: bool) -> torch.Tensor:
        values = values.unsqueeze(0) if single else values
        values = values[:, :self.max_number]
        missing = self.max_number - values.shape[1]
        if missing:
            pad = [0, 0] * (values.ndim - 2) + [0, missing]
            values = F.pad(values, pad, value=self.fill_value)
        return values.squeeze(0) if single else values

    def call(self, inputs):
        if not isinstance(inputs, dict) or "bounding_boxes" not in inputs:
            return inputs
        if self.bounding_box_format is None:
            raise ConfigError(self._error(
                "was given bounding boxes but no bounding_box_format", "bounding_box_format=None",
                "Pass bounding_box_format, e.g. MaxNumBoundingBoxes(10, bounding_box_format='xyxy')."))
        boxes = inputs["bounding_boxes"]
        if not isinstance(boxes, dict) or set(boxes) != {"boxes", "labels"}:
            raise ConfigError(self._error("reads bounding boxes as a dict with the keys 'boxes' and 'labels'",
                                          f"bounding_boxes keys={sorted(boxes) if isinstance(boxes, dict) else boxes}"))
        single = torch.as_tensor(boxes["boxes"]).ndim == 2
        dense = {key: self._pad(torch.as_tensor(value), single) for key, value in boxes.items()}
        return {**inputs, "bounding_boxes": dense}

    def compute_output_shape(self, input_shape):
        return input_shape

    def cost(self, input_shape, output_shape):
        return Cost(reads=f"pads or truncates each sample's bounding boxes to {self.max_number} (images pass "
                          "through), in training and at inference alike")

    def get_config(self):
        # Keras leaves fill_value out of its config (and so forgets it); glassnet writes it, and Keras reads it
        config = {**super().get_config(), "data_format": self.data_format, "max_number": self.max_number,
                  "fill_value": self.fill_value}
        if self.bounding_box_format is not None:
            config["bounding_box_format"] = self.bounding_box_format
        return config
