"""The state of the layer call in progress, shared by every layer: how deep it is (losses recorded by a
call are forgotten at the next outermost call, as in Keras), whether it only infers shapes (then nothing
is recorded), and the name scope that prefixes weight paths (``sequential/dense/kernel``)."""
from __future__ import annotations

import threading
import weakref
from contextlib import contextmanager

__all__ = ["CALL", "WITH_LOSSES", "enter_call", "exit_call", "call_context", "name_scope"]


class _CallState(threading.local):
    """How deep the call in progress is, whether it only infers shapes (then no losses are recorded), and the
    names of the layers being built (Keras's name scope, which prefixes weight paths)."""

    def __init__(self):
        self.depth = 0
        self.inferring = 0
        self.scope: list[str] = []


CALL = _CallState()
WITH_LOSSES: "weakref.WeakSet" = weakref.WeakSet()  # layers holding losses of their last call


def enter_call(layer) -> None:
    """At the outermost call, forget the losses the previous call recorded in this layer's tree (Keras)."""
    if CALL.depth == 0 and WITH_LOSSES:
        tree = {id(m) for m in layer.modules()}
        for other in list(WITH_LOSSES):
            if id(other) in tree:
                other._call_losses.clear()
                WITH_LOSSES.discard(other)
    CALL.depth += 1


def exit_call() -> None:
    CALL.depth -= 1


@contextmanager
def name_scope(name: str):
    """Weights created inside get ``name/`` in their path, as Keras's name scopes give them (a Sequential builds
    its layers inside its own scope: ``sequential/dense/kernel``)."""
    CALL.scope.append(name)
    try:
        yield
    finally:
        CALL.scope.pop()


@contextmanager
def call_context(layer):
    """The scope of one outermost call of ``layer``: losses recorded by a previous call are cleared first."""
    enter_call(layer)
    try:
        yield
    finally:
        exit_call()
