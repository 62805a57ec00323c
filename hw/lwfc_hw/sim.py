"""RTL simulation of ``lwfc_core`` with Icarus Verilog or Verilator, checked against the golden
model.

Flow: :func:`prepare` converts the core for a plan (cached by plan), :func:`build` compiles
the Verilog testbench ``hw/tb/tb_lwfc.v`` with the core (cached by the sources' hash),
:func:`run` streams images (hex beats) through it in a run folder holding the hex memory
images, and :func:`simulate` does all of it for a bundle and compares every logit with
:func:`lwfc.golden.forward`. Every subprocess has a timeout.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .banking import hex_lines, memory_images, to_unsigned
from .convert import convert_core
from .plan import CorePlan

TB_DIR = Path(__file__).resolve().parent.parent / "tb"
TB_FILE = TB_DIR / "tb_lwfc.v"
#: Simulation model of the ECP5 DSP primitive (cores planned with ``dsp_prims="ecp5"``).
MULT18_MODEL = TB_DIR / "ecp5_mult18x18d.v"
#: Simulation model of the ECP5 block RAM (cores planned with ``bram_prims="ecp5"``).
DP16KD_MODEL = TB_DIR / "ecp5_dp16kd.v"
SIMULATORS = ("icarus", "verilator")
#: Modules that never shape generated Verilog (left out of the cache key).
NOT_RTL = ("sim.py", "cycles.py", "testing.py")


class SimError(RuntimeError):
    """The simulator failed to build or run, or its log is malformed."""


@dataclass
class SimResult:
    """What one simulation run produced.

    Attributes:
        classes: int64 (N,) predicted classes from the RTL.
        logits: int64 (N, classes) logits from the RTL.
        t_in: int64 (N,) cycle at which each image's first beat was accepted.
        t_out: int64 (N,) cycle at which each image's first result beat was transferred.
        cycles: total simulated cycles.
        seconds: wall time of the simulator run.
        log: the simulator's stdout.
    """

    classes: np.ndarray
    logits: np.ndarray
    t_in: np.ndarray
    t_out: np.ndarray
    cycles: int
    seconds: float
    log: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def cache_root() -> Path:
    """Where converted cores and simulator builds are cached (``$LWFC_HW_CACHE`` or
    ``~/.cache/lwfc/hw``)."""
    env = os.environ.get("LWFC_HW_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "lwfc" / "hw"


def _run(cmd: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise SimError(f"{cmd[0]} timed out after {timeout:.0f} s") from exc
    except FileNotFoundError as exc:
        raise SimError(f"{cmd[0]} not found: install it (see scripts/install.sh)") from exc


def _run_watched(cmd: list[str], cwd: Path, timeout: float, results: Path, n: int,
                 progress: Callable[[int, int], None]) -> subprocess.CompletedProcess[str]:
    """:func:`_run` that reports the result lines of ``results`` as they appear."""
    with tempfile.TemporaryFile("w+") as so, tempfile.TemporaryFile("w+") as se:
        try:
            proc = subprocess.Popen(cmd, cwd=cwd, stdout=so, stderr=se, text=True)
        except FileNotFoundError as exc:
            raise SimError(f"{cmd[0]} not found: install it (see scripts/install.sh)") from exc
        deadline = time.monotonic() + timeout
        done = offset = 0
        while True:
            try:
                proc.wait(timeout=1.0)
                break
            except subprocess.TimeoutExpired:
                if time.monotonic() > deadline:
                    proc.kill()
                    proc.wait()
                    raise SimError(f"{cmd[0]} timed out after {timeout:.0f} s") from None
            if results.exists():
                with open(results, "rb") as fh:
                    fh.seek(offset)
                    chunk = fh.read()
                cut = chunk.rfind(b"\n") + 1
                offset += cut
                done += chunk[:cut].count(b"O ")
                progress(min(done, n), n)
        so.seek(0)
        se.seek(0)
        progress(n if proc.returncode == 0 else done, n)
        return subprocess.CompletedProcess(cmd, proc.returncode, so.read(), se.read())


def plan_key(plan: CorePlan) -> str:
    """A short stable hash of everything the RTL depends on: the plan and the RTL sources."""
    h = hashlib.sha256(
        repr((plan.lanes, plan.pixels_per_beat, plan.engines, plan.fmems, plan.mems,
              plan.shared_port, plan.dsp_prims, plan.bram_prims)).encode()
    )
    # every module of the package that can shape generated Verilog (the core's and the
    # wrappers' generators share this key), i.e. all but the pure-Python helpers
    # (the layer types' modules in lwfc_hw/layers/ too)
    pkg = Path(__file__).resolve().parent
    for src in sorted(pkg.rglob("*.py")):
        if src.relative_to(pkg).as_posix() not in NOT_RTL:
            h.update(src.read_bytes())
    return h.hexdigest()[:16]


def cached_folder(root: Path, name: str, marker: str, make: Callable[[Path], object]) -> Path:
    """``root / name``, made once by ``make(tmp)`` in a temporary folder under ``root`` and
    renamed into place when ``marker`` (a file ``make`` writes) is there: atomic, so
    concurrent processes (pytest-xdist workers) converting the same thing are harmless."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    out = root / name
    if not (out / marker).exists():
        tmp = Path(tempfile.mkdtemp(prefix=f"tmp-{name[:24]}-", dir=root))
        try:
            make(tmp)
            if not (out / marker).exists():
                shutil.rmtree(out, ignore_errors=True)
                try:
                    tmp.rename(out)
                except OSError:  # another process won the race: its copy is identical
                    if not (out / marker).exists():
                        raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def publish(built: Path, exe: Path) -> None:
    """Copy the executable ``built`` (in a temporary build folder) to ``exe`` atomically, so
    a concurrent build of the same sources (another pytest-xdist worker) is harmless."""
    exe.parent.mkdir(parents=True, exist_ok=True)
    staged = exe.parent / f".{exe.name}.{os.getpid()}"
    shutil.copy2(built, staged)
    os.replace(staged, exe)


def prepare(plan: CorePlan, root: Path | None = None) -> Path:
    """Convert the core for ``plan`` into a cache folder (once); return the folder."""
    return cached_folder(Path(root or cache_root()), f"rtl-{plan_key(plan)}", "lwfc_core.v",
                         lambda tmp: convert_core(plan, tmp))


def _sources_hash(rtl_dir: Path, simulator: str) -> str:
    h = hashlib.sha256(simulator.encode())
    for p in (rtl_dir / "lwfc_core.v", rtl_dir / "lwfc_core_defs.vh", TB_FILE, MULT18_MODEL,
              DP16KD_MODEL):
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def primitive_models(verilog: str) -> list[Path]:
    """The simulation models of the vendor primitives that the Verilog text ``verilog``
    instantiates: MULT18X18D (``CorePlan.dsp_prims``) and DP16KD (``CorePlan.bram_prims``)."""
    out = []
    if "MULT18X18D #(" in verilog:
        out.append(MULT18_MODEL)
    if "DP16KD #(" in verilog:
        out.append(DP16KD_MODEL)
    return out


def build(
    rtl_dir: Path, simulator: str = "icarus", timeout: float = 900.0, trace: str = ""
) -> Path:
    """Compile testbench + core with ``simulator``; return the executable (vvp file or
    Verilator binary). Cached next to the RTL by the hash of the sources. ``trace``: ``"vcd"``
    or ``"fst"`` builds Verilator with waveform support (Icarus always has it)."""
    if simulator not in SIMULATORS:
        raise SimError(f"unknown simulator {simulator!r} (use icarus or verilator)")
    trace = trace if simulator == "verilator" else ""
    tag = f"{simulator}-{trace}" if trace else simulator
    key = _sources_hash(rtl_dir, tag)
    bdir = rtl_dir / f"build-{tag}-{key}"
    exe = bdir / ("sim.vvp" if simulator == "icarus" else "Vtb_lwfc")
    if exe.exists():
        return exe
    tmp = Path(tempfile.mkdtemp(prefix=f"build-{simulator}-", dir=rtl_dir))
    sources = [str(TB_FILE), str(rtl_dir / "lwfc_core.v")]
    sources += [str(m) for m in primitive_models((rtl_dir / "lwfc_core.v").read_text())]
    try:
        if simulator == "icarus":
            cmd = ["iverilog", "-g2012", "-Wall", "-I", str(rtl_dir), "-s", "tb_lwfc",
                   "-o", str(tmp / "sim.vvp"), *sources]
            res = _run(cmd, tmp, timeout)
        else:
            cmd = ["verilator", "--binary", "-O2", "--x-assign", "fast", "--x-initial", "fast",
                   "-Wno-fatal", "-Wno-lint", "-Wno-style", "-j", "2",
                   *({"vcd": ["--trace"], "fst": ["--trace-fst"]}.get(trace, [])),
                   "-I" + str(rtl_dir), "--top-module", "tb_lwfc", "--Mdir", str(tmp / "obj"),
                   "-o", str(tmp / "Vtb_lwfc"), *sources]
            res = _run(cmd, tmp, timeout)
        target = tmp / exe.name
        if res.returncode != 0 or not target.exists():
            raise SimError(f"{simulator} build failed:\n{res.stdout[-3000:]}{res.stderr[-3000:]}")
        publish(target, exe)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return exe


def write_images(images: np.ndarray, pixels_per_beat: int, path: Path) -> None:
    """Write uint8 images (N, n_in) as input beats, one hex word per line (pixel 0 in the
    least significant byte)."""
    n, f = images.shape
    beats = -(-f // pixels_per_beat)
    padded = np.zeros((n, beats * pixels_per_beat), dtype=np.uint8)
    padded[:, :f] = images
    words = padded.reshape(n * beats, pixels_per_beat)[:, ::-1]
    hexed = [w.tobytes().hex() for w in words]
    path.write_text("\n".join(hexed) + "\n")


def write_memories(images: dict[str, np.ndarray], plan: CorePlan, run_dir: Path) -> None:
    """Write the ``$readmemh`` files of ``images`` (name -> values) into ``run_dir``."""
    for m in plan.mems:
        (run_dir / m.hexfile).write_text(hex_lines(m, images[m.name]))


def write_host_program(images: dict[str, np.ndarray], plan: CorePlan, path: Path) -> int:
    """Write ``sel addr data expect`` lines loading ``images`` through the host port."""
    lines = []
    for m in plan.mems:
        vals = np.asarray(images[m.name], dtype=np.int64)
        data = to_unsigned(vals, m.width)
        expect = to_unsigned(vals, 32)
        for a in range(m.depth):
            lines.append(f"{m.sel:x} {a:x} {int(data[a]):x} {int(expect[a]):x}")
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


def parse_results(path: Path, n: int, classes: int) -> tuple[np.ndarray, ...]:
    """Read the testbench log into (classes, logits, t_in, t_out)."""
    cls = np.full(n, -1, dtype=np.int64)
    logits = np.zeros((n, classes), dtype=np.int64)
    t_in = np.full(n, -1, dtype=np.int64)
    t_out = np.full(n, -1, dtype=np.int64)
    for line in path.read_text().splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "I":
            t_in[int(parts[1])] = int(parts[2])
        elif parts[0] == "O":
            k = int(parts[1])
            t_out[k] = int(parts[2])
            cls[k] = int(parts[3])
            vals = [int(v) for v in parts[4:]]
            if len(vals) != classes:
                raise SimError(f"result line of image {k} has {len(vals)} logits")
            logits[k] = vals
    if (t_out < 0).any():
        raise SimError(f"the simulation logged {int((t_out >= 0).sum())} of {n} results")
    return cls, logits, t_in, t_out


def run(
    exe: Path,
    plan: CorePlan,
    images: np.ndarray,
    run_dir: Path,
    *,
    memories: dict[str, np.ndarray] | None = None,
    host_load: dict[str, np.ndarray] | None = None,
    stall: int = 0,
    seed: int = 1,
    vcd: Path | None = None,
    timeout: float = 3600.0,
    max_cycles: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SimResult:
    """Run a built simulation on ``images`` (uint8 (N, n_in)) in ``run_dir``.

    ``progress(done, n)`` is called about once a second with the images whose results are
    out (the testbench flushes each result line).

    ``memories``: contents for the ``$readmemh`` files (written into ``run_dir``); None keeps
    whatever hex files are there. ``host_load``: contents loaded through the host port before
    streaming (and read back). ``stall``: percentage of cycles with in_valid / out_ready low.
    """
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    images = np.ascontiguousarray(images, dtype=np.uint8)
    n = len(images)
    if memories is not None:
        write_memories(memories, plan, run_dir)
    write_images(images, plan.pixels_per_beat, run_dir / "images.hex")
    out = run_dir / "results.txt"
    if out.exists():
        out.unlink()
    if max_cycles is None:
        max_cycles = min(2**31 - 1, 200_000 + 4 * n * (plan.macs + 2000) * (1 + stall))
    args = [f"+IMAGES={run_dir / 'images.hex'}", f"+OUT={out}", f"+N={n}",
            f"+STALL={stall}", f"+SEED={seed}", f"+MAXCYCLES={max_cycles}"]
    if host_load is not None:
        write_host_program(host_load, plan, run_dir / "host.txt")
        args.append(f"+WEIGHTS={run_dir / 'host.txt'}")
    if vcd is not None:
        args.append(f"+VCD={vcd}")
    fst = vcd is not None and Path(vcd).suffix == ".fst"
    cmd = (["vvp", "-n", str(exe)] + (["-fst"] if fst else []) if exe.suffix == ".vvp"
           else [str(exe)]) + args
    t0 = time.perf_counter()
    res = _run(cmd, run_dir, timeout) if progress is None else \
        _run_watched(cmd, run_dir, timeout, out, n, progress)
    seconds = time.perf_counter() - t0
    log = res.stdout + res.stderr
    if res.returncode != 0 or "FAIL" in log or "DONE" not in log:
        raise SimError(f"simulation failed (exit {res.returncode}):\n{log[-3000:]}")
    cls, logits, t_in, t_out = parse_results(out, n, plan.classes)
    cycles = 0
    for line in log.splitlines():
        if line.startswith("DONE"):
            cycles = int(line.split(",")[1].split()[0])
    return SimResult(cls, logits, t_in, t_out, cycles, seconds, log)


def simulate(
    bundle: Any,
    plan: CorePlan,
    images: np.ndarray,
    simulator: str = "icarus",
    *,
    run_dir: Path | None = None,
    vcd: Path | None = None,
    timeout: float = 3600.0,
    cache: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SimResult:
    """Convert (cached), build (cached) and run ``bundle`` on ``images``.

    ``cache``: folder for converted cores and builds (default :func:`cache_root`);
    ``progress``: see :func:`run`.
    """
    rtl = prepare(plan, cache)
    trace = "" if vcd is None else ("fst" if Path(vcd).suffix == ".fst" else "vcd")
    exe = build(rtl, simulator, trace=trace)
    mems = memory_images(bundle, plan)
    # memories without initial contents in this RTL are loaded through the host port
    host = mems if plan.spram_mems or plan.prim_mems else None
    if run_dir is None:
        with tempfile.TemporaryDirectory(prefix="lwfc-sim-") as tmp:
            return run(exe, plan, images, Path(tmp), memories=mems, host_load=host, vcd=vcd,
                       timeout=timeout, progress=progress)
    return run(exe, plan, images, run_dir, memories=mems, host_load=host, vcd=vcd,
               timeout=timeout, progress=progress)
