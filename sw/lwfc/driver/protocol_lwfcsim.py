"""pyserial URL handler ``lwfcsim://HOST:PORT[?faults]``: a serial port whose other end is the
Verilator harness ``hw/tb/tb_serial.cpp`` (a board top's UART pins, simulated).

Registered by :func:`lwfc.driver.serial.register_handlers` (``serial.protocol_handler_packages``),
so ``serial.serial_for_url("lwfcsim://127.0.0.1:40123")`` opens one. Its ``timeout`` is in
**simulated** seconds: a ``read`` lets the simulation run until the bytes asked for have come
out of the design's ``tx`` or that much simulated time has passed (lock step: nothing runs
between requests). :meth:`Serial.sim_seconds` is the simulated time. The URL's query sets the
fault injection of the wire (:class:`lwfc.driver.faults.FaultConfig`: ``flip``, ``drop``,
``garbage``, ``truncate``, ``reset``, ``rx_flip``, ``rx_drop``, ``seed``); ``wall`` the wall
seconds any one request to the simulator may take (default 600).
"""

from __future__ import annotations

import contextlib
import math
import socket
import struct
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from .faults import FaultConfig, FaultInjector

#: Reply header of the harness: cycles, clk_hz, queued, frame_errors, n.
_REPLY = struct.Struct("<QQIII")
#: Cycles the bridge's reset is held for a ``reset`` fault.
RESET_CYCLES = 4
#: Longest simulated time one read may ask for when ``timeout`` is None (seconds).
FOREVER = 10.0


class Serial(SerialBase):
    """A pyserial port to the simulated board (see the module docstring)."""

    simulated = True

    def open(self) -> None:
        if self._port is None:
            raise SerialException("port must be configured before it can be used")
        if self.is_open:
            raise SerialException("port is already open")
        parts = urlsplit(self._port)
        if parts.scheme != "lwfcsim" or not parts.hostname or not parts.port:
            raise SerialException(f"expected lwfcsim://HOST:PORT, got {self._port!r}")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            self.faults = FaultInjector(FaultConfig.from_query(parts.query))
            self._wall = float(query.get("wall", 600.0))
        except Exception as exc:
            raise SerialException(f"{self._port}: {exc}") from None
        try:
            self._sock = socket.create_connection((parts.hostname, parts.port), timeout=30.0)
        except OSError as exc:
            raise SerialException(f"cannot connect to the simulator at {self._port}: {exc}") \
                from None
        self._sock.settimeout(self._wall)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = bytearray()
        self.cycles = 0
        self.clk_hz = 1
        self.queued = 0
        self.frame_errors = 0
        self.on_close: Callable[[], None] | None = None
        self.is_open = True
        self._exchange(b"I")

    def _reconfigure_port(self, force_update: bool = False) -> None:
        """Nothing to configure: the simulated wire runs at the design's own bit period."""

    # ------------------------------------------------------------------ the harness
    def _recv(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            try:
                chunk = self._sock.recv(n - len(out))
            except TimeoutError:
                raise SerialException(f"the simulator did not answer within {self._wall:g} s "
                                      "(wall clock)") from None
            except OSError as exc:
                raise SerialException(f"the simulator connection failed: {exc}") from None
            if not chunk:
                raise SerialException("the simulator exited (connection closed)")
            out += chunk
        return bytes(out)

    def _exchange(self, request: bytes) -> None:
        """Send one request that has a reply; take in the reply's bytes."""
        try:
            self._sock.sendall(request)
        except OSError as exc:
            raise SerialException(f"the simulator connection failed: {exc}") from None
        self.cycles, self.clk_hz, self.queued, self.frame_errors, n = _REPLY.unpack(
            self._recv(_REPLY.size))
        if n:
            self._buf += self.faults.on_read(self._recv(n))

    def sim_seconds(self) -> float:
        """Simulated time since the simulation started, seconds."""
        return self.cycles / self.clk_hz

    @property
    def fault_counts(self) -> dict[str, int]:
        """Faults injected so far, by kind."""
        return dict(self.faults.counts)

    def reset_device(self, cycles: int = RESET_CYCLES) -> None:
        """Hold the design's ``rst`` high for ``cycles`` cycles."""
        self._exchange(b"X" + struct.pack("<I", cycles))

    # ------------------------------------------------------------------ pyserial API
    @property
    def in_waiting(self) -> int:
        if not self.is_open:
            raise PortNotOpenError()
        return len(self._buf)

    def read(self, size: int = 1) -> bytes:
        if not self.is_open:
            raise PortNotOpenError()
        timeout = FOREVER if self._timeout is None else float(self._timeout)
        # at least one cycle for any positive timeout, so a read always lets time pass
        deadline = self.cycles + (max(1, math.ceil(timeout * self.clk_hz)) if timeout > 0
                                  else 0)
        while len(self._buf) < size and self.cycles < deadline:
            ns = (deadline - self.cycles) * 1e9 / self.clk_hz
            self._exchange(b"R" + struct.pack("<IQ", size - len(self._buf), max(1, round(ns))))
        out = bytes(self._buf[:size])
        del self._buf[:size]
        return out

    def write(self, data: bytes) -> int:
        if not self.is_open:
            raise PortNotOpenError()
        data = bytes(data)
        sent, reset = self.faults.on_write(data)
        if reset:
            self.reset_device()
        try:
            self._sock.sendall(b"W" + struct.pack("<I", len(sent)) + sent)
        except OSError as exc:
            raise SerialException(f"the simulator connection failed: {exc}") from None
        return len(data)

    def flush(self) -> None:
        """Run until every written byte has gone onto the wire."""
        if not self.is_open:
            raise PortNotOpenError()
        self._exchange(b"D" + struct.pack("<Q", round(FOREVER * 1e9)))

    def reset_input_buffer(self) -> None:
        self._buf.clear()

    def reset_output_buffer(self) -> None:
        """Bytes already handed to the simulated UART cannot be taken back."""

    def close(self) -> None:
        if self.is_open:
            self.is_open = False
            with contextlib.suppress(OSError):
                self._sock.sendall(b"Q")
            self._sock.close()
        hook, self.on_close = getattr(self, "on_close", None), None
        if hook is not None:
            hook()
