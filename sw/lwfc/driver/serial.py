"""``SerialAccelerator``: the lwfc driver over the framed UART link of the open-flow boards.

The protocol (frames, commands, error replies, IDENTIFY record, sparse image code, parameter
hash, UART timing) is :mod:`lwfc_hw.link`; this module only uses it. The port is anything
:func:`serial.serial_for_url` opens: ``/dev/ttyUSB1`` on a board, ``lwfcsim://HOST:PORT`` for
the board top's RTL in Verilator (:mod:`lwfc.driver.serial_sim`), or a test double.

Same interface as the AXI driver (:class:`lwfc.driver.base.Accelerator`):

* :meth:`~SerialAccelerator.load_bundle` - WRITE bursts of ``max_burst`` entries per memory,
  VERIFY checksums compared with :func:`lwfc_hw.regmap.scan_checksums` of the expected
  readback, then SET_HASH (:func:`lwfc_hw.link.bundle_params_hash`); skipped when the device's
  parameter hash already equals the bundle's (unless ``force``);
* :meth:`~SerialAccelerator.classify` - pipelined: up to ``in_flight`` (IDENTIFY) images are
  on their way while results come back; each image sparse-coded or raw, whichever is shorter.

Recovery: every read has a timeout (:attr:`SerialAccelerator.timeout`, seconds of the
device's clock: simulated seconds on a simulated port). A request that is answered with
ERR_CRC / ERR_BUSY, or that a later reply shows was lost (replies come in request order), is
sent again with a fresh tag; when nothing valid comes back in time the driver resynchronises
(FLUSH, and if even that is not answered, filler bytes that end any half-received frame, then
FLUSH again) and sends every unanswered request again. A reply is accepted only for a tag
that is outstanding, so a result is never taken for the wrong image nor counted twice. After
``max_retries`` attempts of one request the driver raises :class:`LinkError`
(:class:`DeviceTimeout` when the device never answers). :attr:`SerialAccelerator.stats` counts
bytes, frames, retries, resyncs and CRC errors.
"""

from __future__ import annotations

import collections
import contextlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lwfc_hw import link
from lwfc_hw.cycles import activity as cycle_activity
from lwfc_hw.cycles import report as cycle_report
from lwfc_hw.cycles import stream_report
from lwfc_hw.plan import CorePlan

from ..bundle import Bundle, load_bundle
from .base import Accelerator, bundle_words, check_images, check_verify_mode, expected_checksums
from .errors import DeviceTimeout, InputError, LinkError, PlanMismatchError, PortError, VerifyError

#: Package holding the pyserial URL handlers of lwfc (``lwfcsim://``).
HANDLER_PACKAGE = "lwfc.driver"
#: Attempts per request (first send included) before :class:`LinkError`.
DEFAULT_RETRIES = 16
#: Host-side latency allowance added to every timeout on a real port (USB-serial buffering:
#: the FTDI latency timer is 1 ... 16 ms), seconds.
PORT_LATENCY = 0.05
#: WRITE bursts in flight during a load (one being received while the previous is answered).
WRITE_WINDOW = 2
#: Core cycles assumed for one image before a plan is known (only for timeouts).
UNKNOWN_CORE_CYCLES = 1_000_000


@dataclass
class LinkStats:
    """Counters of one driver's link (cumulative; :meth:`SerialAccelerator.link_stats`).

    Attributes:
        bytes_sent, bytes_received: bytes written to / read from the port.
        frames_sent, frames_received: whole frames (received: CRC-checked).
        retries: requests sent again (after an error reply, a loss or a timeout).
        resyncs: FLUSH resynchronisations after a timeout.
        timeouts: reads that ended without the awaited reply.
        crc_errors: received frames dropped for their CRC + ERR_CRC replies (requests the
            device dropped for theirs).
        bad_headers: received headers whose HCRC failed.
        lost: requests that a later reply showed were dropped (no answer will come).
        stray: valid frames that answer no outstanding request (ignored).
        skipped_bytes: received bytes discarded while hunting for SYNC.
        error_replies: error replies by name.
    """

    bytes_sent: int = 0
    bytes_received: int = 0
    frames_sent: int = 0
    frames_received: int = 0
    retries: int = 0
    resyncs: int = 0
    timeouts: int = 0
    crc_errors: int = 0
    bad_headers: int = 0
    lost: int = 0
    stray: int = 0
    skipped_bytes: int = 0
    error_replies: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def register_handlers() -> None:
    """Make pyserial find lwfc's URL handlers (``lwfcsim://``)."""
    import serial

    if HANDLER_PACKAGE not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(HANDLER_PACKAGE)


def open_port(port: str, baud: int, timeout: float = 1.0) -> Any:
    """Open ``port`` (a device path or a pyserial URL) at ``baud``, 8N1.

    Raises:
        PortError: no such port, busy, no permission, unknown URL scheme.
    """
    import serial

    register_handlers()
    try:
        return serial.serial_for_url(str(port), baudrate=int(baud), bytesize=8, parity="N",
                                     stopbits=1, timeout=timeout, write_timeout=10.0)
    except (serial.SerialException, ValueError, OSError) as exc:
        raise PortError(f"cannot open serial port {port}: {exc}") from None


@dataclass
class _Job:
    """One request of a pipelined transfer."""

    index: int
    payload: bytes
    attempts: int = 0


class SerialAccelerator(Accelerator):
    """An lwfc bridge (``lwfc_serial``) behind a serial port.

    Args:
        port: an open pyserial port, or a device path / URL to open at ``baud``.
        baud: bit rate for a port given by name (the board's ``uart.baud``).
        timeout: seconds any single read may wait (device clock; None: from the link's
            timing, see :meth:`default_timeout`).
        max_retries: attempts per request before :class:`LinkError`.
        plan_options: extra ``plan_for_bundle`` keyword sets the build may have used (a
            board target's lanes per layer, dataflow, drain, ``spram_min_depth``, ...;
            :func:`plan_options_of`); default: those of every open-flow board target in
            ``fusesoc.core``.
        name: how errors name the port (default: the port's name).

    Attributes:
        info: the IDENTIFY record (:class:`lwfc_hw.link.Identity`).
        timing: :class:`lwfc_hw.link.UartTiming` of the device's clock and baud.
        stats: :class:`LinkStats`.
        sparse: default image coding of :meth:`classify` (None: per image the shorter).
        simulated: True on a simulated port (times are simulated seconds).
        last: figures of the last :meth:`classify` (images, seconds, bytes, rates).
    """

    rebuild_what = "bitstream"

    def __init__(self, port: Any, baud: int | None = None, *, timeout: float | None = None,
                 max_retries: int = DEFAULT_RETRIES,
                 plan_options: Sequence[dict[str, Any]] | None = None,
                 name: str | None = None) -> None:
        if max_retries < 1:
            raise InputError(f"max_retries must be >= 1, got {max_retries}")
        if timeout is not None and not timeout > 0:
            raise InputError(f"timeout must be > 0 s, got {timeout}")
        if isinstance(port, str | os.PathLike):
            if baud is None:
                raise InputError(f"opening {port} needs a baud rate (the board's uart.baud)")
            port = open_port(str(port), baud)
        self.port = port
        self.name = name or str(getattr(port, "name", None) or getattr(port, "port", "port"))
        self.simulated = bool(getattr(port, "simulated", False))
        self._now: Callable[[], float] = (port.sim_seconds if self.simulated
                                          else time.monotonic)
        self.latency = 0.0 if self.simulated else PORT_LATENCY
        self.max_retries = int(max_retries)
        self._plan_options = list(plan_options) if plan_options is not None else None
        self.stats = LinkStats()
        self.sparse: bool | None = None
        self.verify = "scan"
        self.last: dict[str, Any] = {}
        self._tag = 0
        self._parser = link.Parser(max_payload=max(link.IDENTIFY_BYTES, 8, 1 + 4 * 255))
        self._frames: collections.deque[link.Frame] = collections.deque()
        self._max_request = 1 + 1024 + 3 + 4 * 256  # until IDENTIFY says
        self._bundle: Bundle | None = None
        self._plan: CorePlan | None = None
        self._core_cycles = UNKNOWN_CORE_CYCLES
        self._user_timeout = timeout
        self.timeout = timeout if timeout is not None else self.latency + 0.25
        try:
            self._resync(attempts=2, recovery=False)
            self.info: link.Identity = self.identify()
        except DeviceTimeout as exc:
            self.close()
            raise DeviceTimeout(f"no lwfc device answering on {self.name}"
                                f"{f' at {baud} baud' if baud else ''}: {exc}") from None
        except BaseException:
            self.close()
            raise
        self.timing = link.uart_timing(self.info.clk_hz, self.info.baud)
        self._max_request = link.max_request_payload(self.info.n_in, self.info.max_burst)
        self._parser.max_payload = max(link.IDENTIFY_BYTES, 8,
                                       link.result_payload_bytes(self.info.classes, True))
        if timeout is None:
            self.timeout = self.default_timeout()

    # ------------------------------------------------------------------ timing
    def default_timeout(self) -> float:
        """The read timeout the driver uses unless told: the port latency plus four times the
        time ``in_flight + 1`` raw images take on the wire and in the core, at least 10 ms
        (seconds)."""
        info = self.info
        frame = link.FRAME_OVERHEAD + 1 + info.n_in
        image_s = link.wire_seconds(frame, info.baud) + self._core_cycles / info.clk_hz
        return self.latency + max(0.01, 4 * (info.in_flight + 1) * image_s)

    def _set_plan(self, plan: CorePlan | None) -> None:
        self._core_cycles = (2 * cycle_report(plan).latency if plan is not None
                             else UNKNOWN_CORE_CYCLES)
        if self._user_timeout is None:
            self.timeout = self.default_timeout()

    def limits(self, request_bytes: float, logits: bool = False,
               images: np.ndarray | None = None) -> dict[str, float]:
        """Images/s the wire and the core allow: ``wire`` = the bit rate the clock really
        makes (``timing.actual_baud``) / (10 x the bytes of the busier direction per image:
        ``request_bytes`` in, the reply out), ``core`` = clock / the plan's streaming
        interval (needs a loaded plan; for a plan with broadcast engines and two or more
        ``images`` (uint8 ``(N, n_in)``), the mean interval of those images streamed back
        to back, else the worst case), ``bound`` = the smaller."""
        reply = link.FRAME_OVERHEAD + link.result_payload_bytes(self.info.classes, logits)
        wire = self.timing.actual_baud / (10 * max(float(request_bytes), reply))
        out = {"wire": wire}
        if self._plan is not None:
            data_dependent = any(e.broadcast for e in self._plan.engines)
            if data_dependent and images is not None and len(images) >= 2:
                act = cycle_activity(self._bundle, images)
                interval: float = stream_report(self._plan, act).mean_interval
            else:
                interval = cycle_report(self._plan).interval
            out["core"] = self.info.clk_hz / interval
        out["bound"] = min(out.values())
        return out

    # ------------------------------------------------------------------ frames
    def _next_tag(self) -> int:
        self._tag = (self._tag + 1) & 0xFF
        return self._tag

    def _write(self, data: bytes) -> None:
        try:
            self.port.write(data)
        except Exception as exc:  # pyserial raises SerialException / SerialTimeoutException
            if isinstance(exc, LinkError | DeviceTimeout):
                raise
            raise LinkError(f"writing to {self.name} failed: {exc}") from None
        self.stats.bytes_sent += len(data)

    def _send(self, code: link.Code, payload: bytes = b"") -> int:
        tag = self._next_tag()
        self._write(link.encode(code.value, tag, payload))
        self.stats.frames_sent += 1
        return tag

    def _need(self) -> int:
        """Bytes that at least must arrive before the parser can complete a frame."""
        b = self._parser.buf
        if len(b) < link.HEADER_BYTES:
            return link.FRAME_OVERHEAD - len(b)
        length = b[3] | b[4] << 8
        return max(1, link.HEADER_BYTES + length + link.TRAILER_BYTES - len(b))

    def _read_frame(self, deadline: float) -> link.Frame | None:
        """The next valid frame, or None when ``deadline`` (device clock) passes first."""
        p = self._parser
        while not self._frames:
            remaining = deadline - self._now()
            if remaining <= 0:
                return None
            self.port.timeout = remaining
            want = max(self._need(), int(getattr(self.port, "in_waiting", 0) or 0))
            try:
                data = self.port.read(want)
            except Exception as exc:
                if isinstance(exc, LinkError | DeviceTimeout):
                    raise
                raise LinkError(f"reading from {self.name} failed: {exc}") from None
            if not data:
                if self._now() <= deadline - remaining:  # no time passed: the port gave up
                    return None
                continue
            self.stats.bytes_received += len(data)
            before = (p.bad_crc, p.bad_header, p.skipped)
            self._frames.extend(p.feed(data))
            self.stats.crc_errors += p.bad_crc - before[0]
            self.stats.bad_headers += p.bad_header - before[1]
            self.stats.skipped_bytes += p.skipped - before[2]
        self.stats.frames_received += 1
        return self._frames.popleft()

    def _error_reply(self, frame: link.Frame) -> None:
        name = link.code_name(frame.cmd)
        self.stats.error_replies[name] = self.stats.error_replies.get(name, 0) + 1
        if frame.cmd == link.ERR_CRC.value:
            self.stats.crc_errors += 1

    def _resync(self, attempts: int | None = None, recovery: bool = True) -> None:
        """Bring the link to a known state: FLUSH, and wait for its reply (everything else is
        dropped). When FLUSH is not answered, filler bytes first end any frame the bridge
        is half-way through. Raises :class:`DeviceTimeout` after ``attempts`` tries."""
        attempts = attempts or self.max_retries
        self.stats.resyncs += int(recovery)
        for k in range(attempts):
            if k:
                self._write(bytes(self._max_request + link.TRAILER_BYTES))
            tag = self._send(link.FLUSH)
            deadline = self._now() + self.timeout
            while (f := self._read_frame(deadline)) is not None:
                if f.tag == tag and f.cmd == link.FLUSH.value | link.REPLY_BIT:
                    return
                if f.cmd in _ERROR_CODES:
                    self._error_reply(f)
                else:
                    self.stats.stray += 1
            self.stats.timeouts += 1
        raise DeviceTimeout(f"no answer to FLUSH in {attempts} attempts of "
                            f"{self.timeout:.3g} s each")

    # ------------------------------------------------------------------ the pipeline
    def _pipeline(self, code: link.Code, payloads: Sequence[bytes], window: int,
                  reply_len: Callable[[int], int],
                  progress: Callable[[int, int], None] | None = None) -> list[bytes]:
        """Send one ``code`` request per payload, at most ``window`` unanswered, and return
        the reply payloads in request order (see the module docstring for the recovery)."""
        n = len(payloads)
        replies: list[bytes | None] = [None] * n
        pending = collections.deque(_Job(i, p) for i, p in enumerate(payloads))
        out: collections.OrderedDict[int, _Job] = collections.OrderedDict()  # tag -> job
        done = 0
        ok = code.value | link.REPLY_BIT
        while done < n:
            while pending and len(out) < window:
                job = pending.popleft()
                job.attempts += 1
                if job.attempts > self.max_retries:
                    raise LinkError(
                        f"{code.name} request {job.index} of {n} got no valid reply in "
                        f"{self.max_retries} attempts ({self._stats_text()})")
                if job.attempts > 1:
                    self.stats.retries += 1
                out[self._send(code, job.payload)] = job
            f = self._read_frame(self._now() + self.timeout)
            if f is None:
                self.stats.timeouts += 1
                self._resync()
                pending.extendleft(reversed(list(out.values())))
                out.clear()
                continue
            job = out.get(f.tag)
            if job is None:
                if f.cmd in _ERROR_CODES:
                    self._error_reply(f)
                self.stats.stray += 1
                continue
            if f.cmd == ok:
                # replies come in request order: every request sent before this one and
                # still unanswered was dropped on the way (no reply will come)
                lost = []
                for t in list(out):
                    if t == f.tag:
                        break
                    lost.append(out.pop(t))
                self.stats.lost += len(lost)
                pending.extendleft(reversed(lost))
                del out[f.tag]
                want = reply_len(job.index)
                if len(f.payload) != want:
                    raise LinkError(f"{code.name} reply of {len(f.payload)} bytes, expected "
                                    f"{want}: the device does not speak this driver's protocol")
                if replies[job.index] is not None:  # cannot happen: the tag was outstanding
                    raise LinkError(f"{code.name} request {job.index} answered twice")
                replies[job.index] = f.payload
                done += 1
                if progress is not None:
                    progress(done, n)
            elif f.cmd in (link.ERR_CRC.value, link.ERR_BUSY.value):
                self._error_reply(f)
                del out[f.tag]
                pending.appendleft(job)
            elif f.cmd in _ERROR_CODES:
                self._error_reply(f)
                code_ = _ERROR_CODES[f.cmd]
                raise LinkError(f"the device rejected {code.name} request {job.index}: "
                                f"{code_.name} ({code_.doc})")
            else:
                self.stats.stray += 1
        return [r for r in replies if r is not None]

    def _request(self, code: link.Code, payload: bytes, reply_len: int) -> bytes:
        return self._pipeline(code, [payload], 1, lambda _i: reply_len)[0]

    def _stats_text(self) -> str:
        s = self.stats
        return (f"{s.resyncs} resyncs, {s.retries} retries, {s.crc_errors} CRC errors, "
                f"{s.timeouts} timeouts")

    # ------------------------------------------------------------------ commands
    def identify(self) -> link.Identity:
        """IDENTIFY, checked (magic, protocol version).

        Raises:
            PlanMismatchError: not an lwfc bridge, or another protocol version.
        """
        ident = link.Identity.unpack(self._request(link.IDENTIFY, b"", link.IDENTIFY_BYTES))
        if ident.magic != link.MAGIC:
            raise PlanMismatchError(f"{self.name}: IDENTIFY magic {ident.magic!r}, expected "
                                    f"{link.MAGIC!r}: not an lwfc bridge")
        if ident.version != link.VERSION:
            raise PlanMismatchError(f"{self.name}: the bridge speaks protocol version "
                                    f"{ident.version}, this driver {link.VERSION}: rebuild the "
                                    "bitstream or update the driver")
        return ident

    def flush(self) -> None:
        """Drop every image in flight on the device (parameters stay)."""
        self._frames.clear()
        self._resync(recovery=False)

    def plan_options(self) -> list[dict[str, Any]]:
        """The plain plan, then the options of every open-flow board target (``fusesoc.core``
        generator parameters, :func:`plan_options_of`), unless given."""
        if self._plan_options is not None:
            return [{}, *self._plan_options]
        return [{}, *board_plan_options()]

    def load_bundle(self, bundle: Bundle | str | os.PathLike, verify: str | None = None,
                    force: bool = False) -> dict[str, Any]:
        """Load ``bundle``'s parameters over the link, verify them, set the parameter hash.

        Args:
            bundle: a :class:`~lwfc.bundle.Bundle` or a bundle folder.
            verify: ``"scan"`` (VERIFY checksums of every memory, compared with the expected
                readback) or ``"none"``; default :attr:`verify`. (The link has no word
                readback.)
            force: load even when the device's parameter hash says it holds this bundle.

        Returns:
            ``{"memories", "words", "verify", "seconds", "bytes_sent", "bytes_received",
            "payload_bytes", "skipped"}`` (seconds of the device clock).

        Raises:
            PlanMismatchError, VerifyError, LinkError, DeviceTimeout, BundleError.
        """
        verify = check_verify_mode(self.verify if verify is None else verify,
                                   self.verify_modes)
        if not isinstance(bundle, Bundle):
            bundle = load_bundle(Path(bundle))
        plan = self.plan_for(bundle)
        want_hash = link.bundle_params_hash(bundle, plan)
        t0, s0, r0 = self._now(), self.stats.bytes_sent, self.stats.bytes_received
        self.flush()
        self.info = self.identify()
        words = bundle_words(bundle, plan)
        result = {"memories": len(plan.mems), "words": sum(m.depth for m in plan.mems),
                  "verify": verify, "params_hash": want_hash}
        if force or self.info.params_hash != want_hash:
            self._bundle = self._plan = None
            self._set_plan(plan)
            payloads = []
            payload_bytes = 0
            for m in plan.mems:
                for _addr, body in link.write_bursts(m.sel, words[m.sel], m.width,
                                                     self.info.max_burst):
                    payloads.append(body)
                    payload_bytes += len(body) - 3
            self._pipeline(link.WRITE, payloads, WRITE_WINDOW, lambda _i: 0)
            if verify == "scan":
                sums = self._pipeline(link.VERIFY, [bytes([m.sel]) for m in plan.mems], 1,
                                      lambda _i: 8)
                bad = [m.name for m, got in zip(plan.mems, sums, strict=True)
                       if tuple(np.frombuffer(got, dtype="<u4").tolist())
                       != expected_checksums(words[m.sel], m.width, m.signed)]
                if bad:
                    raise VerifyError(f"{len(bad)} of {len(plan.mems)} memories read back "
                                      f"wrong (VERIFY): {', '.join(bad[:8])}")
            self._request(link.SET_HASH, want_hash.to_bytes(4, "little"), 0)
            result.update(skipped=False, payload_bytes=payload_bytes)
        else:
            result.update(skipped=True, payload_bytes=0)
        self._bundle, self._plan = bundle, plan
        self._set_plan(plan)
        result.update(seconds=self._now() - t0, bytes_sent=self.stats.bytes_sent - s0,
                      bytes_received=self.stats.bytes_received - r0)
        return result

    def classify(self, images: Any, logits: bool = False,
                 progress: Callable[[int, int], None] | None = None, *,
                 sparse: bool | None = None) -> Any:
        """Classify uint8 images ``(N, n_in)`` or ``(N, H, W)``, pipelined.

        Args:
            logits: also return the int64 ``(N, classes)`` logits.
            sparse: True sparse-codes every image (but those whose code is longer than the
                bridge accepts), False sends raw pixels, None (default, :attr:`sparse`) picks
                per image whichever is shorter.
            progress: called as ``progress(done, n)`` after each result.

        Returns:
            int64 ``(N,)`` classes, or ``(classes, logits)``.

        Raises:
            InputError / InputTypeError, NotLoadedError, LinkError, DeviceTimeout.
        """
        self.require_loaded()
        x = check_images(images, self.info.n_in)
        sparse = self.sparse if sparse is None else sparse
        payloads = [self._image_payload(img.tobytes(), logits, sparse) for img in x]
        n = len(x)
        rlen = link.result_payload_bytes(self.info.classes, logits)
        t0, s0, r0 = self._now(), self.stats.bytes_sent, self.stats.bytes_received
        retries0 = self.stats.retries
        replies = self._pipeline(link.CLASSIFY, payloads, self.info.in_flight,
                                 lambda _i: rlen, progress)
        seconds = self._now() - t0
        classes = np.empty(n, dtype=np.int64)
        out = np.empty((n, self.info.classes), dtype=np.int64) if logits else None
        for i, r in enumerate(replies):
            cls, lg = link.decode_result(r, self.info.classes)
            classes[i] = cls
            if out is not None:
                out[i] = lg
        req = sum(len(p) + link.FRAME_OVERHEAD for p in payloads) / n
        lim = self.limits(req, logits, x)
        rate = n / seconds if seconds > 0 else float("inf")
        self.last = {
            "images": n,
            "seconds": seconds,
            "simulated": self.simulated,
            "images_per_s": rate,
            "request_bytes_per_image": req,
            "sparse_images": sum(p[0] & link.MODE_SPARSE != 0 for p in payloads),
            "wire_bytes_per_image": (self.stats.bytes_sent - s0) / n,
            "reply_bytes_per_image": (self.stats.bytes_received - r0) / n,
            "retries": self.stats.retries - retries0,
            "wire_limit_images_per_s": lim["wire"],
            "core_limit_images_per_s": lim.get("core"),
            "efficiency": rate / lim["bound"],
        }
        return (classes, out) if logits else classes

    def _image_payload(self, pixels: bytes, logits: bool, sparse: bool | None) -> bytes:
        """The CLASSIFY payload of one image; a forced sparse code longer than the bridge
        accepts (a dense image) falls back to raw pixels."""
        p = link.classify_payload(pixels, logits, sparse)
        if len(p) > self._max_request:
            p = link.classify_payload(pixels, logits, False)
        return p

    def throughput_test(self, images: int | None = None, seed: int = 0,
                        sparse: bool | None = None) -> dict[str, Any]:
        """Classify ``images`` random images (default ``4 * in_flight``) and report the rate
        from the device clock (simulated time on a simulated port) and the link's limits."""
        self.require_loaded()
        n = 4 * self.info.in_flight if images is None else int(images)
        if n < 1:
            raise InputError(f"images must be >= 1, got {n}")
        x = np.random.default_rng(seed).integers(0, 256, (n, self.info.n_in), dtype=np.uint8)
        self.classify(x, sparse=sparse)
        last = self.last
        return {
            "runtime[ms]": last["seconds"] * 1e3,
            "throughput[images/s]": last["images_per_s"],
            "images": n,
            "fclk[mhz]": self.info.clk_hz / 1e6,
            "baud": self.info.baud,
            "in_flight": self.info.in_flight,
            "wire_bytes_per_image": last["wire_bytes_per_image"],
            "wire_limit[images/s]": last["wire_limit_images_per_s"],
            "core_limit[images/s]": last["core_limit_images_per_s"],
            "efficiency": last["efficiency"],
            "simulated": self.simulated,
        }

    def link_stats(self) -> dict[str, Any]:
        """:attr:`stats` as a dict (plus the port's fault counts on a simulated wire)."""
        out = self.stats.as_dict()
        faults = getattr(self.port, "fault_counts", None)
        if faults is not None:
            out["faults_injected"] = dict(faults)
        return out

    def close(self) -> None:
        """Close the port (a simulated port also stops its simulator)."""
        port = getattr(self, "port", None)
        if port is not None:
            with contextlib.suppress(Exception):  # closing a port that already failed
                port.close()
            self.port = None


_ERROR_CODES = {c.value: c for c in link.ERRORS}


def board_plan_options() -> list[dict[str, Any]]:
    """``plan_for_bundle`` options of the open-flow board targets in ``fusesoc.core``
    (:func:`plan_options_of`), without duplicates; empty outside a checkout."""
    from .. import fpga
    from ..errors import LwfcError

    out: list[dict[str, Any]] = []
    try:
        names = [b.name for b in fpga.boards().values() if b.flow == "open"]
        for name in names:
            opts = plan_options_of(fpga.target_generator_params(name),
                                   fpga.get_board(name).family)
            if opts and opts not in out:
                out.append(opts)
    except (LwfcError, OSError, ValueError):
        pass
    return out


def plan_options_of(params: dict[str, Any], family: str = "") -> dict[str, Any]:
    """The ``plan_for_bundle`` keywords of a target's generator parameters on a board of
    FPGA ``family`` (:func:`lwfc_hw.plan.plan_kwargs`: lanes, dataflow, drain, memory and
    primitive options) but the beat width, which the hardware reports."""
    from lwfc_hw.plan import plan_kwargs

    opts = plan_kwargs(params, family)
    opts.pop("pixels_per_beat")
    return opts
