"""The register map of the ``lwfc_axi`` IP: defined once, here.

Read by the MyHDL top (:mod:`lwfc_hw.axi`: offsets, field positions, reset values), by the host
driver (:mod:`lwfc.driver`) and by the documentation generator (``docs/registers.md`` is
:func:`markdown`; ``python -m lwfc_hw.regmap > docs/registers.md`` rewrites it and a test checks
the committed file is up to date).

The AXI4-Lite slave ``s_axi_control`` has 32-bit data and :data:`ADDR_BITS` address bits (byte
addresses, word aligned). Byte offsets below :data:`WINDOW_BASE` are the registers of
:data:`REGISTERS`; offsets from :data:`WINDOW_BASE` on are the **weight window**: word ``a`` of
the window (byte offset ``WINDOW_BASE + 4*a``) is entry ``a`` of the parameter memory selected by
``WSEL``. This module imports nothing but the standard library (it runs on the board too).
"""

from __future__ import annotations

import json
import sys
import zlib
from dataclasses import dataclass
from typing import Any

#: Vendor:library:name:version of the packaged IP; the PYNQ driver binds to it (``bindto``) and
#: the Vivado packaging script writes it into ``component.xml``.
VENDOR, LIBRARY, NAME, IP_VERSION = "lwfc", "ip", "lwfc", "1.0"
VLNV = f"{VENDOR}:{LIBRARY}:{NAME}:{IP_VERSION}"
#: Register-map version reported by ``VERSION`` (major, minor, patch).
VERSION_TUPLE = (1, 0, 0)
#: ``ID`` register value: ASCII "LWFC".
ID_VALUE = 0x4C574643
#: Address bits of ``s_axi_control`` (512 KiB: registers + window).
ADDR_BITS = 19
#: Byte offset of the weight window.
WINDOW_BASE = 0x40000
#: Entries addressable through the window (the deepest parameter memory must fit).
WINDOW_WORDS = 1 << 16
#: Bits of the window's entry index.
WINDOW_ENTRY_BITS = 16
#: Cycles the core's reset is held after a soft reset or the end of ``aresetn``.
RESET_CYCLES = 16
#: Depth of the per-image TLAST queue (images whose input ended but whose result has not
#: been sent); the input stream stalls while it is full.
TLAST_QUEUE = 32

#: Access kinds: ``RO`` read only; ``RW`` read/write; ``W1P`` write 1 to pulse (reads 0);
#: ``W1C`` sticky, write 1 to clear.
ACCESS = ("RO", "RW", "W1P", "W1C")


@dataclass(frozen=True)
class Field:
    """A bit field of a register.

    Attributes:
        name: upper-case field name.
        lsb: least significant bit.
        width: bits.
        access: one of :data:`ACCESS`.
        reset: value after ``aresetn`` (``None``: set at elaboration, see ``doc``).
        doc: one-line description (units where they apply).
    """

    name: str
    lsb: int
    width: int
    access: str
    reset: int | None
    doc: str

    @property
    def mask(self) -> int:
        """The field's bits in the register word."""
        return ((1 << self.width) - 1) << self.lsb

    def get(self, word: int) -> int:
        """The field's value in ``word``."""
        return (word >> self.lsb) & ((1 << self.width) - 1)

    def put(self, value: int) -> int:
        """``value`` placed at the field's position (checked to fit)."""
        if not 0 <= value < (1 << self.width):
            raise ValueError(f"{self.name}: {value} does not fit in {self.width} bits")
        return value << self.lsb


@dataclass(frozen=True)
class Register:
    """A 32-bit register of ``s_axi_control``.

    Attributes:
        name: upper-case register name.
        offset: byte offset (multiple of 4, below :data:`WINDOW_BASE`).
        doc: description.
        fields: its bit fields (a plain 32-bit value is one field named like the register).
    """

    name: str
    offset: int
    doc: str
    fields: tuple[Field, ...]

    def field(self, name: str) -> Field:
        """The field called ``name``."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name}")

    def bit(self, name: str) -> int:
        """The mask of the one-bit field ``name``."""
        f = self.field(name)
        if f.width != 1:
            raise ValueError(f"{self.name}.{name} is {f.width} bits wide")
        return f.mask

    @property
    def reset(self) -> int | None:
        """The register's value after ``aresetn`` (None if any field is set at elaboration)."""
        value = 0
        for f in self.fields:
            if f.reset is None:
                return None
            value |= f.reset << f.lsb
        return value

    @property
    def access(self) -> str:
        """The access kinds of its fields, e.g. ``"RO"`` or ``"RW/W1P"``."""
        kinds = []
        for f in self.fields:
            if f.access not in kinds:
                kinds.append(f.access)
        return "/".join(kinds)


def _word(name: str, access: str, reset: int | None, doc: str, width: int = 32) -> tuple[Field]:
    return (Field(name, 0, width, access, reset, doc),)


ID = Register("ID", 0x00, "Identification: ASCII \"LWFC\".",
              _word("ID", "RO", ID_VALUE, "0x4C574643"))
VERSION = Register("VERSION", 0x04, "Register-map version.", (
    Field("PATCH", 0, 8, "RO", VERSION_TUPLE[2], "patch"),
    Field("MINOR", 8, 8, "RO", VERSION_TUPLE[1], "minor"),
    Field("MAJOR", 16, 8, "RO", VERSION_TUPLE[0], "major: incompatible changes"),
))
GEOMETRY = Register("GEOMETRY", 0x08, "Image and result geometry of this build.", (
    Field("N_IN", 0, 16, "RO", None, "pixels per image (784 for MNIST)"),
    Field("CLASSES", 16, 8, "RO", None, "classes = logits per image"),
    Field("PIXELS_PER_BEAT", 24, 8, "RO", None,
          "pixels per s_axis beat B (s_axis_tdata is 8*B bits)"),
))
PLAN = Register("PLAN", 0x0C, "Elaboration parameters of this build.", (
    Field("LANES", 0, 16, "RO", None, "MAC units per engine"),
    Field("N_MEMS", 16, 8, "RO", None, "parameter memories (valid WSEL values 0 ... N_MEMS-1)"),
    Field("LAYERS", 24, 8, "RO", None, "layers"),
))
PLAN_HASH = Register(
    "PLAN_HASH", 0x10,
    "CRC-32 of the elaboration plan (layer shapes, mapping, memory map; "
    ":func:`lwfc_hw.regmap.plan_signature`). The driver refuses a bundle whose plan differs.",
    _word("PLAN_HASH", "RO", None, "plan signature"))
CTRL = Register("CTRL", 0x20, "Control.", (
    Field("START", 0, 1, "W1P", 0,
          "start a batch of BATCH images (ignored while BUSY): clears IMAGES_IN, IMAGES_OUT, "
          "the cycle counter, DONE; latches LOGITS"),
    Field("SOFT_RESET", 1, 1, "W1P", 0,
          "reset the core and both streams (in-flight images and results are dropped, "
          "m_axis_tvalid falls), end the batch, clear ERROR; registers keep their values"),
    Field("LOGITS", 2, 1, "RW", 0,
          "result format of the next batch: 0 = one beat per image (the class), "
          "1 = 1 + CLASSES beats (class, then the int32 logits)"),
    Field("SCAN", 3, 1, "W1P", 0,
          "read every entry of memory WSEL through the readback port into SCAN_SUM / "
          "SCAN_WSUM (SCAN_BUSY while running, about WDEPTH cycles)"),
))
STATUS = Register("STATUS", 0x24, "Status.", (
    Field("IDLE", 0, 1, "RO", 0,
          "no batch running, no image inside the core, no scan, not in reset: the moment to "
          "write weights"),
    Field("BUSY", 1, 1, "RO", 0, "a batch is running (from START until its last result beat)"),
    Field("DONE", 2, 1, "RO", 0, "the last batch completed (sticky until START / SOFT_RESET)"),
    Field("ERROR", 3, 1, "RO", 0, "some ERROR bit is set"),
    Field("SCAN_BUSY", 4, 1, "RO", 0, "a SCAN is running"),
    Field("CORE_IDLE", 5, 1, "RO", 0, "no image inside lwfc_core"),
    Field("RESETTING", 6, 1, "RO", 1, "the core is held in reset"),
))
ERROR = Register("ERROR", 0x28, "Sticky error flags; write 1 to clear (SOFT_RESET clears all).", (
    Field("IMG_SHORT", 0, 1, "W1C", 0,
          "s_axis_tlast before the last beat of an image: the rest of the image was padded "
          "with zeros (its result is sent, with TLAST)"),
    Field("IMG_LONG", 1, 1, "W1C", 0,
          "the last beat of a batch's last image had no s_axis_tlast: the stream is longer "
          "than BATCH images (the excess stays unread)"),
    Field("WIN_WRITE_RANGE", 2, 1, "W1C", 0,
          "window write outside memory WSEL (WSEL >= N_MEMS or entry >= WDEPTH): dropped"),
    Field("WIN_READ_RANGE", 3, 1, "W1C", 0,
          "window read (or SCAN) outside memory WSEL: read as 0"),
    Field("WIN_BUSY", 4, 1, "W1C", 0, "window write while not IDLE: dropped"),
    Field("WIN_STRB", 5, 1, "W1C", 0, "window write with WSTRB != 0xF: dropped"),
))
BATCH = Register("BATCH", 0x2C, "Images per batch (0: unbounded, until SOFT_RESET).",
                 _word("BATCH", "RW", 0, "images"))
IMAGES_IN = Register("IMAGES_IN", 0x30, "Images fully received since START.",
                     _word("IMAGES_IN", "RO", 0, "images"))
IMAGES_OUT = Register("IMAGES_OUT", 0x34, "Images whose results were fully sent since START.",
                      _word("IMAGES_OUT", "RO", 0, "images"))
CYCLES_LO = Register(
    "CYCLES_LO", 0x38,
    "aclk cycles while BUSY since START, bits 31:0; reading it latches bits 63:32 into "
    "CYCLES_HI.", _word("CYCLES_LO", "RO", 0, "cycles"))
CYCLES_HI = Register("CYCLES_HI", 0x3C, "Cycle counter bits 63:32 as latched by CYCLES_LO.",
                     _word("CYCLES_HI", "RO", 0, "cycles / 2**32"))
WSEL = Register("WSEL", 0x40, "Parameter memory (host id, see the memory map) of the window "
                "and of SCAN.", _word("WSEL", "RW", 0, "memory id", width=16))
WDEPTH = Register("WDEPTH", 0x44, "Entries of memory WSEL (0 if WSEL >= N_MEMS).",
                  _word("WDEPTH", "RO", None, "entries (WDEPTH of memory 0 after reset)"))
SCAN_SUM = Register("SCAN_SUM", 0x48, "Last SCAN: sum of the readback words mod 2**32.",
                    _word("SCAN_SUM", "RO", 0, "s1 = sum(w[i])"))
SCAN_WSUM = Register(
    "SCAN_WSUM", 0x4C, "Last SCAN: position-weighted sum mod 2**32 (Fletcher style).",
    _word("SCAN_WSUM", "RO", 0, "s2 = sum((depth - i) * w[i])"))

#: Every register, by offset.
REGISTERS: tuple[Register, ...] = (
    ID, VERSION, GEOMETRY, PLAN, PLAN_HASH, CTRL, STATUS, ERROR, BATCH, IMAGES_IN, IMAGES_OUT,
    CYCLES_LO, CYCLES_HI, WSEL, WDEPTH, SCAN_SUM, SCAN_WSUM,
)
BY_NAME: dict[str, Register] = {r.name: r for r in REGISTERS}


def version_word() -> int:
    """The ``VERSION`` register value."""
    major, minor, patch = VERSION_TUPLE
    return major << 16 | minor << 8 | patch


def window_offset(entry: int) -> int:
    """Byte offset of window entry ``entry``."""
    if not 0 <= entry < WINDOW_WORDS:
        raise ValueError(f"window entry {entry} outside 0 ... {WINDOW_WORDS - 1}")
    return WINDOW_BASE + 4 * entry


def scan_checksums(words: Any) -> tuple[int, int]:
    """``(SCAN_SUM, SCAN_WSUM)`` of a ``SCAN`` over 32-bit readback words ``words`` (entry 0
    first): ``sum(w[i])`` and ``sum((n - i) * w[i])`` for ``n`` entries, both mod 2**32."""
    vals = [int(w) & 0xFFFFFFFF for w in words]
    n = len(vals)
    s1 = sum(vals) & 0xFFFFFFFF
    s2 = sum((n - i) * w for i, w in enumerate(vals)) & 0xFFFFFFFF
    return s1, s2


# ------------------------------------------------------------------------- plan-derived values
def plan_signature(plan: Any) -> int:
    """CRC-32 of everything the register-level interface depends on: the layer shapes and
    kinds, the mapping (lanes, P/Q/Qu/Pv), pixels per beat and every memory's id, role, width,
    signedness and depth. Equal plans give equal signatures (the ``PLAN_HASH`` register)."""
    mm = plan.memory_map()
    for m in mm["memories"]:
        m.pop("file", None)
    text = json.dumps(mm, sort_keys=True, separators=(",", ":"))
    return zlib.crc32(text.encode()) & 0xFFFFFFFF


def geometry_word(plan: Any) -> int:
    """The ``GEOMETRY`` register value of ``plan``."""
    return (GEOMETRY.field("N_IN").put(plan.n_in) | GEOMETRY.field("CLASSES").put(plan.classes)
            | GEOMETRY.field("PIXELS_PER_BEAT").put(plan.pixels_per_beat))


def plan_word(plan: Any) -> int:
    """The ``PLAN`` register value of ``plan``."""
    return (PLAN.field("LANES").put(plan.lanes) | PLAN.field("N_MEMS").put(len(plan.mems))
            | PLAN.field("LAYERS").put(len(plan.engines)))


def check_plan(plan: Any) -> None:
    """Raise ValueError if ``plan`` cannot be wrapped by ``lwfc_axi`` (register fields too
    narrow, a memory deeper than the window)."""
    geometry_word(plan)
    plan_word(plan)
    deepest = max(m.depth for m in plan.mems)
    if deepest > WINDOW_WORDS:
        raise ValueError(f"a parameter memory has {deepest} entries; the window holds "
                         f"{WINDOW_WORDS}")


def reset_values(plan: Any) -> dict[str, int]:
    """Every register's value right after ``aresetn`` (and its ``RESET_CYCLES``) for
    ``plan``: the plan-dependent ones filled in. ``STATUS`` is given after the reset ended."""
    out = {r.name: r.reset for r in REGISTERS}
    out["GEOMETRY"] = geometry_word(plan)
    out["PLAN"] = plan_word(plan)
    out["PLAN_HASH"] = plan_signature(plan)
    out["WDEPTH"] = plan.mems[0].depth
    out["STATUS"] = STATUS.bit("IDLE") | STATUS.bit("CORE_IDLE")
    return {k: int(v) for k, v in out.items() if v is not None}


# ------------------------------------------------------------------------------ documentation
def markdown() -> str:
    """``docs/registers.md``: the register map as Markdown."""
    lines = [
        "# lwfc_axi register map",
        "",
        "<!-- Generated by `python -m lwfc_hw.regmap > docs/registers.md` from "
        "hw/lwfc_hw/regmap.py; do not edit. -->",
        "",
        f"IP VLNV `{VLNV}`, register-map version {'.'.join(map(str, VERSION_TUPLE))}. "
        f"AXI4-Lite slave `s_axi_control`: 32-bit data, {ADDR_BITS}-bit byte addresses "
        f"({(1 << ADDR_BITS) // 1024} KiB), word accesses; every response is OKAY; reads of "
        "unused offsets return 0, writes to them are ignored. Partial writes (WSTRB) update "
        "only the enabled bytes of a register.",
        "",
        "| offset | name | access | reset | description |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in REGISTERS:
        reset = "build" if r.reset is None else f"0x{r.reset:08X}"
        lines.append(f"| 0x{r.offset:04X} | `{r.name}` | {r.access} | {reset} | {r.doc} |")
    lines += [
        f"| 0x{WINDOW_BASE:05X} + 4*a | window | RW | - | entry `a` (0 ... {WINDOW_WORDS - 1}) "
        "of memory `WSEL`: write (while IDLE) or read back |",
        "",
        "Access: RO read only; RW read/write; W1P write 1 to trigger (reads 0); W1C sticky, "
        "write 1 to clear. \"build\": depends on the elaboration plan (bundle shapes, lanes).",
        "",
        "## Fields",
        "",
    ]
    for r in REGISTERS:
        if len(r.fields) == 1 and r.fields[0].name == r.name:
            continue
        lines += [f"### {r.name} (0x{r.offset:02X})", "",
                  "| bits | field | access | reset | description |",
                  "| --- | --- | --- | --- | --- |"]
        for f in r.fields:
            bits = f"{f.lsb}" if f.width == 1 else f"{f.lsb + f.width - 1}:{f.lsb}"
            reset = "build" if f.reset is None else str(f.reset)
            lines.append(f"| {bits} | `{f.name}` | {f.access} | {reset} | {f.doc} |")
        lines.append("")
    lines += [
        "## Weight window",
        "",
        "Select a memory with `WSEL` (host ids of the memory map, `lwfc hdl` writes it to "
        "`memmap.json`; the layout of each memory is `lwfc_hw.banking`). Entry `a` of that "
        f"memory is the word at byte offset `0x{WINDOW_BASE:05X} + 4*a`. A write stores "
        "`wdata[width-1:0]`; it is dropped (and flags an `ERROR` bit) outside the memory, "
        "while not `IDLE`, or with a partial `WSTRB`. A read returns the entry sign-extended "
        "(signed memories) or zero-extended to 32 bits, 0 outside the memory. `SCAN` reads a "
        "whole memory in about `WDEPTH` cycles and leaves two checksums a driver compares with "
        "the values it wrote: `SCAN_SUM = sum(w[i])` and `SCAN_WSUM = sum((WDEPTH - i) * w[i])`, "
        "both mod 2**32 over the 32-bit readback words `w`.",
        "",
        "## Streams",
        "",
        "* `s_axis` (8*B bits, B = `PIXELS_PER_BEAT`): images of `ceil(N_IN / B)` beats, pixel "
        "`i` of a beat in bits `[8i+7:8i]`. Accepted only while `BUSY` and fewer than `BATCH` "
        "images were received. TLAST is expected on the last beat of each image or only on "
        "the last beat of the batch; TLAST inside an image sets `IMG_SHORT`, a batch whose last "
        "beat lacks it sets `IMG_LONG`.",
        "* `m_axis` (32 bits): per image the class (zero-extended), followed by the int32 "
        "logits 0 ... CLASSES-1 when `LOGITS` was set at START. TLAST marks the last result "
        "beat of every image whose last input beat carried TLAST and of the batch's last "
        "image, so one DMA receive per batch completes. Backpressure (`m_axis_tready` low) "
        "stalls the core; nothing is lost.",
        "",
        "## Sequence (what the driver does)",
        "",
        "1. After reset: check `ID`, `VERSION` major, `PLAN_HASH` against the bundle's plan.",
        "2. While `IDLE`: for each memory, write `WSEL`, write its entries through the window, "
        "then `SCAN` and compare `SCAN_SUM` / `SCAN_WSUM` (or read the entries back).",
        "3. Per batch: `BATCH = n`, `CTRL = START | LOGITS?`; DMA receive of `n` (or "
        "`n * (1 + CLASSES)`) words, DMA send of `n` images; wait for both; check `ERROR` and "
        "`IMAGES_OUT == n`; `CYCLES_LO/HI` give the batch time in aclk cycles.",
        "4. On a timeout or error: reset the DMA and write `CTRL = SOFT_RESET`.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    """Print :func:`markdown` (``python -m lwfc_hw.regmap > docs/registers.md``)."""
    sys.stdout.write(markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
