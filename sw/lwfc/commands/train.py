"""``lwfc train``: train a student MLP (784-50-100-10 by default) and export an int8 bundle."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..bundle import MANIFEST, save_bundle
from ..errors import LwfcError
from ._common import add_data_args, check_data_dir, check_output, positive_int, print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a student network and export its int8 bundle")
    p.add_argument("--recipe", choices=["default", "paper"], default="default")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="bundle folder to write")
    add_data_args(p)
    p.add_argument(
        "--arch",
        metavar="W0-W1-...-C",
        help="layer widths, input first, classes last, one or more hidden layers, e.g. "
        "784-128-64-10 (default: features-50-100-classes of the dataset)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=positive_int, help="override the recipe's epoch count/cap")
    p.add_argument(
        "--checkpoint", type=Path, metavar="FILE", help="also save the torch state to FILE (.pt)"
    )
    p.add_argument("--json", action="store_true", help="print the bundle summary as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_output(args.out, "--out", replaces=MANIFEST)
    check_output(args.checkpoint, "--checkpoint", kind="file")
    check_data_dir(args.data)
    from .. import train  # torch is imported only when training
    from ..models import parse_arch

    if args.arch is not None:
        try:
            parse_arch(args.arch)
        except ValueError as exc:
            raise LwfcError(f"--arch: {exc}") from None

    log = (lambda *a, **k: print(*a, file=sys.stderr, **k)) if args.json else print
    result = train.train(
        recipe=args.recipe,
        data_dir=args.data,
        seed=args.seed,
        epochs=args.epochs,
        progress=not args.json,
        log=log,
        arch=args.arch,
        **({"dataset": args.dataset} if args.dataset else {}),
    )
    path = save_bundle(result.bundle, args.out)
    if args.checkpoint:
        train.save_checkpoint(result, args.checkpoint)
    if args.json:
        print_json(result.bundle.info())
    else:
        m = result.bundle.metrics
        print(f"wrote {path}")
        for key in ("float_accuracy", "int8_accuracy"):
            if key in m:
                print(f"{key:<15}{m[key]:.4f}")
    return 0
