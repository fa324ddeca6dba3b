"""The ``glassnet`` command line: summary, compare, explain, tour and demo.

FILE is ``path/to/file.py:function`` (a function returning a model) or a saved ``.keras``, ``.h5`` or
``.glassnet`` file.
Mistakes in the command line get one clear line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import importlib.util
import inspect
import os
import sys

__all__ = ["main", "load_target"]


def _api():
    """glassnet itself, imported on first use so that ``glassnet --help`` answers without loading torch."""
    import glassnet.seed_models, glassnet.tour  # noqa: E401 - start-up time: torch loads only for a command
    return glassnet


class UsageError(Exception):
    """A problem with what the user typed; reported as one line, exit status 2."""


def _parse_shape(text: str | None):
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = None
    if not shape or any(d <= 0 for d in shape):
        raise UsageError(f"--input-shape must be positive integers separated by commas, batch first, "
                         f"like 1,28,28,1; received {text!r}")
    return shape


def load_target(target: str):
    """A model from ``file.py:function`` or from a saved model file."""
    gn = _api()
    path, func = target, ""
    if ".py:" in target:
        path, _, func = target.rpartition(":")
    if path.endswith(".py"):
        if not os.path.isfile(path):
            raise UsageError(f"no such file: {path}")
        if not func:
            raise UsageError(f"name the function that builds the model: {path}:FUNCTION")
        spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
        try:
            spec.loader.exec_module(module)
        finally:
            sys.path.pop(0)
        fn = getattr(module, func, None)
        if not callable(fn):
            names = sorted(n for n, v in vars(module).items() if inspect.isfunction(v) and v.__module__ == module.__name__)
            raise UsageError(f"{path} has no function {func!r}; its functions are: {', '.join(names) or 'none'}")
        model = fn()
        if not isinstance(model, gn.Model):
            raise UsageError(f"{path}:{func} returned {type(model).__name__}, not a glassnet model")
        return model
    if not os.path.isfile(target):
        raise UsageError(f"no such file: {target}")
    return gn.load_model(target)


def _cmd_summary(args) -> None:
    model = load_target(args.file)
    shape = _parse_shape(args.input_shape)
    report = _api().analyze(model, input_shape=shape, batch_size=shape[0] if shape else 1)
    if args.json:
        print(report.to_json(indent=2))
    else:
        model.summary(costs=True, line_length=args.width)
        print()
        print(report)


def _cmd_compare(args) -> None:
    _api().compare(load_target(args.a), load_target(args.b), input_shape=_parse_shape(args.input_shape))


def _cmd_explain(args) -> None:
    explain = _api().explain
    model = load_target(args.file)
    if args.layer:
        try:
            explain(model.get_layer(args.layer))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    else:
        explain(model, input_shape=_parse_shape(args.input_shape))


def _cmd_demo(args) -> None:
    _api().seed_models.run_demo()


def _cmd_tour(args) -> int:
    tour = _api().tour
    CHAPTERS, run_tour = tour.CHAPTERS, tour.run_tour
    chapters = args.chapter or None
    for n in chapters or ():
        if n not in CHAPTERS:
            raise UsageError(f"--chapter must be one of {sorted(CHAPTERS)}; received {n}")
    try:
        result = run_tour(quick=args.quick, chapters=chapters, out=args.out)
    except ImportError as exc:
        raise UsageError(str(exc)) from None
    return 1 if result["failed"] else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="glassnet", description="Keras-semantics layers on PyTorch that show their work.",
        epilog="FILE is path/to/file.py:function (a function returning a model) or a saved .keras, .h5 or .glassnet file.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("summary", help="the Keras summary with formulas, MACs, receptive fields and mask flow")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--input-shape", help="a concrete input shape, batch first, e.g. 1,28,28,1")
    p.add_argument("--json", action="store_true", help="print the analysis as JSON")
    p.add_argument("--width", type=int, default=None, help="table width")
    p.set_defaults(run=_cmd_summary)
    p = sub.add_parser("compare", help="two models side by side, aligned by layer, with totals and ratios")
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    p.add_argument("--input-shape", help="a concrete input shape for both, batch first")
    p.set_defaults(run=_cmd_compare)
    p = sub.add_parser("explain", help="how each layer reads its input, what it owns and what it costs")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--layer", help="explain only this layer")
    p.add_argument("--input-shape", help="a concrete input shape, batch first")
    p.set_defaults(run=_cmd_explain)
    p = sub.add_parser("tour", help="answer the seed's questions by training real models on real bundled data; "
                                    "writes DIR/index.html and DIR/report.json")
    p.add_argument("--quick", action="store_true", help="less data and fewer epochs (under 3 minutes on 2 cores)")
    p.add_argument("--chapter", type=int, action="append", metavar="N", help="run only chapter N (repeatable)")
    p.add_argument("--out", default="tour-report", metavar="DIR", help="report folder (default: tour-report)")
    p.set_defaults(run=_cmd_tour)
    p = sub.add_parser("demo", help="build the seed questions' example models, summarise them and check their numbers")
    p.set_defaults(run=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        status = args.run(args)
    except UsageError as exc:
        print(f"glassnet: error: {exc}", file=sys.stderr)
        return 2
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
