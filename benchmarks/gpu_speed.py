"""Training speed on a CUDA GPU: glassnet's ``fit`` against a hand-written PyTorch loop (cuDNN kernels),
both moving each batch from pinned CPU memory to the GPU, interleaved in one process.

Workloads (as in rnn_speed.py and fit_speed.py): (a) LSTM(64) regression on (50, 1) windows;
(b) Embedding(mask_zero) → LSTM(32), right-padded; (c) the same with GRU(64); (d) Bidirectional(LSTM(32)),
left-padded; (B) Conv(64, 3×3) → Conv(32, 7×7) → GAP → Dense(10) on 28×28×1. Batch 64.

Usage:
    python benchmarks/gpu_speed.py [--rounds 3] [--epochs 3] [--json OUT.json]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import os
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import sine_windows, write_json  # noqa: E402


def data(workload: str, n: int, rng):
    if workload == "a":
        return sine_windows(n, rng)
    if workload == "B":
        return rng.standard_normal((n, 28, 28, 1)).astype(np.float32), rng.integers(0, 10, n)
    lengths = rng.integers(5, 101, size=n)
    x = np.zeros((n, 100), dtype=np.int64)
    for i, L in enumerate(lengths):
        tokens = rng.integers(1, 1000, size=L)
        if workload == "d":
            x[i, 100 - L:] = tokens
        else:
            x[i, :L] = tokens
    return x, rng.integers(0, 2, (n, 1)).astype(np.float32)


def glassnet_model(workload):
    import glassnet as gn
    from glassnet import layers as L
    if workload == "a":
        return gn.Sequential([gn.Input((50, 1)), L.LSTM(64), L.Dense(1)]), "mse"
    if workload == "B":
        return (gn.Sequential([gn.Input((28, 28, 1)), L.Conv2D(64, 3, activation="relu"),
                               L.Conv2D(32, 7, activation="relu"), L.GlobalAveragePooling2D(), L.Dense(10)]),
                ("sparse_categorical_crossentropy", {"from_logits": True}))
    rnn = {"b": lambda: L.LSTM(32), "c": lambda: L.GRU(64), "d": lambda: L.Bidirectional(L.LSTM(32))}[workload]()
    return (gn.Sequential([gn.Input((100,), dtype="int64"), L.Embedding(1000, 32, mask_zero=True), rnn,
                           L.Dense(1, activation="sigmoid")]), "binary_crossentropy")


def torch_model(workload):
    import torch
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence

    class A(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm, self.head = nn.LSTM(1, 64, batch_first=True), nn.Linear(64, 1)

        def forward(self, x):
            return self.head(self.lstm(x)[1][0][0])

    class CNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2, self.head = nn.Conv2d(1, 64, 3), nn.Conv2d(64, 32, 7), nn.Linear(32, 10)

        def forward(self, x):
            x = torch.relu(self.c2(torch.relu(self.c1(x.permute(0, 3, 1, 2)))))
            return self.head(x.mean(dim=(2, 3)))

    class Masked(nn.Module):
        def __init__(self):
            super().__init__()
            units = {"b": 32, "c": 64, "d": 32}[workload]
            self.emb = nn.Embedding(1000, 32)
            self.rnn = (nn.GRU if workload == "c" else nn.LSTM)(32, units, batch_first=True,
                                                                 bidirectional=workload == "d")
            self.head = nn.Linear(units * (2 if workload == "d" else 1), 1)

        def forward(self, x):
            lengths = (x != 0).sum(1)
            if workload == "d":
                shift = x.shape[1] - lengths
                idx = (torch.arange(x.shape[1], device=x.device)[None, :] + shift[:, None]) % x.shape[1]
                x = x.gather(1, idx)
            packed = pack_padded_sequence(self.emb(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
            h = self.rnn(packed)[1]
            h = h[0] if isinstance(h, tuple) else h
            return torch.sigmoid(self.head(torch.cat([h[0], h[1]], -1) if workload == "d" else h[0]))

    if workload == "a":
        return A(), nn.MSELoss()
    if workload == "B":
        return CNN(), nn.CrossEntropyLoss()
    return Masked(), nn.BCELoss()


def time_torch(workload, x, y, epochs, batch):
    import torch
    model, loss_fn = torch_model(workload)
    model = model.cuda()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    xt, yt = torch.from_numpy(x).pin_memory(), torch.from_numpy(y).pin_memory()
    times = []
    for _ in range(epochs + 1):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), batch):
            idx = perm[i:i + batch]
            xb, yb = xt[idx].cuda(non_blocking=True), yt[idx].cuda(non_blocking=True)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return times[1:]


def time_glassnet(workload, x, y, epochs, batch):
    import torch
    import glassnet as gn
    model, loss = glassnet_model(workload)
    model = model.to("cuda")
    model.compile("adam", loss)
    times, t0 = [], [0.0]

    def begin(*_):
        torch.cuda.synchronize()
        t0[0] = time.perf_counter()

    def end(*_):
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0[0])
    model.fit(x, y, batch_size=batch, epochs=epochs + 1, verbose=0,
              callbacks=[gn.callbacks.LambdaCallback(on_epoch_begin=begin, on_epoch_end=end)])
    return times[1:]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()
    import torch
    if not torch.cuda.is_available():
        sys.exit("no CUDA device")
    results = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "workloads": {}}
    n = {"a": 4096, "b": 2048, "c": 2048, "d": 2048, "B": 1024}
    for w in ("a", "b", "c", "d", "B"):
        x, y = data(w, n[w], np.random.default_rng(0))
        got = {"glassnet": [], "torch": []}
        for r in range(args.rounds):
            for impl in (("glassnet", "torch") if r % 2 == 0 else ("torch", "glassnet")):
                fn = time_glassnet if impl == "glassnet" else time_torch
                got[impl] += fn(w, x, y, args.epochs, 64)
        med = {k: statistics.median(v) for k, v in got.items()}
        results["workloads"][w] = {"median_s_per_epoch": med, "ratio_vs_torch": med["glassnet"] / med["torch"]}
        print(f"workload {w}: glassnet {med['glassnet']:.3f}s, torch {med['torch']:.3f}s, "
              f"glassnet/torch {med['glassnet'] / med['torch']:.2f}x", flush=True)
    write_json(args.json, results)


if __name__ == "__main__":
    main()
