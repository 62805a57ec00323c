"""PYNQ-style host driver of the lwfc accelerator (the ``lwfc_axi`` IP + an AXI DMA).

* :class:`~lwfc.driver.ip.LwfcIP` - ``pynq.DefaultIP`` bound to the IP's VLNV: registers,
  weight window, SCAN checksums (offsets from :mod:`lwfc_hw.regmap`).
* :class:`~lwfc.driver.accel.LwfcAccelerator` - ``pynq.DefaultHierarchy`` owning the IP and
  its DMA: ``load_bundle``, ``classify``, ``batch_size``, ``throughput_test``.
* :func:`~lwfc.driver.board.open_board` - load an overlay on a PYNQ board.
* :func:`~lwfc.driver.sim.open_sim` - the same driver against the RTL (cocotb simulation of
  ``lwfc_axi`` beneath a ``pynq.Device`` stand-in).

Importing this package imports ``pynq`` (installed with ``pip install lwfc[board]``).
"""

from .accel import LwfcAccelerator, check_images
from .errors import (
    DeviceTimeout,
    DmaError,
    DriverError,
    InputError,
    InputTypeError,
    NotLoadedError,
    PlanMismatchError,
    SimulationError,
    StatusError,
    VerifyError,
)
from .ip import HwInfo, LwfcIP

__all__ = [
    "DeviceTimeout",
    "DmaError",
    "DriverError",
    "HwInfo",
    "InputError",
    "InputTypeError",
    "LwfcAccelerator",
    "LwfcIP",
    "NotLoadedError",
    "PlanMismatchError",
    "SimulationError",
    "StatusError",
    "VerifyError",
    "check_images",
]
