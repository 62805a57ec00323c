"""The serial driver against the board tops' RTL (lwfc_serial: bridge + core) in Verilator,
through the lock-step harness hw/tb/tb_serial.cpp and the lwfcsim:// pyserial handler.

Short runs in the default suite; ``pytest --full`` makes the slow ones the closing
measurement (500 MNIST test images per board, with and without logits).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from conftest import full
from lwfc import golden
from lwfc.bundle import load_bundle
from lwfc.cli import main
from lwfc.data import load_dataset
from lwfc.driver.faults import KINDS, FaultConfig
from lwfc.driver.serial import open_port
from lwfc.driver.serial_sim import (
    HarnessProcess,
    board_build,
    build_harness,
    open_serial_sim,
    prepare_serial,
)
from lwfc_hw import link

pytestmark = pytest.mark.tools("verilator")
BOARDS = ("ulx3s", "icebreaker")


@pytest.fixture(scope="module")
def mnist(data_dir):
    bundle = load_bundle("deploy/models/mnist-dense")
    images, labels = load_dataset("mnist", "test", data_dir, progress=False)
    return bundle, golden.as_pixels(images[:500], 784), np.asarray(labels[:500])


def test_harness_moves_bytes_at_the_bit_period(tmp_path) -> None:
    """Raw frames through the harness: IDENTIFY comes back after exactly the wire time."""
    from lwfc_hw.banking import write_hex_files

    b = board_build("ulx3s")
    rtl = prepare_serial(b["plan"], b["clk_hz"], b["baud"], bundle=b["bundle"])
    exe = build_harness([rtl / "lwfc_serial.v"], "lwfc_serial", rtl)
    write_hex_files(b["bundle"], b["plan"], tmp_path)
    proc = HarnessProcess(exe, tmp_path, b["clk_hz"], b["baud"], keep=True)
    port = open_port(proc.url(), b["baud"])
    port.on_close = proc.stop
    try:
        port.timeout = 0.001  # simulated seconds
        assert port.read(1) == b""  # nothing unasked for; the timeout passed in simulation
        t0 = port.cycles
        assert t0 >= 0.001 * b["clk_hz"]
        port.write(link.encode(link.IDENTIFY.value, 7))
        reply = port.read(link.FRAME_OVERHEAD + link.IDENTIFY_BYTES)
        frames = link.Parser().feed(reply)
        assert len(frames) == 1 and frames[0].tag == 7
        ident = link.Identity.unpack(frames[0].payload)
        assert (ident.clk_hz, ident.baud, ident.params_hash) == (b["clk_hz"], b["baud"],
                                                                 b["params_hash"])
        # request (8 bytes) + reply, 10 bits of `divisor` clocks each: the reply cannot be
        # faster than the wire, and the bridge answers within a few byte times
        byte = 10 * link.uart_timing(b["clk_hz"], b["baud"]).divisor
        took = port.cycles - t0
        n = 8 + len(reply)
        assert (n - 1) * byte <= took <= (n + 4) * byte, (took / byte, n)
        assert port.frame_errors == 0
    finally:
        port.close()
    assert proc.proc.returncode == 0


@pytest.mark.parametrize("board", BOARDS)
def test_driver_on_the_board_rtl(board, mnist) -> None:
    bundle, x, _ = mnist
    n = 12
    ref = golden.forward(bundle, x[:n])
    with open_serial_sim(board) as acc:
        # SPRAM starts empty (the ECP5 DP16KD instances hold the bundle as INITVALs, in the
        # bitstream and in this simulation)
        empty = any(m.spram for m in acc.plan_for(bundle).mems)
        assert board != "ulx3s" or (acc.plan_for(bundle).prim_mems and not empty)
        assert (acc.info.params_hash == 0) == empty
        load = acc.load_bundle(bundle)
        assert load["skipped"] != empty
        if not empty and full():  # every memory again: many seconds of simulation
            load = acc.load_bundle(bundle, force=True)
        if not load["skipped"]:
            assert load["verify"] == "scan"
            assert load["bytes_sent"] <= 1.1 * load["payload_bytes"]
        assert acc.identify().params_hash == link.bundle_params_hash(bundle, acc.plan)
        assert np.array_equal(acc.classify(x[:n]), ref.argmax(1))
        cls, lg = acc.classify(x[:n], logits=True, sparse=False)
        assert np.array_equal(cls, ref.argmax(1)) and np.array_equal(lg, ref)
        assert acc.last["sparse_images"] == 0
        assert acc.stats.retries == 0 and acc.stats.crc_errors == 0


def test_compressed_bundle_on_the_icebreaker_rtl(mnist) -> None:
    """The low-rank bundle's iCEBreaker bitstream (``lwfc build --board icebreaker --bundle
    deploy/models/mnist-lowrank``: the dot low-rank layer, its DIL ring in block RAM, two lane
    multipliers in logic) in simulation: loaded over the link, then bit-exact logits, with no
    retry: its one-lane first layer takes a beat every 4 cycles, so an image sent back to back
    finds the 256-entry FIFO still holding the previous one, which the bridge's per-beat room
    check accepts (a check for a whole image at the header answered ERR_BUSY)."""
    _, x, _ = mnist
    bundle = load_bundle("deploy/models/mnist-lowrank")
    n = 6
    ref = golden.forward(bundle, x[:n])
    with open_serial_sim("icebreaker", bundle=bundle) as acc:
        assert acc.plan_for(bundle).engines[0].dataflow == "dot"
        load = acc.load_bundle(bundle)
        assert not load["skipped"] and load["verify"] == "scan"
        cls, lg = acc.classify(x[:n], logits=True)
        assert np.array_equal(cls, ref.argmax(1)) and np.array_equal(lg, ref)
        assert acc.stats.crc_errors == 0 and acc.stats.retries == 0, acc.stats


def test_fault_injection_on_the_rtl(mnist) -> None:
    bundle, x, _ = mnist
    n = 40
    faults = FaultConfig(flip=4e-4, drop=2e-4, garbage=2e-4, truncate=0.03, reset=0.02,
                         rx_flip=2e-3, rx_drop=2e-3, seed=5)
    ref = golden.forward(bundle, x[:n])
    with open_serial_sim("ulx3s", faults=faults, timeout=0.02) as acc:
        acc.load_bundle(bundle)  # the built-in parameters: the hash matches (faults or not)
        cls, lg = acc.classify(x[:n], logits=True)
        counts = acc.port.fault_counts
        stats = acc.link_stats()
    assert np.array_equal(cls, ref.argmax(1)) and np.array_equal(lg, ref)
    assert sum(counts.values()) >= 10, counts
    assert stats["retries"] > 0 and stats["faults_injected"] == counts
    print("RTL faults injected:", counts, "link:", {k: stats[k] for k in
                                                   ("retries", "resyncs", "crc_errors", "lost")})
    assert set(counts) == set(KINDS)


def test_cli_serial_errors_exit_2(tmp_path, capsys) -> None:
    from conftest import random_bundle
    from lwfc.bundle import save_bundle

    dense = "deploy/models/mnist-dense"
    big = save_bundle(random_bundle(1, sizes=(784, 900, 100, 10)), tmp_path / "big")
    # the iCEBreaker target's dataflow broadcast,dot,dot is one per layer of a three-layer
    # network
    two = save_bundle(random_bundle(1, sizes=(784, 50, 10)), tmp_path / "two")
    bad_img = tmp_path / "bad.npy"
    np.save(bad_img, np.zeros((3, 100), dtype=np.uint8))
    floats = tmp_path / "floats.npy"
    np.save(floats, np.zeros((3, 784), dtype=np.float32))
    cases = [
        (["--board", "ulx3s"], "needs --port"),
        (["--board", "ulx3s", "--port", "/dev/no-such-tty"], "cannot open serial port"),
        # the ULX3S target's drain 5,1,1 needs a dense first layer
        (["--board", "ulx3s", "--port", "sim", "deploy/models/mnist-lowrank"],
         "cannot be built for the ulx3s"),
        (["--board", "icebreaker", "--port", "sim", str(big)], "does not fit"),
        (["--board", "icebreaker", "--port", "sim", str(two)],
         "cannot be built for the icebreaker"),
        (["--board", "ulx3s", "--port", "sim", "--input", str(bad_img)], "shape"),
        (["--board", "ulx3s", "--port", "sim", "--input", str(floats)], "dtype"),
        (["--board", "ulx3s", "--port", "/dev/null", "--faults", "flip=1e-3"], "--port sim"),
        (["--board", "ulx3s", "--port", "sim", "--faults", "bogus=1"], "unknown fault"),
        (["--board", "ulx3s", "--port", "sim", "--verify", "readback"], "readback"),
        (["--board", "sim", "--port", "sim"], "--port is for the serial boards"),
        (["--board", "nosuch", "--port", "sim"], "unknown board"),
    ]
    for args, needle in cases:
        if not any(a.startswith(("deploy/", str(tmp_path))) for a in args if a != str(bad_img)
                   and a != str(floats)):
            args = [*args, dense]
        code = main(["infer", *args, "--images", "2"])
        err = capsys.readouterr().err
        assert code == 2 and needle in err and err.count("\n") == 1, (args, err)


def test_cli_no_device_answering_exits_2(capsys) -> None:
    """A port that exists but where nothing answers (a pty nobody serves)."""
    master, slave = os.openpty()
    try:
        code = main(["infer", "deploy/models/mnist-dense", "--board", "ulx3s", "--port",
                     os.ttyname(slave), "--images", "2", "--timeout", "0.2"])
    finally:
        os.close(master)
        os.close(slave)
    err = capsys.readouterr().err
    assert code == 2 and "no lwfc device answering" in err and err.count("\n") == 1, err


@pytest.mark.slow
@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("logits", [False, True])
def test_cli_infer_port_sim(board, logits, data_dir, capsys) -> None:
    """500 MNIST test images per board with --full (30 otherwise): 0 mismatches,
    and class-only runs at >= 95 % of min(wire limit, core limit)."""
    long = full()
    n = 500 if long else 30
    code = main(["infer", "--board", board, "--port", "sim", "deploy/models/mnist-dense",
                 "--images", str(n), "--json", "--data", str(data_dir),
                 *(["--force-load"] if long else []), *(["--logits"] if logits else [])])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["images"] == n and out["mismatches"] == 0, out
    assert out["simulated"] and out["accuracy"] == out["golden_accuracy"]
    if not out["skipped"]:
        assert out["bytes_sent"] <= 1.1 * out["payload_bytes"]
    if not logits and n >= 100:
        assert out["efficiency"] >= 0.95, out

