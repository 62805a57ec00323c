"""The compression toolkit: pruning, low-rank approximation, low-bit and shared weights, E-score.

Modules (each usable from Python; the CLI wraps them in ``lwfc compress``, ``lwfc search`` and
``lwfc report``):

* :mod:`lwfc.compress.lowrank`   truncated SVD, rank from ``R_comp`` (eq. 5-7), quantized factors
  with ``sqrt(S)`` folded into both (eq. 8-9), LRA-learn (eq. 10), the fake-quant low-rank layer.
* :mod:`lwfc.compress.prune`     the five ``torch.nn.utils.prune`` methods of the paper.
* :mod:`lwfc.compress.escore`    the E-score (eq. 11, F-beta form) and the Pareto front.
* :mod:`lwfc.compress.hwcost`    hardware-aware cost of a bundle: weights, BRAM bytes, cycles.

The network they act on is :class:`lwfc.qat.QNet` (dense / low-rank layers, masks, fake
quantization mirroring the integer contract, bundle export); fine-tuning is
:func:`lwfc.fit.finetune`.
* :mod:`lwfc.compress.pipeline`  prune / factorise / prune factors / QAT fine-tune (with KD).
* :mod:`lwfc.compress.checkpoint` inputs: train checkpoints, compression states, bundles.
* :mod:`lwfc.compress.report`    Markdown tables and matplotlib figures of a search folder.

Algorithm 1 and Table 1, which also train networks, are in :mod:`lwfc.experiments`; this
package does not import :mod:`lwfc.train`.

Only :mod:`escore`, :mod:`hwcost` and the numpy half of :mod:`lowrank` are imported eagerly;
everything that needs torch or Ray is imported on use.
"""

from __future__ import annotations

from .escore import escore, pareto_front
from .hwcost import hardware_cost
from .lowrank import pays_off, rank_for_rcomp, rcomp_for_rank, svd_factors

__all__ = [
    "escore",
    "hardware_cost",
    "pareto_front",
    "pays_off",
    "rank_for_rcomp",
    "rcomp_for_rank",
    "svd_factors",
]
