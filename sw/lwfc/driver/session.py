"""Opening an accelerator by board name and running images through it against the golden
model: the logic of ``lwfc infer`` (the command only parses and prints).

Boards: ``sim`` (the AXI IP in a cocotb simulation) and ``pynq`` (an overlay on a PYNQ
board) go through :class:`~lwfc.driver.accel.LwfcAccelerator`; every open-flow board of
``deploy/boards`` (icebreaker, ulx3s, orangecrab) through
:class:`~lwfc.driver.serial.SerialAccelerator` on ``port`` - a device such as
``/dev/ttyUSB1``, or ``sim`` for the board top's RTL in Verilator. All checks that need no
hardware (board, port, bundle fits the board, faults only in simulation) come first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from lwfc_hw.plan import CorePlan

from .. import golden
from ..bundle import Bundle
from ..errors import LwfcError
from .base import Accelerator, check_images
from .faults import FaultConfig

#: Boards served by the AXI driver.
AXI_BOARDS = ("sim", "pynq")


def serial_boards() -> list[str]:
    """The open-flow boards (they talk over the serial link)."""
    from .. import fpga

    return sorted(n for n, b in fpga.boards().items() if b.flow == "open" and "baud" in b.uart)


def board_plan(board_name: str, bundle: Bundle) -> CorePlan:
    """The plan ``bundle`` gets in ``board_name``'s build (its target's lanes and memory
    options), checked to fit the device.

    Raises:
        LwfcError: the bundle cannot be elaborated, or does not fit the board.
    """
    from .. import fpga

    board = fpga.get_board(board_name)
    plan = fpga.target_plan(board, bundle)
    try:
        fpga.check_fit(plan, board)
    except LwfcError as exc:
        raise LwfcError(f"bundle {bundle.name!r} does not fit the {board.name}: {exc}") from None
    return plan


def open_accelerator(board: str, bundle: Bundle, *, port: str | None = None,
                     timeout: float | None = None, faults: FaultConfig | None = None,
                     lanes: int = 8, simulator: str = "icarus", stall: float = 0.0,
                     overlay: Any = None) -> Accelerator:
    """An :class:`Accelerator` for ``board`` that ``bundle`` can be loaded into.

    Raises:
        LwfcError (PortError, DeviceTimeout, PlanMismatchError...): bad arguments, a bundle
            that does not fit or match the board, no such port, no device answering.
    """
    if board in AXI_BOARDS:
        if port is not None:
            raise LwfcError(f"--port is for the serial boards ({', '.join(serial_boards())}); "
                            f"--board {board} uses the AXI driver")
        if faults is not None and faults.active:
            raise LwfcError("fault injection needs a serial board with --port sim")
        return _open_axi(board, bundle, timeout, lanes, simulator, stall, overlay)
    if board not in serial_boards():
        raise LwfcError(f"unknown board {board!r} (known: "
                        f"{', '.join([*AXI_BOARDS, *serial_boards()])})")
    if port is None:
        raise LwfcError(f"--board {board} needs --port: the board's serial device "
                        "(e.g. /dev/ttyUSB1), or sim for its RTL in Verilator")
    board_plan(board, bundle)  # the bundle can be built for the board (one-line error if not)
    if port == "sim":
        from .serial_sim import open_serial_sim

        # the bitstream 'lwfc build --board BOARD --bundle ...' makes for this bundle (its
        # plan is board_plan's), in simulation
        return open_serial_sim(board, faults=faults, timeout=timeout, bundle=bundle)
    if faults is not None and faults.active:
        raise LwfcError("fault injection is an option of the simulated wire (--port sim)")
    from .. import fpga
    from .serial import SerialAccelerator, plan_options_of

    b = fpga.get_board(board)
    return SerialAccelerator(port, baud=int(b.uart["baud"]), timeout=timeout,
                             plan_options=[plan_options_of(fpga.target_generator_params(board),
                                                           b.family)])


def _open_axi(board: str, bundle: Bundle, timeout: float | None, lanes: int, simulator: str,
              stall: float, overlay: Any) -> Accelerator:
    try:
        if board == "sim":
            from .sim import open_sim

            if not 0.0 <= stall < 1.0:
                raise LwfcError(f"--stall must be in [0, 1), got {stall}")
            return open_sim(bundle, lanes=lanes, simulator=simulator, stall=stall,
                            timeout=timeout or 600.0)
        from .board import DEFAULT_OVERLAY, open_board

        return open_board(overlay or DEFAULT_OVERLAY, timeout=timeout or 10.0)
    except ImportError as exc:
        raise LwfcError(f"the AXI driver needs pynq (pip install 'lwfc[board]'): {exc}") \
            from None
    except ValueError as exc:  # e.g. a bundle the RTL cannot be elaborated for
        raise LwfcError(f"cannot build the accelerator for {bundle.name!r}: {exc}") from None


def run_inference(acc: Accelerator, bundle: Bundle, images: Any, labels: Any = None, *,
                  logits: bool = False, verify: str = "scan", force_load: bool = False,
                  sparse: bool | None = None,
                  progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Load ``bundle`` into ``acc``, classify ``images`` and compare every class (and with
    ``logits`` every logit) with :func:`lwfc.golden.forward`.

    Returns:
        ``images``, ``mismatches``, ``mismatched_images`` (first 20 indices),
        ``accuracy`` / ``golden_accuracy`` (None without labels), ``logits_compared``,
        ``load`` (what ``load_bundle`` returned) and the accelerator's figures of the run
        (:attr:`Accelerator.last`: ``images_per_s`` ...).
    """
    x = check_images(images, bundle.in_features)
    ref = golden.forward(bundle, x)
    ref_cls = np.argmax(ref, axis=1)
    load = acc.load_bundle(bundle, verify=verify, force=force_load)
    kw: dict[str, Any] = {"progress": progress}
    if sparse is not None:
        kw["sparse"] = sparse
    if logits:
        classes, got = acc.classify(x, logits=True, **kw)
    else:
        classes, got = acc.classify(x, **kw), None
    bad = classes != ref_cls
    if got is not None:
        bad |= (got != ref).any(axis=1)
    lab = None if labels is None else np.asarray(labels, dtype=np.int64)
    out: dict[str, Any] = {
        "images": len(x),
        "mismatches": int(bad.sum()),
        "mismatched_images": [int(i) for i in np.flatnonzero(bad)[:20]],
        "accuracy": None if lab is None else float(np.mean(classes == lab)),
        "golden_accuracy": None if lab is None else float(np.mean(ref_cls == lab)),
        "logits_compared": bool(logits),
        "load": load,
    }
    out.update(acc.last)
    return out
