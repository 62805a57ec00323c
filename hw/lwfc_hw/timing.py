"""Latencies of the RTL, in clock edges: the constants the cycle model (:mod:`lwfc_hw.cycles`,
the layer types of :mod:`lwfc_hw.layers`) and the RTL blocks share. Pure Python (no MyHDL), so
the cycle model needs no hardware description library.
"""

from __future__ import annotations

#: Edges from an engine's step address register to the step's operands at the multiplier
#: inputs: weights (block-RAM read, its output register, the chunk-select register, the
#: operand register) and inputs (feature-memory read and three registers) alike. The operand
#: register feeds only its multiplier, so placement can put it next to the DSP block.
OPERAND_LAT = 4
#: Edges from a broadcast step's list address to its operands at the multipliers: the list
#: memory's registered read, the lane select register, the weight address register
#: (``g*n_in + i``; the value register beside it), then the weight bank's ``OPERAND_LAT``.
#: One edge more when the list has an output register (``EnginePlan.list_lat == 2``).
BC_OPERAND_LAT = 3 + OPERAND_LAT
#: Edges of the DIL from its operands to its ring accumulators: the product register, a second
#: product register and the ring (:func:`lwfc_hw.layers.dot_lowrank.dil`).
DIL_MAC_LAT = 3


def rq_latency(stages: int, logits: bool) -> int:
    """Edges of a requantizer (:func:`lwfc_hw.requant.requant`) from its sample to its output:
    its ``stages``; but a logit (``acc + b``, nothing to multiply) in the 5-stage form takes
    2, the sample and the bias add, instead of waiting in delay registers."""
    return 2 if logits and stages == 5 else stages


def tree_levels(q: int) -> int:
    """Registered two-input adder levels that reduce ``q`` products to one (0 for ``q == 1``)."""
    return (q - 1).bit_length()


#: Product registers of :func:`lwfc_hw.mac.mac_array`: the multiplier's output and a second
#: register (the route from a DSP block to its adder tree gets a cycle of its own).
PROD_REGS = 2
#: Product registers with ECP5 DSP primitives (``CorePlan.dsp_prims == "ecp5"``): the two
#: inside the MULT18X18D (operands, product) and a fabric register behind it, so the long
#: route from a DSP site to its accumulator (about 7 ns on the ULX3S, the critical path of
#: the 100 MHz build without it) ends at a register.
PROD_REGS_DSP = 3


def mac_latency(q: int, prod_regs: int = PROD_REGS) -> int:
    """Edges of :func:`mac_array` from operands to final accumulators: ``prod_regs`` product
    registers (:data:`PROD_REGS`, :data:`PROD_REGS_DSP`), ``tree_levels(q)`` adder levels
    and the accumulator."""
    return prod_regs + 1 + tree_levels(q)
