#!/usr/bin/env python3
"""FuseSoC generator of lwfc: converts the MyHDL accelerator for a bundle into Verilog.

FuseSoC calls ``python3 lwfc_gen.py INPUT.yml`` in an empty folder; INPUT.yml holds
``files_root`` (the repository), ``vlnv`` (name of the core to write) and ``parameters``:

* ``bundle``: bundle folder, relative to the repository (default ``deploy/models/mnist-dense``);
* ``lanes``: MAC units per engine (default 8), or one per layer (``50,50,10``);
* ``dataflow``: ``dot`` or ``broadcast``, or one per layer (default ``dot``);
* ``drain``: outputs requantized per cycle, or one per layer (default 1);
* ``dsp``: 1 maps the ECP5 lane multipliers to MULT18X18D instead of Booth logic (default 0);
  with an ECP5 ``board`` they are MULT18X18D instances holding their operand and product
  registers (``lwfc_hw.plan.CorePlan.dsp_prims``), and the parameter memories DP16KD
  instances using their output registers (``CorePlan.bram_prims``; their contents are
  INITVAL parameters in the Verilog, not hex files);
* ``pixels_per_beat``: input beat width in pixels (default 4);
* ``board``: board name in ``deploy/boards/`` to check the fit against (optional);
* ``vectors``: number of MNIST test images to prepare golden expectations for (0: none);
* ``data``: MNIST folder for the vectors (default: ``$LWFC_DATA``, else lwfc's cache folder);
* ``dataset``: ``mnist`` or ``fashion-mnist`` (default: the bundle's);
* ``spram_min_depth``: weight banks of at least this many entries become single-port
  memories without initial contents (iCE40 SPRAM), loaded at run time through the host port
  (default 0: none); needs ``shared_port``;
* ``shared_port``: 1 gives every parameter memory one read port, shared by the engine and,
  while the core is idle, the host (readback); see ``lwfc_hw.plan.CorePlan`` (default 0);
* ``rq_stages``: the requantizers' depth, one of ``lwfc_hw.plan.RQ_STAGE_CHOICES``: 6 and 5
  have fewer registers, for a slow clock such as the iCE40's (5: one-cycle table reads, needs
  ``shared_port``; default 0: ``lwfc_hw.plan.RQ_STAGES``, 10, for 100 MHz);
* ``lowrank_dataflow``: the dataflow of the bundle's low-rank layers, replacing ``dataflow``
  for them (default empty: ``dataflow``).

FuseSoC 2.4 does not pass command-line parameters to generators, so the environment variables
``LWFC_BUNDLE``, ``LWFC_LANES``, ``LWFC_DATAFLOW``, ``LWFC_DRAIN`` and ``LWFC_DSP`` override
``bundle``, ``lanes``, ``dataflow``, ``drain`` and ``dsp`` (``lwfc build --bundle --lanes
--dataflow`` use the first three). The generator is not cached by FuseSoC, so an override
always takes effect.

Writes into the current folder: ``lwfc_core.v`` and ``lwfc_core_defs.vh`` (the converted core;
with ``board``: ``lwfc_serial.v``, the serial bridge of ``lwfc_hw.serial`` with the core inside,
at the board's clock and baud),
one ``<memory>.hex`` per parameter memory (``$readmemh`` images, copied into the tool's work
folder), ``memmap.json``, ``lwfc_params.tcl`` (the memory names, for the Yosys template), with SPRAM
memories ``lwfc_spram_load.bin`` (the serial link's WRITE frames that load them), with
``vectors``: ``lwfc_images.hex`` (input beats) and ``lwfc_expect.txt`` (per image: label, golden
class, golden logits), and finally ``<name>.core`` describing all of it. Errors are one line,
``lwfc_gen: error: ...``, and exit status 1.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from lwfc_hw.plan import PLAN_PARAMS

#: The generator's parameters and defaults: the bundle, the plan's (``lwfc_hw.plan.PLAN_PARAMS``,
#: parsed there) and the board / vector options.
DEFAULTS: dict[str, Any] = {
    "bundle": "deploy/models/mnist-dense",
    **PLAN_PARAMS,
    "board": "",
    "vectors": 0,
    "data": "",
    "dataset": "",
}


class GenError(Exception):
    """A bad parameter or input: reported as one line."""


def resolve_params(raw: dict[str, Any], files_root: Path) -> dict[str, Any]:
    """Defaults, then the core's parameters, then ``LWFC_BUNDLE`` and the plan overrides
    (``LWFC_LANES``, ... : ``lwfc_hw.plan.ENV_OVERRIDES``)."""
    from lwfc_hw.plan import ENV_OVERRIDES, parse_plan_params, whole_number

    unknown = sorted(set(raw) - set(DEFAULTS))
    if unknown:
        raise GenError(f"unknown parameter(s) {', '.join(unknown)} (known: {', '.join(DEFAULTS)})")
    p = {**DEFAULTS, **{k: v for k, v in raw.items() if v is not None}}
    if os.environ.get("LWFC_BUNDLE"):
        p["bundle"] = os.environ["LWFC_BUNDLE"]
    for key in ENV_OVERRIDES:
        if os.environ.get(f"LWFC_{key.upper()}"):
            p[key] = os.environ[f"LWFC_{key.upper()}"]
    try:
        p.update(parse_plan_params(p))
        p["vectors"] = whole_number("vectors", p["vectors"], 0)
    except ValueError as exc:
        raise GenError(str(exc)) from None
    bundle = Path(str(p["bundle"])).expanduser()
    p["bundle"] = bundle if bundle.is_absolute() else files_root / bundle
    return p


def write_vectors(bundle: Any, plan: Any, p: dict[str, Any], out: Path) -> dict[str, Any]:
    """Test images (as input beats) and golden expectations for the simulation testbench."""
    import numpy as np

    from lwfc import golden
    from lwfc.data import load_dataset
    from lwfc_hw.sim import write_images

    dataset = p["dataset"] or bundle.dataset
    images, labels = load_dataset(dataset, "test", p["data"] or None, progress=False)
    n = min(p["vectors"], len(images))
    pixels = golden.as_pixels(images[:n], bundle.in_features)
    logits = golden.forward(bundle, pixels)
    classes = np.argmax(logits, axis=1)
    write_images(pixels, plan.pixels_per_beat, out / "lwfc_images.hex")
    rows = np.concatenate([labels[:n, None].astype(np.int64), classes[:, None], logits], axis=1)
    (out / "lwfc_expect.txt").write_text(
        "".join(" ".join(str(int(v)) for v in row) + "\n" for row in rows)
    )
    return {"vectors": n, "golden_accuracy": float(np.mean(classes == labels[:n]))}


#: A lane product register array in the converted Verilog (``reg [..] <name>_prod [0:N-1];``):
#: one lane multiplier per entry (the requantizers' partial products are named otherwise).
_PROD_DECL = re.compile(r"^reg (?:signed )?\[[^\]]+\] (\w+_prod) \[0:(\d+)-1\];$", re.M)


def booth_groups(verilog: str, excess: int) -> list[str]:
    """The lane product arrays whose multipliers become logic (Booth) when the board's DSP
    blocks are ``excess`` short: the smallest arrays first until they hold ``excess``
    multipliers, so that every other multiplier (and every requantizer product, which costs
    far more in logic) keeps its DSP. Names as in ``verilog`` (``lwfc_serial.v``)."""
    arrays = sorted((int(n), name) for name, n in _PROD_DECL.findall(verilog))
    out, moved = [], 0
    for n, name in arrays:
        if moved >= excess:
            break
        out.append(name)
        moved += n
    if moved < excess:
        raise GenError(f"{excess} multipliers too many for the DSP blocks, but only {moved} "
                       f"lane multipliers found in the Verilog")
    return out


def spram_load_stream(bundle: Any, plan: Any, fifo_depth: int = 0) -> bytes:
    """The serial-link WRITE frames (``lwfc_hw.link``) that load the single-port (SPRAM)
    memories, which have no initial contents, in bursts of the bridge's ``max_burst``
    entries (tags 0, 1, ...). ``lwfc infer --board icebreaker`` loads the whole bundle
    itself; this file is for a host without lwfc."""
    import numpy as np

    from lwfc_hw import link
    from lwfc_hw.banking import host_writes
    from lwfc_hw.serial import fifo_geometry

    burst = fifo_geometry(plan, fifo_depth)["max_burst"]
    words = {m.sel: np.zeros(m.depth, dtype=np.uint32) for m in plan.spram_mems}
    for sel, addr, data in host_writes(bundle, plan):
        if sel in words:
            words[sel][addr] = data
    frames = [payload for m in plan.spram_mems
              for _, payload in link.write_bursts(m.sel, words[m.sel], m.width, burst)]
    return b"".join(link.encode(link.WRITE.value, tag & 0xFF, payload)
                    for tag, payload in enumerate(frames))


def convert_board_top(bundle: Any, plan: Any, board: Any, out: Path) -> dict[str, Any]:
    """``lwfc_serial.v``: the serial bridge and the core for ``board`` (its core clock and
    baud from ``deploy/boards``; the parameter hash of IDENTIFY is the bundle's when every
    memory starts with its contents, 0 when some start empty)."""
    from lwfc_hw import link
    from lwfc_hw.serial import convert_serial

    clk_hz = round(board.clock_mhz * 1e6)
    baud = int(board.uart.get("baud", 115200))
    timing = link.uart_timing(clk_hz, baud)
    phash = 0 if plan.spram_mems else link.bundle_params_hash(bundle, plan)
    convert_serial(plan, out, clk_hz, baud, params_hash=phash,
                   ram_style=str(board.uart.get("fifo_ram", "block")),
                   hport_reg=board.family != "ice40",
                   queue_ram_style="distributed" if board.family == "ecp5" else "",
                   fifo_depth=board.fifo_depth)
    return {"clk_hz": clk_hz, "baud": baud, "clocks_per_bit": timing.divisor,
            "baud_error": timing.error}


def core_text(vlnv: str, plan: Any, vectors: bool, top: str = "lwfc_core") -> str:
    """The generated CAPI2 core: RTL, memory images (copied to the work root; not those of
    DP16KD instances, whose contents are INITVALs in the Verilog), vectors."""
    mems = "\n".join(f"      - {m.hexfile}: {{copyto: {m.hexfile}}}" for m in plan.mems
                      if not m.prim)
    # every memory a DP16KD: no memory fileset (FuseSoC's schema wants a fileset's files
    # to be a non-empty list)
    mem_set = f"""  memories:
    files:
{mems}
    file_type: user
""" if mems else ""
    text = f"""CAPI=2:
# Generated by hw/fusesoc/lwfc_gen.py: do not edit.
name: {vlnv}
description: lwfc_core converted from MyHDL for one bundle and lane count

filesets:
  rtl:
    files:
      - lwfc_core_defs.vh: {{is_include_file: true}}
      - {top}.v
    file_type: verilogSource
{mem_set}  synth_params:
    files:
      - lwfc_params.tcl
    file_type: tclSource
"""
    if vectors:
        text += """  vectors:
    files:
      - lwfc_images.hex: {copyto: lwfc_images.hex}
      - lwfc_expect.txt: {copyto: lwfc_expect.txt}
    file_type: user
"""
    sets = ["rtl", *(["memories"] if mems else []), "synth_params",
            *(["vectors"] if vectors else [])]
    text += "\ntargets:\n  default:\n    filesets:\n"
    text += "".join(f"      - {name}\n" for name in sets)
    return text


def generate(config: dict[str, Any], out: Path) -> dict[str, Any]:
    """Everything the generator writes, for the FuseSoC input ``config``; returns a summary."""
    from lwfc.bundle import load_bundle
    from lwfc.errors import LwfcError
    from lwfc_hw.convert import generate as convert
    from lwfc_hw.plan import plan_for_bundle, plan_kwargs

    files_root = Path(config["files_root"])
    p = resolve_params(dict(config.get("parameters") or {}), files_root)
    if not p["bundle"].exists():
        raise GenError(
            f"bundle {p['bundle']} not found (train one with 'lwfc train --out "
            f"{DEFAULTS['bundle']}' or point LWFC_BUNDLE at a bundle folder)"
        )
    try:
        bundle = load_bundle(p["bundle"])
    except LwfcError as exc:
        raise GenError(str(exc)) from None
    board = None
    if p["board"]:
        from lwfc.fpga import get_board

        try:
            board = get_board(str(p["board"]))
        except LwfcError as exc:
            raise GenError(str(exc)) from None
    board_family = board.family if board is not None else ""
    try:
        plan = plan_for_bundle(bundle, **plan_kwargs(p, board_family))
    except ValueError as exc:
        raise GenError(f"cannot elaborate {p['bundle']} with lanes={p['lanes']}: {exc}") from None
    summary: dict[str, Any] = {"bundle": str(p["bundle"]), "lanes": plan.lanes}
    booth = True  # iCE40: lane multipliers as logic unless the board has DSPs for all of them
    excess = 0
    if p["board"]:
        from lwfc.fpga import check_fit, estimate_dsps

        try:
            summary["fit"] = check_fit(plan, board)
        except LwfcError as exc:
            raise GenError(str(exc)) from None
        excess = estimate_dsps(plan) - board.resources.get("dsp", 0)
        booth = excess > 0
    top = "lwfc_core"
    if p["board"]:
        from lwfc_hw.banking import fill_prim_contents, write_hex_files

        try:
            summary["serial"] = convert_board_top(bundle, plan, board, out)
        except ValueError as exc:
            raise GenError(f"board {p['board']}: {exc}") from None
        write_hex_files(bundle, plan, out)
        fill_prim_contents(bundle, plan, out / "lwfc_serial.v")
        (out / "memmap.json").write_text(json.dumps(plan.memory_map(), indent=2) + "\n")
        top = "lwfc_serial"
    else:
        convert(bundle, plan, out)
    names = " ".join(m.name for m in plan.mems if not m.prim)  # the inferred ones
    # iCE40 with too few DSP blocks (excess > 0 only with a board): only enough lane
    # multipliers go to logic
    booth_wires = ""
    if excess > 0 and board.family == "ice40":
        booth_wires = " ".join(booth_groups((out / f"{top}.v").read_text(), excess))
        summary["booth_lanes"] = booth_wires.split()
    (out / "lwfc_params.tcl").write_text(
        "# Generated by lwfc_gen.py: the parameter memories of this lwfc_core instance\n"
        f"set ::lwfc_param_memories {{{names}}}\n"
        f"set ::lwfc_booth {int(booth)}\n"
        f"set ::lwfc_booth_wires {{{booth_wires}}}\n"
        f"set ::lwfc_ecp5_dsp {int(p['dsp'])}\n"
    )
    if plan.spram_mems:
        depth = board.fifo_depth if p["board"] else 0
        (out / "lwfc_spram_load.bin").write_bytes(spram_load_stream(bundle, plan, depth))
    if p["vectors"]:
        try:
            summary.update(write_vectors(bundle, plan, p, out))
        except LwfcError as exc:
            raise GenError(f"test vectors: {exc}") from None
    vlnv = str(config["vlnv"])
    core_name = vlnv.split(":")[2] if vlnv.count(":") >= 3 else "lwfc-gen"
    (out / f"{core_name}.core").write_text(core_text(vlnv, plan, bool(p["vectors"]), top))
    (out / "lwfc_gen.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv: list[str]) -> int:
    """Entry point: ``lwfc_gen.py INPUT.yml``."""
    if len(argv) != 2:
        print("usage: lwfc_gen.py GENERATOR_INPUT.yml", file=sys.stderr)
        return 2
    try:
        config = yaml.safe_load(Path(argv[1]).read_text())
        summary = generate(config, Path.cwd())
    except GenError as exc:
        print(f"lwfc_gen: error: {exc}", file=sys.stderr)
        return 1
    except ImportError as exc:
        print(
            f"lwfc_gen: error: {exc}; run FuseSoC with the lwfc virtual environment first on "
            "PATH ('bash scripts/install.sh', then '. .venv/bin/activate')",
            file=sys.stderr,
        )
        return 1
    extra = "".join(
        f", {k} {v}" for k, v in summary.items() if k in ("vectors", "golden_accuracy")
    )
    print(f"lwfc_gen: {summary['bundle']}, lanes {summary['lanes']}{extra}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
