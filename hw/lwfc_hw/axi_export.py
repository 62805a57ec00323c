"""Sources of the ``lwfc_axi`` Vivado IP for a bundle: ``python -m lwfc_hw.axi_export BUNDLE OUT``.

Writes into ``OUT``:

* ``lwfc_axi.v`` - the converted IP top (with the core inside);
* ``<memory>.hex`` - every parameter RAM's ``$readmemh`` image (the bundle's weights, so the
  bitstream works even before the driver reloads them);
* ``ip.json`` - what the Vivado scripts and the overlay folder record: VLNV, register-map
  version, address width, stream widths, lanes, plan hash, bundle name and its SHA-256s.

``deploy/overlays/vivado/package_ip.tcl`` packages ``OUT`` as the IP.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import regmap as R
from .axi import TOP, convert_axi
from .banking import write_hex_files
from .plan import DEFAULT_PIXELS_PER_BEAT, plan_for_bundle


def ip_manifest(bundle: Any, plan: Any) -> dict[str, Any]:
    """The ``ip.json`` record of an export."""
    return {
        "vlnv": R.VLNV,
        "vendor": R.VENDOR,
        "library": R.LIBRARY,
        "name": R.NAME,
        "version": R.IP_VERSION,
        "regmap_version": ".".join(map(str, R.VERSION_TUPLE)),
        "top": TOP,
        "s_axi_control_addr_bits": R.ADDR_BITS,
        "s_axis_tdata_bits": 8 * plan.pixels_per_beat,
        "m_axis_tdata_bits": 32,
        "lanes": plan.lanes,
        "pixels_per_beat": plan.pixels_per_beat,
        "plan_hash": f"0x{R.plan_signature(plan):08x}",
        "memories": len(plan.mems),
        "bundle": getattr(bundle, "name", ""),
        "bundle_path": str(getattr(bundle, "path", "") or ""),
    }


def export(bundle: Any, out_dir: Path, lanes: int = 8,
           pixels_per_beat: int = DEFAULT_PIXELS_PER_BEAT) -> dict[str, Any]:
    """Write the IP sources for ``bundle`` into ``out_dir``; return the ``ip.json`` record."""
    plan = plan_for_bundle(bundle, lanes, pixels_per_beat)
    out_dir.mkdir(parents=True, exist_ok=True)
    convert_axi(plan, out_dir)
    write_hex_files(bundle, plan, out_dir)
    info = ip_manifest(bundle, plan)
    (out_dir / "ip.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lwfc_hw.axi_export BUNDLE OUT [--lanes N] [--pixels-per-beat B]``."""
    p = argparse.ArgumentParser(prog="python -m lwfc_hw.axi_export", description=__doc__)
    p.add_argument("bundle", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--lanes", type=int, default=8)
    p.add_argument("--pixels-per-beat", type=int, default=DEFAULT_PIXELS_PER_BEAT)
    args = p.parse_args(argv)
    from lwfc.bundle import load_bundle
    from lwfc.errors import LwfcError

    try:
        info = export(load_bundle(args.bundle), args.out, args.lanes, args.pixels_per_beat)
    except (LwfcError, ValueError) as exc:
        print(f"axi_export: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
