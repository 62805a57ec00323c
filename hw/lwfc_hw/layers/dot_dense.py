"""Dense layers on the ``"dot"`` dataflow: each step multiplies ``Q`` consecutive inputs by
the weights of ``P`` outputs (paper figure 15, widened to ``P x Q`` lanes); every input is
read, so the time is a constant of the plan.

Plan: :func:`choose_dense_mapping` picks ``(P, Q)``; ``P * Q`` weight banks, bank ``p*Q + q``
address ``g*K + c`` holding ``W[g*P + p, c*Q + q]``. Cycles: ``G*K + p_last + OPERAND_LAT +
mac_latency(Q) + 1 + rq_stages`` (``G*K`` issue steps; operands; MAC array; the drain register;
the ``p_last`` outputs of the last group drain one per cycle through the requantizer; ``done``).
RTL: :func:`dense_engine`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from myhdl import Signal, always, always_comb, block, intbv

from ..mac import mac_array, mac_bits, mac_signal, weight_lane
from ..memories import named
from ..plan import CorePlan, EnginePlan, LayerShape, ceil_div, clog2
from ..requant import requant
from ..rtl_common import delay_line, uint
from ..timing import OPERAND_LAT, mac_latency
from .base import BlockCall, LayerType, MemRequest, pad2d, register


def dense_layer_cycles(n_in: int, n_out: int, P: int, Q: int) -> int:
    """Issue steps plus the final drain of a dense engine (the part that depends on P, Q)."""
    G, K = ceil_div(n_out, P), ceil_div(n_in, Q)
    return G * K + (n_out - (G - 1) * P)


def choose_dense_mapping(n_in: int, n_out: int, lanes: int) -> tuple[int, int]:
    """Pick ``(P, Q)`` with ``P * Q <= lanes`` and ``K >= P`` minimising the layer's cycles.

    Ties go to fewer multipliers, then to fewer inputs per step (a shallower adder tree).
    """
    best: tuple[int, int, int, int, int] | None = None
    for P in range(1, min(lanes, n_out) + 1):
        for Q in range(1, min(lanes // P, n_in) + 1):
            K = ceil_div(n_in, Q)
            if K < P:
                continue
            key = (dense_layer_cycles(n_in, n_out, P, Q), P * Q, Q, P, Q)
            if best is None or key < best:
                best = key
    assert best is not None  # P = Q = 1 always qualifies
    return best[3], best[4]


def dense_weight_banks(layer: Any, e: EnginePlan) -> dict[str, np.ndarray]:
    """The ``P * Q`` banks of a dense layer's weights, bank ``p*Q + q`` address ``g*K + c`` =
    ``W[g*P + p, c*Q + q]`` (zero padded); the broadcast dataflow uses it with ``Q = 1``."""
    w = pad2d(np.asarray(layer.weight, dtype=np.int64), e.G * e.P, e.K * e.Q)
    banks = w.reshape(e.G, e.P, e.K, e.Q).transpose(1, 3, 0, 2).reshape(e.P * e.Q, e.G * e.K)
    return {f"w{b}": banks[b] for b in range(e.P * e.Q)}


@register
class DotDense(LayerType):
    """A dense layer on the ``"dot"`` dataflow (see the module docstring)."""

    kind = "dense"
    dataflow = "dot"

    def macs(self, s: LayerShape) -> int:
        return s.n_in * s.n_out

    def engine(self, index: int, s: LayerShape, lanes: int, drain: int,
               rq_stages: int) -> EnginePlan:
        P, Q = choose_dense_mapping(s.n_in, s.n_out, lanes)
        return EnginePlan(index, s, P=P, Q=Q, rq_stages=rq_stages)

    def memories(self, e: EnginePlan) -> list[MemRequest]:
        return [MemRequest(f"w{b}", "w", b, e.G * e.K) for b in range(e.P * e.Q)]

    def q_read(self, e: EnginePlan) -> int:
        return e.Q

    def map_fields(self, e: EnginePlan) -> dict[str, int]:
        return {"P": e.P, "Q": e.Q, "G": e.G, "K": e.K, "R": e.R}

    def weight_images(self, layer: Any, e: EnginePlan) -> dict[str, np.ndarray]:
        return dense_weight_banks(layer, e)

    def service_cycles(self, e: EnginePlan, nnz: int | None = None) -> int:
        # issue steps, operands, MAC array, drain register, requantizer, done
        return (e.G * e.K + e.p_last + OPERAND_LAT + mac_latency(e.Q, e.prod_regs) + 1
                + e.out_rq_latency + 1 - 1)

    def multipliers(self, e: EnginePlan) -> int:
        return e.P * e.Q

    def blocks(self, e: EnginePlan, plan: Any, ports: dict[str, Any]) -> list[BlockCall]:
        p = ports
        return [BlockCall(
            f"l{e.index}_dense", dense_engine,
            (p["clk"], p["rst"], p["start"], p["done"], p["rd_en"], p["rd_addr"], p["x"],
             p["ov"], p["oidx"], p["y"], p["h_sel"], p["h_we"], p["h_addr"], p["h_wdata"],
             p["rb"], e, plan, p["hown"]),
        )]


# ----------------------------------------------------------------------------- RTL
@block
def dense_engine(clk, rst, start, done, rd_en, rd_addr, x_lanes, ov, oidx, y, h_sel, h_we, h_addr,
                 h_wdata, rb, e: EnginePlan, plan: CorePlan, hown=None):
    """Dense FC layer engine (paper figure 15, widened to ``P x Q`` lanes).

    After ``start`` it issues ``G * K`` steps, one per cycle: step ``(g, c)`` reads inputs
    ``c*Q ... c*Q+Q-1`` (``rd_addr = c``) and weight bank address ``g*K + c``. The operands
    reach the multipliers ``OPERAND_LAT`` edges later (feature memory: block-RAM read plus
    three registers; weights: :func:`~lwfc_hw.mac.weight_lane`), then the MAC array
    (products, adder tree, accumulators: ``mac_latency(Q)`` edges). When a group's last step
    has accumulated, the ``P`` sums move to a drain shift register that feeds the requantizer
    one output per cycle (``K >= P`` guarantees it is empty again in time). ``done`` pulses
    one cycle after the last output ``(ov, oidx = n_out - 1, y)``.
    """
    s = e.shape
    P, Q, G, K = e.P, e.Q, e.G, e.K
    N = P * Q
    sel_bits = plan.sel_bits
    run = Signal(bool(0))
    c = uint(clog2(K))
    g = uint(clog2(G))
    wa = uint(clog2(max(2, G * K)))
    s_v, s_f, s_l = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    v_op, f_op, l_op = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    fin = Signal(bool(0))
    gd = uint(clog2(G))
    w_lanes = [Signal(intbv(0, min=-128, max=128)) for _ in range(N)]
    xd1 = [uint(8) for _ in range(Q)]
    xd2 = [uint(8) for _ in range(Q)]
    xd3 = [uint(8) for _ in range(Q)]
    MB = mac_bits(s.n_in)
    acc = [mac_signal(MB) for _ in range(P)]
    dh = mac_signal(MB)
    drest = [mac_signal(MB) for _ in range(max(1, P - 1))]
    dn = uint(clog2(P + 1))
    dv = Signal(bool(0))
    ob = clog2(max(2, s.n_out))
    o = uint(ob)
    one = Signal(bool(1))
    insts = []
    for lane in range(N):
        insts.append(named(f"w{lane}", weight_lane(clk, one, wa, w_lanes[lane], h_sel, h_we,
                                                   h_addr, h_wdata, rb,
                                                   plan.bank_chunks(e.index, "w", lane),
                                                   sel_bits, hown)))
    mems = {m.role + str(m.bank): m for m in plan.mems_of(e.index) if m.chunk == 0}
    DL = OPERAND_LAT
    insts.append(named("dv", delay_line(clk, rst, one, s_v, v_op, DL)))
    insts.append(named("df", delay_line(clk, None, one, s_f, f_op, DL)))
    insts.append(named("dl", delay_line(clk, None, one, s_l, l_op, DL)))
    insts.append(named("mac", mac_array(clk, rst, one, v_op, f_op, l_op, xd3, w_lanes, acc, fin,
                                        P, Q, s.n_in, plan.dsp_prims,
                                        prod_regs=e.prod_regs)))
    insts.append(named(
        "requant",
        requant(clk, rst, one, dv, o, dh, ov, oidx, y, h_sel, h_we, h_addr, h_wdata, rb,
                mems["bias0"], mems.get("rq0"), "u8" if s.hidden else "i32", sel_bits, hown,
                e.rq_stages, plan.dsp_prims),
    ))
    last_o = s.n_out - 1
    last_g = G - 1
    p_last = e.p_last
    PM1 = P - 1

    @always(clk.posedge)
    def issue():
        if rst:
            run.next = 0
        elif start:
            run.next = 1
            c.next = 0
            g.next = 0
            wa.next = 0
        elif run:
            if c == K - 1:
                c.next = 0
                if g == G - 1:
                    run.next = 0
                else:
                    g.next = g + 1
                    wa.next = wa + 1
            else:
                c.next = c + 1
                wa.next = wa + 1

    @always_comb
    def addr():
        rd_addr.next = c
        rd_en.next = 1
        one.next = 1
        s_v.next = run
        s_f.next = c == 0
        s_l.next = c == K - 1

    @always(clk.posedge)
    def xdelay():
        # feature-memory read data -> three registers: the inputs reach the multipliers
        # OPERAND_LAT edges after their address, like the weights
        for q in range(Q):
            xd1[q].next = x_lanes[q]
            xd2[q].next = xd1[q]
            xd3[q].next = xd2[q]

    @always(clk.posedge)
    def drain():
        if rst:
            dn.next = 0
        elif fin:
            dh.next = acc[0]
            for p in range(PM1):
                drest[p].next = acc[p + 1]
            if gd == last_g:
                dn.next = p_last
            else:
                dn.next = P
        elif dn != 0:
            dh.next = drest[0]
            for p in range(PM1 - 1):
                drest[p].next = drest[p + 1]
            dn.next = dn - 1
        if start:
            o.next = 0
            gd.next = 0
        else:
            if dn != 0 and o != last_o:
                o.next = o + 1
            if fin and gd != last_g:
                gd.next = gd + 1

    @always_comb
    def drain_valid():
        dv.next = dn != 0

    @always(clk.posedge)
    def finish():
        if rst:
            done.next = 0
        else:
            done.next = ov and oidx == last_o

    return insts, issue, addr, xdelay, drain, drain_valid, finish
