"""Chapter 1: how an LSTM reads a sequence — sunspot windows of n years predict year n+1."""
from __future__ import annotations

import numpy as np
import torch

from .. import layers
from ..analysis import analyze
from ..models import Input, Sequential
from ..training import optimizers
from ..utils import set_random_seed
from . import data
from .common import EpochLines, plt
from .report import timed_median

TITLE = "How an LSTM reads a sequence"
QUESTION = ("Does an LSTM see all time steps at once? Why does LSTM(10) on one feature have 4·d·(n+d)+4·d = 480 "
            "parameters, and what changes when the window grows?")
SCALE = 100.0  # sunspot numbers run 0–190; the network sees them divided by 100


def windows(series: np.ndarray, n: int, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (len(targets), n, 1): the n years before each target index; outputs (len(targets), 1)."""
    x = np.stack([series[t - n:t] for t in targets])[..., None]
    return x.astype(np.float32), series[targets][:, None].astype(np.float32)


def forecaster(n: int, units: int = 10, name: str | None = None) -> Sequential:
    return Sequential([Input((n, 1)), layers.LSTM(units, name="lstm"), layers.Dense(1, name="forecast")],
                      name=name or f"lstm_window_{n}")


def run(ch, quick: bool) -> None:
    years, spots = data.sunspots()
    series = spots / SCALE
    lengths = [1, 4, 16] if quick else [1, 2, 4, 8, 16]
    epochs = 40 if quick else 150
    first_test = int(len(series) * 0.8)
    train_t = np.arange(max(lengths), first_test)
    test_t = np.arange(first_test, len(series))
    ch.say(f"Data: statsmodels' yearly sunspot numbers, {years[0]}–{years[-1]} ({len(series)} years). A window of n "
           f"years predicts the next year. Years {years[train_t[0]]}–{years[train_t[-1]]} train "
           f"({len(train_t)} targets) and {years[test_t[0]]}–{years[-1]} test ({len(test_t)} targets), the same "
           f"targets for every window length.")
    ch.say("An LSTM does not see the window at once: it reads one year per step, updating a state of d numbers "
           "with the same weights at every step. So its parameters depend on d and on the features per step "
           "(n = 1 here), never on the window length; its work grows with every step it reads.")

    # --- the parameter formula, with the numbers from the question
    set_random_seed(0)
    with_bias, without_bias = forecaster(1), Sequential([Input((1, 1)), layers.LSTM(10, use_bias=False, name="lstm")])
    row_b = analyze(with_bias).row("lstm")
    row_nb = analyze(without_bias).row("lstm")
    ch.table(["LSTM(10) on 1 feature", "Params", "Formula"],
             [["use_bias=True", f"{row_b.params:,}", row_b.params_formula],
              ["use_bias=False", f"{row_nb.params:,}", row_nb.params_formula]],
             title="Parameters from glassnet's analysis: 4 gates, each a (n+d)×d matrix (+ d biases)", right={1})
    ch.record("lstm_params", {"with_bias": row_b.params, "without_bias": row_nb.params,
                              "formula": row_b.params_formula})
    ch.check("LSTM(10) on one feature has 480 parameters with bias and 440 without (4·d·(n+d)+4·d)",
             row_b.params == 480 and row_nb.params == 440 and row_b.params == 4 * 10 * (1 + 10) + 4 * 10,
             f"{row_b.params} and {row_nb.params}")

    # --- train one forecaster per window length
    naive = float(np.mean((spots[test_t] - spots[test_t - 1]) ** 2))
    rows, results, per_length = [], {}, {}
    for n in lengths:
        set_random_seed(n)
        model = forecaster(n)
        model.compile(optimizer=optimizers.Adam(learning_rate=0.01), loss="mse")
        xtr, ytr = windows(series, n, train_t)
        xte, yte = windows(series, n, test_t)
        log = EpochLines(ch.echo, f"window {n:>2}", every=max(1, epochs // 4))
        with ch.work(model, (16, n, 1)):
            model.fit(xtr, ytr, batch_size=16, epochs=epochs, verbose=0, callbacks=[log])
            pred = model.predict(xte, verbose=0)[:, 0] * SCALE
        mse = float(np.mean((pred - spots[test_t]) ** 2))
        lstm_row = analyze(model, input_shape=(1, n, 1)).row("lstm")
        results[n] = {"params": model.count_params(), "lstm_params": lstm_row.params, "lstm_macs": lstm_row.macs,
                      "test_mse": mse, "seconds_per_epoch": float(np.median(log.seconds))}
        per_length[n] = pred
        rows.append([n, f"{lstm_row.params:,}", f"{lstm_row.macs:,}", f"{mse:,.1f}", f"{mse / naive:.2f}",
                     f"{np.median(log.seconds) * 1000:.0f} ms"])
    ch.table(["Window n", "LSTM params", "LSTM MACs / sample", "Test MSE", "MSE / naive", "Time per epoch"], rows,
             title=f"One LSTM(10)+Dense(1) per window length ({epochs} epochs, Adam lr 0.01); "
                   f"naive repeat-last-year test MSE = {naive:,.1f}")
    ch.record("window_results", results)
    ch.record("naive_test_mse", naive)
    params = {r["lstm_params"] for r in results.values()}
    ch.check("the parameter count does not change with the window length", params == {480},
             f"LSTM parameters at windows {', '.join(map(str, lengths))}: "
             + ", ".join(f"{results[n]['lstm_params']:,}" for n in lengths))
    macs_ok = all(results[n]["lstm_macs"] == n * 440 for n in lengths)
    ch.check("multiply-adds grow linearly with the window: T·4·d·(n+d) = 440·T",
             macs_ok, ", ".join(f"T={n}: {results[n]['lstm_macs']:,}" for n in lengths))

    best = min(lengths, key=lambda n: results[n]["test_mse"])
    ch.target("best window's test MSE ÷ naive baseline's", results[best]["test_mse"] / naive, "< 1",
              results[best]["test_mse"] < naive, f"window {best}")

    # --- measured time per step: the LSTM reads step after step
    steps = [15, 60, 240] if quick else [15, 30, 60, 120, 240]
    rounds = 9 if quick else 15
    set_random_seed(1)
    lstm = layers.LSTM(10)
    x_long = torch.as_tensor(np.stack([series[i:i + max(steps)] for i in range(64)])[..., None])
    with torch.no_grad():  # rounds over all lengths, so a burst of load on the machine hits each length alike
        lstm(x_long[:, :1])
        samples = [[timed_median(lambda t=t: lstm(x_long[:, :t]), repeats=1, warmup=0) for t in steps]
                   for _ in range(rounds)]
    per_t = [sorted(col) for col in zip(*samples)]
    times = [float(np.median(col)) for col in per_t]
    q1 = [float(np.percentile(col, 25)) for col in per_t]
    q3 = [float(np.percentile(col, 75)) for col in per_t]
    slope, intercept = np.polyfit(steps, times, 1)
    fitted = np.polyval([slope, intercept], steps)
    r2 = 1 - np.sum((np.array(times) - fitted) ** 2) / np.sum((np.array(times) - np.mean(times)) ** 2)
    ch.table(["Steps T", "MACs / sample", f"Forward time, batch 64 (median of {rounds})", "Middle half of the runs",
              "Time per step"],
             [[t, f"{440 * t:,}", f"{s * 1000:.2f} ms", f"{a * 1000:.2f}–{b * 1000:.2f} ms", f"{s / t * 1e6:.1f} µs"]
              for t, s, a, b in zip(steps, times, q1, q3)],
             title="The work grows with every step read: exact multiply-adds, and measured times with their spread")
    ch.say(f"A straight line through the median times has slope {slope * 1e6:.1f} µs per step and R² = {r2:.3f}"
           + (" (timings on a busy machine scatter; the multiply-adds are exact)." if r2 < 0.9 else "."))
    ch.record("step_time", {"steps": steps, "seconds": times, "seconds_q1": q1, "seconds_q3": q3, "rounds": rounds,
                            "slope_s_per_step": slope, "r2": r2})

    pyplot = plt()
    fig, (a, b) = pyplot.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"width_ratios": [2, 1]})
    a.plot(years[test_t], spots[test_t], "k-", lw=2, label="observed")
    a.plot(years[test_t], spots[test_t - 1], ":", color="gray", label=f"naive (MSE {naive:,.0f})")
    a.plot(years[test_t], per_length[best], "-", color="tab:orange",
           label=f"LSTM, window {best} (MSE {results[best]['test_mse']:,.0f})")
    a.set_xlabel("year")
    a.set_ylabel("sunspot number")
    a.set_title("Test years: one-year-ahead forecasts")
    a.legend(fontsize=8)
    grid = np.arange(1, max(steps) + 1)
    b.plot(grid, 440 * grid, "-", color="tab:green", label="multiply-adds per sample: 440·T")
    b.plot(grid, np.full(len(grid), 480), "--", color="tab:blue", label="parameters: 480 at every T")
    b.set_yscale("log")
    b.set_xlabel("steps T")
    b.set_ylabel("count (log scale)")
    b.set_title("Work grows with T; parameters do not")
    b.legend(fontsize=8, loc="center right")
    ch.plot(fig, "Left: forecasts on the test years against the naive repeat-last-year baseline. "
                 "Right: the LSTM's multiply-adds and parameters against the number of steps, from its cost rule "
                 "(measured times are in the table above).")
