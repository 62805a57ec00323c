"""The ``lwfc`` command line.

Subcommands live in :mod:`lwfc.commands`, one module each, discovered at start-up: a module
defines ``add_parser(subparsers)`` (which registers its parser and ``set_defaults(func=run)``)
and ``run(args) -> int``. User errors (:class:`~lwfc.errors.LwfcError`) become one line on
stderr and exit status 2, as do argument errors; there is no traceback for users.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from . import __version__, commands
from .errors import LwfcError

#: Order in which known subcommands are listed in ``lwfc --help``; others follow by name.
_ORDER = [
    "train",
    "export",
    "eval",
    "info",
    "compress",
    "search",
    "report",
    "hdl",
    "sim",
    "build",
    "infer",
]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage dump) and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every discovered subcommand."""
    parser = _Parser(
        prog="lwfc",
        description="Train, compress and run a small MLP on a bit-exact FPGA accelerator.",
    )
    parser.add_argument("--version", action="version", version=f"lwfc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    names = [m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_")]
    rank = {name: i for i, name in enumerate(_ORDER)}
    for name in sorted(names, key=lambda n: (rank.get(n, len(_ORDER)), n)):
        module = importlib.import_module(f"{commands.__name__}.{name}")
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    from .data import absolute_data_env

    absolute_data_env()  # subprocesses (FuseSoC, simulators) run in other folders
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except LwfcError as exc:
        print(f"lwfc {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lwfc {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
