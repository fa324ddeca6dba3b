"""Chapter 4: one kernel per channel — DepthwiseConv2D against a full Conv2D."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .. import layers
from ..analysis import analyze
from ..errors import ShapeError
from ..models import Input, Sequential
from ..training import optimizers
from ..utils import set_random_seed
from . import data
from .common import EpochLines, split_indices

TITLE = "One kernel per channel"
QUESTION = ("How do I convolve each channel of an image with its own kernel, without mixing channels? What does "
            "that save against a full Conv2D, and why does my 2-D image raise an error?")


def classifier(name: str, block) -> Sequential:
    return Sequential([Input((8, 8, 1)), layers.Conv2D(16, 3, padding="same", activation="relu", name="stem"),
                       block, layers.MaxPooling2D(2, name="pool"), layers.Flatten(name="flatten"),
                       layers.Dense(10, activation="softmax", name="classify")], name=name)


def run(ch, quick: bool) -> None:
    x, y = data.digits()
    c = 8
    set_random_seed(0)
    stem = layers.Conv2D(c, 3, padding="same", name="stem")
    with torch.no_grad():
        maps = stem(torch.as_tensor(x[:64]))
    ch.say(f"Data: scikit-learn's 8×8 digits. A Conv2D({c}, 3×3) first turns each digit into {c} channels; a "
           "DepthwiseConv2D(3×3) then gives every channel a 3×3 kernel of its own.")

    depthwise = layers.DepthwiseConv2D(3, padding="same", name="depthwise")
    full = layers.Conv2D(c, 3, padding="same", name="full")
    with torch.no_grad():
        out = depthwise(maps)
        kernel, bias = (torch.as_tensor(w) for w in depthwise.get_weights())  # (3, 3, c, 1), (c,)
        # the reference: each channel alone through torch's conv2d with its own kernel
        ref = torch.stack([F.conv2d(maps[..., k][:, None], kernel[:, :, k, 0][None, None], padding=1)[:, 0] + bias[k]
                           for k in range(c)], dim=-1)
        changed = maps.clone()
        changed[..., 0] += torch.randn_like(changed[..., 0])
        moved = (depthwise(changed) - out).abs().amax(dim=(0, 1, 2))
    diff = float((out - ref).abs().max())
    ch.check("each output channel is its own input channel convolved with its own kernel", diff <= 1e-5 *
             float(ref.abs().max()), f"largest difference from a per-channel torch conv2d: {diff:.2e}")
    ch.check("changing input channel 0 changes output channel 0 only", bool(moved[0] > 0 and moved[1:].max() == 0),
             f"largest change per output channel: {', '.join(f'{v:.2g}' for v in moved.tolist())}")

    m_dw = Sequential([Input((8, 8, c)), depthwise], name="depthwise")
    m_full = Sequential([Input((8, 8, c)), full], name="full")
    rd, rf = analyze(m_dw).row("depthwise"), analyze(m_full).row("full")
    ch.table(["Layer", "Params", "Param formula", "MACs / sample", "Reads its input"],
             [["DepthwiseConv2D(3×3)", rd.params, rd.params_formula, f"{rd.macs:,}", rd.reads],
              [f"Conv2D({c}, 3×3)", rf.params, rf.params_formula, f"{rf.macs:,}", rf.reads]],
             title=f"On (8, 8, {c}) inputs, from glassnet's analysis", right={1, 3})
    ch.check(f"depthwise owns k·k·c + c = {9 * c + c} parameters, a full conv k·k·c·c + c = {9 * c * c + c}",
             rd.params == 9 * c + c and rf.params == 9 * c * c + c, f"{rd.params} and {rf.params}")
    ch.record("params", {"depthwise": rd.params, "conv2d": rf.params})

    try:
        Sequential([Input((8, 8)), layers.DepthwiseConv2D(3, name="depthwise")])
        raise AssertionError("a rank-3 input was accepted")
    except ShapeError as exc:
        message = str(exc)
    ch.pre(message, title="A grayscale image without a channel axis: Input((8, 8)) → DepthwiseConv2D(3)")
    ch.check("the error names the layer, the rank it needs and the fix", "DepthwiseConv2D 'depthwise'" in message
             and "rank 4" in message and "Reshape((8, 8, 1))" in message, "message text")
    fixed = Sequential([Input((8, 8)), layers.Reshape((8, 8, 1)), layers.DepthwiseConv2D(3, name="depthwise")])
    ch.say(f"The fix, a Reshape((8, 8, 1)) first, builds: output {fixed.output_shape}, "
           f"{fixed.count_params()} parameters (one 3×3 kernel and a bias for the single channel).")

    train, test = split_indices(len(x), 0.2, seed=0, labels=y)
    epochs = 4 if quick else 12
    rows, results = [], {}
    for name, block in (("conv2d", layers.Conv2D(32, 3, padding="same", activation="relu", name="block")),
                        ("separable", layers.SeparableConv2D(32, 3, padding="same", activation="relu", name="block"))):
        set_random_seed(1)
        model = classifier(name, block)
        model.compile(optimizer=optimizers.Adam(learning_rate=0.003), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        log = EpochLines(ch.echo, f"{name:<9}", every=max(1, epochs // 3))
        with ch.work(model, (32, 8, 8, 1)):
            model.fit(x[train], y[train], batch_size=32, epochs=epochs, verbose=0, callbacks=[log])
            acc = float(np.mean(np.argmax(model.predict(x[test], verbose=0), axis=1) == y[test]))
        row = analyze(model).row("block")
        results[name] = {"block_params": row.params, "block_macs": row.macs, "test_accuracy": acc}
        rows.append([name, row.params_formula, f"{row.params:,}", f"{row.macs:,}", f"{acc:.4f}"])
    ch.table(["Block", "Param formula", "Params", "MACs / sample", "Test accuracy"], rows,
             title=f"A 16→32 channel block as a full Conv2D or as depthwise + 1×1 (SeparableConv2D), "
                   f"{epochs} epochs (Adam, lr 0.003) on {len(train):,} digits, tested on {len(test):,}", right={2, 3, 4})
    ch.record("separable_vs_full", results)
    ratio = results["separable"]["block_params"] / results["conv2d"]["block_params"]
    ch.say(f"The separable block has {ratio:.0%} of the full block's parameters. A depthwise layer alone never mixes "
           "channels; a 1×1 convolution after it (SeparableConv2D does both) restores the mixing at a fraction of "
           "the cost.")
