"""Keras operation nodes of functional configs: arithmetic written on Keras tensors (``x + 3.0``,
``x * (1 / 6)``, ``a + b``), which Keras records as op nodes (``"module": "keras.src.ops.numpy"``, class
``Add``, ``Multiply`` …) whose arguments mix tensors and constants. glassnet rebuilds each as a
:class:`KerasOperation` layer and writes it back the way Keras does, so Keras reads the file again.

Only element-wise numpy operations are known; any other operation node is refused by name. Keras's own
mask operations (``NotEqual``, ``Any``) are not rebuilt: glassnet routes masks itself.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from ..dims import fmt_shape, is_fixed
from ..errors import ConfigError, ShapeError
from ..layers.base import Layer
from ..layers.cost import Cost, per_sample

__all__ = ["KerasOperation", "OPERATIONS", "MASK_OPERATIONS", "OP_MODULE"]

OP_MODULE = "keras.src.ops.numpy"
# boolean operations Keras's mask computations record (told apart by name only in legacy .h5 configs)
MASK_OPERATIONS = ("NotEqual", "Any", "All", "LogicalOr", "LogicalAnd", "LogicalNot")

# Keras class name → (number of arguments, torch function, what it does in words)
OPERATIONS: dict[str, tuple[int, Callable, str]] = {
    "Add": (2, torch.add, "adds"),
    "Subtract": (2, torch.subtract, "subtracts"),
    "Multiply": (2, torch.multiply, "multiplies"),
    "Divide": (2, torch.true_divide, "divides"),
    "TrueDivide": (2, torch.true_divide, "divides"),
    "Maximum": (2, torch.maximum, "takes the larger of"),
    "Minimum": (2, torch.minimum, "takes the smaller of"),
    "Power": (2, torch.pow, "raises to a power"),
    "Negative": (1, torch.negative, "negates"),
    "Absolute": (1, torch.abs, "takes the absolute value of"),
    "Abs": (1, torch.abs, "takes the absolute value of"),
    "Square": (1, torch.square, "squares"),
    "Sqrt": (1, torch.sqrt, "takes the square root of"),
}


def _broadcast(owner, shapes: list[tuple]) -> tuple:
    """numpy's broadcasting over symbolic dims (axes aligned from the right; a size 1 stretches)."""
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]
        fixed = {int(d) for d in dims if is_fixed(d) and d != 1}
        if len(fixed) > 1:
            raise ShapeError(owner._error("cannot broadcast its arguments against each other",
                                          "shapes " + ", ".join(fmt_shape(s) for s in shapes)))
        non_one = [d for d in dims if not (is_fixed(d) and d == 1)]
        fixed_dims = [d for d in non_one if is_fixed(d)]
        out.append(fixed_dims[0] if fixed_dims else (non_one[0] if non_one else 1))
    return tuple(out)


class KerasOperation(Layer):
    """One Keras operation node: ``operation`` applied to its arguments, where ``template`` holds the
    constants in their places and ``None`` where a tensor goes; the layer is called on the list of tensors.

    Example:
        >>> x = gn.Input((4,))
        >>> from glassnet.models.keras_ops import KerasOperation
        >>> KerasOperation("Subtract", [1.0, None])([x]).shape  # 1.0 - x
        (None, 4)
    """

    def __init__(self, operation: str, template: list, **kwargs):
        super().__init__(**kwargs)
        if operation not in OPERATIONS:
            raise ConfigError(f"The Keras operation '{operation}' ({self.name}) cannot be rebuilt; glassnet knows the "
                              f"element-wise operations {', '.join(OPERATIONS)}. Received: operation={operation!r}")
        arity, self._fn, self._verb = OPERATIONS[operation]
        template = list(template)
        if len(template) != arity or all(t is not None for t in template):
            raise ConfigError(f"The Keras operation {operation} '{self.name}' takes {arity} argument(s), at least one "
                              f"of them a tensor. Received: {template!r}")
        for t in template:
            if t is not None and not _is_number_array(t):
                raise ConfigError(f"The Keras operation {operation} '{self.name}' has an argument that is neither a "
                                  f"tensor nor numbers. Received: {t!r}")
        self.operation, self.template = operation, template
        self.keras_module, self.keras_class_name, self.keras_registered_name = OP_MODULE, operation, operation

    def _fill(self, tensors: list) -> list:
        it = iter(tensors)
        return [next(it) if t is None else t for t in self.template]

    def _tensors(self, inputs) -> list:
        tensors = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if len(tensors) != sum(t is None for t in self.template):
            raise ShapeError(self._error(f"takes {sum(t is None for t in self.template)} tensor(s)",
                                         f"{len(tensors)} tensor(s)"))
        return tensors

    def compute_output_shape(self, input_shape):
        shapes = self._tensors(input_shape)
        constants = [tuple(np.shape(t)) for t in self.template if t is not None]
        return _broadcast(self, [tuple(s) for s in shapes] + constants)

    def call(self, inputs):
        tensors = self._tensors(inputs)
        like = tensors[0]
        args = [a if isinstance(a, torch.Tensor) else torch.as_tensor(
            a, dtype=like.dtype if like.is_floating_point() else torch.float32, device=like.device)
            for a in self._fill(tensors)]
        return self._fn(*args)

    def keras_node_args(self, tensors) -> list:
        """The node's arguments as Keras records them: tensors and constants in their places."""
        return self._fill(self._tensors(tensors))

    def cost(self, input_shape, output_shape):
        words = ", ".join("x" if t is None else _text(t) for t in self.template)
        return Cost(other_flops=per_sample(output_shape),
                    reads=f"Keras operation {self.operation}({words}): {self._verb} element by element")

    def get_config(self):
        return {"name": self.name}

    def get_build_config(self):
        return None


def _is_number_array(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    try:
        return bool(np.all(np.isfinite(np.asarray(value, dtype=np.float64))))
    except (TypeError, ValueError):
        return False


def _text(value) -> str:
    array = np.asarray(value, dtype=np.float64)
    return f"{float(array):.6g}" if array.ndim == 0 else f"a {'×'.join(map(str, array.shape))} array"
