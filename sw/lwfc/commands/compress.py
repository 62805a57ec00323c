"""``lwfc compress INPUT --out DIR``: prune, factorise (LRA / LRA-learn), fine-tune, export.

INPUT is a torch checkpoint from ``lwfc train --checkpoint FILE`` (best: float weights), a
compression state (``--save-state``, or a search base ``OUT/bases/*.pt``), or a bundle folder
(dequantized, then fine-tuned). See ``docs/compression.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..bundle import MANIFEST, save_bundle
from ..errors import LwfcError
from ._common import add_data_args, check_data_dir, check_input, check_output, print_json


def _ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {value}")
    return value


def _nonneg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def _layer(text: str) -> str:
    return f"fc{text}" if text.isdigit() else text


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..compress.methods import METHODS

    p = sub.add_parser(
        "compress",
        help="prune / low-rank factorise / fine-tune a network and export its int8 bundle",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", type=Path, help="train checkpoint (.pt), compression state or bundle")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="bundle folder to write")
    g = p.add_argument_group("pruning (torch.nn.utils.prune)")
    g.add_argument("--prune", choices=METHODS, metavar="METHOD", help=f"one of {METHODS}")
    g.add_argument("--ratio", type=_ratio, default=0.0, help="R_prune, fraction set to zero")
    g.add_argument(
        "--prune-layers",
        metavar="L1,L2",
        help="layers to prune (names or 1-based numbers; default: all dense, hidden only for "
        "structured methods); LAYER:RATIO gives a layer its own ratio (e.g. fc1:0.8,fc2:0.5)",
    )
    g.add_argument("--prune-steps", type=int, default=1, help="reach --ratio in N steps")
    g = p.add_argument_group("low-rank approximation")
    g.add_argument("--lowrank", type=_layer, metavar="LAYER", help="layer to factorise (fc1 or 1)")
    rank = g.add_mutually_exclusive_group()
    rank.add_argument("--rcomp", type=_ratio, help="compression rate R_comp (rank by eq. 7)")
    rank.add_argument("--rank", type=int, help="rank of the factorisation")
    g.add_argument(
        "--lra",
        choices=["none", "identity", "data"],
        default="identity",
        help="none: plain quantized SVD (eq. 8-9); identity: LRA-learn (eq. 10); data: "
        "LRA-learn fitted on real layer inputs (default: identity)",
    )
    g.add_argument("--lra-steps", type=int, default=300, help="LRA-learn Adam steps")
    g.add_argument(
        "--lra-grid",
        choices=["int8", "paper"],
        default="int8",
        help="factor grid of eq. 8-9: int8 (the bundle's per-row grid) or paper (integers on "
        "the QAT weights' scale)",
    )
    g.add_argument("--prune-u", type=_ratio, default=0.0, help="L1-prune the factor u (DCL)")
    g.add_argument("--prune-v", type=_ratio, default=0.0, help="L1-prune the factor v (DIL)")
    g = p.add_argument_group("QAT fine-tuning")
    g.add_argument("--finetune", type=_nonneg, default=0.0, metavar="EPOCHS", help="final QAT")
    g.add_argument("--step-epochs", type=_nonneg, default=1.0, help="QAT between prune steps")
    g.add_argument("--lr", type=float, default=1e-3)
    g.add_argument("--batch", type=int, default=128)
    g.add_argument("--dropout-loc", type=int, choices=[0, 1, 2], default=0)
    g.add_argument("--dropout-p", type=_ratio, default=0.0)
    g.add_argument(
        "--teacher",
        metavar="FILE|self",
        help="KD teacher: a checkpoint (from lwfc train), or 'self' for the input network "
        "itself before compression (float weights)",
    )
    g.add_argument(
        "--teacher-int", action="store_true", help="use the teacher's integer (quantized) weights"
    )
    g.add_argument("--kd-alpha", type=float, default=0.5)
    w = p.add_argument_group("low-bit and shared weights (docs/compression.md)")
    w.add_argument(
        "--weights",
        metavar="MODE",
        help="int8, int4, ternary, kmeans:K or sigma:K (K shared values per layer), or per "
        "layer: fc1=ternary,fc2=int4; applied layer by layer in order after pruning / low rank",
    )
    w.add_argument(
        "--weight-layers", metavar="L1,L2", help="layers to apply it to (default: all dense)"
    )
    w.add_argument(
        "--layer-epochs",
        type=float,
        default=0.0,
        metavar="E",
        help="fine-tuning epochs after each layer but the last (seed 003's layer order)",
    )
    w.add_argument(
        "--freeze-codebook",
        action="store_true",
        help="keep the shared values fixed in fine-tuning (default: learned, Deep Compression)",
    )
    g.add_argument("--kd-tau", type=float, default=4.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-state", type=Path, metavar="FILE", help="also save the network (.pt)")
    add_data_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_input(args.input, "input")  # before torch and any work
    check_output(args.out, "--out", replaces=MANIFEST)
    check_output(args.save_state, "--save-state", kind="file")
    if args.teacher and args.teacher != "self":
        check_input(Path(args.teacher), "--teacher")
    check_data_dir(args.data)
    import torch

    from ..compress import checkpoint, pipeline
    from ..data import load_data
    from ..qat import net_to_dict

    torch.set_num_threads(1)  # tiny matrices: one thread is fastest (and leaves a core free)
    log = (lambda s: print(s, file=sys.stderr)) if args.json else print
    layers = None
    layer_ratios: dict[str, float] = {}
    if args.prune_layers:
        layers = []
        for item in (x.strip() for x in args.prune_layers.split(",")):
            if not item:
                continue
            name, _, r = item.partition(":")
            layers.append(_layer(name))
            if r:
                try:
                    layer_ratios[_layer(name)] = _ratio(r)
                except argparse.ArgumentTypeError as exc:
                    raise LwfcError(f"--prune-layers {item}: {exc}") from None
        if layer_ratios and len(layer_ratios) != len(layers):
            raise LwfcError("--prune-layers: give a ratio to every layer or to none")
    if args.prune and args.ratio <= 0 and not layer_ratios:
        raise LwfcError("--prune needs --ratio > 0 (or LAYER:RATIO in --prune-layers)")
    if args.lowrank and args.rcomp is None and args.rank is None:
        raise LwfcError("--lowrank needs --rcomp or --rank")
    if (args.prune_u or args.prune_v) and not args.lowrank:
        raise LwfcError("--prune-u/--prune-v need --lowrank")
    if args.prune_steps < 1:
        raise LwfcError("--prune-steps must be >= 1")
    if args.weights:
        from ..compress.share import parse_mode

        try:
            if "=" in args.weights:  # per layer: the layer names are checked with the net
                if args.weight_layers:
                    raise LwfcError("weights: LAYER=MODE pairs and --weight-layers together")
                for item in args.weights.split(","):
                    parse_mode(item.partition("=")[2].strip())
            else:
                parse_mode(args.weights)
        except LwfcError as exc:
            raise LwfcError(f"--{exc}") from None
    if args.layer_epochs < 0:
        raise LwfcError("--layer-epochs must be >= 0")
    net = checkpoint.load_net(args.input)
    weight_layers = (
        [_layer(x) for x in args.weight_layers.split(",")] if args.weight_layers else None
    )
    if args.weights:  # the layer names, before the data is read
        try:
            pipeline.weight_plan(net, args.weights, weight_layers)
        except LwfcError as exc:
            raise LwfcError(f"--{exc}") from None
    data = load_data(
        args.dataset or checkpoint.dataset_of(args.input), args.data, progress=not args.json
    )
    if data.features != net.in_features:
        raise LwfcError(
            f"--dataset {data.name}: images have {data.features} pixels but {args.input} "
            f"takes {net.in_features} inputs"
        )
    train = (data.x_train, data.y_train)
    test = (data.x_test, data.y_test)
    checkpoint.ensure_calibrated(net, train[0][:10_000])
    teacher = None
    if args.teacher == "self":
        teacher = checkpoint.self_teacher(net, integer=args.teacher_int)
    elif args.teacher:
        teacher = checkpoint.load_teacher(Path(args.teacher), integer=args.teacher_int)
    cfg = pipeline.CompressConfig(
        prune_method=args.prune,
        prune_ratio=args.ratio,
        prune_layers=layers,
        prune_layer_ratios=layer_ratios or None,
        prune_steps=args.prune_steps,
        lowrank_layer=args.lowrank,
        r_comp=args.rcomp,
        rank=args.rank,
        lra_learn=args.lra,
        lra_steps=args.lra_steps,
        lra_grid=args.lra_grid,
        factor_prune_u=args.prune_u,
        factor_prune_v=args.prune_v,
        finetune_epochs=args.finetune,
        step_epochs=args.step_epochs,
        lr=args.lr,
        batch=args.batch,
        dropout_location=args.dropout_loc,
        dropout_p=args.dropout_p,
        kd_alpha=args.kd_alpha,
        weights=args.weights,
        weight_layers=weight_layers,
        learn_codebook=not args.freeze_codebook,
        layer_epochs=args.layer_epochs,
        kd_tau=args.kd_tau,
        seed=args.seed,
    )
    result = pipeline.compress(
        net,
        cfg,
        train,
        test,
        teacher=teacher,
        name=args.out.name,
        dataset=data.name,
        provenance={"input": str(args.input), "teacher": str(args.teacher or "")},
        log=log,
    )
    path = save_bundle(result.bundle, args.out)
    if args.save_state:
        torch.save(net_to_dict(result.net), args.save_state)
    summary = {
        "bundle": str(path),
        "int8_accuracy": result.steps[-1]["int8_accuracy"],
        "weights_nonzero": result.bundle.weights_nonzero,
        "weights_removed": round(result.bundle.weights_removed(), 6),
        "weight_bytes": result.steps[-1]["weight_bytes"],
        "steps": result.steps,
    }
    if args.json:
        print_json(json.loads(json.dumps(summary)))
    else:
        log(
            f"wrote {path}: int8 accuracy {summary['int8_accuracy']:.4f}, "
            f"{summary['weights_nonzero']} nonzero weights "
            f"({100 * summary['weights_removed']:.1f} % of "
            f"{result.bundle.reference_weights:,} removed), "
            f"{summary['weight_bytes']:,} bytes of weights"
        )
    return 0
