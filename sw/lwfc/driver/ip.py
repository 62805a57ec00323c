"""``LwfcIP``: the register-level PYNQ driver of the ``lwfc_axi`` IP.

A :class:`pynq.DefaultIP` subclass bound to the IP's VLNV (:data:`lwfc_hw.regmap.VLNV`), so a
``pynq.Overlay`` whose ``.hwh`` holds the IP instantiates it automatically. Every offset and
bit comes from :mod:`lwfc_hw.regmap` (the module the RTL is generated from); every wait has a
timeout. The task-level API (weights from a bundle, DMA batches) is
:class:`lwfc.driver.accel.LwfcAccelerator`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from pynq import DefaultIP

from lwfc_hw import regmap as R

from .errors import DeviceTimeout, PlanMismatchError, StatusError


@dataclass(frozen=True)
class HwInfo:
    """What the IP reports about its build (``ID``, ``VERSION``, ``GEOMETRY``, ``PLAN``,
    ``PLAN_HASH``)."""

    version: tuple[int, int, int]
    n_in: int
    classes: int
    pixels_per_beat: int
    lanes: int
    n_mems: int
    layers: int
    plan_hash: int

    @property
    def beats_per_image(self) -> int:
        """``s_axis`` beats per image."""
        return -(-self.n_in // self.pixels_per_beat)

    @property
    def image_bytes(self) -> int:
        """Bytes per image on the input stream (padded to whole beats)."""
        return self.beats_per_image * self.pixels_per_beat


def describe_errors(bits: int) -> str:
    """The names of the set ``ERROR`` bits, e.g. ``"IMG_SHORT, WIN_BUSY"``."""
    names = [f.name for f in R.ERROR.fields if bits & f.mask]
    return ", ".join(names) if names else "none"


def describe_status(word: int) -> str:
    """The names of the set ``STATUS`` bits."""
    names = [f.name for f in R.STATUS.fields if word & f.mask]
    return "|".join(names) if names else "0"


class LwfcIP(DefaultIP):
    """Register access to one ``lwfc_axi`` instance.

    Args:
        description: the IP's entry of the overlay description (``phys_addr``,
            ``addr_range``, ``device``), as PYNQ passes it.
    """

    bindto = [R.VLNV]  # noqa: RUF012  (PYNQ's documented form)

    def __init__(self, description: dict[str, Any]) -> None:
        super().__init__(description=description)

    # ------------------------------------------------------------------ registers
    def get(self, reg: R.Register) -> int:
        """Read register ``reg`` (32-bit unsigned)."""
        return int(self.read(reg.offset)) & 0xFFFFFFFF

    def set(self, reg: R.Register, value: int) -> None:
        """Write register ``reg``."""
        self.write(reg.offset, int(value) & 0xFFFFFFFF)

    @property
    def status(self) -> int:
        """The ``STATUS`` register."""
        return self.get(R.STATUS)

    @property
    def errors(self) -> int:
        """The ``ERROR`` register (sticky bits)."""
        return self.get(R.ERROR)

    def clear_errors(self) -> None:
        """Clear every ``ERROR`` bit."""
        self.set(R.ERROR, (1 << len(R.ERROR.fields)) - 1)

    def check_errors(self, context: str) -> None:
        """Raise :class:`StatusError` if any ``ERROR`` bit is set (and clear them)."""
        bits = self.errors
        if bits:
            self.clear_errors()
            raise StatusError(f"{context}: the IP flagged {describe_errors(bits)} "
                              f"(ERROR 0x{bits:x}); see docs/registers.md")

    def identify(self) -> HwInfo:
        """Read and check the identification registers.

        Raises:
            PlanMismatchError: not an lwfc IP, or an incompatible register-map version.
        """
        ident = self.get(R.ID)
        if ident != R.ID_VALUE:
            raise PlanMismatchError(
                f"no lwfc IP at 0x{self.mmio.base_addr:x}: ID reads 0x{ident:08x}, expected "
                f"0x{R.ID_VALUE:08x} (wrong overlay, or the PL is not programmed)")
        ver = self.get(R.VERSION)
        version = (R.VERSION.field("MAJOR").get(ver), R.VERSION.field("MINOR").get(ver),
                   R.VERSION.field("PATCH").get(ver))
        if version[0] != R.VERSION_TUPLE[0]:
            raise PlanMismatchError(
                f"the IP's register map is version {'.'.join(map(str, version))}; this driver "
                f"speaks {'.'.join(map(str, R.VERSION_TUPLE))}: rebuild the overlay or update "
                "the driver")
        geo, plan = self.get(R.GEOMETRY), self.get(R.PLAN)
        return HwInfo(
            version=version,
            n_in=R.GEOMETRY.field("N_IN").get(geo),
            classes=R.GEOMETRY.field("CLASSES").get(geo),
            pixels_per_beat=R.GEOMETRY.field("PIXELS_PER_BEAT").get(geo),
            lanes=R.PLAN.field("LANES").get(plan),
            n_mems=R.PLAN.field("N_MEMS").get(plan),
            layers=R.PLAN.field("LAYERS").get(plan),
            plan_hash=self.get(R.PLAN_HASH),
        )

    def wait_status(self, name: str, value: bool, timeout: float) -> int:
        """Poll ``STATUS`` until field ``name`` equals ``value``; return ``STATUS``.

        Raises:
            DeviceTimeout: not within ``timeout`` seconds.
        """
        bit = R.STATUS.bit(name)
        deadline = time.monotonic() + timeout
        while True:
            st = self.status
            if bool(st & bit) == value:
                return st
            if time.monotonic() > deadline:
                raise DeviceTimeout(
                    f"STATUS.{name} did not become {int(value)} within {timeout:g} s "
                    f"(STATUS {describe_status(st)}, IMAGES_IN {self.get(R.IMAGES_IN)}, "
                    f"IMAGES_OUT {self.get(R.IMAGES_OUT)})")

    # ------------------------------------------------------------------ control
    def soft_reset(self, timeout: float = 1.0) -> None:
        """``CTRL.SOFT_RESET`` (ends a batch, drops images in flight, clears ``ERROR``;
        weights and settings stay) and wait until the core left reset."""
        self.set(R.CTRL, R.CTRL.bit("SOFT_RESET"))
        self.wait_status("RESETTING", False, timeout)

    def start(self, images: int, logits: bool = False) -> None:
        """Start a batch of ``images`` images (0: unbounded); with ``logits`` every image
        gives ``1 + classes`` result words, else one (its class)."""
        self.set(R.BATCH, images)
        self.set(R.CTRL, R.CTRL.bit("START") | (R.CTRL.bit("LOGITS") if logits else 0))

    def counters(self) -> tuple[int, int, int]:
        """``(IMAGES_IN, IMAGES_OUT, cycles)`` of the current or last batch."""
        lo = self.get(R.CYCLES_LO)
        hi = self.get(R.CYCLES_HI)
        return self.get(R.IMAGES_IN), self.get(R.IMAGES_OUT), hi << 32 | lo

    # ------------------------------------------------------------------ weight window
    def write_memory(self, sel: int, words: np.ndarray) -> None:
        """Write ``words`` (unsigned, one per entry, from entry 0) into parameter memory
        ``sel`` through the window (one block write). The IP must be IDLE."""
        words = np.ascontiguousarray(words, dtype="<u4")
        if len(words) > R.WINDOW_WORDS:
            raise ValueError(f"{len(words)} words do not fit the {R.WINDOW_WORDS}-entry window")
        self.set(R.WSEL, sel)
        self.write(R.WINDOW_BASE, words.tobytes())

    def read_memory(self, sel: int, n: int) -> np.ndarray:
        """Read entries ``0 ... n-1`` of memory ``sel`` (32-bit readback, sign-extended for
        signed memories), one word at a time."""
        self.set(R.WSEL, sel)
        out = np.empty(n, dtype=np.uint32)
        for a in range(n):
            out[a] = self.read(R.window_offset(a))
        return out

    def scan(self, sel: int, timeout: float) -> tuple[int, int]:
        """Run ``SCAN`` over memory ``sel``; return ``(SCAN_SUM, SCAN_WSUM)``."""
        self.set(R.WSEL, sel)
        self.set(R.CTRL, R.CTRL.bit("SCAN"))
        self.wait_status("SCAN_BUSY", False, timeout)
        return self.get(R.SCAN_SUM), self.get(R.SCAN_WSUM)
