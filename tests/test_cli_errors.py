"""Every error glassnet raises on purpose reaches the command line as ONE line, ``glassnet: error: ...``, with
exit status 2: shapes, files, arguments, missing optional packages, --input-shape of the wrong rank. Plus the
forms --input-shape accepts, --version, and the --help text for demo and --width."""
import json
import os
import re
import subprocess
import sys

import pytest

import glassnet as gn
from glassnet import layers
from glassnet.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EX = os.path.join(ROOT, "examples", "seed_models.py")

BROKEN_PY = '''
import glassnet as gn
from glassnet import layers


def flatten_any_size():
    inp = gn.Input((None, None, 1))
    return gn.Model(inp, layers.Dense(10, name="classify")(layers.Flatten(name="flatten")(layers.Conv2D(4, 3)(inp))))


def zero_units():
    return gn.Sequential([gn.Input((4,)), layers.Dense(0)])


def needs_a_package():
    import not_a_real_package_for_glassnet  # noqa: F401
'''


def one_line_error(argv, capsys) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert err.startswith("glassnet: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and captured.out == ""
    return err.strip()


@pytest.fixture
def broken(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text(BROKEN_PY)
    return str(path)


def test_shape_error(broken, capsys):
    err = one_line_error(["summary", f"{broken}:flatten_any_size"], capsys)
    assert "Dense 'classify' needs a fixed last dimension, but Flatten 'flatten' outputs (None, None)" in err
    assert err.endswith("Use GlobalAveragePooling2D or GlobalMaxPooling2D instead of Flatten for variable-size images.")


def test_config_error(broken, capsys):
    err = one_line_error(["explain", f"{broken}:zero_units"], capsys)
    assert "the `units` argument must be a positive integer. Received: units=0" in err


def test_a_missing_package_in_the_users_file(broken, capsys):
    err = one_line_error(["summary", f"{broken}:needs_a_package"], capsys)
    assert err == "glassnet: error: No module named 'not_a_real_package_for_glassnet'"


def test_not_a_model_file_says_what_file_may_be(capsys):
    err = one_line_error(["summary", os.path.join(ROOT, "README.md")], capsys)
    assert "README.md: not a model file (neither a zip archive nor HDF5)." in err
    assert err.endswith("FILE is path/to/file.py:function (a function returning a glassnet model or any "
                        "torch.nn.Module) or a saved .keras, .h5 or .glassnet model file.")


def test_a_damaged_model_file(tmp_path, capsys):
    path = tmp_path / "m.glassnet"
    gn.Sequential([gn.Input((5,)), layers.Dense(2)]).save(path)
    path.write_bytes(path.read_bytes()[:200])
    err = one_line_error(["summary", str(path)], capsys)
    assert "m.glassnet" in err and "FILE is" not in err  # a model file's own problem, not a wrong kind of file


def test_missing_h5py_for_a_keras_file(tmp_path, capsys, monkeypatch):
    pytest.importorskip("h5py")
    path = tmp_path / "m.keras"
    gn.Sequential([gn.Input((5,)), layers.Dense(2)]).save(path)
    monkeypatch.setitem(sys.modules, "h5py", None)  # as if h5py were not installed
    err = one_line_error(["summary", str(path)], capsys)
    assert "needs h5py: pip install 'glassnet[keras]'" in err


def test_the_tour_without_its_extras_is_one_line(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    err = one_line_error(["tour", "--quick", "--chapter", "3", "--out", str(tmp_path)], capsys)
    assert "matplotlib" in err and "pip install 'glassnet[tour]'" in err
    assert not (tmp_path / "index.html").exists()


@pytest.mark.parametrize("shape", ["28,28", "1,28,28", "28,28,3", "1,28,28,1,1", "2,28,29,1"])
def test_an_input_shape_that_fits_no_input_shows_both_forms(shape, capsys):
    err = one_line_error(["summary", f"{EX}:conv_3x3", "--input-shape", shape], capsys)
    assert err == (f"glassnet: error: --input-shape {shape} does not fit model 'conv_3x3', "
                   "which takes (None, 28, 28, 1): give one sample's shape, 28,28,1, or a batch's, N,28,28,1")


def test_an_input_shape_for_a_model_with_variable_dims_names_them(capsys):
    err = one_line_error(["summary", f"{EX}:any_size_classifier", "--input-shape", "32,32"], capsys)
    assert "which takes (None, None, None, 1): give one sample's shape, H,W,1, or a batch's, N,H,W,1" in err


def test_one_input_shape_per_input(tmp_path, capsys):
    path = tmp_path / "two.py"
    path.write_text("import glassnet as gn\nfrom glassnet import layers\n\ndef two():\n"
                    "    a, b = gn.Input((3,)), gn.Input((4,))\n"
                    "    return gn.Model([a, b], layers.Concatenate()([a, b]), name='two')\n")
    err = one_line_error(["summary", f"{path}:two", "--input-shape", "3"], capsys)
    assert err == "glassnet: error: model 'two' has 2 inputs; give one --input-shape for each. Received: 1"
    err = one_line_error(["summary", f"{path}:two", "--input-shape", "3", "--input-shape", "5"], capsys)
    assert re.fullmatch(r"glassnet: error: --input-shape 5 does not fit input 'input_layer(_\d+)?' of model 'two', "
                        r"which takes \(None, 4\): give one sample's shape, 4, or a batch's, N,4", err)
    assert main(["summary", f"{path}:two", "--input-shape", "3", "--input-shape", "2,4", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["rows"][-1]["output_shape"] == "(None, 7)"


@pytest.mark.parametrize("shape,batch", [("28,28,1", 1), ("8,28,28,1", 8), ("1,28,28,1", 1)])
def test_input_shape_per_sample_or_batch_first(shape, batch, capsys):
    assert main(["summary", f"{EX}:conv_3x3", "--input-shape", shape, "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["batch_size"] == batch and d["totals"]["macs"] == batch * 389_376


def test_input_shape_for_a_variable_size_model(capsys):
    assert main(["summary", f"{EX}:any_size_classifier", "--input-shape", "30,30,1", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["dims"]["H"] == 30 and d["totals"]["macs"] is not None


def test_compare_takes_one_sample_shape_for_both(capsys):
    assert main(["compare", f"{EX}:conv_3x3", f"{EX}:conv_7x7", "--input-shape", "28,28,1", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["schema_version"] == 2 and d["totals"]["macs"] == {"a": 389_376, "b": 758_912, "b/a": 758_912 / 389_376}


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"glassnet {gn.__version__}"


def test_help_documents_demo_width_and_threads(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "demo" in out and "without training" in out and "seed" not in out
    assert "questions people ask about Keras layers" in out
    with pytest.raises(SystemExit):
        main(["summary", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--width COLUMNS" in out and "long formulas wrap onto further lines, never cut" in out
    assert "one sample's (28,28,1) or a batch's, batch first (8,28,28,1)" in out


def test_errors_are_one_line_from_the_installed_command():
    """The same through ``python -m glassnet`` in a fresh process: no traceback, exit status 2."""
    proc = subprocess.run([sys.executable, "-m", "glassnet", "summary", f"{EX}:conv_3x3", "--input-shape", "1,28,28"],
                          capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("glassnet: error: --input-shape 1,28,28 does not fit") and proc.stderr.count("\n") == 1
