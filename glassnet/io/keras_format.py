"""Keras model files both ways: ``.keras`` (zip of config.json, metadata.json, model.weights.h5),
legacy full-model ``.h5`` and ``.weights.h5``, read without TensorFlow or Keras.

Reading never executes code from the file: configs are plain JSON turned into glassnet layers by
class name; Python bytecode (Lambda) is refused unless the caller passes ``safe_mode=False``.
Every size is checked before it is read (zip members are capped, HDF5 dataset shapes are compared
with the model's before any data is read), so a malformed or hostile file raises
``FileFormatError`` naming the file and what is wrong, and never half-loads a model.
"""
from __future__ import annotations

import datetime
import io
import json
import mmap
import os
import zipfile

import numpy as np
import torch

from ..errors import FileFormatError
from .native import MAX_JSON_BYTES, MAX_MEMBER_BYTES, _open_zip, _read_member, atomic_write
from .paths import weight_paths

__all__ = ["load_keras", "save_keras", "load_legacy_h5", "save_legacy_h5", "load_weights_h5", "save_weights_h5",
           "is_hdf5"]

KERAS_FORMAT_VERSION = "3.15.1"  # the Keras release whose file layout this writes


def _h5py():
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover - h5py is in the test and keras extras
        raise ImportError("Reading or writing Keras .keras/.h5 files needs h5py: pip install 'glassnet[keras]'") from exc
    return h5py


_H5_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError, IndexError, AttributeError, UnicodeDecodeError)


class _H5Guard:
    """Turns any error HDF5 raises while reading a damaged file into FileFormatError naming the file."""

    def __init__(self, path: str):
        self.path = path

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is not None and not isinstance(exc, FileFormatError) and isinstance(exc, _H5_ERRORS):
            raise FileFormatError(f"{self.path}: damaged HDF5 content ({type(exc).__name__}: {exc}).") from exc
        return False


def is_hdf5(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(8) == b"\x89HDF\r\n\x1a\n"


_GCOL = b"GCOL\x01\x00\x00\x00"  # a global heap collection (version 1): where HDF5 keeps variable-length strings


def _check_global_heaps(buf, path: str) -> None:
    """Walk every global heap collection the way HDF5 will, and refuse the file if a walk cannot end.

    HDF5 decodes a collection by stepping from one object header to the next by the sizes written in
    the file. A damaged size (a free-space entry of size 0, or a step past the end) sends its C loop
    round forever, where no Python signal can reach it; Keras keeps ``model_config`` in such a string.
    """
    end = len(buf)
    at = buf.find(_GCOL)
    while at >= 0:
        size = int.from_bytes(buf[at + 8:at + 16], "little")
        if size < 16 or at + size > end:
            raise FileFormatError(f"{path}: damaged HDF5 content (a global heap collection at byte {at} "
                                  f"claims {size} bytes; the file has {end - at} left).")
        p, stop = at + 16, at + size
        while p < stop:
            if p + 16 > stop:  # too small for an object header: HDF5 takes it as free space
                break
            index = int.from_bytes(buf[p:p + 2], "little")
            length = int.from_bytes(buf[p + 8:p + 16], "little")
            step = length if index == 0 else 16 + (length + 7) // 8 * 8
            if step <= 0 or p + step > stop:
                raise FileFormatError(f"{path}: damaged HDF5 content (object {index} of the global heap "
                                      f"collection at byte {at} has an impossible size {length}).")
            p += step
        at = buf.find(_GCOL, at + 16)


_VLEN_ATTRS = ("model_config", "training_config", "keras_version", "backend")


def _u(buf, at: int, n: int) -> int:
    return int.from_bytes(buf[at:at + n], "little")


def _check_vlen_attributes(buf, path: str) -> None:
    """Refuse a Keras string attribute whose stored length is larger than the whole file.

    A variable-length string attribute stores its length beside a pointer into the global heap;
    HDF5 allocates that many bytes before it finds out the pointer is bad, so a damaged length means
    gigabytes allocated for a file of kilobytes. Attribute messages of layout version 1 (what h5py
    writes by default) and 3 are recognised by their name; anything else is left to HDF5.
    """
    end = len(buf)
    for name in _VLEN_ATTRS:
        key = name.encode() + b"\x00"
        n = buf.find(key)
        while n >= 0:
            size = len(key)
            data = None
            if n >= 8 and buf[n - 8] == 1 and buf[n - 7] == 0 and _u(buf, n - 6, 2) == size:
                dt = n + (size + 7) // 8 * 8
                data = dt + (_u(buf, n - 4, 2) + 7) // 8 * 8 + (_u(buf, n - 2, 2) + 7) // 8 * 8
            elif n >= 9 and buf[n - 9] == 3 and _u(buf, n - 7, 2) == size:
                dt = n + size
                data = dt + _u(buf, n - 5, 2) + _u(buf, n - 3, 2)
            if data is not None and dt < end and buf[dt] & 0x0F == 9 and data + 4 <= end:
                length = _u(buf, data, 4)
                if length > end:
                    raise FileFormatError(f"{path}: damaged HDF5 content (the '{name}' attribute claims a string of "
                                          f"{length:,} bytes in a file of {end:,}).")
            n = buf.find(key, n + 1)


def _check_bytes(buf, path: str) -> None:
    """The checks made on a file's raw bytes before HDF5 parses it (HDF5 hangs, crashes or allocates
    gigabytes on these damages instead of raising)."""
    _check_global_heaps(buf, path)
    _check_vlen_attributes(buf, path)


def _open_h5(source, path: str):
    h5py = _h5py()
    if isinstance(source, io.BytesIO):
        _check_bytes(source.getvalue(), path)
    else:
        with open(source, "rb") as raw:
            if os.fstat(raw.fileno()).st_size:
                with mmap.mmap(raw.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                    _check_bytes(buf, path)
    try:
        return h5py.File(source, "r")
    except Exception as exc:  # h5py raises OSError and others for corrupt files
        raise FileFormatError(f"{path}: not a readable HDF5 file ({type(exc).__name__}: {exc}).") from exc


def _type_class(obj_id) -> int:
    """The HDF5 type class of a dataset or attribute, read without converting any data."""
    return obj_id.get_type().get_class()


def _safe_attr(obj, name: str, path: str, numbers_if_empty: bool = False):
    """``obj.attrs[name]`` (None if absent), once its HDF5 type is known to be a string type.

    HDF5 converts a damaged variable-length type (a vlen of something other than characters) by crashing
    the process, so the type class is checked before h5py reads the value. ``numbers_if_empty`` also
    accepts an empty numeric array (how an empty ``weight_names`` list is written).
    """
    h5py = _h5py()
    if name not in obj.attrs:
        return None
    attr = h5py.h5a.open(obj.id, name.encode())
    cls = _type_class(attr)
    empty_numbers = numbers_if_empty and cls in (h5py.h5t.FLOAT, h5py.h5t.INTEGER) \
        and attr.get_space().get_simple_extent_npoints() == 0
    if cls != h5py.h5t.STRING and not empty_numbers:
        raise FileFormatError(f"{path}: the '{name}' attribute of '{obj.name}' has HDF5 type class {cls}; "
                              "expected a string or an array of strings.")
    return obj.attrs[name]


def _check_numeric(ds, key: str, path: str) -> None:
    h5py = _h5py()
    cls = _type_class(ds.id)
    if cls not in (h5py.h5t.FLOAT, h5py.h5t.INTEGER):
        raise FileFormatError(f"{path}: weight '{key}' has HDF5 type class {cls}, not a number type.")


# ---------------------------------------------------------------------- weights in Keras's H5 layout
def _read_paths(f, model, path: str) -> dict[str, np.ndarray]:
    """Every weight the model expects, from its Keras path; shapes checked before data is read."""
    h5py = _h5py()
    expected = weight_paths(model)
    found: set[str] = set()

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and name.startswith("layers/"):
            found.add(name)
    try:
        f.visititems(visit)
    except Exception as exc:
        raise FileFormatError(f"{path}: the weights file is damaged ({type(exc).__name__}: {exc}).") from exc
    missing = [k for k in expected if k not in found]
    extra = sorted(found - set(expected))
    if missing or extra:
        raise FileFormatError(f"{path}: weights do not match the model: missing {missing[:5]}, unexpected {extra[:5]}.")
    values = {}
    for key, tensor in expected.items():
        ds = f[key]
        if tuple(ds.shape) != tuple(tensor.shape):
            raise FileFormatError(f"{path}: weight '{key}' has shape {tuple(ds.shape)}, the model expects {tuple(tensor.shape)}.")
        _check_numeric(ds, key, path)
        if ds.dtype.kind not in "fiu":
            raise FileFormatError(f"{path}: weight '{key}' has dtype {ds.dtype}, not a number type.")
        try:
            values[key] = np.asarray(ds[()])
        except Exception as exc:
            raise FileFormatError(f"{path}: weight '{key}' cannot be read ({type(exc).__name__}: {exc}).") from exc
    return values


def _assign(model, values: dict[str, np.ndarray]) -> None:
    with torch.no_grad():
        for key, tensor in weight_paths(model).items():
            tensor.copy_(torch.as_tensor(values[key], dtype=tensor.dtype))


def _write_paths(f, model) -> None:
    """Keras's H5IOStore layout: one ``vars`` group per saveable object, datasets "0", "1", …"""
    for key, tensor in weight_paths(model).items():
        group_path, _, index = key.rpartition("/")
        group = f.require_group(group_path)
        group.attrs["name"] = group_path.split("/")[-2] if group_path.count("/") >= 1 else group_path
        group.create_dataset(index, data=tensor.detach().cpu().numpy())
    from ..models.model import Model

    def empty_groups(m, prefix):
        from collections import Counter
        from ..layers.base import to_snake_case
        counts = Counter()
        for layer in m.layers:
            base = to_snake_case(type(layer).__name__)
            name = base if counts[base] == 0 else f"{base}_{counts[base]}"
            counts[base] += 1
            p = f"{prefix}layers/{name}"
            if not isinstance(layer, Model):
                f.require_group(p + "/vars")
            else:
                empty_groups(layer, p + "/")
    empty_groups(model, "")
    f.require_group("vars")


def load_weights_h5(model, path: str) -> None:
    """``model.load_weights("x.weights.h5")`` (Keras layout) or legacy ``.h5`` weights by layer order."""
    with _H5Guard(path), _open_h5(path, path) as f:
        if "model_weights" in f or "layer_names" in f.attrs:
            _load_legacy_weights(model, f["model_weights"] if "model_weights" in f else f, path)
            return
        _assign(model, _read_paths(f, model, path))


def save_weights_h5(model, path: str) -> None:
    if not os.fspath(path).endswith(".weights.h5"):
        raise ValueError(f"The filename must end in .weights.h5. Received: filepath={path}")
    h5py = _h5py()
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        _write_paths(f, model)
    with atomic_write(path) as out:
        out.write(buf.getvalue())


# ---------------------------------------------------------------------- .keras
def load_keras(path: str, custom_objects=None, safe_mode: bool = True, compile: bool = True):
    from .serialization import deserialize_model
    with _open_zip(path) as z:
        names = set(z.namelist())
        if "config.json" not in names:
            raise FileFormatError(f"{path}: not a .keras file (no config.json in the archive).")
        raw = _read_member(z, "config.json", path, MAX_JSON_BYTES)
        try:
            config = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise FileFormatError(f"{path}: config.json is not valid JSON ({exc}).") from exc
        if not isinstance(config, dict) or config.get("class_name") not in ("Sequential", "Functional", "Model"):
            raise FileFormatError(f"{path}: config.json is not a Keras model config (class_name "
                                  f"{config.get('class_name') if isinstance(config, dict) else type(config).__name__!r}).")
        model = deserialize_model(config, custom_objects, safe_mode=safe_mode, source=path)
        if "model.weights.h5" not in names:
            raise FileFormatError(f"{path}: the archive has no model.weights.h5.")
        data = _read_member(z, "model.weights.h5", path, MAX_MEMBER_BYTES)
    with _H5Guard(path), _open_h5(io.BytesIO(data), path) as f:
        _assign(model, _read_paths(f, model, path))
    if compile:
        _maybe_compile(model, config.get("compile_config"))
    return model


def save_keras(model, path: str) -> None:
    h5py = _h5py()
    from .serialization import serialize_model
    config = serialize_model(model, keras=True)
    config["build_config"] = {"input_shape": model.input_shape if model.built else None}
    config["compile_config"] = _compile_config(model)
    metadata = {"keras_version": KERAS_FORMAT_VERSION, "glassnet_version": _version(),
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        _write_paths(f, model)
    with atomic_write(path) as out:
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as z:
            z.writestr("metadata.json", json.dumps(metadata))
            z.writestr("config.json", json.dumps(config))
            z.writestr("model.weights.h5", buf.getvalue())


def _version() -> str:
    from .. import __version__
    return __version__


def _compile_config(model) -> dict:
    c = getattr(model, "_compiled", None)
    if c is None:
        return {}
    from ..training.losses import loss_name
    losses = [loss_name(l) if l is not None else None for l in c.losses]
    opt = type(model.optimizer).__name__.lower().replace("keras", "")
    return {"optimizer": {"class_name": opt, "config": {"learning_rate": model.learning_rate}},
            "loss": losses[0] if len(losses) == 1 else losses,
            "metrics": [m for specs in c.metric_specs for m in specs if isinstance(m, str)] or None,
            "loss_weights": None}


def _maybe_compile(model, compile_config) -> None:
    """Restore a Keras training config where glassnet has the optimizer and loss; otherwise leave it."""
    if not isinstance(compile_config, dict) or not compile_config:
        return
    from ..training import optimizers as O
    opt = compile_config.get("optimizer")
    loss = compile_config.get("loss")
    if isinstance(opt, dict):
        name = str(opt.get("class_name", "")).lower()
        lr = (opt.get("config") or {}).get("learning_rate")
        opt = name if lr is None or not isinstance(lr, (int, float)) else ({"adam": O.Adam, "adamw": O.AdamW, "sgd": O.SGD,
                                                                            "rmsprop": O.RMSprop, "adagrad": O.Adagrad}
                                                                           .get(name, lambda **k: name)(learning_rate=lr))
    if isinstance(loss, dict):
        loss = loss.get("config", {}).get("name") or loss.get("class_name")
    if isinstance(loss, str):
        loss = {"meansquarederror": "mse", "meanabsoluteerror": "mae"}.get(loss.lower().replace("_", ""), loss)
    try:
        metrics = [m for m in (compile_config.get("metrics") or []) if isinstance(m, str)]
        model.compile(optimizer=opt, loss=loss, metrics=metrics)
    except (ValueError, TypeError):
        pass  # an optimizer or loss glassnet does not have: the model loads uncompiled


# ---------------------------------------------------------------------- legacy .h5
def _attr_json(f, name: str, path: str):
    raw = _safe_attr(f, name, path)
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if not isinstance(raw, str) or len(raw) > MAX_JSON_BYTES:
        raise FileFormatError(f"{path}: the '{name}' attribute is not a JSON string of a sane size.")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise FileFormatError(f"{path}: the '{name}' attribute is not valid JSON ({exc}).") from exc


def load_legacy_h5(path: str, custom_objects=None, safe_mode: bool = True, compile: bool = True):
    from .serialization import deserialize_model
    with _H5Guard(path), _open_h5(path, path) as f:
        config = _attr_json(f, "model_config", path)
        if not isinstance(config, dict):
            raise FileFormatError(f"{path}: an HDF5 file without a model_config: load it with model.load_weights().")
        model = deserialize_model(config, custom_objects, safe_mode=safe_mode, source=path)
        if "model_weights" not in f:
            raise FileFormatError(f"{path}: the file has no model_weights group.")
        _load_legacy_weights(model, f["model_weights"], path)
        training = _attr_json(f, "training_config", path)
    if compile and isinstance(training, dict):
        _maybe_compile(model, {"optimizer": training.get("optimizer_config"), "loss": training.get("loss")})
    return model


def _decode(names) -> list[str]:
    if names is None:
        return []
    return [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in np.asarray(names).ravel()]


def _load_legacy_weights(model, group, path: str) -> None:
    """By layer order, as Keras does: layers with weights in the model ↔ saved layers with weight names."""
    h5py = _h5py()
    saved = []
    for name in _decode(_safe_attr(group, "layer_names", path, numbers_if_empty=True)):
        if name not in group:
            raise FileFormatError(f"{path}: layer group '{name}' is listed but missing.")
        names = _decode(_safe_attr(group[name], "weight_names", path, numbers_if_empty=True))
        if names:
            saved.append((name, group[name], names))
    targets = [l for l in model.layers if l.weights]
    if len(saved) != len(targets):
        raise FileFormatError(f"{path}: Layer count mismatch: the file has weights for {len(saved)} layers, "
                              f"the model has {len(targets)} layers with weights.")
    values = []
    for (name, g, names), layer in zip(saved, targets):
        if len(names) != len(layer.weights):
            raise FileFormatError(f"{path}: layer '{name}' has {len(names)} weights in the file; "
                                  f"'{layer.name}' expects {len(layer.weights)}.")
        for wname, w in zip(names, layer.weights):
            ds = g.get(wname)
            if not isinstance(ds, h5py.Dataset):
                raise FileFormatError(f"{path}: weight '{name}/{wname}' is missing.")
            _check_numeric(ds, f"{name}/{wname}", path)
            if tuple(ds.shape) != tuple(w.shape):
                raise FileFormatError(f"{path}: weight '{name}/{wname}' has shape {tuple(ds.shape)}, "
                                      f"layer '{layer.name}' expects {tuple(w.shape)}.")
            try:
                values.append((w, np.asarray(ds[()])))
            except Exception as exc:
                raise FileFormatError(f"{path}: weight '{name}/{wname}' cannot be read ({exc}).") from exc
    with torch.no_grad():
        for w, v in values:
            w.copy_(torch.as_tensor(v, dtype=w.dtype))


def save_legacy_h5(model, path: str) -> None:
    h5py = _h5py()
    from .serialization import serialize_model
    config = serialize_model(model, keras=True, legacy=True)
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.attrs["backend"] = "torch"
        f.attrs["keras_version"] = KERAS_FORMAT_VERSION
        f.attrs["model_config"] = json.dumps(config)
        mw = f.create_group("model_weights")
        mw.attrs["backend"] = "torch"
        mw.attrs["keras_version"] = KERAS_FORMAT_VERSION
        mw.attrs["layer_names"] = np.array([l.name.encode() for l in model.layers])
        for layer in model.layers:
            g = mw.create_group(layer.name)
            names = [f"{layer.name}/vars_{i}" for i in range(len(layer.weights))]
            g.attrs["weight_names"] = np.array([n.encode() for n in names]) if names else np.zeros((0,))
            for n, w in zip(names, layer.weights):
                g.create_dataset(n, data=w.detach().cpu().numpy())
        mw.create_group("top_level_model_weights").attrs["weight_names"] = np.zeros((0,))
    with atomic_write(path) as out:
        out.write(buf.getvalue())
