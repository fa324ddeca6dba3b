"""Fast execution of a recurrent layer's time loop, behind one call.

``run(cell, x, mask, states, training, ...)`` picks a path once and returns Keras's results
``(sequence, last_output, final_states)``, or raises :class:`NoKernel` when no fast path applies;
the layer then runs its one reference loop (as Keras's LSTM asks ``backend.lstm`` first).

The paths, all giving the reference loop's numbers to float32 round-off:

* ``fused``: no mask — torch's fused recurrent kernel (cuDNN on GPU, ATen/oneDNN on CPU).
* ``packed``: a right-padded mask — the fused kernel on a packed batch (each row stops at its last
  real step); outputs at padded steps repeat the last real output, as Keras does.
* ``sequence``: the same masks on the CPU — one hand-written autograd node for the whole sequence
  (``sequence.py``), its recurrence and backpropagation through time in compiled C (``recurrence.c``):
  an LSTM always (torch operations stand in when no compiler is found), a GRU (reset_after=True) and a
  tanh SimpleRNN when the C recurrence is built (otherwise they take ``packed``).

A left-padded (pre-padded) mask takes ``packed`` or ``sequence`` after each row is rotated so its real
steps come first; the outputs are rotated back, with zeros before the first real step. Padding in the
middle, recurrent dropout or activations other than tanh/sigmoid have no fast path.

A cell tells the kernels what it is through ``kernel_name`` ("simple_rnn", "lstm" or "gru"),
``fused_ok()``, ``fused_fn()``, ``fused_params()``, ``project(x)``, ``recurrent_kernel``,
``n_states`` and ``use_bias``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..errors import ConfigError
from .sequence import gru_sequence, lstm_sequence, native_ready, rnn_sequence

__all__ = ["run", "NoKernel", "padding_of", "PATHS"]

PATHS = ("fused", "packed", "sequence", "loop")


class NoKernel(Exception):
    """No fast path fits this call; the caller runs its reference loop."""


def padding_of(mask) -> str | None:
    """Where a mask's padding sits: "right" (each row's real steps come first), "left" (they come last,
    as ``pad_sequences`` writes them), "middle" (anything else), or None without a mask."""
    if mask is None:
        return None
    if mask.device.type == "meta":  # no values to look at (shape-only runs, e.g. counting FLOPs): the general path
        return "middle"
    if not bool((mask[:, 1:] & ~mask[:, :-1]).any()):
        return "right"
    if not bool((mask[:, :-1] & ~mask[:, 1:]).any()):
        return "left"
    return "middle"


def shift_rows(x, shift):
    """Row b of (batch, T, ...) rotated along time by ``shift[b]`` steps: out[b, t] = x[b, (t + shift[b]) % T]."""
    T = x.shape[1]
    idx = (torch.arange(T, device=x.device)[None, :] + shift[:, None]) % T
    return x.gather(1, idx.view(*idx.shape, *([1] * (x.dim() - 2))).expand_as(x))


def _sequence_ok(cell, fused_ok: bool, device_type: str, compiled: bool) -> bool:
    """Whether the whole-sequence node computes this cell here."""
    if not fused_ok or device_type != "cpu":
        return False
    if cell.kernel_name == "lstm":
        return True
    if cell.kernel_name == "simple_rnn":
        return compiled and cell.activation is torch.tanh
    return compiled and cell.kernel_name == "gru"


def choose_path(cell, mask, recurrent_dropout: bool, device_type: str, padding: str | None,
                forced: str | None = None, compiled: bool = True) -> str:
    """The path for this call (``forced``: the one a test asks for, refused when it cannot run);
    ``compiled``: whether the C recurrences can run on this call's tensors."""
    fused_ok = cell.fused_ok() and not recurrent_dropout
    padded_at_an_end = padding in ("right", "left")
    sequence_ok = _sequence_ok(cell, fused_ok, device_type, compiled)
    if forced is not None:
        owner = f"{type(cell).__name__} '{cell.name}'"
        if forced not in PATHS:
            raise ConfigError(f"{owner}: unknown recurrent path {forced!r}; expected one of {PATHS}.")
        if forced == "fused" and (mask is not None or not fused_ok):
            raise ConfigError(f"{owner} cannot use the fused path with a mask or this configuration.")
        if forced in ("packed", "sequence") and (not padded_at_an_end or not fused_ok):
            raise ConfigError(f"{owner} can use the {forced} path only with a right- or left-padded mask.")
        if forced == "sequence" and not sequence_ok:
            raise ConfigError(f"{owner} can use the sequence path only on the CPU (LSTM; GRU and tanh SimpleRNN "
                              "in float32 with the compiled recurrence).")
        return forced
    if not fused_ok or (mask is not None and not padded_at_an_end):
        return "loop"
    if mask is None:
        return "fused"
    return "sequence" if sequence_ok else "packed"


def run(cell, x, mask, states, training, *, return_sequences: bool, zero_output_for_mask: bool,
        recurrent_dropout: bool = False, path: str | None = None):
    """Keras's ``(sequence or None, last output, final states)`` for ``x`` (batch, T, n) and ``mask``
    (batch, T) or None, from the initial ``states``; raises NoKernel when the reference loop must run."""
    padding = padding_of(mask)
    compiled = mask is not None and cell.kernel_name != "lstm" and native_ready(x, cell.recurrent_kernel)
    chosen = choose_path(cell, mask, recurrent_dropout, x.device.type, padding, path, compiled)
    if chosen == "loop":
        raise NoKernel(chosen)
    if chosen == "fused":
        out, new = _call_fused(cell, x.contiguous(), states, training)
        # the final h (equal to out[:, -1]) keeps backward off the sequence
        return (out if return_sequences else None), new[0], new
    left_mask = None
    if padding == "left":  # pre-padded: each row's real steps moved to the front
        left_mask = mask
        lengths = mask.sum(dim=1)
        pads = x.shape[1] - lengths
        x, mask = shift_rows(x, pads), torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]
    runner = _run_packed if chosen == "packed" else _run_sequence
    seq, last, new = runner(cell, x, mask, states, training, return_sequences)
    seq, last, new = _finish_right_padded(seq, new, mask, states, zero_output_for_mask)
    if left_mask is not None:  # back to the input's layout; steps before the first real one output zeros
        last = torch.where(left_mask[:, -1:], new[0], torch.zeros_like(new[0]))
        if seq is not None:
            seq = torch.where(left_mask[..., None], shift_rows(seq, -pads), torch.zeros_like(seq))
    return seq, last, new


def _call_fused(cell, data, hx, training, batch_sizes=None):
    fn, params = cell.fused_fn(), cell.fused_params()
    lead = (data,) if batch_sizes is None else (data, batch_sizes)
    tail = (cell.use_bias, 1, 0.0, bool(training), False) + (() if batch_sizes is not None else (True,))
    if cell.n_states == 2:
        out, h, c = fn(*lead, (hx[0].unsqueeze(0), hx[1].unsqueeze(0)), params, *tail)
        return out, [h[0], c[0]]
    out, h = fn(*lead, hx[0].unsqueeze(0), params, *tail)
    return out, [h[0]]


def _run_packed(cell, x, mask, states, training, return_sequences):
    T = x.shape[1]
    lengths = mask.sum(dim=1)
    packed = pack_padded_sequence(x, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
    hx = [s.index_select(0, packed.sorted_indices) for s in states]
    data, new = _call_fused(cell, packed.data, hx, training, packed.batch_sizes)
    new = [s.index_select(0, packed.unsorted_indices) for s in new]
    out = None
    if return_sequences:
        out, _ = pad_packed_sequence(packed._replace(data=data), batch_first=True, total_length=T)
    return out, None, new


def _run_sequence(cell, x, mask, states, training, return_sequences):
    """A right-padded batch on the CPU: one autograd node for the whole sequence (sequence.py)."""
    B, T = x.shape[0], x.shape[1]
    lengths = mask.sum(dim=1)
    steps = int(lengths.max()) if B else 0
    if steps == 0:
        return (x.new_zeros(B, T, cell.units) if return_sequences else None), None, list(states)
    xp = cell.project(x[:, :steps])
    idx, rows = (lengths - 1).clamp(min=0), torch.arange(B, device=x.device)
    if cell.kernel_name == "lstm":
        hs_t, cs_t = lstm_sequence(xp, cell.recurrent_kernel, states[0], states[1], lengths)  # time-major
        new = [hs_t[idx, rows], cs_t[idx, rows]]
        hs = hs_t.transpose(0, 1)
    else:
        if cell.kernel_name == "gru":
            brec = cell.bias[1] if cell.use_bias else xp.new_zeros(3 * cell.units)
            hs = gru_sequence(xp, cell.recurrent_kernel, brec, states[0], lengths)
        else:
            hs = rnn_sequence(xp, cell.recurrent_kernel, states[0], lengths)
        new = [hs[rows, idx]]
    out = None
    if return_sequences:
        out = hs if steps == T else F.pad(hs, (0, 0, 0, T - steps))
    return out, None, new


def _finish_right_padded(out, new, mask, states, zero_output_for_mask):
    """Keras semantics for a right-padded batch from per-row final states and raw outputs."""
    empty = ~mask.any(dim=1)
    has_empty = empty.device.type == "meta" or bool(empty.any())  # on meta: the data-independent way
    if has_empty:
        new = [torch.where(empty[:, None], s0, s) for s0, s in zip(states, new)]
    if zero_output_for_mask:
        last = torch.where(mask[:, -1:], new[0], torch.zeros_like(new[0]))
    else:
        last = torch.where(empty[:, None], torch.zeros_like(new[0]), new[0]) if has_empty else new[0]
    seq = None
    if out is not None:
        fill = torch.zeros_like(last) if zero_output_for_mask else last
        seq = torch.where(mask[..., None], out, fill[:, None, :])
    return seq, last, new
