"""``lwfc infer --board BOARD BUNDLE``: the accelerator end to end through its driver.

Loads the bundle's parameters into the accelerator (verified), classifies the first
``--images`` test images (or the images of ``--input FILE.npy``) and compares every
prediction with the golden model (with ``--logits`` every logit too). Exit status 1 when any
image mismatches.

* ``--board sim`` / ``--board pynq``: the AXI driver (PYNQ, DMA) against a cocotb simulation
  of ``lwfc_axi`` (Icarus; about one MNIST image per second) or an overlay on a PYNQ-Z2 / Z1.
  ``images_per_s`` is the host's wall-clock rate; ``hw_images_per_s`` the IP's own rate from
  its cycle counter at ``fclk_mhz``.
* ``--board icebreaker|ulx3s|orangecrab --port DEVICE``: the serial driver on the board's
  UART; ``--port sim`` runs the board top's RTL (bridge + core, the board target's plan and
  built-in parameters) in Verilator at the board's clock and baud, and ``images_per_s`` comes
  from simulated time. ``--faults`` injects faults into the simulated wire.

The logic is :mod:`lwfc.driver.session`; this module parses and prints.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import golden
from ..bundle import load_bundle
from ..errors import LwfcError
from ._common import add_data_args, load_test_split, positive_int, print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("infer", help="run the accelerator through its driver (a board, its "
                                     "RTL in simulation) and compare with the golden model")
    p.add_argument("bundle", type=Path, help="bundle folder")
    p.add_argument("--board", default="sim",
                   help="sim (AXI RTL, cocotb), pynq (PYNQ-Z2/Z1), or a serial board: "
                        "icebreaker, ulx3s, orangecrab (with --port); default sim")
    p.add_argument("--port", metavar="DEVICE",
                   help="serial boards: the UART device (/dev/ttyUSB1) or sim (the board "
                        "top's RTL in Verilator)")
    add_data_args(p)
    p.add_argument("--images", type=positive_int, default=20, metavar="N",
                   help="test images (20)")
    p.add_argument("--offset", type=int, default=0, metavar="K", help="first test image (0)")
    p.add_argument("--input", type=Path, metavar="FILE.npy",
                   help="classify these uint8 images (N, 784) or (N, 28, 28) instead of the "
                        "test set (no labels: accuracy is null)")
    p.add_argument("--logits", action="store_true", help="also compare every logit")
    p.add_argument("--verify", choices=["scan", "readback", "none"], default="scan",
                   help="parameter verification after loading (scan; readback: AXI only)")
    p.add_argument("--force-load", action="store_true",
                   help="serial boards: load even when the device already holds the bundle")
    p.add_argument("--timeout", type=float, metavar="S",
                   help="seconds per wait (AXI: 10 on a board, 600 in simulation; serial: "
                        "from the link's timing, simulated seconds with --port sim)")
    g = p.add_argument_group("serial boards")
    g.add_argument("--coding", choices=["auto", "sparse", "raw"], default="auto",
                   help="image coding on the wire: per image the shorter (auto), sparse, raw")
    g.add_argument("--faults", metavar="SPEC",
                   help="--port sim: fault injection on the wire, e.g. "
                        "flip=1e-4,drop=1e-5,garbage=1e-5,truncate=0.01,reset=0.005,"
                        "rx_flip=1e-4,rx_drop=1e-5,seed=1 (rates per byte / per frame)")
    g = p.add_argument_group("--board sim")
    g.add_argument("--batch-size", type=positive_int, metavar="N",
                   help="images per DMA transfer (default: the driver's)")
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


def _images(args: argparse.Namespace, bundle: Any) -> tuple[np.ndarray, Any]:
    from ..driver.base import check_images

    if args.input is not None:
        try:
            arr = np.load(args.input, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise LwfcError(f"--input {args.input}: not a readable .npy file ({exc})") from None
        try:
            return check_images(arr, bundle.in_features), None
        except LwfcError as exc:
            raise LwfcError(f"--input {args.input}: {exc}") from None
    _, images, labels = load_test_split(args, bundle)
    if not 0 <= args.offset < len(images):
        raise LwfcError(f"--offset {args.offset} is outside the {len(images)} test images")
    x = golden.as_pixels(images[args.offset : args.offset + args.images], bundle.in_features)
    return x, np.asarray(labels[args.offset : args.offset + args.images], dtype=np.int64)


class _Progress:
    """``infer: 120/500 images`` on stderr (none with --json): on a terminal updated in place
    every 2 %, else one line every 10 %."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.shown = -1

    def __call__(self, done: int, n: int) -> None:
        if not self.enabled or n < 50:
            return
        step = max(1, n // (50 if self.tty else 10))
        if done // step != self.shown or done == n:
            self.shown = done // step
            if self.tty:
                end = "\n" if done == n else ""
                print(f"\rinfer: {done}/{n} images", end=end, file=sys.stderr, flush=True)
            else:
                print(f"infer: {done}/{n} images", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from ..driver.faults import FaultConfig
    from ..driver.session import open_accelerator, run_inference

    bundle = load_bundle(args.bundle)
    if args.timeout is not None and args.timeout <= 0:
        raise LwfcError(f"--timeout must be > 0, got {args.timeout}")
    serial = args.port is not None
    faults = FaultConfig.parse(args.faults) if args.faults else None
    if faults is not None and args.port != "sim":
        raise LwfcError("--faults is an option of the simulated wire: use it with --port sim")
    if serial and args.verify == "readback":
        raise LwfcError("--verify readback is AXI only: the serial link checks memories with "
                        "VERIFY checksums (--verify scan)")
    if serial and args.batch_size:
        raise LwfcError("--batch-size is for the AXI DMA (--board sim / pynq)")
    images, labels = _images(args, bundle)
    t0 = time.perf_counter()
    acc = open_accelerator(args.board, bundle, port=args.port, timeout=args.timeout,
                           faults=faults, lanes=args.lanes, simulator=args.simulator,
                           stall=args.stall, overlay=args.overlay)
    try:
        if args.batch_size:
            acc.batch_size = args.batch_size
        sparse = {"auto": None, "sparse": True, "raw": False}[args.coding] if serial else None
        out = run_inference(acc, bundle, images, labels, logits=args.logits,
                            verify=args.verify, force_load=args.force_load, sparse=sparse,
                            progress=_Progress(not args.json))
        if serial:
            out["link"] = acc.link_stats()
            info = acc.info
            out.update(clk_hz=info.clk_hz, baud=info.baud, in_flight=info.in_flight,
                       max_burst=info.max_burst, lanes=info.lanes)
    finally:
        acc.close()
    load = out.pop("load")
    out = {"bundle": str(bundle.path), "board": args.board,
           **({"port": args.port} if serial else {}), **out,
           "load_seconds": round(load["seconds"], 4), "verify": load["verify"],
           **({k: load[k] for k in ("skipped", "bytes_sent", "bytes_received",
                                    "payload_bytes") if k in load}),
           "wall_seconds": round(time.perf_counter() - t0, 2)}
    if labels is not None and args.input is None:
        out["mismatched_images"] = [i + args.offset for i in out["mismatched_images"]]
    if args.json:
        print_json(_rounded(out))
    else:
        _print(out, args, bundle)
    return 1 if out["mismatches"] else 0


def _rounded(obj: Any) -> Any:
    if isinstance(obj, float):
        return round(obj, 4)
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    return obj


def _print(out: dict[str, Any], args: argparse.Namespace, bundle: Any) -> None:
    n = out["images"]
    what = f"class and all {bundle.classes} logits" if args.logits else "class"
    acc = out["accuracy"]
    if args.port is not None:
        sim = " (simulated time)" if out.get("simulated") else ""
        print(f"board            {args.board} on {args.port}, lanes {out['lanes']}, {n} images, "
              f"{out['clk_hz'] / 1e6:g} MHz, {out['baud']} baud, {out['in_flight']} in flight")
    else:
        print(f"board            {args.board}, lanes {out['lanes']}, {n} images, batch "
              f"{out['batch_size']}")
    if acc is not None:
        print(f"accuracy         {acc:.4f} (golden {out['golden_accuracy']:.4f})")
    print(f"mismatches       {out['mismatches']} ({what} vs the golden model)")
    if args.port is not None:
        print(f"images/s         {out['images_per_s']:.1f}{sim}: {100 * out['efficiency']:.1f} % "
              f"of min(wire {out['wire_limit_images_per_s']:.0f}, core "
              f"{out['core_limit_images_per_s']:.0f})")
        print(f"wire             {out['wire_bytes_per_image']:.1f} bytes/image sent "
              f"({out['sparse_images']} of {n} sparse), {out['reply_bytes_per_image']:.1f} "
              "back")
        link = out["link"]
        print(f"link             {link['retries']} retries, {link['resyncs']} resyncs, "
              f"{link['crc_errors']} CRC errors"
              + (f", faults injected {link['faults_injected']}" if "faults_injected" in link
                 and any(link["faults_injected"].values()) else ""))
        state = "already loaded (hash matched)" if out.get("skipped") else (
            f"{out['bytes_sent']} bytes sent for {out['payload_bytes']} payload")
        print(f"parameters       {state}, verify {out['verify']}, {out['load_seconds']:.3f} s"
              f"{sim}")
    else:
        print(f"images/s         {out['images_per_s']:.3f} host wall clock"
              + (" (simulation)" if args.board == "sim" else ""))
        print(f"hardware         {out['hw_cycles_per_image']} cycles/image = "
              f"{out['hw_images_per_s']} images/s at {out['fclk_mhz']:g} MHz")
        print(f"weights          loaded and verified ({out['verify']}) in "
              f"{out['load_seconds']:.2f} s")
