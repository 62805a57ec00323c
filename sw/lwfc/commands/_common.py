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
        "--dataset", choices=["mnist", "fashion-mnist"], help="dataset (default: the bundle's)"
    )


def print_json(obj: dict[str, Any]) -> None:
    """Print one JSON object on stdout."""
    json.dump(obj, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")
