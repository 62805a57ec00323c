"""``lwfc import``: a float MLP trained outside lwfc (PyTorch or ONNX) to an int8 bundle."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..bundle import MANIFEST, save_bundle
from ..errors import LwfcError
from ._common import add_data_args, check_data_dir, check_input, check_output, print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import",
        help="import a float MLP (TorchScript, torch.export, state dict, ONNX) as an int8 bundle",
        description="Fold a float ReLU MLP (Linear/Gemm, BatchNorm, input normalisation; a "
        "final Softmax is dropped) into integer layers, PTQ-calibrate it on --dataset and "
        "optionally fine-tune it (QAT, distilled from the float model).",
    )
    p.add_argument("model", type=Path, help="model file: .onnx, .pt2 (torch.export), .pt")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="bundle folder to write")
    add_data_args(p)
    p.add_argument(
        "--format",
        choices=["auto", "torchscript", "export", "state-dict", "pickle", "onnx"],
        default="auto",
        help="model format (default: from the suffix and content)",
    )
    p.add_argument("--arch", metavar="W0-...-C", help="layer widths of a state dict (required)")
    p.add_argument(
        "--allow-pickle",
        action="store_true",
        help="allow a full-module pickle (torch.save(model)): this RUNS the file's code",
    )
    p.add_argument(
        "--normalize",
        nargs=2,
        type=float,
        metavar=("MEAN", "STD"),
        help="the model was trained on (x/255 - MEAN) / STD: folded into the first layer",
    )
    p.add_argument("--calib", type=int, default=10_000, metavar="N", help="calibration images")
    p.add_argument("--percentile", type=float, help="calibration percentile (default: maximum)")
    p.add_argument(
        "--finetune",
        type=float,
        default=0.0,
        metavar="EPOCHS",
        help="QAT epochs with distillation from the float model (default 0: PTQ)",
    )
    p.add_argument("--lr", type=float, default=1e-4, help="fine-tuning learning rate")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the bundle summary as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data import load_data
    from ..importer import import_model
    from ..models import parse_arch

    arch = None
    if args.arch:
        try:
            arch = list(parse_arch(args.arch))
        except ValueError as exc:
            raise LwfcError(f"--arch: {exc}") from None
    if args.calib < 1:
        raise LwfcError(f"--calib must be >= 1, got {args.calib}")
    if args.finetune < 0:
        raise LwfcError(f"--finetune must be >= 0, got {args.finetune}")
    check_input(args.model, "model", kind="file")
    check_output(args.out, "--out", replaces=MANIFEST)
    check_data_dir(args.data)
    log = (lambda s: print(s, file=sys.stderr)) if args.json else print
    data = load_data(args.dataset or "mnist", args.data, progress=not args.json)
    result = import_model(
        args.model,
        data,
        fmt=args.format,
        arch=arch,
        allow_pickle=args.allow_pickle,
        normalize=tuple(args.normalize) if args.normalize else None,
        calib_images=args.calib,
        percentile=args.percentile,
        finetune_epochs=args.finetune,
        lr=args.lr,
        seed=args.seed,
        name=args.out.name,
        log=log,
    )
    path = save_bundle(result.bundle, args.out)
    if args.json:
        print_json(result.bundle.info())
    else:
        m = result.metrics
        print(f"wrote {path}")
        for key in ("float_accuracy", "ptq_accuracy", "int8_accuracy"):
            print(f"{key:<15}{m[key]:.4f}")
    return 0
