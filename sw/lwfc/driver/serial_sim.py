"""The serial driver against a board top's RTL: ``lwfc_serial`` (bridge + core) in Verilator.

* :func:`build_harness` compiles ``hw/tb/tb_serial.cpp`` with a design whose top has the
  UART pins (``clk``, ``rst``, ``rx``, ``tx``), cached by the hash of every source, the top
  and its parameters (like :mod:`lwfc_hw.sim`), with a timeout;
* :func:`prepare_serial` converts ``lwfc_serial`` for a plan, clock, baud and built-in
  parameter hash (``lwfc_hw.serial.convert_serial``), cached by plan and sources;
* :class:`HarnessProcess` runs a built harness in a folder holding the ``$readmemh`` images
  and gives its ``lwfcsim://`` URL (:mod:`lwfc.driver.protocol_lwfcsim`);
* :func:`open_serial_sim` does all of it for a board - the plan, clock and baud of its
  bitstream (``fusesoc.core`` target parameters, ``deploy/boards/NAME.json``) - and returns a
  :class:`~lwfc.driver.serial.SerialAccelerator` on it, the very driver a board uses.

Simulated time advances only while the driver reads (lock step), so its timeouts and the
``images_per_s`` it reports are simulated seconds at the board's clock and baud.
"""

from __future__ import annotations

import contextlib
import hashlib
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from lwfc_hw import link
from lwfc_hw.plan import CorePlan
from lwfc_hw.sim import cache_root, cached_folder, plan_key, primitive_models, publish

from ..bundle import Bundle, load_bundle
from ..errors import LwfcError
from .errors import SimulationError
from .faults import FaultConfig
from .serial import SerialAccelerator, open_port, plan_options_of

HW_DIR = Path(__file__).resolve().parents[3] / "hw"
HARNESS = HW_DIR / "tb" / "tb_serial.cpp"
#: Wall seconds to compile a harness, and to start one.
BUILD_TIMEOUT = 1200.0
START_TIMEOUT = 60.0


def _run(cmd: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        raise SimulationError(f"{cmd[0]} timed out after {timeout:.0f} s") from None
    except FileNotFoundError:
        raise SimulationError(f"{cmd[0]} not found: install Verilator (scripts/install.sh)") \
            from None


def build_harness(sources: Sequence[Path], top: str, include: Path,
                  params: dict[str, int] | None = None, timeout: float = BUILD_TIMEOUT,
                  cache: Path | None = None) -> Path:
    """Compile the harness for ``top`` (the design ``sources`` and the models of the vendor
    primitives they instantiate, ``include`` for its headers, ``params`` as ``-G``
    overrides); return the executable. Cached under ``cache`` (default
    :func:`lwfc_hw.sim.cache_root`) by the hash of everything that goes into it."""
    params = dict(params or {})
    sources = list(sources)
    for model in primitive_models("".join(Path(p).read_text() for p in sources)):
        if model not in sources:
            sources.append(model)  # ECP5 MULT18X18D / DP16KD instances
    h = hashlib.sha256(repr((top, sorted(params.items()))).encode())
    for p in [HARNESS, *sources, *sorted(Path(include).glob("*.vh"))]:
        h.update(Path(p).name.encode())
        h.update(Path(p).read_bytes())
    root = Path(cache or cache_root())
    bdir = root / f"serial-{top}-{h.hexdigest()[:16]}"
    exe = bdir / "Vtb_serial"
    if exe.exists():
        return exe
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="tmp-serial-", dir=root))
    try:
        cmd = ["verilator", "--cc", "--exe", "--build", "-O2", "--x-assign", "fast",
               "--x-initial", "fast", "-Wno-fatal", "-Wno-lint", "-Wno-style",
               "--top-module", top, "--prefix", "Vtop", f"-I{include}", "--Mdir",
               str(tmp / "obj"), "-o", "Vtb_serial", "-j", "2",
               *(f"-G{k}={v}" for k, v in params.items()),
               *(str(s) for s in sources), str(HARNESS)]
        res = _run(cmd, tmp, timeout)
        built = tmp / "obj" / "Vtb_serial"
        if res.returncode != 0 or not built.exists():
            raise SimulationError(f"building the serial harness failed:\n"
                                  f"{res.stdout[-2000:]}{res.stderr[-2000:]}")
        publish(built, exe)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return exe


def built_in_hash(bundle: Any, plan: CorePlan) -> int:
    """The parameter hash a bitstream of ``plan`` reports before any load: ``bundle``'s
    (:func:`lwfc_hw.link.bundle_params_hash`), or 0 when some memory starts empty (SPRAM,
    loaded over the link; the DP16KD instances and inferred memories hold the bundle)."""
    return 0 if plan.spram_mems else link.bundle_params_hash(bundle, plan)


def prepare_serial(plan: CorePlan, clk_hz: int, baud: int, cache: Path | None = None,
                   hport_reg: bool = True, bundle: Any = None, fifo_depth: int = 0) -> Path:
    """``lwfc_serial.v`` + ``lwfc_core_defs.vh`` for ``plan`` at ``clk_hz`` / ``baud``
    (``hport_reg``: see ``lwfc_hw.serial.lwfc_serial``, False for iCE40 boards), converted
    once into a cache folder. ``bundle``: the DP16KD instances (``plan.prim_mems``) get its
    contents as their INITVALs, as in the bitstream, and the bridge reports
    :func:`built_in_hash` until a load; without it they start empty and it reports 0.
    ``fifo_depth``: the bridge's input FIFO (a board's ``uart.fifo_depth``; 0: the default)."""
    try:
        from lwfc_hw.banking import fill_prim_contents
        from lwfc_hw.serial import convert_serial
    except ImportError as exc:
        raise SimulationError(f"the serial bridge RTL (lwfc_hw.serial) is missing: {exc}") \
            from None
    params_hash = 0 if bundle is None else built_in_hash(bundle, plan)
    name = (f"serial-rtl-{plan_key(plan)}-{clk_hz}-{baud}-{params_hash:08x}"
            + ("" if hport_reg else "-hw") + ("-init" if bundle is not None else "")
            + (f"-fifo{fifo_depth}" if fifo_depth else ""))

    def make(tmp: Path) -> None:
        convert_serial(plan, tmp, clk_hz, baud, params_hash=params_hash, hport_reg=hport_reg,
                       fifo_depth=fifo_depth)
        if bundle is not None:
            fill_prim_contents(bundle, plan, tmp / "lwfc_serial.v")

    return cached_folder(Path(cache or cache_root()), name, "lwfc_serial.v", make)


class HarnessProcess:
    """A running harness (one connection). :attr:`url` is its ``lwfcsim://`` URL; the
    folder ``run_dir`` (``$readmemh`` images) is removed on :meth:`stop` unless kept."""

    def __init__(self, exe: Path, run_dir: Path, clk_hz: int, baud: int, *,
                 keep: bool = False, start_timeout: float = START_TIMEOUT) -> None:
        self.run_dir = Path(run_dir)
        self.keep = keep
        self.timing = link.uart_timing(clk_hz, baud)
        self.log = self.run_dir / "tb_serial.log"
        self._log = open(self.log, "w")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            [str(exe), f"--divisor={self.timing.divisor}", f"--clk-hz={clk_hz}"],
            cwd=self.run_dir, stdout=subprocess.PIPE, stderr=self._log, text=True)
        assert self.proc.stdout is not None
        deadline = time.monotonic() + start_timeout
        line = ""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if ready:
                line = self.proc.stdout.readline()
                break
            if self.proc.poll() is not None:
                break
        if not line.startswith("PORT "):
            self.stop()
            raise SimulationError(f"the serial harness did not start within "
                                  f"{start_timeout:g} s: {self._tail()}")
        self.port = int(line.split()[1])

    def url(self, faults: FaultConfig | None = None) -> str:
        """``lwfcsim://127.0.0.1:PORT`` with the fault options in the query."""
        q = urlencode(faults.as_dict()) if faults is not None and faults.active else ""
        return f"lwfcsim://127.0.0.1:{self.port}" + (f"?{q}" if q else "")

    def _tail(self) -> str:
        with contextlib.suppress(OSError):
            self._log.flush()
            return self.log.read_text()[-1000:] or "no output"
        return "no output"

    def stop(self, timeout: float = 10.0) -> None:
        """Wait for the harness to exit (it does when its connection closes), else kill it."""
        if self.proc.poll() is None:
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        if self.proc.stdout:
            self.proc.stdout.close()
        self._log.close()
        if not self.keep:
            shutil.rmtree(self.run_dir, ignore_errors=True)


def board_build(board_name: str, bundle: Bundle | None = None) -> dict[str, Any]:
    """What ``lwfc build --board NAME`` builds: ``board``, ``bundle`` (the target's, or
    ``bundle``), ``plan`` (the target's lanes, SPRAM and port options), ``clk_hz``,
    ``baud``, ``params_hash`` (the built-in parameters' hash; 0 when some memory starts
    empty), ``plan_options``."""
    from .. import fpga

    board = fpga.get_board(board_name)
    if board.flow != "open" or "baud" not in board.uart:
        raise LwfcError(f"board {board.name} has no serial link (open-flow boards: "
                        f"{', '.join(b for b, x in fpga.boards().items() if x.flow == 'open')})")
    params = fpga.target_generator_params(board.name)
    if bundle is None:
        bundle = load_bundle(fpga.REPO / str(params.get("bundle", "deploy/models/mnist-dense")))
    plan = fpga.target_plan(board, bundle)
    return {"board": board, "bundle": bundle, "plan": plan,
            "plan_options": [plan_options_of(params, board.family)],
            "clk_hz": round(board.clock_mhz * 1e6), "baud": int(board.uart["baud"]),
            "params_hash": built_in_hash(bundle, plan)}


def open_serial_sim(board_name: str, *, faults: FaultConfig | None = None,
                    timeout: float | None = None, keep: Path | None = None,
                    build_timeout: float = BUILD_TIMEOUT,
                    bundle: Any = None) -> SerialAccelerator:
    """The board ``board_name``'s bitstream in simulation (its bundle's parameters built in,
    SPRAM empty), behind a :class:`SerialAccelerator`; with ``bundle``, the bitstream built
    for that bundle (``lwfc build --board NAME --bundle ...``). ``faults``: fault injection on the
    simulated wire; ``timeout``: the driver's read timeout (simulated seconds); ``keep``:
    keep the run folder there. Closing the driver stops the simulator."""
    from lwfc_hw.banking import write_hex_files

    b = board_build(board_name, bundle)
    rtl = prepare_serial(b["plan"], b["clk_hz"], b["baud"],
                         hport_reg=b["board"].family != "ice40", bundle=b["bundle"],
                         fifo_depth=b["board"].fifo_depth)
    exe = build_harness([rtl / "lwfc_serial.v"], "lwfc_serial", rtl, timeout=build_timeout)
    run_dir = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="lwfc-serial-sim-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    write_hex_files(b["bundle"], b["plan"], run_dir)
    proc = HarnessProcess(exe, run_dir, b["clk_hz"], b["baud"], keep=keep is not None)
    try:
        port = open_port(proc.url(faults), b["baud"])
    except BaseException:
        proc.stop()
        raise
    port.on_close = proc.stop
    port.harness = proc
    return SerialAccelerator(port, timeout=timeout, plan_options=b["plan_options"],
                             name=f"{board_name} (simulated)")
