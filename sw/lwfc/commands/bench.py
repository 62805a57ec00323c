"""``lwfc bench [--quick] [--out BENCHMARKS.md]``: regenerate the benchmark report and plots.

The figures and how they are measured are described in :mod:`lwfc.bench`. ``--quick`` (CI)
uses 500 test images for the cycle model and checks 20 images of one configuration in the RTL
with Icarus; the full run uses all 10,000 and Verilator.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import LwfcError
from ._common import print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="regenerate BENCHMARKS.md and its plots")
    p.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"), metavar="FILE",
                   help="Markdown report (BENCHMARKS.md); plots go to <stem>_plots/")
    p.add_argument("--quick", action="store_true", help="a short run (CI)")
    p.add_argument("--data", type=Path, metavar="DIR", help="MNIST folder (default $LWFC_DATA)")
    p.add_argument("--simulator", choices=["icarus", "verilator"], default="verilator")
    p.add_argument("--no-rtl", action="store_true",
                   help="the cycle model only (no RTL simulation)")
    p.add_argument("--render-only", action="store_true",
                   help="rewrite the report from the last run's figures and the build records")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import bench

    if args.out.suffix != ".md":
        raise LwfcError(f"--out {args.out}: expected a .md file")
    if not args.out.parent.exists():
        raise LwfcError(f"--out {args.out}: folder {args.out.parent} does not exist")
    if args.render_only:
        figures = bench.render(args.out)
    else:
        figures = bench.run(args.out, quick=args.quick, data=args.data,
                            simulator=args.simulator, progress=not args.json,
                            rtl=not args.no_rtl)
    if args.json:
        print_json(figures)
        return 0
    for name, b in figures["bundles"].items():
        best = min(b["configs"], key=lambda r: r["mean_interval"])
        print(f"{name:14s} accuracy {b['accuracy']:.4f}; fastest {best['config']}: "
              f"{best['mean_interval']} cycles/image ({best['images_per_s_100mhz']:,} images/s "
              f"at 100 MHz)")
        for c in b["rtl"]:
            print(f"{'':14s} RTL {c['config']} {c['images']} images ({c['simulator']}): "
                  f"{c['mismatches']} mismatches, cycles "
                  f"{'exact' if c['cycles_exact'] else 'DIFFER'}")
    print(f"wrote {args.out} ({figures['seconds']} s)")
    bad = any(c["mismatches"] or not c["cycles_exact"]
              for b in figures["bundles"].values() for c in b["rtl"])
    return 1 if bad else 0
