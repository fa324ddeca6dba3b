"""Names the docstring examples use (``--doctest-modules`` runs them): ``gn`` and ``layers``."""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import pytest


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace):
    import glassnet
    doctest_namespace["gn"] = glassnet
    doctest_namespace["layers"] = glassnet.layers
