"""lwfc_hw: the MyHDL accelerator of lwfc, its elaboration plan, memory images and cycle model.

Modules: :mod:`~lwfc_hw.plan` (what gets built for a bundle and ``lanes``),
:mod:`~lwfc_hw.banking` (weight-bank layout and hex images), :mod:`~lwfc_hw.memories`,
:mod:`~lwfc_hw.engines`, :mod:`~lwfc_hw.stream`, :mod:`~lwfc_hw.core` (the RTL blocks),
:mod:`~lwfc_hw.convert` (Verilog generation), :mod:`~lwfc_hw.cycles` (cycle model) and
:mod:`~lwfc_hw.sim` (Icarus / Verilator simulation against the golden model).
"""

from .plan import CorePlan, LayerShape, plan_core, plan_for_bundle

__all__ = ["CorePlan", "LayerShape", "plan_core", "plan_for_bundle"]
