"""Table 1 of the paper with our training: float, PTQ, QAT, QAT+KD (float / integer teacher).

Protocol, per seed (one Ray task each; ``lwfc search --table1 --out DIR``):

1. **float** and **PTQ**: the student 784-50-100-10 trained by ``lwfc.train`` with the
   ``paper`` recipe (batch 150, Adam, weight decay 5e-4, CyclicLR, the paper's stopping rule),
   no dropout, with its QAT stage switched off (``qat_epochs = 0``): the float test accuracy,
   and the int8 accuracy of that float model after post-training calibration (PTQ).
2. **teacher**: the paper's 784-100-200-100-50-10 MLP, trained in float (Adam, OneCycle);
   its **integer** version is its int8 bundle after PTQ calibration, whose logits the golden
   model computes (:func:`lwfc.qat.bundle_logits`).
3. **QAT**, **QAT+KD (float teacher)**, **QAT+KD (int teacher)**: from the same float student,
   ``qat_epochs`` (10, the paper's) of QAT with Adam at ``qat_lr`` (constant), batch 150; the
   loss is cross entropy, or :func:`lwfc.qat.kd_loss` (eq. 1-2) with the float or the
   integer teacher's logits. Only the loss differs between the three.

Every accuracy is the int8 golden model's on the 10,000 test images (the float column: the
float model's). Records go to ``DIR/table1.jsonl`` as each seed finishes; a rerun skips seeds
whose records are all there.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from .search import ResultStore, _Executor, trial_id

VARIANTS = ("float", "ptq", "qat", "qat_kd_float", "qat_kd_int")
TABLE1 = "table1.jsonl"


def _protocol(qat_lr: float, qat_epochs: int, alpha: float, tau: float) -> str:
    return f"qat_lr={qat_lr:g},qat_epochs={qat_epochs},alpha={alpha:g},tau={tau:g}"


def run_seed(
    seed: int,
    data_dir: str | None,
    dataset: str,
    train_epochs: int | None,
    teacher_epochs: float,
    qat_lrs: tuple[float, ...],
    qat_epochs: int,
    alpha: float,
    tau: float,
    train_limit: int | None = None,
    test_limit: int | None = None,
) -> list[dict[str, Any]]:
    """All Table 1 variants for one seed; returns their records.

    ``train_limit`` / ``test_limit``: use only the first N images (tests).
    """
    import torch

    from .. import golden
    from ..compress import pipeline
    from ..compress.checkpoint import from_train_checkpoint
    from ..data import load_data
    from ..fit import accuracy
    from ..models import Teacher
    from ..qat import QNet, bundle_logits, clone, pixels, to_bundle
    from ..train import train

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    data = load_data(dataset, data_dir)
    xi, yi, xt, yt = data.x_train, data.y_train, data.x_test, data.y_test
    xi, yi, xt, yt = xi[:train_limit], yi[:train_limit], xt[:test_limit], yt[:test_limit]
    common = {"kind": "table1", "seed": seed, "dataset": dataset, "host": platform.node()}
    records: list[dict[str, Any]] = []

    # 1. float student and PTQ (the paper recipe without its QAT stage)
    res = train(
        recipe="paper",
        data_dir=data_dir,
        seed=seed,
        epochs=train_epochs,
        progress=False,
        log=lambda *a, **k: None,
        dataset=dataset,
        threads=1,
        overrides={"qat_epochs": 0},
        train_limit=train_limit,
        test_limit=test_limit,
    )
    m = res.bundle.metrics
    info = res.bundle.provenance.get("epochs", {})
    base = {**common, "float_epochs": info.get("float_epochs")}
    records.append({**base, "variant": "float", "int8_accuracy": m["float_accuracy"]})
    records.append({**base, "variant": "ptq", "int8_accuracy": m["int8_accuracy"]})
    student = from_train_checkpoint(res.state)

    # 2. the paper's MLP teacher, float and integer
    torch.manual_seed(seed)
    tmodel = Teacher()
    layers = list(tmodel.layers)
    teacher = QNet.from_dense(
        [lin.weight.detach() for lin in layers], [lin.bias.detach() for lin in layers]
    )
    teacher.quant = False
    pipeline.finetune(teacher, xi, yi, teacher_epochs, lr=1e-3, batch=128, seed=seed)
    teacher.eval()
    with torch.no_grad():
        float_logits = teacher(pixels(xi))
    teacher_float_acc = accuracy(teacher, xt, yt)
    teacher.quant = True
    teacher.calibrate(pixels(xi[:10_000]))
    tbundle = to_bundle(teacher, name="teacher-int8")
    int_logits = bundle_logits(tbundle, xi)
    teacher_int_acc = golden.accuracy(tbundle, xt, yt)
    tinfo = {
        "teacher_float_accuracy": teacher_float_acc,
        "teacher_int8_accuracy": teacher_int_acc,
        "teacher_epochs": teacher_epochs,
    }

    # 3. the three QAT variants from the same float student, per learning rate
    for lr in qat_lrs:
        proto = _protocol(lr, qat_epochs, alpha, tau)
        for variant, logits in (
            ("qat", None),
            ("qat_kd_float", float_logits),
            ("qat_kd_int", int_logits),
        ):
            net = clone(student)
            pipeline.finetune(
                net,
                xi,
                yi,
                qat_epochs,
                lr=lr,
                batch=150,
                seed=seed,
                teacher_logits=logits,
                alpha=alpha,
                tau=tau,
                schedule="constant",
            )
            acc = pipeline.int8_accuracy(net, xt, yt)
            records.append(
                {**base, **tinfo, "variant": variant, "protocol": proto, "int8_accuracy": acc}
            )
    seconds = round(time.perf_counter() - t0, 1)
    for r in records:
        r["seconds_seed"] = seconds
        r["id"] = trial_id({k: r.get(k) for k in ("kind", "seed", "variant", "protocol")})
        r["status"] = "ok"
    return records


def run_table1(
    out: str | os.PathLike,
    *,
    seeds: int = 3,
    data_dir: str | os.PathLike | None = None,
    dataset: str = "mnist",
    workers: int = 2,
    address: str | None = None,
    epochs: float | None = None,
    teacher_epochs: float = 20.0,
    qat_lrs: tuple[float, ...] = (1e-6, 1e-4),
    qat_epochs: int = 10,
    alpha: float = 0.9,
    tau: float = 4.0,
    log: Any = print,
) -> list[dict[str, Any]]:
    """Run (or resume) the Table 1 seeds; returns all records of ``out/table1.jsonl``.

    ``epochs``: the paper recipe's epoch cap (None: its own, 100). ``qat_lrs``: one QAT
    protocol per learning rate (the paper's 1e-6, and 1e-4 where QAT actually moves weights).
    """
    start = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    store = ResultStore(out / TABLE1)
    have = {(r.get("seed"), r.get("variant"), r.get("protocol")) for r in store.records()}
    needed = []
    for seed in range(seeds):
        want = {(seed, "float", None), (seed, "ptq", None)}
        for lr in qat_lrs:
            proto = _protocol(lr, qat_epochs, alpha, tau)
            want |= {(seed, v, proto) for v in VARIANTS[2:]}
        if not want <= have:
            needed.append(seed)
    ddir = None if data_dir is None else str(data_dir)
    cap = None if epochs is None else max(1, round(epochs))
    log(f"table1: {len(needed)} seed(s) to run ({seeds - len(needed)} done)")
    ex = _Executor(workers, address, log)
    try:
        calls = [
            (s, (s, ddir, dataset, cap, teacher_epochs, tuple(qat_lrs), qat_epochs, alpha, tau))
            for s in needed
        ]
        for seed, recs, error in ex.imap(run_seed, calls):
            if error is not None:
                log(f"table1 seed {seed} failed: {type(error).__name__}: {error}")
                continue
            for r in recs:
                store.append(r)
            summary = {
                f"{r['variant']} {r.get('protocol', '')}".strip(): r["int8_accuracy"] for r in recs
            }
            log(f"table1 seed {seed}: {json.dumps(summary)}")
    finally:
        ex.close()
    with (out / "runs.jsonl").open("a") as fh:
        fh.write(
            json.dumps(
                {
                    "grid": "table1",
                    "workers": workers,
                    "finished": len(needed),
                    "seconds": round(time.perf_counter() - start, 2),
                    "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                }
            )
            + "\n"
        )
    return store.records()
