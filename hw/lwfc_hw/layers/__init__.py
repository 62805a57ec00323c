"""Layer types: one class per (layer kind, dataflow), registered by :func:`register`, each the
one home of its plan mapping, weight layout, cycle model, resource estimate and RTL (see
:mod:`lwfc_hw.layers.base`).

======================  ==========  ===========  ==========================================
module                  kind        dataflow     engine RTL
======================  ==========  ===========  ==========================================
``dot_dense``           dense       dot          :func:`~.dot_dense.dense_engine`
``dot_lowrank``         lowrank     dot          :func:`~.dot_lowrank.dcl` + ``dil``
``bcast_dense``         dense       broadcast    :func:`~.bcast_dense.bcast_engine`
``bcast_lowrank``       lowrank     broadcast    ``bcast_engine`` (U side) + ``dil``
======================  ==========  ===========  ==========================================

A new layer type is a module here with a :class:`LayerType` subclass decorated with
:func:`register`, imported below; :func:`lwfc_hw.plan.plan_core`, the cycle model
(:mod:`lwfc_hw.cycles`), the hex images (:mod:`lwfc_hw.banking`), the core
(:mod:`lwfc_hw.core`) and the estimates (:mod:`lwfc.fpga`) find it through :func:`of`.
"""

from __future__ import annotations

from . import bcast_dense, bcast_lowrank, dot_dense, dot_lowrank  # noqa: F401  (registration)
from .base import BlockCall, LayerType, MemRequest, layer_type, of, register, registered

__all__ = ["BlockCall", "LayerType", "MemRequest", "layer_type", "of", "register",
           "registered"]
