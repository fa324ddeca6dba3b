"""The compiled LSTM recurrence (glassnet/kernels/recurrence.c) against the torch kernel and torch's own LSTM.

Skipped only where no C compiler exists; where one does, the kernel must build and agree.
"""
import shutil

import ctypes

import numpy as np
import pytest
import torch

import glassnet as gn
from glassnet import layers
from glassnet.kernels import native
from glassnet.kernels.sequence import lstm_sequence

pytestmark = pytest.mark.skipif(not any(shutil.which(c) for c in ("cc", "gcc", "clang")),
                                reason="no C compiler: the torch kernel is used")


def test_the_kernel_builds():
    assert native.library() is not None, native.status()


def _run(use_native, xp, R, h0, c0, wh, wc):
    leaves = [t.detach().clone().requires_grad_(True) for t in (xp, R, h0, c0)]
    hs, cs = lstm_sequence(*leaves, use_native=use_native)
    ((hs * wh).sum() + (cs * wc).sum()).backward()
    return [hs.detach(), cs.detach()] + [t.grad for t in leaves]


@pytest.mark.parametrize("B,T,d", [(1, 1, 1), (3, 2, 3), (2, 7, 5), (4, 5, 16), (3, 6, 17), (64, 30, 32),
                                   (2, 4, 33), (5, 3, 64)])
def test_native_equals_torch_kernel_forward_and_backward(B, T, d):
    g = torch.Generator().manual_seed(B * 1000 + T * 10 + d)
    xp = torch.randn(B, T, 4 * d, generator=g) * 2
    R = torch.randn(d, 4 * d, generator=g) * 0.5
    h0, c0 = torch.randn(B, d, generator=g), torch.randn(B, d, generator=g)
    wh, wc = torch.randn(T, B, d, generator=g), torch.randn(T, B, d, generator=g)
    ref = _run(False, xp, R, h0, c0, wh, wc)
    got = _run(True, xp, R, h0, c0, wh, wc)
    for name, a, b in zip(["hs", "cs", "dxp", "dR", "dh0", "dc0"], got, ref):
        scale = float(b.abs().max()) or 1.0
        assert float((a - b).abs().max()) <= 2e-6 * max(scale, 1.0) * (1 + T / 10), name


def test_native_kernel_matches_torch_nn_lstm():
    """An independent reference: torch.nn.LSTM with the same weights (gate order i, f, g, o)."""
    torch.manual_seed(0)
    B, T, n, d = 4, 9, 3, 6
    lstm = torch.nn.LSTM(n, d, batch_first=True)
    x = torch.randn(B, T, n)
    h0, c0 = torch.randn(B, d), torch.randn(B, d)
    out, _ = lstm(x, (h0[None], c0[None]))
    xp = x @ lstm.weight_ih_l0.t() + lstm.bias_ih_l0 + lstm.bias_hh_l0
    hs, _ = lstm_sequence(xp, lstm.weight_hh_l0.t().contiguous(), h0, c0, use_native=True)
    torch.testing.assert_close(hs.transpose(0, 1), out, rtol=1e-5, atol=1e-6)


def test_nan_and_infinity_propagate_as_in_torch():
    d = 4
    xp = torch.randn(2, 3, 4 * d)
    xp[0, 1, 0] = float("nan")
    xp[1, 0, 2 * d] = float("inf")
    R, h0, c0 = torch.randn(d, 4 * d) * 0.1, torch.zeros(2, d), torch.zeros(2, d)
    a = lstm_sequence(xp, R, h0, c0, use_native=True)
    b = lstm_sequence(xp, R, h0, c0, use_native=False)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(torch.isnan(x).numpy(), torch.isnan(y).numpy())
        torch.testing.assert_close(torch.nan_to_num(x), torch.nan_to_num(y), rtol=1e-5, atol=1e-6)


def test_activations_are_accurate_over_their_range():
    """exp, sigmoid and tanh written out in C: one step with R = 0 and zero states exposes them."""
    d = 1
    z = torch.linspace(-30, 30, 20001)
    xp = torch.zeros(z.numel(), 1, 4)
    xp[:, 0, 0] = z          # i = sigmoid(z)
    xp[:, 0, 2] = z / 10     # g = tanh(z / 10), over small and large arguments
    xp[:, 0, 3] = 30.0       # o ≈ 1
    R, h0, c0 = torch.zeros(d, 4), torch.zeros(z.numel(), d), torch.zeros(z.numel(), d)
    hs, cs = lstm_sequence(xp, R, h0, c0, use_native=True)
    expected_c = torch.sigmoid(z.double()) * torch.tanh(z.double() / 10)
    torch.testing.assert_close(cs[0, :, 0].double(), expected_c, rtol=2e-6, atol=1e-7)
    torch.testing.assert_close(hs[0, :, 0].double(), torch.sigmoid(torch.tensor(30.0, dtype=torch.float64))
                               * torch.tanh(expected_c), rtol=2e-6, atol=1e-7)


def test_masked_lstm_layer_uses_the_native_kernel_and_agrees_with_the_loop():
    torch.manual_seed(0)
    layer = layers.LSTM(8, return_sequences=True)
    x = torch.randn(5, 12, 3)
    mask = torch.arange(12)[None, :] < torch.tensor([12, 7, 1, 0, 4])[:, None]
    layer.path = "sequence"
    seq = layer(x, mask=mask)
    layer.path = "loop"
    loop = layer(x, mask=mask)
    torch.testing.assert_close(seq, loop, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("B,T,d", [(5, 9, 4), (7, 20, 17)])
def test_rows_stop_at_their_length(B, T, d):
    """With lengths, each row's later steps are skipped; real steps and all gradients are unchanged
    when (as the LSTM layer guarantees) nothing downstream reads the skipped steps."""
    g = torch.Generator().manual_seed(T + d)
    xp, R = torch.randn(B, T, 4 * d, generator=g), torch.randn(d, 4 * d, generator=g) * 0.5
    h0, c0 = torch.randn(B, d, generator=g), torch.randn(B, d, generator=g)
    lengths = torch.tensor([T, 1, 0, T - 2, 3, 2, T][:B])
    real = (torch.arange(T)[:, None] < lengths[None, :])[..., None]  # (T, B, 1)
    wh, wc = torch.randn(T, B, d, generator=g) * real, torch.randn(T, B, d, generator=g) * real
    ref = _run(False, xp, R, h0, c0, wh, wc)
    leaves = [t.detach().clone().requires_grad_(True) for t in (xp, R, h0, c0)]
    hs, cs = lstm_sequence(*leaves, lengths=lengths, use_native=True)
    ((hs * wh).sum() + (cs * wc).sum()).backward()
    got = [hs.detach(), cs.detach()] + [t.grad for t in leaves]
    assert float(hs.detach()[~real.expand_as(hs)].abs().max()) == 0.0  # skipped steps come out as zeros
    for name, a, b in zip(["hs", "cs"], got[:2], ref[:2]):
        torch.testing.assert_close(a * real, b * real, rtol=1e-5, atol=1e-6, msg=name)
    for name, a, b in zip(["dxp", "dR", "dh0", "dc0"], got[2:], ref[2:]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=2e-5, msg=name)


@pytest.mark.parametrize("env,expected", [({"GLASSNET_NATIVE": "0"}, "disabled by GLASSNET_NATIVE=0"),
                                          ({"CC": "false"}, "compiling recurrence.c failed")])
def test_without_the_kernel_the_torch_kernel_runs(tmp_path, env, expected):
    """Disabled, or a compiler that fails: the LSTM still trains, on the torch kernel, and says why."""
    import os
    import subprocess
    import sys
    code = ("import torch, glassnet as gn\n"
            "from glassnet import layers\n"
            "from glassnet.kernels import native\n"
            "layer = layers.LSTM(3)\n"
            "x = torch.randn(2, 4, 2, requires_grad=True)\n"
            "layer(x, mask=torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]], dtype=torch.bool)).sum().backward()\n"
            "assert native.library() is None and x.grad is not None\n"
            "print(native.status())\n")
    full_env = dict(os.environ, GLASSNET_CACHE=str(tmp_path), **env)
    if "CC" in env:  # a compiler that exists but fails: /bin/false under the name CC
        full_env["CC"] = shutil.which("false")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert expected in done.stdout


def test_the_entry_points_refuse_wrong_shapes_and_sizes():
    """A wrong shape is refused in Python; a wrong buffer size is refused by the C code itself."""

    B, T, d = 2, 3, 4
    xp, R = torch.randn(B, T, 4 * d), torch.randn(d, 4 * d)
    h0 = c0 = torch.zeros(B, d)
    gates, cs, hs, tcs = torch.empty(B, T, 4 * d), torch.empty(B, T, d), torch.empty(B, T, d), torch.empty(B, T, d)
    with pytest.raises(RuntimeError, match=r"recurrence: hs must be a contiguous torch.float32 CPU tensor of shape "
                                           r"\(2, 3, 4\); got torch.float32 on cpu, shape \(2, 2, 4\)"):
        native.forward(B, T, d, xp, R, h0, c0, None, gates, cs, torch.empty(B, 2, d), tcs)
    with pytest.raises(RuntimeError, match="contiguous=False"):
        native.forward(B, T, d, xp, R, h0, c0, None, gates, cs, torch.empty(B, d, T).transpose(1, 2), tcs)
    lib = native.library()
    ptrs = [ctypes.c_void_p(t.data_ptr()) for t in (xp, R, h0, c0)] + [None] + \
        [ctypes.c_void_p(t.data_ptr()) for t in (gates, cs, hs, tcs)]
    good = [t.numel() for t in (xp, R, h0, c0)] + [0] + [t.numel() for t in (gates, cs, hs, tcs)]
    sizes = (ctypes.c_int64 * 9)(*good)
    assert lib.glassnet_lstm_forward(B, T, d, *ptrs, sizes) == 0
    hs.fill_(7.0)
    bad = (ctypes.c_int64 * 9)(*(good[:7] + [good[7] - 1] + good[8:]))  # hs one element short
    assert lib.glassnet_lstm_forward(B, T, d, *ptrs, bad) == -1
    assert torch.all(hs == 7.0)  # nothing was written


@pytest.mark.parametrize("rnn", ["LSTM", "GRU", "SimpleRNN"])
def test_masked_recurrent_layers_run_on_the_meta_device_and_count_as_the_analysis_says(rnn):
    """A masked recurrence on the meta device (shape-only runs, as FLOP counting does) takes the general path
    instead of asking the mask where its padding sits; torch's count equals the cost rule's."""
    from torch.utils.flop_counter import FlopCounterMode
    layer = getattr(gn.layers, rnn)
    i = gn.Input((6, 3))
    model = gn.Model(i, layer(2)(layer(4, return_sequences=True)(gn.layers.Masking()(i))))
    macs = gn.analyze(model, input_shape=(2, 6, 3)).totals["macs"]
    meta = model.to("meta")
    with FlopCounterMode(display=False) as counter:
        out = meta(torch.empty((2, 6, 3), device="meta"))
    assert out.shape == (2, 2) and out.device.type == "meta"
    assert counter.get_total_flops() == 2 * macs
