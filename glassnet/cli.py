"""The ``glassnet`` command line: summary, compare, explain, tour and demo.

FILE is ``path/to/file.py:function`` (a function returning a glassnet model or any ``torch.nn.Module``)
or a saved ``.keras``, ``.h5`` or ``.glassnet`` file. For a glassnet model ``--input-shape`` is one
sample's shape (``28,28,1``) or a batch's, batch first (``8,28,28,1``). A plain torch module is traced
at example inputs made from ``--input-shape`` (one per positional argument of its forward, batch
first); ``NAME=SIZE`` keeps a dimension symbolic under that name, so ``--input-shape B=2,T=16,32``
reports MACs as formulas in B and T. ``--input-dtype int64`` makes token ids.

A mistake in the command line, and every error glassnet raises on purpose (a shape that does not fit,
a file that is not a model, a missing optional package), is one line on stderr,
``glassnet: error: ...``, with exit status 2.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import inspect
import os
import shutil
import sys

from . import threads
from .dims import fmt_dim
from .errors import ConfigError, FileFormatError, GlassnetError
from .version import __version__

__all__ = ["main", "load_target"]

MODEL_SUFFIXES = (".keras", ".h5", ".glassnet")
FILE_HELP = ("FILE is path/to/file.py:function (a function returning a glassnet model or any torch.nn.Module) or a "
             "saved .keras, .h5 or .glassnet model file")


def _api():
    """glassnet with the tour and the demo models, imported when a command runs rather than for ``--help``."""
    import glassnet.seed_models, glassnet.tour  # noqa: E401 - start-up time: only the commands need them
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
        raise UsageError(f"--input-shape must be positive integers separated by commas, like 28,28,1 (one sample) or "
                         f"8,28,28,1 (batch first; NAME=SIZE keeps a dimension symbolic, like B=2,T=16,32); "
                         f"received {text!r}")
    return tuple(shape), names


def _shapes(args):
    """The --input-shape options: [(shape, {axis: name}), ...]."""
    return [_parse_shape(t) for t in (args.input_shape or [])]


def _shape_text(dims) -> str:
    return ",".join(str(d) for d in dims)


def _glassnet_shape(model, parsed):
    """The --input-shape options as the batch-first shapes a glassnet model takes (one, or a list for
    several inputs). Each may be one sample's shape (``28,28,1``: batch 1) or a batch's (``8,28,28,1``);
    a shape that fits neither is refused here, in one line that shows both forms."""
    if not parsed:
        return None
    inputs = model.inputs
    if len(parsed) != len(inputs):
        raise UsageError(f"model '{model.name}' has {len(inputs)} input{'s' if len(inputs) != 1 else ''}; give one "
                         f"--input-shape for each. Received: {len(parsed)}")
    shapes = []
    for t, (shape, _) in zip(inputs, parsed):
        expected = tuple(t.shape)
        names = [fmt_dim(d) for d in t.symbolic_shape]
        full = shape if len(shape) == len(expected) else (1, *shape) if len(shape) == len(expected) - 1 else None
        if full is None or any(e is not None and e != d for e, d in zip(expected[1:], full[1:])):
            one = _shape_text(names[1:])
            which = f"input '{t.layer.name}' of model '{model.name}'" if len(inputs) > 1 else f"model '{model.name}'"
            raise UsageError(f"--input-shape {_shape_text(shape)} does not fit {which}, which takes "
                             f"{_shape_text_paren(expected)}: give one sample's shape, {one}, or a batch's, N,{one}")
        shapes.append(tuple(full))
    return shapes[0] if len(shapes) == 1 else shapes


def _shape_text_paren(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


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


def _columns(args) -> int | None:
    """The width text tables fit: --width, else the terminal's columns; None when the output is piped (whole
    lines for grep and files; the summary's boxed table keeps its own width and wraps inside it)."""
    if args.width:
        return args.width
    return shutil.get_terminal_size((80, 24)).columns if sys.stdout.isatty() else None


def _cmd_summary(args) -> None:
    model = load_target(args.file)
    parsed = _shapes(args)
    if _is_glassnet(model):
        shape = _glassnet_shape(model, parsed)
        first = shape[0] if isinstance(shape, list) else shape
        report = _api().analyze(model, input_shape=shape, batch_size=first[0] if first else 1)
        if args.json:
            print(report.to_json(indent=2))
            return
        model.summary(costs=True, line_length=_columns(args))
        print()
        print(report.to_text(width=_columns(args)))
        return
    inputs, dynamic = _module_inputs(parsed, args.input_dtype, args.file)
    report = _api().analyze(model, example_inputs=inputs, dynamic=dynamic)
    print(report.to_json(indent=2) if args.json else report.to_text(width=_columns(args)))


def _cmd_compare(args) -> None:
    a, b = load_target(args.a), load_target(args.b)
    parsed = _shapes(args)
    if _is_glassnet(a) and _is_glassnet(b):
        shape_a, shape_b = _glassnet_shape(a, parsed), _glassnet_shape(b, parsed)
        if shape_a != shape_b:
            raise UsageError(f"--input-shape reads as {shape_a} for {args.a} but {shape_b} for {args.b}; give the "
                             "batch first so it means the same for both")
        result = _api().compare(a, b, input_shape=shape_a)
    else:
        inputs, dynamic = _module_inputs(parsed, args.input_dtype, args.a if not _is_glassnet(a) else args.b)
        glassnet_one = a if _is_glassnet(a) else b if _is_glassnet(b) else None
        shape = _glassnet_shape(glassnet_one, parsed) if glassnet_one is not None else None
        result = _api().compare(a, b, input_shape=shape, example_inputs=inputs, dynamic=dynamic)
    print(result.to_json(indent=2) if args.json else result.to_text(width=_columns(args)))


def _cmd_explain(args) -> None:
    explain = _api().explain
    model = load_target(args.file)
    parsed = _shapes(args)
    if not _is_glassnet(model):
        inputs, dynamic = _module_inputs(parsed, args.input_dtype, args.file)
        try:
            result = explain(model, example_inputs=inputs, dynamic=dynamic, module=args.layer)
        except KeyError:
            raise UsageError(f"No module ran at path {args.layer!r}.") from None
    elif args.layer:
        try:
            layer = model.get_layer(args.layer)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        result = explain(layer)
    else:
        result = explain(model, input_shape=_glassnet_shape(model, parsed))
    print(result.to_json(indent=2) if args.json else result.to_text(width=_columns(args)))


def _cmd_demo(args) -> None:
    _api().seed_models.run_demo()


def _cmd_tour(args) -> int:
    tour = _api().tour
    CHAPTERS, run_tour = tour.CHAPTERS, tour.run_tour
    chapters = args.chapter or None
    for n in chapters or ():
        if n not in CHAPTERS:
            raise UsageError(f"--chapter must be one of {sorted(CHAPTERS)}; received {n}")
    result = run_tour(quick=args.quick, chapters=chapters, out=args.out)
    return 1 if result["failed"] else 0


def _shape_options(p) -> None:
    p.add_argument("--input-shape", action="append", metavar="SHAPE",
                   help="an input's shape: one sample's (28,28,1) or a batch's, batch first (8,28,28,1); for a torch "
                        "module batch first, NAME=SIZE keeping a dimension symbolic (B=2,T=16,32); repeat for each input")
    p.add_argument("--input-dtype", action="append", metavar="DTYPE",
                   help="dtype of a torch module's example input (default float32; int64 for token ids); one, or "
                        "one per --input-shape")


def _output_options(p, what: str) -> None:
    p.add_argument("--json", action="store_true", help=f"print {what} as JSON (schema_version inside; null where a "
                                                       "figure is unknown)")
    p.add_argument("--width", type=int, default=None, metavar="COLUMNS",
                   help="fit text tables to this many columns (default: the terminal's width; whole lines when piped, "
                        "but the summary's boxed table keeps its width); long formulas wrap onto further lines, never cut")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--threads", metavar="N", default=None,
                        help=f"torch's intra-op CPU threads: a number, or 'auto' (default; also ${threads.ENV}): one "
                             "thread for small models, torch's default (one per core) for large ones")
    parser = argparse.ArgumentParser(
        prog="glassnet", description="Keras-semantics layers on PyTorch that show their work.",
        epilog=f"{FILE_HELP}. Errors are one line on stderr, 'glassnet: error: ...', with exit status 2.")
    parser.add_argument("--version", action="version", version=f"glassnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("summary", parents=[common], epilog=FILE_HELP + ".",
                       help="the Keras summary with formulas, MACs, receptive fields and mask flow")
    p.add_argument("file", metavar="FILE")
    _shape_options(p)
    _output_options(p, "the analysis")
    p.set_defaults(run=_cmd_summary)
    p = sub.add_parser("compare", parents=[common], epilog=FILE_HELP + " (A and B alike).",
                       help="two models side by side, aligned by layer, with totals and ratios")
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    _shape_options(p)
    _output_options(p, "both analyses and the ratios")
    p.set_defaults(run=_cmd_compare)
    p = sub.add_parser("explain", parents=[common], epilog=FILE_HELP + ".",
                       help="how each layer reads its input, what it owns and what it costs")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--layer", help="explain only this layer (for a torch module: its path, e.g. encoder.layer.0)")
    _shape_options(p)
    _output_options(p, "the explanation")
    p.set_defaults(run=_cmd_explain)
    p = sub.add_parser("tour", parents=[common],
                       help="answer the questions people ask about Keras layers by training real models on data "
                            "bundled in Python packages; writes DIR/index.html and DIR/report.json")
    p.add_argument("--quick", action="store_true", help="less data and fewer epochs (under a minute on 2 idle cores)")
    p.add_argument("--chapter", type=int, action="append", metavar="N", help="run only chapter N (repeatable)")
    p.add_argument("--out", default="tour-report", metavar="DIR", help="report folder (default: tour-report)")
    p.set_defaults(run=_cmd_tour)
    p = sub.add_parser("demo", parents=[common],
                       help="in seconds, without training: build the tour's example models, print their summaries "
                            "and check their parameter counts and shapes")
    p.set_defaults(run=_cmd_demo)
    return parser


def _one_line(exc: BaseException, args) -> str:
    """The error as one line; a file that is not a model also gets what FILE may be."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, FileFormatError) and not any(str(f).endswith(MODEL_SUFFIXES) for f in _files(args)):
        text += f" {FILE_HELP}."
    return text


def _files(args) -> list[str]:
    return [v for k in ("file", "a", "b") if isinstance(v := getattr(args, k, None), str)]


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 done, 1 a tour chapter failed, 2 an error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        threads.set_threads(args.threads)
    except ConfigError:
        print(f"glassnet: error: --threads must be a positive number or 'auto'; received {args.threads!r}",
              file=sys.stderr)
        return 2
    try:
        # analysis works on formulas and example-sized tensors: small work (the tour chooses per chapter)
        with threads.for_work(0) if args.run is not _cmd_tour else contextlib.nullcontext():
            status = args.run(args)
    except (UsageError, GlassnetError, ImportError) as exc:
        print(f"glassnet: error: {_one_line(exc, args)}", file=sys.stderr)
        return 2
    finally:
        threads.set_threads(None)
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
