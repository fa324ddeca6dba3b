"""``Variable``: a trainable weight — a ``torch.nn.Parameter`` with Keras's variable interface.

Keras code reads ``v.value``, ``v.path``, ``v.name``, calls ``v.assign(...)``, and the optimizer applies
``v.constraint`` after each step; ``v.regularizer`` adds its penalty to ``layer.losses``. A Variable is a
Parameter (autograd, ``module.to``, DDP and torch's optimizers treat it as one); its extra attributes
survive ``copy.deepcopy`` and pickling.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["Variable"]

_ATTRS = ("_name", "_path", "regularizer", "constraint")


def _rebuild(data, requires_grad, attrs):
    v = Variable(data, requires_grad)
    v.__dict__.update(attrs)
    return v


class Variable(nn.Parameter):
    """A trainable weight with ``name``, ``path``, ``value``, ``assign``, ``regularizer``, ``constraint``."""

    def __new__(cls, data=None, requires_grad: bool = True, name: str | None = None, path: str | None = None,
                regularizer=None, constraint=None):
        v = super().__new__(cls, data, requires_grad)
        v.__dict__.update({"_name": name, "_path": path, "regularizer": regularizer, "constraint": constraint})
        return v

    @property
    def name(self) -> str | None:
        """The weight's name in its layer (``"kernel"``)."""
        return self.__dict__.get("_name")

    @property
    def path(self) -> str | None:
        """``"<layer name>/<weight name>"``, as Keras's ``variable.path``."""
        return self.__dict__.get("_path")

    @property
    def value(self) -> "Variable":
        """The tensor itself (Keras's ``variable.value``; ``v.value.grad`` is the gradient)."""
        return self

    @property
    def trainable(self) -> bool:
        return self.requires_grad

    @torch.no_grad()
    def assign(self, value) -> "Variable":
        self.copy_(torch.as_tensor(value, dtype=self.dtype, device=self.device))
        return self

    @torch.no_grad()
    def assign_add(self, value) -> "Variable":
        self.add_(torch.as_tensor(value, dtype=self.dtype, device=self.device))
        return self

    @torch.no_grad()
    def assign_sub(self, value) -> "Variable":
        self.sub_(torch.as_tensor(value, dtype=self.dtype, device=self.device))
        return self

    def numpy(self, *, force: bool = False):
        return self.detach().cpu().numpy()

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        result = Variable(self.data.clone(memory_format=torch.preserve_format), self.requires_grad)
        result.__dict__.update({k: copy.deepcopy(self.__dict__.get(k), memo) for k in _ATTRS})
        memo[id(self)] = result
        return result

    def __reduce_ex__(self, proto):
        return _rebuild, (self.data, self.requires_grad, {k: self.__dict__.get(k) for k in _ATTRS})

    def __repr__(self) -> str:
        return (f"<Variable path={self.path}, shape={tuple(self.shape)}, dtype={str(self.dtype).replace('torch.', '')}, "
                f"value={self.detach().cpu().numpy()}>")
