"""Latency of ``predict`` on one sample of a small CNN (batch 1), the way an application serves requests:
glassnet's ``predict``, the same glassnet model called directly, a hand-written torch module with the same
architecture, and Keras 3's ``predict`` on its torch backend and (when jax is importable here or through
``$BENCH_JAX_PYTHON``) on JAX. Medians of many calls after a warm-up, rounds interleaved; Keras runs in
child processes (one backend per process).

Usage:
    python benchmarks/predict_latency.py [--calls 300] [--rounds 5] [--json OUT.json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import BackgroundLoad, add_load_argument, jax_python, write_json  # noqa: E402

SHAPE = (28, 28, 1)


def _median_call(fn, calls: int) -> float:
    for _ in range(20):
        fn()
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def in_process(calls: int) -> dict:
    import torch
    from torch import nn
    import glassnet as gn
    from glassnet import layers as L
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    model = gn.Sequential([gn.Input(SHAPE), L.Conv2D(16, 3, activation="relu"), L.MaxPooling2D(),
                           L.Conv2D(32, 3, activation="relu"), L.GlobalAveragePooling2D(), L.Dense(10)])

    class Hand(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2, self.head = nn.Conv2d(1, 16, 3), nn.Conv2d(16, 32, 3), nn.Linear(32, 10)

        def forward(self, x):
            x = torch.max_pool2d(torch.relu(self.c1(x.permute(0, 3, 1, 2))), 2)
            return self.head(torch.relu(self.c2(x)).mean(dim=(2, 3)))
    hand = Hand().eval()
    x = np.random.default_rng(0).standard_normal((1, *SHAPE)).astype(np.float32)
    xt = torch.from_numpy(x)

    def call_hand():
        with torch.inference_mode():
            return hand(xt).numpy()

    def call_model():
        with torch.inference_mode():
            return model(xt).numpy()
    return {"glassnet_predict": _median_call(lambda: model.predict(x, verbose=0), calls),
            "glassnet_call": _median_call(call_model, calls),
            "torch_module": _median_call(call_hand, calls)}


def keras_child(calls: int) -> dict:
    import keras
    L = keras.layers
    model = keras.Sequential([keras.Input(SHAPE), L.Conv2D(16, 3, activation="relu"), L.MaxPooling2D(),
                              L.Conv2D(32, 3, activation="relu"), L.GlobalAveragePooling2D(), L.Dense(10)])
    x = np.random.default_rng(0).standard_normal((1, *SHAPE)).astype(np.float32)
    return {"keras_predict": _median_call(lambda: model.predict(x, verbose=0), calls)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    add_load_argument(ap)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(keras_child(args.calls)))
        return
    got: dict[str, list] = {}
    peers = [("keras_torch", sys.executable, "torch")]
    if jax_python():
        peers.append(("keras_jax", jax_python(), "jax"))
    with BackgroundLoad(args.load) as load:
        _rounds(args, peers, got)
    med = {k: statistics.median(v) for k, v in got.items()}
    best_peer = min(v for k, v in med.items() if k.startswith("keras"))
    result = {"load": {"busy_processes": args.load, "loadavg_1min_at_end": load.loadavg},
              "median_s_per_call": med,
              "ratio_vs_torch": med["glassnet_predict"] / med["torch_module"],
              "ratio_vs_best_peer": med["glassnet_predict"] / best_peer,
              "predict_vs_keras_torch": med["glassnet_predict"] / med["keras_torch"]}
    if "keras_jax" in med:
        result["predict_vs_keras_jax"] = med["glassnet_predict"] / med["keras_jax"]
    print("median µs per call: " + ", ".join(f"{k} {v * 1e6:.0f}" for k, v in med.items()))
    print(", ".join(f"{k} {v:.2f}x" for k, v in result.items() if isinstance(v, float)))
    write_json(args.json, result)


def _rounds(args, peers, got):
    for r in range(args.rounds):
        for k, v in in_process(args.calls).items():
            got.setdefault(k, []).append(v)
        for name, python, backend in peers:
            env = dict(os.environ, KERAS_BACKEND=backend)
            proc = subprocess.run([python, __file__, "--child", "1", "--calls", str(args.calls)], capture_output=True,
                                  text=True, env=env)
            if proc.returncode != 0:
                raise RuntimeError(proc.stderr[-2000:])
            got.setdefault(name, []).append(json.loads(proc.stdout.strip().splitlines()[-1])["keras_predict"])


if __name__ == "__main__":
    main()
