"""Training recipes for the 784-50-100-10 student, quantization-aware training and export.

Two recipes, both seeded and reproducible (same seed, same machine and thread count: the same
weights and the same ``tensors.npz`` bytes; only ``provenance.wall_time_s`` differs):

``paper``
    The paper's set-up (section 4): batch 150, Adam, weight decay 5e-4, ``CyclicLR``, and the
    paper's stopping rule — stop when ``max - min`` of the last 10 epochs' training accuracies is
    below 0.01 % (``1e-4``), or at a hard epoch cap. The paper gives one learning rate, 1e-6, but
    ``CyclicLR`` needs a range: we use the paper's 1e-6 as ``base_lr`` and Adam's customary
    1e-3 as ``max_lr``, in ``triangular2`` mode (the amplitude halves every cycle of 4 epochs),
    so the learning rate decays towards 1e-6 and the stopping rule becomes reachable. Then 10
    epochs of QAT (Adam at the paper's 1e-6, no distillation), export.

``default``
    Our recipe, built to reach >= 0.984 int8 (golden model) test accuracy within 5 minutes on
    2 CPU cores:

    1. a small CNN teacher (:class:`~lwfc.models.ConvTeacher`) trained for a few epochs on
       randomly affine-augmented images (rotation, scale, shift; batched ``affine_grid`` /
       ``grid_sample``), OneCycle schedule;
    2. its logits on the (clean) training images are computed once and cached;
    3. the student learns from them by knowledge distillation (:func:`kd_loss`, ``alpha`` 0.9,
       ``tau`` 4) for many cheap epochs, AdamW + OneCycle;
    4. post-training calibration of the activation scales (maximum on 10,000 training images),
       then QAT with the same distillation loss and EMA observers, frozen for the last epochs;
    5. export through :func:`lwfc.qat.to_bundle`; the reported ``int8_accuracy`` is the golden
       model's on the test split.

    Hyper-parameters were chosen on a validation split (the last 5,000 training images; see
    ``validation``), not on the test set.

:func:`train` returns a :class:`TrainResult` (the bundle and a checkpoint ``state``);
:func:`save_checkpoint` / :func:`export_checkpoint` turn a checkpoint into a bundle later
(``lwfc export``). The network, its export and :func:`~lwfc.qat.kd_loss` (eq. 1-2) are
:mod:`lwfc.qat`; the loop is :func:`lwfc.fit.fit`, shared with compression and import.
"""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import __version__, golden, qat
from .bundle import Bundle
from .checkpoints import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    load_checkpoint,
    model_from_state,
    save_checkpoint,
)
from .data import dataset_label, load_data
from .errors import LwfcError
from .fit import LossFn, accuracy, fit, logits, one_cycle, predict
from .models import MLP, STUDENT_SIZES, ConvTeacher, parse_arch
from .qat import QNet, bundle_logits, kd_loss

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "TrainResult",
    "bundle_logits",
    "export_checkpoint",
    "kd_loss",
    "load_checkpoint",
    "model_from_state",
    "save_checkpoint",
    "train",
]

Log = Callable[..., Any]

#: Images used to calibrate activation scales (the first N of the training split).
CALIBRATION_IMAGES = 10_000


# ------------------------------------------------------------------------------ recipes
@dataclass(frozen=True)
class DefaultRecipe:
    """Hyper-parameters of the ``default`` recipe (epochs count passes over the train set)."""

    teacher_channels: tuple[int, int] = (16, 32)
    teacher_hidden: int = 128
    teacher_epochs: int = 6
    teacher_lr: float = 3e-3
    teacher_batch: int = 256
    #: random affine augmentation of the teacher's images: max rotation (radians), max
    #: relative scale change, max shift (fraction of the half-width: 0.15 = 2.1 pixels).
    aug_rotate: float = 0.2
    aug_scale: float = 0.1
    aug_shift: float = 0.15
    student_epochs: int = 60
    student_lr: float = 3e-3
    batch: int = 128
    weight_decay: float = 0.0
    alpha: float = 0.9
    tau: float = 4.0
    calib_percentile: float | None = None
    qat_epochs: int = 10
    qat_lr: float = 3e-4
    observer_momentum: float = 0.01
    observer_freeze_epochs: int = 2
    #: the epoch counts above are for this many training images (MNIST's); a smaller train
    #: set gets proportionally more passes of every stage (the same number of optimizer
    #: steps), so 1,437 images of scikit-learn's digits are not trained for 1/42 of the steps.
    #: An explicit ``epochs`` is taken as given.
    reference_train_images: int = 60_000


@dataclass(frozen=True)
class PaperRecipe:
    """Hyper-parameters of the ``paper`` recipe (see the module docstring)."""

    batch: int = 150
    lr: float = 1e-6
    weight_decay: float = 5e-4
    cyclic_base_lr: float = 1e-6
    cyclic_max_lr: float = 1e-3
    cyclic_mode: str = "triangular2"
    cyclic_step_epochs: int = 2
    max_epochs: int = 100
    stop_window: int = 10
    stop_tolerance: float = 1e-4
    calib_percentile: float | None = None
    qat_epochs: int = 10
    qat_lr: float = 1e-6
    observer_momentum: float = 0.01
    observer_freeze_epochs: int = 2


RECIPES: dict[str, type] = {"default": DefaultRecipe, "paper": PaperRecipe}


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        bundle: the exported integer bundle, with ``metrics`` (``float_accuracy``,
            ``int8_accuracy``, ``test_images``, …) and ``provenance``.
        state: the checkpoint (plain dict of tensors and JSON-like values): ``student``
            (``config``, ``state_dict``), ``act_scales`` (QAT observers), ``teacher`` (or
            None), ``recipe``, ``seed``, ``dataset``, ``hyper``, ``metrics``, ``provenance``.
        model: the trained QAT network (float shadow weights + scales).
        history: one record per epoch and stage (``stage``, ``epoch``, ``train_accuracy``, …).
    """

    bundle: Bundle
    state: dict[str, Any]
    model: QNet
    history: list[dict[str, Any]] = field(default_factory=list)


# ------------------------------------------------------------------------ loss and rules
def paper_should_stop(
    accuracies: Sequence[float], window: int = 10, tolerance: float = 1e-4
) -> bool:
    """The paper's stopping rule: the last ``window`` epoch training accuracies (fractions in
    [0, 1]) have ``max - min < tolerance`` (0.01 % = 1e-4). False while fewer than ``window``."""
    if len(accuracies) < window:
        return False
    last = accuracies[-window:]
    return max(last) - min(last) < tolerance


# --------------------------------------------------------------------------- data helpers
def augment(
    x: torch.Tensor,
    generator: torch.Generator,
    rotate: float = 0.2,
    scale: float = 0.1,
    shift: float = 0.15,
    shape: tuple[int, int] = (28, 28),
) -> torch.Tensor:
    """Random affine transform of a batch of images (pixels/255), batched on the CPU.

    Args:
        x: ``(N, H * W)`` or ``(N, 1, H, W)`` floats; ``shape`` is ``(H, W)``.
        generator: source of randomness (reproducible).
        rotate: max rotation in radians (uniform in ``[-rotate, rotate]``).
        scale: max relative zoom change (uniform in ``[1 - scale, 1 + scale]``).
        shift: max translation as a fraction of the half-width (0.15 ≈ 2 pixels).

    Returns:
        Transformed images, same shape as ``x`` (bilinear, zero padding).
    """
    n = x.shape[0]
    u = torch.rand(n, 4, generator=generator) * 2 - 1
    ang, zoom = u[:, 0] * rotate, 1 + u[:, 1] * scale
    cos, sin = torch.cos(ang) * zoom, torch.sin(ang) * zoom
    theta = torch.stack(
        [
            torch.stack([cos, -sin, u[:, 2] * shift], dim=1),
            torch.stack([sin, cos, u[:, 3] * shift], dim=1),
        ],
        dim=1,
    )
    img = x.reshape(n, 1, *shape)
    grid = F.affine_grid(theta, [n, 1, *shape], align_corners=False)
    out = F.grid_sample(img, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.reshape(x.shape)


@dataclass
class _Data:
    name: str  # the bundle's dataset field
    shape: tuple[int, int] | None  # (H, W) of 2-D images, None for flat features
    classes: int
    train_u8: np.ndarray  # (N, ...) uint8
    train_x: torch.Tensor  # (N, features) float32 pixels/255
    train_y: torch.Tensor  # (N,) int64
    val_u8: np.ndarray | None
    val_x: torch.Tensor | None
    val_y: torch.Tensor | None
    test_u8: np.ndarray
    test_y_np: np.ndarray
    test_x: torch.Tensor
    test_y: torch.Tensor

    @property
    def val(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The validation split ``(x, y)``, or None."""
        return None if self.val_x is None or self.val_y is None else (self.val_x, self.val_y)


def _load(
    dataset: str,
    data_dir: str | os.PathLike[str] | None,
    progress: bool,
    validation: int,
    train_limit: int | None,
    test_limit: int | None,
) -> _Data:
    ds = load_data(dataset, data_dir, progress=progress)
    xi, yi, xt, yt = ds.x_train, ds.y_train, ds.x_test, ds.y_test
    if validation < 0 or validation >= len(xi):
        raise LwfcError(f"validation: must be in [0, {len(xi)}), got {validation}")
    vx = vy = vu = None
    if validation:
        vu, vy_np = xi[len(xi) - validation :], yi[len(xi) - validation :]
        xi, yi = xi[: len(xi) - validation], yi[: len(yi) - validation]
        vx = qat.pixels(vu)
        vy = torch.from_numpy(vy_np.astype(np.int64))
    if train_limit is not None:
        xi, yi = xi[:train_limit], yi[:train_limit]
    if test_limit is not None:
        xt, yt = xt[:test_limit], yt[:test_limit]
    return _Data(
        name=ds.name,
        shape=ds.shape,
        classes=ds.classes,
        train_u8=xi,
        train_x=qat.pixels(xi),
        train_y=torch.from_numpy(yi.astype(np.int64)),
        val_u8=vu,
        val_x=vx,
        val_y=vy,
        test_u8=xt,
        test_y_np=yt.astype(np.int64),
        test_x=qat.pixels(xt),
        test_y=torch.from_numpy(yt.astype(np.int64)),
    )


# ------------------------------------------------------------------------------- stages
def _train_teacher(
    data: _Data,
    r: DefaultRecipe,
    epochs: int,
    gen: torch.Generator,
    progress: bool,
    history: list[dict[str, Any]],
) -> nn.Module:
    """A CNN teacher on augmented images; for flat feature vectors, a wide MLP, no augmentation."""
    features = data.train_x.shape[1]
    teacher: nn.Module
    if data.shape is not None and min(data.shape) >= 4:
        shape = data.shape
        teacher = ConvTeacher(r.teacher_channels, r.teacher_hidden, data.classes, shape)

        def transform(xb: torch.Tensor) -> torch.Tensor:
            return augment(xb, gen, r.aug_rotate, r.aug_scale, r.aug_shift, shape)
    else:
        teacher = MLP((features, 4 * r.teacher_hidden, 2 * r.teacher_hidden, data.classes))
        transform = None  # type: ignore[assignment]
    steps = math.ceil(len(data.train_x) / r.teacher_batch)
    opt = torch.optim.AdamW(teacher.parameters(), lr=r.teacher_lr, weight_decay=1e-4)
    sched = one_cycle(opt, r.teacher_lr, epochs * steps, 0.2)
    fit(
        teacher,
        data.train_x,
        data.train_y,
        val=data.val,
        epochs=epochs,
        batch=r.teacher_batch,
        optimizer=opt,
        scheduler=sched,
        loss_fn=lambda out, yb, _idx: F.cross_entropy(out, yb),
        generator=gen,
        stage="teacher",
        progress=progress,
        history=history,
        transform=transform,
    )
    teacher.eval()
    return teacher


def _qat(
    student: MLP,
    data: _Data,
    *,
    epochs: int,
    lr: float,
    weight_decay: float,
    batch: int,
    momentum: float,
    freeze: int,
    percentile: float | None,
    loss_fn: LossFn,
    gen: torch.Generator,
    progress: bool,
    history: list[dict[str, Any]],
    schedule: str,
) -> QNet:
    net = QNet.from_mlp(student, momentum=momentum, percentile=percentile)
    net.calibrate(data.train_u8[:CALIBRATION_IMAGES], percentile=percentile)
    if epochs <= 0:
        return net
    steps = math.ceil(len(data.train_x) / batch)
    if schedule == "onecycle":
        opt: torch.optim.Optimizer = torch.optim.AdamW(
            net.parameters(), lr=lr, weight_decay=weight_decay
        )
        sched = one_cycle(opt, lr, epochs * steps, 0.1)
    else:
        opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
        sched = None

    def before(epoch: int) -> None:
        net.observe = epoch < epochs - freeze

    fit(
        net,
        data.train_x,
        data.train_y,
        val=data.val,
        epochs=epochs,
        batch=batch,
        optimizer=opt,
        scheduler=sched,
        loss_fn=loss_fn,
        generator=gen,
        stage="qat",
        progress=progress,
        history=history,
        before_epoch=before,
    )
    net.eval()
    return net


def _scaled(default: int, ref: int, total: int | None) -> int:
    """Epoch count ``default`` rescaled when the main stage's ``ref`` epochs become ``total``."""
    return default if total is None else max(1, round(default * total / ref))


def default_epochs(
    r: DefaultRecipe, train_images: int, epochs: int | None
) -> tuple[int, int, int, int]:
    """``(teacher, student, QAT, observer-freeze)`` epochs of the default recipe.

    ``epochs`` None: the recipe's counts, times ``reference_train_images / train_images`` when
    the train set is smaller (the same number of optimizer steps as on MNIST). Else the
    student's ``epochs`` as given, the teacher's and QAT's in proportion (at least 1 each).
    """
    if epochs is None:
        more = max(1.0, r.reference_train_images / train_images)
        q = round(r.qat_epochs * more)
        return (round(r.teacher_epochs * more), round(r.student_epochs * more), q,
                min(round(r.observer_freeze_epochs * more), q - 1))
    q = _scaled(r.qat_epochs, r.student_epochs, epochs)
    return (_scaled(r.teacher_epochs, r.student_epochs, epochs), epochs, q,
            min(r.observer_freeze_epochs, q - 1))


# --------------------------------------------------------------------------------- train
def train(
    recipe: str = "default",
    data_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
    epochs: int | None = None,
    progress: bool = True,
    log: Log = print,
    *,
    dataset: str = "mnist",
    arch: Sequence[int] | str | None = None,
    dropout: tuple[int, float] | None = None,
    validation: int = 0,
    train_limit: int | None = None,
    test_limit: int | None = None,
    threads: int | None = 1,
    overrides: dict[str, Any] | None = None,
) -> TrainResult:
    """Train a student MLP (784-50-100-10 by default) with a recipe, run QAT, export a bundle.

    Args:
        recipe: ``"default"`` (ours: CNN teacher, distillation, QAT) or ``"paper"``.
        data_dir: dataset folder (None: ``$LWFC_DATA`` or the user cache, see lwfc.data).
        seed: seeds every random choice (initialisation, shuffling, augmentation, dropout).
        epochs: default recipe: the student's float epochs (teacher and QAT epochs scale in
            proportion, at least 1 each); paper recipe: the hard epoch cap. None: the recipe's.
        progress: tqdm bars over epochs (stderr).
        log: called with one-line progress messages.
        dataset: a name or path :func:`lwfc.data.load_data` knows (``"mnist"``,
            ``"fashion-mnist"``, ``"digits"``, a folder of IDX files, an ``.npz``).
        arch: the student's layer widths, input first (``"784-128-64-10"`` or a sequence);
            None: 784-50-100-10 on MNIST-sized data, else ``features-50-100-classes``. The
            input and output widths must match the data's features and classes.
        dropout: ``(location, p)`` dropout after hidden layer ``location`` of the student.
        validation: hold out the last N training images and log accuracy on them each epoch
            (for choosing hyper-parameters; the test split is only used for the final metrics).
        train_limit, test_limit: use only the first N images (tests and smoke runs).
        threads: torch intra-op threads during training (restored afterwards); None: unchanged.
            One by default: the float reductions, and so the trained weights, depend on the
            thread count (seed 0 of the default recipe: int8 0.9859 with 1 thread, 0.9838
            with 2, teacher and student alike), so a documented command must not depend on
            the machine's cores.
        overrides: replace recipe hyper-parameters by name (e.g. ``{"alpha": 0.5}``).

    Returns:
        A :class:`TrainResult`; ``result.bundle`` is validated and ready for
        :func:`lwfc.bundle.save_bundle`.
    """
    if recipe not in RECIPES:
        raise LwfcError(f"recipe: unknown name {recipe!r} (known: {', '.join(RECIPES)})")
    hyper = RECIPES[recipe]()
    if overrides:
        unknown = set(overrides) - {f.name for f in dataclasses.fields(hyper)}
        if unknown:
            raise LwfcError(f"overrides: unknown hyper-parameter(s) {sorted(unknown)}")
        hyper = dataclasses.replace(hyper, **overrides)
    if epochs is not None and epochs < 1:
        raise LwfcError(f"epochs: must be at least 1, got {epochs}")
    if isinstance(arch, str):
        try:
            arch = parse_arch(arch)
        except ValueError as exc:
            raise LwfcError(f"arch: {exc}") from None

    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        t0 = time.perf_counter()
        data = _load(dataset, data_dir, progress, validation, train_limit, test_limit)
        sizes = _student_sizes(arch, data)
        if dropout is not None and dropout[1] > 0 and not 1 <= dropout[0] <= len(sizes) - 2:
            raise LwfcError(f"dropout: location must be a hidden layer 1..{len(sizes) - 2}")
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        history: list[dict[str, Any]] = []
        stage_s: dict[str, float] = {}
        if recipe == "default":
            net, teacher, run_info = _train_default(
                hyper, data, sizes, epochs, dropout, gen, progress, log, history, stage_s
            )
        else:
            net, teacher, run_info = _train_paper(
                hyper, data, sizes, epochs, dropout, gen, progress, log, history, stage_s
            )
        t = time.perf_counter()
        result = _finish(
            net,
            teacher,
            data,
            recipe=recipe,
            seed=seed,
            dataset=data.name,
            hyper=dataclasses.asdict(hyper),
            run_info=run_info,
            history=history,
        )
        stage_s["export"] = time.perf_counter() - t
        prov = result.bundle.provenance
        prov["stage_seconds"] = {k: round(v, 2) for k, v in stage_s.items()}
        prov["wall_time_s"] = round(time.perf_counter() - t0, 2)
        result.state["provenance"] = dict(prov)
        m = result.bundle.metrics
        log(
            f"{recipe}: float {m['float_accuracy']:.4f}, int8 (golden) {m['int8_accuracy']:.4f} "
            f"on {m['test_images']} test images, {prov['wall_time_s']:.0f} s"
        )
        return result
    finally:
        torch.set_num_threads(old_threads)


def _student_sizes(arch: Sequence[int] | None, data: _Data) -> tuple[int, ...]:
    """The student's widths: ``arch`` checked against the data, or the default shape."""
    features = int(data.train_x.shape[1])
    if arch is None:
        return (features, *STUDENT_SIZES[1:-1], data.classes)
    sizes = tuple(int(s) for s in arch)
    if len(sizes) < 3 or any(s < 1 for s in sizes):
        raise LwfcError(f"arch: need input-hidden...-classes widths >= 1, got {sizes}")
    if sizes[0] != features:
        raise LwfcError(f"arch: input width {sizes[0]} but the data has {features} features")
    if sizes[-1] != data.classes:
        raise LwfcError(f"arch: output width {sizes[-1]} but the data has {data.classes} classes")
    return sizes


def _train_default(
    r: DefaultRecipe,
    data: _Data,
    sizes: tuple[int, ...],
    epochs: int | None,
    dropout: tuple[int, float] | None,
    gen: torch.Generator,
    progress: bool,
    log: Log,
    history: list[dict[str, Any]],
    stage_s: dict[str, float],
) -> tuple[QNet, nn.Module, dict[str, Any]]:
    t_epochs, s_epochs, q_epochs, freeze = default_epochs(r, len(data.train_x), epochs)

    t = time.perf_counter()
    teacher = _train_teacher(data, r, t_epochs, gen, progress, history)
    cached = logits(teacher, data.train_x)
    stage_s["teacher"] = time.perf_counter() - t
    t_acc = accuracy(teacher, data.test_x, data.test_y)
    log(f"teacher: {t_epochs} epochs, test accuracy {t_acc:.4f} ({stage_s['teacher']:.0f} s)")

    def distill(out: torch.Tensor, yb: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return kd_loss(out, cached[idx], yb, r.alpha, r.tau)

    t = time.perf_counter()
    student = MLP(sizes, dropout)
    steps = math.ceil(len(data.train_x) / r.batch)
    opt = torch.optim.AdamW(student.parameters(), lr=r.student_lr, weight_decay=r.weight_decay)
    fit(
        student,
        data.train_x,
        data.train_y,
        val=data.val,
        epochs=s_epochs,
        batch=r.batch,
        optimizer=opt,
        scheduler=one_cycle(opt, r.student_lr, s_epochs * steps, 0.15),
        loss_fn=distill,
        generator=gen,
        stage="student",
        progress=progress,
        history=history,
    )
    stage_s["student"] = time.perf_counter() - t
    pre = accuracy(student, data.test_x, data.test_y)
    log(f"student: {s_epochs} epochs, float test accuracy {pre:.4f} ({stage_s['student']:.0f} s)")

    t = time.perf_counter()
    net = _qat(
        student,
        data,
        epochs=q_epochs,
        lr=r.qat_lr,
        weight_decay=r.weight_decay,
        batch=r.batch,
        momentum=r.observer_momentum,
        freeze=freeze,
        percentile=r.calib_percentile,
        loss_fn=distill,
        gen=gen,
        progress=progress,
        history=history,
        schedule="onecycle",
    )
    stage_s["qat"] = time.perf_counter() - t
    info = {
        "teacher": teacher.config(),
        "teacher_epochs": t_epochs,
        "teacher_test_accuracy": round(t_acc, 6),
        "student_epochs": s_epochs,
        "qat_epochs": q_epochs,
        "float_accuracy_before_qat": round(pre, 6),
    }
    return net, teacher, info


def _train_paper(
    r: PaperRecipe,
    data: _Data,
    sizes: tuple[int, ...],
    epochs: int | None,
    dropout: tuple[int, float] | None,
    gen: torch.Generator,
    progress: bool,
    log: Log,
    history: list[dict[str, Any]],
    stage_s: dict[str, float],
) -> tuple[QNet, None, dict[str, Any]]:
    cap = epochs if epochs is not None else r.max_epochs
    t = time.perf_counter()
    student = MLP(sizes, dropout)
    steps = math.ceil(len(data.train_x) / r.batch)
    opt = torch.optim.Adam(student.parameters(), lr=r.lr, weight_decay=r.weight_decay)
    sched = torch.optim.lr_scheduler.CyclicLR(
        opt,
        base_lr=r.cyclic_base_lr,
        max_lr=r.cyclic_max_lr,
        step_size_up=r.cyclic_step_epochs * steps,
        mode=r.cyclic_mode,
        cycle_momentum=False,
    )

    def ce(out: torch.Tensor, yb: torch.Tensor, _idx: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(out, yb)

    accs = fit(
        student,
        data.train_x,
        data.train_y,
        val=data.val,
        epochs=cap,
        batch=r.batch,
        optimizer=opt,
        scheduler=sched,
        loss_fn=ce,
        generator=gen,
        stage="float",
        progress=progress,
        history=history,
        stop=lambda a: paper_should_stop(a, r.stop_window, r.stop_tolerance),
    )
    stopped = paper_should_stop(accs, r.stop_window, r.stop_tolerance)
    stage_s["float"] = time.perf_counter() - t
    pre = accuracy(student, data.test_x, data.test_y)
    why = "stopping rule" if stopped else "epoch cap"
    log(f"float: {len(accs)} epochs ({why}), test accuracy {pre:.4f} ({stage_s['float']:.0f} s)")

    t = time.perf_counter()
    net = _qat(
        student,
        data,
        epochs=r.qat_epochs,
        lr=r.qat_lr,
        weight_decay=r.weight_decay,
        batch=r.batch,
        momentum=r.observer_momentum,
        freeze=min(r.observer_freeze_epochs, r.qat_epochs - 1),
        percentile=r.calib_percentile,
        loss_fn=ce,
        gen=gen,
        progress=progress,
        history=history,
        schedule="constant",
    )
    stage_s["qat"] = time.perf_counter() - t
    info = {
        "float_epochs": len(accs),
        "stopped_by": why,
        "final_train_accuracy": round(accs[-1], 6),
        "qat_epochs": r.qat_epochs,
        "float_accuracy_before_qat": round(pre, 6),
    }
    return net, None, info


def _finish(
    net: QNet,
    teacher: nn.Module | None,
    data: _Data,
    *,
    recipe: str,
    seed: int,
    dataset: str,
    hyper: dict[str, Any],
    run_info: dict[str, Any],
    history: list[dict[str, Any]],
    method: str = "qat",
) -> TrainResult:
    """Metrics on the test split, provenance, bundle and checkpoint state."""
    net.eval()
    metrics = _metrics(net, data.test_u8, data.test_y_np, data.test_x, data.test_y)
    provenance = {
        "tool": f"lwfc {__version__}",
        "recipe": recipe,
        "seed": seed,
        "method": method,
        "epochs": run_info,
        "hyper_parameters": hyper,
        "calibration_images": min(CALIBRATION_IMAGES, len(data.train_u8)),
        "train_images": len(data.train_u8),
        "torch": str(torch.__version__),
        "numpy": str(np.__version__),
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
    }
    bundle = qat.to_bundle(
        net,
        name=f"{dataset_label(dataset)}-dense",
        dataset=dataset,
        provenance=provenance,
        metrics=metrics,
    )
    mlp = net.to_mlp()
    state = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "recipe": recipe,
        "seed": seed,
        "dataset": dataset,
        "hyper": hyper,
        "student": {"config": mlp.config(), "state_dict": _cpu_state(mlp)},
        "act_scales": net.scales,
        "teacher": None
        if teacher is None
        else {"config": teacher.config(), "state_dict": _cpu_state(teacher)},  # type: ignore[operator]
        "metrics": dict(metrics),
        "provenance": provenance,
    }
    return TrainResult(bundle=bundle, state=state, model=net, history=history)


def _cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _metrics(
    net: QNet,
    test_u8: np.ndarray,
    test_y_np: np.ndarray,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
) -> dict[str, Any]:
    """Float, fake-quant and golden int8 accuracy of ``net`` on the test images."""
    bundle = qat.to_bundle(net)
    int8_pred = golden.predict(bundle, test_u8)
    net.quant = False
    float_acc = accuracy(net, test_x, test_y)
    net.quant = True
    fq_pred = predict(net, test_x).numpy()
    return {
        "float_accuracy": round(float_acc, 6),
        "fake_quant_accuracy": round(float(np.mean(fq_pred == test_y_np)), 6),
        "int8_accuracy": round(float(np.mean(int8_pred == test_y_np)), 6),
        "fake_quant_agreement": round(float(np.mean(fq_pred == int8_pred)), 6),
        "test_images": len(test_y_np),
    }


# --------------------------------------------------------------------------- export
def export_checkpoint(
    checkpoint_path: str | os.PathLike[str],
    data_dir: str | os.PathLike[str] | None = None,
    method: str = "qat",
    dataset: str | None = None,
    progress: bool = False,
) -> Bundle:
    """Turn a saved checkpoint into a bundle (``lwfc export``).

    Args:
        checkpoint_path: file written by :func:`save_checkpoint`.
        data_dir: dataset folder (for PTQ calibration and the test metrics).
        method: ``"qat"``: the checkpoint's trained activation scales; ``"ptq"``: calibrate
            the scales anew on the first 10,000 training images (the recipe's calibration
            statistic) and quantize the same float weights.
        dataset: override the checkpoint's dataset name.

    Returns:
        A validated bundle with test metrics (float, int8) and the checkpoint's provenance.
    """
    if method not in ("qat", "ptq"):
        raise LwfcError(f"method: must be 'qat' or 'ptq', got {method!r}")
    state = load_checkpoint(checkpoint_path)
    net = model_from_state(state)
    data = load_data(dataset or state.get("dataset", "mnist"), data_dir, progress=progress)
    ds = data.name
    test_u8, test_y = data.x_test, data.y_test
    if method == "ptq":
        train_u8 = data.x_train
        pct = state.get("hyper", {}).get("calib_percentile")
        net.calibrate(train_u8[:CALIBRATION_IMAGES], percentile=pct)
        net.eval()
    test_x = qat.pixels(test_u8)
    test_y64 = test_y.astype(np.int64)
    metrics = _metrics(net, test_u8, test_y64, test_x, torch.from_numpy(test_y64))
    provenance = dict(state.get("provenance", {}))
    provenance["method"] = method
    provenance["exported_from"] = Path(checkpoint_path).name
    return qat.to_bundle(
        net, name=f"{dataset_label(ds)}-dense", dataset=ds, provenance=provenance, metrics=metrics
    )
