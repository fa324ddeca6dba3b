"""The native format ``.glassnet``: a zip of ``config.json`` (Keras config schema), ``metadata.json``
and ``model.safetensors`` (weights), plus ``training.safetensors`` and ``training.json``
(optimizer state, epoch, RNG state) for checkpoints.  No pickle: loading never runs code.

Every write goes to a temporary file in the target folder, is flushed and fsynced, then renamed
over the target, so a crash or kill mid-save leaves the previous file whole.
"""
from __future__ import annotations

import datetime
import json
import os
import tempfile
import warnings
import zipfile
from contextlib import contextmanager

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from ..errors import FileFormatError, GlassnetWarning
from ..layers import registry
from ..version import __version__
from .building import build_model
from .paths import weight_paths

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "atomic_write", "restore_training_state"]



MAX_MEMBER_BYTES = 4 << 30  # no archive member is read past 4 GiB, whatever the model
MAX_JSON_BYTES = 16 << 20    # a config of 100,000 layers is a few megabytes
MAX_JSON_CONTAINERS = 2_000_000  # lists and objects in one JSON member (each costs ~100 bytes once parsed)


def _umask_at_import() -> int:
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


_UMASK_AT_IMPORT = _umask_at_import()


def _file_mode() -> int:
    """The mode ``open()`` would give a new file: 0o666 less the process's umask (read from /proc
    where it can be, since setting the umask to read it is not thread-safe)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            umask = next(int(line.split()[1], 8) for line in f if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        umask = _UMASK_AT_IMPORT
    return 0o666 & ~umask


_TMP_PREFIX = ".tmp-"


def _remove_stale_temporaries(folder: str, basename: str) -> None:
    """Temporaries of ``basename`` left by a process that no longer runs (killed mid-save) are removed
    by the next save of the same file: their names carry the writer's pid."""
    suffix = "-" + basename
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if not (name.startswith(_TMP_PREFIX) and name.endswith(suffix)):
            continue
        pid = name[len(_TMP_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # its writer is alive: not stale
        except ProcessLookupError:
            pass
        except (PermissionError, OSError):
            continue
        try:
            os.unlink(os.path.join(folder, name))
        except OSError:
            pass


@contextmanager
def atomic_write(path: str):
    """Yield a binary file object; on success it replaces ``path`` atomically (fsync, rename).

    The file gets the permissions a plain ``open(path, "wb")`` would give it (the temporary file
    behind it is created private). The temporary is named ``.tmp-<pid>-…-<name>``; a save removes the
    temporaries of the same name whose process is gone (a writer killed mid-save leaves nothing behind
    for long).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(folder, exist_ok=True)
    _remove_stale_temporaries(folder, os.path.basename(path))
    fd, tmp = tempfile.mkstemp(prefix=f"{_TMP_PREFIX}{os.getpid()}-", suffix="-" + os.path.basename(path), dir=folder)
    try:
        if hasattr(os, "fchmod"):  # POSIX
            os.fchmod(fd, _file_mode())
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _weights_dict(model) -> dict[str, torch.Tensor]:
    """Every weight by its path; a tensor stored under two paths (SpectralNormalization keeps its kernel twice,
    as Keras does) is copied, since safetensors stores no shared memory."""
    out, seen = {}, set()
    for k, v in weight_paths(model).items():
        t = v.detach().cpu().contiguous()
        key = (t.untyped_storage().data_ptr(), t.storage_offset())
        out[k] = t.clone() if key in seen else t
        seen.add(key)
    return out


def _training_tensors(model) -> tuple[dict[str, torch.Tensor], dict]:
    tensors: dict[str, torch.Tensor] = {"rng/torch": torch.get_rng_state()}
    meta: dict = {"epoch": int(getattr(model, "_epoch", 0))}
    opt = model.optimizer
    if opt is not None:
        sd = opt.state_dict()
        scalars: dict = {}
        for idx, state in sd["state"].items():
            for name, value in state.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optimizer/{idx}/{name}"] = value.detach().cpu().contiguous()
                else:
                    scalars[f"{idx}/{name}"] = value
        meta["optimizer"] = {"class": type(opt).__name__, "param_groups": sd["param_groups"], "scalars": scalars}
    return tensors, meta


def save_model(model, path, training_state: bool = False) -> None:
    """Write ``model`` to ``path`` (``.glassnet``) atomically; with training state for checkpoints."""
    config = registry.serialize(model)
    metadata = {"glassnet_version": __version__, "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    with atomic_write(path) as f:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as z:
            z.writestr("metadata.json", json.dumps(metadata))
            z.writestr("config.json", json.dumps(config))
            z.writestr("model.safetensors", st_save(_weights_dict(model)))
            if training_state:
                tensors, meta = _training_tensors(model)
                z.writestr("training.safetensors", st_save(tensors))
                z.writestr("training.json", json.dumps(meta))


def _read_member(z: zipfile.ZipFile, name: str, path: str, limit: int = MAX_MEMBER_BYTES) -> bytes:
    """A member's bytes, never more than ``limit`` of them (whatever the zip's headers claim)."""
    try:
        info = z.getinfo(name)
    except KeyError:
        raise FileFormatError(f"{path}: the archive has no '{name}'.") from None
    limit = min(limit, MAX_MEMBER_BYTES)
    if info.file_size > limit:
        raise FileFormatError(f"{path}: '{name}' claims {info.file_size:,} bytes, more than the {limit:,} this "
                              "model can need.")
    try:
        with z.open(info) as f:
            data = f.read(limit + 1)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
        raise FileFormatError(f"{path}: '{name}' cannot be read from the archive ({type(exc).__name__}: {exc}).") from exc
    except Exception as exc:  # zlib/bz2/lzma errors from damaged compressed members
        raise FileFormatError(f"{path}: '{name}' is damaged ({type(exc).__name__}: {exc}).") from exc
    if len(data) > limit:
        raise FileFormatError(f"{path}: '{name}' holds more than the {limit:,} bytes this model can need.")
    return data


def open_zip(path: str) -> zipfile.ZipFile:
    """The archive, refused when two members share a name (a scanner and a loader could see different files)."""
    try:
        z = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise FileFormatError(f"{path}: not a valid zip archive ({exc}).") from exc
    names = [i.filename for i in z.infolist()]
    if len(names) != len(set(names)):
        dup = sorted({n for n in names if names.count(n) > 1})
        z.close()
        raise FileFormatError(f"{path}: the archive holds several members named {dup}; refused.")
    return z


def _json(z, name, path):
    raw = _read_member(z, name, path, MAX_JSON_BYTES)
    return parse_json(raw, name, path)


def parse_json(raw: bytes, name: str, path: str):
    """JSON from an archive, after a bound on how many containers it holds (parsing allocates each)."""
    containers = raw.count(b"[") + raw.count(b"{")
    if containers > MAX_JSON_CONTAINERS:
        raise FileFormatError(f"{path}: '{name}' holds {containers:,} lists and objects, more than any model "
                              f"config ({MAX_JSON_CONTAINERS:,}); refused.")
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise FileFormatError(f"{path}: '{name}' is not valid JSON ({exc}).") from exc


def _tensors(z, name, path, limit: int = MAX_MEMBER_BYTES) -> dict[str, torch.Tensor]:
    raw = _read_member(z, name, path, limit)
    try:
        return st_load(raw)
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise FileFormatError(f"{path}: '{name}' is not a valid safetensors file ({exc}).") from exc


def weights_bytes(model) -> int:
    return sum(w.numel() * w.element_size() for w in model.weights)


def safetensors_limit(model, factor: int = 1) -> int:
    """The most bytes a safetensors member of ``model``'s weights (times ``factor``) can take: the data,
    plus a JSON header of a few hundred bytes per tensor."""
    return factor * weights_bytes(model) + 4096 * (len(model.weights) * factor + 8) + (1 << 16)


def check_tensor_value(key: str, value: torch.Tensor, target: torch.Tensor, path: str) -> None:
    """A stored weight must have the target's shape and a real float dtype; another float width is converted,
    with a note (never silently), anything else (integers, booleans, complex numbers) is refused."""
    if tuple(value.shape) != tuple(target.shape):
        raise FileFormatError(f"{path}: weight '{key}' has shape {tuple(value.shape)}, the model expects "
                              f"{tuple(target.shape)}.")
    if value.dtype == target.dtype:
        return
    if not value.is_floating_point() or value.is_complex():
        raise FileFormatError(f"{path}: weight '{key}' is stored as {value.dtype}, not as a float; the model "
                              f"expects {target.dtype}.")
    change = "widened" if value.element_size() < target.element_size() else "rounded"
    warnings.warn(f"{path}: weight '{key}' is stored as {value.dtype} and is {change} to the model's "
                  f"{target.dtype}.", GlassnetWarning, stacklevel=4)


def _assign(model, tensors: dict[str, torch.Tensor], path: str) -> None:
    """Check every weight first (names, shapes, dtypes), then copy: a mismatch never half-loads the model."""
    expected = weight_paths(model)
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise FileFormatError(f"{path}: weights do not match the model: missing {missing[:5]}, unexpected {extra[:5]}.")
    for k in expected:
        check_tensor_value(k, tensors[k], expected[k], path)
    with torch.no_grad():
        for k, v in tensors.items():
            expected[k].copy_(v)


def load_model(path, custom_objects: dict | None = None, compile: bool = True, safe_mode: bool = True):
    """Read a model saved by ``model.save``: architecture and weights (no code is executed)."""
    path = os.fspath(path)
    with open_zip(path) as z:
        config = _json(z, "config.json", path)
        if not isinstance(config, dict):
            raise FileFormatError(f"{path}: config.json is not a model config.")
        model = build_model(config, path, os.path.getsize(path), custom_objects, safe_mode)
        _assign(model, _tensors(z, "model.safetensors", path, safetensors_limit(model)), path)
    return model


def save_weights(model, path) -> None:
    """Weights only, as one safetensors file (atomic)."""
    with atomic_write(path) as f:
        f.write(st_save(_weights_dict(model)))


def load_weights(model, path) -> None:
    path = os.fspath(path)
    if zipfile.is_zipfile(path):
        with open_zip(path) as z:
            _assign(model, _tensors(z, "model.safetensors", path, safetensors_limit(model)), path)
        return
    limit = safetensors_limit(model)
    if os.path.getsize(path) > limit:
        raise FileFormatError(f"{path}: {os.path.getsize(path):,} bytes, more than this model's weights can take "
                              f"({limit:,}).")
    with open(path, "rb") as f:
        raw = f.read(limit + 1)
    try:
        tensors = st_load(raw)
    except Exception as exc:
        raise FileFormatError(f"{path}: not a safetensors weights file ({exc}).") from exc
    _assign(model, tensors, path)


def _check_training_state(model, tensors: dict, meta, path: str):
    """Every part of a checkpoint's training state checked against the model and its optimizer before
    anything is assigned: the epoch, the optimizer's class, groups and per-parameter state, the RNG state.
    Returns ``(epoch, optimizer state dict or None, rng tensor or None)``."""
    if not isinstance(meta, dict):
        raise FileFormatError(f"{path}: training.json is not an object.")
    epoch = meta.get("epoch", 0)
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch <= 10**9:
        raise FileFormatError(f"{path}: training.json gives epoch {epoch!r}; expected a non-negative integer.")
    rng = tensors.get("rng/torch")
    if rng is not None:
        current = torch.get_rng_state()
        if rng.dtype != current.dtype or tuple(rng.shape) != tuple(current.shape):
            raise FileFormatError(f"{path}: the stored random-generator state has dtype {rng.dtype} and shape "
                                  f"{tuple(rng.shape)}; torch's is {current.dtype} {tuple(current.shape)}.")
    opt_meta = meta.get("optimizer")
    optimizer = model.optimizer
    if opt_meta is None or optimizer is None:
        return epoch, None, rng
    if not getattr(optimizer, "built", True):  # a glassnet optimizer builds on the model's weights when first used
        optimizer.build(list(model.trainable_weights))
    if not isinstance(opt_meta, dict) or not isinstance(opt_meta.get("param_groups"), list):
        raise FileFormatError(f"{path}: training.json's optimizer entry has no list of param_groups.")
    if opt_meta.get("class") != type(optimizer).__name__:
        raise FileFormatError(f"{path}: the checkpoint's optimizer is {opt_meta.get('class')!r}; this model was "
                              f"compiled with {type(optimizer).__name__}. Compile it with the same optimizer to resume.")
    mine = optimizer.state_dict()["param_groups"]
    groups = opt_meta["param_groups"]
    if len(groups) != len(mine) or any(not isinstance(g, dict) or not isinstance(g.get("params"), list)
                                       or len(g["params"]) != len(m["params"]) for g, m in zip(groups, mine)):
        raise FileFormatError(f"{path}: the checkpoint's optimizer groups do not match this model's parameters.")
    for g, m in zip(groups, mine):
        for key, value in g.items():
            if key != "params" and isinstance(m.get(key), (int, float)) and not isinstance(m.get(key), bool):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value \
                        or value in (float("inf"), float("-inf")):
                    raise FileFormatError(f"{path}: optimizer setting {key}={value!r} is not a finite number.")
    params = [p for group in optimizer.param_groups for p in group["params"]]
    state: dict = {}
    for key, value in tensors.items():
        if not key.startswith("optimizer/"):
            continue
        parts = key.split("/", 2)
        if len(parts) != 3 or not parts[1].isdigit() or int(parts[1]) >= len(params):
            raise FileFormatError(f"{path}: optimizer state '{key}' names no parameter of this model.")
        p = params[int(parts[1])]
        if not value.is_floating_point() and value.dtype not in (torch.int64, torch.int32):
            raise FileFormatError(f"{path}: optimizer state '{key}' has dtype {value.dtype}.")
        if value.numel() != 1 and tuple(value.shape) != tuple(p.shape):
            raise FileFormatError(f"{path}: optimizer state '{key}' has shape {tuple(value.shape)}; its parameter "
                                  f"has {tuple(p.shape)}.")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise FileFormatError(f"{path}: optimizer state '{key}' holds NaN or infinite values.")
        state.setdefault(int(parts[1]), {})[parts[2]] = value
    scalars = opt_meta.get("scalars", {})
    if not isinstance(scalars, dict):
        raise FileFormatError(f"{path}: training.json's optimizer scalars are not an object.")
    for key, value in scalars.items():
        idx, _, name = str(key).partition("/")
        if not idx.isdigit() or int(idx) >= len(params) or not name:
            raise FileFormatError(f"{path}: optimizer scalar '{key}' names no parameter of this model.")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise FileFormatError(f"{path}: optimizer scalar '{key}' is {value!r}, not a number.")
        state.setdefault(int(idx), {})[name] = value
    return epoch, {"state": state, "param_groups": groups}, rng


def restore_training_state(model, path) -> int:
    """Load weights, optimizer state and RNG state from a checkpoint; return the epoch to resume at.

    The whole checkpoint is read and checked first; nothing in the model or its optimizer changes unless
    every part fits.
    """
    path = os.fspath(path)
    with open_zip(path) as z:
        weights = _tensors(z, "model.safetensors", path, safetensors_limit(model))
        tensors = _tensors(z, "training.safetensors", path, safetensors_limit(model, factor=4))
        meta = _json(z, "training.json", path)
    expected = weight_paths(model)
    missing, extra = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
    if missing or extra:
        raise FileFormatError(f"{path}: weights do not match the model: missing {missing[:5]}, unexpected {extra[:5]}.")
    for k in expected:
        check_tensor_value(k, weights[k], expected[k], path)
    epoch, opt_state, rng = _check_training_state(model, tensors, meta, path)
    if opt_state is not None:
        backup = model.optimizer.state_dict()
        try:
            model.optimizer.load_state_dict(opt_state)
        except (ValueError, KeyError, TypeError, RuntimeError) as exc:
            model.optimizer.load_state_dict(backup)
            raise FileFormatError(f"{path}: the optimizer state does not fit this model's optimizer ({exc}).") from exc
    _assign(model, weights, path)
    if rng is not None:
        torch.set_rng_state(rng)
    return epoch
