"""Opening the accelerator on a PYNQ board (PYNQ-Z2 / Z1) from an overlay folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .accel import LwfcAccelerator
from .errors import DriverError

#: Overlay folder of the PYNQ-Z2 build, relative to the repository root.
DEFAULT_OVERLAY = Path("deploy") / "overlays" / "lwfc-pynq-z2"
#: File names inside an overlay folder (the .hwh must sit beside the .bit with the same stem).
BITSTREAM = "lwfc.bit"


def overlay_bitstream(overlay: str | os.PathLike) -> Path:
    """The ``.bit`` of an overlay folder (or the file itself), checked to exist with its
    ``.hwh``."""
    path = Path(overlay)
    bit = path / BITSTREAM if path.is_dir() else path
    if not bit.is_file():
        raise DriverError(f"no bitstream at {bit} (build it with deploy/overlays/Makefile, "
                          "see docs/driver.md)")
    if not bit.with_suffix(".hwh").is_file():
        raise DriverError(f"{bit.with_suffix('.hwh')} is missing: PYNQ needs the .hwh beside "
                          "the .bit")
    return bit


def open_board(overlay: str | os.PathLike = DEFAULT_OVERLAY, download: bool = True,
               timeout: float = 10.0) -> LwfcAccelerator:
    """Load the overlay and return its :class:`LwfcAccelerator` (PYNQ binds it to the
    hierarchy holding the lwfc IP and the DMA). Keeps the ``pynq.Overlay`` as
    ``accel.overlay``."""
    bit = overlay_bitstream(overlay)
    try:
        from pynq import Overlay
    except ImportError as exc:  # pragma: no cover - pynq is a dependency of the driver
        raise DriverError(f"pynq is not importable: {exc}") from None
    try:
        ol = Overlay(str(bit), download=download)
    except RuntimeError as exc:
        raise DriverError(f"cannot load the overlay {bit}: {exc} (is this a PYNQ board?)") \
            from None
    for name in getattr(ol, "hierarchy_dict", {}):
        obj: Any = getattr(ol, name)
        if isinstance(obj, LwfcAccelerator):
            obj.overlay = ol
            obj.timeout = timeout
            return obj
    raise DriverError(f"the overlay {bit} has no hierarchy with an lwfc IP and an AXI DMA")
