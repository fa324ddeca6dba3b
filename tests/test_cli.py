"""The command line: every command, and one clear line with exit status 2 for each usage error."""
import json
import os
import subprocess
import sys

import pytest

from glassnet.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EX = os.path.join(ROOT, "examples", "seed_models.py")


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for cmd in ("summary", "compare", "explain", "demo"):
        assert cmd in out


def test_summary_json(capsys):
    assert main(["summary", f"{EX}:conv_3x3", "--input-shape", "1,28,28,1", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["totals"]["params"] == 640 and d["totals"]["macs"] == 389_376


def test_summary_text_compare_explain(capsys):
    assert main(["summary", f"{EX}:lstm_forecaster"]) == 0
    assert "T·4·10·(1+10)" in capsys.readouterr().out
    assert main(["compare", f"{EX}:conv_3x3", f"{EX}:conv_7x7"]) == 0
    assert "ratio 2.50×" in capsys.readouterr().out
    assert main(["explain", f"{EX}:names_classifier"]) == 0
    assert "mask: created" in capsys.readouterr().out


def test_saved_model_file(tmp_path, capsys):
    import glassnet as gn
    from glassnet import layers
    path = tmp_path / "m.glassnet"
    gn.Sequential([gn.Input((5,)), layers.Dense(2)]).save(path)
    assert main(["summary", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["params"] == 12


@pytest.mark.parametrize("argv,message", [
    (["summary", "missing.py:f"], "glassnet: error: no such file: missing.py"),
    (["summary", "missing.glassnet"], "glassnet: error: no such file: missing.glassnet"),
    (["summary", f"{EX}:nope"], f"glassnet: error: {EX} has no function 'nope'; its functions are: any_size_classifier, conv_3x3"),
    (["summary", EX], f"glassnet: error: name the function that builds the model: {EX}:FUNCTION"),
    (["summary", f"{EX}:conv_3x3", "--input-shape", "1,x,28"], "glassnet: error: --input-shape must be positive integers separated by commas"),
    (["summary", f"{EX}:conv_3x3", "--input-shape", "0,28"], "glassnet: error: --input-shape must be positive integers"),
    (["explain", f"{EX}:conv_3x3", "--layer", "nope"], "glassnet: error: No such layer: nope."),
])
def test_usage_errors_are_one_line_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_entry_point_runs():
    proc = subprocess.run([sys.executable, "-m", "glassnet", "summary", "nothere.py:f"], capture_output=True, text=True,
                          cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 2 and proc.stderr.strip() == "glassnet: error: no such file: nothere.py"
