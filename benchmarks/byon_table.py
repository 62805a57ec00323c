#!/usr/bin/env python3
"""The tables of docs/networks.md from a ``benchmarks/byon.sh`` run folder.

    .venv/bin/python benchmarks/byon_table.py runs/byon

Reads ``NAME.train.json`` / ``NAME.compress.json`` / ``NAME.import-*.json`` (the commands'
``--json``), ``NAME.sim.json`` (``lwfc sim --simulator verilator``) and the bundles, and
prints one Markdown table of every trained, compressed and imported bundle: dataset,
architecture, float and int8 accuracy, weight storage, Verilator images / mismatches and
cycles per image. Missing steps are left out.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lwfc.bundle import load_bundle
from lwfc.compress.storage import weight_storage


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() and path.stat().st_size else None


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/byon")
    rows = []
    for kind in ("train", "compress", "import"):
        for f in sorted(out.glob(f"*.{kind}.json")) if kind != "import" else sorted(
                out.glob("import-*.json")):
            name = f.name.split(".")[0]
            if kind == "import" and f.name.count(".") > 1:
                continue
            rec = _load(f)
            folder = out / name
            if rec is None or not (folder / "manifest.json").exists():
                continue
            b = load_bundle(folder)
            m = rec.get("metrics", rec)
            sim = _load(out / f"{name}.sim.json")
            arch = "-".join(str(v) for v in [b.in_features] + [la.out_features for la in b.layers])
            weights = (b.provenance.get("compress") or {}).get("weights")
            how = {"train": "lwfc train --recipe default", "compress": f"lwfc compress --weights "
                   f"{weights}", "import": f"lwfc import model.{name.partition('-')[2]}"}[kind]
            rows.append((b.dataset, arch, how, m.get("float_accuracy"), m.get("int8_accuracy"),
                         weight_storage(b)["weight_bytes"], sim))
    print("| dataset | network | made by | float accuracy | int8 accuracy | weight storage "
          "(bytes) | Verilator: images, mismatches | cycles / image (8 lanes) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for ds, arch, how, fa, ia, wb, sim in rows:
        fa_s = f"{fa:.4f}" if isinstance(fa, float) else "-"
        sim_s = f"{sim['images']:,}, {sim['mismatches']}" if sim else "not run"
        cyc = f"{sim['cycles_per_image']:,}" if sim else "-"
        print(f"| {ds} | {arch} | `{how}` | {fa_s} | {ia:.4f} | {wb:,} | {sim_s} | {cyc} |")


if __name__ == "__main__":
    main()
