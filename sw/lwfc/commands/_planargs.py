"""The elaboration options shared by ``lwfc hdl`` and ``lwfc sim``: ``--lanes``,
``--dataflow``, ``--drain``, ``--pixels-per-beat``, ``--target-fps``, ``--board`` (parsing
only; the plan is :func:`lwfc_hw.plan.plan_for_bundle`, :func:`lwfc_hw.fold.fold` or
:func:`lwfc.fpga.target_plan`)."""

from __future__ import annotations

import argparse
from typing import Any

from lwfc_hw.plan import DEFAULT_PIXELS_PER_BEAT

from ..errors import LwfcError
from ._common import positive_int

DATAFLOWS = ("dot", "broadcast")


def _per_layer(cast: Any, what: str):
    """argparse type: one value, or a comma-separated list of one value per layer."""

    def parse(text: str) -> Any:
        parts = [p.strip() for p in text.split(",")]
        if any(not p for p in parts):
            raise argparse.ArgumentTypeError(f"empty entry in {what} {text!r}")
        vals = [cast(p) for p in parts]
        return vals[0] if len(vals) == 1 else vals

    return parse


def _flow(text: str) -> str:
    if text not in DATAFLOWS:
        raise argparse.ArgumentTypeError(f"unknown dataflow {text!r} (use dot or broadcast)")
    return text


def add_plan_args(p: argparse.ArgumentParser) -> None:
    """Add the elaboration options to a sub-command's parser."""
    p.add_argument("--lanes", type=_per_layer(positive_int, "--lanes"), default=None,
                   metavar="N[,N...]",
                   help="MAC units per engine, one value or one per layer (8); a broadcast "
                        "layer's output lanes P")
    p.add_argument("--dataflow", type=_per_layer(_flow, "--dataflow"), default="dot",
                   metavar="FLOW[,FLOW...]",
                   help="dot (every input read, default) or broadcast (zero inputs skipped), "
                        "one value or one per layer")
    p.add_argument("--drain", type=_per_layer(positive_int, "--drain"), default=1,
                   metavar="R[,R...]",
                   help="outputs requantized per cycle (broadcast layers feeding a broadcast "
                        "layer), one value or one per layer (1)")
    p.add_argument("--pixels-per-beat", type=positive_int, default=DEFAULT_PIXELS_PER_BEAT,
                   metavar="B",
                   help="pixels per input beat; the input port is 8*B bits wide (4)")
    p.add_argument("--target-fps", type=_positive_float, metavar="N",
                   help="choose every layer's dataflow, lanes and drain for a mean of N "
                        "images/s over the dataset's test images (instead of --lanes, "
                        "--dataflow, --drain)")
    p.add_argument("--clock-mhz", type=_positive_float, default=100.0, metavar="F",
                   help="clock for --target-fps (100)")
    p.add_argument("--board", metavar="NAME",
                   help="the core of this board's build target (deploy/boards/NAME.json, "
                        "fusesoc.core: its lanes, dataflow, drain and ECP5 primitives), "
                        "instead of the options above")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def plan_from_args(bundle: Any, args: argparse.Namespace) -> Any:
    """The :class:`lwfc_hw.plan.CorePlan` the options describe (LwfcError when they do not
    fit the bundle). With ``--target-fps`` the plan comes from :func:`lwfc_hw.fold.fold` on
    the activity of the bundle's dataset's test images."""
    from lwfc_hw.plan import plan_for_bundle

    if getattr(args, "board", None) is not None:
        if (args.target_fps is not None or args.lanes is not None or args.dataflow != "dot"
                or args.drain != 1 or args.pixels_per_beat != DEFAULT_PIXELS_PER_BEAT):
            raise LwfcError(f"--board {args.board} takes the target's plan: leave out "
                            "--lanes, --dataflow, --drain, --pixels-per-beat and --target-fps")
        from .. import fpga

        return fpga.target_plan(fpga.get_board(args.board), bundle)
    if args.target_fps is not None:
        if args.lanes is not None or args.dataflow != "dot" or args.drain != 1:
            raise LwfcError("--target-fps chooses lanes, dataflow and drain: leave those out")
        from lwfc_hw.cycles import activity
        from lwfc_hw.fold import fold
        from lwfc_hw.plan import shapes_from_bundle

        from .. import golden
        from ..data import load_dataset

        images, _ = load_dataset(getattr(args, "dataset", None) or bundle.dataset, "test",
                                 getattr(args, "data", None), progress=False)
        act = activity(bundle, golden.as_pixels(images, bundle.in_features))
        try:
            res = fold(shapes_from_bundle(bundle), act, args.target_fps, args.clock_mhz,
                       args.pixels_per_beat)
        except ValueError as exc:
            raise LwfcError(f"--target-fps {args.target_fps:g}: {exc}") from exc
        return res.plan
    try:
        return plan_for_bundle(bundle, 8 if args.lanes is None else args.lanes,
                               args.pixels_per_beat, dataflow=args.dataflow, drain=args.drain)
    except ValueError as exc:
        raise LwfcError(f"cannot elaborate {args.bundle}: {exc}") from exc
