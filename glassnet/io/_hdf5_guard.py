"""Reading untrusted HDF5 (Keras ``.h5`` and ``.weights.h5``) safely: every check made before libhdf5 is
allowed to read a value.

Two kinds of danger, two kinds of check:

* **What libhdf5 does on damaged bytes.** It hangs, crashes the process or allocates gigabytes on some
  damaged structures instead of raising, where no Python signal can reach it. The raw bytes are checked
  first, by the rules of the HDF5 File Format Specification (version 4.0):

  - III.E "Level 1E - Global Heap": a collection (``GCOL``, version 1) is a run of objects, each
    header giving its size; HDF5 steps from one to the next by those sizes. A size of 0 for a
    free-space object, or a step past the collection's end, sends its loop round forever.
  - IV.A.2.m "Attribute Message" (type 0x000C, versions 1 and 3) with a IV.A.2.d "Datatype Message"
    of class 9 (variable-length): a string attribute stores its length beside a global-heap pointer,
    and HDF5 allocates that length before it finds the pointer bad. The attributes Keras writes
    (``model_config``, ``training_config``, ``keras_version``, ``backend``) are found by name and a
    length larger than the whole file is refused.
  - A variable-length type of something other than characters is converted by crashing; the type class
    of every attribute is read (``H5Aget_type``) before its value.

* **What a valid HDF5 file may legitimately ask for.** Features that make "reading a weight" read
  something else, or allocate without bound, are refused for every dataset before it is read:

  - IV.A.2.h "External Data Files Message" (0x0007): the data lives in another file (``/etc/passwd``,
    a FIFO that hangs the read);
  - IV.A.2.i "Data Layout Message" (0x0008) of class 3, virtual: the data comes from other HDF5 files
    (or silently from the fill value when they are missing);
  - IV.A.2.g "Link Message" (0x0006) of soft or external type anywhere on the path to a weight;
  - a chunked layout whose chunk is larger than the dataset, or whose filter pipeline (IV.A.2.l) holds
    anything but deflate, shuffle and Fletcher-32; deflated chunks are inflated here first with a limit
    of the chunk's own size, since HDF5's deflate filter grows its buffer until the stream ends (a few
    megabytes of deflated zeros become gigabytes).

Decision, recorded: parsing untrusted files in a child process with a time and memory limit would also
catch faults nobody has found yet, but it costs a process start and a copy of every weight per load,
needs a no-pickle transport for the arrays, and behaves differently across platforms. The checks here are
small, cite the rules they rely on, run in microseconds, and each was written for a fault the fuzz
script (``tests/fuzz``) found, kept there as a fixture. They stay; the fuzz script keeps them honest.
"""
from __future__ import annotations

import io
import math
import mmap
import os
import zlib

import numpy as np

from ..errors import FileFormatError

__all__ = ["h5py", "open_h5", "check_bytes", "safe_attr", "read_dataset", "dataset", "H5Errors"]

_H5_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError, IndexError, AttributeError, UnicodeDecodeError)


def h5py():
    """The h5py module (an optional dependency: Keras files need it)."""
    try:
        import h5py as module  # optional: only Keras .keras/.h5 files need it
    except ImportError as exc:  # pragma: no cover - h5py is in the test and keras extras
        raise ImportError("Reading or writing Keras .keras/.h5 files needs h5py: pip install 'glassnet[keras]'") from exc
    return module


class H5Errors:
    """Turns any error HDF5 raises while reading a damaged file into FileFormatError naming the file."""

    def __init__(self, path: str):
        self.path = path

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is not None and not isinstance(exc, FileFormatError) and isinstance(exc, _H5_ERRORS):
            raise FileFormatError(f"{self.path}: damaged HDF5 content ({type(exc).__name__}: {exc}).") from exc
        return False


# ---------------------------------------------------------------------- raw bytes (before libhdf5 parses)
_GCOL = b"GCOL\x01\x00\x00\x00"  # a global heap collection (version 1): where HDF5 keeps variable-length strings


def _check_global_heaps(buf, path: str) -> None:
    """Walk every global heap collection the way HDF5 will (spec III.E), and refuse the file if a walk
    cannot end."""
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
    """Refuse a Keras string attribute whose stored length is larger than the whole file (spec IV.A.2.m,
    attribute message versions 1 and 3; version 2 and others are left to HDF5)."""
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


def check_bytes(buf, path: str) -> None:
    """The checks made on a file's raw bytes before HDF5 parses it."""
    _check_global_heaps(buf, path)
    _check_vlen_attributes(buf, path)


def open_h5(source, path: str):
    """``h5py.File`` for reading, once the raw bytes have passed ``check_bytes``."""
    module = h5py()
    if isinstance(source, io.BytesIO):
        check_bytes(source.getvalue(), path)
    else:
        with open(source, "rb") as raw:
            if os.fstat(raw.fileno()).st_size:
                with mmap.mmap(raw.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                    check_bytes(buf, path)
    try:
        return module.File(source, "r")
    except Exception as exc:  # h5py raises OSError and others for corrupt files
        raise FileFormatError(f"{path}: not a readable HDF5 file ({type(exc).__name__}: {exc}).") from exc


# ---------------------------------------------------------------------- attributes
def _type_class(obj_id) -> int:
    """The HDF5 type class of a dataset or attribute, read without converting any data."""
    return obj_id.get_type().get_class()


def safe_attr(obj, name: str, path: str, numbers_if_empty: bool = False):
    """``obj.attrs[name]`` (None if absent), once its HDF5 type is known to be a string type.

    ``numbers_if_empty`` also accepts an empty numeric array (how an empty ``weight_names`` list is written).
    """
    module = h5py()
    if name not in obj.attrs:
        return None
    attr = module.h5a.open(obj.id, name.encode())
    cls = _type_class(attr)
    empty_numbers = numbers_if_empty and cls in (module.h5t.FLOAT, module.h5t.INTEGER) \
        and attr.get_space().get_simple_extent_npoints() == 0
    if cls != module.h5t.STRING and not empty_numbers:
        raise FileFormatError(f"{path}: the '{name}' attribute of '{obj.name}' has HDF5 type class {cls}; "
                              "expected a string or an array of strings.")
    return obj.attrs[name]


# ---------------------------------------------------------------------- datasets
def dataset(group, key: str, path: str, what: str):
    """The dataset at ``key`` below ``group``, reached only through hard links (spec IV.A.2.g)."""
    module = h5py()
    node = group
    parts = [p for p in key.split("/") if p]
    for i, part in enumerate(parts):
        link = node.get(part, getlink=True)
        if link is None:
            raise FileFormatError(f"{path}: {what} '{key}' is missing.")
        if not isinstance(link, module.HardLink):
            kind = "an external link" if isinstance(link, module.ExternalLink) else "a soft link"
            raise FileFormatError(f"{path}: {what} '{key}' is reached through {kind} ('{'/'.join(parts[:i + 1])}'); "
                                  "weights must be stored in the file itself.")
        node = node[part]
    if not isinstance(node, module.Dataset):
        raise FileFormatError(f"{path}: {what} '{key}' is not a dataset.")
    return node


_ALLOWED_FILTERS = {1: "deflate", 2: "shuffle", 3: "fletcher32"}


def _check_storage(ds, key: str, path: str) -> None:
    """Refuse storage that reads from elsewhere or inflates without bound (spec IV.A.2.h, i, l)."""
    module = h5py()
    dcpl = ds.id.get_create_plist()
    layout = dcpl.get_layout()
    if layout == getattr(module.h5d, "VIRTUAL", 3):
        raise FileFormatError(f"{path}: weight '{key}' is a virtual dataset (its data would come from other "
                              "files); refused.")
    if layout not in (module.h5d.COMPACT, module.h5d.CONTIGUOUS, module.h5d.CHUNKED):
        raise FileFormatError(f"{path}: weight '{key}' has an unknown storage layout {layout}; refused.")
    if dcpl.get_external_count():
        raise FileFormatError(f"{path}: weight '{key}' keeps its data in an external file "
                              f"('{dcpl.get_external(0)[0].decode(errors='replace')}'); refused.")
    if layout != module.h5d.CHUNKED:
        return
    chunk = dcpl.get_chunk()
    shape = ds.shape
    if len(chunk) != len(shape) or any(c > max(s, 1) for c, s in zip(chunk, shape)):
        raise FileFormatError(f"{path}: weight '{key}' of shape {tuple(shape)} is stored in chunks of {tuple(chunk)}, "
                              "larger than the weight itself; refused.")
    filters = [dcpl.get_filter(i)[0] for i in range(dcpl.get_nfilters())]
    unknown = [f for f in filters if f not in _ALLOWED_FILTERS]
    if unknown:
        raise FileFormatError(f"{path}: weight '{key}' is stored through HDF5 filter(s) {unknown}; only "
                              f"{', '.join(_ALLOWED_FILTERS.values())} are read.")
    if 1 in filters:
        _check_inflated_sizes(ds, key, path, math.prod(chunk) * ds.dtype.itemsize)


def _check_inflated_sizes(ds, key: str, path: str, chunk_bytes: int) -> None:
    """Inflate every deflated chunk with a limit of the chunk's size before HDF5 reads it."""
    dsid = ds.id
    try:
        n = dsid.get_num_chunks()
    except Exception as exc:
        raise FileFormatError(f"{path}: weight '{key}' has an unreadable chunk index ({exc}).") from exc
    for i in range(n):
        info = dsid.get_chunk_info(i)
        _, raw = dsid.read_direct_chunk(info.chunk_offset)
        inflater = zlib.decompressobj()
        try:
            out = inflater.decompress(raw, chunk_bytes + 1)
        except zlib.error as exc:
            raise FileFormatError(f"{path}: weight '{key}' has a damaged deflated chunk ({exc}).") from exc
        if len(out) > chunk_bytes or inflater.unconsumed_tail:
            raise FileFormatError(f"{path}: weight '{key}' has a deflated chunk that inflates beyond its "
                                  f"{chunk_bytes} bytes; refused.")


def read_dataset(ds, key: str, path: str) -> np.ndarray:
    """A weight's values as a native-byte-order array, once its type and storage have been checked."""
    module = h5py()
    cls = _type_class(ds.id)
    if cls not in (module.h5t.FLOAT, module.h5t.INTEGER) or ds.dtype.kind not in "fiu":
        raise FileFormatError(f"{path}: weight '{key}' has HDF5 type class {cls} (dtype {ds.dtype}), not a number type.")
    _check_storage(ds, key, path)
    try:
        value = np.asarray(ds[()])
    except Exception as exc:
        raise FileFormatError(f"{path}: weight '{key}' cannot be read ({type(exc).__name__}: {exc}).") from exc
    if not value.dtype.isnative:  # a big-endian file (legitimate HDF5): convert
        value = value.astype(value.dtype.newbyteorder("="))
    return value
