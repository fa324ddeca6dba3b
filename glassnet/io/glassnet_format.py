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
import zipfile
from contextlib import contextmanager

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from ..errors import FileFormatError
from ..layers import registry
from ..version import __version__
from .building import build_model
from .paths import weight_paths

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "atomic_write", "restore_training_state"]



MAX_MEMBER_BYTES = 4 << 30  # refuse archive members that claim more than 4 GiB uncompressed
MAX_JSON_BYTES = 64 << 20


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


@contextmanager
def atomic_write(path: str):
    """Yield a binary file object; on success it replaces ``path`` atomically (fsync, rename).

    The file gets the permissions a plain ``open(path, "wb")`` would give it (the temporary file
    behind it is created private).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix="-" + os.path.basename(path), dir=folder)
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
    return {k: v.detach().cpu().contiguous() for k, v in weight_paths(model).items()}


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
    try:
        info = z.getinfo(name)
    except KeyError:
        raise FileFormatError(f"{path}: the archive has no '{name}'.") from None
    if info.file_size > limit:
        raise FileFormatError(f"{path}: '{name}' claims {info.file_size} bytes, more than the {limit} allowed.")
    try:
        with z.open(info) as f:
            data = f.read(limit + 1)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
        raise FileFormatError(f"{path}: '{name}' cannot be read from the archive ({type(exc).__name__}: {exc}).") from exc
    except Exception as exc:  # zlib/bz2/lzma errors from damaged compressed members
        raise FileFormatError(f"{path}: '{name}' is damaged ({type(exc).__name__}: {exc}).") from exc
    if len(data) > limit:
        raise FileFormatError(f"{path}: '{name}' is larger than the {limit} bytes allowed.")
    return data


def _open_zip(path: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, OSError) as exc:
        raise FileFormatError(f"{path}: not a glassnet file (not a valid zip archive: {exc}).") from exc


def _json(z, name, path):
    raw = _read_member(z, name, path, MAX_JSON_BYTES)
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise FileFormatError(f"{path}: '{name}' is not valid JSON ({exc}).") from exc


def _tensors(z, name, path) -> dict[str, torch.Tensor]:
    raw = _read_member(z, name, path)
    try:
        return st_load(raw)
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise FileFormatError(f"{path}: '{name}' is not a valid safetensors file ({exc}).") from exc


def _assign(model, tensors: dict[str, torch.Tensor], path: str) -> None:
    """Check every weight first (names, shapes), then copy: a mismatch never half-loads the model."""
    expected = weight_paths(model)
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise FileFormatError(f"{path}: weights do not match the model: missing {missing[:5]}, unexpected {extra[:5]}.")
    for k in expected:
        v = tensors[k]
        if tuple(v.shape) != tuple(expected[k].shape):
            raise FileFormatError(f"{path}: weight '{k}' has shape {tuple(v.shape)}, the model expects {tuple(expected[k].shape)}.")
    with torch.no_grad():
        for k, v in tensors.items():
            expected[k].copy_(v)


def load_model(path, custom_objects: dict | None = None, compile: bool = True, safe_mode: bool = True):
    """Read a model saved by ``model.save``: architecture and weights (no code is executed)."""
    path = os.fspath(path)
    with _open_zip(path) as z:
        config = _json(z, "config.json", path)
        if not isinstance(config, dict):
            raise FileFormatError(f"{path}: config.json is not a model config.")
        model = build_model(config, path, os.path.getsize(path), custom_objects, safe_mode)
        _assign(model, _tensors(z, "model.safetensors", path), path)
    return model


def save_weights(model, path) -> None:
    """Weights only, as one safetensors file (atomic)."""
    with atomic_write(path) as f:
        f.write(st_save(_weights_dict(model)))


def load_weights(model, path) -> None:
    path = os.fspath(path)
    if zipfile.is_zipfile(path):
        with _open_zip(path) as z:
            _assign(model, _tensors(z, "model.safetensors", path), path)
        return
    with open(path, "rb") as f:
        raw = f.read(MAX_MEMBER_BYTES + 1)
    try:
        tensors = st_load(raw)
    except Exception as exc:
        raise FileFormatError(f"{path}: not a safetensors weights file ({exc}).") from exc
    _assign(model, tensors, path)


def restore_training_state(model, path) -> int:
    """Load weights, optimizer state and RNG state from a checkpoint; return the epoch to resume at."""
    path = os.fspath(path)
    with _open_zip(path) as z:
        _assign(model, _tensors(z, "model.safetensors", path), path)
        tensors = _tensors(z, "training.safetensors", path)
        meta = _json(z, "training.json", path)
    opt_meta = meta.get("optimizer")
    if opt_meta is not None and model.optimizer is not None:
        state: dict = {}
        for key, value in tensors.items():
            if key.startswith("optimizer/"):
                _, idx, name = key.split("/", 2)
                state.setdefault(int(idx), {})[name] = value
        for key, value in opt_meta.get("scalars", {}).items():
            idx, name = key.split("/", 1)
            state.setdefault(int(idx), {})[name] = value
        try:
            model.optimizer.load_state_dict({"state": state, "param_groups": opt_meta["param_groups"]})
        except (ValueError, KeyError) as exc:
            raise FileFormatError(f"{path}: the optimizer state does not fit this model's optimizer ({exc}).") from exc
    if "rng/torch" in tensors:
        torch.set_rng_state(tensors["rng/torch"])
    return int(meta.get("epoch", 0))
