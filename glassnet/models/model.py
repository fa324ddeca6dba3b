"""``Model``: the functional model (a graph of layers) and the subclassed model (layers in ``__init__``, a
``call``), both a ``torch.nn.Module`` with Keras's API.

A functional model owns its graph (``graph_nodes()``, ``inputs``, ``outputs``) and runs it with one
explicit call, ``run(inputs, training) -> (outputs, masks)``. A subclassed model runs its own ``call``; at
its first call (or ``build(input_shape)``) its ``call`` is also traced on symbolic inputs, so summary,
analysis and plots see its layers as a graph. Training, saving and analysis are done by the packages below
it — ``Model.compile`` hands the model to a ``training.Trainer`` (which calls ``train_step`` /
``test_step`` / ``predict_step``, overridable as in Keras), ``save`` to ``io``, ``summary(costs=True)`` and
``cost`` to ``analysis`` — which see the model only through that interface.
"""
from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import torch
from torch.nn.modules import module as _torch_module  # its global hook registries

from .. import analysis, io
from ..dims import fmt_shape, is_fixed, keras_shape
from ..errors import ConfigError, ShapeError
from ..graph import (Node, SymbolicTensor, call_flags, keras_order, keras_run_order, run_nodes,
                     topological_nodes)
from ..layers import registry
from ..layers.base import Layer, call_context, module_key, name_scope, to_snake_case, tracing, unique_name
from ..layers.input_layer import Input, InputLayer
from ..structure import flatten, map_structure
from ..training import Trainer, distributed
from ..training.metrics import Metric
from . import config as graph_config
from . import strings
from .recording import record_graph
from .summary import print_summary

__all__ = ["Model"]


def _default(fn):
    """Marks a Model method the trainer may replace by its own when a subclass does not override it."""
    fn.glassnet_default = True
    return fn


def _plan_applies(plan, flat) -> bool:
    """Whether an inference chain plan (``Model._chain_plan``) may run now: one float32 input, and no layer
    that needs its full call path at the moment (torch hooks, an activity regularizer, a mixed or
    non-float32 dtype policy)."""
    if len(flat) != 1 or not isinstance(flat[0], torch.Tensor) or flat[0].dtype != torch.float32 or \
            _torch_module._global_forward_hooks or _torch_module._global_forward_pre_hooks:
        return False
    return not any(layer._forward_hooks or layer._forward_pre_hooks or layer.activity_regularizer is not None
                   or layer.dtype_policy.is_mixed or layer.dtype_policy.torch_compute_dtype != torch.float32
                   for layer, _, _ in plan)


class Model(Layer):
    """A graph of layers from symbolic ``inputs`` to ``outputs`` (Keras functional API), or — subclassed, with
    no ``inputs`` — layers created in ``__init__`` and used in ``call`` (Keras subclassing API).

    Args:
        inputs: an ``Input`` tensor, or a list or dict of them.
        outputs: symbolic tensor(s) computed from ``inputs``.
        name: model name (``functional``, ``functional_1``… when omitted).

    Example:
        >>> inp = gn.Input((28, 28, 1))
        >>> out = layers.Dense(10)(layers.GlobalAveragePooling2D()(layers.Conv2D(64, 3)(inp)))
        >>> gn.Model(inp, out).output_shape
        (None, 10)
        >>> class TwoLayers(gn.Model):
        ...     def __init__(self, **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.hidden, self.out = layers.Dense(8, activation="relu"), layers.Dense(1)
        ...     def call(self, x):
        ...         return self.out(self.hidden(x))
        >>> m = TwoLayers()
        >>> m.build((None, 4))
        >>> m.count_params()
        49
    """

    keras_module = "keras.src.models.functional"
    keras_class_name = "Functional"
    keras_registered_name = "Functional"
    config_is_graph = True  # from_config reads layers and inbound nodes, not constructor arguments
    _strings_encoded = False  # while the trainer works: string inputs arrive encoded by their string stage

    def __init__(self, inputs=None, outputs=None, name: str | None = None, trainable: bool = True, **kwargs):
        functional = inputs is not None or outputs is not None
        default_name = "functional" if functional or type(self) is Model else \
            to_snake_case(type(self).__name__)
        super().__init__(name=name or unique_name(default_name), trainable=trainable, **kwargs)
        self._trainer: Trainer | None = None
        self.stop_training = False
        self._initial_epoch = None
        self._subclassed = not functional
        self._inputs, self._outputs = [], []
        self._nodes_cache = None
        self._output_struct = None
        if functional:
            if inputs is None or outputs is None:
                raise ConfigError(
                    "Model needs inputs and outputs: Model(inputs, outputs). Received: "
                    f"inputs={inputs!r}, outputs={outputs!r}. For a stack of layers use Sequential([...]); for your "
                    "own call(), subclass Model and create the layers in __init__.")
            self._init_graph(inputs, outputs)
        elif type(self) is Model:
            raise ConfigError(
                "Model needs inputs and outputs: Model(inputs, outputs). Received: inputs=None, outputs=None. "
                "For a stack of layers use Sequential([...]); for your own call(), subclass Model and create the "
                "layers in __init__.")

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
        nodes = self.graph_nodes()
        known_inputs = {id(t) for t in self._inputs}
        for n in nodes:
            if isinstance(n.layer, InputLayer) and id(n.outputs[0]) not in known_inputs:
                raise ConfigError(
                    f"The outputs of model '{self.name}' depend on Input '{n.layer.name}', which is not among "
                    "the model's inputs. Pass every Input the outputs need in Model(inputs=...).")
        seen: dict[str, Layer] = {}
        for layer in keras_order(self._inputs, self._outputs):  # model.layers in Keras's order
            if layer.name in seen and seen[layer.name] is not layer:
                raise ConfigError(
                    f"Model '{self.name}' has two different layers named '{layer.name}'. "
                    "Layer names in a model must be unique; pass name=... to one of them.")
            if layer.name not in seen:
                seen[layer.name] = layer
                if module_key(layer.name) not in self._modules:
                    try:
                        self.add_module(module_key(layer.name), layer)
                    except KeyError as exc:
                        raise ConfigError(
                            f"Layer name '{layer.name}' clashes with a Model attribute; rename the layer.") from exc
        self.built = True
        self._build_shape = self._input_shapes()
        strings.string_stage(self)  # a string input must feed one layer that reads strings

    def graph_nodes(self) -> list[Node]:
        """Every node the outputs depend on, parents before children, the Input nodes included (for a subclassed
        model, those its ``call`` recorded when traced at build; none when it could not be traced)."""
        if self._nodes_cache is None:
            self._nodes_cache = topological_nodes(self._outputs) if self._outputs else []
        return self._nodes_cache

    def _run_order(self) -> list[Node]:
        """The layer nodes in the order Keras runs them (graph.keras_run_order), remade when the graph changes."""
        nodes = self.graph_nodes()
        cached = self.__dict__.get("_run_order_cache")
        if cached is None or cached[0] is not nodes:
            order = [n for n in keras_run_order(self._outputs) if not isinstance(n.layer, InputLayer)]
            cached = self.__dict__["_run_order_cache"] = (nodes, order)
        return cached[1]

    def _layer_nodes(self) -> list[Node]:
        return [n for n in self.graph_nodes() if not isinstance(n.layer, InputLayer)]

    def _input_shapes(self):
        shapes = [t.symbolic_shape for t in self._inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def layers(self) -> list[Layer]:
        return list(self._sublayers())

    def saving_children(self) -> dict[str, Layer]:
        """Keras's file paths: ``layers/<snake_class>[_k]`` in layer order."""
        return graph_config.layer_paths(self.layers)

    @property
    def inputs(self) -> list[SymbolicTensor]:
        """The model's inputs; while the trainer works on encoded strings, a string input's place is taken by
        the output of the layer that reads it (see ``models.strings``)."""
        if self._strings_encoded:
            stage = strings.string_stage(self)
            return [stage[id(t)].outputs[0] if id(t) in stage else t for t in self._inputs]
        return list(self._inputs)

    @property
    def outputs(self) -> list[SymbolicTensor]:
        return list(self._outputs)

    @property
    def input_names(self) -> list[str]:
        return [t.layer.name for t in self._inputs]

    @property
    def output_names(self) -> list[str]:
        if self._subclassed:
            return self.output_names_for([None] * len(flatten(self._output_struct)) if self._output_struct is not None
                                         else [None])
        return [t.layer.name for t in self._outputs]

    def output_names_for(self, outputs: list) -> list[str]:
        """The names losses and metrics use for ``outputs`` (a subclassed model: dict keys, else ``output_<i>``)."""
        if not self._subclassed:
            return self.output_names
        if isinstance(self._output_struct, dict):
            return list(self._output_struct)
        return ["output_0"] if len(outputs) == 1 else [f"output_{i}" for i in range(len(outputs))]

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
            self.check_input_shape(t, tuple(s))
            shapes[id(t)] = tuple(s)
        for node in self._layer_nodes():
            ins = map_structure(lambda t: shapes[id(t)], node.args[0])
            out = node.layer.compute_output_shape(ins)
            outs = out if node.multi_output else [out]
            for sym, s in zip(node.outputs, outs):
                shapes[id(sym)] = s
        result = [shapes[id(t)] for t in self._outputs]
        return result[0] if len(result) == 1 else result

    def check_input_shape(self, t: SymbolicTensor, shape: tuple) -> None:
        """Refuse a concrete ``shape`` that does not fit the model input ``t``."""
        expected = t.symbolic_shape
        bad = len(shape) != len(expected) or any(
            is_fixed(e) and is_fixed(r) and e != r for e, r in zip(expected[1:], shape[1:]))
        if bad:
            raise ShapeError(
                f"Input '{t.layer.name}' of model '{self.name}' expects shape {fmt_shape(expected)}. "
                f"Received: input shape {fmt_shape(shape)}. Reshape the data to match, or build the model "
                "with Input(...) of the shape you have.")

    def _check_eager_input(self, shape) -> None:
        if self._subclassed:
            if not self.built:
                self.build(shape)
            return
        shapes = shape if isinstance(shape, list) else [shape]
        if len(shapes) != len(self._inputs):
            raise ShapeError(
                f"Model '{self.name}' expects {len(self._inputs)} input(s). Received: {len(shapes)} tensors.")
        for t, s in zip(self._inputs, shapes):
            if s is not None:
                self.check_input_shape(t, tuple(s))

    # ------------------------------------------------------------------ masks
    @property
    def mask_rule(self) -> str:
        return "carry" if any(t.mask is not None for t in self._outputs) else "drop"

    def compute_mask_shape(self, input_shape, mask_shape):
        masks = [None if t.mask is None else t.mask.symbolic_shape for t in self._outputs]
        return masks if len(masks) > 1 else masks[0]

    def compute_mask(self, inputs, mask=None):
        """The output masks for ``inputs`` (this runs the graph; ``run`` gives outputs and masks at once)."""
        _, masks = self.run(inputs, training=False, mask=mask)
        return masks if len(masks) > 1 else masks[0]

    # ------------------------------------------------------------------ running
    def flatten_inputs(self, inputs) -> list:
        """The model's inputs in order, from a tensor, a list or a dict keyed by input name."""
        if isinstance(inputs, dict) and self._inputs:
            missing = [n for n in self.input_names if n not in inputs]
            unknown = [k for k in inputs if k not in self.input_names]
            if missing or unknown:
                raise ValueError(f"Model '{self.name}' expects inputs named {self.input_names}. Received keys: "
                                 f"{sorted(inputs)}; " + (f"missing {missing}" if missing else "")
                                 + ("; " if missing and unknown else "") + (f"unknown {unknown}" if unknown else "")
                                 + ". Key the inputs by those names.")
            return [inputs[n] for n in self.input_names]
        if isinstance(inputs, dict):
            return list(inputs.values())
        return flatten(inputs) if isinstance(inputs, (list, tuple)) else [inputs]

    def structure_outputs(self, flat: list):
        """``run``'s flat outputs in the structure the model returns (a tensor, a list or a dict)."""
        if self._output_struct is None:
            return flat[0] if len(flat) == 1 else list(flat)
        return self._structure(flat)

    def run(self, inputs, training: bool = False, mask=None) -> tuple[list, list]:
        """Run the model once: ``(outputs, masks)``, each a list in the order of ``model.outputs`` (a
        subclassed model runs its ``call``; its outputs carry no masks)."""
        if self._subclassed:
            return self._run_call(inputs, training, mask)
        stage = strings.string_stage(self)
        if stage:
            return self._run_with_strings(inputs, training, mask, stage)
        flat = [torch.as_tensor(v) if isinstance(v, np.ndarray) else v for v in self.flatten_inputs(inputs)]
        if not tracing():
            shape = [tuple(v.shape) for v in flat]
            shape = shape[0] if len(shape) == 1 and not isinstance(inputs, (list, dict)) else shape
            if shape != self._last_eager_shape:
                self._check_eager_input(shape)
                self._last_eager_shape = shape
            if mask is None and not training:
                plan = self._chain_plan()
                if plan is not None and _plan_applies(plan, flat):
                    with call_context(self):
                        h = flat[0]
                        for _, call, kwargs in plan:
                            h = call(h, **kwargs)
                    return [h], [None]
        values = {id(t): v for t, v in zip(self._inputs, flat)}
        return self._run_graph(self._run_order(), values, mask, training)

    def _run_graph(self, nodes, values: dict, mask, training) -> tuple[list, list]:
        masks: dict[int, Any] = {}
        if mask is not None:
            for t, m in zip(self._inputs, flatten(mask) if isinstance(mask, (list, tuple)) else [mask]):
                masks[id(t)] = m
        with call_context(self):
            run_nodes(nodes, values, masks, bool(training))
        return [values[id(t)] for t in self._outputs], [masks.get(id(t)) for t in self._outputs]

    def _chain_plan(self):
        """For a model that is a plain chain (one input, one output, each layer called once on the previous
        output, no layer making a mask, glassnet's own calling convention): each layer's ``call`` with the
        arguments inference gives it, so an inference run can skip the per-layer bookkeeping that the
        model's own input check already covers. None for any other graph. Remade when the graph changes."""
        nodes = self.graph_nodes()
        cached = self.__dict__.get("_plan")
        if cached is not None and cached[0] is nodes:
            return cached[1]
        plan, previous = [], (self._inputs[0] if len(self._inputs) == 1 else None)
        for node in (n for n in nodes if not isinstance(n.layer, InputLayer)):
            layer = node.layer
            if (previous is None or not node.simple or node.returns_masks or node.multi_output or node.kwargs
                    or node.args[0] is not previous or isinstance(layer, Model) or layer.mask_rule == "create"
                    or type(layer).forward is not Layer.forward or type(layer).__call__ is not Layer.__call__):
                plan = None
                break
            accepts_mask, accepts_training = call_flags(layer)
            plan.append((layer, layer.call, {**({"mask": None} if accepts_mask else {}),
                                             **({"training": False} if accepts_training else {})}))
            previous = node.outputs[0]
        if plan is not None and (not plan or len(self._outputs) != 1 or previous is not self._outputs[0]):
            plan = None
        self.__dict__["_plan"] = (nodes, plan)  # not a module attribute: kept out of torch's state
        return plan

    def _run_with_strings(self, inputs, training, mask, stage) -> tuple[list, list]:
        """The string stage first (strings → tensors, in Python), then the torch graph. While the trainer works
        (``_strings_encoded``) the string inputs arrive already encoded."""
        flat = strings.string_values(self, inputs)
        if len(flat) != len(self._inputs):
            raise ShapeError(f"Model '{self.name}' expects {len(self._inputs)} input(s). Received: {len(flat)}.")
        values: dict[int, Any] = {}
        device = next((w.device for w in self.weights), None)  # the string stage's tensors go where the model is
        for t, v in zip(self._inputs, flat):
            node = stage.get(id(t))
            if node is None:
                v = torch.as_tensor(v) if isinstance(v, np.ndarray) else v
                self.check_input_shape(t, tuple(v.shape))
                values[id(t)] = v
            elif self._strings_encoded:
                values[id(node.outputs[0])] = strings.cut_padding(node.layer, v)
            else:
                self.check_input_shape(t, tuple(np.shape(v)))
                encoded = node.layer.call_strings(v)
                values[id(node.outputs[0])] = encoded if device is None else encoded.to(device)
        skip = {id(n) for n in stage.values()}
        return self._run_graph([n for n in self._run_order() if id(n) not in skip], values, mask, training)

    def _run_call(self, inputs, training, mask):
        inputs = map_structure(lambda v: torch.as_tensor(v) if isinstance(v, np.ndarray) else v, inputs)
        if not self.built:
            self.build(_shape_structure(inputs))
        accepts_mask, accepts_training = call_flags(self)
        kwargs = {}
        if accepts_training:
            kwargs["training"] = bool(training)
        if accepts_mask and mask is not None:
            kwargs["mask"] = mask
        with call_context(self):
            out = self._call_in_policy(inputs, (), kwargs)
        if self._output_struct is None or not isinstance(out, torch.Tensor):
            self._output_struct = map_structure(lambda _: None, out)
        flat = flatten(out)
        return flat, [None] * len(flat)

    def _structure(self, flat: list):
        it = iter(flat)
        return map_structure(lambda _: next(it), self._output_struct)

    def call_with_masks(self, inputs, mask=None, training=False):
        """As a layer inside another graph: the outputs (in the model's structure) and their masks."""
        outputs, masks = self.run(inputs, training=training, mask=mask)
        return self._structure(outputs), (masks if len(masks) > 1 else masks[0])

    def call(self, inputs, mask=None, training=None):
        if self._subclassed:
            raise NotImplementedError(f"Model '{self.name}' ({type(self).__name__}) defines no call(); a subclassed "
                                      "model that is called on data must define call(inputs).")
        outputs, _ = self.run(inputs, training=bool(training), mask=mask)
        return self._structure(outputs)

    def _input_from_strings(self, x) -> None:
        """A Sequential not built yet, whose first layer reads strings, takes a string Input from ``x``."""

    def __call__(self, *args, **kwargs):
        if args:
            self._input_from_strings(args[0])
        if args and not self._subclassed and not isinstance(args[0], torch.Tensor) and \
                not isinstance(args[0], SymbolicTensor) and strings.string_stage(self):
            return torch.nn.Module.__call__(self, *args, **kwargs)  # strings: no conversion to tensors
        return super().__call__(*args, **kwargs)

    def forward(self, inputs, *args, mask=None, training=None, **kwargs):
        if self._subclassed:
            return super().forward(inputs, *args, mask=mask, training=training, **kwargs)
        return self.call(inputs, mask=mask, training=self.training if training is None else training)

    # ------------------------------------------------------------------ building a subclassed model
    def build(self, input_shape) -> None:
        """Build a subclassed model for ``input_shape`` (batch axis included; a list or dict for several
        inputs): its ``call`` runs on symbolic inputs, which builds every layer and records the graph that
        summary and analysis show. A ``call`` that cannot run on symbolic tensors (it uses torch functions
        between layers) is run once on zeros instead, its layer calls recorded, and the work between them shown
        as ``TorchOps`` nodes of unknown cost."""
        if not self._subclassed or self.built:
            return
        if type(self).call is Model.call:  # a model with only a train_step (the guides' GAN, VAE): nothing to build
            self.built = True
            return
        shapes = _as_shapes(input_shape)
        inputs = _map_shapes(shapes, lambda s: Input(tuple(s[1:]), batch_size=s[0] if isinstance(s[0], int)
                                                     else None))
        accepts_mask, accepts_training = call_flags(self)
        kwargs = {"training": False} if accepts_training else {}
        try:
            with name_scope(self.name):
                outputs = self.call(inputs, **kwargs)
            traced = all(isinstance(t, SymbolicTensor) for t in flatten(outputs))
        except (TypeError, AttributeError, RuntimeError, NotImplementedError):
            traced = False
        if not traced:  # torch functions between the layers: record one eager run instead
            try:
                outputs = record_graph(self, inputs)
            except (TypeError, AttributeError, RuntimeError, NotImplementedError, ValueError):
                outputs = None
            traced = outputs is not None
        if traced:
            self._input_struct, self._output_struct = inputs, map_structure(lambda _: None, outputs)
            self._inputs, self._outputs = flatten(inputs), flatten(outputs)
            self._nodes_cache = None
        else:
            self._build_eagerly(shapes)
        self._track_nested_layers()
        self._build_shape = shapes if not isinstance(shapes, tuple) or not shapes or isinstance(shapes[0], tuple) \
            else shapes
        self.built = True

    def _build_eagerly(self, shapes) -> None:
        def zeros(s):
            return torch.zeros(tuple(d if isinstance(d, int) else 1 for d in s), dtype=self.dtype)
        x = _map_shapes(shapes, zeros)
        accepts_mask, accepts_training = call_flags(self)
        with torch.no_grad(), name_scope(self.name):
            out = self.call(x, **({"training": False} if accepts_training else {}))
        self._output_struct = map_structure(lambda _: None, out)

    def build_for(self, x) -> None:
        """Build from a batch of data (what ``fit``/``evaluate`` do for a subclassed model not yet built)."""
        if not self.built:
            self.build(_shape_structure(x))


    # ------------------------------------------------------------------ training (training.Trainer)
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True):
        """Choose optimizer, loss(es) and metrics (Keras names, torch objects or callables)."""
        self._trainer = Trainer(self, optimizer=optimizer, loss=loss, loss_weights=loss_weights, metrics=metrics,
                                weighted_metrics=weighted_metrics, run_eagerly=run_eagerly,
                                steps_per_execution=steps_per_execution, jit_compile=jit_compile,
                                auto_scale_loss=auto_scale_loss)
        self.stop_training = False

    def _require_trainer(self, what: str) -> Trainer:
        if self._trainer is None:
            raise RuntimeError(f"You must call compile() before {what}().")
        return self._trainer

    # ------------------------------------------------------------------ steps (override them as in Keras)
    @_default
    def train_step(self, data):
        """One training step on ``data`` (``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``); returns the logs.
        Override it as Keras's torch guide does: forward, ``self.compute_loss``, ``loss.backward()``,
        ``self.optimizer.apply(grads, self.trainable_weights)``, update metrics, return a dict."""
        return self._require_trainer("fit").train_step(data)

    @_default
    def test_step(self, data):
        """One evaluation step; returns the logs."""
        return self._require_trainer("evaluate").test_step(data)

    @_default
    def predict_step(self, data):
        """The outputs for one batch ``(x,)``."""
        return (self._trainer or self._inference_trainer()).predict_step(data)

    @_default
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The compiled loss plus ``self.losses`` (regularizers, ``add_loss``), as a scalar tensor."""
        return self._require_trainer("compute_loss").compute_loss(x, y, y_pred, sample_weight, training=training)

    @_default
    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Update the compiled metrics; return every metric's result (``{name: value}``)."""
        return self._require_trainer("compute_metrics").compute_metrics(x, y, y_pred, sample_weight)

    @property
    def metrics(self) -> list:
        """The loss tracker and compiled metrics, then metrics kept as attributes of the model and its layers."""
        own = self._trainer.own_metrics() if self._trainer is not None else []
        seen = {id(m) for m in own}
        for obj in [self] + [m for m in self.modules() if m is not self]:
            for value in vars(obj).values():
                if isinstance(value, Metric) and id(value) not in seen:
                    seen.add(id(value))
                    own.append(value)
        return own

    @property
    def metrics_names(self) -> list[str]:
        return [m.name for m in self.metrics]

    def reset_metrics(self) -> None:
        for m in self.metrics:
            m.reset_state()

    def get_metrics_result(self) -> dict:
        """Every metric's result; a metric with a dict result adds its entries."""
        out = {}
        for m in self.metrics:
            r = m.result()
            if isinstance(r, dict):
                out.update(r)
            else:
                out[m.name] = r
        return out

    def restore_training_state(self, filepath) -> int:
        """Weights, optimizer state and RNG state from a ``.glassnet`` checkpoint; returns its epoch."""
        return io.restore_training_state(self, filepath)

    @property
    def compiled(self) -> bool:
        return self._trainer is not None

    @property
    def optimizer(self):
        return None if self._trainer is None else self._trainer.optimizer

    @optimizer.setter
    def optimizer(self, value) -> None:
        self._require_trainer("optimizer").optimizer = value

    @property
    def learning_rate(self) -> float:
        return self._require_trainer("learning_rate").learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self._require_trainer("learning_rate").learning_rate = value

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1,
            resume_from=None):
        """Train for ``epochs`` epochs; returns a ``History`` (Keras's arguments).

        ``resume_from`` continues from a checkpoint written by ``ModelCheckpoint`` or ``save``: weights,
        optimizer state, epoch and RNG state are restored once the data has been checked.
        """
        trainer = self._require_trainer("fit")
        resume = None if resume_from is None else (lambda: io.restore_training_state(self, resume_from))
        self._initial_epoch = None
        self._input_from_strings(x)
        x, validation_data = strings.encode_strings(self, x), strings.encode_validation(self, validation_data)
        with self._encoded_strings():
            return trainer.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose, callbacks=callbacks,
                               validation_split=validation_split, validation_data=validation_data,
                               shuffle=shuffle, class_weight=class_weight, sample_weight=sample_weight,
                               initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch,
                               validation_steps=validation_steps, validation_batch_size=validation_batch_size,
                               validation_freq=validation_freq, resume=resume)

    def _encoded_strings(self):
        """While the trainer works: string inputs arrive encoded by their string stage (``models.strings``)."""
        return _StringsEncoded(self)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        """Loss (and metrics) on the data, in inference mode. Masked steps do not count."""
        trainer = self._require_trainer("evaluate")
        self._input_from_strings(x)
        with self._encoded_strings():
            return trainer.evaluate(strings.encode_strings(self, x), y, batch_size=batch_size, verbose=verbose,
                                    sample_weight=sample_weight, steps=steps, callbacks=callbacks,
                                    return_dict=return_dict)

    def _inference_trainer(self) -> Trainer:
        """The trainer an uncompiled model predicts with, made once (it holds no optimizer or loss)."""
        if self.__dict__.get("_predictor") is None:
            self.__dict__["_predictor"] = Trainer.for_inference(self)  # not a submodule: kept out of state
        return self.__dict__["_predictor"]

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Outputs for ``x`` in batches: numpy in → numpy out, torch in → torch out (no compile needed)."""
        trainer = self._trainer or self._inference_trainer()
        self._input_from_strings(x)
        encoded = strings.encode_strings(self, x)
        with self._encoded_strings():
            out = trainer.predict(encoded, batch_size=batch_size, verbose=verbose, steps=steps, callbacks=callbacks)
        if encoded is not x and not isinstance(x, torch.Tensor):  # strings in → numpy out, as arrays give
            out = map_structure(lambda t: t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t, out)
        return out

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on one batch; returns the loss (and metrics)."""
        trainer = self._require_trainer("train_on_batch")
        with self._encoded_strings():
            return trainer.train_on_batch(strings.encode_strings(self, x), y, sample_weight, class_weight, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        trainer = self._require_trainer("test_on_batch")
        with self._encoded_strings():
            return trainer.test_on_batch(strings.encode_strings(self, x), y, sample_weight, return_dict)

    def predict_on_batch(self, x):
        trainer = self._trainer or self._inference_trainer()
        with self._encoded_strings():
            return trainer.predict_on_batch(strings.encode_strings(self, x))

    def get_compile_config(self) -> dict | None:
        """What Keras writes as ``compile_config`` (None when the model is not compiled)."""
        return None if self._trainer is None else self._trainer.get_compile_config()

    def compile_from_config(self, config: dict) -> None:
        """Compile from a Keras ``compile_config``; raises ValueError for what glassnet does not have."""
        self.compile(**Trainer.compile_arguments(config))

    # ------------------------------------------------------------------ analysis, summary
    def summary(self, line_length: int | None = None, positions=None, print_fn=None,
                expand_nested: bool = False, show_trainable: bool = False, costs: bool = False) -> None:
        """Print the Keras 3 summary table; variable dimensions show by name (``T``, ``H-2``).

        ``costs=True`` adds each layer's parameter formula and its multiply-adds per sample as a
        formula of the named input dimensions.
        """
        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                      expand_nested=expand_nested, show_trainable=show_trainable, costs=costs)

    def cost(self, input_shape, output_shape):
        """A model used as a layer costs what its layers cost."""
        return analysis.nested_model_cost(self)

    def work_per_step(self, x) -> int | None:
        """The forward multiply-adds of one call on the batch ``x``, from the layers' cost rules (what
        ``fit``/``evaluate``/``predict`` choose their CPU threads by, see ``glassnet.threads``); None for a
        subclassed model or when a cost is unknown. Remembered per input shape while the graph stays the same."""
        if self._subclassed or not self._inputs:
            return None
        nodes = self.graph_nodes()
        if getattr(self, "_work_cache", (None,))[0] is not nodes:
            self._work_cache = (nodes, {})
        shapes = tuple(tuple(t.shape) for t in flatten(x) if isinstance(t, torch.Tensor))
        known = self._work_cache[1]
        if shapes not in known:
            try:
                report = analysis.analyze(self, input_shape=list(shapes) if len(shapes) != 1 else shapes[0])
                known[shapes] = report.totals["macs"]
            except (ShapeError, ConfigError, ValueError, TypeError):  # the run itself will say what is wrong
                known[shapes] = None
        return known[shapes]

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        """Keras's functional config (layers with their inbound nodes, input and output layers); for a
        subclassed model, the arguments its constructor took (override it when they are not plain values)."""
        if self._subclassed:
            return Layer.get_config(self)
        return graph_config.functional_config(self)

    get_config.glassnet_default = True

    def get_build_config(self):
        if self._subclassed and self.built:
            return {"input_shape": keras_shape(self._build_shape)}
        return None

    @classmethod
    def from_config(cls, config: dict, spec: dict | None = None, custom_objects: dict | None = None) -> "Model":
        """Rebuild a model from its config: a functional graph (classes from ``layers.registry`` and
        ``custom_objects``), or a subclassed model from its constructor arguments (then built from
        ``spec["build_config"]`` when given)."""
        if "layers" in config and "input_layers" in config:
            if custom_objects:
                with registry.loading_context(custom_objects):
                    return graph_config.functional_from_config(cls, config)
            return graph_config.functional_from_config(cls, config)
        model = cls(**config)
        build = ((spec or {}).get("build_config") or {}).get("input_shape")
        if build is not None:
            model.build(_as_shapes(build))
        return model

    def to_json(self, **kwargs) -> str:
        """The model's config (Keras's ``{"module", "class_name", "config"}``) as JSON."""
        return json.dumps(registry.serialize(self), **kwargs)

    # ------------------------------------------------------------------ files (io)
    def save(self, filepath, overwrite: bool = True, _training_state: bool = False) -> None:
        """Save architecture and weights, atomically: ``.keras`` and ``.h5`` in Keras's formats (Keras 3
        loads them), anything else in the native format (JSON config + safetensors). Under data-parallel
        training only the main process writes."""
        if not distributed.is_main_process():
            return
        if not overwrite and os.path.exists(filepath):
            raise FileExistsError(f"{filepath} exists and overwrite=False.")
        io.save_model(self, filepath, training_state=_training_state)

    def save_weights(self, filepath, overwrite: bool = True) -> None:
        """Save the weights only, atomically: ``.weights.h5`` in Keras's layout, else safetensors."""
        if not distributed.is_main_process():
            return
        if not overwrite and os.path.exists(filepath):
            raise FileExistsError(f"{filepath} exists and overwrite=False.")
        io.save_weights(self, filepath)

    def load_weights(self, filepath) -> None:
        """Load weights from ``.weights.h5``, legacy ``.h5``, safetensors or ``.glassnet`` (shapes must match)."""
        io.load_weights(self, filepath)

    def export_onnx(self, filepath, input_shape=None, opset_version=None) -> str:
        """Export to ONNX with batch and variable dimensions as dynamic axes (needs glassnet[onnx])."""
        return io.export_onnx(self, filepath, input_shape, opset_version)


registry.register(Model, name="Functional", aliases=("Model",))


class _StringsEncoded:
    """The trainer's view of a model with string inputs: they arrive encoded (no-op for other models)."""

    def __init__(self, model: Model):
        self.model = model
        self.active = bool(strings.string_stage(model))

    def __enter__(self):
        if self.active:
            self.previous = self.model._strings_encoded
            self.model._strings_encoded = True
        return self

    def __exit__(self, *exc):
        if self.active:
            self.model._strings_encoded = self.previous
        return False


def _shape_structure(x):
    """The shapes of a batch structure (tensors → tuples), for building."""
    return map_structure(lambda t: tuple(t.shape) if hasattr(t, "shape") else t, x)


def _is_shape(s) -> bool:
    return isinstance(s, tuple) and all(d is None or isinstance(d, int) or not isinstance(d, (list, tuple, dict))
                                        for d in s)


def _as_shapes(shape):
    """A shape, or a list/dict of shapes, with lists turned into tuples."""
    if isinstance(shape, dict):
        return {k: _as_shapes(v) for k, v in shape.items()}
    if isinstance(shape, (list, tuple)) and shape and all(isinstance(s, (list, tuple)) for s in shape):
        return [_as_shapes(s) for s in shape]
    return tuple(shape)


def _map_shapes(shapes, fn):
    if isinstance(shapes, dict):
        return {k: _map_shapes(v, fn) for k, v in shapes.items()}
    if isinstance(shapes, list):
        return [_map_shapes(s, fn) for s in shapes]
    return fn(shapes)
