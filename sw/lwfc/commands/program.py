"""``lwfc program --board NAME [BITSTREAM]``: write a built bitstream into a board.

openFPGALoader for the ULX3S and the iCEBreaker, dfu-util for the OrangeCrab's DFU
bootloader (:mod:`lwfc.driver.program`). The default bitstream is the one ``lwfc build
--board NAME`` made. No board attached, a missing tool or bitstream: one line, exit 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("program", help="write a built bitstream into a board "
                                       "(openFPGALoader / dfu-util)")
    p.add_argument("--board", required=True, help="icebreaker, ulx3s or orangecrab")
    p.add_argument("bitstream", nargs="?", type=Path,
                   help="bitstream (default: the one 'lwfc build --board NAME' made)")
    p.add_argument("--build-root", type=Path, metavar="DIR",
                   help="where lwfc build put it (default: build/ in the repository)")
    p.add_argument("--timeout", type=float, default=300.0, metavar="S",
                   help="seconds the programmer may take (300)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..driver.program import program_board

    out = program_board(args.board, args.bitstream, timeout=args.timeout,
                        build_root=args.build_root)
    if args.json:
        print_json(out)
    else:
        print(f"programmed {out['board']} with {out['bitstream']} ({out['seconds']} s)")
    return 0
