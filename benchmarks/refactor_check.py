"""Fingerprint of what the hardware package produces, to check that a refactor of
``hw/lwfc_hw`` changes nothing: the converted Verilog (and the hex images, memory map and
defines header) of several cores, the cycle model's figures and the resource estimates.

Usage (run once on the reference commit, once on the changed tree; ``PYTHONHASHSEED=0`` so
that MyHDL's conversion order is fixed)::

    export LWFC_DATA=../shared/datasets/mnist PYTHONHASHSEED=0
    .venv/bin/python benchmarks/refactor_check.py --out before.json     # on the reference
    .venv/bin/python benchmarks/refactor_check.py --compare before.json # on the change

The reference can be another checkout of the same repository: ``git archive REF sw hw
deploy/models | tar -x -C DIR``, copy this script to ``DIR/benchmarks/`` and run it there.

``--compare`` exits 1 and lists every differing entry. The Verilog is compared by SHA-256 of
each generated file (but MyHDL's date and path lines); cycle figures and estimates by value.
Work files go to ``build/refactor_check/`` in the repository.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "sw"), str(REPO / "hw")]

#: name -> (bundle folder, plan_for_bundle keyword arguments).
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "dense-dot8": ("mnist-dense", {"lanes": 8}),
    # fusesoc.core, generator rtl_icebreaker
    "icebreaker": ("mnist-dense", {"lanes": 1, "spram_min_depth": 4096, "shared_port": True,
                                   "rq_stages": 6}),
    "lowrank-dot8": ("mnist-lowrank", {"lanes": 8}),
    "lowrank-dot1-rq6": ("mnist-lowrank", {"lanes": 1, "rq_stages": 6}),
    "dense-bcast-50.50.10": ("mnist-dense", {"lanes": [50, 50, 10], "dataflow": "broadcast",
                                             "drain": [5, 1, 1]}),
    "lowrank-bcast-50.50.10": ("mnist-lowrank", {"lanes": [50, 50, 10],
                                                 "dataflow": "broadcast", "drain": [1, 5, 1]}),
    "dense-mixed": ("mnist-dense", {"lanes": [25, 8, 5],
                                    "dataflow": ["broadcast", "dot", "broadcast"]}),
    "lowrank-mixed": ("mnist-lowrank", {"lanes": [8, 25, 4],
                                        "dataflow": ["dot", "broadcast", "dot"]}),
}
FAMILIES = ("ice40", "ecp5", "xilinx")
N_IMAGES = 200


def _sha(path: Path) -> str:
    """SHA-256 of a generated file, without MyHDL's ``// Date:`` and ``// File:`` (the output
    path) header lines, so that two checkouts compare."""
    data = b"".join(line for line in path.read_bytes().splitlines(keepends=True)
                    if not line.startswith((b"// Date:", b"// File:")))
    return hashlib.sha256(data).hexdigest()


def fingerprint(verilog: bool = True) -> dict[str, Any]:
    """Every figure of every case (see the module docstring)."""
    from lwfc import fpga
    from lwfc.bundle import load_bundle
    from lwfc.compress.hwcost import hardware_cost
    from lwfc.data import load_test_data
    from lwfc_hw import cycles
    from lwfc_hw.convert import generate
    from lwfc_hw.fold import fold
    from lwfc_hw.plan import plan_for_bundle, shapes_from_bundle

    _, x_test, _ = load_test_data("mnist")
    images = np.asarray(x_test[:N_IMAGES])
    work = REPO / "build" / "refactor_check"
    out: dict[str, Any] = {}
    bundles = {n: load_bundle(REPO / "deploy" / "models" / n)
               for n in ("mnist-dense", "mnist-lowrank")}
    acts = {n: cycles.activity(b, images) for n, b in bundles.items()}
    for name, (bname, kw) in CASES.items():
        bundle, act = bundles[bname], acts[bname]
        kw = dict(kw)
        lanes = kw.pop("lanes")
        plan = plan_for_bundle(bundle, lanes, **kw)
        rec: dict[str, Any] = {
            "memory_map": plan.memory_map(),
            "multipliers_per_engine": [e.multipliers for e in plan.engines],
            "q_read": [e.q_read for e in plan.engines],
            "macs": plan.macs,
            "report": cycles.report(plan).as_dict(),
            "service_full": [cycles.service_cycles(e) for e in plan.engines],
            "service_nnz": [[cycles.service_cycles(e, k) for k in range(0, e.shape.n_in + 1,
                                                                        7)]
                            for e in plan.engines if e.broadcast],
            "stream_report": cycles.stream_report(plan, act).as_dict(),
            "schedule_sha": hashlib.sha256(repr(cycles.schedule(plan, len(act), act))
                                           .encode()).hexdigest(),
            "estimates": {
                "multipliers": fpga.multipliers(plan),
                "dsps": fpga.estimate_dsps(plan),
                "sprams": fpga.estimate_sprams(plan),
                "brams": {f: fpga.estimate_brams(plan, f) for f in FAMILIES},
                "memory_shapes": fpga.memory_shapes(plan),
            },
        }
        if verilog:
            folder = work / name
            shutil.rmtree(folder, ignore_errors=True)
            generate(bundle, plan, folder)
            rec["files"] = {p.name: _sha(p) for p in sorted(folder.iterdir()) if p.is_file()}
        out[name] = rec
        print(f"{name}: done", file=sys.stderr, flush=True)
    for bname, bundle in bundles.items():
        for lanes in (1, 8):
            out[f"hardware_cost/{bname}/{lanes}"] = hardware_cost(bundle, lanes)
        res = fold(shapes_from_bundle(bundle), acts[bname], 150_000.0)
        out[f"fold/{bname}"] = {**res.as_dict(), "memory_map": res.plan.memory_map()}
    return out


def _diff(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{path}/{k}: only in {'after' if k not in a else 'before'}")
            else:
                out += _diff(a[k], b[k], f"{path}/{k}")
        return out
    return [] if a == b else [f"{path}: {a!r} != {b!r}"[:300]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="write the fingerprint (JSON) here")
    ap.add_argument("--compare", type=Path, help="compare with a saved fingerprint")
    ap.add_argument("--no-verilog", action="store_true", help="skip the Verilog conversion")
    args = ap.parse_args(argv)
    if os.environ.get("PYTHONHASHSEED") != "0":
        print("warning: PYTHONHASHSEED is not 0; Verilog may differ by ordering",
              file=sys.stderr)
    now = json.loads(json.dumps(fingerprint(not args.no_verilog)))
    if args.out:
        args.out.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
    if args.compare:
        ref = json.loads(args.compare.read_text())
        if args.no_verilog:
            for rec in ref.values():
                if isinstance(rec, dict):
                    rec.pop("files", None)
        bad = _diff(ref, now)
        for line in bad:
            print(line)
        print(f"{len(bad)} differences in {len(now)} entries")
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
