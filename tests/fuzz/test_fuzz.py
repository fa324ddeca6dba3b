"""A short fuzz run of the model-file readers (the script documents longer runs), and the damaged
files longer runs found, rebuilt from a valid file."""
import os
import sys
import warnings

import h5py
import pytest

import glassnet as gn
from glassnet import layers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fuzz_model_files import run  # noqa: E402


@pytest.mark.slow
def test_mutated_files_load_or_raise_file_format_error():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gn.GlassnetWarning)  # a mutated weight's dtype may be converted, with a note
        outcomes = run(seconds=40, seed=1234, max_cases=400)
    assert outcomes["cases"] >= 100
    assert outcomes["refused"] > 0


def _legacy_h5(tmp_path):
    """A valid legacy .h5 file, its model's parameter count and its bytes to damage."""
    model = gn.Sequential([gn.Input((4,)), layers.Dense(3), layers.Dense(2)])
    good = tmp_path / "good.h5"
    model.save(good)
    return good, model.count_params(), bytearray(good.read_bytes())


def _write(tmp_path, data) -> str:
    bad = tmp_path / "bad.h5"
    bad.write_bytes(bytes(data))
    return str(bad)


def test_damaged_global_heap_is_refused_not_hung(tmp_path):
    """A legacy .h5 whose global heap (where model_config's string lives) has a free-space entry of size 0.

    HDF5 itself loops forever decoding such a heap (the fuzz script found one, seed 42, where an object
    size off by 8 led the walk onto zeros); glassnet must refuse the file before HDF5 sees it, and still
    load the undamaged file.
    """
    good, params, data = _legacy_h5(tmp_path)
    at = data.find(b"GCOL\x01\x00\x00\x00")
    assert at > 0
    first = at + 16  # the first object's header: index, references, reserved, size
    size = int.from_bytes(data[first + 8:first + 16], "little")
    second = first + 16 + (size + 7) // 8 * 8
    # the second object's header becomes a free-space entry of size 0: HDF5 would step by 0 forever
    data[second:second + 16] = bytes(16)
    assert gn.load_model(good).count_params() == params
    with pytest.raises(gn.FileFormatError, match=r"bad\.h5: damaged HDF5 content \(object 0 of the global heap"):
        gn.load_model(_write(tmp_path, data))


def test_attribute_of_a_damaged_vlen_type_is_refused_not_read(tmp_path):
    """model_config's type turned from a variable-length string into a vlen of an unknown kind.

    h5py reading such an attribute crashes the interpreter (found by the fuzz script, seed 42); glassnet
    checks the type class first.
    """
    _, _, data = _legacy_h5(tmp_path)
    name = data.find(b"model_config\x00")
    kind = data.find(b"\x19\x01", name, name + 24)  # datatype message: version 1, class 9 (vlen); bits: string
    assert name > 0 and kind > 0
    data[kind + 1] = 3  # vlen type 3: neither a sequence nor a string
    with pytest.raises(gn.FileFormatError, match=r"bad\.h5: the 'model_config' attribute .* has HDF5 type class 9"):
        gn.load_model(_write(tmp_path, data))


def test_string_attribute_longer_than_the_file_is_refused_before_allocation(tmp_path):
    """model_config's stored length damaged to ~4 GB: HDF5 would allocate it before failing (fuzz, seed 99)."""
    good, _, data = _legacy_h5(tmp_path)
    with h5py.File(good, "r") as f:
        config = f.attrs["model_config"]
    length = len(config.encode() if isinstance(config, str) else config)
    name = data.find(b"model_config\x00")
    at = data.find(length.to_bytes(4, "little"), name, name + 80)  # the stored length, after name and type
    assert name > 0 and at > 0
    data[at:at + 4] = (0xF0000000).to_bytes(4, "little")
    with pytest.raises(gn.FileFormatError, match="claims a string of 4,026,531,840 bytes"):
        gn.load_model(_write(tmp_path, data))
