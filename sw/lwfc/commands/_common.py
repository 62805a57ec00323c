"""Argument helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def add_data_args(parser: argparse.ArgumentParser) -> None:
    """``--data DIR`` and ``--dataset NAME`` (default: the bundle's dataset or mnist)."""
    parser.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help="dataset folder (default: $LWFC_DATA, else the user cache folder)",
    )
    parser.add_argument(
        "--dataset",
        metavar="NAME|PATH",
        help="mnist, fashion-mnist, digits, a folder of IDX files or an .npz "
        "(default: the bundle's)",
    )


def load_test_split(args: argparse.Namespace, bundle: Any) -> tuple[str, Any, Any]:
    """``(dataset name, test images, test labels)`` for ``--dataset`` (default: the bundle's).

    Raises:
        LwfcError: unknown or bad dataset, or images of another size than the bundle's input.
    """
    from ..data import load_data
    from ..errors import LwfcError

    data = load_data(args.dataset or bundle.dataset, args.data, progress=not args.json)
    if data.features != bundle.in_features:
        raise LwfcError(
            f"--dataset {data.name}: images have {data.features} pixels but the bundle "
            f"takes {bundle.in_features} inputs"
        )
    return data.name, data.x_test, data.y_test


def print_json(obj: dict[str, Any]) -> None:
    """Print one JSON object on stdout."""
    json.dump(obj, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")
