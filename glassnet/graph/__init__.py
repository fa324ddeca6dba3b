"""Graph primitives, below every layer: symbolic tensors, the nodes that record layer calls, and the
runner that executes a recorded graph with masks passed beside tensors.

Nothing here knows a layer class: a layer is anything with ``name``, ``built``, ``_build_from``,
``compute_output_shape``, ``compute_mask_shape``, ``compute_mask``, ``mask_rule`` and ``call``.
"""
from .node import (MASK_DROP_WARNING, Node, SymbolicTensor, call_flags, contains_symbolic, current_input_producer,
                   mask_routing, symbolic_call)
from .run import keras_order, keras_run_order, run_nodes, topological_nodes

__all__ = ["SymbolicTensor", "Node", "symbolic_call", "contains_symbolic", "current_input_producer", "call_flags",
           "MASK_DROP_WARNING", "run_nodes", "topological_nodes", "keras_order", "keras_run_order", "mask_routing"]
