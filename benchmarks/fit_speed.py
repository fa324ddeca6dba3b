"""Training and predict speed of ``fit``/``predict``, side by side in one run.

Workloads (same data for every implementation, batch 64, Adam(1e-3, eps 1e-7)):
  (A) LSTM(64) → Dense(1) on 4,096 windows of shape (50, 1);
  (B) Conv2D(64, 3×3, relu) → Conv2D(32, 7×7, relu) → GlobalAveragePooling2D → Dense(10) on
      1,024 images 28×28×1 (sparse categorical cross-entropy).
Implementations: glassnet ``fit``/``predict``; a hand-written PyTorch loop on the equivalent
``torch.nn`` model (channels-last memory for B, the faster torch layout measured); Keras 3 on its
torch backend.  Each measurement runs in a fresh process; rounds are interleaved.

Usage:
    python benchmarks/fit_speed.py [--quick] [--json OUT.json] [--no-keras]
Writes median seconds per epoch and per predict pass, and ``ratio_vs_torch`` per workload.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (BackgroundLoad, EpochTimer, add_load_argument, minimum, run_rounds, sine_windows, summarise, timed,  # noqa: E402
                    torch_train_epochs, write_json)


def make_data(workload: str, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    if workload == "A":
        return sine_windows(n, rng)
    y = rng.integers(0, 10, size=n)
    x = rng.uniform(0, 0.3, size=(n, 28, 28, 1)).astype(np.float32)
    for i, c in enumerate(y):
        x[i, 2 + 2 * c:4 + 2 * c, :, 0] += 0.7  # a class-dependent bright band
    return x, y.astype(np.int64)


def glassnet_model(workload):
    import glassnet as gn
    from glassnet import layers
    if workload == "A":
        return gn.Sequential([gn.Input((50, 1)), layers.LSTM(64), layers.Dense(1)]), "mse"
    return gn.Sequential([gn.Input((28, 28, 1)), layers.Conv2D(64, 3, activation="relu"),
                          layers.Conv2D(32, 7, activation="relu"), layers.GlobalAveragePooling2D(),
                          layers.Dense(10)]), "sparse_categorical_crossentropy_logits"


def run_glassnet(workload, x, y, epochs, batch):
    import glassnet as gn
    gn.utils.set_random_seed(0)
    model, loss = glassnet_model(workload)
    if loss.endswith("_logits"):
        loss = gn.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer="adam", loss=loss)
    timer = EpochTimer()
    model.fit(x, y, batch_size=batch, epochs=epochs + 1, verbose=0, callbacks=[timer.glassnet()])
    model.predict(x, batch_size=batch, verbose=0)
    pred = timed(lambda: model.predict(x, batch_size=batch, verbose=0), epochs)
    return {"times": timer.times[1:], "predict": pred, "params": model.count_params()}


def run_torch(workload, x, y, epochs, batch):
    import torch
    from torch import nn
    torch.manual_seed(0)
    if workload == "A":
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.lstm, self.head = nn.LSTM(1, 64, batch_first=True), nn.Linear(64, 1)

            def forward(self, v):
                return self.head(self.lstm(v)[1][0][0])
        model, loss_fn, fmt = Net(), nn.MSELoss(), None
        xt = torch.from_numpy(x)
    else:
        model = nn.Sequential(nn.Conv2d(1, 64, 3), nn.ReLU(), nn.Conv2d(64, 32, 7), nn.ReLU(),
                              nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))
        loss_fn, fmt = nn.CrossEntropyLoss(), torch.channels_last
        model = model.to(memory_format=fmt)
        xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=fmt)
    yt = torch.from_numpy(y)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    times = torch_train_epochs(model, loss_fn, opt, xt, yt, epochs + 1, batch)

    def predict():
        model.eval()
        with torch.inference_mode():
            return torch.cat([model(xt[i:i + batch]) for i in range(0, len(xt), batch)]).numpy()
    predict()
    pred = timed(predict, epochs)
    return {"times": times[1:], "predict": pred, "params": sum(p.numel() for p in model.parameters())}


def run_keras(workload, x, y, epochs, batch):
    import keras
    keras.utils.set_random_seed(0)
    L = keras.layers
    if workload == "A":
        model = keras.Sequential([keras.Input((50, 1)), L.LSTM(64), L.Dense(1)])
        loss = "mse"
    else:
        model = keras.Sequential([keras.Input((28, 28, 1)), L.Conv2D(64, 3, activation="relu"),
                                  L.Conv2D(32, 7, activation="relu"), L.GlobalAveragePooling2D(), L.Dense(10)])
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)
    timer = EpochTimer()
    model.fit(x, y, batch_size=batch, epochs=epochs + 1, verbose=0, callbacks=[timer.keras()])
    model.predict(x, batch_size=batch, verbose=0)
    pred = timed(lambda: model.predict(x, batch_size=batch, verbose=0), epochs)
    return {"times": timer.times[1:], "predict": pred, "params": model.count_params()}


RUNNERS = {"glassnet": run_glassnet, "torch": run_torch, "keras_torch": run_keras, "keras_jax": run_keras}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer rounds and epochs")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--no-keras", action="store_true", help="skip the Keras peer")
    ap.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    add_load_argument(ap)
    args = ap.parse_args()
    if args.child:
        import torch
        torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
        impl, workload, n, epochs, batch = args.child
        x, y = make_data(workload, int(n))
        print(json.dumps(RUNNERS[impl](workload, x, y, int(epochs), int(batch))))
        return
    n = {"A": 4096, "B": 1024}
    epochs, rounds = (2, 2) if args.quick else (3, 4)
    impls = ["glassnet", "torch"]
    if not args.no_keras and importlib.util.find_spec("keras"):
        impls.append("keras_torch")
    results = {"machine": {"cpus": os.cpu_count(), "threads": int(os.environ.get("BENCH_THREADS", "2"))},
               "quick": args.quick, "load": {"busy_processes": args.load}, "workloads": {}}
    with BackgroundLoad(args.load) as load:
        _run_workloads(n, epochs, rounds, impls, results)
    results["load"]["loadavg_1min_at_end"] = load.loadavg
    write_json(args.json, results)


def _run_workloads(n, epochs, rounds, impls, results):
    for w in ("A", "B"):
        merged = run_rounds(__file__, impls, w, [str(n[w]), str(epochs), "64"], rounds)
        train, pred = summarise(merged, "times"), summarise(merged, "predict")
        train_min, pred_min = minimum(merged, "times"), minimum(merged, "predict")
        results["workloads"][w] = {
            "samples": n[w], "rounds": rounds, "epochs_timed_per_round": epochs,
            "median_s_per_epoch": train, "median_s_per_predict": pred,
            "params": {i: r["params"] for i, r in merged.items()},
            "ratio_vs_torch": train["glassnet"] / train["torch"],
            "ratio_vs_best_peer": train["glassnet"] / min(v for i, v in train.items() if i != "glassnet"),
            "predict_ratio_vs_best_peer": pred["glassnet"] / min(v for i, v in pred.items() if i != "glassnet"),
            "predict_ratio_vs_torch": pred["glassnet"] / pred["torch"],
            "min_s_per_epoch": train_min, "ratio_of_mins_vs_torch": train_min["glassnet"] / train_min["torch"],
            "predict_ratio_of_mins_vs_torch": pred_min["glassnet"] / pred_min["torch"],
        }
        print(f"workload {w}: train " + ", ".join(f"{i} {v:.3f}s" for i, v in train.items())
              + f" | glassnet/torch {train['glassnet'] / train['torch']:.2f}x; predict "
              + ", ".join(f"{i} {v:.3f}s" for i, v in pred.items())
              + f" | glassnet/torch {pred['glassnet'] / pred['torch']:.2f}x"
              + f" (ratio of minimums: train {train_min['glassnet'] / train_min['torch']:.2f}x,"
              + f" predict {pred_min['glassnet'] / pred_min['torch']:.2f}x)")


if __name__ == "__main__":
    main()
