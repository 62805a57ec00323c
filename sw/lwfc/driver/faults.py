"""Fault injection on a simulated serial wire (an option of the simulation transports).

A :class:`FaultInjector` sits between the driver's pyserial port and the simulated device
(the Verilator harness, :mod:`lwfc.driver.protocol_lwfcsim`, or a test double) and damages
the byte streams at the rates of a :class:`FaultConfig`; it counts every fault it injects, so
a test can check that the link recovered from each of them.

Host -> device (per byte written): a bit flip (``flip``), the byte dropped (``drop``), a
garbage byte inserted before it (``garbage``); per ``write`` call (one frame): the frame cut
short at a random point (``truncate``), the bridge reset (its ``rst`` pin) before the frame
goes out (``reset``). Device -> host (per byte read): a bit flip (``rx_flip``), the byte
dropped (``rx_drop``).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, fields
from typing import Any
from urllib.parse import parse_qs

from .errors import InputError

#: Names of the injected fault kinds, in report order.
KINDS = ("flip", "drop", "garbage", "truncate", "reset", "rx_flip", "rx_drop")


@dataclass(frozen=True)
class FaultConfig:
    """Fault probabilities (per byte, or per frame for ``truncate`` / ``reset``), each in
    [0, 1), and the seed of the random generator."""

    flip: float = 0.0
    drop: float = 0.0
    garbage: float = 0.0
    truncate: float = 0.0
    reset: float = 0.0
    rx_flip: float = 0.0
    rx_drop: float = 0.0
    seed: int = 1

    def __post_init__(self) -> None:
        for k in KINDS:
            v = getattr(self, k)
            if not 0.0 <= v < 1.0:
                raise InputError(f"fault rate {k}={v} must be in [0, 1)")

    @property
    def active(self) -> bool:
        """True when any rate is nonzero."""
        return any(getattr(self, k) for k in KINDS)

    @classmethod
    def parse(cls, text: str | dict[str, Any] | None) -> FaultConfig:
        """From ``"flip=1e-4,drop=1e-5,seed=3"`` (commas or ``&``), a dict, or None.

        Raises:
            InputError: an unknown name or a value that is not a number in [0, 1).
        """
        if text is None or text == "":
            return cls()
        if isinstance(text, dict):
            items = dict(text)
        else:
            items = {}
            for part in str(text).replace("&", ",").split(","):
                if not part.strip():
                    continue
                name, sep, value = part.partition("=")
                if not sep:
                    raise InputError(f"fault option {part!r} is not NAME=RATE")
                items[name.strip()] = value.strip()
        known = {f.name for f in fields(cls)}
        bad = sorted(set(items) - known)
        if bad:
            raise InputError(f"unknown fault option(s) {', '.join(bad)} (known: "
                             f"{', '.join(sorted(known))})")
        out: dict[str, Any] = {}
        for k, v in items.items():
            try:
                out[k] = int(v) if k == "seed" else float(v)
            except (TypeError, ValueError):
                raise InputError(f"fault option {k}={v!r} is not a number") from None
        return cls(**out)

    @classmethod
    def from_query(cls, query: str) -> FaultConfig:
        """From a URL query (``flip=1e-4&seed=2``); other keys are ignored."""
        q = {k: v[-1] for k, v in parse_qs(query).items() if k in {f.name for f in fields(cls)}}
        return cls.parse(q)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaultInjector:
    """Damages byte streams per a :class:`FaultConfig`; ``counts`` holds how many faults of
    each kind (:data:`KINDS`) it injected."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self.config = config or FaultConfig()
        self.rng = random.Random(self.config.seed)
        self.counts = dict.fromkeys(KINDS, 0)

    @property
    def total(self) -> int:
        """Faults injected so far."""
        return sum(self.counts.values())

    def on_write(self, data: bytes) -> tuple[bytes, bool]:
        """``(bytes that reach the device, reset the device before them)`` for one write."""
        c, rng = self.config, self.rng
        if not c.active:
            return data, False
        reset = c.reset > 0 and rng.random() < c.reset
        if reset:
            self.counts["reset"] += 1
        if c.truncate > 0 and len(data) > 1 and rng.random() < c.truncate:
            data = data[: rng.randrange(1, len(data))]
            self.counts["truncate"] += 1
        out = bytearray()
        for b in data:
            if c.garbage and rng.random() < c.garbage:
                out.append(rng.randrange(256))
                self.counts["garbage"] += 1
            if c.drop and rng.random() < c.drop:
                self.counts["drop"] += 1
                continue
            if c.flip and rng.random() < c.flip:
                b ^= 1 << rng.randrange(8)
                self.counts["flip"] += 1
            out.append(b)
        return bytes(out), reset

    def on_read(self, data: bytes) -> bytes:
        """The bytes the host sees of ``data`` sent by the device."""
        c, rng = self.config, self.rng
        if not (c.rx_flip or c.rx_drop):
            return data
        out = bytearray()
        for b in data:
            if c.rx_drop and rng.random() < c.rx_drop:
                self.counts["rx_drop"] += 1
                continue
            if c.rx_flip and rng.random() < c.rx_flip:
                b ^= 1 << rng.randrange(8)
                self.counts["rx_flip"] += 1
            out.append(b)
        return bytes(out)
