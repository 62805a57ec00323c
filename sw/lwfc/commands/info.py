"""``lwfc info BUNDLE``: what a bundle holds (layers, weights, metrics, provenance)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..bundle import load_bundle
from ..compress.storage import weight_storage
from ._common import print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="describe a model bundle")
    p.add_argument("bundle", type=Path, help="bundle folder")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    bundle = load_bundle(args.bundle)
    info = bundle.info()
    if args.json:
        print_json(info)
        return 0
    print(f"bundle   {bundle.path}  ({info['name']}, dataset {info['dataset']})")
    print(f"contract {info['contract']}, format version {info['format_version']}")
    print(
        f"{'layer':<8}{'kind':<9}{'shape':<14}{'rank':>5}{'weights':>9}{'nonzero':>9}"
        f"{'act':>6}{'bits':>6}{'codebook':>9}"
    )
    for layer in info["layers"]:
        shape = f"{layer['in_features']}->{layer['out_features']}"
        rank = layer.get("rank", "")
        print(
            f"{layer['name']:<8}{layer['kind']:<9}{shape:<14}{rank!s:>5}"
            f"{layer['weights_stored']:>9}{layer['weights_nonzero']:>9}{layer['activation']:>6}"
            f"{layer['weight_bits']:>6}{layer.get('codebook_size', '')!s:>9}"
        )
    storage = weight_storage(bundle)
    print(
        f"weights  {info['weights_stored']} stored, {info['weights_nonzero']} nonzero, "
        f"{100 * info['weights_removed']:.1f} % removed vs the dense "
        f"{info['dense_reference_weights']:,}; {storage['weight_bytes']:,} bytes of weight "
        f"storage (+ {storage['other_bytes']:,} of biases and requantization constants)"
    )
    for key, value in info["metrics"].items():
        print(f"metric   {key} = {value}")
    return 0
