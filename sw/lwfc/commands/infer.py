"""``lwfc infer --board sim|pynq BUNDLE``: the accelerator end to end through its driver.

Loads the bundle's weights into the accelerator over AXI4-Lite (verified), classifies the
first ``--images`` test images through the AXI DMA and compares every prediction with the
golden model (with ``--logits`` every logit too). ``--board sim`` runs the same driver against
a cocotb simulation of the ``lwfc_axi`` RTL (Icarus; slow: about one MNIST image per second);
``--board pynq`` loads the overlay on a PYNQ-Z2 / Z1. Exit status 1 when any image mismatches.

``images_per_s`` is the host's wall-clock rate (DMA and driver included; in simulation the
simulator's speed); ``hw_images_per_s`` is the rate of the IP itself from its cycle counter at
``fclk_mhz``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import golden
from ..bundle import load_bundle
from ..data import load_dataset
from ..errors import LwfcError
from ._common import add_data_args, positive_int, print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("infer", help="run the accelerator through its PYNQ driver (board or "
                                     "simulation) and compare with the golden model")
    p.add_argument("bundle", type=Path, help="bundle folder")
    p.add_argument("--board", choices=["sim", "pynq"], default="sim",
                   help="sim: the RTL in a cocotb simulation; pynq: a PYNQ-Z2/Z1 (default sim)")
    add_data_args(p)
    p.add_argument("--images", type=positive_int, default=20, metavar="N",
                   help="test images (20)")
    p.add_argument("--offset", type=int, default=0, metavar="K", help="first test image (0)")
    p.add_argument("--batch-size", type=positive_int, metavar="N",
                   help="images per DMA transfer (default: the driver's)")
    p.add_argument("--logits", action="store_true", help="also compare every logit")
    p.add_argument("--verify", choices=["scan", "readback", "none"], default="scan",
                   help="weight verification after loading (scan)")
    p.add_argument("--timeout", type=float, metavar="S",
                   help="seconds per DMA wait (default 10 on a board, 600 in simulation)")
    g = p.add_argument_group("--board sim")
    g.add_argument("--lanes", type=positive_int, default=8, help="MAC units per engine (8)")
    g.add_argument("--simulator", choices=["icarus", "verilator"], default="icarus")
    g.add_argument("--stall", type=float, default=0.0, metavar="P",
                   help="random DMA stream pauses, probability per cycle (0)")
    g = p.add_argument_group("--board pynq")
    g.add_argument("--overlay", type=Path, metavar="DIR",
                   help="overlay folder with lwfc.bit + lwfc.hwh "
                        "(default deploy/overlays/lwfc-pynq-z2)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _open(args: argparse.Namespace, bundle: Any) -> Any:
    try:
        if args.board == "sim":
            from ..driver.sim import open_sim

            if not 0.0 <= args.stall < 1.0:
                raise LwfcError(f"--stall must be in [0, 1), got {args.stall}")
            return open_sim(bundle, lanes=args.lanes, simulator=args.simulator,
                            stall=args.stall, timeout=args.timeout or 600.0)
        from ..driver.board import DEFAULT_OVERLAY, open_board

        return open_board(args.overlay or DEFAULT_OVERLAY, timeout=args.timeout or 10.0)
    except ImportError as exc:
        raise LwfcError(f"the driver needs pynq (pip install 'lwfc[board]'): {exc}") from None
    except ValueError as exc:  # e.g. a bundle the RTL cannot be elaborated for
        raise LwfcError(f"cannot build the accelerator for {args.bundle}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    bundle = load_bundle(args.bundle)
    if args.timeout is not None and args.timeout <= 0:
        raise LwfcError(f"--timeout must be > 0, got {args.timeout}")
    dataset = args.dataset or bundle.dataset
    images, labels = load_dataset(dataset, "test", args.data, progress=not args.json)
    if not 0 <= args.offset < len(images):
        raise LwfcError(f"--offset {args.offset} is outside the {len(images)} test images")
    images = golden.as_pixels(images[args.offset : args.offset + args.images],
                              bundle.in_features)
    labels = np.asarray(labels[args.offset : args.offset + args.images], dtype=np.int64)
    ref = golden.forward(bundle, images)
    ref_cls = np.argmax(ref, axis=1)
    acc = _open(args, bundle)
    try:
        if args.batch_size:
            acc.batch_size = args.batch_size
        load = acc.load_bundle(bundle, verify=args.verify)
        t0 = time.perf_counter()
        if args.logits:
            classes, logits = acc.classify(images, logits=True)
        else:
            classes, logits = acc.classify(images), None
        seconds = time.perf_counter() - t0
        cycles, fclk, lanes, batch = acc.last_cycles, acc.fclk_mhz, acc.info.lanes, acc.batch_size
    finally:
        acc.close()
    bad = classes != ref_cls
    if logits is not None:
        bad |= (logits != ref).any(axis=1)
    n = len(images)
    out = {
        "bundle": str(bundle.path),
        "board": args.board,
        "images": n,
        "lanes": lanes,
        "batch_size": batch,
        "accuracy": float(np.mean(classes == labels)),
        "golden_accuracy": float(np.mean(ref_cls == labels)),
        "mismatches": int(bad.sum()),
        "mismatched_images": [int(i) + args.offset for i in np.flatnonzero(bad)[:20]],
        "logits_compared": bool(args.logits),
        "images_per_s": round(n / seconds, 3),
        "hw_cycles": int(cycles),
        "hw_cycles_per_image": round(cycles / n, 1),
        "fclk_mhz": fclk,
        "hw_images_per_s": round(n / (cycles / (fclk * 1e6)), 1) if cycles else None,
        "load_seconds": round(load["seconds"], 2),
        "verify": load["verify"],
        "classify_seconds": round(seconds, 2),
    }
    if args.json:
        print_json(out)
    else:
        what = f"class and all {bundle.classes} logits" if args.logits else "class"
        print(f"board            {args.board}, lanes {lanes}, {n} images, batch {batch}")
        print(f"accuracy         {out['accuracy']:.4f} (golden {out['golden_accuracy']:.4f})")
        print(f"mismatches       {out['mismatches']} ({what} vs the golden model)")
        print(f"images/s         {out['images_per_s']} host wall clock"
              + (" (simulation)" if args.board == "sim" else ""))
        print(f"hardware         {out['hw_cycles_per_image']} cycles/image = "
              f"{out['hw_images_per_s']} images/s at {fclk:g} MHz")
        print(f"weights          {load['words']} words loaded and verified ({load['verify']}) "
              f"in {out['load_seconds']} s")
    return 1 if out["mismatches"] else 0
