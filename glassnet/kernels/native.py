"""The compiled recurrences (``recurrence.c``: LSTM, GRU, SimpleRNN): built once with the system C compiler,
loaded by ctypes.

Why ctypes and not ``torch.utils.cpp_extension`` (measured side by side on a 2-core machine, the same
C code behind both): the first build takes 0.7 s with the system C compiler against 24 s for the torch
extension (which also needs ninja and compiles the file as C++); a call costs about 14 µs here with
every check below against about 8 µs through the extension — two calls per batch, under 0.5% of a
masked LSTM batch. What the extension would add, tensor checks, is done here instead: ``forward`` and
``backward`` check every tensor's dtype, device, contiguity and shape, and the C entry points check
each buffer's size again before touching memory (they return -1 otherwise).

A masked recurrent layer on the CPU would spend most of its time dispatching a dozen small torch operations
per time step. The C file does a whole sequence in one call. It is compiled the first time it is
needed into a cache folder (``$GLASSNET_CACHE``, else ``$XDG_CACHE_HOME/glassnet`` or
``~/.cache/glassnet``), keyed by the source, the compiler and the CPU, and written atomically.

When no C compiler is found, the compile fails, or ``GLASSNET_NATIVE=0`` is set, ``library()``
returns None: the LSTM then uses the torch kernel in ``sequence.py`` (same numbers to float32 round-off),
GRU and SimpleRNN torch's packed kernels. ``status()`` says which and why.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading

import torch

__all__ = ["library", "status", "forward", "backward", "gru_forward", "gru_backward", "rnn_forward", "rnn_backward"]

_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "recurrence.c")
# -fassociative-math lets reductions vectorise; no -ffast-math, so NaN and infinities behave as in torch
_FLAGS = ["-O3", "-march=native", "-fno-math-errno", "-fassociative-math", "-fno-signed-zeros",
          "-fno-trapping-math", "-fPIC", "-shared"]
_lock = threading.Lock()
_state: dict = {}


def _cache_dir() -> str:
    root = os.environ.get("GLASSNET_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "glassnet")
    return os.path.join(root, "kernels")


def _cpu_id() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            lines = [l for l in f if l.startswith(("model name", "flags"))][:2]
        return "".join(lines)
    except OSError:
        return platform.processor()


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _build() -> tuple[ctypes.CDLL | None, str]:
    if os.environ.get("GLASSNET_NATIVE", "1") == "0":
        return None, "disabled by GLASSNET_NATIVE=0"
    cc = _compiler()
    if cc is None:
        return None, "no C compiler found (cc, gcc or clang); using the torch kernel"
    try:
        with open(_SOURCE, "rb") as f:
            source = f.read()
    except OSError as exc:
        return None, f"the kernel's source is missing ({exc}); using the torch kernel"
    try:
        version = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"the C compiler {cc} does not run ({exc}); using the torch kernel"
    key = hashlib.sha256(source + version.encode() + " ".join(_FLAGS).encode() + _cpu_id().encode()
                         + platform.machine().encode()).hexdigest()[:20]
    folder = _cache_dir()
    target = os.path.join(folder, f"recurrence-{key}.so")
    if not os.path.exists(target):
        try:
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".so", dir=folder)
            os.close(fd)
            done = subprocess.run([cc, *_FLAGS, "-o", tmp, _SOURCE, "-lm"], capture_output=True, text=True,
                                  timeout=120)
            if done.returncode != 0:
                os.unlink(tmp)
                return None, f"compiling recurrence.c failed ({done.stderr.strip()[:300]}); using the torch kernel"
            os.replace(tmp, target)
        except (OSError, subprocess.SubprocessError) as exc:
            return None, f"could not build the native LSTM kernel ({exc}); using the torch kernel"
    try:
        lib = ctypes.CDLL(target)
    except OSError as exc:
        return None, f"could not load {target} ({exc}); using the torch kernel"
    p, i64 = ctypes.c_void_p, ctypes.c_int64
    try:
        lib.glassnet_lstm_forward.argtypes = [i64, i64, i64] + [p] * 9 + [ctypes.POINTER(i64)]
        lib.glassnet_lstm_forward.restype = ctypes.c_int
        lib.glassnet_lstm_backward.argtypes = [i64, i64, i64] + [p] * 11 + [ctypes.POINTER(i64)]
        lib.glassnet_lstm_backward.restype = ctypes.c_int
        for name, n in (("gru_forward", 8), ("gru_backward", 10), ("rnn_forward", 5), ("rnn_backward", 7)):
            fn = getattr(lib, f"glassnet_{name}")
            fn.argtypes = [i64, i64, i64] + [p] * n + [ctypes.POINTER(i64)]
            fn.restype = ctypes.c_int
    except AttributeError as exc:
        return None, f"{target} lacks the kernel's entry points ({exc}); using the torch kernel"
    return lib, f"compiled ({target})"


def library():
    """The loaded kernel library, or None (then see ``status()``)."""
    if "lib" not in _state:
        with _lock:
            if "lib" not in _state:
                _state["lib"], _state["status"] = _build()
    return _state["lib"]


def status() -> str:
    library()
    return _state["status"]


def _ptr(t):
    return None if t is None else ctypes.c_void_p(t.data_ptr())


def _checked(name: str, t, shape: tuple, dtype):
    """``t`` as the C code will read it: on the CPU, of ``dtype``, contiguous, of exactly ``shape``."""
    if t is None:
        return None
    if t.device.type != "cpu" or t.dtype != dtype or not t.is_contiguous() or tuple(t.shape) != tuple(shape):
        raise RuntimeError(f"recurrence: {name} must be a contiguous {dtype} CPU tensor of shape {tuple(shape)}; "
                           f"got {t.dtype} on {t.device}, shape {tuple(t.shape)}, contiguous={t.is_contiguous()}")
    return t


def _sizes(*tensors):
    counts = [0 if t is None else t.numel() for t in tensors]
    return (ctypes.c_int64 * len(counts))(*counts)


def forward(B, T, d, xp, R, h0, c0, lengths, gates, cs, hs, tcs) -> None:
    """One forward pass of the compiled LSTM recurrence (see recurrence.c), every buffer checked first."""
    f32, G = torch.float32, 4 * d
    args = [_checked("xp", xp, (B, T, G), f32), _checked("R", R, (d, G), f32), _checked("h0", h0, (B, d), f32),
            _checked("c0", c0, (B, d), f32), _checked("lengths", lengths, (B,), torch.int64),
            _checked("gates", gates, (B, T, G), f32), _checked("cs", cs, (B, T, d), f32),
            _checked("hs", hs, (B, T, d), f32), _checked("tcs", tcs, (B, T, d), f32)]
    if library().glassnet_lstm_forward(B, T, d, *(_ptr(a) for a in args), _sizes(*args)) != 0:
        raise RuntimeError("recurrence: the LSTM forward entry point refused its buffer sizes")


def backward(B, T, d, RT, c0, lengths, gates, cs, tcs, dhs, dcs, dxp, dh0, dc0) -> None:
    f32, G = torch.float32, 4 * d
    args = [_checked("RT", RT, (G, d), f32), _checked("c0", c0, (B, d), f32),
            _checked("lengths", lengths, (B,), torch.int64), _checked("gates", gates, (B, T, G), f32),
            _checked("cs", cs, (B, T, d), f32), _checked("tcs", tcs, (B, T, d), f32),
            _checked("dhs", dhs, (B, T, d), f32), _checked("dcs", dcs, (B, T, d), f32),
            _checked("dxp", dxp, (B, T, G), f32), _checked("dh0", dh0, (B, d), f32),
            _checked("dc0", dc0, (B, d), f32)]
    if library().glassnet_lstm_backward(B, T, d, *(_ptr(a) for a in args), _sizes(*args)) != 0:
        raise RuntimeError("recurrence: the LSTM backward entry point refused its buffer sizes")


def _call(name: str, B, T, d, args) -> None:
    if getattr(library(), f"glassnet_{name}")(B, T, d, *(_ptr(a) for a in args), _sizes(*args)) != 0:
        raise RuntimeError(f"recurrence: the {name} entry point refused its buffers")


def gru_forward(B, T, d, xp, R, brec, h0, lengths, gates, rh, hs) -> None:
    """One forward pass of the compiled GRU recurrence (reset_after=True), every buffer checked first."""
    f32, G = torch.float32, 3 * d
    _call("gru_forward", B, T, d, [
        _checked("xp", xp, (B, T, G), f32), _checked("R", R, (d, G), f32), _checked("brec", brec, (G,), f32),
        _checked("h0", h0, (B, d), f32), _checked("lengths", lengths, (B,), torch.int64),
        _checked("gates", gates, (B, T, G), f32), _checked("rh", rh, (B, T, d), f32), _checked("hs", hs, (B, T, d), f32)])


def gru_backward(B, T, d, RT, h0, lengths, gates, rh, hs, dhs, dxp, drec, dh0) -> None:
    f32, G = torch.float32, 3 * d
    _call("gru_backward", B, T, d, [
        _checked("RT", RT, (G, d), f32), _checked("h0", h0, (B, d), f32),
        _checked("lengths", lengths, (B,), torch.int64), _checked("gates", gates, (B, T, G), f32),
        _checked("rh", rh, (B, T, d), f32), _checked("hs", hs, (B, T, d), f32), _checked("dhs", dhs, (B, T, d), f32),
        _checked("dxp", dxp, (B, T, G), f32), _checked("drec", drec, (B, T, G), f32), _checked("dh0", dh0, (B, d), f32)])


def rnn_forward(B, T, d, xp, R, h0, lengths, hs) -> None:
    """One forward pass of the compiled SimpleRNN (tanh) recurrence, every buffer checked first."""
    f32 = torch.float32
    _call("rnn_forward", B, T, d, [
        _checked("xp", xp, (B, T, d), f32), _checked("R", R, (d, d), f32), _checked("h0", h0, (B, d), f32),
        _checked("lengths", lengths, (B,), torch.int64), _checked("hs", hs, (B, T, d), f32)])


def rnn_backward(B, T, d, RT, h0, lengths, hs, dhs, dxp, dh0) -> None:
    f32 = torch.float32
    _call("rnn_backward", B, T, d, [
        _checked("RT", RT, (d, d), f32), _checked("h0", h0, (B, d), f32),
        _checked("lengths", lengths, (B,), torch.int64), _checked("hs", hs, (B, T, d), f32),
        _checked("dhs", dhs, (B, T, d), f32), _checked("dxp", dxp, (B, T, d), f32), _checked("dh0", dh0, (B, d), f32)])
