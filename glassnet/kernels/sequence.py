"""A CPU kernel for an LSTM over a right-padded batch, with hand-written backpropagation through time.

torch's CPU LSTM records every step as several autograd nodes, so its backward pass walks
thousands of small nodes per batch. Here the whole sequence is one autograd node:

* the input projection ``x @ kernel + bias`` for all steps is done by the caller (one matmul,
  ordinary autograd);
* forward: per step one ``addmm`` and a few element-wise ops writing into preallocated buffers;
* backward: every activation derivative for all steps in a few whole-tensor ops, then per step
  a handful of element-wise ops and one matmul; ``d recurrent_kernel`` is one matmul at the end.

The whole batch runs for ``steps`` = the longest row. A row that ended earlier keeps computing
past its end, but nothing reads those values: the caller takes each row's state at its last real
step and masks the sequence output, so their gradients are zero and never reach real steps.

In float32, the same node can run its recurrence in compiled C instead (``recurrence.c`` through
``native.py``): one call per pass instead of a dozen torch operations per step, and each row stops
at its length. The torch kernel stays the reference and the fallback; tests hold the two (and
``torch.nn.LSTM``) to float32 round-off.
"""
from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from . import native

__all__ = ["lstm_sequence", "gru_sequence", "rnn_sequence", "native_ready"]


class _LSTMSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xp, R, h0, c0):
        B, steps, G = xp.shape
        d = G // 4
        gates = xp.new_empty(steps, B, G)
        cs = xp.new_empty(steps, B, d)
        hs = xp.new_empty(steps, B, d)
        g4 = gates.view(steps, B, 4, d)
        gates_l, cs_l, hs_l, xp_l = gates.unbind(0), cs.unbind(0), hs.unbind(0), xp.unbind(1)
        i_l, f_l, g_l, o_l = (g4[:, :, k].unbind(0) for k in range(4))
        tmp = xp.new_empty(B, d)
        h, c = h0, c0
        for t in range(steps):
            gt = gates_l[t]
            torch.addmm(xp_l[t], h, R, out=gt)
            torch.tanh(g_l[t], out=tmp)
            torch.sigmoid(gt, out=gt)
            g_l[t].copy_(tmp)
            ct = cs_l[t]
            torch.mul(f_l[t], c, out=ct)
            ct.addcmul_(i_l[t], g_l[t])
            torch.tanh(ct, out=tmp)
            torch.mul(o_l[t], tmp, out=hs_l[t])
            h, c = hs_l[t], ct
        ctx.save_for_backward(R, gates, cs, hs, h0, c0)
        return hs, cs

    @staticmethod
    @once_differentiable
    def backward(ctx, dhs, dcs):
        R, gates, cs, hs, h0, c0 = ctx.saved_tensors
        steps, B, d = hs.shape
        g4 = gates.view(steps, B, 4, d)
        i, f, g, o = g4[:, :, 0], g4[:, :, 1], g4[:, :, 2], g4[:, :, 3]
        tc = torch.tanh(cs)
        cprev = torch.cat([c0.unsqueeze(0), cs[:-1]], dim=0)
        # d(pre-activation) = upstream · activation'; the per-step factors that do not depend on the
        # recurrence are computed here for every step at once
        p = torch.stack([g * i * (1 - i), cprev * f * (1 - f), i * (1 - g * g)], dim=2)  # × dc_t
        q = tc * o * (1 - o)                                                             # × dh_t
        odtc = o * (1 - tc * tc)
        dxp = gates.new_empty(steps, B, 4 * d)
        d4 = dxp.view(steps, B, 4, d)
        dz3_l, dzo_l, dxp_l = d4[:, :, :3].unbind(0), d4[:, :, 3].unbind(0), dxp.unbind(0)
        p_l, q_l, odtc_l, f_l = p.unbind(0), q.unbind(0), odtc.unbind(0), f.unbind(0)
        dhs_l, dcs_l = dhs.unbind(0), dcs.unbind(0)
        dh = torch.zeros(B, d, dtype=hs.dtype, device=hs.device)
        dc = torch.zeros(B, d, dtype=hs.dtype, device=hs.device)
        RT = R.t()
        for t in range(steps - 1, -1, -1):
            dht = dh + dhs_l[t]
            dct = dc + dcs_l[t]
            dct.addcmul_(dht, odtc_l[t])
            torch.mul(dct.unsqueeze(1), p_l[t], out=dz3_l[t])
            torch.mul(dht, q_l[t], out=dzo_l[t])
            dh = torch.mm(dxp_l[t], RT)
            dc = dct.mul_(f_l[t])
        hprev = torch.cat([h0.unsqueeze(0), hs[:-1]], dim=0)
        dR = hprev.reshape(-1, d).t() @ dxp.reshape(-1, 4 * d)
        return dxp.transpose(0, 1), dR, dh, dc


class _LSTMSequenceNative(torch.autograd.Function):
    """The same recurrence, each pass one call into the compiled ``recurrence.c`` (float32, CPU).

    Its buffers are batch-major, ``(B, steps, ·)``, so each row's sequence is contiguous; the states
    are returned as time-major views to match the torch kernel.
    """

    @staticmethod
    def forward(ctx, xp, R, h0, c0, lengths):
        B, steps, G = xp.shape
        d = G // 4
        xp, R, h0, c0 = (t.contiguous() for t in (xp, R, h0, c0))
        gates = xp.new_empty(B, steps, G)
        cs, hs, tcs = (xp.new_empty(B, steps, d) for _ in range(3))
        if lengths is not None:
            lengths = lengths.to(torch.int64).contiguous()
        native.forward(B, steps, d, xp, R, h0, c0, lengths, gates, cs, hs, tcs)
        ctx.save_for_backward(R, gates, cs, hs, tcs, h0, c0)
        ctx.lengths = lengths
        return hs.transpose(0, 1), cs.transpose(0, 1)

    @staticmethod
    @once_differentiable
    def backward(ctx, dhs, dcs):
        R, gates, cs, hs, tcs, h0, c0 = ctx.saved_tensors
        B, steps, d = hs.shape
        dhs, dcs = dhs.transpose(0, 1).contiguous(), dcs.transpose(0, 1).contiguous()
        dxp = gates.new_empty(B, steps, 4 * d)
        dh0, dc0 = hs.new_empty(B, d), hs.new_empty(B, d)
        RT = R.t().contiguous()
        native.backward(B, steps, d, RT, c0, ctx.lengths, gates, cs, tcs, dhs, dcs, dxp, dh0, dc0)
        hprev = torch.cat([h0.unsqueeze(1), hs[:, :-1]], dim=1)
        dR = hprev.reshape(-1, d).t() @ dxp.reshape(-1, 4 * d)
        return dxp, dR, dh0, dc0, None


def lstm_sequence(xp: torch.Tensor, R: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor,
                  lengths: torch.Tensor | None = None, use_native: bool | None = None):
    """All hidden and cell states, time-major ``(steps, B, d)`` each, of an LSTM whose input
    projection ``xp`` is ``(B, steps, 4d)`` (gate order i, f, c, o) and recurrent kernel ``R`` ``(d, 4d)``.

    float32 on the CPU runs the compiled kernel when it could be built (``use_native=None``: when
    available; False: never), anything else the torch kernel above. With ``lengths`` (B,) the compiled
    kernel skips each row's steps from its length on (they come out as zeros and must receive no
    gradient); the torch kernel computes them, and the caller never reads them.
    """
    if use_native is not False and xp.dtype == torch.float32 and xp.device.type == "cpu" \
            and all(t.dtype == torch.float32 for t in (R, h0, c0)) and native.library() is not None:
        return _LSTMSequenceNative.apply(xp, R, h0, c0, lengths)
    return _LSTMSequence.apply(xp, R, h0, c0)


def native_ready(*tensors) -> bool:
    """The compiled recurrences can run on these tensors: float32 on the CPU, with the library built."""
    return all(t.dtype == torch.float32 and t.device.type == "cpu" for t in tensors) and native.library() is not None


class _GRUSequenceNative(torch.autograd.Function):
    """A GRU (reset_after=True) over a right-padded batch as one autograd node, its recurrence and
    backpropagation through time in compiled C (``recurrence.c``); each row stops at its length."""

    @staticmethod
    def forward(ctx, xp, R, brec, h0, lengths):
        B, steps, G = xp.shape
        d = G // 3
        xp, R, brec, h0 = (t.contiguous() for t in (xp, R, brec, h0))
        lengths = lengths.to(torch.int64).contiguous()
        gates, rh, hs = xp.new_empty(B, steps, G), xp.new_empty(B, steps, d), xp.new_empty(B, steps, d)
        native.gru_forward(B, steps, d, xp, R, brec, h0, lengths, gates, rh, hs)
        ctx.save_for_backward(R, h0, lengths, gates, rh, hs)
        return hs

    @staticmethod
    @once_differentiable
    def backward(ctx, dhs):
        R, h0, lengths, gates, rh, hs = ctx.saved_tensors
        B, steps, d = hs.shape
        dxp, drec = gates.new_empty(B, steps, 3 * d), gates.new_empty(B, steps, 3 * d)
        dh0 = hs.new_empty(B, d)
        native.gru_backward(B, steps, d, R.t().contiguous(), h0, lengths, gates, rh, hs, dhs.contiguous(), dxp, drec,
                            dh0)
        hprev = torch.cat([h0.unsqueeze(1), hs[:, :-1]], dim=1)
        flat = drec.reshape(-1, 3 * d)
        return dxp, hprev.reshape(-1, d).t() @ flat, flat.sum(0), dh0, None


class _RNNSequenceNative(torch.autograd.Function):
    """A tanh SimpleRNN over a right-padded batch as one autograd node, compiled as the GRU's is."""

    @staticmethod
    def forward(ctx, xp, R, h0, lengths):
        B, steps, d = xp.shape
        xp, R, h0 = (t.contiguous() for t in (xp, R, h0))
        lengths = lengths.to(torch.int64).contiguous()
        hs = xp.new_empty(B, steps, d)
        native.rnn_forward(B, steps, d, xp, R, h0, lengths, hs)
        ctx.save_for_backward(R, h0, lengths, hs)
        return hs

    @staticmethod
    @once_differentiable
    def backward(ctx, dhs):
        R, h0, lengths, hs = ctx.saved_tensors
        B, steps, d = hs.shape
        dxp, dh0 = hs.new_empty(B, steps, d), hs.new_empty(B, d)
        native.rnn_backward(B, steps, d, R.t().contiguous(), h0, lengths, hs, dhs.contiguous(), dxp, dh0)
        hprev = torch.cat([h0.unsqueeze(1), hs[:, :-1]], dim=1)
        return dxp, hprev.reshape(-1, d).t() @ dxp.reshape(-1, d), dh0, None


def gru_sequence(xp, R, brec, h0, lengths):
    """Every step's h, batch-major ``(B, steps, d)``, of a GRU (gates z, r, h; reset_after=True) whose input
    projection ``xp`` is ``(B, steps, 3d)``, recurrent kernel ``R`` ``(d, 3d)`` and recurrent bias ``brec``
    ``(3d,)``; rows stop at ``lengths`` (their later steps come out as zeros). Needs ``native_ready``."""
    return _GRUSequenceNative.apply(xp, R, brec, h0, lengths)


def rnn_sequence(xp, R, h0, lengths):
    """The same for a SimpleRNN with tanh: ``xp`` ``(B, steps, d)``, ``R`` ``(d, d)``."""
    return _RNNSequenceNative.apply(xp, R, h0, lengths)
