"""The ``glassnet`` command line: summary, compare, explain, tour and demo.

FILE is ``path/to/file.py:function`` (a function returning a glassnet model or any ``torch.nn.Module``)
or a saved ``.keras``, ``.h5`` or ``.glassnet`` file. A plain torch module is traced at example inputs
made from ``--input-shape`` (one per positional argument of its forward, batch first); ``NAME=SIZE``
keeps a dimension symbolic under that name, so ``--input-shape B=2,T=16,32`` reports MACs as formulas
in B and T. ``--input-dtype int64`` makes token ids.
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
    """``2,T=16,32`` → ((2, 16, 32), {1: "T"}); None → (None, {})."""
    if text is None:
        return None, {}
    shape, names = [], {}
    try:
        for axis, part in enumerate(p.strip() for p in text.split(",")):
            name, _, size = part.rpartition("=")
            if name:
                if not name.isidentifier():
                    raise ValueError(name)
                names[axis] = name
            shape.append(int(size))
    except ValueError:
        shape = []
    if not shape or any(d <= 0 for d in shape):
        raise UsageError(f"--input-shape must be positive integers separated by commas, batch first, like 1,28,28,1 "
                         f"(NAME=SIZE keeps a dimension symbolic, like B=2,T=16,32); received {text!r}")
    return tuple(shape), names


def _shapes(args):
    """The --input-shape options: [(shape, {axis: name}), ...]."""
    return [_parse_shape(t) for t in (args.input_shape or [])]


def _glassnet_shape(parsed):
    """A glassnet model takes one shape, or a list for several inputs; it names its dims in Input."""
    shapes = [s for s, _ in parsed]
    return None if not shapes else shapes[0] if len(shapes) == 1 else shapes


def _module_inputs(parsed, dtypes_, target: str):
    """(example tensors, dynamic) for a plain torch module."""
    if not parsed:
        raise UsageError(f"{target} is a torch module: give its example input with --input-shape, batch first, "
                         "like --input-shape B=2,T=16,32 (NAME=SIZE keeps a dimension symbolic)")
    dtypes_ = dtypes_ or ["float32"]
    if len(dtypes_) not in (1, len(parsed)):
        raise UsageError(f"give one --input-dtype, or one per --input-shape; received {len(dtypes_)} for {len(parsed)} inputs")
    torch = sys.modules["torch"]  # loaded with glassnet
    tensors = []
    for i, (shape, _) in enumerate(parsed):
        name = dtypes_[i if len(dtypes_) > 1 else 0]
        dtype = getattr(torch, name, None)
        if not isinstance(dtype, torch.dtype):
            raise UsageError(f"--input-dtype must name a torch dtype like float32 or int64; received {name!r}")
        tensors.append(torch.randn(shape, dtype=dtype) if dtype.is_floating_point else torch.zeros(shape, dtype=dtype))
    dynamic = [names or None for _, names in parsed]
    return tuple(tensors), (dynamic if any(dynamic) else None)


def _is_glassnet(model) -> bool:
    return hasattr(model, "graph_nodes")


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
        if not isinstance(model, gn.Model) and not isinstance(model, sys.modules["torch"].nn.Module):
            raise UsageError(f"{path}:{func} returned {type(model).__name__}, not a glassnet model or a torch.nn.Module")
        return model
    if not os.path.isfile(target):
        raise UsageError(f"no such file: {target}")
    return gn.load_model(target)


def _cmd_summary(args) -> None:
    model = load_target(args.file)
    parsed = _shapes(args)
    if _is_glassnet(model):
        shape = _glassnet_shape(parsed)
        first = shape[0] if isinstance(shape, list) else shape
        report = _api().analyze(model, input_shape=shape, batch_size=first[0] if first else 1)
        if args.json:
            print(report.to_json(indent=2))
            return
        model.summary(costs=True, line_length=args.width)
        print()
        print(report)
        return
    inputs, dynamic = _module_inputs(parsed, args.input_dtype, args.file)
    report = _api().analyze(model, example_inputs=inputs, dynamic=dynamic)
    print(report.to_json(indent=2) if args.json else report)


def _cmd_compare(args) -> None:
    a, b = load_target(args.a), load_target(args.b)
    parsed = _shapes(args)
    if _is_glassnet(a) and _is_glassnet(b):
        _api().compare(a, b, input_shape=_glassnet_shape(parsed))
        return
    inputs, dynamic = _module_inputs(parsed, args.input_dtype, args.a if not _is_glassnet(a) else args.b)
    _api().compare(a, b, input_shape=_glassnet_shape(parsed), example_inputs=inputs, dynamic=dynamic)


def _cmd_explain(args) -> None:
    explain = _api().explain
    model = load_target(args.file)
    parsed = _shapes(args)
    if not _is_glassnet(model):
        inputs, dynamic = _module_inputs(parsed, args.input_dtype, args.file)
        try:
            explain(model, example_inputs=inputs, dynamic=dynamic, module=args.layer)
        except KeyError:
            raise UsageError(f"No module ran at path {args.layer!r}.") from None
        return
    if args.layer:
        try:
            explain(model.get_layer(args.layer))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    else:
        explain(model, input_shape=_glassnet_shape(parsed))


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


def _shape_options(p) -> None:
    p.add_argument("--input-shape", action="append", metavar="SHAPE",
                   help="an input shape, batch first, e.g. 1,28,28,1; NAME=SIZE keeps a dimension symbolic for a "
                        "torch module (B=2,T=16,32); repeat for each input")
    p.add_argument("--input-dtype", action="append", metavar="DTYPE",
                   help="dtype of a torch module's example input (default float32; int64 for token ids); one, or "
                        "one per --input-shape")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="glassnet", description="Keras-semantics layers on PyTorch that show their work.",
        epilog="FILE is path/to/file.py:function (a function returning a glassnet model or any torch.nn.Module) "
               "or a saved .keras, .h5 or .glassnet file.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("summary", help="the Keras summary with formulas, MACs, receptive fields and mask flow")
    p.add_argument("file", metavar="FILE")
    _shape_options(p)
    p.add_argument("--json", action="store_true", help="print the analysis as JSON")
    p.add_argument("--width", type=int, default=None, help="table width")
    p.set_defaults(run=_cmd_summary)
    p = sub.add_parser("compare", help="two models side by side, aligned by layer, with totals and ratios")
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    _shape_options(p)
    p.set_defaults(run=_cmd_compare)
    p = sub.add_parser("explain", help="how each layer reads its input, what it owns and what it costs")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--layer", help="explain only this layer (for a torch module: its path, e.g. encoder.layer.0)")
    _shape_options(p)
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
