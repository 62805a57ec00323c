"""``lwfc eval BUNDLE``: int8 golden-model accuracy on the test split."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .. import golden
from ..bundle import load_bundle
from ._common import add_data_args, load_test_split, positive_int, print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="int8 golden-model accuracy of a bundle on the test set")
    p.add_argument("bundle", type=Path, help="bundle folder")
    add_data_args(p)
    p.add_argument("--limit", type=positive_int, metavar="N", help="first N test images only")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    bundle = load_bundle(args.bundle)
    dataset, images, labels = load_test_split(args, bundle)
    if args.limit:
        images, labels = images[: args.limit], labels[: args.limit]
    start = time.perf_counter()
    preds = []
    step = 1000
    for i in tqdm(range(0, len(images), step), desc="eval", unit="k img", disable=args.json):
        preds.append(golden.predict(bundle, images[i : i + step]))
    seconds = time.perf_counter() - start
    correct = int(np.sum(np.concatenate(preds) == labels))
    result = {
        "bundle": str(bundle.path),
        "dataset": dataset,
        "images": len(labels),
        "correct": correct,
        "accuracy": correct / len(labels),
        "float_accuracy": bundle.metrics.get("float_accuracy"),
        "seconds": round(seconds, 3),
    }
    if args.json:
        print_json(result)
    else:
        print(f"int8 accuracy  {result['accuracy']:.4f}  ({correct}/{len(labels)} {dataset} test)")
        if result["float_accuracy"] is not None:
            print(f"float accuracy {result['float_accuracy']:.4f}  (recorded at training)")
    return 0
