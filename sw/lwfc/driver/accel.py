"""``LwfcAccelerator``: the task-level PYNQ driver (the ``lwfc_axi`` IP + its AXI DMA).

A :class:`pynq.DefaultHierarchy` subclass: a block-design hierarchy holding one ``lwfc_axi``
IP and one AXI DMA (simple mode) becomes an ``LwfcAccelerator`` when the overlay is loaded
(``checkhierarchy``). The same class runs against the RTL through the simulation backend
(:mod:`lwfc.driver.sim`), which serves the same register reads/writes and buffers.

API in the style of finn-examples: :meth:`load_bundle` (weights over AXI4-Lite, verified),
:meth:`classify` / :meth:`execute` (uint8 images in, classes out, in DMA batches),
:attr:`batch_size` (re-allocates the buffers), :meth:`throughput_test`.
"""

from __future__ import annotations

import abc
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pynq import DefaultHierarchy, allocate

from lwfc_hw import regmap as R
from lwfc_hw.plan import CorePlan

from ..bundle import Bundle, load_bundle
from .base import (
    Accelerator,
    bundle_words,
    check_images,
    check_verify_mode,
    readback_words,
)
from .errors import (
    DeviceTimeout,
    DmaError,
    DriverError,
    InputError,
    VerifyError,
)
from .ip import HwInfo, LwfcIP, describe_status

#: VLNV prefix of the Xilinx AXI DMA.
DMA_VLNV = "xilinx.com:ip:axi_dma:"
#: Verification modes of :meth:`LwfcAccelerator.load_bundle`.
VERIFY_MODES = ("scan", "readback", "none")
#: Default images per DMA batch (bounded by the DMA's length register).
DEFAULT_BATCH = 500


def _vlnv_base(vlnv: str | None) -> str:
    return (vlnv or "").rpartition(":")[0]


def _find(description: dict[str, Any], predicate) -> str | None:
    for name, ip in description.get("ip", {}).items():
        if predicate(ip.get("type")):
            return name
    return None


def _is_lwfc(vlnv: str | None) -> bool:
    return _vlnv_base(vlnv) == _vlnv_base(R.VLNV)


def _is_dma(vlnv: str | None) -> bool:
    return (vlnv or "").startswith(DMA_VLNV)


class _HierarchyABCMeta(type(DefaultHierarchy), abc.ABCMeta):
    """PYNQ's hierarchy-registering metaclass combined with the interface's ABCMeta."""


class LwfcAccelerator(DefaultHierarchy, Accelerator, metaclass=_HierarchyABCMeta):
    """One ``lwfc_axi`` IP and the AXI DMA that feeds it.

    Attributes:
        ip: the :class:`~lwfc.driver.ip.LwfcIP`.
        dma: the ``pynq.lib.dma.DMA``.
        info: :class:`~lwfc.driver.ip.HwInfo` read from the IP.
        timeout: seconds any single wait may take (a DMA transfer, a status bit); raise it for
            slow simulations.
        fclk_mhz: the IP's clock (FCLK0), for throughput figures.
        verify: default verification of :meth:`load_bundle` (``"scan"``).
    """

    verify_modes = VERIFY_MODES

    def __init__(self, description: dict[str, Any]) -> None:
        super().__init__(description)
        ip_name = _find(description, _is_lwfc)
        dma_name = _find(description, _is_dma)
        if ip_name is None or dma_name is None:
            raise DriverError("the hierarchy needs one lwfc IP and one AXI DMA")
        self.ip: LwfcIP = getattr(self, ip_name)
        if not isinstance(self.ip, LwfcIP):  # an IP of another version: bind explicitly
            self.ip = LwfcIP(description["ip"][ip_name])
        self.dma = getattr(self, dma_name)
        if self.dma.sendchannel is None or self.dma.recvchannel is None:
            raise DriverError("the AXI DMA needs both the MM2S and the S2MM channel")
        # a slow device (the simulation backend) states how long its waits may take
        self.timeout = float(getattr(self.device, "default_timeout", 10.0))
        self.fclk_mhz = _fclk_mhz()
        self.verify = "scan"
        self.info: HwInfo = self.ip.identify()
        self._bundle: Bundle | None = None
        self._plan: CorePlan | None = None
        self._batch_size = self.max_batch_size(logits=True)
        self._batch_size = min(self._batch_size, DEFAULT_BATCH)
        self._ibuf: Any = None
        self._obuf: Any = None
        self.last_cycles = 0
        self.last: dict[str, Any] = {}
        self.last_batch_cycles: list[int] = []
        # a clean state whatever the previous user left behind
        self.reset()

    @staticmethod
    def checkhierarchy(description: dict[str, Any]) -> bool:
        """A hierarchy with an lwfc IP (any version) and an AXI DMA."""
        return (_find(description, _is_lwfc) is not None
                and _find(description, _is_dma) is not None)

    # ------------------------------------------------------------------ shapes and batches
    @property
    def image_bytes(self) -> int:
        """Bytes one image occupies on the input stream (padded to whole beats)."""
        return self.info.image_bytes

    def result_words(self, logits: bool) -> int:
        """Result words per image: 1 (class) or ``1 + classes``."""
        return 1 + self.info.classes if logits else 1

    def max_batch_size(self, logits: bool = True) -> int:
        """The most images one DMA transfer pair can carry (the DMA's length register)."""
        limit = int(self.dma.buffer_max_size)
        return max(1, min(limit // self.image_bytes, limit // (4 * self.result_words(logits))))

    @property
    def batch_size(self) -> int:
        """Images per DMA batch; setting it re-allocates the DMA buffers."""
        return self._batch_size

    @batch_size.setter
    def batch_size(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise InputError(f"batch_size must be an integer, got {value!r}")
        top = self.max_batch_size(logits=True)
        if not 1 <= value <= top:
            raise InputError(f"batch_size must be 1 ... {top} (the DMA's transfer length), "
                             f"got {value}")
        if value != self._batch_size:
            self._free_buffers()
        self._batch_size = int(value)

    def ishape_normal(self) -> tuple[int, int]:
        """Input shape of one batch: ``(batch_size, n_in)``."""
        return (self._batch_size, self.info.n_in)

    def oshape_normal(self) -> tuple[int]:
        """Output shape of one batch: ``(batch_size,)`` classes."""
        return (self._batch_size,)

    def _buffers(self) -> tuple[Any, Any]:
        if self._ibuf is None:
            self._ibuf = allocate((self._batch_size, self.image_bytes), dtype=np.uint8,
                                  target=self.device)
            self._ibuf[:] = 0
            self._obuf = allocate((self._batch_size * self.result_words(True),),
                                  dtype=np.uint32, target=self.device)
        return self._ibuf, self._obuf

    def _free_buffers(self) -> None:
        for buf in (self._ibuf, self._obuf):
            if buf is not None:
                buf.freebuffer()
        self._ibuf = self._obuf = None

    # ------------------------------------------------------------------ weights
    def load_bundle(self, bundle: Bundle | str | os.PathLike, verify: str | None = None,
                    force: bool = False) -> dict[str, Any]:
        """Write every weight, bias and requantization memory of ``bundle`` through the IP's
        AXI4-Lite window and verify it (always: the IP keeps no parameter hash, so ``force``
        changes nothing).

        Args:
            bundle: a :class:`~lwfc.bundle.Bundle` or a bundle folder.
            verify: ``"scan"`` (the IP checksums each memory through its readback port and
                the driver compares: two register reads per memory), ``"readback"`` (every word
                read back over AXI4-Lite) or ``"none"``; default :attr:`verify`.

        Returns:
            ``{"memories", "words", "verify", "seconds"}``.

        Raises:
            PlanMismatchError, VerifyError, StatusError, DeviceTimeout, BundleError.
        """
        verify = self.verify if verify is None else verify
        check_verify_mode(verify, VERIFY_MODES)
        if not isinstance(bundle, Bundle):
            bundle = load_bundle(Path(bundle))
        plan = self.plan_for(bundle)
        t0 = time.perf_counter()
        self._bundle = self._plan = None
        self.ip.wait_status("IDLE", True, self.timeout)
        words = bundle_words(bundle, plan)  # the one banking layout, per memory
        for m in plan.mems:
            self.ip.write_memory(m.sel, words[m.sel])
        self.ip.check_errors("writing the weights")
        if verify != "none":
            bad = []
            for m in plan.mems:
                expect = readback_words(words[m.sel], m.width, m.signed)
                if verify == "scan":
                    ok = self.ip.scan(m.sel, self.timeout) == R.scan_checksums(expect)
                else:
                    ok = bool((self.ip.read_memory(m.sel, m.depth) == expect).all())
                if not ok:
                    bad.append(m.name)
            self.ip.check_errors("verifying the weights")
            if bad:
                raise VerifyError(f"{len(bad)} of {len(plan.mems)} memories read back wrong "
                                  f"({verify}): {', '.join(bad[:8])}")
        self._bundle, self._plan = bundle, plan
        return {"memories": len(plan.mems), "words": sum(m.depth for m in plan.mems),
                "verify": verify, "seconds": time.perf_counter() - t0}

    # ------------------------------------------------------------------ inference
    def classify(self, images: Any, logits: bool = False,
                 progress: Callable[[int, int], None] | None = None) -> Any:
        """Classify uint8 images ``(N, n_in)`` or ``(N, H, W)``; ``progress(done, n)`` is
        called after each DMA batch. :attr:`last` gets the run's figures.

        Returns:
            int64 ``(N,)`` classes; with ``logits`` also the int64 ``(N, classes)`` logits
            (``(classes, logits)``).

        Raises:
            InputError / InputTypeError: bad images. NotLoadedError: no bundle loaded.
            DmaError, StatusError, DeviceTimeout: the hardware failed (the DMA and the IP are
            reset before the exception propagates, so the next call starts clean).
        """
        self.require_loaded()
        x = check_images(images, self.info.n_in)
        n = len(x)
        per = self.result_words(logits)
        out = np.empty((n, per), dtype=np.uint32)
        self.last_batch_cycles = []
        t0 = time.perf_counter()
        for start in range(0, n, self._batch_size):
            stop = min(n, start + self._batch_size)
            out[start:stop] = self._run_batch(x[start:stop], logits)
            if progress is not None:
                progress(stop, n)
        seconds = time.perf_counter() - t0
        self.last_cycles = cycles = sum(self.last_batch_cycles)
        fclk = self.fclk_mhz
        self.last = {"images": n, "seconds": seconds, "images_per_s": n / seconds,
                     "lanes": self.info.lanes, "batch_size": self._batch_size,
                     "hw_cycles": int(cycles), "hw_cycles_per_image": round(cycles / n, 1),
                     "fclk_mhz": fclk,
                     "hw_images_per_s": round(n / (cycles / (fclk * 1e6)), 1) if cycles
                     else None}
        classes = out[:, 0].astype(np.int64)
        if logits:
            return classes, out[:, 1:].view(np.int32).astype(np.int64)
        return classes

    def _run_batch(self, x: np.ndarray, logits: bool) -> np.ndarray:
        n = len(x)
        per = self.result_words(logits)
        ibuf, obuf = self._buffers()
        ibuf[:n, : self.info.n_in] = x
        st = self.ip.status
        if not st & R.STATUS.bit("IDLE"):
            self.reset()
        self.ip.start(n, logits)
        self.dma.recvchannel.transfer(obuf, nbytes=4 * n * per)
        self.dma.sendchannel.transfer(ibuf, nbytes=self.image_bytes * n)
        self._wait(self.dma.sendchannel, "MM2S (images)")
        self._wait(self.dma.recvchannel, "S2MM (results)")
        got = int(self.dma.recvchannel.transferred)
        if got != 4 * n * per:
            self.reset()
            raise DmaError(f"the DMA received {got} bytes of results, expected {4 * n * per} "
                           f"({n} images x {per} words)")
        try:
            self.ip.wait_status("DONE", True, self.timeout)
        except DeviceTimeout:
            self.reset()
            raise
        self.ip.check_errors(f"a batch of {n} images")
        n_in, n_out, cycles = self.ip.counters()
        if n_in != n or n_out != n:
            self.reset()
            raise DriverError(f"the IP counted {n_in} images in and {n_out} out for a batch "
                              f"of {n}")
        self.last_batch_cycles.append(cycles)
        return np.array(obuf[: n * per], dtype=np.uint32).reshape(n, per)

    def _wait(self, channel: Any, what: str) -> None:
        """Wait for a DMA channel with :attr:`timeout`, watching DMA and IP errors."""
        deadline = time.monotonic() + self.timeout
        while True:
            if channel.error:
                sr = self.dma.mmio.read(channel._offset + 4)
                self.reset()
                raise DmaError(f"DMA {what} error: DMASR 0x{sr:08x} ({_dmasr_text(sr)}); the "
                               "DMA and the IP were reset")
            if channel.idle:
                channel.wait()
                return
            bits = self.ip.errors
            if bits & (R.ERROR.bit("IMG_SHORT") | R.ERROR.bit("IMG_LONG")):
                self.reset()
                raise DmaError(f"DMA {what}: the image stream is malformed "
                               f"(ERROR 0x{bits:x}); the DMA and the IP were reset")
            if time.monotonic() > deadline:
                st = self.ip.status
                n_in, n_out, _ = self.ip.counters()
                self.reset()
                raise DeviceTimeout(
                    f"DMA {what} did not finish within {self.timeout:g} s (IP STATUS "
                    f"{describe_status(st)}, IMAGES_IN {n_in}, IMAGES_OUT {n_out}); the DMA and "
                    "the IP were reset")

    def reset(self) -> None:
        """Reset the DMA (both channels) and soft-reset the IP: in-flight images and results
        are dropped, weights stay loaded."""
        mmio = self.dma.mmio
        mmio.write(0x00, 0x4)  # MM2S_DMACR.Reset resets both channels
        deadline = time.monotonic() + self.timeout
        while mmio.read(0x00) & 0x4 or mmio.read(0x30) & 0x4:
            if time.monotonic() > deadline:
                raise DeviceTimeout("the AXI DMA did not leave reset")
        self.ip.soft_reset(self.timeout)
        for channel in (self.dma.sendchannel, self.dma.recvchannel):
            # PYNQ's channel.start() spins without a timeout: set RS and wait here first
            mmio.write(channel._offset, 0x1)
            while not channel.running:
                if time.monotonic() > deadline:
                    raise DeviceTimeout("the AXI DMA channels did not start after the reset")
            channel.start()  # returns at once now; re-arms the channel's first transfer
        self.ip.clear_errors()

    # ------------------------------------------------------------------ measurements
    def throughput_test(self, images: int | None = None, seed: int = 0) -> dict[str, Any]:
        """Classify ``images`` random images (default one batch) and time it, like
        finn-examples' ``throughput_test``.

        Returns:
            ``runtime[ms]``, ``throughput[images/s]`` (host wall time, DMA included),
            ``DRAM_in_bandwidth[MB/s]``, ``DRAM_out_bandwidth[MB/s]``, ``fclk[mhz]``,
            ``batch_size``, ``images``, ``hw_cycles`` (IP busy cycles) and
            ``hw_throughput[images/s]`` (images / (hw_cycles / fclk)).
        """
        self.require_loaded()
        n = self._batch_size if images is None else int(images)
        if n < 1:
            raise InputError(f"images must be >= 1, got {n}")
        x = np.random.default_rng(seed).integers(0, 256, (n, self.info.n_in), dtype=np.uint8)
        t0 = time.perf_counter()
        self.classify(x)
        runtime = time.perf_counter() - t0
        cycles = self.last_cycles
        hw = n / (cycles / (self.fclk_mhz * 1e6)) if cycles else float("nan")
        return {
            "runtime[ms]": runtime * 1e3,
            "throughput[images/s]": n / runtime,
            "DRAM_in_bandwidth[MB/s]": n * self.image_bytes / runtime / 1e6,
            "DRAM_out_bandwidth[MB/s]": n * 4 / runtime / 1e6,
            "fclk[mhz]": self.fclk_mhz,
            "batch_size": self._batch_size,
            "images": n,
            "hw_cycles": cycles,
            "hw_throughput[images/s]": hw,
        }

    def close(self) -> None:
        """Free the DMA buffers; with the simulation backend also stop the simulator."""
        self._free_buffers()
        stop = getattr(self.device, "stop_simulation", None)
        if stop is not None:
            stop()


def _dmasr_text(sr: int) -> str:
    names = {0x10: "internal error: transfer length 0, or a stream longer than the buffer",
             0x20: "slave error: memory access failed", 0x40: "decode error: invalid address"}
    found = [text for bit, text in names.items() if sr & bit]
    return "; ".join(found) if found else "halted"


def _fclk_mhz() -> float:
    """FCLK0 of the PS on a board, else the overlay's nominal 100 MHz."""
    try:
        from pynq.ps import CPU_ARCH_IS_SUPPORTED, Clocks

        if CPU_ARCH_IS_SUPPORTED:
            return float(Clocks.fclk0_mhz)
    except Exception:  # pragma: no cover - depends on the platform
        pass
    return 100.0
