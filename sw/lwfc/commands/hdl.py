"""``lwfc hdl BUNDLE --out DIR [--lanes N]``: generate the accelerator's Verilog and memory images.

Writes ``lwfc_core.v`` (MyHDL conversion of the core elaborated for the bundle's layer shapes
and ``--lanes``), ``lwfc_core_defs.vh`` (geometry macros for testbenches), one ``<memory>.hex``
``$readmemh`` image per parameter memory (weights banked per lane) and ``memmap.json`` (the
host port's memory map). Also prints the cycle model's prediction for this configuration.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..bundle import load_bundle
from ..errors import LwfcError
from ._common import check_output, print_json
from ._planargs import add_plan_args, plan_from_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("hdl", help="generate the accelerator Verilog and hex memory images")
    p.add_argument("bundle", type=Path, help="bundle folder")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    add_plan_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    bundle = load_bundle(args.bundle)
    check_output(args.out, "--out", replaces="lwfc_core.v")  # before MyHDL is imported
    try:
        from lwfc_hw.convert import generate
        from lwfc_hw.cycles import report
    except ImportError as exc:  # pragma: no cover - the package ships with lwfc
        raise LwfcError(f"the hardware package lwfc_hw is not importable: {exc}") from exc
    plan = plan_from_args(bundle, args)
    try:
        summary = generate(bundle, plan, args.out)
    except OSError as exc:
        raise LwfcError(f"cannot write to --out {args.out}: {exc}") from exc
    rep = report(plan)
    summary.update(rep.as_dict())
    summary["bundle"] = str(bundle.path)
    summary["layers"] = plan.memory_map()["layers"]
    if args.json:
        print_json(summary)
        return 0
    print(f"verilog   {summary['verilog']}")
    print(f"memories  {summary['memories']} hex images, map {summary['memmap']}")
    for layer in summary["layers"]:
        if layer["dataflow"] == "broadcast":
            how = (f"broadcast: P={layer['P']} output lanes per nonzero input"
                   if layer["kind"] == "dense" else
                   f"rank {layer['rank']}: broadcast U ({layer['rank']} lanes), DIL "
                   f"Pv={layer['Pv']}")
        elif layer["kind"] == "dense":
            how = f"P={layer['P']} outputs x Q={layer['Q']} inputs per step"
        else:
            how = f"rank {layer['rank']}: DCL Qu={layer['Qu']}, DIL Pv={layer['Pv']}"
        print(f"layer     {layer['name']} {layer['kind']} {layer['in']}->{layer['out']}  {how}")
    print(
        f"cycles    {rep.interval} per image streaming, {rep.latency} latency, "
        f"MAC bound {rep.mac_bound:.1f} (lanes {plan.lanes})"
        + ("; broadcast layers: every input nonzero, their worst case (the mean on a data "
           "set: lwfc sim)" if any(e.broadcast for e in plan.engines) else "")
    )
    return 0
