"""The ``glassnet`` command line."""
from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="glassnet", description="Keras-semantics layers on PyTorch that show their work.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("demo", help="build the seed questions' example models, summarise them and check their numbers")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .seed_models import run_demo
        run_demo()
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
