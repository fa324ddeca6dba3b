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
import os
import warnings
import zipfile

import numpy as np
import torch

from ..errors import FileFormatError, GlassnetWarning
from ..layers import registry
from ..version import __version__
from ._hdf5_guard import H5Errors, dataset, h5py, open_h5, read_dataset, safe_attr
from .building import build_model
from .glassnet_format import (MAX_JSON_BYTES, _read_member, atomic_write, check_tensor_value, open_zip, parse_json,
                              weights_bytes)
from .paths import object_paths, weight_paths

__all__ = ["load_keras", "save_keras", "load_legacy_h5", "save_legacy_h5", "load_weights_h5", "save_weights_h5",
           "is_hdf5", "keras_config"]

KERAS_FORMAT_VERSION = "3.15.1"  # the Keras release whose file layout this writes
MAX_ASSET_BYTES = 64 << 20  # one asset (a vocabulary file) is read as text up to 64 MiB, never executed
MAX_STATE_VALUES = 1 << 26  # a named state array (idf_weights) holds at most this many values


def is_hdf5(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(8) == b"\x89HDF\r\n\x1a\n"


# ---------------------------------------------------------------------- weights in Keras's H5 layout
def _read_paths(f, model, path: str) -> dict[str, np.ndarray]:
    """Every weight the model expects, from its Keras path; shapes checked before data is read."""
    module = h5py()
    expected = weight_paths(model)
    found: set[str] = set()

    def visit(name, obj):
        if isinstance(obj, module.Dataset) and (name.startswith("layers/") or name.startswith("vars/")):
            found.add(name)
    try:
        f.visititems(visit)
    except Exception as exc:
        raise FileFormatError(f"{path}: the weights file is damaged ({type(exc).__name__}: {exc}).") from exc
    missing = [k for k in expected if k not in found]
    for key in missing:  # visititems does not follow links: one on the way is the real problem
        dataset(f, key, path, "weight")
    extra = sorted(found - set(expected) - set(_named_variable_paths(model)))
    if missing or extra:
        raise FileFormatError(f"{path}: weights do not match the model: missing {missing[:5]}, unexpected {extra[:5]}.")
    values = {}
    for key, tensor in expected.items():
        ds = dataset(f, key, path, "weight")
        if tuple(ds.shape) != tuple(tensor.shape):
            raise FileFormatError(f"{path}: weight '{key}' has shape {tuple(ds.shape)}, the model expects {tuple(tensor.shape)}.")
        values[key] = read_dataset(ds, key, path)
    return values


def _assign(model, values: dict[str, np.ndarray], path: str) -> None:
    """Check every value's shape and dtype first, then copy (nothing half-loads)."""
    expected = weight_paths(model)
    tensors = {key: torch.from_numpy(np.asarray(values[key], order="C")) for key in expected}
    for key, tensor in expected.items():
        check_tensor_value(key, tensors[key], tensor, path)
    with torch.no_grad():
        for key, tensor in expected.items():
            tensor.copy_(tensors[key])


def _write_paths(f, model) -> None:
    """Keras's H5IOStore layout: one ``vars`` group per saveable object, datasets "0", "1", …"""
    for key, tensor in weight_paths(model).items():
        group_path, _, index = key.rpartition("/")
        group = f.require_group(group_path)
        group.attrs["name"] = group_path.split("/")[-2] if group_path.count("/") >= 1 else group_path
        group.create_dataset(index, data=tensor.detach().cpu().numpy())
    for obj_path, obj in object_paths(model).items():  # layers without weights still get their group
        if obj_path and not hasattr(obj, "graph_nodes"):
            f.require_group(obj_path + "/vars")
    f.require_group("vars")
    for obj_path, obj in object_paths(model).items():  # named state: Keras's save_own_variables (idf_weights)
        for name, value in (obj.keras_variables() if hasattr(obj, "keras_variables") else {}).items():
            f.require_group(f"{obj_path}/vars").create_dataset(name, data=value)


# ---------------------------------------------------------------------- layer state beyond weights (vocabularies)
def _named_variable_paths(model) -> dict[str, tuple]:
    """``{"<layer path>/vars/<name>": (layer, name)}`` for the named state of layers that keep some (a
    ``tf_idf`` lookup's ``idf_weights``), as Keras's ``save_own_variables`` writes it."""
    out = {}
    for obj_path, obj in object_paths(model).items():
        for name in (obj.keras_variable_names() if hasattr(obj, "keras_variable_names") else ()):
            out[f"{obj_path}/vars/{name}"] = (obj, name)
    return out


def _read_assets(z, names: set, model, path: str) -> dict[str, dict[str, str]]:
    """``{layer path: {file name: text}}``: the assets (vocabulary files) of layers that keep some, read as
    UTF-8 text of bounded size; only the members a layer expects are read, none is ever extracted or run."""
    assets: dict[str, dict[str, str]] = {}
    for obj_path, obj in object_paths(model).items():
        for fname in getattr(obj, "keras_asset_files", ()):
            member = f"assets/{obj_path}/{fname}"
            if member not in names:
                continue
            raw = _read_member(z, member, path, MAX_ASSET_BYTES)
            try:
                assets.setdefault(obj_path, {})[fname] = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise FileFormatError(f"{path}: asset '{member}' is not UTF-8 text ({exc}).") from exc
    return assets


def _load_layer_state(model, f, assets: dict, path: str) -> None:
    """Give each layer its named state from the weights file and its assets (Keras's load_own_variables,
    then load_assets)."""
    named = _named_variable_paths(model)
    for obj_path, obj in object_paths(model).items():
        if not hasattr(obj, "load_keras_state"):
            continue
        variables = {}
        for key, (owner, name) in named.items():
            if owner is not obj or key not in f:
                continue
            ds = dataset(f, key, path, "state array")
            if len(ds.shape) != 1 or ds.shape[0] > MAX_STATE_VALUES:
                raise FileFormatError(f"{path}: '{key}' has shape {tuple(ds.shape)}; a 1-D array is expected.")
            variables[name] = read_dataset(ds, key, path)
        try:
            obj.load_keras_state(assets.get(obj_path, {}), variables)
        except (ValueError, TypeError, RuntimeError) as exc:
            raise FileFormatError(f"{path}: the state of layer '{obj.name}' cannot be restored: {exc}") from exc


def _keras_file_configs(model, config) -> None:
    """Layers whose files keep state apart from their config (an adapted vocabulary goes to the assets) give
    their config entries the form Keras writes (``keras_file_config``)."""
    owners = {m.name: m for m in model.modules() if hasattr(m, "keras_file_config")}
    if not owners:
        return

    def walk(spec):
        if isinstance(spec, dict):
            inner = spec.get("config")
            if isinstance(inner, dict) and "class_name" in spec and inner.get("name") in owners:
                spec["config"] = owners[inner["name"]].keras_file_config(inner)
            for v in spec.values():
                walk(v)
        elif isinstance(spec, list):
            for v in spec:
                walk(v)
    walk(config)


def _asset_members(model) -> dict[str, bytes]:
    """``{"assets/<layer path>/<file>": bytes}`` as Keras's save_assets writes them."""
    out = {}
    for obj_path, obj in object_paths(model).items():
        for fname, text in (obj.keras_assets() if hasattr(obj, "keras_assets") else {}).items():
            out[f"assets/{obj_path}/{fname}"] = text.encode("utf-8")
    return out


def load_weights_h5(model, path: str) -> None:
    """``model.load_weights("x.weights.h5")`` (Keras layout) or legacy ``.h5`` weights by layer order."""
    with H5Errors(path), open_h5(path, path) as f:
        if "model_weights" in f or "layer_names" in f.attrs:
            _load_legacy_weights(model, f["model_weights"] if "model_weights" in f else f, path)
            return
        _assign(model, _read_paths(f, model, path), path)


def save_weights_h5(model, path: str) -> None:
    if not os.fspath(path).endswith(".weights.h5"):
        raise ValueError(f"The filename must end in .weights.h5. Received: filepath={path}")
    buf = io.BytesIO()
    with h5py().File(buf, "w") as f:
        _write_paths(f, model)
    with atomic_write(path) as out:
        out.write(buf.getvalue())


# ---------------------------------------------------------------------- .keras
def load_keras(path: str, custom_objects=None, safe_mode: bool = True, compile: bool = True):
    with open_zip(path) as z:
        names = set(z.namelist())
        if "config.json" not in names:
            raise FileFormatError(f"{path}: not a .keras file (no config.json in the archive).")
        config = parse_json(_read_member(z, "config.json", path, MAX_JSON_BYTES), "config.json", path)
        if not isinstance(config, dict) or config.get("class_name") not in ("Sequential", "Functional", "Model"):
            raise FileFormatError(f"{path}: config.json is not a Keras model config (class_name "
                                  f"{config.get('class_name') if isinstance(config, dict) else type(config).__name__!r}).")
        model = build_model(config, path, os.path.getsize(path), custom_objects, safe_mode)
        if "model.weights.h5" not in names:
            raise FileFormatError(f"{path}: the archive has no model.weights.h5.")
        data = _read_member(z, "model.weights.h5", path, h5_limit(model))
        assets = _read_assets(z, names, model, path)
    with H5Errors(path), open_h5(io.BytesIO(data), path) as f:
        _assign(model, _read_paths(f, model, path), path)
        _load_layer_state(model, f, assets, path)
        if compile:
            _compile_from(model, config.get("compile_config"), path)
            _optimizer_from(model, f, path)
    return model


def _optimizer_from(model, f, path: str) -> None:
    """Keras's ``optimizer/vars`` (iteration count, learning rate, slots) into the compiled optimizer."""
    optimizer = model.optimizer
    if optimizer is None or not hasattr(optimizer, "set_keras_variables") or "optimizer" not in f:
        return
    group = f["optimizer"]
    if "vars" not in group or not len(group["vars"]):
        return
    names = sorted(group["vars"], key=lambda n: int(n) if n.isdigit() else -1)
    if not all(n.isdigit() for n in names) or [int(n) for n in names] != list(range(len(names))):
        raise FileFormatError(f"{path}: the optimizer's variables are not numbered 0..{len(names) - 1}.")
    arrays = [read_dataset(dataset(group, f"vars/{n}", path, "optimizer variable"), f"optimizer/vars/{n}", path)
              for n in names]
    if not optimizer.built:
        optimizer.build([w for w in model.trainable_weights])
    try:
        optimizer.set_keras_variables(arrays)
    except ValueError as exc:
        warnings.warn(f"{path}: the optimizer's state was not restored ({exc}); training restarts its moments.",
                      GlassnetWarning, stacklevel=3)


def h5_limit(model) -> int:
    """The most bytes ``model``'s weights can take in Keras's HDF5 layout: the data, plus the object headers,
    heaps and B-trees of every group and dataset (a few KiB each)."""
    state = sum(obj.keras_variables_bytes() for obj in object_paths(model).values()
                if hasattr(obj, "keras_variables_bytes"))
    return weights_bytes(model) + state + 8192 * (len(object_paths(model)) + len(weight_paths(model))) + (1 << 20)


def keras_config(model, legacy: bool = False) -> dict:
    """The model's config as Keras files hold it (``legacy``: the ``.h5`` flavour, without ``module``)."""
    config = registry.serialize(model)
    _refuse_lambdas(config)
    if legacy:
        config = {"class_name": config["class_name"], "config": config["config"]}
        for entry in config["config"]["layers"]:
            entry.pop("module", None)
            entry.pop("registered_name", None)
    return config


def _refuse_lambdas(spec) -> None:
    if isinstance(spec, dict):
        if spec.get("class_name") == "Lambda":
            raise ValueError(f"Lambda layer '{(spec.get('config') or {}).get('name')}' cannot be written to a Keras "
                             "file: glassnet does not serialise Python functions. Replace it with a layer, or save "
                             "the native .glassnet format and rebuild the Lambda in code.")
        for v in spec.values():
            _refuse_lambdas(v)
    elif isinstance(spec, list):
        for v in spec:
            _refuse_lambdas(v)


def save_keras(model, path: str) -> None:
    config = keras_config(model)
    _keras_file_configs(model, config)
    config["build_config"] = {"input_shape": model.input_shape if model.built else None}
    config["compile_config"] = model.get_compile_config()
    metadata = {"keras_version": KERAS_FORMAT_VERSION, "glassnet_version": __version__,
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    buf = io.BytesIO()
    with h5py().File(buf, "w") as f:
        _write_paths(f, model)
        optimizer = model.optimizer
        if optimizer is not None and getattr(optimizer, "built", False) and hasattr(optimizer, "keras_variables"):
            group = f.require_group("optimizer/vars")
            for i, value in enumerate(optimizer.keras_variables()):
                group.create_dataset(str(i), data=value)
    with atomic_write(path) as out:
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as z:
            z.writestr("metadata.json", json.dumps(metadata))
            z.writestr("config.json", json.dumps(config))
            z.writestr("model.weights.h5", buf.getvalue())
            for member, data in _asset_members(model).items():
                z.writestr(member, data)


def _compile_from(model, compile_config, path: str) -> None:
    """Restore a Keras training config where glassnet has the optimizer, loss and metrics; otherwise the
    model loads uncompiled and a warning says what was not understood."""
    if not isinstance(compile_config, dict) or not compile_config:
        return
    try:
        model.compile_from_config(compile_config)
    except (ValueError, TypeError) as exc:
        warnings.warn(f"{path}: the model was saved compiled, but its training config cannot be restored "
                      f"({exc}); it loads uncompiled. Call model.compile(...) before training it.",
                      GlassnetWarning, stacklevel=3)


# ---------------------------------------------------------------------- legacy .h5
def _attr_json(f, name: str, path: str):
    raw = safe_attr(f, name, path)
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "replace")
    if not isinstance(raw, bytes) or len(raw) > MAX_JSON_BYTES:
        raise FileFormatError(f"{path}: the '{name}' attribute is not a JSON string of a sane size.")
    return parse_json(raw, f"the '{name}' attribute", path)


def load_legacy_h5(path: str, custom_objects=None, safe_mode: bool = True, compile: bool = True):
    with H5Errors(path), open_h5(path, path) as f:
        config = _attr_json(f, "model_config", path)
        if not isinstance(config, dict):
            raise FileFormatError(f"{path}: an HDF5 file without a model_config: load it with model.load_weights().")
        model = build_model(config, path, os.path.getsize(path), custom_objects, safe_mode)
        if "model_weights" not in f:
            raise FileFormatError(f"{path}: the file has no model_weights group.")
        _load_legacy_weights(model, dataset_group(f, "model_weights", path), path)
        training = _attr_json(f, "training_config", path)
        backend = safe_attr(f, "backend", path)
    if (backend.decode("utf-8", "replace") if isinstance(backend, bytes) else backend) == "tensorflow":
        _warn_tensorflow_bicubic(model, path)
    if compile and isinstance(training, dict):
        _compile_from(model, {"optimizer": training.get("optimizer_config"), "loss": training.get("loss"),
                              "metrics": training.get("metrics")}, path)
    return model


def _warn_tensorflow_bicubic(model, path: str) -> None:
    """Bicubic resizing without antialiasing is the one resize TensorFlow and torch compute differently (Keys'
    cubic with a = -0.5 against torch's a = -0.75); glassnet computes what Keras computes on torch."""
    for layer in model.modules():
        if getattr(layer, "interpolation", None) == "bicubic" and not getattr(layer, "antialias", False):
            warnings.warn(f"{path}: layer '{layer.name}' resizes bicubically; the file was written on TensorFlow, "
                          "whose bicubic kernel (a=-0.5) differs from torch's (a=-0.75), which glassnet and Keras on "
                          "torch use, so its outputs differ from TensorFlow's.", GlassnetWarning, stacklevel=3)


def dataset_group(f, name: str, path: str):
    """A group reached through a hard link only (an external link would read another file)."""
    module = h5py()
    link = f.get(name, getlink=True)
    if not isinstance(link, module.HardLink):
        raise FileFormatError(f"{path}: '{name}' is a link to elsewhere, not a group of this file; refused.")
    group = f[name]
    if not isinstance(group, module.Group):
        raise FileFormatError(f"{path}: '{name}' is not a group.")
    return group


def _decode(names) -> list[str]:
    if names is None:
        return []
    return [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in np.asarray(names).ravel()]


def _legacy_weights(layer) -> list:
    """A layer's weights as Keras's legacy .h5 lists them: trainable ones, then non-trainable ones."""
    return list(layer.trainable_weights) + list(layer.non_trainable_weights)


def _integer_as(value: torch.Tensor, target: torch.Tensor, key: str, path: str) -> torch.Tensor:
    """An integer weight in another integer width (Keras 2 stores Normalization's ``count`` as int64, Keras 3
    as int32) takes the model's width when every value fits; floats and other kinds are left to the checks."""
    if value.dtype == target.dtype or value.is_floating_point() or target.is_floating_point() \
            or value.dtype == torch.bool or target.dtype == torch.bool:
        return value
    info = torch.iinfo(target.dtype)
    if value.numel() and (int(value.min()) < info.min or int(value.max()) > info.max):
        raise FileFormatError(f"{path}: weight '{key}' holds integers outside the range of the model's {target.dtype}.")
    return value.to(target.dtype)


def _load_legacy_weights(model, group, path: str) -> None:
    """By layer order, as Keras does: layers with weights in the model ↔ saved layers with weight names."""
    saved = []
    for name in _decode(safe_attr(group, "layer_names", path, numbers_if_empty=True)):
        layer_group = dataset_group(group, name, path) if name in group else None
        if layer_group is None:
            raise FileFormatError(f"{path}: layer group '{name}' is listed but missing.")
        names = _decode(safe_attr(layer_group, "weight_names", path, numbers_if_empty=True))
        if names:
            saved.append((name, layer_group, names))
    targets = [l for l in model.layers if l.weights]
    if len(saved) != len(targets):
        raise FileFormatError(f"{path}: Layer count mismatch: the file has weights for {len(saved)} layers, "
                              f"the model has {len(targets)} layers with weights.")
    values = []
    for (name, g, names), layer in zip(saved, targets):
        weights = _legacy_weights(layer)
        if len(names) != len(weights):
            raise FileFormatError(f"{path}: layer '{name}' has {len(names)} weights in the file; "
                                  f"'{layer.name}' expects {len(weights)}.")
        for wname, w in zip(names, weights):
            key = f"{name}/{wname}"
            ds = dataset(g, wname, path, "weight")
            if tuple(ds.shape) != tuple(w.shape):
                raise FileFormatError(f"{path}: weight '{key}' has shape {tuple(ds.shape)}, "
                                      f"layer '{layer.name}' expects {tuple(w.shape)}.")
            value = _integer_as(torch.from_numpy(np.asarray(read_dataset(ds, key, path), order="C")), w, key, path)
            check_tensor_value(key, value, w, path)
            values.append((w, value))
    with torch.no_grad():
        for w, v in values:
            w.copy_(v)


def save_legacy_h5(model, path: str) -> None:
    config = keras_config(model, legacy=True)
    buf = io.BytesIO()
    with h5py().File(buf, "w") as f:
        f.attrs["backend"] = "torch"
        f.attrs["keras_version"] = KERAS_FORMAT_VERSION
        f.attrs["model_config"] = json.dumps(config)
        mw = f.create_group("model_weights")
        mw.attrs["backend"] = "torch"
        mw.attrs["keras_version"] = KERAS_FORMAT_VERSION
        mw.attrs["layer_names"] = np.array([l.name.encode() for l in model.layers])
        for layer in model.layers:
            g = mw.create_group(layer.name)
            weights = _legacy_weights(layer)
            names = [f"{layer.name}/vars_{i}" for i in range(len(weights))]
            g.attrs["weight_names"] = np.array([n.encode() for n in names]) if names else np.zeros((0,))
            for n, w in zip(names, weights):
                g.create_dataset(n, data=w.detach().cpu().numpy())
        mw.create_group("top_level_model_weights").attrs["weight_names"] = np.zeros((0,))
    with atomic_write(path) as out:
        out.write(buf.getvalue())
