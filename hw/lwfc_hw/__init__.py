"""lwfc_hw: the MyHDL accelerator of lwfc, its elaboration plan, memory images and cycle model.

Modules: :mod:`~lwfc_hw.plan` (what gets built for a bundle and ``lanes``),
:mod:`~lwfc_hw.layers` (one class per layer kind and dataflow: mapping, memories, weight
layout, cycle model, resources, engine RTL), :mod:`~lwfc_hw.timing` (shared latencies),
:mod:`~lwfc_hw.banking` (hex images), the shared RTL blocks :mod:`~lwfc_hw.rtl_common`,
:mod:`~lwfc_hw.mac`, :mod:`~lwfc_hw.requant`, :mod:`~lwfc_hw.handshake`,
:mod:`~lwfc_hw.nzlist`, :mod:`~lwfc_hw.memories`, :mod:`~lwfc_hw.stream`, the top
:mod:`~lwfc_hw.core`, :mod:`~lwfc_hw.convert` (Verilog generation), :mod:`~lwfc_hw.cycles`
(cycle model) and :mod:`~lwfc_hw.sim` (Icarus / Verilator simulation against the golden
model).
"""

from .plan import CorePlan, LayerShape, plan_core, plan_for_bundle

__all__ = ["CorePlan", "LayerShape", "plan_core", "plan_for_bundle"]
