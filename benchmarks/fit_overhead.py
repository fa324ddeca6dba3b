"""What ``fit`` adds per batch over a hand-written PyTorch loop, on a model whose kernels cost
almost nothing: LSTM(4) → Dense(1) on windows of 2 steps, batch 64, Adam.

Usage:
    python benchmarks/fit_overhead.py [--rounds 5] [--json OUT.json]
Both run in this one process, alternating, each round 3 epochs of 64 batches; prints the median
microseconds per batch of each and their difference.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import torch_train_epochs, write_json  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    import torch
    from torch import nn
    import glassnet as gn
    from glassnet import layers
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    rng = np.random.default_rng(0)
    x, y = rng.random((4096, 2, 1), dtype=np.float32), rng.random((4096, 1), dtype=np.float32)
    batches, epochs = len(x) // 64, 3

    class Hand(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm, self.head = nn.LSTM(1, 4, batch_first=True), nn.Linear(4, 1)

        def forward(self, inp):
            return self.head(self.lstm(inp)[1][0][0])

    per_batch = {"glassnet": [], "torch": []}
    for _ in range(args.rounds):
        model = gn.Sequential([gn.Input((2, 1)), layers.LSTM(4), layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        t0 = time.perf_counter()
        model.fit(x, y, batch_size=64, epochs=epochs, verbose=0)
        per_batch["glassnet"].append((time.perf_counter() - t0) / epochs / batches * 1e6)
        hand = Hand()
        opt = torch.optim.Adam(hand.parameters(), lr=1e-3, eps=1e-7)
        times = torch_train_epochs(hand, nn.MSELoss(), opt, torch.from_numpy(x), torch.from_numpy(y), epochs, 64)
        per_batch["torch"].append(statistics.mean(times) / batches * 1e6)
    med = {k: statistics.median(v) for k, v in per_batch.items()}
    print(f"µs per batch: glassnet {med['glassnet']:.0f}, hand-written torch {med['torch']:.0f}, "
          f"glassnet adds {med['glassnet'] - med['torch']:.0f}")
    write_json(args.json, {"us_per_batch_median": med, "us_per_batch": per_batch,
                           "added_us_per_batch": med["glassnet"] - med["torch"]})


if __name__ == "__main__":
    main()
