"""Shrink a disagreeing spec to a small one that still disagrees the same way (same stage, same cause).

Greedy: try each simplification in turn and keep it whenever the disagreement stays; repeat until none
helps. Simplifications: drop an output; cut an output back to the input of the call that made it; take a
nested model out on its own; drop a layer of a Sequential chain; drop one argument of a layer (its
default); drop inputs nothing reads. Used by ``run.py --seed S --reduce``.
"""
from __future__ import annotations

import copy
from typing import Callable, Iterator

try:
    from differential import generator as G
except ImportError:  # imported as tests.differential.reduce
    from . import generator as G

__all__ = ["reduce_spec"]


def _prune(spec: dict) -> dict | None:
    """Keep only the calls the outputs need, the layers those calls use and the inputs they read."""
    if spec["type"] == "sequential":
        used = set(spec["chain"])
        spec["layers"] = [e for e in spec["layers"] if e["id"] in used]
        return spec if spec["chain"] else None
    producer = {t: c for c in spec["calls"] for t in c["out"]}
    need, stack, keep = set(), list(spec["outputs"]), set()
    while stack:
        t = stack.pop()
        if t in need:
            continue
        need.add(t)
        c = producer.get(t)
        if c is None:
            continue
        keep.add(id(c))
        ins = [c["in"]] if isinstance(c["in"], int) else list(c["in"])
        stack += ins + [i for ids in (c.get("kw") or {}).values() for i in ids]
    spec["calls"] = [c for c in spec["calls"] if id(c) in keep]
    used = {c["layer"] for c in spec["calls"]}
    spec["layers"] = [e for e in spec["layers"] if e["id"] in used]
    n_in = len(spec["inputs"])
    read = sorted(i for i in need if i < n_in)
    if not read or not spec["calls"]:
        return None
    if len(read) < n_in:  # renumber: inputs first, then every other tensor id shifted to stay clear of them
        remap = {old: new for new, old in enumerate(read)}
        shift = lambda t: remap[t] if t < n_in else t + 1000  # noqa: E731
        spec["inputs"] = [spec["inputs"][i] for i in read]
        for c in spec["calls"]:
            c["in"] = shift(c["in"]) if isinstance(c["in"], int) else [shift(i) for i in c["in"]]
            if c.get("kw"):
                c["kw"] = {k: [shift(i) for i in v] for k, v in c["kw"].items()}
            c["out"] = [shift(i) for i in c["out"]]
        spec["outputs"] = [shift(i) for i in spec["outputs"]]
    return spec


def _candidates(spec: dict) -> Iterator[dict]:
    """Smaller variants of ``spec``, most radical first."""
    # a nested model on its own
    for e in G.walk_entries(spec):
        if e["kind"] == "Model":
            sub = copy.deepcopy(e["spec"])
            sub["run_dim"], sub["seed"] = spec.get("run_dim", 5), spec.get("seed", 0)
            for i in sub["inputs"]:
                i.setdefault("pad", None)
            yield sub
    if spec["type"] == "functional":
        outs = spec["outputs"]
        for k in range(len(outs)):
            if len(outs) > 1:
                s = copy.deepcopy(spec)
                s["outputs"] = outs[:k] + outs[k + 1:]
                yield s
        producer = {t: c for c in spec["calls"] for t in c["out"]}
        for k, t in enumerate(outs):
            c = producer.get(t)
            if c is None:
                continue
            ins = [c["in"]] if isinstance(c["in"], int) else list(c["in"])
            for u in ins:
                if u >= len(spec["inputs"]) and u not in outs:
                    s = copy.deepcopy(spec)
                    s["outputs"] = outs[:k] + [u] + outs[k + 1:]
                    yield s
    else:
        for k in range(len(spec["chain"])):
            if len(spec["chain"]) > 1:
                s = copy.deepcopy(spec)
                s["chain"] = spec["chain"][:k] + spec["chain"][k + 1:]
                yield s
    # layers in call order (creation order kept only if that matters)
    called = spec["chain"] if spec["type"] == "sequential" else list(dict.fromkeys(c["layer"] for c in spec["calls"]))
    if [e["id"] for e in spec["layers"]] != called:
        s = copy.deepcopy(spec)
        by_id = {e["id"]: e for e in s["layers"]}
        s["layers"] = [by_id[i] for i in called]
        yield s
    # one argument back to its default
    for path in _arg_paths(spec):
        s = copy.deepcopy(spec)
        holder, key = _resolve(s, path)
        del holder[key]
        yield s


def _arg_paths(spec: dict, prefix: tuple = ()) -> Iterator[tuple]:
    for i, e in enumerate(spec["layers"]):
        yield from _entry_arg_paths(e, prefix + ("layers", i))


# arguments a layer cannot do without (or whose default would change the shapes the spec relies on)
_REQUIRED = {"units", "filters", "kernel_size", "input_dim", "output_dim", "function", "target_shape", "dims",
             "rate", "mask_value"}


def _entry_arg_paths(e: dict, prefix: tuple) -> Iterator[tuple]:
    for key in list((e.get("args") or {})):
        if key not in _REQUIRED:
            yield prefix + ("args", key)
    for key in ("inner", "backward"):
        if key in e:
            yield from _entry_arg_paths(e[key], prefix + (key,))
    if e["kind"] == "Model":
        yield from _arg_paths(e["spec"], prefix + ("spec",))


def _resolve(spec: dict, path: tuple):
    node = spec
    for p in path[:-1]:
        node = node[p]
    return node, path[-1]


def reduce_spec(spec: dict, still_fails: Callable[[dict], bool], budget: int = 400) -> dict:
    """The smallest variant of ``spec`` found for which ``still_fails`` holds (``spec`` itself must)."""
    current = copy.deepcopy(spec)
    tries = 0
    progress = True
    while progress and tries < budget:
        progress = False
        for cand in _candidates(current):
            cand = _prune(cand)
            if cand is None:
                continue
            tries += 1
            if still_fails(cand):
                current, progress = cand, True
                break
            if tries >= budget:
                break
    return current
