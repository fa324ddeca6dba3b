"""Functional ``Model`` and ``Sequential``: layer graphs that are ``torch.nn.Module``s."""
from __future__ import annotations

from typing import Any


from ..dims import fmt_shape, is_fixed, keras_shape
from ..errors import ConfigError, ShapeError
from ..layers.base import Layer, tracing, unique_name
from ..training.trainer import TrainingMixin
from .graph import (InputLayer, Input, Node, SymbolicTensor, flatten, map_structure, run_nodes,
                    topological_nodes)

__all__ = ["Model", "Sequential"]


class Model(TrainingMixin, Layer):
    """A graph of layers from symbolic ``inputs`` to ``outputs`` (Keras functional API).

    Args:
        inputs: an ``Input`` tensor, or a list or dict of them.
        outputs: symbolic tensor(s) computed from ``inputs``.
        name: model name (``functional``, ``functional_1``… when omitted).

    Example:
        >>> inp = gn.Input((28, 28, 1))
        >>> out = layers.Dense(10)(layers.GlobalAveragePooling2D()(layers.Conv2D(64, 3)(inp)))
        >>> gn.Model(inp, out).output_shape
        (None, 10)
    """

    def __init__(self, inputs=None, outputs=None, name: str | None = None, trainable: bool = True, **kwargs):
        super().__init__(name=name or unique_name("functional"), trainable=trainable, **kwargs)
        if inputs is None or outputs is None:
            raise ConfigError(
                "Model needs inputs and outputs: Model(inputs, outputs). Received: "
                f"inputs={inputs!r}, outputs={outputs!r}. For a stack of layers use Sequential([...]).")
        self._init_graph(inputs, outputs)

    # ------------------------------------------------------------------ graph
    def _init_graph(self, inputs, outputs) -> None:
        for t in flatten(inputs):
            if not isinstance(t, SymbolicTensor) or not isinstance(t.layer, InputLayer):
                raise ConfigError(f"Model inputs must come from Input(...). Received: {t!r}")
        for t in flatten(outputs):
            if not isinstance(t, SymbolicTensor):
                raise ConfigError(f"Model outputs must be symbolic tensors built from the inputs. Received: {t!r}")
        self._input_struct = inputs
        self._output_struct = outputs
        self._inputs = flatten(inputs)
        self._outputs = flatten(outputs)
        self._nodes_cache = None
        nodes = self._nodes_all()
        known_inputs = {id(t) for t in self._inputs}
        for n in nodes:
            if isinstance(n.layer, InputLayer) and id(n.outputs[0]) not in known_inputs:
                raise ConfigError(
                    f"The outputs of model '{self.name}' depend on Input '{n.layer.name}', which is not among "
                    "the model's inputs. Pass every Input the outputs need in Model(inputs=...).")
        seen: dict[str, Layer] = {}
        for n in nodes:
            layer = n.layer
            if layer.name in seen and seen[layer.name] is not layer:
                raise ConfigError(
                    f"Model '{self.name}' has two different layers named '{layer.name}'. "
                    "Layer names in a model must be unique; pass name=... to one of them.")
            if layer.name not in seen:
                seen[layer.name] = layer
                if layer.name not in self._modules:
                    try:
                        self.add_module(layer.name, layer)
                    except KeyError as exc:
                        raise ConfigError(
                            f"Layer name '{layer.name}' clashes with a Model attribute; rename the layer.") from exc
        self.built = True
        self._build_shape = self._input_shapes()

    def _nodes_all(self) -> list[Node]:
        if self._nodes_cache is None:
            self._nodes_cache = topological_nodes(self._outputs)
        return self._nodes_cache

    @property
    def _run_nodes(self) -> list[Node]:
        return [n for n in self._nodes_all() if not isinstance(n.layer, InputLayer)]

    def _input_shapes(self):
        shapes = [t.symbolic_shape for t in self._inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def layers(self) -> list[Layer]:
        return list(self._sublayers())

    @property
    def inputs(self) -> list[SymbolicTensor]:
        return list(self._inputs)

    @property
    def outputs(self) -> list[SymbolicTensor]:
        return list(self._outputs)

    @property
    def input_shape(self):
        return keras_shape(self._input_shapes())

    @property
    def output_shape(self):
        shapes = [t.symbolic_shape for t in self._outputs]
        return keras_shape(shapes[0] if len(shapes) == 1 else shapes)

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        if index is not None:
            if not -len(self.layers) <= index < len(self.layers):
                raise ValueError(f"Model '{self.name}' has {len(self.layers)} layers; index {index} is out of range.")
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        names = ", ".join(l.name for l in self.layers)
        raise ValueError(f"No such layer: {name}. Existing layers are: [{names}].")

    # ------------------------------------------------------------------ shapes
    def compute_output_shape(self, input_shape):
        """Replay the graph's shape rules on ``input_shape`` (batch axis included)."""
        shapes_in = input_shape if isinstance(input_shape, list) else [input_shape]
        if len(shapes_in) != len(self._inputs):
            raise ShapeError(f"Model '{self.name}' expects {len(self._inputs)} inputs. Received: {len(shapes_in)} shapes.")
        shapes: dict[int, Any] = {}
        for t, s in zip(self._inputs, shapes_in):
            self._check_input_shape(t, tuple(s))
            shapes[id(t)] = tuple(s)
        for node in self._run_nodes:
            ins = map_structure(lambda t: shapes[id(t)], node.args[0])
            out = node.layer.compute_output_shape(ins)
            outs = out if node.multi_output else [out]
            for sym, s in zip(node.outputs, outs):
                shapes[id(sym)] = s
        result = [shapes[id(t)] for t in self._outputs]
        return result[0] if len(result) == 1 else result

    def _check_input_shape(self, t: SymbolicTensor, shape: tuple) -> None:
        expected = t.symbolic_shape
        bad = len(shape) != len(expected) or any(
            is_fixed(e) and is_fixed(r) and e != r for e, r in zip(expected[1:], shape[1:]))
        if bad:
            raise ShapeError(
                f"Input '{t.layer.name}' of model '{self.name}' expects shape {fmt_shape(expected)}. "
                f"Received: input shape {fmt_shape(shape)}. Reshape the data to match, or build the model "
                "with Input(...) of the shape you have.")

    def _check_eager_input(self, shape) -> None:
        shapes = shape if isinstance(shape, list) else [shape]
        if len(shapes) != len(self._inputs):
            raise ShapeError(
                f"Model '{self.name}' expects {len(self._inputs)} input(s). Received: {len(shapes)} tensors.")
        for t, s in zip(self._inputs, shapes):
            if s is not None:
                self._check_input_shape(t, tuple(s))

    # ------------------------------------------------------------------ masks
    @property
    def mask_rule(self) -> str:
        return "carry" if any(m is not None for t in self._outputs for m in [t.mask]) else "drop"

    def compute_mask_shape(self, input_shape, mask_shape):
        masks = [None if t.mask is None else t.mask.symbolic_shape for t in self._outputs]
        return masks if len(masks) > 1 else masks[0]

    def compute_mask(self, inputs, mask=None):
        masks = getattr(self, "_last_masks", None)
        if masks is None:
            return None
        return masks if len(masks) > 1 else masks[0]

    # ------------------------------------------------------------------ running
    def _flatten_inputs(self, inputs) -> list:
        if isinstance(inputs, dict):
            try:
                return [inputs[t.layer.name] for t in self._inputs]
            except KeyError as exc:
                names = [t.layer.name for t in self._inputs]
                raise ValueError(f"Model '{self.name}' expects inputs named {names}. Received keys: {sorted(inputs)}") from exc
        flat = flatten(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        return flat

    def call(self, inputs, mask=None, training=None):
        flat = self._flatten_inputs(inputs)
        values = {id(t): v for t, v in zip(self._inputs, flat)}
        masks: dict[int, Any] = {}
        if mask is not None:
            for t, m in zip(self._inputs, flatten(mask) if isinstance(mask, (list, tuple)) else [mask]):
                masks[id(t)] = m
        run_nodes(self._run_nodes, values, masks, bool(training))
        self._last_masks = [masks.get(id(t)) for t in self._outputs]
        return map_structure(lambda t: values[id(t)], self._output_struct)

    def forward(self, inputs, *args, mask=None, training=None, **kwargs):
        if not tracing():
            if isinstance(inputs, dict):
                shape = [tuple(v.shape) for v in self._flatten_inputs(inputs)]
                shape = shape[0] if len(shape) == 1 else shape
            elif isinstance(inputs, (list, tuple)):
                shape = [tuple(v.shape) for v in flatten(inputs)]
            else:
                shape = tuple(inputs.shape)
            if shape != self._last_eager_shape:
                self._check_eager_input(shape)
                self._last_eager_shape = shape
        return self.call(inputs, mask=mask, training=self.training if training is None else training)

    def summary(self, line_length: int | None = None, positions=None, print_fn=None,
                expand_nested: bool = False, show_trainable: bool = False, costs: bool = False) -> None:
        """Print the Keras 3 summary table; variable dimensions show by name (``T``, ``H-2``).

        ``costs=True`` adds each layer's parameter formula and its multiply-adds per sample as a
        formula of the named input dimensions.
        """
        from .summary import print_summary
        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                      expand_nested=expand_nested, show_trainable=show_trainable, costs=costs)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "trainable": self.trainable}

    def cost(self, input_shape, output_shape):
        """A model used as a layer costs what its layers cost (see ``glassnet.analysis``)."""
        from ..analysis.report import nested_model_cost
        return nested_model_cost(self)

    # ------------------------------------------------------------------ files
    def save(self, filepath, overwrite: bool = True, _training_state: bool = False) -> None:
        """Save architecture and weights, atomically: ``.keras`` and ``.h5`` in Keras's formats (Keras 3
        loads them), anything else in the native format (JSON config + safetensors)."""
        import os
        from ..io import save_model
        if not overwrite and os.path.exists(filepath):
            raise FileExistsError(f"{filepath} exists and overwrite=False.")
        save_model(self, filepath, _training_state=_training_state)

    def save_weights(self, filepath, overwrite: bool = True) -> None:
        """Save the weights only, atomically: ``.weights.h5`` in Keras's layout, else safetensors."""
        from ..io import save_weights
        save_weights(self, filepath)

    def export_onnx(self, filepath, input_shape=None, opset_version=None) -> str:
        """Export to ONNX with batch and variable dimensions as dynamic axes (needs glassnet[onnx])."""
        from ..io.onnx_export import export_onnx
        return export_onnx(self, filepath, input_shape, opset_version)

    def load_weights(self, filepath) -> None:
        """Load weights from ``.weights.h5``, legacy ``.h5``, safetensors or ``.glassnet`` (shapes must match)."""
        from ..io import load_weights
        load_weights(self, filepath)


class Sequential(Model):
    """A linear stack of layers.

    Example:
        >>> model = gn.Sequential([gn.Input((50, 1)), layers.LSTM(10), layers.Dense(1)])
        >>> model.count_params()
        491
    """

    def __init__(self, layers=None, name: str | None = None, trainable: bool = True):
        Layer.__init__(self, name=name or unique_name("sequential"), trainable=trainable)
        self._stack: list[Layer] = []
        self._input_tensor: SymbolicTensor | None = None
        self._last_output: SymbolicTensor | None = None
        self._nodes_cache = None
        self._inputs: list = []
        self._outputs: list = []
        for layer in layers or []:
            self.add(layer)

    def add(self, layer) -> None:
        """Append a layer (or an ``Input``) and extend the graph at once, so shape errors show here."""
        if isinstance(layer, InputLayer):
            layer = layer._inbound_nodes[0].outputs[0]
        if isinstance(layer, SymbolicTensor):
            if not isinstance(layer.layer, InputLayer) or self._stack or self._input_tensor is not None:
                raise ConfigError("Sequential accepts an Input only as its first entry.")
            self._set_input(layer)
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential only holds glassnet layers. Received: {layer!r} of type {type(layer).__name__}")
        if any(l is layer for l in self._stack):
            raise ConfigError(f"Layer '{layer.name}' is already in Sequential '{self.name}'.")
        if any(l.name == layer.name for l in self._stack):
            raise ConfigError(f"Sequential '{self.name}' already has a layer named '{layer.name}'; layer names must be unique.")
        if not self._stack and self._input_tensor is None and layer._input_shape_arg is not None:
            batch, *shape = layer._input_shape_arg
            self._set_input(Input(tuple(shape), batch_size=batch))
        if self._last_output is not None:
            out = layer(self._last_output)
            if isinstance(out, list):
                raise ConfigError(
                    f"All layers in a Sequential model should have a single output tensor; layer "
                    f"'{layer.name}' has {len(out)}. Use the functional API for layers with several outputs.")
            self._last_output = out
        self._stack.append(layer)
        self.add_module(layer.name, layer)
        self._refresh()

    def pop(self) -> Layer:
        if not self._stack:
            raise ConfigError(f"Sequential '{self.name}' has no layers to pop.")
        layer = self._stack.pop()
        del self._modules[layer.name]
        self._rechain()
        return layer

    def _set_input(self, tensor: SymbolicTensor) -> None:
        self._input_tensor = tensor
        self._rechain()

    def _rechain(self) -> None:
        x = self._input_tensor
        if x is not None:
            for layer in self._stack:
                x = layer(x)
        self._last_output = x
        self._refresh()

    def _refresh(self) -> None:
        self._nodes_cache = None
        if self._input_tensor is not None and self._last_output is not None:
            self._inputs, self._outputs = [self._input_tensor], [self._last_output]
            self._input_struct, self._output_struct = self._input_tensor, self._last_output
            self.built = True
            self._build_shape = self._input_tensor.symbolic_shape
        else:
            self.built = False

    def build(self, input_shape) -> None:
        if self._input_tensor is None:
            batch, *rest = input_shape
            self._set_input(Input(tuple(rest), batch_size=batch if is_fixed(batch) and batch != -1 else None))

    def _check_eager_input(self, shape) -> None:
        if not self.built:
            if not isinstance(shape, tuple):
                raise ShapeError(f"Sequential '{self.name}' takes a single input tensor. Received shapes: {shape}")
            self._set_input(Input(tuple(shape[1:])))
        super()._check_eager_input(shape)

    @property
    def layers(self) -> list[Layer]:
        return list(self._stack)

    @property
    def input_shape(self):
        if self._input_tensor is None:
            raise AttributeError(f"Sequential '{self.name}' has no input yet; add an Input or call it on data.")
        return self._input_tensor.shape

    @property
    def output_shape(self):
        if self._last_output is None:
            raise AttributeError(f"Sequential '{self.name}' is not built yet; add an Input or call it on data.")
        return self._last_output.shape

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(
                f"You tried to call count_params on layer '{self.name}', but the layer isn't built. "
                "Add an Input first, or call the model on data.")
        return super().count_params()
