"""``lwfc build --board NAME``: build a board's bitstream through FuseSoC and report it.

Runs ``fusesoc run --target=NAME lwfc`` (the same target users run by hand) with the virtual
environment first on ``PATH`` (generator interpreter, YoWASP shims) and ``YOWASP_CACHE_DIR``
set, then reads nextpnr's ``report.json`` and the Yosys cell count: Fmax, LUT / FF / BRAM / DSP
use and the bitstream path. ``--bundle`` / ``--lanes`` / ``--dataflow`` override the target's
generator parameters (through ``LWFC_BUNDLE`` / ``LWFC_LANES`` / ``LWFC_DATAFLOW``). Boards
are ``deploy/boards/*.json``.

A missing bundle, an unknown board or a lane count that cannot fit the device is a one-line
error (exit status 2); a tool failure prints the tool's error and exits with status 1. A
bitstream that fails timing (nextpnr's Fmax below a clock's constraint or below the board's
core clock, :func:`lwfc.fpga.check_timing`) is an error too: ``timing_met: false`` in the
summary, one line on stderr and exit status 1, unless ``--allow-timing-fail``.
The Vivado board (pynq_z2) needs ``vivado`` on ``PATH``; ``--setup`` only writes its project.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from ..errors import LwfcError
from ._common import check_output, positive_int, print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build", help="build a board bitstream (FuseSoC) and report Fmax and use")
    p.add_argument("--board", required=True, help="board name (deploy/boards/NAME.json)")
    p.add_argument("--bundle", type=Path, help="bundle folder (default: the target's)")
    p.add_argument(
        "--lanes", type=positive_int, help="MAC units per engine (default: the target's)"
    )
    p.add_argument(
        "--dataflow", metavar="FLOW[,FLOW...]",
        help="dot or broadcast, one value or one per layer (default: the target's; e.g. "
             "'dot' for a low-rank bundle on the icebreaker)")
    p.add_argument(
        "--seed", type=int, metavar="N",
        help="nextpnr placement seed (default: the board description's nextpnr_seed, else "
             "nextpnr's): another placement of the same netlist, whose Fmax differs by a few "
             "per cent")
    p.add_argument(
        "--build-root",
        type=Path,
        metavar="DIR",
        help="FuseSoC build root (default: build/ in the repository)",
    )
    p.add_argument("--setup", action="store_true", help="only generate the project (no tools)")
    p.add_argument("--timeout", type=float, default=1800.0, metavar="S", help="seconds (1800)")
    p.add_argument(
        "--allow-timing-fail",
        action="store_true",
        help="exit 0 even when the design misses its clock (the bitstream may not work)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _first_error(text: str) -> str:
    for line in text.splitlines():
        s = line.strip()
        if s.startswith(("ERROR:", "Error:", "%Error", "edatools:")) and "Failed to build" not in s:
            return s
    lines = [x for x in text.splitlines() if x.strip()]
    return lines[-1] if lines else "no output"


def _built_config(params: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """``lanes`` / ``dataflow`` / ``drain`` / ``dsp`` of a build: the target's generator
    parameters, overridden as the generator does by ``LWFC_*`` (``env``, then the process
    environment); parsed by :func:`lwfc_hw.plan.parse_plan_params`."""
    from lwfc_hw.plan import ENV_OVERRIDES, parse_plan_params

    raw = {k: env.get(f"LWFC_{k.upper()}") or os.environ.get(f"LWFC_{k.upper()}")
           or params.get(k) for k in ENV_OVERRIDES}
    p = parse_plan_params(raw)
    return {k: p[k] for k in ENV_OVERRIDES}


def build_board(
    board_name: str,
    *,
    bundle: Path | None = None,
    lanes: int | None = None,
    dataflow: str | None = None,
    seed: int | None = None,
    build_root: Path | None = None,
    setup_only: bool = False,
    timeout: float = 1800.0,
) -> dict[str, Any]:
    """Build ``board_name``'s target and return the summary (see module docstring)."""
    from .. import fpga

    board = fpga.get_board(board_name)
    params = fpga.target_generator_params(board.name)
    env: dict[str, str] = {}
    if bundle is not None:
        if not bundle.exists():
            raise LwfcError(f"--bundle {bundle}: no such bundle folder")
        env["LWFC_BUNDLE"] = str(bundle.resolve())
    if lanes is not None:
        env["LWFC_LANES"] = str(lanes)
    if dataflow is not None:
        from lwfc_hw.plan import DATAFLOWS

        bad = [f for f in dataflow.split(",") if f.strip() not in DATAFLOWS]
        if bad or not dataflow.strip():
            raise LwfcError(f"--dataflow {dataflow}: expected {' or '.join(DATAFLOWS)}, one "
                            f"value or a comma list")
        env["LWFC_DATAFLOW"] = dataflow.replace(" ", "")
    if seed is not None and seed < 0:
        raise LwfcError(f"--seed {seed}: expected a whole number >= 0")
    if seed is None:
        seed = board.nextpnr_seed  # the board's measured seed, if it has one
    if seed is not None:
        env["LWFC_NEXTPNR_SEED"] = str(seed)
    root = (build_root or fpga.REPO / "build").resolve()
    if board.flow == "vivado" and not setup_only and shutil.which("vivado") is None:
        raise LwfcError(
            f"{board.name} builds with Vivado, which is not on PATH; use --setup to write the "
            f"Vivado project only"
        )
    args = ["--setup"] if setup_only else []
    res, seconds = fpga.run_fusesoc(board.name, build_root=root, env=env, args=args,
                                    timeout=timeout)
    out = res.stdout + res.stderr
    work = fpga.work_root(root, board.name)
    if res.returncode != 0:
        gen = fpga.generator_error(out)
        if gen:
            raise LwfcError(gen)
        if "no BELs remaining" in out or "Unable to place cell" in out:
            raise LwfcError(
                f"the design does not fit the {board.name} ({board.device}): "
                f"{_first_error(out)}; use fewer lanes or a compressed bundle"
            )
        raise LwfcError(f"{board.name} build failed: {_first_error(out)} (see {work})")
    summary: dict[str, Any] = {
        "board": board.name,
        "device": board.device,
        "bundle": str(bundle) if bundle else params.get("bundle"),
        # the configuration built: the target's, with the LWFC_* overrides the generator reads
        **_built_config(params, env),
        "work_root": str(work),
        "seconds": round(seconds, 1),
    }
    if seed is not None:
        summary["seed"] = seed
    if setup_only:
        return summary
    ext = {"ice40": ".bin", "ecp5": ".bit", "xilinx": ".bit"}[board.family]
    bitstreams = sorted(work.glob(f"*{ext}")) or sorted(work.rglob(f"*{ext}"))
    if not bitstreams:
        raise LwfcError(f"{board.name}: the build ended without a {ext} bitstream in {work}")
    summary["bitstream"] = str(bitstreams[0])
    ylog = work / "yosys.log"
    conflicts = fpga.yosys_driver_conflicts(ylog) if ylog.exists() else []
    if conflicts:
        raise LwfcError(
            f"{board.name}: Yosys resolved {len(conflicts)} driver-driver conflicts with "
            f"constants, so the netlist is not the design (first: {conflicts[0]}; see {ylog})"
        )
    report_path = work / "report.json"
    if report_path.exists():
        rep = fpga.parse_nextpnr_report(report_path)
        stat = work / "lwfc_stat.txt"
        cells = fpga.parse_yosys_cells(stat) if stat.exists() else {}
        clocks = rep["fmax_mhz"]
        clock = min(clocks, key=clocks.get) if clocks else None
        timing = fpga.check_timing(rep, board.clock_mhz)
        summary.update(
            {
                "fmax_mhz": round(clocks[clock], 2) if clock else None,
                "constraint_mhz": round(rep["constraint_mhz"][clock], 2) if clock else None,
                "fmax_goal_mhz": board.fmax_goal_mhz,
                "clock_mhz": board.clock_mhz,
                "timing_met": timing["timing_met"],
                "timing": timing["clocks"],
                "timing_message": timing["message"],
                "utilization": fpga.summarize(board.family, rep, cells),
            }
        )
    elif board.flow == "open":
        summary.update(timing_met=False, timing={},
                       timing_message=f"no nextpnr report in {work}, so timing is unknown")
    return summary


def run(args: argparse.Namespace) -> int:
    check_output(args.build_root, "--build-root", reuse=True)
    if not args.timeout > 0:
        raise LwfcError(f"--timeout {args.timeout}: expected a number of seconds > 0")
    summary = build_board(
        args.board,
        bundle=args.bundle,
        lanes=args.lanes,
        dataflow=args.dataflow,
        seed=args.seed,
        build_root=args.build_root,
        setup_only=args.setup,
        timeout=args.timeout,
    )
    status = 0
    if summary.get("timing_met") is False:
        print(f"lwfc build: {'warning' if args.allow_timing_fail else 'error'}: "
              f"{summary['board']}: {summary['timing_message']}; the bitstream cannot run at "
              f"its clock" + ("" if args.allow_timing_fail else
                              " (--allow-timing-fail to accept it)"), file=sys.stderr)
        status = 0 if args.allow_timing_fail else 1
    if args.json:
        print_json(summary)
        return status
    lanes = summary["lanes"]
    lanes = ",".join(map(str, lanes)) if isinstance(lanes, list) else lanes
    print(f"board      {summary['board']} ({summary['device']}), bundle {summary['bundle']}, "
          f"lanes {lanes}, {summary['dataflow']}")
    if "fmax_mhz" in summary and summary["fmax_mhz"] is not None:
        verdict = "meets" if summary["fmax_mhz"] >= summary["fmax_goal_mhz"] else "below"
        print(f"fmax       {summary['fmax_mhz']:.1f} MHz (core clock {summary['clock_mhz']} MHz, "
              f"goal {summary['fmax_goal_mhz']} MHz: {verdict})")
        print(f"timing     {summary['timing_message']}")
        for kind, use in summary["utilization"].items():
            pct = 100.0 * use["used"] / use["available"] if use["available"] else 0.0
            print(f"{kind:<10} {use['used']} / {use['available']} ({pct:.0f} %)")
    if "bitstream" in summary:
        print(f"bitstream  {summary['bitstream']}")
    else:
        print(f"project    {summary['work_root']}")
    print(f"time       {summary['seconds']} s")
    return status
