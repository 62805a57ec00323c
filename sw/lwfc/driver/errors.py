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
    """A wait did not complete within its timeout: a DMA transfer or a status bit (the DMA and
    the IP were reset before this was raised), or no answer on the serial link."""


class DmaError(DriverError):
    """The AXI DMA reported an error, or moved an unexpected number of bytes."""


class StatusError(DriverError):
    """The IP reported an error (``ERROR`` register) or an unexpected state."""


class SimulationError(DriverError):
    """The simulation backend failed (simulator crashed, protocol error, no answer)."""


class LinkError(DriverError):
    """The serial link failed: no valid answer after the bounded retries and resyncs, an
    error reply the driver cannot recover from, or a reply that breaks the protocol."""


class PortError(DriverError):
    """The serial port cannot be opened (no such device, busy, no permission)."""
