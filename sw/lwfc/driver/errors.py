"""Exceptions of the driver. Every one is an :class:`~lwfc.errors.LwfcError` (one-line
message; the CLI prints it and exits with status 2), and the input errors are also
``ValueError`` / ``TypeError`` so that generic callers can catch them the usual way."""

from __future__ import annotations

from ..errors import LwfcError


class DriverError(LwfcError):
    """Base class of every driver error."""


class InputError(DriverError, ValueError):
    """Bad images or arguments: shape, values, batch size, timeout."""


class InputTypeError(InputError, TypeError):
    """Images of a dtype the accelerator cannot take (float, bool, object...)."""


class NotLoadedError(DriverError):
    """``classify`` / ``throughput_test`` before ``load_bundle``."""


class PlanMismatchError(DriverError):
    """The bundle's layer shapes (or the driver) do not match the hardware's build."""


class VerifyError(DriverError):
    """The weights read back (checksum or word by word) differ from what was written."""


class DeviceTimeout(DriverError, TimeoutError):
    """A DMA transfer or a status bit did not complete within the timeout (the DMA and the IP
    were reset before this was raised)."""


class DmaError(DriverError):
    """The AXI DMA reported an error, or moved an unexpected number of bytes."""


class StatusError(DriverError):
    """The IP reported an error (``ERROR`` register) or an unexpected state."""


class SimulationError(DriverError):
    """The simulation backend failed (simulator crashed, protocol error, no answer)."""
