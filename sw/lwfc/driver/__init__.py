"""Host drivers of the lwfc accelerator, one interface (:class:`~lwfc.driver.base.Accelerator`)
over two transports.

* :class:`~lwfc.driver.base.Accelerator` - the interface: ``load_bundle``, ``classify``,
  ``throughput_test``, ``close``, context manager; :func:`~lwfc.driver.base.check_images`.
* :class:`~lwfc.driver.serial.SerialAccelerator` - the framed UART link of the open-flow boards
  (iCEBreaker, ULX3S, OrangeCrab) on pyserial; :func:`~lwfc.driver.serial_sim.open_serial_sim`
  runs it against the board top's RTL in Verilator. No ``pynq`` needed.
* :class:`~lwfc.driver.ip.LwfcIP` - ``pynq.DefaultIP`` bound to the AXI IP's VLNV: registers,
  weight window, SCAN checksums (offsets from :mod:`lwfc_hw.regmap`).
* :class:`~lwfc.driver.accel.LwfcAccelerator` - ``pynq.DefaultHierarchy`` owning the IP and
  its DMA: ``load_bundle``, ``classify``, ``batch_size``, ``throughput_test``.
* :func:`~lwfc.driver.board.open_board` - load an overlay on a PYNQ board.
* :func:`~lwfc.driver.sim.open_sim` - the AXI driver against the RTL (cocotb simulation of
  ``lwfc_axi`` beneath a ``pynq.Device`` stand-in).

Importing this package does not import ``pynq``: the AXI names (``LwfcAccelerator``,
``LwfcIP``, ``HwInfo``) are loaded on first use (``pip install lwfc[board]``).
"""

from __future__ import annotations

import importlib
from typing import Any

from .base import Accelerator, check_images
from .errors import (
    DeviceTimeout,
    DmaError,
    DriverError,
    InputError,
    InputTypeError,
    LinkError,
    NotLoadedError,
    PlanMismatchError,
    SimulationError,
    StatusError,
    VerifyError,
)

#: Names served lazily (their modules import pynq), by module.
_LAZY = {"LwfcAccelerator": ".accel", "LwfcIP": ".ip", "HwInfo": ".ip",
         "SerialAccelerator": ".serial"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Accelerator",
    "DeviceTimeout",
    "DmaError",
    "DriverError",
    "HwInfo",
    "InputError",
    "InputTypeError",
    "LinkError",
    "LwfcAccelerator",
    "LwfcIP",
    "NotLoadedError",
    "PlanMismatchError",
    "SerialAccelerator",
    "SimulationError",
    "StatusError",
    "VerifyError",
    "check_images",
]
