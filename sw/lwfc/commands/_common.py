"""Argument helpers shared by the subcommands.

Commands check their arguments and output paths first, before heavy imports (torch, MyHDL)
and before any work, so that a bad ``--out`` fails in a second instead of after training:
:func:`check_output` for every path a command writes, :func:`check_input` for paths it reads.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from ..errors import LwfcError


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
    import numpy as np

    from ..data import load_test_data
    from ..errors import LwfcError

    name, x, y = load_test_data(args.dataset or bundle.dataset, args.data, progress=not args.json)
    features = int(np.prod(x.shape[1:]))
    if features != bundle.in_features:
        raise LwfcError(
            f"--dataset {name}: images have {features} pixels but the bundle "
            f"takes {bundle.in_features} inputs"
        )
    if int(y.max()) >= bundle.classes:
        raise LwfcError(
            f"--dataset {name}: y_test has label {int(y.max())} but the bundle has "
            f"{bundle.classes} classes"
        )
    return name, x, y


def print_json(obj: dict[str, Any]) -> None:
    """Print one JSON object on stdout."""
    json.dump(obj, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def _writable_folder(path: Path, arg: str, shown: Path) -> None:
    """The nearest existing folder at or above ``path`` must be a folder this process can
    create entries in."""
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise LwfcError(f"{arg} {shown}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise LwfcError(f"{arg} {shown}: cannot write in {probe} (permission denied)")


def check_output(
    path: Path | None,
    arg: str = "--out",
    *,
    kind: str = "dir",
    replaces: str | tuple[str, ...] = (),
    reuse: bool = False,
) -> None:
    """Check that the output ``path`` of argument ``arg`` can be written, before any work.

    Args:
        path: the path given (``None``: the argument was not given; nothing to check).
        arg: the argument's name, for the message (``--out``).
        kind: ``"dir"`` (a folder the command creates or fills) or ``"file"``.
        replaces: for a folder, the name(s) that mark an earlier output of the same kind (a
            bundle's ``manifest.json``): an existing non-empty folder is refused unless it
            holds one of them (it is then replaced, or resumed).
        reuse: for a folder, any existing folder is fine (a build root, a run folder).

    Raises:
        LwfcError: one line naming ``arg`` and the path: an existing file where a folder is
            wanted or the reverse, a file among the parents, a parent that cannot be written,
            or a non-empty folder that would be overwritten.
    """
    if path is None:
        return
    path = Path(path).expanduser()
    shown = path
    path = path.absolute()
    if kind == "file":
        if path.is_dir():
            raise LwfcError(f"{arg} {shown}: is a folder, expected a file name")
        _writable_folder(path.parent, arg, shown)
        return
    if path.exists() and not path.is_dir():
        raise LwfcError(f"{arg} {shown}: exists and is a file, not a folder")
    _writable_folder(path, arg, shown)
    if path.is_dir():
        _writable_folder(path.parent, arg, shown)  # bundles are renamed into place from there
        marks = (replaces,) if isinstance(replaces, str) else replaces
        if not reuse and any(path.iterdir()) and not any((path / m).exists() for m in marks):
            what = f"is not empty and holds no {' / '.join(marks)}" if marks else "is not empty"
            raise LwfcError(f"{arg} {shown}: folder {what}; refusing to overwrite it "
                            "(give a new or empty folder)")


def check_input(path: Path | None, arg: str, *, kind: str = "any") -> None:
    """Check that the input ``path`` of argument ``arg`` exists (``kind``: ``"file"``,
    ``"dir"`` or ``"any"``); ``None`` passes. Raises :class:`LwfcError` naming both."""
    if path is None:
        return
    path = Path(path).expanduser()
    if not path.exists():
        raise LwfcError(f"{arg} {path}: no such file or folder")
    if kind == "file" and not path.is_file():
        raise LwfcError(f"{arg} {path}: is a folder, expected a file")
    if kind == "dir" and not path.is_dir():
        raise LwfcError(f"{arg} {path}: is a file, expected a folder")


def check_data_dir(path: Path | None) -> None:
    """``--data DIR``, when given, must not be a file (the loader creates a missing folder
    when it downloads)."""
    folder = None if path is None else Path(path).expanduser()
    if folder is not None and folder.exists() and not folder.is_dir():
        raise LwfcError(f"--data {path}: is a file, expected the dataset folder")
