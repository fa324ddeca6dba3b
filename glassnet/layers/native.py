"""The compiled LSTM recurrence (``lstm_kernel.c``): built once with the system C compiler, loaded by ctypes.

The masked LSTM path on the CPU spends most of its time dispatching a dozen small torch operations
per time step. The C file does a whole sequence in one call. It is compiled the first time it is
needed into a cache folder (``$GLASSNET_CACHE``, else ``$XDG_CACHE_HOME/glassnet`` or
``~/.cache/glassnet``), keyed by the source, the compiler and the CPU, and written atomically.

When no C compiler is found, the compile fails, or ``GLASSNET_NATIVE=0`` is set, ``library()``
returns None and the LSTM uses the torch kernel in ``sequence_kernel.py`` (same numbers to float32
round-off). ``status()`` says which and why.
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

__all__ = ["library", "status"]

_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lstm_kernel.c")
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
    target = os.path.join(folder, f"lstm_kernel-{key}.so")
    if not os.path.exists(target):
        try:
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".so", dir=folder)
            os.close(fd)
            done = subprocess.run([cc, *_FLAGS, "-o", tmp, _SOURCE, "-lm"], capture_output=True, text=True,
                                  timeout=120)
            if done.returncode != 0:
                os.unlink(tmp)
                return None, f"compiling lstm_kernel.c failed ({done.stderr.strip()[:300]}); using the torch kernel"
            os.replace(tmp, target)
        except (OSError, subprocess.SubprocessError) as exc:
            return None, f"could not build the native LSTM kernel ({exc}); using the torch kernel"
    try:
        lib = ctypes.CDLL(target)
    except OSError as exc:
        return None, f"could not load {target} ({exc}); using the torch kernel"
    p, i64 = ctypes.c_void_p, ctypes.c_int64
    lib.glassnet_lstm_forward.argtypes = [i64, i64, i64] + [p] * 9
    lib.glassnet_lstm_forward.restype = None
    lib.glassnet_lstm_backward.argtypes = [i64, i64, i64] + [p] * 11
    lib.glassnet_lstm_backward.restype = None
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
