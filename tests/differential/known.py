"""Disagreement classes found by the differential test and documented by a strict xfail test in
``tests/test_conformance_found.py`` (the test named in each row). For each class: the stages it breaks and
a predicate saying whether a model has the structure that triggers it. The runner labels a failure of such
a stage on such a model with the class; the fixed-seed test leaves out exactly those stages on exactly those
models. When a class is fixed, its xfail test fails (strict): then delete its row here.

A predicate sees a ``Context``: the spec, the Keras model built from it and glassnet's twin (or None).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Iterator

try:
    from differential import generator as G
except ImportError:  # imported as tests.differential.known
    from . import generator as G

__all__ = ["Known", "Context", "KNOWN", "TRAIN", "ALL"]

TRAIN = ("train sgd", "train adam")
LOADS = ("keras->gn .keras", "keras->gn .h5")
ALL = ("twin", "keras->gn .keras", "gn->keras .keras", "keras->gn .h5", "gn->keras .h5") + TRAIN


@dataclass
class Context:
    spec: dict
    keras_model: Any
    twin: Any = None


@dataclass(frozen=True)
class Known:
    name: str                                # the xfail test in tests/test_conformance_found.py
    stages: tuple[str, ...]                  # the stages it breaks
    applies: Callable[[Context], bool]       # whether the model has the structure that triggers it


# ---------------------------------------------------------------------------------------------------------
# walking specs and Keras models

def _specs(spec: dict) -> Iterator[dict]:
    """The spec and every nested model's spec."""
    yield spec
    for e in spec["layers"]:
        if e["kind"] == "Model":
            yield from _specs(e["spec"])


def _entries(spec: dict) -> dict[int, dict]:
    return {e["id"]: e for e in spec["layers"]}


def _keras_graphs(model) -> Iterator[Any]:
    """A Keras model and every functional graph nested in it (a Sequential's is its inner Functional)."""
    import keras
    graph = getattr(model, "_functional", None) if isinstance(model, keras.Sequential) else model
    if graph is None:
        return
    yield graph
    for op in getattr(graph, "_operations", []):
        if isinstance(op, keras.Model):
            yield from _keras_graphs(op)


def _keras_ops(model) -> list[str]:
    """Class names of the non-layer operations (mask computations) recorded in a Keras model's graphs."""
    import keras
    return [type(op).__name__ for g in _keras_graphs(model) for op in g._operations
            if not isinstance(op, keras.layers.Layer)]


def _layer_signature(model) -> list:
    """Each layer of a model (nested models expanded) as its weight shapes, in ``model.layers`` order."""
    out = []
    for layer in model.layers:
        if hasattr(layer, "layers") and getattr(layer, "layers", None) is not None and hasattr(layer, "inputs"):
            out.append(_layer_signature(layer))
        else:
            out.append([tuple(w.shape) for w in layer.weights])
    return out


# ---------------------------------------------------------------------------------------------------------
# predicates

def _order_differs_with_mask_ops(ctx: Context) -> bool:
    """Keras recorded mask computations as op nodes, and glassnet lists the layers in another order."""
    return ctx.twin is not None and bool(_keras_ops(ctx.keras_model)) and \
        _layer_signature(ctx.twin) != _layer_signature(ctx.keras_model)


def _replayed_out_of_order(config: dict) -> bool:
    """Replays a Keras functional config the way glassnet's loader does (passes over the layer list, each
    node run once its inputs exist, op nodes skipped) and says whether some layer's nodes run out of order,
    so that its node numbers in the file name other tensors than in Keras."""
    entries = config.get("layers", [])
    ops = {e["name"] for e in entries if str(e.get("module", "")).startswith(("keras.src.ops", "keras.ops"))
           or e.get("class_name") in ("NotEqual", "Any")}
    done: Counter = Counter({e["name"]: 1 for e in entries if e.get("class_name") == "InputLayer"})
    order: dict[str, list[int]] = {}

    def refs(x) -> Iterator[list]:
        if isinstance(x, dict) and x.get("class_name") == "__keras_tensor__":
            yield x["config"]["keras_history"]
        elif isinstance(x, dict):
            for v in x.values():
                yield from refs(v)
        elif isinstance(x, (list, tuple)):
            for v in x:
                yield from refs(v)

    todo = [(e["name"], k, node) for e in entries if e["name"] not in ops and e.get("class_name") != "InputLayer"
            for k, node in enumerate(e.get("inbound_nodes") or [])]
    progress = True
    while todo and progress:
        progress, rest = False, []
        for name, k, node in todo:
            if all(r[0] in ops or done[r[0]] > r[1] for r in refs([node.get("args"), node.get("kwargs")])):
                done[name] += 1
                order.setdefault(name, []).append(k)
                progress = True
            else:
                rest.append((name, k, node))
        todo = rest
    if any(ks != sorted(ks) for ks in order.values()):
        return True
    return any(_replayed_out_of_order(e["config"]) for e in entries
               if e.get("class_name") == "Functional" and isinstance(e.get("config"), dict))


def _creates_mask(e: dict) -> bool:
    return e["kind"] == "Masking" or (e["kind"] == "Embedding" and bool((e.get("args") or {}).get("mask_zero")))


def _mask_flow(spec: dict, masked_inputs: frozenset = frozenset(), nested: bool = False) -> Iterator[tuple]:
    """Every call of a spec (nested specs' included, in call order) as ``(entry, call, masked, runtime_only)``:
    per input of the call, whether it may carry a mask at run time (downstream of Masking or
    Embedding(mask_zero=True) along any path, a superset), and whether that mask may be one glassnet's graph
    did not record: it exists only at run time, inside a nested model fed a masked tensor, or after a nested
    model that is fed one or makes one (Keras's symbolic outputs of a nested model carry no mask, but at run
    time its output tensors keep the masks its layers set). ``call`` is None in a Sequential."""
    by_id = _entries(spec)
    if spec["type"] == "sequential":
        masked = bool(masked_inputs)
        runtime = masked and nested
        for lid in spec["chain"]:
            e = by_id[lid]
            yield e, None, [masked], [runtime]
            if e["kind"] == "Model":
                yield from _mask_flow(e["spec"], frozenset({0}) if masked else frozenset(), True)
                if masked or any(_creates_mask(x) for x in G.walk_entries(e["spec"])):
                    masked = runtime = True
            elif _creates_mask(e):
                masked = True
        return
    masked, runtime_only = set(masked_inputs), set(masked_inputs) if nested else set()
    for c in spec["calls"]:
        e = by_id[c["layer"]]
        ins = [c["in"]] if isinstance(c["in"], int) else list(c["in"])
        m = [t in masked for t in ins]
        r = [t in runtime_only for t in ins]
        yield e, c, m, r
        if e["kind"] == "Model":
            yield from _mask_flow(e["spec"], frozenset(k for k, x in enumerate(m) if x), True)
            if any(m) or any(_creates_mask(x) for x in G.walk_entries(e["spec"])):
                masked.update(c["out"])
                runtime_only.update(c["out"])
        if any(m) or _creates_mask(e):
            masked.update(c["out"])
        if any(r):
            runtime_only.update(c["out"])


def _merge_with_runtime_only_mask(ctx: Context) -> bool:
    """A Multiply, Maximum or Minimum may get a mask that exists only at run time."""
    return any(e["kind"] in ("Multiply", "Maximum", "Minimum") and any(r)
               for e, _, _, r in _mask_flow(ctx.spec))


KNOWN: list[Known] = [
    Known("test_layer_order_counts_keras_mask_op_nodes", ALL, _order_differs_with_mask_ops),
    Known("test_merge_sees_masks_that_exist_only_at_run_time", ("twin",) + LOADS + TRAIN, _merge_with_runtime_only_mask),
]
