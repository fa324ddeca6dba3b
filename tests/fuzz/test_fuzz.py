"""A short fuzz run of the model-file readers (the script documents longer runs)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fuzz_model_files import run  # noqa: E402


def test_mutated_files_load_or_raise_file_format_error():
    outcomes = run(seconds=40, seed=1234, max_cases=400)
    assert outcomes["cases"] >= 100
    assert outcomes["refused"] > 0
