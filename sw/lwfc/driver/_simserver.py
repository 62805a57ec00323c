"""cocotb side of the simulation backend (imported only inside the simulator).

One cocotb test, :func:`serve`, resets ``lwfc_axi``, connects to the host process over the Unix
socket ``$LWFC_SIM_SOCKET`` and executes its requests in lock step (simulated time advances
only while a request runs):

========================================  =================================================
request                                   effect / reply
========================================  =================================================
``("write", offset, data)``               AXI4-Lite writes of the words in ``data`` (bytes)
                                          to consecutive offsets -> ``None``
``("read", offset, nwords, gap)``         AXI4-Lite reads, then ``gap`` idle cycles (the
                                          host's latency) -> bytes
``("mm2s", data)``                        start streaming ``data`` on ``s_axis`` (TLAST on
                                          the last beat) -> ``None``
``("s2mm", max_bytes)``                   accept ``m_axis`` beats up to TLAST -> ``None``
``("poll", cycles, mm2s, s2mm)``          run until a watched channel completes or ``cycles``
                                          passed -> state dict
``("dma_reset",)``                        drop both channels' transfers -> ``None``
``("run", cycles)``                       run ``cycles`` -> ``None``
``("close",)``                            reply and end the simulation
========================================  =================================================

Replies are ``("ok", value)`` or ``("error", message)``. The AXI4-Lite master and the two
stream channels here are small bus models of the PS and of the AXI DMA's data movers (the IP
itself is tested with cocotbext-axi in ``tests/cocotb/``); they wait on signal edges instead
of polling every cycle while a stream is stalled, to keep the simulation fast.
"""

from __future__ import annotations

import os
import random
import socket
from multiprocessing.connection import Connection
from typing import Any

from cocotb.simtime import get_sim_time
from cocotb.triggers import ClockCycles, Event, First, RisingEdge, Timer

import cocotb
from lwfc_hw import regmap as R
from lwfc_hw.axi_cocotb import PERIOD_NS

#: Seconds the server waits for the next request before it assumes the host is gone.
IDLE_TIMEOUT = float(os.environ.get("LWFC_SIM_IDLE_TIMEOUT", "900"))


class BusError(RuntimeError):
    """A bus operation did not complete."""


def _cycle() -> int:
    return int(get_sim_time("ns")) // PERIOD_NS


def _cycles(n: int) -> Timer:
    """``n`` clock periods as one timer (``ClockCycles`` wakes Python on every edge)."""
    return Timer(max(1, n) * PERIOD_NS, "ns")


class LiteMaster:
    """A pipelined AXI4-Lite master on ``s_axi_control`` (full-word strobes)."""

    def __init__(self, dut: Any) -> None:
        self.dut = dut
        self.p = "s_axi_control_"
        for sig in ("awvalid", "wvalid", "arvalid", "bready", "rready"):
            self._sig(sig).value = 0
        self._sig("wstrb").value = 0xF
        self._sig("awaddr").value = 0
        self._sig("araddr").value = 0
        self._sig("wdata").value = 0

    def _sig(self, name: str) -> Any:
        return getattr(self.dut, self.p + name)

    async def write(self, offset: int, words: list[int]) -> None:
        """Write ``words`` to ``offset``, ``offset + 4``, ..."""
        n = len(words)
        if n == 0:
            return
        aw = w = b = 0
        awvalid, awready = self._sig("awvalid"), self._sig("awready")
        wvalid, wready = self._sig("wvalid"), self._sig("wready")
        bvalid = self._sig("bvalid")
        awaddr, wdata = self._sig("awaddr"), self._sig("wdata")
        awaddr.value = offset
        wdata.value = words[0]
        awvalid.value = 1
        wvalid.value = 1
        self._sig("bready").value = 1
        limit = 20 * n + 100
        for _ in range(limit):
            await RisingEdge(self.dut.aclk)
            if awvalid.value and awready.value:
                aw += 1
                if aw < n:
                    awaddr.value = offset + 4 * aw
                else:
                    awvalid.value = 0
            if wvalid.value and wready.value:
                w += 1
                if w < n:
                    wdata.value = words[w]
                else:
                    wvalid.value = 0
            if bvalid.value:
                b += 1
                if b == n:
                    self._sig("bready").value = 0
                    return
        raise BusError(f"AXI4-Lite write of {n} words at 0x{offset:x} did not complete")

    async def read(self, offset: int) -> int:
        """Read one word."""
        arvalid, arready = self._sig("arvalid"), self._sig("arready")
        rvalid, rdata = self._sig("rvalid"), self._sig("rdata")
        self._sig("araddr").value = offset
        arvalid.value = 1
        self._sig("rready").value = 1
        for _ in range(200_000):  # a window read may wait for a SCAN (<= 65536 entries)
            await RisingEdge(self.dut.aclk)
            if arvalid.value and arready.value:
                arvalid.value = 0
            if rvalid.value:
                value = int(rdata.value)
                self._sig("rready").value = 0
                return value
        raise BusError(f"AXI4-Lite read at 0x{offset:x} did not complete")


class Mm2s:
    """The DMA's memory-to-stream side on ``s_axis``: one transfer at a time, TLAST on its
    last beat, optional random gaps (TVALID is never withdrawn before TREADY)."""

    def __init__(self, dut: Any, stall: float, seed: int) -> None:
        self.dut = dut
        self.beat_bytes = len(dut.s_axis_tdata) // 8
        self.stall = stall
        self.rng = random.Random(seed)
        self.beats: list[int] = []
        self.idx = 0
        self.busy = False
        self.done = Event()
        self.wake = Event()
        self.gen = 0
        dut.s_axis_tvalid.value = 0
        dut.s_axis_tlast.value = 0
        dut.s_axis_tdata.value = 0
        cocotb.start_soon(self._run())

    def start(self, data: bytes) -> None:
        if self.busy:
            raise BusError("MM2S transfer started while busy")
        pad = (-len(data)) % self.beat_bytes
        data = bytes(data) + bytes(pad)
        b = self.beat_bytes
        self.beats = [int.from_bytes(data[i : i + b], "little") for i in range(0, len(data), b)]
        self.idx = 0
        self.busy = bool(self.beats)
        self.done.clear()
        if not self.busy:
            self.done.set()
        self.wake.set()

    def abort(self) -> None:
        self.gen += 1
        self.busy = False
        self.beats = []
        self.dut.s_axis_tvalid.value = 0
        self.dut.s_axis_tlast.value = 0
        self.wake.set()

    async def _run(self) -> None:
        dut = self.dut
        while True:
            if not self.busy:
                dut.s_axis_tvalid.value = 0
                self.wake.clear()
                await self.wake.wait()
                self.wake.clear()
                continue
            gen = self.gen
            await RisingEdge(dut.aclk)
            if gen != self.gen or not self.busy:
                continue
            if dut.s_axis_tvalid.value and dut.s_axis_tready.value:
                self.idx += 1
                if self.idx == len(self.beats):
                    self.busy = False
                    dut.s_axis_tvalid.value = 0
                    dut.s_axis_tlast.value = 0
                    self.done.set()
                    continue
            elif dut.s_axis_tvalid.value:
                # presented but not taken: sleep until TREADY rises (no per-cycle polling)
                if not dut.s_axis_tready.value:
                    await First(RisingEdge(dut.s_axis_tready), self.wake.wait())
                continue
            if self.stall and self.rng.random() < self.stall:
                dut.s_axis_tvalid.value = 0
                continue
            dut.s_axis_tdata.value = self.beats[self.idx]
            dut.s_axis_tlast.value = int(self.idx == len(self.beats) - 1)
            dut.s_axis_tvalid.value = 1


class S2mm:
    """The DMA's stream-to-memory side on ``m_axis``: armed with a byte limit, it collects
    beats up to TLAST; more bytes than the limit is an overflow (DMAIntErr in the DMA)."""

    def __init__(self, dut: Any, stall: float, seed: int) -> None:
        self.dut = dut
        self.stall = stall
        self.rng = random.Random(seed + 1)
        self.limit = 0
        self.data = bytearray()
        self.armed = False
        self.result: bytes | None = None
        self.overflow = False
        self.done = Event()
        self.wake = Event()
        self.gen = 0
        dut.m_axis_tready.value = 0
        cocotb.start_soon(self._run())

    def arm(self, limit: int) -> None:
        if self.armed:
            raise BusError("S2MM transfer started while busy")
        self.limit = limit
        self.data = bytearray()
        self.result = None
        self.overflow = False
        self.armed = True
        self.done.clear()
        self.wake.set()

    def abort(self) -> None:
        self.gen += 1
        self.armed = False
        self.dut.m_axis_tready.value = 0
        self.wake.set()

    async def _run(self) -> None:
        dut = self.dut
        while True:
            if not self.armed:
                dut.m_axis_tready.value = 0
                self.wake.clear()
                await self.wake.wait()
                self.wake.clear()
                continue
            gen = self.gen
            if not dut.m_axis_tvalid.value and dut.m_axis_tready.value:
                # nothing offered: sleep until TVALID rises
                await First(RisingEdge(dut.m_axis_tvalid), self.wake.wait())
                if gen != self.gen:
                    continue
            await RisingEdge(dut.aclk)
            if gen != self.gen or not self.armed:
                continue
            if dut.m_axis_tready.value and dut.m_axis_tvalid.value:
                self.data += int(dut.m_axis_tdata.value).to_bytes(4, "little")
                last = bool(dut.m_axis_tlast.value)
                if len(self.data) > self.limit:
                    self.overflow = True
                    self._finish()
                    continue
                if last:
                    self._finish()
                    continue
            ready = not (self.stall and self.rng.random() < self.stall)
            dut.m_axis_tready.value = int(ready)

    def _finish(self) -> None:
        self.armed = False
        self.dut.m_axis_tready.value = 0
        self.result = bytes(self.data)
        self.done.set()


async def _handle(msg: tuple, dut: Any, lite: LiteMaster, mm2s: Mm2s, s2mm: S2mm) -> Any:
    op = msg[0]
    if op == "write":
        _, offset, data = msg
        words = [int.from_bytes(data[i : i + 4], "little") for i in range(0, len(data), 4)]
        await lite.write(offset, words)
        return None
    if op == "read":
        _, offset, nwords, gap = msg
        out = bytearray()
        for i in range(nwords):
            out += (await lite.read(offset + 4 * i)).to_bytes(4, "little")
        if gap:
            await _cycles(gap)
        return bytes(out)
    if op == "mm2s":
        mm2s.start(msg[1])
        return None
    if op == "s2mm":
        s2mm.arm(msg[1])
        return None
    if op == "poll":
        _, cycles, watch_mm2s, watch_s2mm = msg
        waits = [_cycles(cycles)]
        if watch_mm2s:
            waits.append(mm2s.done.wait())
        if watch_s2mm and s2mm.armed:
            waits.append(s2mm.done.wait())
        await First(*waits)
        data, s2mm.result = s2mm.result, None  # each completed receive is reported once
        return {"mm2s_busy": mm2s.busy, "s2mm_busy": s2mm.armed, "s2mm_data": data,
                "s2mm_overflow": s2mm.overflow, "cycle": _cycle()}
    if op == "dma_reset":
        mm2s.abort()
        s2mm.abort()
        await ClockCycles(dut.aclk, 2)
        return None
    if op == "run":
        await _cycles(msg[1])
        return None
    raise ValueError(f"unknown request {op!r}")


@cocotb.test()
async def serve(dut: Any) -> None:
    """Serve the host's requests until it sends ``close`` or goes away."""
    from cocotb.clock import Clock

    stall = float(os.environ.get("LWFC_SIM_STALL", "0"))
    seed = int(os.environ.get("LWFC_SIM_SEED", "1"))
    Clock(dut.aclk, PERIOD_NS, unit="ns").start()
    lite = LiteMaster(dut)
    mm2s = Mm2s(dut, stall, seed)
    s2mm = S2mm(dut, stall, seed)
    dut.aresetn.value = 0
    await ClockCycles(dut.aclk, 8)
    dut.aresetn.value = 1
    await ClockCycles(dut.aclk, R.RESET_CYCLES + 2)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(60)
    sock.connect(os.environ["LWFC_SIM_SOCKET"])
    sock.settimeout(None)
    conn = Connection(sock.detach())
    conn.send(("ready", {"cycle": _cycle()}))
    try:
        while True:
            if not conn.poll(IDLE_TIMEOUT):
                dut._log.warning("no request for %s s: the host is gone, stopping", IDLE_TIMEOUT)
                return
            try:
                msg = conn.recv()
            except EOFError:
                return
            if msg[0] == "close":
                conn.send(("ok", {"cycle": _cycle()}))
                return
            try:
                reply = ("ok", await _handle(msg, dut, lite, mm2s, s2mm))
            except Exception as exc:  # reported to the host, which raises it there
                reply = ("error", f"{type(exc).__name__}: {exc}")
            conn.send(reply)
    finally:
        conn.close()
