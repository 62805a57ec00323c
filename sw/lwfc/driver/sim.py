"""Simulation backend: the board's driver code path against the RTL of ``lwfc_axi``.

:class:`SimDevice` is a :class:`pynq.Device` (capability ``REGISTER_RW``) standing in for a
PYNQ board. Beneath it:

* the converted ``lwfc_axi`` runs in a cocotb simulation (Icarus by default) in a child
  process, :mod:`lwfc.driver._simserver`, connected by a Unix socket; register reads and writes
  of the IP's address range become AXI4-Lite transactions there;
* buffers from ``pynq.allocate(..., target=device)`` are :class:`pynq.buffer.PynqBuffer` s
  backed by a separate "DDR" copy, so a missing ``flush()`` / ``invalidate()`` shows up as on
  a board with cached buffers;
* an AXI DMA register model (simple mode, PG021 offsets) serves ``pynq.lib.dma.DMA``: a write
  of ``MM2S_LENGTH`` / ``S2MM_LENGTH`` starts a transfer between that DDR copy and the
  simulated ``s_axis`` / ``m_axis``; reading ``DMASR`` of a busy channel lets the simulation run
  (up to :attr:`SimDevice.poll_cycles` cycles or until a transfer completes). Decode errors
  (an address outside every buffer), length 0 and results longer than the receive buffer set
  the DMA's error bits like the real one.

:func:`open_sim` builds the overlay description a ``.hwh`` would give (hierarchy ``lwfc_accel``
with ``lwfc`` and ``dma``) and lets PYNQ's own driver assignment bind it, so the objects are the
ones ``pynq.Overlay`` would create on the board: :class:`~lwfc.driver.accel.LwfcAccelerator`
holding :class:`~lwfc.driver.ip.LwfcIP` and ``pynq.lib.dma.DMA``.

Simulated time advances only while a request runs (lock step); every request has a timeout,
the simulator is stopped on :meth:`SimDevice.stop_simulation`, at interpreter exit, or when
the host goes away.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import socket
import tempfile
import time
import weakref
from collections.abc import Mapping
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
import pynq.lib.dma  # noqa: F401  (registers the DMA driver with PYNQ)
from pynq import Device
from pynq.buffer import PynqBuffer
from pynq.overlay import _complete_description

from lwfc_hw import regmap as R
from lwfc_hw.plan import CorePlan, plan_for_bundle

from ..bundle import Bundle, load_bundle
from .accel import LwfcAccelerator
from .errors import DriverError, SimulationError
from .ip import LwfcIP

#: Addresses of the simulated design (those of the Vivado block design in deploy/overlays).
IP_BASE = 0x4000_0000
DMA_BASE = 0x4040_0000
DMA_RANGE = 0x1_0000
#: Width of the simulated DMA's length register (c_sg_length_width; the block design's).
DMA_LENGTH_BITS = 26
#: Name of the hierarchy holding the IP and the DMA (as in the block design).
HIERARCHY = "lwfc_accel"
#: Slowest simulation speed assumed for request timeouts (cycles per second).
MIN_RATE = 500.0

# DMASR bits (PG021)
_HALTED, _IDLE, _INTERR, _SLVERR, _DECERR, _IOC, _ERRIRQ = 1, 2, 0x10, 0x20, 0x40, 0x1000, 0x4000


class _Channel:
    """Register state of one DMA channel (MM2S at 0x00, S2MM at 0x30)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.reset()

    def reset(self) -> None:
        self.cr = 0
        self.running = False
        self.idle = False
        self.busy = False
        self.err = 0
        self.irq = 0
        self.addr = 0
        self.addr_hi = 0
        self.length = 0
        self.remote = False  # the simulation side has this transfer

    @property
    def sr(self) -> int:
        return ((0 if self.running else _HALTED) | (_IDLE if self.idle else 0) | self.err
                | self.irq)

    def fail(self, bit: int) -> None:
        self.err |= bit
        self.irq |= _ERRIRQ
        self.running = False
        self.busy = False


class SimDevice(Device):
    """A PYNQ device whose PL is a cocotb simulation of ``lwfc_axi`` plus an AXI DMA model.

    Args:
        plan: the elaboration plan to build (conversion and compilation are cached).
        simulator: ``"icarus"`` (default) or ``"verilator"`` (needs a cocotb-capable
            Verilator >= 5.036 on PATH).
        memories: initial contents of the parameter RAMs (name -> values, see
            :func:`lwfc_hw.banking.memory_images`); default zeros, a device that has never been
            loaded.
        stall: probability per cycle that the DMA model pauses a stream (random backpressure).
        seed: seed of those pauses.
        keep: keep the simulation folder (log, hex files) here instead of a temporary one.
        poll_cycles: cycles a ``DMASR`` read of a busy channel may run the simulation.
        read_gap: idle cycles after each register read (the PS's access latency), so that
            status polling loops advance simulated time.
        start_timeout: seconds to build and start the simulator.
    """

    def __init__(self, plan: CorePlan, *, simulator: str = "icarus",
                 memories: Mapping[str, np.ndarray] | None = None, stall: float = 0.0,
                 seed: int = 1, keep: str | os.PathLike | None = None,
                 poll_cycles: int = 20_000, read_gap: int = 32,
                 start_timeout: float = 600.0) -> None:
        super().__init__("lwfc-sim")
        self.capabilities = {"REGISTER_RW": True}
        self.plan = plan
        self.simulator = simulator
        self.poll_cycles = poll_cycles
        self.read_gap = read_gap
        #: Fault injection for tests: ``decode_error`` (the next DMA transfers fail with
        #: DMADecErr), ``s2mm_stall`` (the DMA never accepts results), ``mm2s_truncate`` (image
        #: streams end early), ``corrupt_weights`` (window writes get a bit flipped).
        self.faults: set[str] = set()
        #: Seconds a driver wait may take on this device (LwfcAccelerator.timeout).
        self.default_timeout = 600.0
        self.requests = 0
        self.cycle = 0
        self._mem: dict[int, tuple[int, bytearray]] = {}
        self._next_bo = 1
        self._next_phys = 0x1000_0000
        self._ch = {"mm2s": _Channel("mm2s"), "s2mm": _Channel("s2mm")}
        self._conn: Connection | None = None
        self._proc: Any = None
        self._own_dir = keep is None
        self.run_dir = Path(keep) if keep is not None else Path(
            tempfile.mkdtemp(prefix="lwfc-simdev-"))
        self._start(memories, stall, seed, start_timeout)
        # also runs at interpreter exit
        self._finalizer = weakref.finalize(self, _shutdown, self._conn, self._proc,
                                           self.run_dir if self._own_dir else None)

    # ------------------------------------------------------------------ simulator process
    def _start(self, memories: Mapping[str, np.ndarray] | None, stall: float, seed: int,
               timeout: float) -> None:
        from lwfc_hw import axi_sim

        if not axi_sim.simulator_available(self.simulator):
            raise SimulationError(f"{self.simulator} is not installed (see scripts/install.sh)")
        try:
            build = axi_sim.build(axi_sim.prepare_axi(self.plan), self.simulator)
        except Exception as exc:
            raise SimulationError(f"building lwfc_axi for the simulation failed: {exc}") from exc
        self.run_dir.mkdir(parents=True, exist_ok=True)
        axi_sim.write_memories(self.plan, self.run_dir, memories)
        sock_dir = Path(tempfile.mkdtemp(prefix="lwfc-sock-"))  # short path (AF_UNIX limit)
        path = sock_dir / "s"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(path))
            listener.listen(1)
            listener.settimeout(0.5)
            env = {"LWFC_SIM_SOCKET": str(path), "LWFC_SIM_STALL": str(stall),
                   "LWFC_SIM_SEED": str(seed)}
            self._proc = axi_sim.spawn_cocotb(build, ["lwfc.driver._simserver"], self.run_dir,
                                              env=env, simulator=self.simulator)
            deadline = time.monotonic() + timeout
            while True:
                try:
                    sock, _ = listener.accept()
                    break
                except TimeoutError:
                    if self._proc.poll() is not None:
                        raise SimulationError(
                            f"the simulator exited ({self._proc.returncode}) before connecting:"
                            f" {self._log_tail()}") from None
                    if time.monotonic() > deadline:
                        axi_sim.kill_group(self._proc)
                        raise SimulationError(
                            f"the simulator did not connect within {timeout:g} s") from None
        finally:
            listener.close()
            shutil.rmtree(sock_dir, ignore_errors=True)
        sock.settimeout(None)
        self._conn = Connection(sock.detach())
        hello = self._receive(120.0)
        if hello[0] != "ready":
            raise SimulationError(f"unexpected greeting from the simulator: {hello!r}")

    def _log_tail(self, n: int = 1500) -> str:
        log = self.run_dir / "cocotb.log"
        return log.read_text(errors="replace")[-n:] if log.exists() else "(no log)"

    def _receive(self, timeout: float) -> tuple:
        assert self._conn is not None
        if not self._conn.poll(timeout):
            self.stop_simulation()
            raise SimulationError(f"the simulator did not answer within {timeout:g} s")
        try:
            return self._conn.recv()
        except (EOFError, OSError) as exc:
            raise SimulationError(f"the simulator went away ({exc}): {self._log_tail()}") \
                from None

    def request(self, msg: tuple, cycles: int = 0) -> Any:
        """Send one request to the simulation and return its result; ``cycles`` estimates the
        simulated cycles it takes (for the timeout)."""
        if self._conn is None:
            raise SimulationError("the simulation has been stopped")
        try:
            self._conn.send(msg)
        except OSError as exc:
            raise SimulationError(f"the simulator went away ({exc}): {self._log_tail()}") \
                from None
        self.requests += 1
        status, value = self._receive(120.0 + cycles / MIN_RATE)
        if status != "ok":
            raise SimulationError(f"simulation request {msg[0]!r} failed: {value}")
        return value

    def stop_simulation(self) -> None:
        """End the simulation (idempotent)."""
        conn, self._conn = self._conn, None
        finalizer = getattr(self, "_finalizer", None)
        if finalizer is not None:
            finalizer.detach()
        _shutdown(conn, self._proc, self.run_dir if self._own_dir else None)

    # ------------------------------------------------------------------ pynq.Device API
    def allocate(self, shape: Any, dtype: Any, **kwargs: Any) -> PynqBuffer:
        """A cacheable :class:`PynqBuffer` with its own "DDR" copy (``flush`` /
        ``invalidate`` move data between the two)."""
        buf = PynqBuffer(shape, dtype, device=self, device_address=self._next_phys,
                         bo=self._next_bo, coherent=False)
        size = max(buf.nbytes, 1)
        self._mem[self._next_bo] = (self._next_phys, bytearray(size))
        weakref.finalize(buf, self._mem.pop, self._next_bo, None)
        self._next_bo += 1
        self._next_phys += (size + 4095) // 4096 * 4096
        return buf

    def flush(self, bo: int, offset: int, ptr: int, size: int) -> None:
        """Host cache -> DDR."""
        ddr = self._mem[bo][1]
        ddr[offset : offset + size] = ctypes.string_at(ptr, size)

    def invalidate(self, bo: int, offset: int, ptr: int, size: int) -> None:
        """DDR -> host view."""
        ddr = self._mem[bo][1]
        ctypes.memmove(ptr, bytes(ddr[offset : offset + size]), size)

    def read_registers(self, address: int, length: int) -> bytes:
        """MMIO reads: the IP's range goes to the simulation, the DMA's to its model."""
        if IP_BASE <= address < IP_BASE + (1 << R.ADDR_BITS):
            n = max(1, length // 4)
            cycles = 8 * n + self.read_gap + (1 << R.WINDOW_ENTRY_BITS)
            return bytes(self.request(("read", address - IP_BASE, n, self.read_gap), cycles))[
                :length]
        if DMA_BASE <= address < DMA_BASE + DMA_RANGE:
            return self._dma_read(address - DMA_BASE).to_bytes(4, "little")[:length]
        raise DriverError(f"read of unmapped address 0x{address:x}")

    def write_registers(self, address: int, data: bytes) -> None:
        """MMIO writes (one word, or a block of words to consecutive offsets)."""
        data = bytes(data)
        if len(data) % 4:
            raise DriverError("register writes must be whole 32-bit words")
        if IP_BASE <= address < IP_BASE + (1 << R.ADDR_BITS):
            if "corrupt_weights" in self.faults and address - IP_BASE >= R.WINDOW_BASE:
                data = bytes([data[0] ^ 1]) + data[1:]  # a bit flipped on the way
            self.request(("write", address - IP_BASE, data), 4 * len(data))
            return
        if DMA_BASE <= address < DMA_BASE + DMA_RANGE:
            for i in range(0, len(data), 4):
                self._dma_write(address - DMA_BASE + i, int.from_bytes(data[i : i + 4], "little"))
            return
        raise DriverError(f"write of unmapped address 0x{address:x}")

    # ------------------------------------------------------------------ AXI DMA model
    def _locate(self, addr: int, length: int) -> tuple[bytearray, int] | None:
        for phys, ddr in self._mem.values():
            if phys <= addr and addr + length <= phys + len(ddr):
                return ddr, addr - phys
        return None

    def _dma_read(self, off: int) -> int:
        ch = self._ch["mm2s" if off < 0x30 else "s2mm"]
        reg = off - (0 if off < 0x30 else 0x30)
        if reg == 0x04:
            if ch.busy:
                self._dma_poll()
            return ch.sr
        return {0x00: ch.cr, 0x18: ch.addr, 0x1C: ch.addr_hi, 0x28: ch.length}.get(reg, 0)

    def _dma_write(self, off: int, value: int) -> None:
        ch = self._ch["mm2s" if off < 0x30 else "s2mm"]
        reg = off - (0 if off < 0x30 else 0x30)
        if reg == 0x00:
            if value & 0x4:  # soft reset: both channels, transfers dropped
                for c in self._ch.values():
                    c.reset()
                self.request(("dma_reset",), 4)
                return
            ch.cr = value & ~0x4
            ch.running = bool(value & 1)
            if not ch.running:
                ch.busy = False
        elif reg == 0x04:
            ch.irq &= ~(value & (_IOC | _ERRIRQ))
        elif reg == 0x18:
            ch.addr = value
        elif reg == 0x1C:
            ch.addr_hi = value
        elif reg == 0x28:
            self._dma_start(ch, value & ((1 << DMA_LENGTH_BITS) - 1))

    def _dma_start(self, ch: _Channel, length: int) -> None:
        if not ch.running:
            return  # the DMA ignores a length written while halted
        ch.length = length
        ch.idle = False
        if length == 0:
            ch.fail(_INTERR)
            return
        addr = ch.addr_hi << 32 | ch.addr
        where = self._locate(addr, length)
        if where is None or "decode_error" in self.faults:
            ch.fail(_DECERR)
            return
        ddr, off = where
        ch.busy = True
        ch.remote = False
        if ch.name == "mm2s":
            if "mm2s_truncate" in self.faults:  # a stream that ends early (TLAST too soon)
                length = max(4, length - 4 * max(1, length // 8))
            self.request(("mm2s", bytes(ddr[off : off + length])), 4)
            ch.remote = True
        elif "s2mm_stall" not in self.faults:
            self.request(("s2mm", length), 4)
            ch.remote = True

    def _dma_poll(self) -> None:
        mm2s, s2mm = self._ch["mm2s"], self._ch["s2mm"]
        watch_mm2s, watch_s2mm = mm2s.busy and mm2s.remote, s2mm.busy and s2mm.remote
        state = self.request(("poll", self.poll_cycles, watch_mm2s, watch_s2mm),
                             self.poll_cycles)
        self.cycle = state["cycle"]
        if watch_mm2s and not state["mm2s_busy"]:
            mm2s.busy, mm2s.idle = False, True
            mm2s.irq |= _IOC
        if watch_s2mm and state["s2mm_data"] is not None:
            data = state["s2mm_data"]
            if state["s2mm_overflow"]:
                s2mm.fail(_INTERR)
                return
            where = self._locate(s2mm.addr_hi << 32 | s2mm.addr, len(data))
            if where is None:
                s2mm.fail(_DECERR)
                return
            ddr, off = where
            ddr[off : off + len(data)] = data
            s2mm.length = len(data)
            s2mm.busy, s2mm.idle = False, True
            s2mm.irq |= _IOC

    # ------------------------------------------------------------------ overlay description
    def overlay_description(self) -> dict[str, Any]:
        """The hierarchy description a ``.hwh`` of the deploy/overlays block design gives."""
        b = self.plan.pixels_per_beat
        lwfc = {"type": R.VLNV, "fullpath": f"{HIERARCHY}/lwfc", "phys_addr": IP_BASE,
                "addr_range": 1 << R.ADDR_BITS, "parameters": {}, "registers": {},
                "interrupts": {}, "gpio": {}, "mem_id": "s_axi_control"}
        dma_params = {
            "c_include_sg": "0", "c_micro_dma": "0", "c_sg_length_width": str(DMA_LENGTH_BITS),
            "c_include_mm2s": "1", "c_include_s2mm": "1", "c_include_mm2s_dre": "0",
            "c_include_s2mm_dre": "0", "c_m_axi_mm2s_data_width": "32",
            "c_m_axi_s2mm_data_width": "32", "c_m_axis_mm2s_tdata_width": str(8 * b),
            "c_s_axis_s2mm_tdata_width": "32",
        }
        dma = {"type": "xilinx.com:ip:axi_dma:7.1", "fullpath": f"{HIERARCHY}/dma",
               "phys_addr": DMA_BASE, "addr_range": DMA_RANGE, "parameters": dma_params,
               "registers": {}, "interrupts": {}, "gpio": {}, "mem_id": "S_AXI_LITE"}
        hier = {"ip": {"lwfc": lwfc, "dma": dma}, "hierarchies": {}, "interrupts": {},
                "gpio": {}, "memories": {}, "fullpath": HIERARCHY}
        return _complete_description({}, {HIERARCHY: hier}, False, {}, self, None)


def _shutdown(conn: Connection | None, proc: Any, run_dir: Path | None) -> None:
    """Ask the simulation to end, then make sure its process group is gone."""
    from lwfc_hw import axi_sim

    if conn is not None:
        with contextlib.suppress(Exception):
            conn.send(("close",))
            if conn.poll(30):
                conn.recv()
        with contextlib.suppress(Exception):
            conn.close()
    if proc is not None:
        try:
            proc.wait(timeout=30)
        except Exception:
            axi_sim.kill_group(proc)
    if run_dir is not None:
        shutil.rmtree(run_dir, ignore_errors=True)


def open_sim(bundle: Bundle | str | os.PathLike | None = None, *, plan: CorePlan | None = None,
             lanes: int = 8, pixels_per_beat: int = 4, timeout: float = 600.0,
             **device_args: Any) -> LwfcAccelerator:
    """Start a simulated board and return its :class:`LwfcAccelerator`, created by PYNQ's
    driver binding exactly as ``pynq.Overlay`` does on a board.

    Args:
        bundle: the bundle (or folder) whose shapes the simulated hardware is built for; its
            weights are *not* preloaded (call ``load_bundle``).
        plan: a plan instead of a bundle.
        lanes, pixels_per_beat: elaboration parameters of the simulated hardware.
        timeout: the accelerator's per-wait timeout in seconds (simulations are slow).
        device_args: passed to :class:`SimDevice` (``simulator``, ``stall``, ``memories``...).

    Close it with ``accel.close()`` (or use it in a ``with`` block) to stop the simulator.
    """
    if plan is None:
        if bundle is None:
            raise DriverError("open_sim needs a bundle or a plan")
        if not isinstance(bundle, Bundle):
            bundle = load_bundle(Path(bundle))
        plan = plan_for_bundle(bundle, lanes, pixels_per_beat)
    device = SimDevice(plan, **device_args)
    device.default_timeout = timeout  # read by LwfcAccelerator for its own set-up waits
    try:
        desc = device.overlay_description()["hierarchies"][HIERARCHY]
        driver = desc["driver"]
        if driver is not LwfcAccelerator or desc["ip"]["lwfc"]["driver"] is not LwfcIP:
            raise DriverError(f"PYNQ bound {driver.__name__} / "
                              f"{desc['ip']['lwfc']['driver'].__name__} to the lwfc hierarchy")
        accel = driver(desc)
        accel.timeout = timeout
        accel.fclk_mhz = 1e3 / 10  # the simulation's aclk period is 10 ns
        return accel
    except BaseException:
        device.stop_simulation()
        raise
