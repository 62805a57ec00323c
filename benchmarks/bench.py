#!/usr/bin/env python3
"""lwfc benchmarks: the project's speed goals, measured and reported as figures.

Each benchmark runs the user-facing command (CLI or FuseSoC) under a timeout, measures wall
time and the figures the command reports, and prints one row per run against the goal it is
checked against. Nothing here is a pass/fail test: the figures are the result.

    .venv/bin/python benchmarks/bench.py                     # golden, sim, fusesoc
    .venv/bin/python benchmarks/bench.py golden sim train    # a selection
    .venv/bin/python benchmarks/bench.py build --boards orangecrab,ulx3s,icebreaker
    .venv/bin/python benchmarks/bench.py --json out.json     # also write every figure

Benchmarks (goals from the project's issues):

* ``golden``: the int8 golden model on the 10,000 MNIST test images, images per second.
* ``sim``: ``lwfc sim BUNDLE --images 10000 --simulator verilator`` for the shipped bundles at
  ``--lanes`` (default 8): mismatches (goal 0), cycles per image against 1.05 x MAC bound + 50,
  wall time.
* ``fusesoc``: ``fusesoc run --target=sim_verilator lwfc`` (10,000 images): mismatches and wall
  time (goal <= 60 s).
* ``train``: ``lwfc train --recipe default`` including export: wall time (goal <= 5 min on 2
  cores) and int8 accuracy.
* ``build``: ``lwfc build --board B --json``: Fmax (goal >= 100 MHz on ECP5, >= 40 MHz on the
  UP5K), utilisation, wall time.
* ``serial``: ``lwfc infer --board B --port sim --images 500`` (sparse, then raw) on the board
  top's RTL: images/s from simulated time against min(wire, core) (goal >= 95 %), the sparse
  code's gain over raw (goal >= 3.5 x where the core keeps up), load bytes and time.

Run from the repository with the virtual environment's Python; MNIST from ``LWFC_DATA``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
BUNDLES = ("deploy/models/mnist-dense", "deploy/models/mnist-lowrank")

Row = dict[str, Any]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def _run(cmd: list[str], timeout: float) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run ``cmd`` in the repository; return the process and its wall time in seconds."""
    t = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise SystemExit(f"bench: {' '.join(cmd)} timed out after {timeout:.0f} s") from None
    return proc, time.perf_counter() - t


def _lwfc(args: list[str], timeout: float) -> tuple[dict[str, Any], float]:
    """``lwfc ARGS --json``: its JSON object and wall time (exit status 0 or 1 accepted)."""
    proc, wall = _run([str(BIN / "lwfc"), *args, "--json"], timeout)
    if proc.returncode not in (0, 1) or not proc.stdout.strip():
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"bench: lwfc {' '.join(args)} failed: {last}")
    return json.loads(proc.stdout), wall


def bench_golden(opts: argparse.Namespace) -> list[Row]:
    import numpy as np

    from lwfc import golden
    from lwfc.bundle import load_bundle
    from lwfc.data import load_dataset

    images, labels = load_dataset("mnist", "test", progress=False)
    rows = []
    for path in BUNDLES:
        bundle = load_bundle(REPO / path)
        times = []
        for _ in range(3):
            t = time.perf_counter()
            logits = golden.forward(bundle, images)
            times.append(time.perf_counter() - t)
        acc = float(np.mean(np.argmax(logits, axis=1) == labels))
        best = min(times)
        rows.append({
            "bench": "golden", "what": path, "figure": f"{len(images) / best:,.0f} images/s",
            "goal": "-", "detail": f"int8 accuracy {acc:.4f}, best of 3: {best:.3f} s",
            "images_per_s": len(images) / best, "accuracy": acc,
        })
    return rows


def bench_sim(opts: argparse.Namespace) -> list[Row]:
    rows = []
    for path in BUNDLES:
        for lanes in opts.lanes:
            res, wall = _lwfc(
                ["sim", path, "--images", str(opts.images), "--simulator", "verilator",
                 "--lanes", str(lanes)],
                opts.timeout,
            )
            bound = 1.05 * res["mac_bound_cycles"] + 50
            rows.append({
                "bench": "sim", "what": f"{path} lanes {lanes}",
                "figure": f"{res['mismatches']} mismatches / {res['images']}",
                "goal": f"0; cycles <= {bound:.0f}",
                "detail": (
                    f"{res['cycles_per_image']} cycles/image (latency {res['latency_cycles']}), "
                    f"model exact {res['cycle_model_exact']}, accuracy {res['accuracy']:.4f}, "
                    f"{wall:.0f} s"
                ),
                **res, "wall_s": wall,
            })
    return rows


def bench_fusesoc(opts: argparse.Namespace) -> list[Row]:
    with tempfile.TemporaryDirectory(dir=REPO / "build", prefix="bench-") as tmp:
        build_root = Path(tmp).relative_to(REPO)
        cmd = [str(BIN / "fusesoc"), "run", "--build-root", str(build_root),
               "--target=sim_verilator", "lwfc"]
        proc, wall = _run(cmd, opts.timeout)
    out = proc.stdout + proc.stderr
    found = re.findall(r"(\d+) mismatches", out)
    mism = found[-1] if found else "?"
    status = "passed" if proc.returncode == 0 else f"FAILED (exit {proc.returncode})"
    line = next((x for x in out.splitlines() if "cycles" in x and "image" in x), "")
    return [{
        "bench": "fusesoc", "what": "fusesoc run --target=sim_verilator lwfc",
        "figure": f"{wall:.1f} s", "goal": "<= 60 s, 0 mismatches",
        "detail": f"{status}, {mism} mismatches; {line.strip()}", "wall_s": wall,
        "returncode": proc.returncode,
    }]


def bench_train(opts: argparse.Namespace) -> list[Row]:
    with tempfile.TemporaryDirectory(dir=REPO / "build", prefix="bench-train-") as tmp:
        proc, wall = _run(
            [str(BIN / "lwfc"), "train", "--recipe", "default", "--seed", "0",
             "--out", str(Path(tmp) / "model")],
            opts.timeout,
        )
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise SystemExit(f"bench: lwfc train failed: {last}")
        info, _ = _lwfc(["eval", str(Path(tmp) / "model")], opts.timeout)
    acc = info["accuracy"]
    return [{
        "bench": "train", "what": "lwfc train --recipe default --seed 0",
        "figure": f"{wall:.0f} s", "goal": "<= 300 s on 2 cores",
        "detail": f"int8 accuracy {acc}", "wall_s": wall, "int8_accuracy": acc,
    }]


def bench_build(opts: argparse.Namespace) -> list[Row]:
    rows = []
    for board in opts.boards:
        res, wall = _lwfc(["build", "--board", board], opts.timeout)
        fmax, goal = res.get("fmax_mhz"), res.get("fmax_goal_mhz")
        use = ", ".join(f"{k} {v}" for k, v in res.get("utilization", {}).items())
        rows.append({
            "bench": "build", "what": board,
            "figure": f"{fmax:.1f} MHz" if isinstance(fmax, int | float) else str(fmax),
            "goal": f">= {goal:.0f} MHz" if goal else "-",
            "detail": f"{use}; {wall / 60:.1f} min", **res, "wall_s": wall,
        })
    return rows


def bench_serial(opts: argparse.Namespace) -> list[Row]:
    """``lwfc infer --board B --port sim`` (the board top's RTL, simulated time): link
    efficiency against min(wire, core) (goal >= 95 %), sparse vs raw (goal >= 3.5 x where
    the core keeps up), the bundle load's bytes and time."""
    rows = []
    for board in opts.serial_boards:
        base = ["infer", "--board", board, "--port", "sim", "deploy/models/mnist-dense",
                "--images", str(opts.serial_images), "--force-load"]
        auto, wall = _lwfc(base, opts.timeout)
        raw, wall_raw = _lwfc([*base, "--coding", "raw"], opts.timeout)
        gain = auto["images_per_s"] / raw["images_per_s"]
        core_bound = auto["core_limit_images_per_s"] < auto["wire_limit_images_per_s"]
        rows.append({
            "bench": "serial", "what": f"{board} {auto['clk_hz'] / 1e6:g} MHz {auto['baud']} baud",
            "figure": f"{auto['images_per_s']:.1f} images/s, {100 * auto['efficiency']:.2f} %",
            "goal": ">= 95 % of min(wire, core), 0 mismatches",
            "detail": (f"{auto['mismatches']}+{raw['mismatches']} mismatches / "
                       f"{auto['images']}; sparse {auto['wire_bytes_per_image']:.1f} B/image = "
                       f"{gain:.2f} x raw ({raw['images_per_s']:.1f} images/s"
                       + (", core-bound" if core_bound else "") + f"); load "
                       f"{auto['bytes_sent']} B for {auto['payload_bytes']} B payload in "
                       f"{auto['load_seconds']:.3f} s; {wall + wall_raw:.0f} s wall"),
            "auto": auto, "raw": raw, "sparse_gain": gain, "wall_s": wall + wall_raw,
        })
    return rows


BENCHES: dict[str, Callable[[argparse.Namespace], list[Row]]] = {
    "golden": bench_golden,
    "sim": bench_sim,
    "fusesoc": bench_fusesoc,
    "train": bench_train,
    "build": bench_build,
    "serial": bench_serial,
}
DEFAULT = ("golden", "sim", "fusesoc")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("benches", nargs="*", metavar="BENCH",
                    help=f"any of {', '.join(BENCHES)} (default: {', '.join(DEFAULT)})")
    ap.add_argument("--images", type=int, default=10000, help="images for 'sim' (10000)")
    ap.add_argument("--lanes", default="8", help="lane counts for 'sim', comma separated (8)")
    ap.add_argument("--boards", default="orangecrab", help="boards for 'build' (orangecrab)")
    ap.add_argument("--serial-boards", default="ulx3s,icebreaker",
                    help="boards for 'serial' (ulx3s,icebreaker)")
    ap.add_argument("--serial-images", type=int, default=500, help="images for 'serial' (500)")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per command")
    ap.add_argument("--json", type=Path, metavar="FILE", help="also write every figure here")
    opts = ap.parse_args(argv)
    unknown = [b for b in opts.benches if b not in BENCHES]
    if unknown:
        ap.error(f"unknown benchmark {unknown[0]!r} (known: {', '.join(BENCHES)})")
    opts.lanes = [int(x) for x in opts.lanes.split(",") if x]
    opts.boards = [x for x in opts.boards.split(",") if x]
    opts.serial_boards = [x for x in opts.serial_boards.split(",") if x]
    (REPO / "build").mkdir(exist_ok=True)
    rows: list[Row] = []
    print("| bench | what | figure | goal | detail |\n| --- | --- | --- | --- | --- |")
    for name in opts.benches or DEFAULT:
        for row in BENCHES[name](opts):
            rows.append(row)
            print(f"| {row['bench']} | {row['what']} | {row['figure']} | {row['goal']} "
                  f"| {row['detail']} |", flush=True)
    if opts.json:
        host = {"cpus": os.cpu_count(), "load_avg": os.getloadavg(), "python": sys.version}
        opts.json.write_text(json.dumps({"host": host, "rows": rows}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    if shutil.which("verilator") is None:
        print("bench: note: verilator is not on PATH ('sim' and 'fusesoc' need it)",
              file=sys.stderr)
    sys.exit(main())
