"""Low-rank layers on the ``"broadcast"`` dataflow: the U side is the broadcast engine
(:func:`lwfc_hw.layers.bcast_dense.bcast_engine`) with ``P = rank`` lanes and one group (bank
``p`` holds ``U[p, :]``, latent ``k`` is lane ``k``); its drain and requantizer hand the int8
latents to the DIL (:func:`lwfc_hw.layers.dot_lowrank.dil`) through the DCL's ``(zv, z,
accept)`` hand-shake, stalling while the DIL is busy with the previous latent.

Cycles: ``S + rank * Tv + n_out + bc_dense_pipe(e) + dil_pipe(e) - 1`` with ``S = max(nnz, 1)``
(the U sums drain as latents, the DIL takes one every ``Tv`` cycles, then its ``n_out``
accumulators drain).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..plan import EnginePlan, LayerShape, ceil_div
from .base import BlockCall, MemRequest, register
from .bcast_dense import bc_dense_pipe, bcast_engine, bcast_steps, check_nnz
from .dot_lowrank import LowRank, dil_call, dil_pipe, latent_ports, v_memories, v_tables


def bc_lowrank_pipe(e: EnginePlan) -> int:
    """Constant part of the layer's time: the U side's (:func:`bc_dense_pipe`), then the DIL's
    (operands, two product registers, ring, requantizer) and the hand-shake cycles."""
    return bc_dense_pipe(e, latent=True) + dil_pipe(e) - 1


@register
class BcastLowRank(LowRank):
    """A low-rank layer on the ``"broadcast"`` dataflow (see the module docstring)."""

    dataflow = "broadcast"
    data_dependent = True
    compact_input = True

    def engine(self, index: int, s: LayerShape, lanes: int, drain: int,
               rq_stages: int) -> EnginePlan:
        Tv = ceil_div(s.n_out, min(lanes, s.n_out))
        return EnginePlan(index, s, P=s.rank, Pv=ceil_div(s.n_out, Tv), dataflow=self.dataflow,
                          rq_stages=rq_stages)

    def memories(self, e: EnginePlan) -> list[MemRequest]:
        s = e.shape
        return [*(MemRequest(f"u{b}", "u", b, s.n_in) for b in range(e.P)), *v_memories(e)]

    def map_fields(self, e: EnginePlan) -> dict[str, int]:
        return {"Qu": e.Qu, "Ku": e.Ku, "Pv": e.Pv, "Tv": e.Tv, "P": e.P}

    def weight_images(self, layer: Any, e: EnginePlan) -> dict[str, np.ndarray]:
        # bank p holds row p of U (address i: U[p, i])
        ub = np.asarray(layer.u, dtype=np.int64)
        return {**{f"u{b}": ub[b] for b in range(len(ub))}, **v_tables(layer, e)}

    def service_cycles(self, e: EnginePlan, nnz: int | None = None) -> int:
        s = e.shape
        S = bcast_steps(e, check_nnz(e, nnz), 1)
        return S + s.rank * e.Tv + s.n_out + bc_lowrank_pipe(e)

    def multipliers(self, e: EnginePlan) -> int:
        return e.P + e.Pv

    def blocks(self, e: EnginePlan, plan: Any, ports: dict[str, Any]) -> list[BlockCall]:
        p = ports
        zv, z, zidx, accept = latent_ports(e)
        host = (p["h_sel"], p["h_we"], p["h_addr"], p["h_wdata"], p["rb"])
        return [
            BlockCall(f"l{e.index}_ubcast", bcast_engine,
                      (p["clk"], p["rst"], p["start"], None, p["rd_en"], p["rd_addr"], p["x"],
                       p["count"], p["lcount"], zv, zidx, z, *host, e, plan, p["hown"], accept),
                      {"u_side": True}),
            dil_call(e, plan, p, zv, z, accept),
        ]
