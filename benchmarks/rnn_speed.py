"""Recurrent training speed, side by side in one run: glassnet vs hand-written PyTorch vs Keras 3.

Workloads (same data for every implementation):
  (a) LSTM(64) → Dense(1) regression on windows of shape (50, 1), batch 64;
  (b) Embedding(1000, 32, mask_zero=True) → LSTM(32) → Dense(1, sigmoid) on right-padded token
      sequences of length 5–100 (padded to 100), batch 64;
  (c) the same with GRU(64) in place of LSTM(32) (a masked GRU);
  (d) Embedding(1000, 32, mask_zero=True) → Bidirectional(LSTM(32)) → Dense(1, sigmoid) on LEFT-padded
      sequences (``pad_sequences``'s default), batch 64.

Implementations: glassnet (``fit``), hand-written PyTorch (``nn.LSTM``/``nn.GRU``; ``pack_padded_sequence``
for the masked workloads, each left-padded row first moved to the front), Keras 3 on its torch backend
(``fit``) and, when jax is importable (here, or in the interpreter ``$BENCH_JAX_PYTHON`` names), Keras 3
on JAX (run in a child process, since one process holds one Keras backend).  Rounds are interleaved and
the implementation that goes first rotates, so machine noise spreads over all of them.

Usage:
    python benchmarks/rnn_speed.py [--quick] [--json OUT.json] [--no-keras] [--workloads abcd]
Writes each implementation's median seconds per epoch and, per workload, ``ratio_vs_torch`` and
``ratio_vs_best_peer`` (glassnet ÷ the fastest other implementation).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (BackgroundLoad, EpochTimer, add_load_argument, jax_python, minimum, run_rounds, sine_windows, summarise,  # noqa: E402
                    torch_train_epochs, write_json)


def make_data(workload: str, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    if workload == "a":
        return sine_windows(n, rng)
    lengths = rng.integers(5, 101, size=n)
    x = np.zeros((n, 100), dtype=np.int64)
    for i, L in enumerate(lengths):
        tokens = rng.integers(1, 1000, size=L)
        if workload == "d":
            x[i, 100 - L:] = tokens   # left-padded, as pad_sequences writes them
        else:
            x[i, :L] = tokens
    first = np.array([row[row != 0][:5] for row in x], dtype=object)
    y = np.array([(f % 2).sum() >= 3 for f in first], dtype=np.float32)[:, None]
    return x, y


def _recurrent(L, workload):
    """The recurrent layer of workloads b, c and d, from a layers module (glassnet's or Keras's)."""
    if workload == "b":
        return L.LSTM(32)
    if workload == "c":
        return L.GRU(64)
    return L.Bidirectional(L.LSTM(32))


# ---------------------------------------------------------------------- implementations
def run_glassnet(workload, x, y, epochs, batch):
    import torch
    import glassnet as gn
    from glassnet import layers
    torch.manual_seed(0)
    if workload == "a":
        model = gn.Sequential([gn.Input((50, 1)), layers.LSTM(64), layers.Dense(1)])
        loss = "mse"
    else:
        model = gn.Sequential([gn.Input((100,), dtype="int64"), layers.Embedding(1000, 32, mask_zero=True),
                               _recurrent(layers, workload), layers.Dense(1, activation="sigmoid")])
        loss = "binary_crossentropy"
    model.compile(optimizer="adam", loss=loss)
    timer = EpochTimer()
    model.fit(x, y, batch_size=batch, epochs=epochs + 1, shuffle=True, verbose=0, callbacks=[timer.glassnet()])
    return timer.times[1:], model.count_params()


def run_torch(workload, x, y, epochs, batch):
    import torch
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence
    torch.manual_seed(0)

    class A(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(1, 64, batch_first=True)
            self.head = nn.Linear(64, 1)

        def forward(self, x):
            return self.head(self.lstm(x)[1][0][0])

    class Bm(nn.Module):
        """b, c, d: embedding, a packed recurrence (left-padded rows moved to the front first), a head."""

        def __init__(self):
            super().__init__()
            units = {"b": 32, "c": 64, "d": 32}[workload]
            self.emb = nn.Embedding(1000, 32)
            cls = nn.GRU if workload == "c" else nn.LSTM
            self.rnn = cls(32, units, batch_first=True, bidirectional=workload == "d")
            self.head = nn.Linear(units * (2 if workload == "d" else 1), 1)

        def forward(self, x):
            real = x != 0
            lengths = real.sum(1)
            if workload == "d":  # rotate each row so its real steps come first
                shift = x.shape[1] - lengths
                idx = (torch.arange(x.shape[1])[None, :] + shift[:, None]) % x.shape[1]
                x = x.gather(1, idx)
            packed = pack_padded_sequence(self.emb(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
            h = self.rnn(packed)[1]
            h = h[0] if isinstance(h, tuple) else h
            last = torch.cat([h[0], h[1]], dim=-1) if workload == "d" else h[0]
            return torch.sigmoid(self.head(last))

    model = A() if workload == "a" else Bm()
    loss_fn = nn.MSELoss() if workload == "a" else nn.BCELoss()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    times = torch_train_epochs(model, loss_fn, opt, xt, yt, epochs + 1, batch)
    return times[1:], sum(p.numel() for p in model.parameters())


def run_keras(workload, x, y, epochs, batch):
    import keras
    keras.utils.set_random_seed(0)
    if workload == "a":
        model = keras.Sequential([keras.Input((50, 1)), keras.layers.LSTM(64), keras.layers.Dense(1)])
        loss = "mse"
    else:
        model = keras.Sequential([keras.Input((100,), dtype="int32"), keras.layers.Embedding(1000, 32, mask_zero=True),
                                  _recurrent(keras.layers, workload), keras.layers.Dense(1, activation="sigmoid")])
        loss = "binary_crossentropy"
        x = x.astype(np.int32)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)
    timer = EpochTimer()
    model.fit(x, y, batch_size=batch, epochs=epochs + 1, shuffle=True, verbose=0, callbacks=[timer.keras()])
    return timer.times[1:], model.count_params()


RUNNERS = {"glassnet": run_glassnet, "torch": run_torch, "keras_torch": run_keras}


def child(impl, workload, n, epochs, batch):
    """Run one implementation in this process and print its epoch times as JSON."""
    if impl != "keras_jax":  # JAX's interpreter has no torch; XLA picks its own threads
        import torch
        torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    x, y = make_data(workload, n)
    runner = RUNNERS["keras_torch" if impl == "keras_jax" else impl]
    times, params = runner(workload, x, y, epochs, batch)
    print(json.dumps({"times": times, "params": params}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer samples, epochs and rounds")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--no-keras", action="store_true", help="skip the Keras peers")
    ap.add_argument("--workloads", default="abcd", help="which workloads to run (default: abcd)")
    ap.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    add_load_argument(ap)
    args = ap.parse_args()
    if args.child:
        impl, workload, n, epochs, batch = args.child
        child(impl, workload, int(n), int(epochs), int(batch))
        return
    n = {"a": 1024, "b": 512, "c": 512, "d": 512} if args.quick else {"a": 4096, "b": 2048, "c": 2048, "d": 2048}
    epochs, rounds = (2, 2) if args.quick else (3, 3)
    impls = ["glassnet", "torch"]
    if not args.no_keras and importlib.util.find_spec("keras"):
        impls.append("keras_torch")
        if jax_python():
            impls.append("keras_jax")
    results = {"machine": {"cpus": os.cpu_count(), "threads": int(os.environ.get("BENCH_THREADS", "2"))},
               "quick": args.quick, "load": {"busy_processes": args.load}, "workloads": {}}
    with BackgroundLoad(args.load) as load:
        _run_workloads(args, n, epochs, rounds, impls, results)
    results["load"]["loadavg_1min_at_end"] = load.loadavg
    write_json(args.json, results)


def _run_workloads(args, n, epochs, rounds, impls, results):
    for w in args.workloads:
        merged = run_rounds(__file__, impls, w, [str(n[w]), str(epochs), "64"], rounds)
        med, mins = summarise(merged, "times"), minimum(merged, "times")
        best_peer = min(v for i, v in med.items() if i != "glassnet")
        results["workloads"][w] = {
            "samples": n[w], "epochs_timed_per_round": epochs, "rounds": rounds,
            "median_s_per_epoch": med, "params": {i: r["params"] for i, r in merged.items()},
            "ratio_vs_torch": med["glassnet"] / med["torch"],
            "ratio_vs_best_peer": med["glassnet"] / best_peer,
            "best_peer": min((i for i in med if i != "glassnet"), key=med.get),
            "min_s_per_epoch": mins, "ratio_of_mins_vs_torch": mins["glassnet"] / mins["torch"],
        }
        print(f"workload {w}: " + ", ".join(f"{i} {v:.3f}s" for i, v in med.items())
              + f" | glassnet/torch {med['glassnet'] / med['torch']:.2f}x, glassnet/best peer {med['glassnet'] / best_peer:.2f}x")


if __name__ == "__main__":
    main()
