"""Hostile model files, each built the same way: a valid file saved by glassnet, then one hostile change.

Used by tests/test_hostile_files.py (one regression test per attack) and by the fuzz script
(tests/fuzz/fuzz_model_files.py) as mutators. Every builder takes a folder and returns the path of the
hostile file and the loader to try it with ("model", or "weights" for weight-only files, with the model).
"""
from __future__ import annotations

import json
import os
import struct
import warnings
import zipfile
import zlib

import h5py
import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

import glassnet as gn
from glassnet import layers

SECRET = b"host secret: do not read me into weights, ever. " * 4


def small_model():
    gn.utils.set_random_seed(0)
    return gn.Sequential([gn.Input((4,)), layers.Dense(3, name="dense"), layers.Dense(2, name="dense_1")])


def secret_file(folder: str) -> str:
    path = os.path.join(folder, "secret.bin")
    with open(path, "wb") as f:
        f.write(SECRET)
    return path


# ---------------------------------------------------------------------- the three HDF5 containers
# where the first Dense kernel (4, 3) lives in each container
KERNEL = {"weights": "layers/dense/vars/0", "keras": "layers/dense/vars/0", "legacy": "model_weights/dense/dense/vars_0"}


def _valid(folder: str, container: str) -> str:
    model = small_model()
    if container == "weights":
        path = os.path.join(folder, "m.weights.h5")
        model.save_weights(path)
    elif container == "keras":
        path = os.path.join(folder, "m.keras")
        model.save(path)
    else:
        path = os.path.join(folder, "m.h5")
        model.save(path)
    return path


def _edit_h5(folder: str, container: str, edit) -> str:
    """Save a valid file of ``container`` and apply ``edit(h5file, kernel_path)`` to its HDF5 part."""
    path = _valid(folder, container)
    if container != "keras":
        with h5py.File(path, "r+") as f:
            edit(f, KERNEL[container])
        return path
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    inner = os.path.join(folder, "inner.weights.h5")
    with open(inner, "wb") as f:
        f.write(members["model.weights.h5"])
    with h5py.File(inner, "r+") as f:
        edit(f, KERNEL[container])
    with open(inner, "rb") as f:
        members["model.weights.h5"] = f.read()
    with zipfile.ZipFile(path, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)
    return path


def _replace(f, key, **create):
    shape, dtype = f[key].shape, f[key].dtype
    del f[key]
    f.create_dataset(key, shape=shape, dtype=dtype, **create)


def external_storage(folder: str, container: str, target: str | None = None) -> str:
    """The kernel's bytes come from another file (``target``: a host file, a relative path or a FIFO)."""
    target = target or secret_file(folder)
    return _edit_h5(folder, container, lambda f, k: _replace(f, k, external=[(target, 0, 4 * 12)]))


def virtual_dataset(folder: str, container: str, missing_source: bool = False) -> str:
    """The kernel is a virtual dataset mapping another HDF5 file's data (or a file that does not exist)."""
    source = os.path.join(folder, "source.h5")
    if not missing_source:
        with h5py.File(source, "w") as s:
            s.create_dataset("data", data=np.full((4, 3), 7.0, np.float32))

    def edit(f, key):
        layout = h5py.VirtualLayout(shape=(4, 3), dtype="float32")
        layout[:] = h5py.VirtualSource(source, "data", shape=(4, 3))
        del f[key]
        f.create_virtual_dataset(key, layout, fillvalue=0)
    return _edit_h5(folder, container, edit)


def linked(folder: str, container: str, kind: str = "external", whole_group: bool = False) -> str:
    """The kernel (or its whole layer group) is an external or soft link to data elsewhere."""
    other = os.path.join(folder, "other.h5")
    with h5py.File(other, "w") as o:
        o.create_dataset("k", data=np.full((4, 3), 9.0, np.float32))
        g = o.create_group("grp")
        g.create_dataset("vars_0", data=np.full((4, 3), 9.0, np.float32))

    def edit(f, key):
        group_key, _, leaf = key.rpartition("/")
        if whole_group:
            members = {n: f[group_key][n][()] for n in f[group_key]}
            stash = f.create_group("stash")
            for n, v in members.items():
                stash.create_dataset(n, data=v)
            del f[group_key]
            f[group_key] = h5py.ExternalLink(other, "grp") if kind == "external" else h5py.SoftLink("/stash")
            return
        value = f[key][()]
        del f[key]
        if kind == "external":
            f[key] = h5py.ExternalLink(other, "k")
        else:
            f.create_dataset("elsewhere", data=value)
            f[key] = h5py.SoftLink("/elsewhere")
    return _edit_h5(folder, container, edit)


def _deflated_zeros(n_bytes: int) -> bytes:
    """``n_bytes`` of zeros as one zlib stream, built without holding the zeros in memory."""
    c = zlib.compressobj(9)
    block = bytes(min(n_bytes, 1 << 24))
    out, left = [], n_bytes
    while left > 0:
        take = min(left, len(block))
        out.append(c.compress(block[:take]))
        left -= take
    out.append(c.flush())
    return b"".join(out)


def chunk_bomb(folder: str, container: str, inflated_bytes: int = 64 << 20) -> str:
    """The (4, 3) kernel stored as one deflated chunk that inflates to ``inflated_bytes``."""
    blob = _deflated_zeros(inflated_bytes)

    def edit(f, key):
        _replace(f, key, chunks=(4, 3), compression="gzip")
        f[key].id.write_direct_chunk((0, 0), blob)
    return _edit_h5(folder, container, edit)


def oversized_chunk(folder: str, container: str) -> str:
    """The kernel declared in chunks far larger than itself."""
    return _edit_h5(folder, container, lambda f, k: _replace(f, k, chunks=(1024, 1024), maxshape=(None, None)))


def big_endian_float64(folder: str, container: str) -> str:
    """A legitimate file: the kernel stored as big-endian float64 (it must load, converted)."""
    def edit(f, key):
        value = f[key][()].astype(">f8")
        del f[key]
        f.create_dataset(key, data=value)
    return _edit_h5(folder, container, edit)


# ---------------------------------------------------------------------- zip archives
def _rewrite_zip(path: str, members: list[tuple[str, bytes]], compress: bool = False) -> str:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as z:
        for n, data in members:
            z.writestr(n, data)
    return path


def duplicate_member(folder: str, fmt: str = "keras") -> str:
    """Two config.json members: the first a valid model, the second another one."""
    model = small_model()
    path = os.path.join(folder, f"dup.{fmt}")
    model.save(path)
    with zipfile.ZipFile(path) as z:
        members = [(n, z.read(n)) for n in z.namelist()]
    config = json.loads(dict(members)["config.json"])
    config["config"]["name"] = "the_other_model"
    with warnings.catch_warnings():  # zipfile warns about the duplicate it is asked to write
        warnings.simplefilter("ignore")
        return _rewrite_zip(path, members + [("config.json", json.dumps(config).encode())])


def safetensors_zero_bomb(folder: str, inflated_bytes: int = 1 << 30) -> str:
    """A .glassnet whose model.safetensors is a valid header followed by ``inflated_bytes`` of zeros,
    deflated (a few megabytes on disk)."""
    model = small_model()
    path = os.path.join(folder, "bomb.glassnet")
    model.save(path)
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    raw = members["model.safetensors"]
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    first = next(k for k in header if k != "__metadata__")
    header[first]["data_offsets"] = [0, inflated_bytes]
    header[first]["shape"] = [inflated_bytes // 4]
    head = json.dumps(header).encode()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            if name != "model.safetensors":
                z.writestr(name, data)
        with z.open("model.safetensors", "w", force_zip64=True) as out:
            out.write(struct.pack("<Q", len(head)) + head)
            block, left = bytes(1 << 24), inflated_bytes
            while left > 0:
                out.write(block[:min(left, len(block))])
                left -= len(block)
    return path


def json_bracket_bomb(folder: str, mb: int = 60) -> str:
    """A .keras whose config.json is ``mb`` megabytes of ``[]`` (deflated to kilobytes)."""
    model = small_model()
    path = os.path.join(folder, "brackets.keras")
    model.save(path)
    with zipfile.ZipFile(path) as z:
        members = [(n, z.read(n)) for n in z.namelist()]
    body = b'{"class_name": "Functional", "config": {"layers": [' + b"[]," * (mb * (1 << 20) // 3) + b"[]]}}"
    return _rewrite_zip(path, [(n, body if n == "config.json" else d) for n, d in members], compress=True)


def safetensors_dtype(folder: str, dtype) -> str:
    """A .glassnet whose first kernel is stored as ``dtype`` (the config says float32)."""
    model = small_model()
    path = os.path.join(folder, "dtype.glassnet")
    model.save(path)
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    tensors = st_load(members["model.safetensors"])
    key = "layers/dense/vars/0"
    v = tensors[key]
    tensors[key] = (v * 10).to(dtype) if dtype != torch.complex64 else torch.complex(v, v)
    members["model.safetensors"] = st_save(tensors)
    return _rewrite_zip(path, list(members.items()))


def all_attacks(folder: str) -> list[tuple[str, str, str]]:
    """(name, path, loader) for every hostile file: the set the memory-bound test runs in a child process."""
    out = []

    def add(name, builder, *args, **kwargs):
        sub = os.path.join(folder, name)
        os.makedirs(sub, exist_ok=True)
        path = builder(sub, *args, **kwargs)
        out.append((name, path, "weights" if path.endswith(".weights.h5") else "model"))
    for c in ("weights", "keras", "legacy"):
        add(f"external-{c}", external_storage, c)
        add(f"external-etc-passwd-{c}", external_storage, c, target="/etc/passwd")
        add(f"virtual-{c}", virtual_dataset, c)
        add(f"virtual-missing-{c}", virtual_dataset, c, missing_source=True)
        add(f"external-link-{c}", linked, c, "external")
        add(f"soft-link-{c}", linked, c, "soft")
        add(f"chunk-bomb-{c}", chunk_bomb, c, inflated_bytes=1 << 30)
        add(f"oversized-chunk-{c}", oversized_chunk, c)
    add("external-link-group-legacy", linked, "legacy", "external", whole_group=True)
    add("duplicate-member-keras", duplicate_member, "keras")
    add("duplicate-member-glassnet", duplicate_member, "glassnet")
    add("safetensors-zero-bomb", safetensors_zero_bomb)
    add("json-bracket-bomb", json_bracket_bomb)
    return out


def load(path: str, loader: str):
    """Load ``path`` the way its kind is loaded (weights files into a fresh small model)."""
    if loader == "weights":
        model = small_model()
        model.load_weights(path)
        return model
    return gn.load_model(path)
