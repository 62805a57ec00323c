"""The serial driver (lwfc.driver.serial) against a TEST DOUBLE of the bridge
(tests/serial_model.py: link.py's protocol on lwfc.golden.forward), with fault injection.

The RTL behind the same driver is tested in tests/test_serial_sim.py.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import random_bundle
from lwfc import golden
from lwfc.driver import Accelerator
from lwfc.driver.errors import (
    DeviceTimeout,
    InputError,
    InputTypeError,
    LinkError,
    NotLoadedError,
    PlanMismatchError,
    PortError,
    VerifyError,
)
from lwfc.driver.faults import KINDS, FaultConfig, FaultInjector
from lwfc.driver.serial import SerialAccelerator
from lwfc_hw import link
from lwfc_hw.plan import plan_for_bundle
from serial_model import DeviceModel


@pytest.fixture(scope="module")
def bundle():
    return random_bundle(3, sizes=(784, 16, 10))


@pytest.fixture(scope="module")
def plan(bundle):
    return plan_for_bundle(bundle, 8)


def sparse_images(n: int, seed: int = 0, density: float = 0.2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 256, (n, 784), dtype=np.uint8)
    x[rng.random((n, 784)) > density] = 0
    return x


def open_loaded(bundle, plan, **kw) -> tuple[SerialAccelerator, DeviceModel]:
    dev = DeviceModel(bundle, plan, **kw)
    acc = SerialAccelerator(dev)
    acc.load_bundle(bundle)
    return acc, dev


def test_serial_driver_is_an_accelerator_and_needs_no_pynq() -> None:
    assert issubclass(SerialAccelerator, Accelerator)
    code = ("import sys; from lwfc.driver.serial import SerialAccelerator; "
            "from lwfc.driver import Accelerator, check_images; "
            "sys.exit(1 if 'pynq' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0


def test_classify_matches_golden_classes_and_logits(bundle, plan) -> None:
    acc, dev = open_loaded(bundle, plan)
    x = sparse_images(40)
    ref = golden.forward(bundle, x)
    with acc:
        cls = acc.classify(x)
        assert np.array_equal(cls, ref.argmax(1))
        cls2, lg = acc.classify(x.reshape(40, 28, 28), logits=True)
        assert np.array_equal(cls2, ref.argmax(1)) and np.array_equal(lg, ref)
        assert lg.dtype == np.int64 and lg.shape == (40, 10)
        last = acc.last
        assert last["images"] == 40 and last["retries"] == 0
        assert last["sparse_images"] == 40  # 20 % nonzero: the sparse code is shorter
        assert last["wire_bytes_per_image"] < link.FRAME_OVERHEAD + 1 + 784
    assert dev.closed
    assert dev.handled["CLASSIFY"] == 80


def test_sparse_raw_and_auto_coding(bundle, plan) -> None:
    acc, _ = open_loaded(bundle, plan)
    dense = np.random.default_rng(1).integers(1, 256, (6, 784), dtype=np.uint8)
    x = np.concatenate([sparse_images(6, 2, 0.1), dense])
    ref = golden.forward(bundle, x).argmax(1)
    for sparse, n_sparse in ((None, 6), (True, 6), (False, 0)):
        assert np.array_equal(acc.classify(x, sparse=sparse), ref)
        assert acc.last["sparse_images"] == n_sparse
    # raw is the per-image fallback: auto never sends more than raw
    acc.classify(dense)
    assert acc.last["request_bytes_per_image"] == link.FRAME_OVERHEAD + 1 + 784


def test_pipeline_keeps_in_flight_images_and_reaches_the_wire_limit(bundle, plan) -> None:
    acc, dev = open_loaded(bundle, plan, in_flight=3, core_s=20e-6)
    acc.classify(sparse_images(60, 4))
    # the model never answered ERR_BUSY: the host kept at most in_flight images unanswered
    assert dev.handled["ERR_BUSY"] == 0
    assert acc.last["efficiency"] > 0.95, acc.last
    # a core slower than the wire: the core bound
    acc2, _ = open_loaded(bundle, plan, in_flight=3, core_s=2e-3)
    acc2.classify(sparse_images(20, 5))
    assert 1 / acc2.last["images_per_s"] == pytest.approx(2e-3, rel=0.1)


def test_load_skip_force_and_hash(bundle, plan) -> None:
    dev = DeviceModel(bundle, plan)
    acc = SerialAccelerator(dev)
    assert acc.info.params_hash == 0
    first = acc.load_bundle(bundle)
    want = link.bundle_params_hash(bundle, plan)
    assert not first["skipped"] and dev.params_hash == want
    assert first["bytes_sent"] <= 1.1 * first["payload_bytes"] + 2000
    assert dev.handled["WRITE"] == sum(-(-m.depth // 64) for m in plan.mems)
    again = acc.load_bundle(bundle)
    assert again["skipped"] and again["bytes_sent"] < 100
    forced = acc.load_bundle(bundle, force=True)
    assert not forced["skipped"]
    assert dev.handled["WRITE"] == 2 * sum(-(-m.depth // 64) for m in plan.mems)
    assert acc.load_bundle(bundle, verify="none")["skipped"]
    # a device that boots with the bundle built in: nothing to load
    booted = SerialAccelerator(DeviceModel(bundle, plan, loaded=True))
    assert booted.load_bundle(bundle)["skipped"]


def test_verify_catches_a_memory_that_reads_back_wrong(bundle, plan) -> None:
    dev = DeviceModel(bundle, plan)
    acc = SerialAccelerator(dev)
    real = dev._handle

    def stuck_bit(t, cmd, tag, p):  # memory 0 drops bit 0 of every entry it is written
        real(t, cmd, tag, p)
        if cmd == link.WRITE.value and p[0] == 0:
            dev.mems[0] &= ~np.uint32(1)

    dev._handle = stuck_bit
    with pytest.raises(VerifyError, match=r"1 of .* memories read back wrong"):
        acc.load_bundle(bundle)
    with pytest.raises(NotLoadedError):
        acc.classify(sparse_images(1))


def test_plan_mismatch_and_bad_images(bundle, plan) -> None:
    acc, _ = open_loaded(bundle, plan)
    with pytest.raises(PlanMismatchError, match="inputs"):
        acc.load_bundle(random_bundle(0, sizes=(100, 16, 10)))
    with pytest.raises(PlanMismatchError, match="PLAN_HASH"):
        acc.load_bundle(random_bundle(0, sizes=(784, 20, 10)))
    with pytest.raises(InputTypeError):
        acc.classify(np.zeros((2, 784), dtype=np.float32))
    with pytest.raises(InputError):
        acc.classify(np.zeros((2, 783), dtype=np.uint8))
    with pytest.raises(InputError):
        acc.load_bundle(bundle, verify="readback")


def test_unopenable_port_and_silent_device() -> None:
    with pytest.raises(PortError, match="/dev/no-such-tty"):
        SerialAccelerator("/dev/no-such-tty", baud=3_000_000)
    with pytest.raises(InputError, match="baud"):
        SerialAccelerator("/dev/no-such-tty")

    class Silent:  # a port where nothing answers (no board, wrong port, not programmed)
        simulated, timeout, in_waiting, t = True, 0.0, 0, 0.0

        def sim_seconds(self):
            return self.t

        def write(self, data):
            return len(data)

        def read(self, n):
            self.t += self.timeout
            return b""

        def close(self):
            pass

    with pytest.raises(DeviceTimeout, match="no lwfc device answering"):
        SerialAccelerator(Silent(), timeout=0.01)


def test_error_replies_raise_clear_errors(bundle, plan) -> None:
    acc, _ = open_loaded(bundle, plan)
    with pytest.raises(LinkError, match="ERR_RANGE"):
        acc._pipeline(link.WRITE, [bytes([200, 0, 0, 1])], 1, lambda _i: 0)
    with pytest.raises(LinkError, match="ERR_LENGTH"):
        acc._pipeline(link.CLASSIFY, [bytes([1, 5])], 1, lambda _i: 1)


def test_duplicated_and_stray_replies_are_never_counted(bundle, plan) -> None:
    acc, dev = open_loaded(bundle, plan)
    real = dev._reply

    def twice(ready, cmd, tag, payload=b"", img=-1):
        real(ready, cmd, tag, payload, img)
        if cmd == link.CLASSIFY.value | link.REPLY_BIT:
            real(ready, cmd, tag, payload)  # the same reply again
            real(ready, cmd, (tag + 100) & 0xFF, bytes([9]))  # and one for no request

    dev._reply = twice
    x = sparse_images(30, 7)
    assert np.array_equal(acc.classify(x), golden.forward(bundle, x).argmax(1))
    assert acc.stats.stray >= 2 * (30 - 1)  # the last ones may still be on the wire


def test_bounded_retries_on_a_dead_wire(bundle, plan) -> None:
    acc, dev = open_loaded(bundle, plan)
    dev.faults = FaultInjector(FaultConfig(drop=0.95))
    with pytest.raises(DeviceTimeout, match="no answer to FLUSH"):
        acc.classify(sparse_images(5))
    # a wire that corrupts every image frame: each image gets max_retries attempts
    acc, dev = open_loaded(bundle, plan)
    acc.max_retries = 3
    dev.faults = FaultInjector(FaultConfig(flip=0.5))
    with pytest.raises((LinkError, DeviceTimeout), match="attempts"):
        acc.classify(sparse_images(3))


#: (faults, images, seed): every kind alone, then all at once; >= 1,000 faults in total.
FAULT_RUNS = [
    (FaultConfig(flip=2e-3, seed=1), 120),
    (FaultConfig(drop=1.5e-3, seed=2), 120),
    (FaultConfig(garbage=2e-3, seed=3), 120),
    (FaultConfig(truncate=0.1, seed=4), 150),
    (FaultConfig(reset=0.04, seed=5), 150),
    (FaultConfig(rx_flip=1.5e-2, seed=6), 150),
    (FaultConfig(rx_drop=1.5e-2, seed=7), 150),
    (FaultConfig(flip=5e-4, drop=3e-4, garbage=3e-4, truncate=0.02, reset=0.01, rx_flip=3e-3,
                 rx_drop=3e-3, seed=8), 200),
]


def test_fault_injection_no_wrong_lost_or_duplicated_result(bundle, plan) -> None:
    totals = dict.fromkeys(KINDS, 0)
    for faults, n in FAULT_RUNS:
        dev = DeviceModel(bundle, plan)
        acc = SerialAccelerator(dev)
        acc.load_bundle(bundle)
        dev.faults = FaultInjector(faults)  # the load went clean; classify under faults
        x = sparse_images(n, faults.seed, 0.12)
        ref = golden.forward(bundle, x)
        cls, lg = acc.classify(x, logits=True)
        # exactly one result per image, each the golden model's for that very image
        assert cls.shape == (n,) and np.array_equal(cls, ref.argmax(1)), faults
        assert np.array_equal(lg, ref), faults
        got = dev.faults.counts
        assert sum(got.values()) > 0, faults
        for k in KINDS:
            totals[k] += got[k]
        if faults.reset:
            assert dev.resets == got["reset"]
        s = acc.stats
        assert s.retries > 0 and s.frames_received >= n
    # the faults are also injected while loading (and the load still verifies)
    dev = DeviceModel(bundle, plan, faults=FaultConfig(flip=3e-4, drop=2e-4, garbage=2e-4,
                                                       rx_flip=1e-3, seed=11))
    acc = SerialAccelerator(dev)
    res = acc.load_bundle(bundle)
    assert not res["skipped"] and dev.params_hash == link.bundle_params_hash(bundle, plan)
    for k in KINDS:
        totals[k] += dev.faults.counts[k]
    print("faults injected:", totals, "total", sum(totals.values()))
    assert sum(totals.values()) >= 1000, totals
    assert all(totals[k] > 0 for k in KINDS), totals


def test_throughput_test_and_execute(bundle, plan) -> None:
    acc, _ = open_loaded(bundle, plan, core_s=20e-6)
    res = acc.throughput_test(images=12)
    assert res["images"] == 12 and res["simulated"]
    assert res["wire_bytes_per_image"] == link.FRAME_OVERHEAD + 1 + 784  # random: raw wins
    assert res["throughput[images/s]"] == pytest.approx(res["wire_limit[images/s]"], rel=0.1)
    assert res["runtime[ms]"] > 0 and res["fclk[mhz]"] == 100 and res["baud"] == 3_000_000
    x = sparse_images(5, 9)
    assert np.array_equal(acc.execute(x), golden.forward(bundle, x).argmax(1))
    with pytest.raises(InputError):
        acc.throughput_test(images=0)


def test_a_real_serial_port_through_a_pty(bundle, plan) -> None:
    """The hardware path: pyserial's own posix port (wall-clock timeouts, PORT_LATENCY) on a
    pty whose other end a thread serves with the test double."""
    import os
    import select
    import threading

    master, slave = os.openpty()
    dev = DeviceModel(bundle, plan, faults=FaultConfig(flip=2e-4, rx_flip=1e-3, seed=4))
    dev.timeout = 2e-4  # virtual seconds the device runs per poll
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            ready, _, _ = select.select([master], [], [], 0.005)
            if ready:
                dev.write(os.read(master, 4096))
            out = dev.read(4096)
            if out:
                os.write(master, out)

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    try:
        with SerialAccelerator(os.ttyname(slave), baud=3_000_000) as acc:
            assert not acc.simulated and acc.latency > 0
            acc.load_bundle(bundle)
            x = sparse_images(30, 12)
            cls, lg = acc.classify(x, logits=True)
            ref = golden.forward(bundle, x)
            assert np.array_equal(cls, ref.argmax(1)) and np.array_equal(lg, ref)
            assert acc.last["seconds"] > 0 and sum(dev.fault_counts.values()) > 0
    finally:
        stop.set()
        th.join(5)
        os.close(master)
        os.close(slave)
