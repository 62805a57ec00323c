"""The compression pipeline: prune -> low-rank (+ LRA-learn) -> prune factors -> QAT fine-tune.

Each step is a function on a :class:`~lwfc.qat.QNet` (usable alone, as the
search does); :func:`compress` chains them as ``lwfc compress`` does and reports the int8
accuracy after every step. Accuracy here always means the golden model on the exported bundle
(:func:`int8_accuracy`).

Step order (paper, section 4: quantize, prune, then factorise the pruned layer):

1. ``prune``: a ``torch.nn.utils.prune`` method over the dense layers, in ``prune_steps``
   equal steps of the cumulative ratio, with ``finetune_epochs`` of QAT between steps;
2. ``lowrank``: the chosen layer's (pruned) weight ``W`` is replaced by the quantized SVD
   factors (eq. 8-9) of rank ``r(R_comp)`` (eq. 7), optionally refined by LRA-learn (eq. 10);
   the latent scale is calibrated on training images;
3. ``factor pruning``: L1-unstructured pruning of the factors ``u`` (and ``v``) at a ratio;
4. ``finetune``: QAT of the whole network with every mask in force (pruned weights stay zero),
   fake quantization identical to the bundle's integers (latent included), optional KD.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import golden
from ..bundle import Bundle
from ..errors import LwfcError
from ..fit import finetune, logits
from ..qat import Dropout, QDense, QLowRank, QNet, int8_accuracy, pixels, to_bundle
from . import lowrank as LR
from . import prune as P
from . import share
from .storage import weight_storage

__all__ = ["finetune", "int8_accuracy"]  # re-exported: the search and Table 1 call them here

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


# ------------------------------------------------------------------------- pruning
def dense_names(net: QNet) -> list[str]:
    """Names of ``net``'s dense layers, in layer order."""
    return [n for n, layer in net.iter_layers() if isinstance(layer, QDense)]


def weight_plan(net: QNet, weights: str, layers: list[str] | None = None) -> list[tuple[str, str]]:
    """The weight step's ``(layer, mode)`` pairs for ``net``: :func:`share.parse_plan` of
    ``weights`` (one mode, or ``LAYER=MODE,...``) over its dense layers (or ``layers``)."""
    return share.parse_plan(weights, dense_names(net), layers)


def prune_net(
    net: QNet,
    method: str,
    ratio: float | dict[str, float],
    layers: list[str] | None = None,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Prune the dense layers of ``net`` in place with a :mod:`~lwfc.compress.prune` method.

    Args:
        ratio: the final fraction of zeros, cumulative (masks already in force count): per
            layer for the per-layer methods, over all pruned weights for the global ones. A
            dict ``{layer: ratio}`` gives each layer its own ratio (per-layer methods only;
            its keys are then the layers pruned).
        layers: layers to prune (default: every dense layer; hidden ones only for the
            structured methods).

    Returns:
        The masks now in force on the pruned layers.
    """
    dense = dense_names(net)
    if isinstance(ratio, dict):
        if method in ("random_global", "l1_global"):
            raise LwfcError(f"per-layer ratios do not apply to the global method {method!r}")
        names = list(ratio)
    else:
        names = layers if layers is not None else P.default_layers(dense, method)
    for name in names:
        if name not in dense:
            raise LwfcError(f"cannot prune {name!r}: not a dense layer of {net.names}")
    modules = dict(net.iter_layers())
    current = net.masks()

    def step(keys: list[str], target: float) -> dict[str, torch.Tensor]:
        weights = {k: modules[k.split(".")[0]].matrix().detach() for k in keys}
        existing = {k: current[k] for k in keys if k in current}
        already = P.sparsity(existing) if existing else 0.0
        # cumulative: prune the remaining fraction needed to reach `target` overall
        frac = 0.0 if target <= already else (target - already) / (1.0 - already)
        return P.compute_masks(weights, method, frac, seed=seed, existing=existing or None)

    masks: dict[str, torch.Tensor] = {}
    if method in ("random_global", "l1_global"):
        masks = step([f"{n}.weight" for n in names], float(ratio))  # type: ignore[arg-type]
    else:
        for n in names:
            target = ratio[n] if isinstance(ratio, dict) else ratio
            masks.update(step([f"{n}.weight"], float(target)))
    P.attach_masks(net.param_modules(masks), masks)
    return masks


def prune_factors(
    net: QNet, layer: str, ratio_u: float, ratio_v: float = 0.0, method: str = "l1"
) -> dict[str, torch.Tensor]:
    """Unstructured pruning of a low-rank layer's factors ``u`` / ``v`` (cumulative ratios)."""
    modules = dict(net.iter_layers())
    module = modules.get(layer)
    if not isinstance(module, QLowRank):
        raise LwfcError(f"{layer!r} is not a low-rank layer")
    out = {}
    current = net.masks()
    for pname, ratio in (("u", ratio_u), ("v", ratio_v)):
        if ratio <= 0:
            continue
        key = f"{layer}.{pname}"
        value = P.masked(module, pname).detach()
        existing = {key: current[key]} if key in current else None
        already = P.sparsity(existing) if existing else 0.0
        step = 0.0 if ratio <= already else (ratio - already) / (1.0 - already)
        out.update(P.compute_masks({key: value}, method, step, existing=existing))
    if out:
        P.attach_masks(net.param_modules(out), out)
    return out


# ------------------------------------------------------------------------- low rank
@dataclass
class LowRankResult:
    """What :func:`apply_lowrank` did: rank, compression rate, errors, accuracies."""

    layer: str
    rank: int
    r_comp: float
    weights_removed_layer: int
    error_svd: float
    error_learn: float | None = None
    accuracy_lra: float | None = None
    accuracy_learn: float | None = None


def apply_lowrank(
    net: QNet,
    layer: str,
    *,
    r_comp: float | None = None,
    rank: int | None = None,
    learn: str = "identity",
    learn_steps: int = 300,
    grid: str = "int8",
    calib_images: np.ndarray,
    eval_data: tuple[np.ndarray, np.ndarray] | None = None,
) -> LowRankResult:
    """Replace dense ``layer`` of ``net`` (in place) by quantized SVD factors, then LRA-learn.

    Args:
        r_comp / rank: the compression rate (eq. 7 gives the rank) or the rank itself.
        learn: ``"none"`` (plain LRA, eq. 8-9), ``"identity"`` (LRA-learn, eq. 10) or
            ``"data"`` (fit on the layer's real inputs from ``calib_images``).
        grid: factor grid of eq. 8-9, ``"int8"`` (the bundle's) or ``"paper"`` (integers on
            the QAT weights' scale, see :func:`~lwfc.compress.lowrank.quantized_factors`).
        calib_images: uint8 images used to calibrate the latent scale (and for ``"data"``).
        eval_data: ``(images, labels)``: if given, the int8 accuracy of plain LRA and of
            LRA-learn are both measured (the paper's Table 2 ratio).
    """
    index = net.names.index(layer) if layer in net.names else -1
    if index < 0 or not isinstance(net.layers[index], QDense):
        raise LwfcError(f"cannot factorise {layer!r}: not a dense layer of {net.names}")
    dense: QDense = net.layers[index]  # type: ignore[assignment]
    w = dense.matrix().detach().double().numpy()
    out_f, in_f = w.shape
    if rank is None:
        if r_comp is None:
            raise LwfcError("give either r_comp or rank")
        rank = LR.rank_for_rcomp(out_f, in_f, r_comp)
    if not LR.pays_off(out_f, in_f, rank):
        raise LwfcError(f"rank {rank} does not pay off for a {out_f}x{in_f} layer (eq. 5)")
    last = dense.last
    u0, v0 = LR.quantized_factors(w, rank, last=last, grid=grid)
    result = LowRankResult(
        layer=layer,
        rank=rank,
        r_comp=LR.rcomp_for_rank(out_f, in_f, rank),
        weights_removed_layer=out_f * in_f - rank * (out_f + in_f),
        error_svd=LR.approximation_error(w, u0, v0),
    )
    calib = pixels(calib_images)
    bias = dense.bias.detach().clone()

    def install(u: np.ndarray, v: np.ndarray) -> None:
        net.layers[index] = QLowRank(torch.tensor(u), torch.tensor(v), bias, last)
        net.calibrate(calib, latents_only=True)

    install(u0, v0)
    if eval_data is not None:
        result.accuracy_lra = int8_accuracy(net, *eval_data)
    if learn != "none":
        inputs = None
        if learn == "data":
            inputs = net.hidden_inputs(calib, index).numpy()
        u1, v1 = LR.lra_learn(
            w, u0, v0, steps=learn_steps, last=last, fit=learn, inputs=inputs, grid=grid
        )
        result.error_learn = LR.approximation_error(w, u1, v1)
        install(u1, v1)
        if eval_data is not None:
            result.accuracy_learn = int8_accuracy(net, *eval_data)
    return result


# ------------------------------------------------------------------------- the pipeline
@dataclass
class CompressConfig:
    """Options of :func:`compress` (each ``None``/0 switches its step off)."""

    prune_method: str | None = None
    prune_ratio: float = 0.0
    prune_layers: list[str] | None = None
    prune_layer_ratios: dict[str, float] | None = None
    prune_steps: int = 1
    lowrank_layer: str | None = None
    r_comp: float | None = None
    rank: int | None = None
    lra_learn: str = "identity"
    lra_steps: int = 300
    lra_grid: str = "int8"
    factor_prune_u: float = 0.0
    factor_prune_v: float = 0.0
    finetune_epochs: float = 0.0
    step_epochs: float = 1.0
    lr: float = 1e-3
    batch: int = 128
    dropout_location: int = 0
    dropout_p: float = 0.0
    weights: str | None = None
    weight_layers: list[str] | None = None
    learn_codebook: bool = True
    layer_epochs: float = 0.0
    kd_alpha: float = 0.5
    kd_tau: float = 4.0
    calib_images: int = 10_000
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CompressResult:
    """The compressed network, its bundle and the int8 accuracy after each step."""

    net: QNet
    bundle: Bundle
    steps: list[dict[str, Any]] = field(default_factory=list)
    lowrank: LowRankResult | None = None


def compress(
    net: QNet,
    cfg: CompressConfig,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    *,
    teacher: nn.Module | None = None,
    name: str = "compressed",
    dataset: str = "mnist",
    provenance: dict[str, Any] | None = None,
    log: Log = _quiet,
) -> CompressResult:
    """Run the pipeline on ``net`` (modified in place) and export the bundle.

    ``train`` feeds fine-tuning and calibration, ``test`` the reported int8 accuracies.
    """
    torch.manual_seed(cfg.seed)
    net.dropout = Dropout(cfg.dropout_location, cfg.dropout_p)
    steps: list[dict[str, Any]] = []
    rng = np.random.default_rng(cfg.seed)
    calib_idx = rng.choice(len(train[0]), size=min(cfg.calib_images, len(train[0])), replace=False)
    calib = train[0][np.sort(calib_idx)]

    def record(stage: str, **extra: Any) -> None:
        bundle = to_bundle(net)
        acc = golden.accuracy(bundle, *test)
        entry = {
            "stage": stage,
            "int8_accuracy": acc,
            "weights_nonzero": bundle.weights_nonzero,
            "weights_removed": round(bundle.weights_removed(), 6),
            "weight_bytes": weight_storage(bundle)["weight_bytes"],
            **extra,
        }
        steps.append(entry)
        log(
            f"{stage:<22} int8 acc {acc:.4f}  nonzero {bundle.weights_nonzero:>6}  "
            f"removed {100 * bundle.weights_removed():5.1f} %  {entry['weight_bytes']:>6} B"
        )

    cached: torch.Tensor | None = None
    if teacher is not None and (cfg.finetune_epochs > 0 or cfg.prune_steps > 1):
        cached = logits(teacher, pixels(train[0]))  # once, not every epoch

    def tune(epochs: float, what: str) -> None:
        if epochs > 0:
            finetune(
                net,
                *train,
                epochs,
                lr=cfg.lr,
                batch=cfg.batch,
                seed=cfg.seed + len(steps),
                teacher_logits=cached,
                alpha=cfg.kd_alpha,
                tau=cfg.kd_tau,
                log=log,
            )
            record(what, epochs=epochs)

    record("input")
    pruning = bool(cfg.prune_method) and (cfg.prune_ratio > 0 or bool(cfg.prune_layer_ratios))
    if pruning:
        n = max(1, cfg.prune_steps)
        for k in range(1, n + 1):
            ratio: float | dict[str, float] = cfg.prune_ratio * k / n
            if cfg.prune_layer_ratios:
                ratio = {name: r * k / n for name, r in cfg.prune_layer_ratios.items()}
            method = str(cfg.prune_method)
            prune_net(net, method, ratio, cfg.prune_layers, seed=cfg.seed)
            if isinstance(ratio, dict):
                shown = ",".join(f"{name}:{r:.3g}" for name, r in ratio.items())
            else:
                shown = f"{ratio:.3g}"
            record(f"prune {method} {shown}")
            if k < n:
                tune(cfg.step_epochs, f"finetune (step {k})")
    lr_result = None
    if cfg.lowrank_layer:
        if pruning and cfg.prune_steps > 1:
            tune(cfg.step_epochs, "finetune (before LRA)")
        lr_result = apply_lowrank(
            net,
            cfg.lowrank_layer,
            r_comp=cfg.r_comp,
            rank=cfg.rank,
            learn=cfg.lra_learn,
            learn_steps=cfg.lra_steps,
            grid=cfg.lra_grid,
            calib_images=calib,
            eval_data=test,
        )
        record(
            f"lowrank {cfg.lowrank_layer} r={lr_result.rank}",
            rank=lr_result.rank,
            accuracy_lra=lr_result.accuracy_lra,
            accuracy_lra_learn=lr_result.accuracy_learn,
        )
        if cfg.factor_prune_u > 0 or cfg.factor_prune_v > 0:
            prune_factors(net, cfg.lowrank_layer, cfg.factor_prune_u, cfg.factor_prune_v)
            record(f"prune factors {cfg.factor_prune_u:g}/{cfg.factor_prune_v:g}")
    if cfg.weights:
        plan = weight_plan(net, cfg.weights, cfg.weight_layers)
        if pruning or cfg.lowrank_layer:  # Deep Compression: retrain after pruning first
            tune(cfg.step_epochs, "finetune (before weights)")
        modules = dict(net.iter_layers())
        for i, (lname, mode) in enumerate(plan):  # in layer order: later layers adapt (seed 003)
            share.apply_layer(modules[lname], mode, cfg.learn_codebook, cfg.seed)
            record(f"weights {mode} {lname}")
            if i < len(plan) - 1:
                tune(cfg.layer_epochs, f"finetune (after {lname})")
    tune(cfg.finetune_epochs, "finetune (final)")
    bundle = to_bundle(
        net,
        name=name,
        dataset=dataset,
        provenance={**(provenance or {}), "compress": cfg.to_dict()},
        metrics={
            "int8_accuracy": steps[-1]["int8_accuracy"],
            "weights_removed": steps[-1]["weights_removed"],
            "weight_bytes": steps[-1]["weight_bytes"],
            "test_images": len(test[1]),
        },
    )
    return CompressResult(net=net, bundle=bundle, steps=steps, lowrank=lr_result)
