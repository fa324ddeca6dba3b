"""The models the seed questions are about, built and checked (what ``glassnet demo`` shows)."""
from __future__ import annotations

import torch

from . import layers
from .errors import ShapeError
from .models import Input, Model, Sequential

__all__ = ["run_demo"]


def _check(claim: str, ok: bool, out) -> None:
    out(f"  [{'ok' if ok else 'FAILED'}] {claim}")
    if not ok:
        raise SystemExit(f"demo check failed: {claim}")


def run_demo(out=print) -> None:
    """Build the seed's example models, print their summaries and check the seed's numbers."""
    torch.manual_seed(0)
    out("1. How does an LSTM read (batch, timesteps, features)? One set of gates, reused at every step.")
    for T in (10, 50, 500):
        m = Sequential([Input((T, 1)), layers.LSTM(10)])
        _check(f"LSTM(10) on ({T}, 1): {m.count_params()} params (4·d·(n+d)+4·d = 4·10·11+40 = 480)",
               m.count_params() == 480, out)
    m = Sequential([Input((50, 1)), layers.LSTM(10, use_bias=False)])
    _check(f"without bias: {m.count_params()} params (4·d·(n+d) = 440, the seed's number)", m.count_params() == 440, out)
    Sequential([Input((None, 1)), layers.LSTM(10), layers.Dense(1)], name="lstm_forecaster").summary(print_fn=out)

    out("\n2. Conv2D(64, 3×3) or Conv2D(32, 7×7) on 28×28×1?")
    a = Sequential([Input((28, 28, 1)), layers.Conv2D(64, (3, 3), activation="relu")], name="conv_3x3")
    b = Sequential([Input((28, 28, 1)), layers.Conv2D(32, (7, 7), activation="relu")], name="conv_7x7")
    a.summary(print_fn=out)
    b.summary(print_fn=out)
    _check("3×3: 640 params, output (None, 26, 26, 64)", a.count_params() == 640 and a.output_shape == (None, 26, 26, 64), out)
    _check("7×7: 1,600 params, output (None, 22, 22, 32) — stride 1, so no extra downsampling",
           b.count_params() == 1600 and b.output_shape == (None, 22, 22, 32), out)

    out("\n3. One Dense layer for every pixel is a 1×1 convolution.")
    x = torch.randn(2, 5, 5, 8)
    dense, conv = layers.Dense(1), layers.Conv2D(1, 1)
    dense(x), conv(x)
    conv.set_weights([dense.get_weights()[0].reshape(1, 1, 8, 1), dense.get_weights()[1]])
    diff = (dense(x) - conv(x)).abs().max().item()
    _check(f"Dense(1) on (n, n, d) == Conv2D(1, 1×1) with the same weights (max diff {diff:.1e})", diff < 1e-6, out)

    out("\n4. One kernel per channel: DepthwiseConv2D.")
    dw = Sequential([Input((28, 28, 32)), layers.DepthwiseConv2D(3)], name="depthwise")
    full = Sequential([Input((28, 28, 32)), layers.Conv2D(32, 3)], name="full_conv")
    _check(f"DepthwiseConv2D(3×3) on 32 channels: {dw.count_params():,} params vs Conv2D(32, 3×3): "
           f"{full.count_params():,}", dw.count_params() == 3 * 3 * 32 + 32, out)
    try:
        layers.DepthwiseConv2D(3)(Input((28, 28)))
    except ShapeError as err:
        out(f"  a rank-3 image is refused: {err}")

    out("\n5. Images of any size: GlobalAveragePooling2D, not Flatten.")
    inp = Input((None, None, 1))
    feat = layers.Conv2D(16, 3, activation="relu")(inp)
    Model(inp, layers.Dense(10)(layers.GlobalAveragePooling2D()(feat)), name="any_size").summary(print_fn=out)
    try:
        layers.Dense(10)(layers.Flatten()(feat))
    except ShapeError as err:
        out(f"  Flatten is refused: {err}")

    out("\n6. Masking vs Embedding(mask_zero=True): both create a (batch, timesteps) mask.")
    emb = layers.Embedding(10, 3, mask_zero=True)
    ids = torch.tensor([[1, 2, 0, 0], [3, 0, 4, 0]])
    out(f"  Embedding(mask_zero=True) on {ids.tolist()} → mask {emb.compute_mask(ids).int().tolist()} "
        "(index 0 still has a row)")
    xs = torch.tensor([[[1.0, 2.0], [0.0, 0.0]], [[0.0, 5.0], [0.0, 0.0]]])
    out(f"  Masking() on steps whose features are all 0 → mask {layers.Masking().compute_mask(xs).int().tolist()} "
        "(partial zeros are kept)")
