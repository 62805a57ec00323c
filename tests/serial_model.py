"""A TEST DOUBLE of the lwfc serial bridge: link.py's protocol on top of lwfc.golden.forward.

Not the hardware: it lets the driver's logic (pipelining, sparse/raw, recovery, statistics)
be tested fast and with many injected faults. The RTL itself is tested through the same
driver in Verilator (tests/test_serial_sim.py).

Time is virtual (seconds) and advances only inside ``read`` (lock step, like the Verilator
harness): host bytes arrive one 8N1 byte time apart, back to back; a complete request is
handled when its last byte has arrived; the core takes ``core_s`` per image, FIFO order;
replies leave one byte time apart, in the order they became ready. The bridge rules modelled
(from link.py's docstrings): hunt for SYNC, HCRC (bad: the hunt resumes after that SYNC),
LEN above the bridge's maximum -> ERR_LENGTH, CRC (bad: ERR_CRC, nothing applied), WRITE /
VERIFY only when no image is in flight (else ERR_BUSY), more than IN_FLIGHT images ->
ERR_BUSY, FLUSH drops the images in flight after the replies already queued, a reset drops
everything but the memories and the parameter hash. The results are the golden model's
when the memories hold the bundle's words, else a deterministic wrong answer (so a load that
did not happen shows).
"""

from __future__ import annotations

import collections
import heapq
import itertools
import struct
from typing import Any

import numpy as np

from lwfc import golden
from lwfc.driver.base import bundle_words, expected_checksums
from lwfc.driver.faults import FaultConfig, FaultInjector
from lwfc_hw import link
from lwfc_hw import regmap as R


class DeviceModel:
    """The simulated bridge + core, used as a pyserial-like port by the driver."""

    simulated = True

    def __init__(self, bundle: Any, plan: Any, *, in_flight: int = 4, max_burst: int = 64,
                 clk_hz: int = 100_000_000, baud: int = 3_000_000, core_s: float = 60e-6,
                 loaded: bool = False, faults: FaultConfig | None = None) -> None:
        self.bundle, self.plan = bundle, plan
        self.in_flight, self.max_burst = in_flight, max_burst
        self.clk_hz, self.baud, self.core_s = clk_hz, baud, core_s
        self.bt = 10 / baud
        self.expected = bundle_words(bundle, plan)
        self.mems = {m.sel: (self.expected[m.sel].copy() if loaded
                             else np.zeros(m.depth, dtype=np.uint32)) for m in plan.mems}
        self.boot_hash = link.bundle_params_hash(bundle, plan) if loaded else 0
        self.params_hash = self.boot_hash
        self.max_len = link.max_request_payload(plan.n_in, max_burst)
        self.faults = FaultInjector(faults)
        self.timeout: float | None = 1.0
        self.now = 0.0
        self.name = "model://"
        self._seq = itertools.count()
        self._rx: collections.deque[tuple[float, int]] = collections.deque()
        self._rx_tail = 0.0
        self._buf = bytearray()  # bytes received by the bridge, not yet parsed
        self._heap: list[tuple[float, int, bytes, int]] = []  # (ready, seq, frame, image id)
        self._tx: collections.deque[tuple[float, int]] = collections.deque()
        self._tx_free = 0.0
        self._host = bytearray()
        self._core_free = 0.0
        self._images: dict[int, float] = {}  # image id -> time its reply is fully sent
        self._cancelled: set[int] = set()
        self._ids = itertools.count()
        self.handled = collections.Counter()
        self.resets = 0
        self.closed = False

    # ------------------------------------------------------------------ pyserial-like
    def sim_seconds(self) -> float:
        return self.now

    @property
    def fault_counts(self) -> dict[str, int]:
        return dict(self.faults.counts)

    @property
    def in_waiting(self) -> int:
        return len(self._host)

    def write(self, data: bytes) -> int:
        data, reset = self.faults.on_write(bytes(data))
        self._advance(self.now)
        if reset:
            self._reset()
        t = max(self.now, self._rx_tail)
        for b in data:
            t += self.bt
            self._rx.append((t, b))
        self._rx_tail = t
        return len(data)

    def read(self, size: int = 1) -> bytes:
        deadline = self.now + (self.timeout if self.timeout is not None else 1e9)
        while len(self._host) < size:
            t = self._next_time()
            if t > deadline:
                self.now = deadline
                break
            self._advance(t)
        out = bytes(self._host[:size])
        del self._host[:size]
        return out

    def close(self) -> None:
        self.closed = True

    # ------------------------------------------------------------------ events
    def _next_time(self) -> float:
        times = [float("inf")]
        if self._tx:
            times.append(self._tx[0][0])
        if self._rx:
            times.append(self._rx[0][0])
        if self._heap:
            times.append(max(self._tx_free, self._heap[0][0]))
        return max(self.now, min(times))

    def _advance(self, t: float) -> None:
        while True:
            ti = self._rx[0][0] if self._rx else float("inf")
            ts = max(self._tx_free, self._heap[0][0]) if self._heap else float("inf")
            if min(ti, ts) > t:
                break
            if ti <= ts:
                when, b = self._rx.popleft()
                self._buf.append(b)
                self._parse(when)
            else:
                _ready, _seq, frame, img = heapq.heappop(self._heap)
                if img in self._cancelled:
                    continue
                for k, b in enumerate(frame):
                    self._tx.append((ts + (k + 1) * self.bt, b))
                self._tx_free = ts + len(frame) * self.bt
                if img >= 0:
                    self._images[img] = self._tx_free
        while self._tx and self._tx[0][0] <= t:
            self._host += self.faults.on_read(bytes([self._tx.popleft()[1]]))
        self.now = max(self.now, t)

    def _reply(self, ready: float, cmd: int, tag: int, payload: bytes = b"",
               img: int = -1) -> None:
        heapq.heappush(self._heap, (ready, next(self._seq), link.encode(cmd, tag, payload), img))

    def _reset(self) -> None:
        """The bridge's rst pin: everything but the memories is lost."""
        self.resets += 1
        self._rx.clear()
        self._buf.clear()
        self._heap.clear()
        self._tx.clear()
        self._tx_free = self._core_free = self.now
        self._images.clear()  # the parameter hash, like the memories, survives a reset

    def _busy(self, t: float) -> int:
        """Images accepted whose reply has not left yet at ``t``."""
        return sum(1 for img, end in self._images.items()
                   if img not in self._cancelled and end > t)

    # ------------------------------------------------------------------ the bridge
    def _parse(self, t: float) -> None:
        b = self._buf
        while True:
            i = b.find(link.SYNC)
            if i < 0:
                b.clear()
                return
            del b[:i]
            if len(b) < link.HEADER_BYTES:
                return
            if link.crc8(b[1:5]) != b[5]:
                del b[:1]
                continue
            cmd, tag, length = b[1], b[2], b[3] | b[4] << 8
            if length > self.max_len:
                self._reply(t, link.ERR_LENGTH.value, tag, bytes([cmd]))
                del b[:link.HEADER_BYTES]
                continue
            total = link.HEADER_BYTES + length + link.TRAILER_BYTES
            if len(b) < total:
                return
            frame = bytes(b[:total])
            del b[:total]
            if link.crc16(frame[1:-2]) != struct.unpack("<H", frame[-2:])[0]:
                self._reply(t, link.ERR_CRC.value, tag, bytes([cmd]))
                self.handled["bad_crc"] += 1
                continue
            self._handle(t, cmd, tag, frame[link.HEADER_BYTES:-2])

    def _handle(self, t: float, cmd: int, tag: int, p: bytes) -> None:
        ok = cmd | link.REPLY_BIT

        def err(code: link.Code) -> None:
            self.handled[code.name] += 1
            self._reply(t, code.value, tag, bytes([cmd]))

        if cmd == link.IDENTIFY.value:
            ident = link.Identity(link.MAGIC, link.VERSION, self.plan.n_in, self.plan.classes,
                                  self.plan.pixels_per_beat, self.plan.lanes,
                                  len(self.plan.mems), self.in_flight, self.max_burst,
                                  R.plan_signature(self.plan), self.params_hash, self.clk_hz,
                                  self.baud)
            self._reply(t, ok, tag, ident.pack())
        elif cmd in (link.WRITE.value, link.VERIFY.value):
            if self._busy(t):
                return err(link.ERR_BUSY)
            if not p or p[0] >= len(self.plan.mems):
                return err(link.ERR_RANGE if p else link.ERR_LENGTH)
            m = self.plan.mems[p[0]]
            if cmd == link.VERIFY.value:
                if len(p) != 1:
                    return err(link.ERR_LENGTH)
                s = expected_checksums(self.mems[m.sel], m.width, m.signed)
                return self._reply(t + m.depth * 4 / self.clk_hz, ok, tag,
                                   struct.pack("<II", *s))
            nb = link.entry_bytes(m.width)
            body = p[3:]
            count = len(body) // nb
            if len(p) < 3 or len(body) % nb or not 1 <= count <= self.max_burst:
                return err(link.ERR_LENGTH)
            addr = p[1] | p[2] << 8
            if addr + count > m.depth:
                return err(link.ERR_RANGE)
            for k in range(count):
                self.mems[m.sel][addr + k] = int.from_bytes(body[k * nb : (k + 1) * nb],
                                                            "little")
            self.params_hash = 0
            self.handled["WRITE"] += 1
            self._reply(t, ok, tag)
        elif cmd == link.CLASSIFY.value:
            if not p:
                return err(link.ERR_LENGTH)
            mode = p[0]
            try:
                px = (link.sparse_decode(p[1:], self.plan.n_in) if mode & link.MODE_SPARSE
                      else p[1:])
            except ValueError:
                return err(link.ERR_LENGTH)
            if len(px) != self.plan.n_in:
                return err(link.ERR_LENGTH)
            if self._busy(t) >= self.in_flight:
                return err(link.ERR_BUSY)
            img = next(self._ids)
            self._images[img] = float("inf")
            done = max(t, self._core_free) + self.core_s
            self._core_free = done
            self._reply(done, ok, tag, self._result(px, bool(mode & link.MODE_LOGITS)), img)
            self.handled["CLASSIFY"] += 1
        elif cmd == link.SET_HASH.value:
            if len(p) != 4:
                return err(link.ERR_LENGTH)
            self.params_hash = int.from_bytes(p, "little")
            self._reply(t, ok, tag)
        elif cmd == link.FLUSH.value:
            for img, end in self._images.items():
                if end == float("inf"):
                    self._cancelled.add(img)
            # results already out of the core stay queued and go first
            for ready, _s, _f, img in self._heap:
                if img >= 0 and ready <= t:
                    self._cancelled.discard(img)
            self._core_free = t
            self._reply(t, ok, tag)
            self.handled["FLUSH"] += 1
        else:
            err(link.ERR_COMMAND)

    def _result(self, px: bytes, logits: bool) -> bytes:
        x = np.frombuffer(px, dtype=np.uint8)[None]
        if all(np.array_equal(self.mems[m.sel], self.expected[m.sel]) for m in self.plan.mems):
            lg = golden.forward(self.bundle, x)[0]
        else:  # wrong parameters: a wrong (but deterministic) answer
            lg = np.full(self.plan.classes, int(x.sum()) % 7, dtype=np.int64)
            lg[0] = -1
        cls = int(np.argmax(lg))
        out = bytes([cls])
        if logits:
            out += np.asarray(lg, dtype="<i4").tobytes()
        return out
