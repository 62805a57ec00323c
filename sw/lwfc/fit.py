"""The one training loop: float training, QAT, compression fine-tuning and import fine-tuning.

:func:`fit` runs mini-batch passes over a training set with any model, loss, optimizer and
per-batch scheduler; :func:`fit_steps` tells a scheduler how many batches that is (fractional
epochs allowed: the last pass stops early). :func:`finetune` is the common fine-tuning
preset (Adam, OneCycle or constant, optional distillation with :func:`lwfc.qat.kd_loss`) that
compression, the search, Table 1 and ``lwfc import`` use; the training recipes of
:mod:`lwfc.train` call :func:`fit` with their own optimizers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .errors import LwfcError
from .qat import kd_loss, pixels

#: ``loss_fn(logits, labels, index)``: ``index`` are the batch's rows in the training set.
LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
Log = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def cross_entropy(out: torch.Tensor, labels: torch.Tensor, _idx: torch.Tensor) -> torch.Tensor:
    """The plain hard-label loss in :data:`LossFn` form."""
    return F.cross_entropy(out, labels)


def fit_steps(n: int, batch: int, epochs: float) -> int:
    """Batches :func:`fit` runs: ``ceil(n / batch)`` per whole epoch, a share of them for a
    fractional last epoch (at least one batch in all)."""
    per = math.ceil(n / batch)
    whole = math.floor(epochs)
    return max(1, whole * per + math.ceil((epochs - whole) * n / batch))


def fit(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: float,
    batch: int,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    scheduler: Any = None,
    loss_fn: LossFn = cross_entropy,
    stage: str = "fit",
    progress: bool = False,
    history: list[dict[str, Any]] | None = None,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    before_epoch: Callable[[int], None] | None = None,
    stop: Callable[[list[float]], bool] | None = None,
    val: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> list[float]:
    """Train ``model`` for up to ``epochs`` passes over ``(x, y)``; return per-epoch accuracies.

    Each pass draws a new permutation from ``generator``; a fractional last pass runs only its
    share of the batches. ``loss_fn(logits, labels, index)`` gets the batch's indices into the
    training set (for cached teacher logits); the scheduler steps once per batch. The
    training accuracy is the running accuracy over the pass's batches. ``stop(accuracies)``
    ends training after a pass; ``val`` adds ``val_accuracy`` to each ``history`` record.
    The model is left in training mode.
    """
    n = len(x)
    if n == 0:
        raise LwfcError("fit: no training images")
    accs: list[float] = []
    model.train()
    passes = math.ceil(epochs)
    bar = tqdm(range(passes), desc=stage, unit="epoch", disable=not progress, leave=False)
    for epoch in bar:
        if before_epoch is not None:
            before_epoch(epoch)
        perm = torch.randperm(n, generator=generator)
        share = min(1.0, epochs - epoch)
        limit = n if share >= 1.0 else min(n, math.ceil(share * n / batch) * batch)
        correct = 0
        total_loss = 0.0
        seen = 0
        for start in range(0, limit, batch):
            idx = perm[start : min(start + batch, limit)]
            xb = x[idx]
            if transform is not None:
                xb = transform(xb)
            out = model(xb)
            loss = loss_fn(out, y[idx], idx)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            correct += int((out.detach().argmax(1) == y[idx]).sum())
            total_loss += float(loss.detach()) * len(idx)
            seen += len(idx)
        acc = correct / seen
        accs.append(acc)
        if history is not None:
            rec: dict[str, Any] = {
                "stage": stage,
                "epoch": epoch + 1,
                "train_accuracy": acc,
                "loss": total_loss / seen,
            }
            if val is not None:
                rec["val_accuracy"] = accuracy(model, *val)
                model.train()
            history.append(rec)
        bar.set_postfix(acc=f"{acc:.4f}", loss=f"{total_loss / seen:.4f}")
        if stop is not None and stop(accs):
            break
    bar.close()
    return accs


def one_cycle(
    optimizer: torch.optim.Optimizer, lr: float, steps: int, pct: float, **kwargs: Any
) -> torch.optim.lr_scheduler.OneCycleLR:
    """OneCycle over ``steps`` batches, warm-up share ``pct``, final LR ``lr / 25 / 1e4``.

    Very short runs (a handful of batches) get at least 4 scheduler steps and a warm-up of at
    least 2 of them, so both phases of the cycle have a length.
    """
    total = max(4, steps)
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=lr,
        total_steps=total,
        pct_start=min(0.5, max(pct, 2.0 / total)),
        final_div_factor=1e4,
        **kwargs,
    )


def finetune(
    net: nn.Module,
    images: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor,
    epochs: float,
    *,
    lr: float = 1e-3,
    batch: int = 128,
    seed: int = 0,
    teacher: nn.Module | None = None,
    teacher_logits: torch.Tensor | None = None,
    alpha: float = 0.5,
    tau: float = 4.0,
    schedule: str = "onecycle",
    log: Log = _quiet,
) -> nn.Module:
    """Fine-tune ``net`` in place with Adam (QAT for a :class:`~lwfc.qat.QNet`; masks in force).

    Args:
        images, labels: training split, uint8 ``(N, ...)`` (or pixels/255) and ``(N,)``.
        epochs: passes over the data (fractions allowed: ``0.5`` = half an epoch).
        teacher: optional teacher module (pixels/255 -> logits) for knowledge distillation
            with :func:`lwfc.qat.kd_loss` (paper eq. 1-2).
        teacher_logits: or the teacher's logits ``(N, classes)`` on ``images``, precomputed
            (e.g. an integer teacher's, :func:`lwfc.qat.bundle_logits`).
        alpha, tau: the distillation weight and temperature.
        schedule: ``"onecycle"`` (warm-up 10 %, cosine decay) or ``"constant"``.
    """
    if schedule not in ("onecycle", "constant"):
        raise LwfcError(f"schedule must be 'onecycle' or 'constant', got {schedule!r}")
    if epochs <= 0:
        return net
    x = pixels(images)
    y = torch.as_tensor(np.asarray(labels).astype(np.int64))
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # dropout masks
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    steps = fit_steps(len(x), batch, epochs)
    sched = one_cycle(opt, lr, steps, 0.1) if schedule == "onecycle" else None
    cached = teacher_logits
    if cached is None and teacher is not None:
        cached = logits(teacher, x)

    def loss_fn(out: torch.Tensor, yb: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        if cached is None:
            return F.cross_entropy(out, yb)
        return kd_loss(out, cached[idx], yb, alpha, tau)

    start = time.perf_counter()
    accs = fit(
        net,
        x,
        y,
        epochs=epochs,
        batch=batch,
        optimizer=opt,
        generator=gen,
        scheduler=sched,
        loss_fn=loss_fn,
        stage="finetune",
    )
    net.eval()
    log(
        f"  finetune {epochs:g} epochs in {time.perf_counter() - start:.1f} s "
        f"(train accuracy {accs[-1]:.4f})"
    )
    return net


# ------------------------------------------------------------------------- evaluation
@torch.no_grad()
def logits(model: nn.Module, x: torch.Tensor | np.ndarray, batch: int = 5_000) -> torch.Tensor:
    """Logits ``(N, C)`` of ``model`` in eval mode on images (uint8 or pixels/255), in chunks.

    The model's training mode is restored afterwards.
    """
    was = model.training
    model.eval()
    xt = pixels(x)
    out = torch.cat([model(xt[i : i + batch]) for i in range(0, len(xt), batch)])
    model.train(was)
    return out


def predict(model: nn.Module, x: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Predicted classes ``(N,)`` of a torch model (eval mode, restored afterwards)."""
    return logits(model, x, 10_000).argmax(1)


def accuracy(model: nn.Module, x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray) -> float:
    """Fraction of correct predictions of a torch model (float or fake-quant)."""
    pred = predict(model, x).numpy()
    return float(np.mean(pred == np.asarray(y).astype(np.int64)))
