"""What the speed benchmarks share: child processes per measurement, interleaved rounds with a
rotating order, medians and ratios, JSON output, and the sine-window regression data.

Importing it puts the repository on ``sys.path`` (the benchmarks run from a checkout) and makes
Keras default to its torch backend.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("KERAS_BACKEND", "torch")


def sine_windows(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` noisy sine windows of 50 steps, shape (n, 50, 1), and the 51st value of each, (n, 1)."""
    t = rng.uniform(0, 100, size=(n, 1)) + np.arange(51)[None, :] * 0.1
    series = np.sin(t) + 0.1 * rng.standard_normal(t.shape)
    return series[:, :50, None].astype(np.float32), series[:, 50:51].astype(np.float32)


class EpochTimer:
    """Times epochs from inside ``fit`` (glassnet or Keras) through a LambdaCallback."""

    def __init__(self):
        self.times: list[float] = []
        self.t0 = 0.0

    def begin(self, *a, **k):
        self.t0 = time.perf_counter()

    def end(self, *a, **k):
        self.times.append(time.perf_counter() - self.t0)

    def glassnet(self):
        import glassnet as gn
        return gn.callbacks.LambdaCallback(on_epoch_begin=self.begin, on_epoch_end=self.end)

    def keras(self):
        import keras
        return keras.callbacks.LambdaCallback(on_epoch_begin=self.begin, on_epoch_end=self.end)


def torch_train_epochs(model, loss_fn, opt, xt, yt, epochs: int, batch: int) -> list[float]:
    """The hand-written PyTorch loop every benchmark compares with: one randperm per epoch, index
    the batch, zero_grad/forward/loss/backward/step, one .item() per epoch. Returns epoch seconds."""
    import torch
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(len(xt))
        total = torch.zeros(())
        for i in range(0, len(xt), batch):
            idx = perm[i:i + batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            total += loss.detach()
        total.item()
        times.append(time.perf_counter() - t0)
    return times


def timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def jax_python() -> str | None:
    """The interpreter that runs Keras on JAX: this one when jax is importable here, else
    ``$BENCH_JAX_PYTHON`` (a separate virtualenv with jax and keras), else None."""
    import importlib.util
    if importlib.util.find_spec("jax"):
        return sys.executable
    other = os.environ.get("BENCH_JAX_PYTHON")
    return other if other and os.path.exists(other) else None


def run_rounds(script: str, impls: list[str], workload: str, args: list[str], rounds: int) -> dict:
    """Run every implementation once per round in a fresh process, rotating who goes first."""
    merged: dict[str, dict] = {i: {} for i in impls}
    for r in range(rounds):
        order = impls[r % len(impls):] + impls[:r % len(impls)]
        for impl in order:
            env = dict(os.environ, KERAS_BACKEND="jax" if impl == "keras_jax" else "torch")
            python = jax_python() if impl == "keras_jax" else sys.executable
            proc = subprocess.run([python, script, "--child", impl, workload, *args],
                                  capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                raise RuntimeError(f"{impl} on workload {workload} failed:\n{proc.stderr[-3000:]}")
            rec = json.loads(proc.stdout.strip().splitlines()[-1])
            for key, value in rec.items():
                if isinstance(value, list):
                    merged[impl].setdefault(key, []).extend(value)
                else:
                    merged[impl][key] = value
    return merged


def summarise(merged: dict, key: str) -> dict[str, float]:
    return {impl: statistics.median(rec[key]) for impl, rec in merged.items() if rec.get(key)}


def minimum(merged: dict, key: str) -> dict[str, float]:
    """The fastest measurement of each implementation: the least disturbed by other load on the machine."""
    return {impl: min(rec[key]) for impl, rec in merged.items() if rec.get(key)}


def write_json(path: str | None, results: dict) -> None:
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            json.dump(results, f, indent=2)


class BackgroundLoad:
    """``n`` busy-looping processes for the duration of a ``with`` block: the "loaded" runs, a stand-in for
    the other programs on a user's machine (a notebook kernel, a browser, a second job). Stopped on exit,
    whatever happens; the load average seen is recorded in ``self.loadavg``."""

    def __init__(self, n: int):
        self.n, self.procs, self.loadavg = n, [], None

    def __enter__(self):
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(self.n)]
        if self.n:
            time.sleep(1.0)  # let the scheduler see them before anything is timed
        return self

    def __exit__(self, *exc):
        if hasattr(os, "getloadavg"):
            self.loadavg = os.getloadavg()[0]
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait()
        return False


def add_load_argument(ap) -> None:
    ap.add_argument("--load", type=int, default=0, metavar="N",
                    help="run with N busy-looping background processes (the 'loaded' measurements; 0: idle)")
