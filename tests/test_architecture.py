"""The package's shape: imports flow one way (import-linter), few function-local imports and each says why,
every Keras alias resolves, every layer class is found by its Keras name."""
import ast
import os
import shutil
import subprocess
import sys

import glassnet as gn
from glassnet import layers
from glassnet.layers import registry

PACKAGE = os.path.dirname(gn.__file__)
ROOT = os.path.dirname(PACKAGE)


def test_imports_flow_one_way():
    exe = shutil.which("lint-imports", path=os.path.dirname(sys.executable)) or shutil.which("lint-imports")
    assert exe, "lint-imports (import-linter) is a test dependency"
    done = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "KEPT" in done.stdout and "BROKEN" not in done.stdout


def _function_local_imports():
    found = []
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            source = open(path, encoding="utf-8").read()
            lines = source.splitlines()
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    for inner in ast.walk(node):
                        if isinstance(inner, (ast.Import, ast.ImportFrom)):
                            found.append((os.path.relpath(path, ROOT), inner.lineno, lines[inner.lineno - 1]))
    return found


def test_few_function_local_imports_each_with_its_reason():
    local = _function_local_imports()
    assert len(local) <= 10, local
    for path, line, text in local:
        assert "#" in text, f"{path}:{line} imports inside a function without saying why: {text.strip()}"


def test_layers_never_import_the_packages_above_them():
    for folder, _, files in os.walk(os.path.join(PACKAGE, "layers")):
        for name in files:
            if name.endswith(".py"):
                tree = ast.parse(open(os.path.join(folder, name), encoding="utf-8").read())
                for node in ast.walk(tree):
                    targets = []
                    if isinstance(node, ast.ImportFrom) and node.module and node.level >= 2:
                        targets = [node.module.split(".")[0]]  # from ..models import ...
                    elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("glassnet."):
                        targets = [node.module.split(".")[1]]
                    elif isinstance(node, ast.Import):
                        targets = [a.name.split(".")[1] for a in node.names if a.name.startswith("glassnet.")]
                    for t in targets:
                        assert t not in ("models", "training", "io", "analysis"), (name, t)


KERAS_ALIASES = {
    "Convolution1D": "Conv1D", "Convolution2D": "Conv2D", "Convolution3D": "Conv3D",
    "SeparableConvolution1D": "SeparableConv1D", "SeparableConvolution2D": "SeparableConv2D",
    "MaxPool1D": "MaxPooling1D", "MaxPool2D": "MaxPooling2D", "MaxPool3D": "MaxPooling3D",
    "AvgPool1D": "AveragePooling1D", "AvgPool2D": "AveragePooling2D", "AvgPool3D": "AveragePooling3D",
    "GlobalMaxPool1D": "GlobalMaxPooling1D", "GlobalMaxPool2D": "GlobalMaxPooling2D",
    "GlobalMaxPool3D": "GlobalMaxPooling3D", "GlobalAvgPool1D": "GlobalAveragePooling1D",
    "GlobalAvgPool2D": "GlobalAveragePooling2D", "GlobalAvgPool3D": "GlobalAveragePooling3D",
    "Convolution1DTranspose": "Conv1DTranspose", "Convolution2DTranspose": "Conv2DTranspose",
    "Convolution3DTranspose": "Conv3DTranspose",
}


def test_keras_aliases_resolve_as_attributes_and_in_files(tmp_path):
    for alias, name in KERAS_ALIASES.items():
        assert getattr(layers, alias) is getattr(layers, name), alias
        assert registry.get(alias) is getattr(layers, name), alias
    # a config naming a class by its alias loads
    spec = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 8, 8, 2], "name": "in"}},
        {"class_name": "Convolution2D", "config": {"filters": 3, "kernel_size": [3, 3], "name": "c"}},
        {"class_name": "MaxPool2D", "config": {"name": "p"}},
        {"class_name": "GlobalAvgPool2D", "config": {"name": "g"}}]}}
    model = gn.Sequential.from_config(spec["config"], spec)
    assert [type(l).__name__ for l in model.layers] == ["Conv2D", "MaxPooling2D", "GlobalAveragePooling2D"]


def test_every_public_layer_class_is_registered_under_its_name():
    for name in layers.__all__:
        obj = getattr(layers, name)
        if isinstance(obj, type) and issubclass(obj, layers.Layer) and obj is not layers.Layer:
            assert registry.get(name) is obj, name
    assert registry.get("Functional") is gn.Model and registry.get("Sequential") is gn.Sequential
