"""Bus-level tests of ``lwfc_axi``: cocotb + cocotbext-axi (run by ``tests/test_axi_cocotb.py``).

Environment (set by the pytest wrapper):

* ``LWFC_BUNDLE``: bundle folder; ``LWFC_LANES``, ``LWFC_PPB``: the plan of the build;
* ``LWFC_IMAGES``: ``.npy`` file of uint8 images (N, n_in) to stream;
* ``LWFC_AXI_IMAGES``: images for :func:`test_stream_backpressure` (cycled from the file);
* ``LWFC_AXI_STALL``: pause probability of every stream and AXI4-Lite channel (0.3);
* ``LWFC_AXI_PRELOAD=1``: the stream test finds the weights preloaded (``$readmemh``) and
  only verifies them by SCAN;
* ``LWFC_AXI_SEED``: random seed; ``LWFC_SUMMARY``: JSON file the stream test writes its
  numbers to.

Every result (class and, in LOGITS batches, every logit) is compared with the golden model.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import numpy as np
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource

import cocotb
from lwfc import golden
from lwfc.bundle import load_bundle
from lwfc_hw import regmap as R
from lwfc_hw.axi_cocotb import (
    LwfcAxiTb,
    checksums,
    pack_images,
    pause_generator,
    stream_monitor,
)
from lwfc_hw.banking import memory_images, to_unsigned
from lwfc_hw.plan import plan_for_bundle

STALL = float(os.environ.get("LWFC_AXI_STALL", "0.3"))
SEED = int(os.environ.get("LWFC_AXI_SEED", "1"))


def setup():
    bundle = load_bundle(os.environ["LWFC_BUNDLE"])
    plan = plan_for_bundle(bundle, int(os.environ["LWFC_LANES"]),
                           int(os.environ.get("LWFC_PPB", "4")))
    images = np.load(os.environ["LWFC_IMAGES"])
    return bundle, plan, images


def add_streams(tb: LwfcAxiTb, seed: int, stall: float = STALL, lite_stall: bool = True) -> None:
    """Stream models flushed by the core's reset (a DMA reset together with SOFT_RESET), with
    random pauses on both streams and every AXI4-Lite channel."""
    dut = tb.dut
    tb.source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.aclk, dut.rst_core,
                                reset_active_level=True)
    tb.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.aclk, dut.rst_core,
                            reset_active_level=True)
    if stall > 0:
        tb.source.set_pause_generator(pause_generator(stall, seed))
        tb.sink.set_pause_generator(pause_generator(stall, seed + 1))
    if stall > 0 and lite_stall:
        chans = [tb.axil.write_if.aw_channel, tb.axil.write_if.w_channel,
                 tb.axil.write_if.b_channel, tb.axil.read_if.ar_channel,
                 tb.axil.read_if.r_channel]
        for i, ch in enumerate(chans):
            ch.set_pause_generator(pause_generator(stall, seed + 2 + i))


async def bench(dut, seed: int = SEED, stall: float = STALL, lite_stall: bool = True):
    bundle, plan, images = setup()
    dut.s_axis_tvalid.value = 0
    dut.s_axis_tdata.value = 0
    dut.s_axis_tlast.value = 0
    dut.m_axis_tready.value = 0
    tb = LwfcAxiTb(dut, streams=False)
    await tb.reset()
    add_streams(tb, seed, stall, lite_stall)
    errors: list[str] = []
    cocotb.start_soon(stream_monitor(dut, "m_axis", errors))
    return tb, bundle, plan, images, errors


def words(frame: AxiStreamFrame) -> np.ndarray:
    return np.frombuffer(bytes(frame.tdata), dtype="<u4")


async def recv(tb: LwfcAxiTb, cycles: int) -> AxiStreamFrame:
    return await with_timeout(tb.sink.recv(), cycles * 10, "ns")


async def check_clean(tb: LwfcAxiTb, n: int) -> None:
    st = await tb.read(R.STATUS)
    err = await tb.read(R.ERROR)
    assert err == 0, f"ERROR 0x{err:x}"
    assert st & R.STATUS.bit("DONE") and not st & R.STATUS.bit("BUSY"), f"STATUS 0x{st:x}"
    assert await tb.read(R.IMAGES_IN) == n
    assert await tb.read(R.IMAGES_OUT) == n


@cocotb.test()
async def test_registers(dut):
    """Reset values of every register, RW / W1P / W1C behaviour, byte strobes, unused
    offsets."""
    tb, _, plan, _, _ = await bench(dut, stall=0.0)
    expected = R.reset_values(plan)
    for reg in R.REGISTERS:
        got = await tb.read(reg)
        assert got == expected[reg.name], f"{reg.name}: 0x{got:08x} != 0x{expected[reg.name]:08x}"
    assert expected["PLAN_HASH"] == R.plan_signature(plan)
    # RW registers and byte strobes
    await tb.write(R.BATCH, 0x12345678)
    assert await tb.read(R.BATCH) == 0x12345678
    await tb.axil.write(R.BATCH.offset + 2, b"\xab")  # WSTRB = 0b0100
    assert await tb.read(R.BATCH) == 0x12AB5678
    await tb.write(R.BATCH, 0)
    for sel in (1, len(plan.mems) - 1, len(plan.mems), 0xFFFF):
        await tb.write(R.WSEL, sel)
        assert await tb.read(R.WSEL) == sel
        depth = plan.mems[sel].depth if sel < len(plan.mems) else 0
        assert await tb.read(R.WDEPTH) == depth
    await tb.write(R.WSEL, 0)
    # CTRL: LOGITS reads back, the pulses read 0
    await tb.write(R.CTRL, R.CTRL.bit("LOGITS"))
    assert await tb.read(R.CTRL) == R.CTRL.bit("LOGITS")
    await tb.write(R.CTRL, 0)
    assert await tb.read(R.CTRL) == 0
    # read-only registers ignore writes; unused offsets read 0
    await tb.write(R.ID, 0)
    await tb.write(R.IMAGES_IN, 7)
    assert await tb.read(R.ID) == R.ID_VALUE
    assert await tb.read(R.IMAGES_IN) == 0
    for off in (0x14, 0x50, 0x100, 0xFFC, R.WINDOW_BASE - 4):
        await tb.write(off, 0xFFFFFFFF)
        assert await tb.read(off) == 0, hex(off)
    # W1C: raise WIN_WRITE_RANGE and WIN_READ_RANGE, clear one at a time
    await tb.write(R.window_offset(plan.mems[0].depth), 1)
    assert await tb.read(R.window_offset(plan.mems[0].depth)) == 0
    both = R.ERROR.bit("WIN_WRITE_RANGE") | R.ERROR.bit("WIN_READ_RANGE")
    assert await tb.read(R.ERROR) == both
    assert await tb.read(R.STATUS) & R.STATUS.bit("ERROR")
    await tb.write(R.ERROR, R.ERROR.bit("WIN_WRITE_RANGE"))
    assert await tb.read(R.ERROR) == R.ERROR.bit("WIN_READ_RANGE")
    await tb.write(R.ERROR, 0xFFFFFFFF)
    assert await tb.read(R.ERROR) == 0
    assert not await tb.read(R.STATUS) & R.STATUS.bit("ERROR")


@cocotb.test()
async def test_weight_window(dut):
    """Every memory written through the window and read back word by word and by SCAN;
    out-of-range, busy and partial writes are dropped and flagged."""
    tb, bundle, plan, _, _ = await bench(dut)
    images = memory_images(bundle, plan)
    await tb.load_bundle(bundle, plan, verify=True)
    for m in plan.mems:
        want = to_unsigned(images[m.name], 32)
        got = await tb.read_memory(m.sel, m.depth)
        assert (got == want).all(), f"{m.name}: readback differs at {np.flatnonzero(got != want)}"
    assert await tb.read(R.ERROR) == 0
    m = max(plan.mems, key=lambda mm: mm.abits)  # its aliases would land on real entries
    await tb.write(R.WSEL, m.sel)
    first = await tb.read(R.window_offset(0))
    # entry 2**abits aliases entry 0 in the RAM's address bits: the range check must stop it
    for entry in (m.depth, 1 << m.abits):
        await tb.write(R.window_offset(entry), 0x55)
        assert await tb.read(R.ERROR) == R.ERROR.bit("WIN_WRITE_RANGE")
        await tb.write(R.ERROR, 0xFF)
    assert await tb.read(R.window_offset(0)) == first
    # read outside: 0 and flagged
    assert await tb.read(R.window_offset(m.depth)) == 0
    assert await tb.read(R.ERROR) == R.ERROR.bit("WIN_READ_RANGE")
    await tb.write(R.ERROR, 0xFF)
    # partial strobes: dropped
    await tb.axil.write(R.window_offset(0), b"\x11\x22")
    assert await tb.read(R.ERROR) == R.ERROR.bit("WIN_STRB")
    assert await tb.read(R.window_offset(0)) == first
    await tb.write(R.ERROR, 0xFF)
    # WSEL out of range: write dropped, SCAN flags a read error
    await tb.write(R.WSEL, len(plan.mems))
    await tb.write(R.window_offset(0), 1)
    await tb.write(R.CTRL, R.CTRL.bit("SCAN"))
    assert await tb.read(R.ERROR) == (R.ERROR.bit("WIN_WRITE_RANGE")
                                       | R.ERROR.bit("WIN_READ_RANGE"))
    await tb.write(R.ERROR, 0xFF)
    # writes while a batch runs (not IDLE) are dropped
    await tb.start(1)
    assert not await tb.read(R.STATUS) & R.STATUS.bit("IDLE")
    await tb.write(R.WSEL, m.sel)
    await tb.write(R.window_offset(0), (first + 1) & 0xFF)
    assert await tb.read(R.ERROR) == R.ERROR.bit("WIN_BUSY")
    assert await tb.read(R.window_offset(0)) == first
    await tb.soft_reset()
    assert await tb.read(R.ERROR) == 0
    st = await tb.read(R.STATUS)
    assert st & R.STATUS.bit("IDLE") and not st & R.STATUS.bit("BUSY"), hex(st)
    # every memory still verifies after the soft reset (weights survive it)
    for mm in plan.mems:
        assert await tb.scan(mm.sel) == checksums(to_unsigned(images[mm.name], 32)), mm.name


async def run_batch(tb: LwfcAxiTb, bundle, plan, imgs: np.ndarray, logits: bool,
                    per_image_tlast: bool, timeout_cycles: int) -> int:
    """Send one batch, receive and check every result; return the mismatches."""
    n = len(imgs)
    packed = pack_images(imgs, plan)
    await tb.start(n, logits)
    if per_image_tlast:
        for row in packed:
            tb.source.send_nowait(AxiStreamFrame(row.tobytes()))
    else:
        tb.source.send_nowait(AxiStreamFrame(packed.tobytes()))
    per = 1 + plan.classes if logits else 1
    got: list[np.ndarray] = []
    frames = n if per_image_tlast else 1
    for _ in range(frames):
        got.append(words(await recv(tb, timeout_cycles)))
    if per_image_tlast:
        assert all(len(g) == per for g in got), [len(g) for g in got]
    res = np.concatenate(got)
    assert len(res) == n * per, f"{len(res)} result words for {n} images x {per}"
    res = res.reshape(n, per)
    ref = golden.forward(bundle, imgs)
    bad = res[:, 0] != np.argmax(ref, axis=1)
    if logits:
        bad |= (res[:, 1:].astype(np.int32).astype(np.int64) != ref).any(axis=1)
    await tb.wait_status("DONE")
    await check_clean(tb, n)
    return int(bad.sum())


@cocotb.test()
async def test_stream_backpressure(dut):
    """LWFC_AXI_IMAGES images in random batches (1 ... 40 images, TLAST per image or per
    batch, class-only or with logits) under random pauses on both streams and AXI4-Lite: no
    lost, duplicated, reordered or wrong result."""
    tb, bundle, plan, images, errors = await bench(dut, lite_stall=False)
    if os.environ.get("LWFC_AXI_PRELOAD") == "1":
        # weights preloaded from the $readmemh files: verify them by SCAN (faster than
        # writing 45k words through cocotbext-axi, which the other tests do)
        mems = memory_images(bundle, plan)
        for m in plan.mems:
            want = checksums(to_unsigned(mems[m.name], 32))
            assert await tb.scan(m.sel) == want, m.name
    else:
        await tb.load_bundle(bundle, plan, verify=False)
    total = int(os.environ.get("LWFC_AXI_IMAGES", "200"))
    rng = random.Random(SEED)
    interval = 4 * plan.macs // plan.lanes + 8 * plan.beats_per_image + 2000
    done = mismatches = batches = logit_images = cycles = 0
    t0 = time.perf_counter()
    while done < total:
        n = min(total - done, rng.randint(1, 40))
        idx = np.arange(done, done + n) % len(images)
        logits = rng.random() < 0.3
        per_image = rng.random() < 0.5
        mismatches += await run_batch(tb, bundle, plan, images[idx], logits, per_image,
                                      timeout_cycles=(n + 2) * interval * 4)
        lo = await tb.read(R.CYCLES_LO)
        cycles += lo | await tb.read(R.CYCLES_HI) << 32
        done += n
        batches += 1
        logit_images += n if logits else 0
    seconds = time.perf_counter() - t0
    assert not errors, errors[:5]
    summary = {"images": done, "batches": batches, "logit_images": logit_images,
               "mismatches": mismatches, "stall": STALL, "busy_cycles": cycles,
               "wall_seconds": round(seconds, 1), "protocol_errors": len(errors)}
    dut._log.info("summary %s", summary)
    if os.environ.get("LWFC_SUMMARY"):
        Path(os.environ["LWFC_SUMMARY"]).write_text(json.dumps(summary))
    assert mismatches == 0, summary


@cocotb.test()
async def test_reset_mid_batch(dut):
    """SOFT_RESET and aresetn in the middle of a batch (results pending on both sides): the
    IP ends the batch, drops what is in flight, keeps its weights, and the next batch is
    exact."""
    tb, bundle, plan, images, errors = await bench(dut)
    await tb.load_bundle(bundle, plan, verify=False)
    interval = 4 * plan.macs // plan.lanes + 8 * plan.beats_per_image + 2000
    for kind in ("soft", "aresetn"):
        n = 12
        await tb.start(n)
        for row in pack_images(images[:n], plan):
            tb.source.send_nowait(AxiStreamFrame(row.tobytes()))
        for _ in range(3):
            await recv(tb, 4 * interval)
        assert await tb.read(R.IMAGES_OUT) < n
        # the DMA is reset together with the IP: drop what the stream models still queue
        # while the core's reset holds them (they flush their current beat on rst_core)
        if kind == "soft":
            await tb.write(R.CTRL, R.CTRL.bit("SOFT_RESET"))
        else:
            dut.aresetn.value = 0
            await ClockCycles(dut.aclk, 2)
        await ClockCycles(dut.aclk, 2)
        assert dut.rst_core.value
        tb.source.clear()
        tb.sink.clear()
        if kind == "aresetn":
            await ClockCycles(dut.aclk, 6)
            dut.aresetn.value = 1
        await ClockCycles(dut.aclk, R.RESET_CYCLES + 2)
        st = await tb.read(R.STATUS)
        assert st & R.STATUS.bit("IDLE") and not st & R.STATUS.bit("BUSY"), hex(st)
        assert await tb.read(R.IMAGES_IN) == 0 and await tb.read(R.ERROR) == 0
        assert not dut.m_axis_tvalid.value and not dut.s_axis_tready.value
        # nothing stale comes out
        await ClockCycles(dut.aclk, 2 * interval)
        assert tb.sink.empty()
        mism = await run_batch(tb, bundle, plan, images[n : 2 * n], logits=True,
                               per_image_tlast=False, timeout_cycles=(n + 2) * 4 * interval)
        assert mism == 0, f"after {kind} reset: {mism} mismatches"
    assert not errors, errors[:5]


@cocotb.test()
async def test_malformed_streams(dut):
    """TLAST inside an image (IMG_SHORT: padded, result still sent with TLAST), a batch without
    TLAST at its end (IMG_LONG: excess left unread), an unbounded batch (BATCH = 0)."""
    tb, bundle, plan, images, errors = await bench(dut)
    await tb.load_bundle(bundle, plan, verify=False)
    interval = 4 * plan.macs // plan.lanes + 8 * plan.beats_per_image + 2000
    packed = pack_images(images[:3], plan)
    bpb = plan.pixels_per_beat
    # short second image: TLAST after 3 beats
    cut = 3 * bpb
    await tb.start(3)
    tb.source.send_nowait(AxiStreamFrame(packed[0].tobytes()))
    tb.source.send_nowait(AxiStreamFrame(packed[1, :cut].tobytes()))
    tb.source.send_nowait(AxiStreamFrame(packed[2].tobytes()))
    got = [words(await recv(tb, 4 * interval)) for _ in range(3)]
    short = images[1].copy()
    short[cut:] = 0
    want = golden.predict(bundle, np.stack([images[0], short, images[2]]))
    assert [len(g) for g in got] == [1, 1, 1]
    assert [int(g[0]) for g in got] == list(want)
    await tb.wait_status("DONE")
    assert await tb.read(R.ERROR) == R.ERROR.bit("IMG_SHORT")
    await tb.write(R.ERROR, 0xFF)
    # long batch: 3 images in one frame, BATCH = 2
    await tb.start(2)
    tb.source.send_nowait(AxiStreamFrame(packed.tobytes()))
    frame = words(await recv(tb, 8 * interval))
    assert list(frame) == list(golden.predict(bundle, images[:2]))
    await tb.wait_status("DONE")
    assert await tb.read(R.ERROR) == R.ERROR.bit("IMG_LONG")
    assert await tb.read(R.IMAGES_IN) == 2
    await ClockCycles(dut.aclk, 200)
    assert not tb.source.idle()  # the third image stays in the source
    await tb.write(R.CTRL, R.CTRL.bit("SOFT_RESET"))
    tb.source.clear()
    tb.sink.clear()
    await ClockCycles(dut.aclk, R.RESET_CYCLES + 2)
    # unbounded: per-image TLAST gives one result frame per image, then a two-image frame
    await tb.start(0)
    for row in packed[:2]:
        tb.source.send_nowait(AxiStreamFrame(row.tobytes()))
    tb.source.send_nowait(AxiStreamFrame(packed[:2].tobytes()))
    got = [words(await recv(tb, 8 * interval)) for _ in range(3)]
    assert [len(g) for g in got] == [1, 1, 2]
    want = list(golden.predict(bundle, images[:2]))
    assert [int(x) for g in got for x in g] == want + want
    st = await tb.read(R.STATUS)
    assert st & R.STATUS.bit("BUSY") and await tb.read(R.ERROR) == 0
    assert await tb.read(R.IMAGES_OUT) == 4
    await tb.soft_reset()
    assert not await tb.read(R.STATUS) & R.STATUS.bit("BUSY")
    await RisingEdge(dut.aclk)
    assert not errors, errors[:5]
