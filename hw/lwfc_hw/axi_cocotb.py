"""cocotb-side helpers for ``lwfc_axi`` (imported only inside a cocotb simulation).

:class:`LwfcAxiTb` starts the clock, resets the IP and talks to it through cocotbext-axi
models: :class:`~cocotbext.axi.AxiLiteMaster` on ``s_axi_control``, and on request an
:class:`~cocotbext.axi.AxiStreamSource` on ``s_axis`` and an
:class:`~cocotbext.axi.AxiStreamSink` on ``m_axis``. The register offsets come from
:mod:`lwfc_hw.regmap`; weight images from :mod:`lwfc_hw.banking`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import numpy as np
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.axi import (
    AxiLiteBus,
    AxiLiteMaster,
    AxiStreamBus,
    AxiStreamSink,
    AxiStreamSource,
)

from . import regmap as R
from .banking import memory_images, to_unsigned
from .plan import CorePlan

#: Clock period of ``aclk`` in the simulations (100 MHz, FCLK0 of the PYNQ overlay).
PERIOD_NS = 10


def pause_generator(probability: float, seed: int) -> Iterator[bool]:
    """An endless random pause pattern: True (pause) with ``probability`` per cycle."""
    rng = random.Random(seed)
    while True:
        yield rng.random() < probability


def pack_images(images: np.ndarray, plan: CorePlan) -> np.ndarray:
    """uint8 images (N, n_in) -> uint8 (N, beats * B): each image padded to whole beats, the
    byte layout the ``s_axis`` stream (and the DMA) carries, pixel 0 first."""
    n = len(images)
    width = plan.beats_per_image * plan.pixels_per_beat
    out = np.zeros((n, width), dtype=np.uint8)
    out[:, : plan.n_in] = images
    return out


def checksums(words: np.ndarray) -> tuple[int, int]:
    """``(SCAN_SUM, SCAN_WSUM)`` expected for 32-bit readback words ``words``."""
    return R.scan_checksums(words)


class LwfcAxiTb:
    """A bench around the ``lwfc_axi`` toplevel ``dut``.

    Args:
        dut: the cocotb handle of the toplevel.
        streams: also create the stream source/sink models (the driver backend drives the
            streams with its own DMA model instead).
        stream_reset: the signal that flushes the stream models (default ``aresetn``; the
            tests pass the internal ``rst_core`` to model a DMA reset with ``SOFT_RESET``).
    """

    def __init__(self, dut: Any, streams: bool = True, stream_reset: Any = None) -> None:
        self.dut = dut
        self.clock = Clock(dut.aclk, PERIOD_NS, unit="ns")
        self.clock.start()
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axi_control"), dut.aclk,
                                  dut.aresetn, reset_active_level=False)
        self.source: AxiStreamSource | None = None
        self.sink: AxiStreamSink | None = None
        if streams:
            if stream_reset is None:
                rst, level = dut.aresetn, False
            else:
                rst, level = stream_reset, True
            self.source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.aclk,
                                          rst, reset_active_level=level)
            self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.aclk,
                                      rst, reset_active_level=level)
        else:
            dut.s_axis_tvalid.value = 0
            dut.s_axis_tdata.value = 0
            dut.s_axis_tlast.value = 0
            dut.m_axis_tready.value = 0

    # ------------------------------------------------------------------ basics
    async def reset(self, cycles: int = 8) -> None:
        """Pulse ``aresetn`` low for ``cycles`` and wait until the core's reset ended."""
        self.dut.aresetn.value = 0
        await ClockCycles(self.dut.aclk, cycles)
        self.dut.aresetn.value = 1
        await ClockCycles(self.dut.aclk, R.RESET_CYCLES + 2)

    async def read(self, reg: R.Register | int) -> int:
        """Read a register (or a byte offset)."""
        off = reg if isinstance(reg, int) else reg.offset
        return await self.axil.read_dword(off)

    async def write(self, reg: R.Register | int, value: int) -> None:
        """Write a register (or a byte offset)."""
        off = reg if isinstance(reg, int) else reg.offset
        await self.axil.write_dword(off, value & 0xFFFFFFFF)

    async def wait_status(self, name: str, value: bool = True, max_reads: int = 10_000) -> int:
        """Poll ``STATUS`` until field ``name`` equals ``value``; return the last STATUS."""
        bit = R.STATUS.bit(name)
        for _ in range(max_reads):
            st = await self.read(R.STATUS)
            if bool(st & bit) == value:
                return st
            await ClockCycles(self.dut.aclk, 8)
        raise AssertionError(f"STATUS.{name} did not become {value} (STATUS 0x{st:x})")

    # ------------------------------------------------------------------ weights
    async def write_memory(self, sel: int, words: np.ndarray) -> None:
        """Write ``words`` (unsigned, up to 32 bits) into memory ``sel`` from entry 0."""
        await self.write(R.WSEL, sel)
        data = np.asarray(words, dtype="<u4").tobytes()
        await self.axil.write(R.WINDOW_BASE, data)

    async def read_memory(self, sel: int, n: int) -> np.ndarray:
        """Read entries 0 ... n-1 of memory ``sel`` (32-bit readback words)."""
        await self.write(R.WSEL, sel)
        out = np.zeros(n, dtype=np.uint32)
        for a in range(n):
            out[a] = await self.axil.read_dword(R.window_offset(a))
        return out

    async def scan(self, sel: int) -> tuple[int, int]:
        """Run ``SCAN`` on memory ``sel``; return ``(SCAN_SUM, SCAN_WSUM)``."""
        await self.write(R.WSEL, sel)
        await self.write(R.CTRL, R.CTRL.bit("SCAN"))
        await self.wait_status("SCAN_BUSY", False)
        return await self.read(R.SCAN_SUM), await self.read(R.SCAN_WSUM)

    async def load_bundle(self, bundle: Any, plan: CorePlan, verify: bool = True) -> None:
        """Write every parameter memory of ``bundle`` through the window; with ``verify``
        compare each memory's SCAN checksums with the expected ones."""
        images = memory_images(bundle, plan)
        for m in plan.mems:
            await self.write_memory(m.sel, to_unsigned(images[m.name], m.width))
            if verify:
                got = await self.scan(m.sel)
                want = checksums(to_unsigned(images[m.name], 32))
                assert got == want, f"{m.name}: scan {got} != expected {want}"

    # ------------------------------------------------------------------ batches
    async def start(self, n: int, logits: bool = False) -> None:
        """``BATCH = n``, ``CTRL = START (| LOGITS)``."""
        await self.write(R.BATCH, n)
        await self.write(R.CTRL, R.CTRL.bit("START") | (R.CTRL.bit("LOGITS") if logits else 0))

    async def soft_reset(self) -> None:
        """``CTRL = SOFT_RESET`` and wait for the end of the core's reset."""
        await self.write(R.CTRL, R.CTRL.bit("SOFT_RESET"))
        await ClockCycles(self.dut.aclk, R.RESET_CYCLES + 2)


async def stream_monitor(dut: Any, prefix: str, errors: list[str]) -> None:
    """Check the AXI4-Stream rule on ``<prefix>_t*`` every cycle: once TVALID is high it stays
    high, with TDATA and TLAST unchanged, until TREADY (outside of the core's reset)."""
    tvalid = getattr(dut, f"{prefix}_tvalid")
    tready = getattr(dut, f"{prefix}_tready")
    tdata = getattr(dut, f"{prefix}_tdata")
    tlast = getattr(dut, f"{prefix}_tlast")
    held = None
    while True:
        await RisingEdge(dut.aclk)
        if not dut.aresetn.value or dut.rst_core.value:
            held = None
            continue
        v, r = int(tvalid.value), int(tready.value)
        if not v:
            if held is not None:
                errors.append(f"{prefix}: TVALID fell before TREADY on beat {held} at "
                              f"{get_sim_time('ns')} ns")
            held = None
            continue
        cur = (str(tdata.value), str(tlast.value))  # X-safe
        if held is not None and cur != held:
            errors.append(f"{prefix}: beat {held} changed to {cur} before TREADY at "
                          f"{get_sim_time('ns')} ns")
        held = cur if not r else None
