"""``lwfc report DIR``: Markdown tables and PNG figures of a search folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import check_input, check_output


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write Markdown tables and plots (Tables 1-3, figures 8-13, Pareto) of a search",
    )
    p.add_argument("folder", type=Path, help="folder written by 'lwfc search --out'")
    p.add_argument("--out", type=Path, metavar="DIR", help="report folder (default DIR/report)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_input(args.folder, "folder", kind="dir")
    check_output(args.out or args.folder / "report", "--out", replaces="report.md")
    from ..compress.report import write_report

    path = write_report(args.folder, args.out)
    print(f"wrote {path}")
    return 0
