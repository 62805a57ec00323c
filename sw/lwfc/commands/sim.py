"""``lwfc sim BUNDLE``: stream test images through the RTL and compare with the golden model.

Converts the core for the bundle's shapes and ``--lanes`` (cached), compiles the Verilog
testbench ``hw/tb/tb_lwfc.v`` with Icarus or Verilator (cached), streams the first
``--images`` test images back to back and checks the predicted class and every logit against
:func:`lwfc.golden.forward`. Exit status 1 when any image mismatches.

Cycles: ``cycles_per_image`` is the measured steady-state streaming interval (cycles between
consecutive results); ``latency_cycles`` the first image's latency (first input beat accepted
to class beat, pipeline empty). Both are also predicted by the cycle model
(``lwfc_hw.cycles``), and ``cycle_model_exact`` tells whether every measured input/output
cycle equals the prediction.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .. import golden
from ..bundle import load_bundle
from ..errors import LwfcError
from ._common import (
    add_data_args,
    check_data_dir,
    check_output,
    load_test_split,
    positive_int,
    print_json,
)
from ._planargs import add_plan_args, plan_from_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sim", help="RTL simulation of the accelerator against the golden model")
    p.add_argument("bundle", type=Path, help="bundle folder")
    add_data_args(p)
    p.add_argument("--images", type=positive_int, default=100, metavar="N", help="test images")
    p.add_argument("--offset", type=int, default=0, metavar="K", help="first test image (0)")
    add_plan_args(p)
    p.add_argument("--simulator", choices=["icarus", "verilator"], default="icarus")
    p.add_argument(
        "--vcd", type=Path, metavar="FILE", help="write a waveform (VCD, or FST for *.fst)"
    )
    p.add_argument("--keep", type=Path, metavar="DIR", help="keep the run folder here")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def compare(
    bundle: Any, images: np.ndarray, labels: np.ndarray, res: Any, plan: Any
) -> dict[str, Any]:
    """Summary of one simulation: accuracy, mismatches against the golden model, cycles."""
    from lwfc_hw.cycles import activity, image_report, report, schedule, stream_report

    ref = golden.forward(bundle, images)
    ref_cls = np.argmax(ref, axis=1)
    bad = (res.classes != ref_cls) | (res.logits != ref).any(axis=1)
    n = len(images)
    act = activity(bundle, images)
    sched = schedule(plan, n, act)
    t_in = res.t_in - res.t_in[0]
    t_out = res.t_out - res.t_in[0]
    exact = tuple(int(v) for v in t_in) == sched.t_in and tuple(
        int(v) for v in t_out
    ) == sched.t_out
    rep = report(plan)
    measured_interval = int(res.t_out[-1] - res.t_out[-2]) if n >= 2 else None
    data_dependent = any(e.broadcast for e in plan.engines)
    extra: dict[str, Any] = {}
    if n >= 2:
        srep = stream_report(plan, act)
        extra = {
            "mean_interval_cycles": round(float(res.t_out[-1] - res.t_out[0]) / (n - 1), 2),
            "model_mean_interval_cycles": round(srep.mean_interval, 2),
            "input_bound_cycles": plan.beats_per_image,
            "worst_image": srep.worst_image,
            "worst_image_interval_cycles": srep.worst_interval,
            "worst_image_latency_cycles": srep.worst_latency,
        }
        full = activity(bundle, np.full((1, bundle.in_features), 255, dtype=np.uint8))[0]
        extra["all255_interval_cycles"], extra["all255_latency_cycles"] = image_report(plan,
                                                                                       full)
    return {
        "bundle": str(bundle.path),
        "images": n,
        "lanes": plan.lanes,
        "per_layer": [{"name": e.shape.name, "dataflow": e.dataflow, "P": e.P, "Q": e.Q,
                       "R": e.R} for e in plan.engines],
        "data_dependent_cycles": data_dependent,
        **extra,
        "accuracy": float(np.mean(res.classes == labels)),
        "golden_accuracy": float(np.mean(ref_cls == labels)),
        "mismatches": int(bad.sum()),
        "mismatched_images": [int(i) for i in np.flatnonzero(bad)[:20]],
        "cycles_per_image": measured_interval if measured_interval is not None else rep.interval,
        "cycles_per_image_source": "measured" if measured_interval is not None else "model",
        "latency_cycles": int(res.t_out[0] - res.t_in[0]),
        "mac_bound_cycles": round(plan.mac_bound(), 2),
        "model_interval_cycles": rep.interval,
        "model_latency_cycles": rep.latency,
        "cycle_model_exact": bool(exact),
        "total_cycles": int(res.cycles),
        "sim_seconds": round(res.seconds, 2),
    }


def run(args: argparse.Namespace) -> int:
    bundle = load_bundle(args.bundle)  # arguments first, MyHDL later
    if args.offset < 0:
        raise LwfcError(f"--offset {args.offset}: expected a number >= 0")
    check_output(args.vcd, "--vcd", kind="file")
    check_output(args.keep, "--keep", reuse=True)
    check_data_dir(args.data)
    try:
        from lwfc_hw import sim
        from lwfc_hw.cycles import report
    except ImportError as exc:  # pragma: no cover - the package ships with lwfc
        raise LwfcError(f"the hardware package lwfc_hw is not importable: {exc}") from exc
    _, images, labels = load_test_split(args, bundle)
    if not 0 <= args.offset < len(images):
        raise LwfcError(f"--offset {args.offset} is outside the {len(images)} test images")
    images = golden.as_pixels(images[args.offset : args.offset + args.images], bundle.in_features)
    labels = labels[args.offset : args.offset + args.images]
    plan = plan_from_args(bundle, args)
    rate = 50_000 if args.simulator == "verilator" else 1_000  # cycles/s, on a loaded machine
    timeout = 600.0 + len(images) * report(plan).interval / rate
    bar = None
    if not args.json:
        from tqdm import tqdm

        print(f"lwfc sim: {args.simulator}, converting and building the core (cached after the "
              "first run)...", file=sys.stderr, flush=True)
        bar = tqdm(total=len(images), unit="img", desc="simulating", file=sys.stderr,
                   delay=2.0)

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.update(done - bar.n)

    try:
        if args.keep:
            res = sim.simulate(bundle, plan, images, args.simulator, run_dir=args.keep,
                               vcd=args.vcd, timeout=timeout, progress=progress)
        else:
            with tempfile.TemporaryDirectory(prefix="lwfc-sim-") as tmp:
                res = sim.simulate(bundle, plan, images, args.simulator, run_dir=Path(tmp),
                                   vcd=args.vcd.resolve() if args.vcd else None, timeout=timeout,
                                   progress=progress)
    except sim.SimError as exc:
        raise LwfcError(f"simulation failed: {exc}") from exc
    finally:
        if bar is not None:
            bar.close()
    out = compare(bundle, images, labels, res, plan)
    out["simulator"] = args.simulator
    if args.json:
        print_json(out)
    else:
        print(f"simulator        {args.simulator}, lanes {plan.lanes}, {out['images']} images")
        print(f"accuracy         {out['accuracy']:.4f} (golden {out['golden_accuracy']:.4f})")
        print(f"mismatches       {out['mismatches']} (class and all {bundle.classes} logits)")
        print(
            f"cycles/image     {out['cycles_per_image']} streaming, {out['latency_cycles']} "
            f"latency, MAC bound {out['mac_bound_cycles']}"
        )
        if "mean_interval_cycles" in out:
            print(
                f"mean interval    {out['mean_interval_cycles']} measured, "
                f"{out['model_mean_interval_cycles']} model (input bound "
                f"{out['input_bound_cycles']}); worst image {out['worst_image']}: "
                f"{out['worst_image_interval_cycles']} / {out['worst_image_latency_cycles']}; "
                f"all-255 image: {out['all255_interval_cycles']} / "
                f"{out['all255_latency_cycles']} (interval / latency, model)"
            )
        print(
            f"cycle model      {out['model_interval_cycles']} / {out['model_latency_cycles']}"
            f"{' (all inputs nonzero)' if out['data_dependent_cycles'] else ''}, "
            f"{'exact on every image' if out['cycle_model_exact'] else 'DIFFERS from the RTL'}"
        )
        print(f"simulation       {out['total_cycles']} cycles in {out['sim_seconds']} s")
    return 1 if out["mismatches"] else 0
