"""The one interface of every lwfc accelerator driver, and the pieces its transports share.

:class:`Accelerator` is what user code and the CLI program against; two transports implement
it:

* :class:`lwfc.driver.accel.LwfcAccelerator` - the ``lwfc_axi`` IP and an AXI DMA on a PYNQ
  board (or its cocotb simulation), needs ``pynq``;
* :class:`lwfc.driver.serial.SerialAccelerator` - the framed UART link of the open-flow boards
  (``hw/lwfc_hw/link.py``), on pyserial (or the Verilator simulation of a board top).

Shared here (never written twice): image checks (:func:`check_images`), the plan check
against the hardware's ``PLAN_HASH`` (:meth:`Accelerator.plan_for`), the memory images a
bundle loads (:func:`bundle_words`) and their expected 32-bit readback
(:func:`readback_words`), and the verification-mode check. Importing this module does not
import ``pynq``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from lwfc_hw import regmap as R
from lwfc_hw.banking import host_writes
from lwfc_hw.plan import CorePlan, plan_for_bundle

from ..bundle import Bundle
from .errors import InputError, InputTypeError, NotLoadedError, PlanMismatchError


class HardwareInfo(Protocol):
    """What every transport reports about the build (AXI: ``HwInfo``; serial: the IDENTIFY
    record :class:`lwfc_hw.link.Identity`)."""

    n_in: int
    classes: int
    pixels_per_beat: int
    lanes: int
    n_mems: int
    plan_hash: int


def check_images(images: Any, n_in: int) -> np.ndarray:
    """Check and flatten images to a C-contiguous ``uint8 (N, n_in)`` array.

    Accepts ``(N, n_in)`` or ``(N, H, W)`` with ``H * W == n_in``, of dtype uint8 or any
    integer dtype whose values all lie in 0 ... 255.

    Raises:
        InputTypeError: not an integer array (float, bool, object, strings...).
        InputError: wrong shape, no images, values outside 0 ... 255.
    """
    try:
        arr = np.asarray(images)
    except (ValueError, TypeError) as exc:
        raise InputError(f"images must be an array of shape (N, {n_in}): {exc}") from None
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise InputTypeError(
            f"images must be uint8 pixels 0 ... 255, got dtype {arr.dtype} "
            "(convert with (x * 255).round().astype(np.uint8) if they are floats in 0 ... 1)")
    if arr.ndim == 3 and arr.shape[1] * arr.shape[2] == n_in:
        arr = arr.reshape(arr.shape[0], n_in)
    if arr.ndim != 2 or arr.shape[1] != n_in:
        raise InputError(f"images must have shape (N, {n_in}) or (N, H, W) with H*W = {n_in}, "
                         f"got {arr.shape}" + (" (one image? use x[None])" if arr.ndim == 1
                                               or (arr.ndim == 2 and arr.size == n_in) else ""))
    if arr.shape[0] == 0:
        raise InputError("no images (N = 0)")
    if arr.dtype != np.uint8:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 255:
            raise InputError(f"pixel values must lie in 0 ... 255, got {lo} ... {hi}")
    return np.ascontiguousarray(arr, dtype=np.uint8)


def bundle_words(bundle: Bundle, plan: CorePlan) -> dict[int, np.ndarray]:
    """The unsigned ``width``-bit contents of every parameter memory (by ``sel``, full
    depth) that loading ``bundle`` writes (the one banking layout, ``lwfc_hw.banking``)."""
    words = {m.sel: np.zeros(m.depth, dtype=np.uint32) for m in plan.mems}
    for sel, addr, data in host_writes(bundle, plan):
        words[sel][addr] = data
    return words


def readback_words(data: np.ndarray, width: int, signed: bool) -> np.ndarray:
    """The 32-bit readback of ``width``-bit entries ``data``: sign-extended if ``signed``
    (what the AXI window and the SCAN / VERIFY checksums see)."""
    d = np.asarray(data, dtype=np.int64)
    if signed and width < 32:
        d = np.where(d >> (width - 1) & 1, d - (1 << width), d)
    return (d & 0xFFFFFFFF).astype(np.uint32)


def expected_checksums(words: np.ndarray, width: int, signed: bool) -> tuple[int, int]:
    """``(sum, weighted sum)`` that a SCAN / VERIFY of a memory holding ``words`` gives."""
    return R.scan_checksums(readback_words(words, width, signed))


def check_verify_mode(verify: str, modes: tuple[str, ...]) -> str:
    """``verify`` if it is one of ``modes``, else :class:`InputError`."""
    if verify not in modes:
        raise InputError(f"verify must be one of {', '.join(modes)}, got {verify!r}")
    return verify


def _shapes_text(bundle: Bundle) -> str:
    shapes = "-".join([str(bundle.in_features)] + [str(la.out_features) for la in bundle.layers])
    return f"{shapes}, {'/'.join(la.kind for la in bundle.layers)}"


class Accelerator(abc.ABC):
    """One lwfc accelerator behind some transport.

    Subclasses set :attr:`info` (a :class:`HardwareInfo`) and implement :meth:`load_bundle`,
    :meth:`classify`, :meth:`throughput_test` and :meth:`close`; they hold the loaded bundle
    and plan in ``_bundle`` / ``_plan``.

    Attributes:
        verify: default verification of :meth:`load_bundle` (``"scan"``).
    """

    info: Any
    last: dict[str, Any]
    verify: str = "scan"
    #: Verification modes :meth:`load_bundle` accepts.
    verify_modes: tuple[str, ...] = ("scan", "none")
    _bundle: Bundle | None = None
    _plan: CorePlan | None = None

    # ------------------------------------------------------------------ bundle and plan
    @property
    def bundle(self) -> Bundle | None:
        """The bundle whose weights are loaded (None before :meth:`load_bundle`)."""
        return self._bundle

    @property
    def plan(self) -> CorePlan | None:
        """The elaboration plan of the loaded bundle on this hardware."""
        return self._plan

    def plan_options(self) -> list[dict[str, Any]]:
        """Keyword sets of :func:`lwfc_hw.plan.plan_for_bundle` the build may have used
        (beyond the beat width, which the hardware reports; ``lanes`` when the build's differ
        from the largest per-layer value the hardware reports); the first whose signature
        equals ``PLAN_HASH`` wins. Default: the plain plan only."""
        return [{}]

    def _plan_candidates(self) -> list[dict[str, Any]]:
        """:meth:`plan_options`, each with its own ``lanes`` (a target's, maybe per layer)
        and then with the hardware's (a build with other lanes but the same options)."""
        out: list[dict[str, Any]] = []
        for options in self.plan_options():
            for opts in (options, {k: v for k, v in options.items() if k != "lanes"}):
                if opts not in out:
                    out.append(opts)
        return out

    def plan_for(self, bundle: Bundle) -> CorePlan:
        """The plan ``bundle`` gets on this hardware (its lanes and beat width), checked
        against the hardware's ``PLAN_HASH``.

        Raises:
            PlanMismatchError: the bundle's shapes do not match the build.
        """
        info = self.info
        if bundle.in_features != info.n_in or bundle.classes != info.classes:
            raise PlanMismatchError(
                f"bundle {bundle.name!r} maps {bundle.in_features} inputs to {bundle.classes} "
                f"classes; the hardware was built for {info.n_in} -> {info.classes}")
        plan = first_error = None
        for options in self._plan_candidates():
            opts = dict(options)
            lanes = opts.pop("lanes", info.lanes)
            try:
                candidate = plan_for_bundle(bundle, lanes, info.pixels_per_beat, **opts)
            except ValueError as exc:
                first_error = first_error or exc
                continue
            if R.plan_signature(candidate) == info.plan_hash:
                return candidate
            plan = plan or candidate
        if plan is None:
            raise PlanMismatchError(f"bundle {bundle.name!r}: {first_error}")
        raise PlanMismatchError(
            f"bundle {bundle.name!r} ({_shapes_text(bundle)}) does not match the hardware's "
            f"plan (PLAN_HASH 0x{info.plan_hash:08x}, this bundle "
            f"0x{R.plan_signature(plan):08x}, {info.lanes} lanes): rebuild the "
            f"{self.rebuild_what} for this bundle")

    #: What to rebuild when a bundle does not match (for :meth:`plan_for`'s message).
    rebuild_what = "overlay"

    def require_loaded(self) -> None:
        """:class:`NotLoadedError` unless a bundle is loaded."""
        if self._bundle is None:
            raise NotLoadedError("no weights loaded: call load_bundle(bundle) first")

    # ------------------------------------------------------------------ the interface
    @abc.abstractmethod
    def load_bundle(self, bundle: Any, verify: str | None = None,
                    force: bool = False) -> dict[str, Any]:
        """Load and verify ``bundle``'s parameters (``force``: even when the device says it
        holds them); returns at least ``{"memories", "words", "verify", "seconds"}``."""

    @abc.abstractmethod
    def classify(self, images: Any, logits: bool = False,
                 progress: Callable[[int, int], None] | None = None) -> Any:
        """int64 ``(N,)`` classes of uint8 images ``(N, n_in)`` / ``(N, H, W)``; with
        ``logits`` ``(classes, int64 (N, classes) logits)``. ``progress(done, n)`` reports
        progress; afterwards :attr:`last` holds at least ``images``, ``seconds`` and
        ``images_per_s`` of the run."""

    @abc.abstractmethod
    def throughput_test(self, images: int | None = None, seed: int = 0) -> dict[str, Any]:
        """Classify random images and report the rate (``throughput[images/s]`` ...)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the transport (buffers, port, simulator)."""

    def execute(self, images: Any) -> np.ndarray:
        """finn-examples' name for :meth:`classify`."""
        return self.classify(images)

    def __enter__(self) -> Accelerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
