"""``lwfc export CHECKPOINT --out DIR``: quantize a saved torch checkpoint into a bundle."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..bundle import MANIFEST, save_bundle
from ..errors import LwfcError
from ._common import add_data_args, check_data_dir, check_output


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a torch checkpoint (.pt) as an int8 bundle")
    p.add_argument("checkpoint", type=Path, help="checkpoint written by 'lwfc train --checkpoint'")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="bundle folder to write")
    p.add_argument(
        "--method",
        choices=["qat", "ptq"],
        default="qat",
        help="qat: use the checkpoint's trained quantization ranges; ptq: calibrate anew",
    )
    add_data_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.checkpoint.is_file():
        raise LwfcError(f"{args.checkpoint}: no such checkpoint file")
    check_output(args.out, "--out", replaces=MANIFEST)
    check_data_dir(args.data)
    from .. import train  # torch is imported only when needed

    bundle = train.export_checkpoint(
        args.checkpoint, data_dir=args.data, method=args.method, dataset=args.dataset
    )
    path = save_bundle(bundle, args.out)
    print(f"wrote {path}")
    return 0
