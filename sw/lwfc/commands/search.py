"""``lwfc search --out DIR``: Algorithm 1 (dropout x pruning x LRA grid) on Ray, resumable.

Trials run on a local Ray instance (``--workers``) or an existing cluster (``--address``).
Each finished trial is appended to ``DIR/results.jsonl``; rerunning the same command skips
what is done. ``--table1`` trains the Table 1 variants (PTQ, QAT, QAT+KD) instead.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import LwfcError
from ._common import add_data_args, check_data_dir, check_input, check_output


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        msg = f"expected comma-separated numbers, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        msg = f"expected comma-separated integers, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def _strs(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "search",
        help="Algorithm 1: search dropout, pruning and LRA settings by E-score (on Ray)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="results folder")
    p.add_argument(
        "--grid",
        choices=["smoke", "small", "paper"],
        default="small",
        help="grid size: small finishes in <= 10 min on 2 cores; paper is the full sweep",
    )
    p.add_argument(
        "--from",
        dest="source",
        type=Path,
        metavar="INPUT",
        help="derive the dropout bases from this checkpoint/bundle by QAT fine-tuning "
        "(default: train every base from scratch with lwfc.train)",
    )
    p.add_argument("--workers", type=int, default=2, help="local Ray CPUs (0: inline, no Ray)")
    p.add_argument("--address", help="join an existing Ray cluster (e.g. auto or HOST:6379)")
    p.add_argument("--max-trials", type=int, metavar="N", help="run at most N new trials")
    p.add_argument("--budget", type=float, metavar="SEC", help="stop submitting after SEC s")
    p.add_argument(
        "--base-epochs", type=float, help="QAT-with-dropout epochs deriving a base (--from)"
    )
    p.add_argument(
        "--train-epochs",
        type=int,
        help="epoch cap of the paper recipe when training from scratch (bases without --from, "
        "and --table1); default: the recipe's 100 with its stopping rule",
    )
    p.add_argument("--finetune-epochs", type=float, help="QAT after pruning/LRA in each trial")
    p.add_argument("--lra-learn", choices=["identity", "data"], help="LRA-learn fit")
    p.add_argument(
        "--lra-grid",
        choices=["int8", "paper"],
        help="factor grid: int8 (the bundle's, default) or paper (integers on W's scale)",
    )
    p.add_argument("--drop-locs", type=_ints, metavar="1,2")
    p.add_argument("--drop-probs", type=_floats, metavar="P,...")
    p.add_argument("--methods", type=_strs, metavar="M,...")
    p.add_argument("--ratios", type=_floats, metavar="R,...", help="R_prune of prune trials")
    p.add_argument("--lra-ratios", type=_floats, metavar="R,...", help="R_prune before LRA")
    p.add_argument("--lra-locs", type=_ints, metavar="1,2,3")
    p.add_argument("--rcomps", type=_floats, metavar="R,...")
    p.add_argument("--test-limit", type=int, metavar="N", help="evaluate on the first N only")
    p.add_argument("--seed", type=int)
    p.add_argument("--no-best", action="store_true", help="do not save OUT/best")
    p.add_argument(
        "--table1",
        action="store_true",
        help="run the Table 1 variants (float, PTQ, QAT, QAT+KD float/int teacher) instead",
    )
    p.add_argument("--seeds", type=int, default=1, help="Table 1: seeds per variant")
    add_data_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..experiments import search

    if args.workers < 0:
        raise LwfcError("--workers must be >= 0")
    from ..experiments.table1 import TABLE1

    # an earlier (resumable) search or Table 1 folder, or a new or empty one
    check_output(args.out, "--out", replaces=(search.RESULTS, search.RUNS, search.BASES, TABLE1))
    check_input(args.source, "--from")
    check_data_dir(args.data)
    from ..data import load_data

    dataset = load_data(args.dataset or "mnist", args.data).name  # checked before long work
    if args.table1:
        from ..experiments import table1

        table1.run_table1(
            args.out,
            seeds=args.seeds,
            data_dir=args.data,
            dataset=dataset,
            workers=args.workers,
            address=args.address,
            epochs=args.train_epochs,
        )
        from ..compress.report import write_report

        print(f"wrote {write_report(args.out)}")
        return 0
    grid = search.grid_from_args(
        args.grid,
        base_epochs=args.base_epochs,
        train_epochs=args.train_epochs,
        finetune_epochs=args.finetune_epochs,
        lra_learn=args.lra_learn,
        lra_grid=args.lra_grid,
        drop_locs=args.drop_locs,
        drop_probs=args.drop_probs,
        prune_methods=args.methods,
        prune_ratios=args.ratios,
        lra_prune_ratios=args.lra_ratios,
        lra_locs=args.lra_locs,
        r_comps=args.rcomps,
        test_limit=args.test_limit,
        seed=args.seed,
    )
    from ..compress.methods import METHODS

    for m in grid.prune_methods:
        if m not in METHODS:
            raise LwfcError(f"unknown pruning method {m!r}; choose from {', '.join(METHODS)}")
    source_state = None
    if args.source:
        from ..compress.checkpoint import load_net
        from ..qat import net_to_dict

        source_state = net_to_dict(load_net(args.source))
    res = search.run_search(
        grid,
        args.out,
        source_state=source_state,
        data_dir=args.data,
        dataset=dataset,
        workers=args.workers,
        address=args.address,
        max_trials=args.max_trials,
        time_budget=args.budget,
        save_best=not args.no_best,
    )
    print(
        f"search {grid.name}: {res.finished} trials run, {res.skipped} skipped, "
        f"{res.failed} failed in {res.seconds:.1f} s; results in {res.out / search.RESULTS}"
    )
    return 1 if res.failed else 0
