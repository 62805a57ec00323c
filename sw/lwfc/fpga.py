"""FPGA builds of the accelerator through FuseSoC: board descriptions, fit checks, tool
environment and report parsing.

Used by the FuseSoC generator ``hw/fusesoc/lwfc_gen.py`` (fit checks before any synthesis) and by
``lwfc build`` (runs a board target and summarises nextpnr's ``report.json``). See
``docs/fpga.md``.

* Boards are described once in ``deploy/boards/<name>.json`` (device, package, clock, UART,
  resource totals); the bundle and lane count each board builds with are the generator
  parameters of its target in ``fusesoc.core``.
* :func:`estimate_brams` is a lower bound on block RAMs (each memory alone, perfectly packed), so
  :func:`check_fit` only rejects configurations that cannot fit.
* :func:`tool_env` puts the virtual environment's ``bin`` first on ``PATH`` (the generator's
  ``python3``, the YoWASP shims that ``scripts/install.sh`` installs there) and fixes
  ``YOWASP_CACHE_DIR``.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import LwfcError

#: Root of the repository (this file is ``sw/lwfc/fpga.py``).
REPO = Path(__file__).resolve().parents[2]
CORE_FILE = REPO / "fusesoc.core"
BOARDS_DIR = REPO / "deploy" / "boards"
#: Name of the core on FuseSoC's command line (``fusesoc run --target=T lwfc``): FuseSoC
#: resolves the short name to the full VLNV in ``fusesoc.core`` (:func:`core_vlnv`).
CORE_NAME = "lwfc"

#: Block RAM primitives per family: (name, bits per block, {data width: depth}).
BRAM_SHAPES: dict[str, tuple[str, int, dict[int, int]]] = {
    # iCE40 SB_RAM40_4K: 4 kbit, one read and one write port
    "ice40": ("SB_RAM40_4K", 4096, {2: 2048, 4: 1024, 8: 512, 16: 256}),
    # ECP5 DP16KD: 18 kbit, true dual port up to 18 bits (36 as pseudo dual port)
    "ecp5": ("DP16KD", 18432, {1: 16384, 2: 8192, 4: 4096, 9: 2048, 18: 1024, 36: 512}),
    # 7-series RAMB18E1 (a RAMB36E1 is two of them)
    "xilinx": ("RAMB18E1", 18432, {1: 16384, 2: 8192, 4: 4096, 9: 2048, 18: 1024, 36: 512}),
}


@dataclass(frozen=True)
class Board:
    """One board: what ``deploy/boards/<name>.json`` says.

    Attributes:
        name: board name, also the FuseSoC target (``icebreaker``, ``ulx3s`` ...).
        description: one line for people.
        family: ``ice40``, ``ecp5`` or ``xilinx``.
        device: part as the tools name it (``up5k``, ``LFE5U-85F``, ``xc7z020clg400-1``).
        package: package for nextpnr (empty for Vivado).
        clock_mhz: the clock the core runs at (the oscillator, or a PLL's output on it).
        fmax_goal_mhz: the Fmax the build should reach.
        resources: totals of the device: ``lut``, ``ff``, ``bram``, ``dsp``.
        uart: baud rate and pins of the UART bridge; optional ``fifo_ram`` (the bridge's
            memories: ``block`` or ``distributed``) and ``fifo_depth`` (its input FIFO's
            entries, a power of two holding a whole image; default
            :func:`lwfc_hw.serial.fifo_geometry`'s rule).
        flow: ``open`` (Yosys + nextpnr) or ``vivado``.
        nextpnr_seed: the placement seed ``lwfc build`` gives nextpnr when ``--seed`` is not
            given (``None``: nextpnr's own); set where the default seed's placement of the
            target misses the clock by a few per cent and this one meets it (measured, noted
            in docs/fpga.md).
        notes: anything else (programming command, jumpers).
    """

    name: str
    description: str
    family: str
    device: str
    package: str
    clock_mhz: float
    fmax_goal_mhz: float
    resources: dict[str, int]
    uart: dict[str, Any] = field(default_factory=dict)
    flow: str = "open"
    notes: str = ""
    nextpnr_seed: int | None = None

    @property
    def fifo_depth(self) -> int:
        """The serial bridge's input FIFO depth (``uart.fifo_depth``; 0: the default rule)."""
        return int(self.uart.get("fifo_depth", 0))


def boards(directory: Path = BOARDS_DIR) -> dict[str, Board]:
    """Every board of ``deploy/boards/*.json``, by name."""
    out = {}
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text())
        try:
            board = Board(**data)
        except TypeError as exc:
            raise LwfcError(f"{path}: not a board description ({exc})") from None
        if board.name != path.stem:
            raise LwfcError(f"{path}: name {board.name!r} differs from the file name")
        if board.family not in BRAM_SHAPES:
            raise LwfcError(f"{path}: unknown family {board.family!r}")
        out[board.name] = board
    return out


def get_board(name: str) -> Board:
    """The board ``name``; an unknown name is a :class:`LwfcError` listing the known ones."""
    known = boards()
    if name not in known:
        raise LwfcError(f"unknown board {name!r} (known: {', '.join(sorted(known))})")
    return known[name]


# ----------------------------------------------------------------------------- fit checks
def _blocks(depth: int, width: int, family: str) -> int:
    """Fewest block RAMs holding a ``depth`` x ``width`` memory (best aspect ratio)."""
    _, _, shapes = BRAM_SHAPES[family]
    return min(math.ceil(width / w) * math.ceil(depth / d) for w, d in shapes.items())


def memory_shapes(plan: Any) -> list[tuple[str, int, int]]:
    """``(name, depth, width)`` of every block RAM in a :class:`lwfc_hw.plan.CorePlan`: the
    parameter memories (but the single-port SPRAM ones, see :func:`estimate_sprams`), the
    ping-pong feature-memory lanes (two halves each) and the engines' own memories (a DIL's
    rings in block RAM, ``EnginePlan.internal_memories``)."""
    out = [(m.name, m.depth, m.width) for m in plan.mems if not getattr(m, "spram", False)]
    for e in plan.engines:
        out += e.internal_memories
    for f in plan.fmems:
        # a nonzero list (broadcast consumer) holds {index >> lane_bits, value} entries
        width = f.entry_bits
        for q in range(f.q):
            out.append((f"fmem{f.index}_lane{q}", 2 * 2**f.abits, width))
    return out


def estimate_brams(plan: Any, family: str, min_bits: int = 2048) -> int:
    """A lower bound on the block RAMs ``plan`` needs on ``family``.

    Memories smaller than ``min_bits`` are assumed to go to LUT RAM or flip-flops and are not
    counted (Yosys put every memory of 2 kbit or more into block RAM in our builds); every
    other memory is counted alone, in its best aspect ratio, one copy.
    """
    return sum(
        _blocks(depth, width, family)
        for _, depth, width in memory_shapes(plan)
        if depth * width >= min_bits
    )


#: iCE40 SB_SPRAM256KA: 16K x 16 bits with a nibble write mask (256 kbit).
SPRAM_BITS = 16384 * 16


def estimate_sprams(plan: Any) -> int:
    """SPRAM blocks that the single-port memories of ``plan`` need: each memory alone,
    ``ceil(depth * width / 256 kbit)`` (Yosys packs two int8 entries per 16-bit word)."""
    return sum(math.ceil(m.depth * m.width / SPRAM_BITS)
               for m in plan.mems if getattr(m, "spram", False))


def multipliers(plan: Any) -> int:
    """MAC multipliers of ``plan`` (lanes of every engine; the requantizers come on top)."""
    return sum(e.multipliers for e in plan.engines)


#: DSP blocks of one requantizer: its ``acc * M`` product (32 x 15 bits) as two 16 x 15-bit
#: partial products (``lwfc_hw.requant.requant``), one SB_MAC16 (16 x 16) each.
REQUANT_DSPS = 2


def estimate_dsps(plan: Any) -> int:
    """DSP blocks if every multiplier of ``plan`` is one: the lane multipliers plus
    :data:`REQUANT_DSPS` per requantizer with a multiplier (hidden outputs, low-rank latents;
    both counts are the layer types' estimates, ``EnginePlan.multipliers`` and
    ``EnginePlan.requantizers``, see ``lwfc_hw.layers``).
    ``yosys_lwfc.tcl`` builds the iCE40 lane multipliers from logic (Booth) when this exceeds
    the board's DSPs, so that the DSPs go to the wider requantizer products."""
    requants = sum(e.requantizers for e in plan.engines)
    return multipliers(plan) + REQUANT_DSPS * requants


def check_fit(plan: Any, board: Board) -> dict[str, int]:
    """Raise :class:`LwfcError` when ``plan`` cannot fit ``board``'s block RAM or SPRAM; else
    return the estimate (``bram``, ``bram_available``, ``multipliers``, and with SPRAM
    memories ``spram``, ``spram_available``)."""
    sprams = estimate_sprams(plan)
    have_spram = board.resources.get("spram", 0) if board.family == "ice40" else 0
    if sprams > have_spram:
        raise LwfcError(
            f"the single-port (SPRAM) weight memories need {sprams} SB_SPRAM256KA but the "
            f"{board.name} ({board.device}) has {have_spram}"
        )
    need = estimate_brams(plan, board.family)
    have = board.resources.get("bram", 0)
    prim = BRAM_SHAPES[board.family][0]
    if need > have:
        raise LwfcError(
            f"lanes={plan.lanes} does not fit the {board.name} ({board.device}): the weight and "
            f"feature memories need at least {need} {prim} but the device has {have}; "
            f"use fewer lanes or a compressed bundle"
            + (" (or SPRAM weight memories: generator parameters spram_min_depth, "
               "shared_port)" if board.family == "ice40" else "")
        )
    out = {"bram": need, "bram_available": have, "multipliers": multipliers(plan)}
    if sprams:
        out.update(spram=sprams, spram_available=have_spram)
    return out


# ----------------------------------------------------------------------------- reports
def parse_nextpnr_report(path: Path) -> dict[str, Any]:
    """Fmax and utilisation from ``nextpnr --report`` JSON.

    Returns ``{"fmax_mhz": {clock: achieved}, "constraint_mhz": {clock: constraint},
    "utilization": {bel: (used, available)}}``.
    """
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise LwfcError(f"{path}: no readable nextpnr report ({exc})") from None
    fmax = {k: float(v["achieved"]) for k, v in data.get("fmax", {}).items()}
    cons = {k: float(v["constraint"]) for k, v in data.get("fmax", {}).items()}
    util = {
        k: (int(v["used"]), int(v["available"])) for k, v in data.get("utilization", {}).items()
    }
    return {"fmax_mhz": fmax, "constraint_mhz": cons, "utilization": util}


def check_timing(report: dict[str, Any], clock_mhz: float) -> dict[str, Any]:
    """Whether a placed and routed design runs at its clocks, from :func:`parse_nextpnr_report`.

    Every clock nextpnr timed must reach its constraint, and the core clock (the one with the
    highest constraint: the PLL output, or the oscillator without a PLL) must also reach the
    board's ``clock_mhz``, so that a constraint weaker than the clock the design really gets
    cannot pass. A report without any timed clock fails (nothing was checked).

    Returns ``{"timing_met": bool, "clocks": {clock: {"achieved_mhz", "required_mhz",
    "met"}}, "failing": [clock, ...], "message": one line}``, frequencies in MHz.
    """
    achieved, constraint = report.get("fmax_mhz", {}), report.get("constraint_mhz", {})
    if not achieved:
        return {"timing_met": False, "clocks": {}, "failing": [],
                "message": "nextpnr timed no clock, so the design's timing is unknown"}
    core = max(achieved, key=lambda c: constraint.get(c, 0.0))
    clocks: dict[str, dict[str, Any]] = {}
    for name, got in achieved.items():
        need = constraint.get(name, 0.0)
        if name == core:
            need = max(need, float(clock_mhz))
        clocks[name] = {"achieved_mhz": round(got, 2), "required_mhz": round(need, 2),
                        "met": got >= need}
    failing = [c for c, v in clocks.items() if not v["met"]]
    if failing:
        worst = min(failing, key=lambda c: clocks[c]["achieved_mhz"] / clocks[c]["required_mhz"])
        v = clocks[worst]
        message = (f"timing not met: clock {worst} reaches {v['achieved_mhz']:.1f} MHz but needs "
                   f"{v['required_mhz']:.1f} MHz" + (f" ({len(failing)} clocks fail)"
                                                     if len(failing) > 1 else ""))
    else:
        message = f"timing met: core clock {core} reaches {clocks[core]['achieved_mhz']:.1f} MHz"
    return {"timing_met": not failing, "clocks": clocks, "failing": failing, "message": message}


#: nextpnr BEL names counted as LUT / FF / BRAM / DSP, per family.
_BELS = {
    "ice40": {"lut": ("ICESTORM_LC",), "bram": ("ICESTORM_RAM",), "dsp": ("ICESTORM_DSP",),
              "spram": ("ICESTORM_SPRAM",)},
    "ecp5": {"lut": ("TRELLIS_COMB",), "ff": ("TRELLIS_FF",), "bram": ("DP16KD",),
             "dsp": ("MULT18X18D",)},
}


def parse_yosys_cells(log: Path) -> dict[str, int]:
    """Cell counts of the last ``stat`` in a Yosys log (``{cell type: count}``)."""
    text = Path(log).read_text(errors="replace")
    start = text.rfind("Number of cells")
    if start < 0:
        start = text.rfind(" cells\n")
        if start < 0:
            return {}
        start = text.rfind("\n", 0, start)
    cells: dict[str, int] = {}
    for line in text[start:].splitlines()[1:]:
        m = re.match(r"^\s+(\d+)\s+([\\$\w.]+)\s*$", line) or re.match(
            r"^\s+([\\$\w.]+)\s+(\d+)\s*$", line
        )
        if not m:
            if cells and line.strip() == "":
                break
            continue
        a, b = m.groups()
        count, name = (int(a), b) if a.isdigit() else (int(b), a)
        cells[name.lstrip("\\")] = cells.get(name.lstrip("\\"), 0) + count
    return cells


def yosys_driver_conflicts(log: Path) -> list[str]:
    """The ``Driver-driver conflict`` warnings of a Yosys log: Yosys resolves each by keeping a
    constant, so a netlist with any of them is not the design (seen with Yosys 0.70's
    ``ice40_dsp``, see ``hw/fusesoc/yosys_lwfc.tcl``). Returns the warning lines, in order."""
    text = Path(log).read_text(errors="replace")
    return [line.strip() for line in text.splitlines() if "Driver-driver conflict" in line]


def summarize(family: str, report: dict[str, Any], cells: dict[str, int]) -> dict[str, Any]:
    """LUT / FF / BRAM / DSP use: nextpnr's BEL counts, with Yosys' cell counts where nextpnr
    has no separate BEL (iCE40 logic cells hold one LUT and one FF)."""
    util = report["utilization"]

    def bel(kind: str) -> tuple[int, int] | None:
        for name in _BELS.get(family, {}).get(kind, ()):
            if name in util:
                return util[name]
        return None

    out: dict[str, Any] = {}
    for kind in ("lut", "ff", "bram", "dsp", "spram"):
        got = bel(kind)
        if got is not None:
            out[kind] = {"used": got[0], "available": got[1]}
    if family == "ice40":
        lc = out.pop("lut", None)
        if lc is not None:
            out["lc"] = lc
        luts = sum(v for k, v in cells.items() if k == "SB_LUT4")
        ffs = sum(v for k, v in cells.items() if k.startswith("SB_DFF"))
        avail = lc["available"] if lc else 0
        out["lut"] = {"used": luts, "available": avail}
        out["ff"] = {"used": ffs, "available": avail}
    return out


# ----------------------------------------------------------------------------- running
def venv_bin() -> Path:
    """The ``bin`` folder of the running interpreter's virtual environment."""
    return Path(sys.executable).parent


def yowasp_cache_dir() -> Path:
    """Where YoWASP keeps its compiled WebAssembly: ``$YOWASP_CACHE_DIR``, else YoWASP's own
    per-user default (``~/.cache/YoWASP``), never inside the repository."""
    env = os.environ.get("YOWASP_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("YoWASP", appauthor=False))


def tool_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for ``fusesoc``: venv ``bin`` first on ``PATH``, ``YOWASP_CACHE_DIR`` set."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(venv_bin()), env.get("PATH", "")])
    env["YOWASP_CACHE_DIR"] = str(yowasp_cache_dir())
    env.update(extra or {})
    return env


def fusesoc_cmd() -> list[str]:
    """The ``fusesoc`` command of this environment."""
    exe = venv_bin() / "fusesoc"
    return [str(exe)] if exe.exists() else ["fusesoc"]


def work_root(build_root: Path, target: str) -> Path:
    """FuseSoC's work folder of a flow-API ``target`` (``BUILD/<build name>/<target>``)."""
    return build_root / core_build_name() / target


def core_vlnv() -> str:
    """The ``name:`` of ``fusesoc.core``, vendor:library:name:version
    (``lwfc:accel:lwfc:0.1.0``)."""
    for line in CORE_FILE.read_text().splitlines():
        if line.startswith("name:"):
            return line.split(":", 1)[1].strip()
    raise LwfcError(f"{CORE_FILE}: no name line")


def core_version() -> str:
    """The version part of :func:`core_vlnv` (``0.1.0``)."""
    return core_vlnv().split(":")[-1]


def core_build_name() -> str:
    """FuseSoC's sanitized core name (``lwfc_accel_lwfc_0.1.0``): the work folder under the
    build root, and the base name Edalize gives its outputs (the Icarus executable, the Vivado
    project script, the bitstream)."""
    return core_vlnv().lstrip(":").replace(":", "_")


def load_core() -> dict[str, Any]:
    """``fusesoc.core`` as a dict (the CAPI2 header line is a YAML comment-free tag)."""
    import yaml

    return yaml.safe_load(CORE_FILE.read_text().split("\n", 1)[1])


def target_generator_params(target: str) -> dict[str, Any]:
    """Parameters of the ``lwfc`` generator instance that ``target`` uses."""
    core = load_core()
    tgt = core.get("targets", {}).get(target)
    if tgt is None:
        raise LwfcError(f"fusesoc.core has no target {target!r}")
    for name in tgt.get("generate", []):
        gen = core.get("generate", {}).get(name, {})
        if gen.get("generator") == "lwfc_gen":
            return dict(gen.get("parameters", {}))
    return {}


def target_plan(board: Board, bundle: Any) -> Any:
    """The :class:`lwfc_hw.plan.CorePlan` ``bundle`` gets in ``board``'s build: its target's
    generator parameters read by :func:`lwfc_hw.plan.plan_kwargs`, as the generator reads them.

    Raises:
        LwfcError: the bundle cannot be elaborated with those parameters.
    """
    from lwfc_hw.plan import plan_for_bundle, plan_kwargs

    params = target_generator_params(board.name)
    try:
        return plan_for_bundle(bundle, **plan_kwargs(params, board.family))
    except ValueError as exc:
        raise LwfcError(f"bundle {bundle.name!r} cannot be built for the {board.name}: {exc}") \
            from None


def run_fusesoc(
    target: str,
    *,
    build_root: Path,
    env: dict[str, str] | None = None,
    args: list[str] | None = None,
    params: list[str] | None = None,
    timeout: float = 1800.0,
) -> tuple[subprocess.CompletedProcess[str], float]:
    """``fusesoc run --build-root BUILD ARGS --target=TARGET lwfc PARAMS`` in the repository
    (whose ``fusesoc.conf`` names the library) with :func:`tool_env`; ``args`` are run options
    (``--setup``), ``params`` the core's parameters (``--N=5``). Returns the completed process
    (output captured) and its wall time."""
    cmd = [*fusesoc_cmd(), "run", "--build-root", str(build_root), *(args or []),
           f"--target={target}", CORE_NAME, *(params or [])]
    t0 = time.monotonic()
    try:
        res = subprocess.run(cmd, cwd=REPO, env=tool_env(env), capture_output=True, text=True,
                             timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise LwfcError(f"fusesoc target {target} timed out after {timeout:.0f} s") from None
    except FileNotFoundError:
        raise LwfcError("fusesoc not found: run 'bash scripts/install.sh'") from None
    return res, time.monotonic() - t0


def generator_error(output: str) -> str | None:
    """The one-line error that ``lwfc_gen.py`` printed, if it failed."""
    for line in output.splitlines():
        if line.startswith("lwfc_gen: error: "):
            return line[len("lwfc_gen: error: "):]
    return None
