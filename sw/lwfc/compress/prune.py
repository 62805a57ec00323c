"""Pruning with ``torch.nn.utils.prune``: the five methods of the paper (section 4.3).

=================  =====================================================================
method             ``torch.nn.utils.prune`` call
=================  =====================================================================
``random_layer``   ``random_unstructured(m, "weight", ratio)`` on every layer
``random_global``  ``global_unstructured(all, RandomUnstructured, ratio)``
``l1``             ``l1_unstructured(m, "weight", ratio)`` on every layer (the paper's best)
``l1_structured``  ``ln_structured(m, "weight", ratio, n=1, dim=0)``: whole rows (nodes)
``l2_structured``  ``ln_structured(m, "weight", ratio, n=2, dim=0)``
``l1_global``      ``global_unstructured(all, L1Unstructured, ratio)`` (extra, not in the paper)
=================  =====================================================================

``ratio`` is the fraction of each layer's weights (or of all weights, for the global methods)
set to zero; the paper sweeps ``R_prune`` = 0.1 ... 0.7 in steps of 0.05 (:data:`RATIOS`).

Structured methods remove output rows (nodes); the output layer's rows are the classes, so they
apply only to hidden layers unless ``layers`` names the output layer explicitly.

The masks are computed on detached copies and returned as 0/1 tensors; :func:`attach_masks`
installs them on real modules with ``prune.custom_from_mask`` (so fine-tuning keeps pruned
weights at exactly zero), and export passes them to the bundle as ``mask`` fields, whose weights
are exact zeros.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn
from torch.nn.utils import prune

from ..errors import LwfcError
from .methods import METHODS, PAPER_METHODS  # noqa: F401  (PAPER_METHODS re-exported)

#: R_prune values of the paper: 0.1 ... 0.7 step 0.05.
RATIOS = tuple(round(0.1 + 0.05 * i, 2) for i in range(13))
STRUCTURED = ("l1_structured", "l2_structured")


class _Holder(nn.Module):
    """A bare module owning one ``weight`` parameter (what ``torch.nn.utils.prune`` acts on)."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.detach().clone().float(), requires_grad=False)


def compute_masks(
    weights: Mapping[str, torch.Tensor],
    method: str,
    ratio: float,
    seed: int = 0,
    existing: Mapping[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Masks (1 kept, 0 pruned; float32, shape of each weight) for ``weights`` by ``method``.

    Args:
        weights: name -> weight ``(out, in)``; only these are pruned.
        method: one of :data:`METHODS`.
        ratio: fraction to prune, ``0 <= ratio < 1`` (of each tensor, or of all for the
            global methods; of rows for the structured ones).
        seed: seeds torch's RNG for the random methods (the global RNG state is restored).
        existing: masks already in force: pruning is cumulative, as with repeated
            ``torch.nn.utils.prune`` calls (the ratio then applies to what is left).

    Raises:
        LwfcError: unknown method or ratio out of range.
    """
    if method not in METHODS:
        raise LwfcError(f"unknown pruning method {method!r}; choose from {', '.join(METHODS)}")
    if not 0.0 <= ratio < 1.0:
        raise LwfcError(f"pruning ratio must lie in [0, 1), got {ratio}")
    holders = {name: _Holder(w) for name, w in weights.items()}
    if existing:
        for name, mask in existing.items():
            if name in holders:
                prune.custom_from_mask(holders[name], "weight", mask.float())
    if ratio > 0:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if method in ("random_global", "l1_global"):
                rand = method == "random_global"
                cls = prune.RandomUnstructured if rand else prune.L1Unstructured
                params = [(h, "weight") for h in holders.values()]
                prune.global_unstructured(params, pruning_method=cls, amount=ratio)
            else:
                for h in holders.values():
                    if method == "random_layer":
                        prune.random_unstructured(h, "weight", amount=ratio)
                    elif method == "l1":
                        prune.l1_unstructured(h, "weight", amount=ratio)
                    else:
                        n = 1 if method == "l1_structured" else 2
                        prune.ln_structured(h, "weight", amount=ratio, n=n, dim=0)
    out = {}
    for name, h in holders.items():
        mask = getattr(h, "weight_mask", None)
        out[name] = torch.ones_like(h.weight) if mask is None else mask.detach().clone().float()
    return out


def default_layers(names: Sequence[str], method: str) -> list[str]:
    """The layers a method prunes by default: all, or all but the output for structured ones."""
    names = list(names)
    return names[:-1] if method in STRUCTURED else names


def _param_name(key: str) -> str:
    """Parameter a mask key names: ``"fc1.u"`` -> ``"u"``; a bare ``"fc1"`` -> ``"weight"``."""
    return key.rsplit(".", 1)[1] if "." in key else "weight"


def attach_masks(modules: Mapping[str, nn.Module], masks: Mapping[str, torch.Tensor]) -> None:
    """Install ``masks[key]`` on ``modules[key]`` via ``prune.custom_from_mask``.

    Keys are ``"<layer>.<param>"`` (e.g. ``"fc1.weight"``, ``"fc1.u"``) or a bare layer name
    (``weight``). After this, ``param = param_orig * param_mask`` is recomputed before every
    forward call of the module, so training updates ``param_orig`` and pruned entries stay 0.
    A mask already on the parameter is replaced (the new one should include it).
    """
    for key, mask in masks.items():
        module, pname = modules[key], _param_name(key)
        if hasattr(module, f"{pname}_mask"):
            prune.remove(module, pname)
        param = getattr(module, pname)
        prune.custom_from_mask(module, pname, mask.to(param.dtype))


def detach_masks(modules: Mapping[str, nn.Module]) -> None:
    """Make pruning permanent (``prune.remove``) on ``modules[key]``'s parameter."""
    for key, module in modules.items():
        pname = _param_name(key)
        if hasattr(module, f"{pname}_mask"):
            prune.remove(module, pname)


def masked(module: nn.Module, pname: str) -> torch.Tensor:
    """The current effective parameter ``orig * mask`` (or the plain parameter if unpruned).

    Unlike ``module.<pname>``, which ``torch.nn.utils.prune`` refreshes only when the module is
    called, this is up to date after optimizer steps.
    """
    mask = getattr(module, f"{pname}_mask", None)
    if mask is None:
        return getattr(module, pname)
    return getattr(module, f"{pname}_orig") * mask


def sparsity(masks: Mapping[str, torch.Tensor]) -> float:
    """Fraction of zeros over all masks."""
    total = sum(m.numel() for m in masks.values())
    kept = sum(float(m.sum()) for m in masks.values())
    return 1.0 - kept / total if total else 0.0
