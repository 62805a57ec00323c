"""Record one board build for ``lwfc bench``: ``benchmarks/builds/LABEL.json``.

Usage: ``python benchmarks/record_build.py WORK_DIR BOARD LABEL BUNDLE LANES DATAFLOW DRAIN
[COMMAND]``. Reads nextpnr's ``report.json`` and Yosys' ``lwfc_stat.txt`` in ``WORK_DIR`` (a
FuseSoC work root of ``lwfc build``), computes the configuration's exact mean cycles per
image over the 10,000 test images (cycle model), and writes LUTs, flip-flops, DSPs, block
RAMs, the achieved Fmax, and the core's own images/s (Fmax / mean cycles, and board clock /
mean cycles), whether it meets the board clock, and images/s per thousand LUTs at the clock
it can run at, with the command that made the build.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lwfc import fpga, golden
from lwfc.bundle import load_bundle
from lwfc.data import load_dataset
from lwfc_hw.cycles import activity, stream_report
from lwfc_hw.plan import plan_for_bundle, plan_kwargs


def main() -> None:
    work, board_name, label, bundle_path, lanes, flow, drain = sys.argv[1:8]
    command = sys.argv[8] if len(sys.argv) > 8 else ""
    work = Path(work)
    board = fpga.get_board(board_name)
    rep = fpga.parse_nextpnr_report(work / "report.json")
    stat = work / "lwfc_stat.txt"
    cells = fpga.parse_yosys_cells(stat) if stat.exists() else {}
    util = fpga.summarize(board.family, rep, cells)
    clocks = rep["fmax_mhz"]
    clock = min(clocks, key=clocks.get)
    fmax = clocks[clock]
    bundle = load_bundle(bundle_path)
    # the board target's plan options (SPRAM, ports, requantizer, primitives) with this
    # build's lanes / dataflow / drain, read as the generator reads them
    params = {**fpga.target_generator_params(board.name), "lanes": lanes, "dataflow": flow,
              "drain": drain}
    plan = plan_for_bundle(bundle, **plan_kwargs(params, board.family))
    x, _ = load_dataset(bundle.dataset, "test", None, progress=False)
    r = stream_report(plan, activity(bundle, golden.as_pixels(x, bundle.in_features)))
    rec = {
        "board": board.name, "label": label, "bundle": str(bundle_path), "lanes": lanes,
        "dataflow": flow, "drain": drain, "command": command,
        "luts": util.get("lut", {}).get("used"), "ffs": util.get("ff", {}).get("used"),
        "dsps": util.get("dsp", {}).get("used"), "brams": util.get("bram", {}).get("used"),
        "sprams": util.get("spram", {}).get("used"), "utilization": util,
        "fmax_mhz": round(fmax, 2), "clock": clock, "board_clock_mhz": board.clock_mhz,
        "mean_cycles_per_image": round(r.mean_interval, 2),
        "images_per_s": round(fmax * 1e6 / r.mean_interval),
        "images_per_s_board_clock": round(board.clock_mhz * 1e6 / r.mean_interval),
    }
    # the build runs at its board clock only if it meets timing; per LUT at the clock it can
    # actually run at (the board's, or its Fmax when that is lower)
    rec["timing_met"] = fmax >= board.clock_mhz
    usable = rec["images_per_s_board_clock"] if rec["timing_met"] else rec["images_per_s"]
    rec["images_per_s_per_kilolut"] = round(usable / rec["luts"] * 1000) if rec["luts"] else None
    out = Path(__file__).resolve().parent / "builds" / f"{label}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rec, indent=2) + "\n")
    print(json.dumps(rec, indent=1))


if __name__ == "__main__":
    main()
