"""lwfc_serial (the serial bridge, hw/lwfc_hw/serial.py) driven through its UART pins in Icarus.

One scripted byte stream per scenario goes in at the real bit period (hw/tb/tb_serial_bytes.v);
every byte that comes back is parsed with lwfc_hw.link and checked against the golden model,
the memories' expected checksums and the protocol's error rules. A small network keeps it
fast; the same generator code elaborates the board plans (tests/test_serial_*.py run those).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, random_bundle
from lwfc import golden
from lwfc.driver.base import expected_checksums
from lwfc_hw import link as K
from lwfc_hw.banking import host_writes, write_hex_files
from lwfc_hw.plan import plan_for_bundle
from lwfc_hw.regmap import plan_signature
from lwfc_hw.serial import IDLE_BYTES, convert_serial, fifo_geometry

CLK, BAUD = 1_000_000, 100_000
#: 16 byte times of silence (tb_serial_bytes.v: a value 0x100 + n is n byte times).
PAUSE = [0x100 + 16]
TB = REPO / "hw" / "tb" / "tb_serial_bytes.v"

pytestmark = pytest.mark.tools("iverilog")


class Rig:
    """A converted lwfc_serial for a small random bundle, and a runner of byte streams."""

    def __init__(self, root: Path, params_hash: int = 0, sizes: tuple[int, ...] = (20, 6, 3),
                 lanes: int = 2, baud: int = BAUD, fifo_depth: int = 0) -> None:
        self.bundle = random_bundle(3, sizes=sizes)
        self.plan = plan_for_bundle(self.bundle, lanes, 4)
        self.root = root
        convert_serial(self.plan, root, CLK, baud, params_hash=params_hash,
                       fifo_depth=fifo_depth)
        write_hex_files(self.bundle, self.plan, root)
        subprocess.run(["iverilog", "-g2012", "-I", str(root), "-o", str(root / "sim.vvp"),
                        str(TB), str(root / "lwfc_serial.v")], check=True, timeout=120)
        self.geo = fifo_geometry(self.plan, fifo_depth)
        self.words = {m.sel: np.zeros(m.depth, dtype=np.uint32) for m in self.plan.mems}
        for sel, addr, data in host_writes(self.bundle, self.plan):
            self.words[sel][addr] = data
        self.div = K.uart_timing(CLK, baud).divisor

    def run(self, stream: bytes | list[int], rst_at: int = -1, quiet: int = 30000
            ) -> list[K.Frame]:
        """Send ``stream`` (bytes; in a list, 0x100 + n is n byte times of silence)."""
        (self.root / "in.hex").write_text("".join(f"{b:03x}\n" for b in stream))
        res = subprocess.run(
            ["vvp", "-n", "sim.vvp", "+IN=in.hex", f"+NBYTES={len(stream)}", "+OUT=out.txt",
             f"+DIV={self.div}", f"+QUIET={quiet}", f"+RSTAT={rst_at}"],
            cwd=self.root, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0 and "FAIL" not in res.stdout, res.stdout[-2000:]
        lines = (self.root / "out.txt").read_text().splitlines()
        assert lines[-1].startswith("END")
        data = bytes(int(line.split()[0], 16) for line in lines[:-1])
        parser = K.Parser()
        frames = parser.feed(data)
        assert parser.skipped == 0 and parser.bad_crc == 0 and not parser.buf, \
            "the bridge sent a malformed frame"
        return frames

    def expected_verify(self, sel: int) -> bytes:
        m = self.plan.mems[sel]
        s1, s2 = expected_checksums(self.words[sel], m.width, m.signed)
        return s1.to_bytes(4, "little") + s2.to_bytes(4, "little")


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Rig:
    return Rig(tmp_path_factory.mktemp("serial_rtl"))


def by_tag(frames: list[K.Frame]) -> dict[int, K.Frame]:
    out: dict[int, K.Frame] = {}
    for f in frames:
        assert f.tag not in out, f"two replies with tag {f.tag}"
        out[f.tag] = f
    return out


def images(n: int, seed: int, n_in: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, n_in), dtype=np.uint8)
    x[rng.random(x.shape) < 0.6] = 0
    x[0] = 0
    x[1] = 255
    return x


def test_load_verify_identify_and_classify(rig: Rig) -> None:
    """WRITE bursts of every memory, VERIFY checksums, SET_HASH, IDENTIFY, then images raw and
    sparse, class only and with logits: every reply as the protocol and the golden model say."""
    plan = rig.plan
    frames, tag = [], 0
    for m in plan.mems:
        for _, payload in K.write_bursts(m.sel, rig.words[m.sel], m.width,
                                         rig.geo["max_burst"]):
            # the host keeps at most two WRITEs and one VERIFY in flight (the descriptor
            # queue holds two): here, a pause after each request does it
            frames.append(list(K.encode(K.WRITE.value, tag, payload)) + PAUSE)
            tag += 1
    n_writes = tag
    verify_tags = {}
    for m in plan.mems:
        frames.append(list(K.encode(K.VERIFY.value, tag, bytes([m.sel]))) + PAUSE)
        verify_tags[tag] = m.sel
        tag += 1
    frames.append(list(K.encode(K.SET_HASH.value, tag, (0xC0FFEE01).to_bytes(4, "little"))))
    frames.append(list(K.encode(K.IDENTIFY.value, tag + 1)) + PAUSE)
    tag += 2
    x = images(8, 1, plan.n_in)
    first = tag
    for i, im in enumerate(x):
        frames.append(list(K.encode(K.CLASSIFY.value, tag, K.classify_payload(
            im, logits=i % 2 == 0, sparse=None if i < 6 else False))))
        tag += 1
    got = by_tag(rig.run([b for f in frames for b in f]))
    assert len(got) == tag
    for t in range(n_writes):
        assert got[t].cmd == K.WRITE.value | K.REPLY_BIT and got[t].payload == b""
    for t, sel in verify_tags.items():
        assert got[t].cmd == K.VERIFY.value | K.REPLY_BIT
        assert got[t].payload == rig.expected_verify(sel), plan.mems[sel].name
    ident = K.Identity.unpack(got[first - 1].payload)
    assert ident.magic == K.MAGIC and ident.version == K.VERSION
    assert (ident.n_in, ident.classes, ident.lanes, ident.n_mems) == \
        (plan.n_in, plan.classes, plan.lanes, len(plan.mems))
    assert ident.plan_hash == plan_signature(plan) and ident.params_hash == 0xC0FFEE01
    assert (ident.clk_hz, ident.baud, ident.max_burst, ident.in_flight) == \
        (CLK, BAUD, rig.geo["max_burst"], rig.geo["in_flight"])
    ref = golden.forward(rig.bundle, x)
    for i in range(len(x)):
        f = got[first + i]
        assert f.cmd == K.CLASSIFY.value | K.REPLY_BIT
        cls, logits = K.decode_result(f.payload, plan.classes)
        assert cls == int(np.argmax(ref[i])), i
        if i % 2 == 0:
            assert logits is not None and (logits == ref[i]).all(), i
        else:
            assert logits is None


def test_bad_frames_are_dropped_whole(rig: Rig) -> None:
    """Bad CRC, unknown command, bad lengths, bad memory: each answered with its error and
    nothing applied (the memory keeps its checksum, the image gets no result); garbage and a
    frame with a bad header are skipped and the next good frame is answered."""
    plan = rig.plan
    m = plan.mems[0]
    x = images(3, 2, plan.n_in)
    zero_burst = K.write_payload(m.sel, 0, [0] * 4, m.width)
    bad_write = bytearray(K.encode(K.WRITE.value, 10, zero_burst))
    bad_write[-3] ^= 0x10  # a payload bit: CRC fails, the header is good
    bad_image = bytearray(K.encode(K.CLASSIFY.value, 11, K.classify_payload(x[0])))
    bad_image[8] ^= 0x01
    bad_header = bytearray(K.encode(K.IDENTIFY.value, 12))
    bad_header[2] ^= 0x04
    parts = [
        bytes(bad_write), bytes(bad_image),
        K.encode(K.VERIFY.value, 13, bytes([m.sel])),
        K.encode(0x3C, 14),                                     # unknown command
        K.encode(K.CLASSIFY.value, 15, b"\x01\x05"),            # decodes to 5 pixels
        K.encode(K.CLASSIFY.value, 16, b"\x00" + bytes(plan.n_in - 1)),  # raw, one short
        K.encode(K.WRITE.value, 17, bytes([200, 0, 0, 1])),     # no memory 200
        K.encode(K.WRITE.value, 18, K.write_payload(m.sel, m.depth - 1, [1, 2], m.width)),
        K.encode(K.IDENTIFY.value, 19, b"x"),                   # IDENTIFY has no payload
        b"\x13\x00\xff\x42", bytes(bad_header),                 # garbage, bad header
        K.encode(K.CLASSIFY.value, 20, K.classify_payload(x[1])),
        K.encode(K.VERIFY.value, 21, bytes([m.sel])),
    ]
    # an error reply waits in a one-entry slot: leave the bridge the time to send each one
    stream = [b for p in parts for b in [*p, 0x100 + 12]]
    got = by_tag(rig.run(stream))
    expect = {10: K.ERR_CRC, 11: K.ERR_CRC, 14: K.ERR_COMMAND, 15: K.ERR_LENGTH,
              16: K.ERR_LENGTH, 17: K.ERR_RANGE, 18: K.ERR_RANGE, 19: K.ERR_LENGTH}
    for t, code in expect.items():
        assert got[t].cmd == code.value, (t, K.code_name(got[t].cmd))
        assert len(got[t].payload) == K.ERROR_PAYLOAD
    assert 12 not in got  # a bad header is never answered
    assert got[13].payload == rig.expected_verify(m.sel)  # the bad WRITE changed nothing
    assert got[21].payload == rig.expected_verify(m.sel)
    ref = golden.forward(rig.bundle, x)
    assert K.decode_result(got[20].payload, plan.classes)[0] == int(np.argmax(ref[1]))
    assert set(got) == set(expect) | {13, 20, 21}


def test_busy_truncation_flush_and_reset(rig: Rig) -> None:
    """A WRITE while images are in flight is refused (ERR_BUSY); FLUSH answers and the link
    works after it; a truncated frame is dropped after the silence timeout and the next frame
    is answered; a reset in the middle of a frame leaves a link that answers the next one."""
    plan = rig.plan
    m = plan.mems[0]
    x = images(4, 3, plan.n_in)
    ref = golden.forward(rig.bundle, x)
    trunc = K.encode(K.CLASSIFY.value, 33, K.classify_payload(x[2], sparse=False))[:9]
    silence = [0x100 + IDLE_BYTES + 4]
    stream = list(b"".join([
        K.encode(K.CLASSIFY.value, 30, K.classify_payload(x[0])),
        K.encode(K.WRITE.value, 31, K.write_payload(m.sel, 0, [0], m.width)),
        K.encode(K.FLUSH.value, 32),
        trunc,
    ])) + silence + list(K.encode(K.CLASSIFY.value, 34, K.classify_payload(x[1])))
    got = by_tag(rig.run(stream))
    assert got[31].cmd == K.ERR_BUSY.value
    assert got[32].cmd == K.FLUSH.value | K.REPLY_BIT
    assert 33 not in got
    assert K.decode_result(got[30].payload, plan.classes)[0] == int(np.argmax(ref[0]))
    assert K.decode_result(got[34].payload, plan.classes)[0] == int(np.argmax(ref[1]))
    # a reset in the middle of an image frame, then a good one
    half = K.encode(K.CLASSIFY.value, 41, K.classify_payload(x[1], sparse=False))
    good = K.encode(K.CLASSIFY.value, 40, K.classify_payload(x[3]))
    got = by_tag(rig.run([*half, 0x100 + 2, *good], rst_at=len(half) // 2))
    assert 41 not in got
    assert K.decode_result(got[40].payload, plan.classes)[0] == int(np.argmax(ref[3]))


def test_image_out_of_fifo_room_is_busy_and_rolled_back(tmp_path: Path) -> None:
    """Images sent back to back, more than IN_FLIGHT, to a core slower than the wire (784
    inputs, 12 outputs on one lane: about 9.4k cycles an image; sparse images of 3 % nonzero
    pixels: about 6k clocks on the wire): the 256-word FIFO (196 beats an image) runs out in
    the middle of an image, which is answered ERR_BUSY with its beats rolled back; an image
    that follows one still being loaded into the core is accepted (room is checked per beat;
    the check for a whole image at the header refused images 51 and 53 here); every other
    image gets its own result, and one sent after a pause is classified right."""
    rig = Rig(tmp_path, sizes=(784, 12, 3), lanes=1, baud=CLK // 8, fifo_depth=256)
    assert (rig.geo["depth"], rig.geo["in_flight"]) == (256, 2)
    n = 6
    rng = np.random.default_rng(7)
    x = rng.integers(1, 256, (n + 1, 784), dtype=np.uint8)
    x[rng.random(x.shape) < 0.97] = 0
    ref = golden.forward(rig.bundle, x).argmax(1)
    burst = b"".join(K.encode(K.CLASSIFY.value, 50 + k, K.classify_payload(x[k]))
                     for k in range(n))
    pause = [0x100 + 250] * 3  # 750 byte times: every image accepted is done
    last = K.encode(K.CLASSIFY.value, 50 + n, K.classify_payload(x[n]))
    got = by_tag(rig.run([*burst, *pause, *last], quiet=20000))
    busy = sorted(t for t, f in got.items() if f.cmd == K.ERR_BUSY.value)
    assert set(got) == set(range(50, 51 + n)), sorted(got)
    assert busy and not set(busy) & {50, 51, 52, 53, 50 + n}, busy
    for t, f in got.items():
        if t in busy:
            assert f.payload == bytes([K.CLASSIFY.value])
        else:
            assert f.cmd == K.CLASSIFY.value | K.REPLY_BIT
            assert K.decode_result(f.payload, rig.plan.classes)[0] == ref[t - 50], t


@pytest.mark.tools("verilator")
def test_serial_top_lints_clean(rig: Rig) -> None:
    """Verilator --lint-only -Wall on the converted bridge + core: no warning at all."""
    res = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", "lwfc_serial",
                          "-I" + str(rig.root), str(rig.root / "lwfc_serial.v")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and not res.stderr.strip(), res.stderr[-3000:]


def test_fifo_depth_of_a_board() -> None:
    """A board's ``uart.fifo_depth`` (the iCEBreaker's 256) sets the FIFO, the WRITE burst and
    the images in flight; a depth that is not a power of two or cannot hold an image is
    refused with the rule."""
    from lwfc import fpga

    plan = plan_for_bundle(random_bundle(1, sizes=(784, 50, 100, 10)), 1)
    assert fpga.get_board("icebreaker").fifo_depth == 256
    assert fifo_geometry(plan)["depth"] == 512  # the default: two images' beats, >= 512
    geo = fifo_geometry(plan, 256)
    assert (geo["depth"], geo["max_burst"], geo["in_flight"]) == (256, 128, 2)
    for bad in (192, 300, 128):
        with pytest.raises(ValueError, match="fifo_depth must be a power of two"):
            fifo_geometry(plan, bad)
