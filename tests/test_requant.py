"""The requantizer block (``lwfc_hw.requant.requant``) against the integer contract
(``lwfc.arith``), in a MyHDL simulation of the block alone: every stage form (10 stages, 6
stages, 10 with the ECP5 MULT18X18D instances) and output kind, on random words and on the
edges the narrow shift and clamp must get right (results at and next to both clamp limits,
shifts of every coarse / fine split, products of either sign near 2**47, M = 0)."""

from __future__ import annotations

import numpy as np
import pytest
from myhdl import Signal, Simulation, StopSimulation, delay, instance, intbv

from lwfc import arith
from lwfc_hw.plan import MemSpec
from lwfc_hw.requant import requant
from lwfc_hw.rtl_common import acc_signal, uint
from lwfc_hw.timing import rq_latency

DEPTH = 256


def edge_cases(rng: np.random.Generator, out_kind: str) -> tuple[np.ndarray, ...]:
    """``(acc, bias, M, S)`` of random and boundary cases, ``|acc + bias| < 2**31``."""
    n_rand = 600
    s = rng.integers(arith.SHIFT_MIN, 64, n_rand)
    m = rng.integers(0, 2**15, n_rand)
    acc = rng.integers(-(2**30), 2**30, n_rand)
    bias = rng.integers(-(2**30), 2**30, n_rand)
    # results next to the clamp limits: pick q, then acc' = q * 2**S / M (+ small offsets)
    lo, hi = (0, 255) if out_kind == "u8" else (-128, 127)
    targets = [2 * lo - 2, 2 * lo - 1, 2 * lo, 2 * hi - 1, 2 * hi, 2 * hi + 1, 2 * hi + 2,
               -513, -512, 511, 512, -1, 0, 1]
    es, em, ea = [], [], []
    for t in targets:
        for sh in (1, 2, 8, 9, 15, 16, 17, 23, 24, 31, 32, 39, 40, 47, 48, 63):
            mm = int(rng.integers(2**14, 2**15))
            base = (t * (1 << (sh - 1))) // mm
            for off in (-2, -1, 0, 1, 2):
                a = base + off
                if abs(a) < 2**31:
                    es.append(sh)
                    em.append(mm)
                    ea.append(a)
    # the largest sums of either sign, M = 0 and M = MULT_MAX
    for a in (2**31 - 1, -(2**31), 2**31 - 2, -(2**31) + 1, 0, 1, -1):
        for mm in (0, 1, 2**15 - 1):
            for sh in (1, 8, 16, 40, 47, 48, 63):
                es.append(sh)
                em.append(mm)
                ea.append(a)
    # products of every bit length and either sign (acc and M log-uniform), every shift:
    # most saturate, and the upper-byte and window checks see every byte pattern
    n_log = 1500
    la = np.floor(2.0 ** rng.uniform(0, 31, n_log)).astype(np.int64)
    la = np.where(rng.random(n_log) < 0.5, -la, la) + rng.integers(-3, 4, n_log)
    lm = np.floor(2.0 ** rng.uniform(0, 15, n_log)).astype(np.int64)
    es += rng.integers(arith.SHIFT_MIN, 64, n_log).tolist()
    em += lm.tolist()
    ea += np.clip(la, -(2**31), 2**31 - 1).tolist()
    n_edge = len(ea)
    acc = np.concatenate([acc, np.array(ea)])
    bias = np.concatenate([bias, np.zeros(n_edge, dtype=np.int64)])
    return acc, bias, np.concatenate([m, np.array(em)]), np.concatenate([s, np.array(es)])


def expected(out_kind: str, acc, bias, m, s) -> np.ndarray:
    total = np.asarray(acc, dtype=np.int64) + np.asarray(bias, dtype=np.int64)
    if out_kind == "i32":
        return total
    v = arith.requantize(total, m, s)
    return arith.relu_u8(v) if out_kind == "u8" else arith.clamp_i8(v)


def run_requant(stages: int, out_kind: str, dsp_prims: str, acc, bias, m, s) -> list[int]:
    """Simulate the block on the cases (bias / requant words written through the host
    port in chunks of DEPTH entries); the outputs in order."""
    sel_bits = 1
    has_bias = out_kind != "i8"
    bias_spec = MemSpec(0, "t_bias", 0, "bias", 0, 32, True, DEPTH) if has_bias else None
    rq_spec = None if out_kind == "i32" else MemSpec(1, "t_rq", 0, "rq", 0, 21, False, DEPTH)
    clk, rst, en, iv = (Signal(bool(0)) for _ in range(4))
    idx = uint(8)
    a_in = acc_signal()
    ov = Signal(bool(0))
    oidx = uint(8)
    if out_kind == "i32":
        y = acc_signal()
    elif out_kind == "i8":
        y = Signal(intbv(0, min=-128, max=128))
    else:
        y = uint(8)
    h_sel, h_we = uint(sel_bits), Signal(bool(0))
    h_addr, h_wdata = uint(8), uint(32)
    rb = [uint(32), uint(32)]
    # the 5-stage form reads its tables in one cycle, which needs shared-port memories: the
    # host owns them (hown) while it writes
    hown = Signal(bool(0)) if stages == 5 else None
    dut = requant(clk, rst, en, iv, idx, a_in, ov, oidx, y, h_sel, h_we, h_addr, h_wdata, rb,
                  bias_spec, rq_spec, out_kind, sel_bits, hown, stages, dsp_prims)
    got: list[int] = []
    lat = rq_latency(stages, out_kind == "i32")
    edge = [0]
    # the edge at which each input was sampled: the first of the `stages` edges to its output
    sent: list[int] = []
    n = len(acc)

    @instance
    def clock():
        while True:
            clk.next = not clk
            yield delay(5)

    @instance
    def stim():
        rst.next = 1
        yield clk.negedge
        rst.next = 0
        for c0 in range(0, n, DEPTH):
            chunk = range(c0, min(n, c0 + DEPTH))
            en.next = 0
            iv.next = 0
            if hown is not None:
                hown.next = 1
            for i in chunk:
                for sel, word in ((0, int(bias[i]) & 0xFFFFFFFF),
                                  (1, (int(s[i]) << 15) | int(m[i]))):
                    h_sel.next = sel
                    h_we.next = 1
                    h_addr.next = i - c0
                    h_wdata.next = word
                    yield clk.negedge
            h_we.next = 0
            if hown is not None:
                hown.next = 0
            en.next = 1
            for i in chunk:
                iv.next = 1
                idx.next = i - c0
                a_in.next = int(acc[i])
                yield clk.negedge
                sent.append(edge[0])
                if ov:
                    got.append(int(y))
                    assert edge[0] - sent[len(got) - 1] == lat - 1, "latency"
            iv.next = 0
            for _ in range(lat + 2):
                yield clk.negedge
                if ov:
                    got.append(int(y))
                    assert edge[0] - sent[len(got) - 1] == lat - 1, "latency"
        raise StopSimulation

    @instance
    def count():
        while True:
            yield clk.posedge
            edge[0] += 1

    Simulation(dut, clock, stim, count).run(quiet=1)
    return got


@pytest.mark.parametrize("stages, out_kind, dsp_prims", [
    (10, "u8", ""), (10, "i8", ""), (10, "i32", ""), (6, "u8", ""), (6, "i8", ""),
    (6, "i32", ""), (5, "u8", ""), (5, "i8", ""), (5, "i32", ""), (10, "u8", "ecp5"),
    (10, "i8", "ecp5"),
])
def test_requantizer_block_matches_the_contract(stages, out_kind, dsp_prims):
    rng = np.random.default_rng(stages * 10 + len(out_kind) + len(dsp_prims))
    acc, bias, m, s = edge_cases(rng, out_kind)
    if out_kind == "i8":
        bias = np.zeros_like(bias)
    want = expected(out_kind, acc, bias, m, s)
    got = run_requant(stages, out_kind, dsp_prims, acc, bias, m, s)
    assert len(got) == len(want)
    bad = np.flatnonzero(np.array(got) != want)
    assert bad.size == 0, [(int(acc[i]), int(bias[i]), int(m[i]), int(s[i]), got[i],
                            int(want[i])) for i in bad[:5]]
