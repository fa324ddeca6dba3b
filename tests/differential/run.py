"""Differential test of glassnet against Keras 3 (torch backend) on random models.

For each seed, ``generator.generate(seed)`` draws a model spec and :func:`check_spec` compares the two
frameworks on it, stage by stage:

- build: Keras builds the spec (a spec Keras refuses, or cannot run on the data, is skipped and counted),
  gets random non-constant weights and predicts on data with left, right and middle padding.
- ``twin``: glassnet builds the same spec with the same code; Keras's weights are copied in with
  ``set_weights``; output shapes, parameter count and predictions must agree.
- ``keras->gn .keras`` / ``gn->keras .keras``: Keras saves, glassnet loads and predicts the same; glassnet
  (its twin) saves, Keras loads and predicts the same. ``… .h5``: the same through legacy ``.h5`` files,
  for a third of the seeds.
- ``train sgd`` / ``train adam`` (Adam for a third of the seeds): one ``train_on_batch`` on both with the
  same weights, batch and targets (loss mse on every output): the loss and every weight afterwards agree.

Agreement is ``max|glassnet - keras| <= 1e-5 · max(1, max|keras|)`` per tensor. Masks do not change the
comparison: every position of every output is compared, masked ones included (Keras defines them). A
larger difference that stays within Keras's own float32 round-off noise on the model is round-off
(``_roundoff_only``). Failures in a stage that a documented class (``known.py``) breaks for the model are
labelled with the class; what glassnet refuses on purpose (``BY_DESIGN``) is reported apart.

Command line::

    python tests/differential/run.py --minutes 30 --seed-start 0 [--out report.json]
    python tests/differential/run.py --seed 123 [--reduce]   # replay one seed; shrink its first disagreement
    python tests/differential/run.py --spec spec.json         # replay a spec (as --seed prints it)

``--skip-known`` leaves out the documented classes' stages, as ``tests/test_differential.py`` does.
"""
from __future__ import annotations

import os
import sys

if __name__ == "__main__":  # a script: import this checkout's glassnet and the generator next to this file
    _ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.path[:0] = [_ROOT, os.path.join(_ROOT, "tests")]
    os.environ.setdefault("KERAS_BACKEND", "torch")

import argparse
import json
import logging
import re
import tempfile
import time
import traceback
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import keras
import numpy as np
import torch

import glassnet as gn

try:
    from differential import generator as G
    from differential.known import KNOWN, Context
    from differential.reduce import reduce_spec
except ImportError:  # imported as tests.differential.run
    from . import generator as G
    from .known import KNOWN, Context
    from .reduce import reduce_spec

__all__ = ["check_spec", "check_seed", "Result", "STAGES", "compare", "quiet", "main"]

RTOL = 1e-5
# a difference beyond RTOL still counts as round-off when it is within this factor of how far Keras's own
# results move under float32-sized changes of weights and inputs (see _roundoff_only)
NOISE_FACTOR = 10.0
LR_SGD = 0.1
LR_ADAM = 1e-3
# Adam's epsilon for the step: large enough that a gradient which is zero up to round-off (a bias before
# BatchNormalization) is not blown up to a full ``lr``-sized step of random sign, which neither framework
# would agree on; Keras's default 1e-7 would make such gradients decide the comparison
ADAM_EPSILON = 1e-3
BATCH = 4
TRAIN = ("train sgd", "train adam")
STAGES = ("twin", "keras->gn .keras", "gn->keras .keras", "keras->gn .h5", "gn->keras .h5", "train sgd",
          "train adam")


def h5_subset(seed: int) -> bool:
    """The seeds that also go through legacy .h5 files."""
    return seed % 3 == 0


def adam_subset(seed: int) -> bool:
    """The seeds that also take an Adam step."""
    return seed % 3 == 1


# what glassnet refuses on purpose, with a message saying so: reported apart ("refused by design"), not
# counted as a disagreement; (stage prefix, pattern of the error message)
BY_DESIGN: list[tuple[str, str]] = [
    # glassnet writes no Python bytecode into Keras files (Keras stores a lambda's marshalled code)
    ("gn->keras", r"Lambda layer .* cannot be written to a Keras file: glassnet does not serialise Python functions"),
]


def by_design(stage: str, exc: BaseException) -> bool:
    return any(stage.startswith(s) and re.search(p, str(exc)) for s, p in BY_DESIGN)


# ---------------------------------------------------------------------------------------------------------
# one spec

@dataclass
class Result:
    seed: int
    status: str = "agree"                          # agree | disagree | skip
    skip_reason: str | None = None
    failures: list[dict] = field(default_factory=list)   # {"stage", "cause", "detail", "known"}
    checked: list[str] = field(default_factory=list)       # stages compared
    not_compared: list[str] = field(default_factory=list)  # "stage: why not"
    description: str = ""
    known: dict[str, list[str]] = field(default_factory=dict)  # stage -> documented classes that apply
    roundoff: list[str] = field(default_factory=list)  # stages whose difference is round-off (_roundoff_only)

    def fail(self, stage: str, cause: str, detail: str = "") -> None:
        self.failures.append({"stage": stage, "cause": cause, "detail": detail[:2000],
                              "known": self.known.get(stage, [])})
        self.status = "disagree"

    @property
    def explained(self) -> bool:
        """Every failure falls in a stage that a documented class breaks for this model."""
        return all(f["known"] for f in self.failures)


class Skip(Exception):
    """Keras itself refuses or cannot run the spec."""


def _normalise(msg: str) -> str:
    """An error message with names, numbers and paths taken out, so messages of one cause group together."""
    msg = msg.strip().splitlines()[0] if msg.strip() else ""
    msg = re.sub(r"0x[0-9a-fA-F]+", "ADDR", msg)
    msg = re.sub(r"/\S+", "PATH", msg)
    msg = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", msg)
    msg = re.sub(r"\(\s*(None|\d+)(\s*,\s*(None|\d+))*\s*,?\s*\)", "(SHAPE)", msg)
    msg = re.sub(r"\d+", "N", msg)
    return msg[:160]


def _cause(exc: BaseException) -> str:
    root = exc
    while root.__cause__ is not None and isinstance(root.__cause__, Exception):
        root = root.__cause__
    return f"{type(root).__name__}: {_normalise(str(root))}"


def random_weights(model, rng: np.random.Generator) -> list[np.ndarray]:
    """Random non-constant weights for every variable of a Keras model; positive where a variance is."""
    out = []
    for v in model.weights:
        shape = tuple(v.shape)
        if "variance" in v.path:
            out.append(rng.uniform(0.5, 1.5, shape).astype(np.float32))
        else:
            out.append((rng.standard_normal(shape) * 0.5).astype(np.float32))
    return out


def make_inputs(spec: dict, rng: np.random.Generator, batch: int = BATCH) -> list[np.ndarray]:
    """Data for the spec's inputs. Sequences that can be masked are padded: row 0 has a gap in the middle,
    row 1 is right-padded, row 2 left-padded, row 3 not padded (every row keeps a real step)."""
    xs = []
    for inp in spec["inputs"]:
        shape = [batch] + [d if d is not None else spec["run_dim"] for d in inp["shape"]]
        if inp["dtype"].startswith("int"):
            x = rng.integers(1, inp["vocab"], size=shape).astype(np.int32)
            value = 0
        else:
            x = rng.standard_normal(shape).astype(np.float32)
            value = inp.get("pad")
        if value is not None and len(shape) >= 2 and shape[1] >= 3:
            T = shape[1]
            x[0, 1:min(3, T - 1)] = value
            x[1, T - 2:] = value
            x[2, :2] = value
        xs.append(x)
    return xs


def _as_list(out) -> list:
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def compare(got, want, rtol: float = RTOL) -> str | None:
    """None when ``got`` agrees with ``want`` to ``rtol`` of ``want``'s scale, else what differs."""
    a, b = _np(got).astype(np.float64), _np(want).astype(np.float64)
    if a.shape != b.shape:
        return f"shape {a.shape} vs {b.shape}"
    if not a.size:
        return None
    nan_a, nan_b = ~np.isfinite(a), ~np.isfinite(b)
    if (nan_a != nan_b).any():
        return f"non-finite values differ ({int(nan_a.sum())} vs {int(nan_b.sum())})"
    fin = ~nan_b
    if not fin.any():
        return None
    scale = max(1.0, float(np.abs(b[fin]).max()))
    err = float(np.abs(a[fin] - b[fin]).max())
    if err > rtol * scale:
        return f"max |diff| {err:.3g} at scale {scale:.3g}"
    return None


def outputs_diff(got: list, want: list, rtol: float = RTOL) -> tuple[str, str] | None:
    """None when every output agrees, else (cause, detail) for the first that does not."""
    if len(got) != len(want):
        return "number of outputs differs", f"{len(got)} vs {len(want)}"
    for i, (a, b) in enumerate(zip(got, want)):
        diff = compare(a, b, rtol)
        if diff is not None:
            return ("output shapes differ" if diff.startswith("shape") else "outputs differ"), f"output {i}: {diff}"
    return None


def _torch_inputs(xs: list[np.ndarray]):
    ts = [torch.from_numpy(x.copy()) for x in xs]
    return ts[0] if len(ts) == 1 else ts


def _predict(model, xs) -> list[np.ndarray]:
    with torch.no_grad():
        return [_np(o) for o in _as_list(model(_torch_inputs(xs), training=False))]


def _shapes(shape) -> list[tuple]:
    if isinstance(shape, list) and shape and isinstance(shape[0], (list, tuple)):
        return [tuple(s) for s in shape]
    return [tuple(shape)]


def _train_step(framework: str, model, optimizer: str, n_out: int, xs, ys):
    lr = LR_SGD if optimizer == "sgd" else LR_ADAM
    loss = "mse" if n_out == 1 else ["mse"] * n_out
    if framework == "keras":
        opt = keras.optimizers.SGD(learning_rate=lr) if optimizer == "sgd" else \
            keras.optimizers.Adam(learning_rate=lr, epsilon=ADAM_EPSILON)
        model.compile(optimizer=opt, loss=loss)
        logs = model.train_on_batch(xs[0] if len(xs) == 1 else xs, ys[0] if n_out == 1 else ys, return_dict=True)
    else:
        opt = gn.optimizers.SGD(learning_rate=lr) if optimizer == "sgd" else \
            gn.optimizers.Adam(learning_rate=lr, epsilon=ADAM_EPSILON)
        model.compile(optimizer=opt, loss=loss)
        logs = model.train_on_batch(xs[0] if len(xs) == 1 else xs, ys[0] if n_out == 1 else ys, return_dict=True)
    return float(logs["loss"])


def step_diff(k_loss, k_after, g_loss, g_after, paths, rtol: float = RTOL) -> tuple[str, str] | None:
    """None when the losses and every weight after the step agree, else (cause, detail)."""
    diff = compare(g_loss, k_loss, rtol)
    if diff is not None and np.isfinite(k_loss):
        return "loss differs", f"{g_loss!r} vs {k_loss!r}: {diff}"
    for i, (a, b) in enumerate(zip(g_after, k_after)):
        diff = compare(a, b, rtol)
        if diff is not None:
            return "weights differ after the step", f"weight {i} ({paths[i]}): {diff}"
    return None


def _perturbed(arrays: list, rng: np.random.Generator, keep: tuple = (0.0, 1.0)) -> list:
    """Float arrays times (1 + u·2⁻²³), u uniform in [-1, 1]: a change at the size of float32 round-off.
    Values in ``keep`` stay as they are: padded steps hold them, and a Masking layer must still see them."""
    out = []
    for a in arrays:
        if a.dtype.kind != "f":
            out.append(a)
            continue
        factor = 1 + rng.uniform(-1, 1, a.shape) * 2.0 ** -23
        out.append(np.where(np.isin(a, keep), a, a * factor).astype(a.dtype))
    return out


def _roundoff_only(spec: dict, stage: str, ws: list, xs: list, got: list, want: list,
                   ys: list | None = None) -> bool:
    """Whether glassnet's results ``got`` differ from Keras's ``want`` by no more than float32 round-off
    moves Keras's own results on this model.

    Keras runs again, twice, on weights and inputs changed at the size of float32 round-off; how far that
    moves its results is the model's round-off noise, and a difference within ``NOISE_FACTOR`` times that
    noise (per tensor) is round-off, not semantics. It happens where a computation cancels digits: Keras
    computes BatchNormalization's batch variance as E[x²] - E[x]² (backend/torch/nn.py moments, "faster but
    less numerically stable"), which loses digits when a feature varies little over the batch; glassnet's
    two-pass variance does not. (Running both in float64 cannot settle it: Keras 3.15.1's torch backend runs
    float64 matmuls and BatchNormalization in float32, as its dtypes.result_type of torch.float64 gives float32.)

    ``got``/``want``: lists of arrays (the outputs; or the loss then every weight after a step, when ``ys``).
    """
    rng = np.random.default_rng(12345)
    noise = [0.0] * len(want)
    try:
        for _ in range(2):
            km = G.build(spec, keras.layers, keras.Input, keras.Model, keras.Sequential)
            km.set_weights(_perturbed(ws, rng))
            x = _perturbed(xs, rng)
            if ys is None:
                run = _predict(km, x)
            else:
                loss = _train_step("keras", km, stage.split()[1], len(ys), x, ys)
                run = [np.float64(loss)] + km.get_weights()
            noise = [max(n, float(np.abs(np.asarray(r, np.float64) - np.asarray(w, np.float64)).max(initial=0)))
                     for n, r, w in zip(noise, run, want)]
    except Exception:  # noqa: BLE001  (no noise estimate: the difference stands)
        return False
    for g, w, n in zip(got, want, noise):
        d = float(np.abs(np.asarray(g, np.float64) - np.asarray(w, np.float64)).max(initial=0))
        if d > NOISE_FACTOR * n and compare(g, w) is not None:
            return False
    return True


def _has_random_training(spec: dict) -> bool:
    """Dropout that is active in training makes a training step random: such specs are not stepped."""
    for e in G.walk_entries(spec):
        a = e.get("args") or {}
        if (e["kind"] == "Dropout" and a.get("rate", 0) > 0) or a.get("dropout", 0) > 0 \
                or a.get("recurrent_dropout", 0) > 0:
            return True
    return False


def _uses_lambda(spec: dict) -> bool:
    return any(e["kind"] == "Lambda" for e in G.walk_entries(spec))


def check_spec(spec: dict, tmpdir: str, skip_known: bool = False, stages: tuple[str, ...] | None = None) -> Result:
    """Compare glassnet with Keras on one spec (see the module docstring); nothing raises, the result says.

    ``skip_known`` leaves out the stages that a documented disagreement class (``known.KNOWN``) breaks for
    this model; otherwise their failures are labelled with the class."""
    seed = spec.get("seed", 0)
    result = Result(seed, description=G.describe(spec))
    if stages is None:
        stages = tuple(s for s in STAGES if not ((s.endswith(".h5") and not h5_subset(seed))
                                                 or (s == "train adam" and not adam_subset(seed))))
    rng = np.random.default_rng(seed)
    safe = not _uses_lambda(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            km = G.build(spec, keras.layers, keras.Input, keras.Model, keras.Sequential)
            ws = random_weights(km, rng)
            km.set_weights(ws)
            xs = make_inputs(spec, rng)
            want = _predict(km, xs)
            if not all(np.isfinite(w).all() for w in want):
                raise Skip("Keras predicts non-finite values")
        except Skip as exc:
            result.status, result.skip_reason = "skip", str(exc)
            return result
        except Exception as exc:  # noqa: BLE001
            result.status, result.skip_reason = "skip", f"Keras refuses: {_cause(exc)}"
            return result
        n_out = len(want)

        # -- glassnet's twin, built by the same code
        twin, twin_error = None, None
        try:
            twin = G.build(spec, gn.layers, gn.Input, gn.Model, gn.Sequential)
        except Exception as exc:  # noqa: BLE001
            twin_error = (f"glassnet cannot build the model: {_cause(exc)}", traceback.format_exc())
        ctx = Context(spec, km, twin)
        for k in KNOWN:
            if any(st in stages for st in k.stages) and k.applies(ctx):
                for st in k.stages:
                    result.known.setdefault(st, []).append(k.name)
        if skip_known:
            stages = tuple(st for st in stages if st not in result.known)
        # a twin that cannot be built or take Keras's weights fails "twin", unless a documented class
        # explains "twin" and its stages are left out
        report_twin = any(st in stages for st in ("twin", "gn->keras .keras", "gn->keras .h5") + TRAIN) and \
            not (skip_known and "twin" in result.known)
        if twin_error is not None and report_twin:
            result.fail("twin", *twin_error)
        if twin is not None:
            try:
                twin.set_weights([w.copy() for w in ws])
            except Exception as exc:  # noqa: BLE001
                if report_twin:
                    result.fail("twin", f"set_weights: {_cause(exc)}", traceback.format_exc())
                twin = None
        if twin is not None and "twin" in stages:
            result.checked.append("twin")
            try:
                if _shapes(twin.output_shape) != _shapes(km.output_shape):
                    result.fail("twin", "symbolic output shapes differ", f"{twin.output_shape} vs {km.output_shape}")
                elif twin.count_params() != km.count_params():
                    result.fail("twin", "parameter counts differ", f"{twin.count_params()} vs {km.count_params()}")
                else:
                    twin_pred = _predict(twin, xs)
                    diff = outputs_diff(twin_pred, want)
                    if diff is not None:
                        if _roundoff_only(spec, "twin", ws, xs, twin_pred, want):
                            result.roundoff.append("twin")
                        else:
                            result.fail("twin", *diff)
            except Exception as exc:  # noqa: BLE001
                result.fail("twin", f"predict: {_cause(exc)}", traceback.format_exc())

        # -- files both ways
        for suffix in (".keras", ".h5"):
            if f"keras->gn {suffix}" in stages:
                result.checked.append(f"keras->gn {suffix}")
                path = os.path.join(tmpdir, f"k{suffix}")
                try:
                    km.save(path)
                except Exception as exc:  # noqa: BLE001
                    result.not_compared.append(f"keras->gn {suffix}: Keras cannot save: {_cause(exc)}")
                else:
                    try:
                        loaded = gn.load_model(path, safe_mode=safe)
                        got = _predict(loaded, xs)
                        diff = outputs_diff(got, want)
                        if diff is not None:
                            if _roundoff_only(spec, "twin", ws, xs, got, want):
                                result.roundoff.append(f"keras->gn {suffix}")
                            else:
                                result.fail(f"keras->gn {suffix}", *diff)
                    except Exception as exc:  # noqa: BLE001
                        result.fail(f"keras->gn {suffix}", f"load/predict: {_cause(exc)}", traceback.format_exc())
            if f"gn->keras {suffix}" in stages and twin is not None:
                result.checked.append(f"gn->keras {suffix}")
                path = os.path.join(tmpdir, f"g{suffix}")
                try:
                    twin.save(path)
                except Exception as exc:  # noqa: BLE001
                    if by_design(f"gn->keras {suffix}", exc):
                        result.checked.remove(f"gn->keras {suffix}")
                        result.not_compared.append(f"gn->keras {suffix}: refused by design: {_cause(exc)}")
                    else:
                        result.fail(f"gn->keras {suffix}", f"glassnet cannot save: {_cause(exc)}",
                                    traceback.format_exc())
                    continue
                try:
                    back = keras.models.load_model(path, safe_mode=safe, **({"compile": False} if suffix == ".h5" else {}))
                    # Keras against Keras: no round-off to allow
                    failure = outputs_diff(_predict(back, xs), want)
                except Exception as exc:  # noqa: BLE001
                    failure = (f"Keras load/predict: {_cause(exc)}", traceback.format_exc())
                if failure is not None:
                    # Keras 3.15.1 does not always read its own files back (legacy .h5: LayerNormalization's
                    # axis list, some layers' weights): then glassnet's file is not to blame
                    own = _keras_round_trip(km, os.path.join(tmpdir, f"kk{suffix}"), safe, xs, want)
                    if own is not None:
                        result.checked.remove(f"gn->keras {suffix}")
                        result.not_compared.append(f"gn->keras {suffix}: Keras does not read its own file back: {own}")
                    else:
                        result.fail(f"gn->keras {suffix}", *failure)

        # -- one optimizer step
        for stage in ("train sgd", "train adam"):
            if stage not in stages or twin is None:
                continue
            if _has_random_training(spec):
                result.not_compared.append(f"{stage}: dropout is random in training")
                continue
            result.checked.append(stage)
            ys = [rng.standard_normal(w.shape).astype(np.float32) for w in want]
            km.set_weights(ws)
            twin.set_weights([w.copy() for w in ws])
            try:
                k_loss = _train_step("keras", km, stage.split()[1], n_out, xs, ys)
                k_after = km.get_weights()
            except Exception as exc:  # noqa: BLE001
                result.not_compared.append(f"{stage}: Keras cannot take the step: {_cause(exc)}")
                continue
            try:
                g_loss = _train_step("glassnet", twin, stage.split()[1], n_out, xs, ys)
                g_after = twin.get_weights()
            except Exception as exc:  # noqa: BLE001
                result.fail(stage, f"glassnet cannot take the step: {_cause(exc)}", traceback.format_exc())
                continue
            diff = step_diff(k_loss, k_after, g_loss, g_after, [v.path for v in km.weights])
            if diff is not None:
                if _roundoff_only(spec, stage, ws, xs, [np.float64(g_loss)] + g_after, [np.float64(k_loss)] + k_after,
                                  ys=ys):
                    result.roundoff.append(stage)
                else:
                    result.fail(stage, *diff)
    return result


def _keras_round_trip(km, path, safe, xs, want) -> str | None:
    """None if Keras loads its own file of this model and predicts the same, else why not."""
    try:
        km.save(path)
        back = keras.models.load_model(path, safe_mode=safe, **({"compile": False} if path.endswith(".h5") else {}))
        got = _predict(back, xs)
    except Exception as exc:  # noqa: BLE001
        return _cause(exc)
    for a, b in zip(got, want):
        if compare(a, b) is not None:
            return "different predictions"
    return None


def check_seed(seed: int, tmpdir: str, skip_known: bool = False) -> Result:
    return check_spec(G.generate(seed), tmpdir, skip_known)


# ---------------------------------------------------------------------------------------------------------
# command line

def quiet() -> None:
    """No legacy-.h5 notices from Keras (absl logging); one thread, as the test suite runs."""
    logging.getLogger("absl").setLevel(logging.ERROR)
    torch.set_num_threads(1)


def _summary(results: list[Result], elapsed: float, seeds: tuple[int, int]) -> str:
    built = [r for r in results if r.status != "skip"]
    agreed = [r for r in built if r.status == "agree"]
    disagreed = [r for r in built if r.status == "disagree"]
    lines = [f"seeds {seeds[0]}..{seeds[1]} ({len(results)} specs) in {elapsed / 60:.1f} min",
             f"models built by Keras: {len(built)}; agreed: {len(agreed)}; disagreed: {len(disagreed)}; "
             f"skipped: {len(results) - len(built)}"]
    known, causes = Counter(), Counter()
    for r in disagreed:
        for c in {" + ".join(f["known"]) for f in r.failures if f["known"]}:
            known[c] += 1
        for c in {f"[{f['stage']}] {f['cause']}" for f in r.failures if not f["known"]}:
            causes[c] += 1
    unexplained = [r for r in disagreed if not r.explained]
    lines.append(f"disagreements explained by documented classes only: {len(disagreed) - len(unexplained)}; "
                 f"with an unexplained failure: {len(unexplained)}")
    if known:
        lines.append("documented classes (tests/test_conformance_found.py), models with a failure they explain:")
        lines += [f"  {n:5d}  {c}" for c, n in known.most_common()]
    if causes:
        lines.append("unexplained failures by cause (models; a model may have several):")
        lines += [f"  {n:5d}  {c}" for c, n in causes.most_common()]
    skips = Counter(r.skip_reason for r in results if r.status == "skip")
    if skips:
        lines.append("skipped (Keras refuses or cannot run the spec):")
        lines += [f"  {n:5d}  {c}" for c, n in skips.most_common(15)]
    nc = Counter(re.sub(r":.*", "", x) + ": " + _normalise(x.split(": ", 1)[1]) for r in built for x in r.not_compared)
    if nc:
        lines.append("stages not compared:")
        lines += [f"  {n:5d}  {c}" for c, n in nc.most_common(10)]
    roundoff = Counter(s for r in built for s in r.roundoff)
    if roundoff:
        lines.append("differences within Keras's own float32 round-off noise (counted as agreeing): "
                     + ", ".join(f"{s} {n}" for s, n in roundoff.items()))
    checked = Counter(s for r in built for s in r.checked)
    lines.append("stages compared: " + ", ".join(f"{s} {checked[s]}" for s in STAGES))
    return "\n".join(lines)


def _write_report(path: str, results: list[Result], start: float, first_seed: int) -> str:
    summary = _summary(results, time.time() - start, (first_seed, first_seed + len(results) - 1))
    report = {"summary": summary.splitlines(),
              "disagreements": [{"seed": r.seed, "description": r.description,
                                 "failures": [{k: f[k] for k in ("stage", "cause", "known")}
                                              | {"detail": f["detail"][-600:]} for f in r.failures]}
                                for r in results if r.status == "disagree"],
              "skipped": [{"seed": r.seed, "reason": r.skip_reason} for r in results if r.status == "skip"]}
    with open(path, "w") as fh:
        json.dump(report, fh, indent=1)
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Differential test of glassnet against Keras 3 on random models.")
    p.add_argument("--minutes", type=float, default=1.0, help="run until this much time has passed")
    p.add_argument("--seed-start", type=int, default=0, help="the first seed")
    p.add_argument("--seed", type=int, help="replay one seed and print its description and failures")
    p.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "glassnet_differential.json"),
                   help="the JSON report: summary, each disagreement's seed, description and causes, the skips")
    p.add_argument("--spec", help="replay a spec from a JSON file (as --seed prints it) instead of a seed")
    p.add_argument("--reduce", action="store_true",
                   help="with --seed: shrink the spec while its first disagreement stays, and print the result")
    p.add_argument("--skip-known", action="store_true",
                   help="leave out the stages of documented disagreement classes (as the fixed-seed test does)")
    args = p.parse_args(argv)
    quiet()
    with tempfile.TemporaryDirectory() as tmp:
        if args.seed is not None or args.spec:
            if args.spec:
                with open(args.spec) as fh:
                    spec = json.load(fh)
            else:
                spec = G.generate(args.seed)
            print(json.dumps(spec))
            r = check_spec(spec, tmp, args.skip_known)
            print(r.description)
            print(f"status: {r.status}" + (f" ({r.skip_reason})" if r.skip_reason else ""))
            print("checked:", ", ".join(r.checked), "| not compared:", "; ".join(r.not_compared) or "-")
            for f in r.failures:
                print(f"--- [{f['stage']}] {f['cause']}" + (f"  (known: {', '.join(f['known'])})" if f["known"] else "")
                      + f"\n{f['detail']}")
            if args.reduce and r.failures:
                stage, cause = r.failures[0]["stage"], r.failures[0]["cause"]

                def still_fails(candidate: dict) -> bool:
                    got = check_spec(candidate, tmp, stages=(stage,))
                    return any(f["stage"] == stage and f["cause"] == cause for f in got.failures)

                small = reduce_spec(spec, still_fails)
                print(f"=== reduced, still [{stage}] {cause}:\n{G.describe(small)}")
                print(json.dumps(small))
            return 0 if r.status != "disagree" else 1
        start, deadline = time.time(), time.time() + args.minutes * 60
        results: list[Result] = []
        seed = args.seed_start
        while time.time() < deadline:
            try:
                results.append(check_seed(seed, tmp, args.skip_known))
            except Exception as exc:  # noqa: BLE001  (the generator itself failed: report, go on)
                results.append(Result(seed, status="skip", skip_reason=f"generator: {_cause(exc)}"))
            seed += 1
            if len(results) % 100 == 0:  # a run cut short still leaves its report
                _write_report(args.out, results, start, args.seed_start)
        summary = _write_report(args.out, results, start, args.seed_start)
        print(summary)
        print(f"report written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
