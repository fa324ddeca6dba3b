"""Which of ``keras.layers``' public classes glassnet has, by the names files use (its registry's Keras names
and aliases).

Keras's classes are grouped by where Keras defines them:

* modelling layers — everything a model computes with (``keras.src.layers`` outside preprocessing);
* preprocessing and augmentation layers (``keras.src.layers.preprocessing``);
* backend bridges: layers that run another framework's code (``JaxLayer``, ``FlaxLayer``, ``TFSMLayer``: out
  of scope) or a torch module (``TorchModuleWrapper``, which glassnet has);
* base classes and specs, which files never name (``Layer``, ``Wrapper``, ``InputSpec``).

It prints each group with what is missing and exits with status 1 when a modelling class is missing (0
otherwise), so it can guard the promise that every Keras 3 modelling layer loads::

    KERAS_BACKEND=torch python tools/keras_coverage.py          # the report
    KERAS_BACKEND=torch python tools/keras_coverage.py --json   # the same as JSON
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's glassnet

import keras  # noqa: E402

from glassnet.layers import registry  # noqa: E402

BRIDGES = {"JaxLayer", "FlaxLayer", "TFSMLayer", "TorchModuleWrapper"}
BASES = {"Layer", "Wrapper", "InputSpec"}
GROUPS = ("modelling", "preprocessing and augmentation", "backend bridges (out of scope)",
          "base classes and specs (not named in files)")


def keras_classes() -> dict[str, type]:
    """Every public class ``keras.layers`` exports, by the name it is exported under (aliases included)."""
    return {name: obj for name, obj in vars(keras.layers).items()
            if not name.startswith("_") and inspect.isclass(obj)}


def group_of(name: str, cls: type) -> str:
    if name in BRIDGES:
        return GROUPS[2]
    if name in BASES:
        return GROUPS[3]
    if cls.__module__.startswith("keras.src.layers.preprocessing"):
        return GROUPS[1]
    return GROUPS[0]


def coverage() -> dict:
    known = set(registry.known())
    groups: dict[str, dict] = {g: {"present": [], "missing": []} for g in GROUPS}
    for name, cls in sorted(keras_classes().items()):
        groups[group_of(name, cls)]["present" if name in known else "missing"].append(name)
    extra = sorted(known - set(keras_classes()))
    return {"keras_version": keras.__version__, "groups": groups, "glassnet_only": extra}


def render(report: dict) -> str:
    lines = [f"keras.layers {report['keras_version']} against glassnet's layer registry (names and aliases)"]
    for group, found in report["groups"].items():
        total = len(found["present"]) + len(found["missing"])
        lines.append(f"\n{group}: {len(found['present'])} of {total} present")
        if found["missing"]:
            lines.append("  missing: " + ", ".join(found["missing"]))
    lines.append("\nglassnet names that are not keras.layers classes: " + ", ".join(report["glassnet_only"]))
    missing = report["groups"][GROUPS[0]]["missing"]
    lines.append("\n" + (f"{len(missing)} modelling class(es) missing." if missing
                         else "Every modelling class of keras.layers is present."))
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    report = coverage()
    print(json.dumps(report, indent=1) if args.json else render(report))
    return 1 if report["groups"][GROUPS[0]]["missing"] else 0


if __name__ == "__main__":
    sys.exit(main())
