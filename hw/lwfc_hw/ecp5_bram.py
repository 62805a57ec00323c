"""Lattice ECP5 DP16KD block RAMs instantiated by lwfc (``MemSpec.prim == "dp16kd"``).

Yosys maps an inferred memory to DP16KD with ``REGMODE "NOREG"``: the array's slow
clock-to-output (5.6 - 5.8 ns at speed grade 6) then ends at a fabric register, and it was the
ULX3S build's critical path. An instance with ``REGMODE "OUTREG"`` uses the primitive's own
output register instead, so the fabric sees a register output. This module holds what such a
memory needs besides its MyHDL model (:func:`lwfc_hw.memories.dual_param_ram`):

* :func:`dp16kd_mode`: the port width (9 or 18 bits) a ``depth x width`` memory uses, or 0
  when it is not one row of DP16KD (deeper than 2048 entries, or deeper than 1024 and wider
  than 9 bits);
* :func:`instance_text`: the Verilog of the instances (a MyHDL ``verilog_code`` fragment);
* :func:`initval_params` / :func:`fill_initvals`: the initial contents as ``INITVAL_xx``
  parameters. A converted core carries a marker comment per instance instead (the RTL does not
  depend on weight values, :mod:`lwfc_hw.plan`); the FuseSoC generator replaces it for the
  bundle it builds. Simulations of such a core load the memories through the host port.

Initial-contents layout (as Yosys' ``brams_map_16kd.v`` maps an inferred memory): the words
(``mode`` bits each) form one bit string, word ``k`` at bits ``[k * mode +: mode]``; 18-bit piece
``j`` of it is ``INITVAL_{j // 16}`` bits ``[(j % 16) * 20 +: 18]`` (64 parameters of 320 bits).
Simulation model: ``hw/tb/ecp5_dp16kd.v``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: Words of a DP16KD: 1024 in 18-bit mode, 2048 in 9-bit mode.
DEPTH = {18: 1024, 9: 2048}
#: ``INITVAL_00`` ... ``INITVAL_3F``, 320 bits each.
INITVALS = 64
#: The marker a converted core carries where an instance's ``INITVAL_xx`` parameters go.
MARKER = "/* lwfc INITVAL {name} {slice} */"
_MARKER_RE = re.compile(r"/\* lwfc INITVAL (\S+) (\d+) \*/")


def dp16kd_mode(depth: int, width: int) -> int:
    """Port width (18 or 9 bits) of a ``depth x width`` memory built from one row of
    ``ceil(width / mode)`` DP16KD, or 0 when it does not fit one row."""
    if depth <= DEPTH[18]:
        return 18
    if depth <= DEPTH[9] and width <= 9:
        return 9
    return 0


def slices(width: int, mode: int) -> int:
    """DP16KD instances side by side for ``width`` bits."""
    return -(-width // mode)


def _addr_pins(port: str, addr: str, abits: int, mode: int, wr_be: str) -> str:
    """``.AD<port>0 ... 13`` connections: the word address on bits 13 ... 4 (18-bit mode) or
    13 ... 3 (9-bit mode); in 18-bit mode bits 1, 0 are the byte enables."""
    low = 4 if mode == 18 else 3
    pins = []
    for j in range(14):
        if j >= low:
            k = j - low
            pins.append(f".AD{port}{j}({addr}[{k}])" if k < abits else f".AD{port}{j}(1'b0)")
        elif mode == 18 and j < 2:
            pins.append(f".AD{port}{j}({wr_be})")
        else:
            pins.append(f".AD{port}{j}(1'b0)")
    return ", ".join(pins)


def instance_text(name: str, width: int, abits: int, mode: int, *, clk: str, ce_a: str,
                  addr_a: str, addr_b: str, we_b: str, wdata_b: str,
                  initval: bool = True) -> str:
    """Verilog of a ``width``-bit memory of DP16KD in ``mode``-bit mode (names are Verilog
    expressions or MyHDL template fields). Port A reads (``CEA = OCEA = ce_a``), port B reads
    every cycle and writes with ``we_b`` (read before write); both with the output register
    (two edges from address to data). Declares ``<name>_doa`` and ``<name>_dob`` (``width``
    bits). ``initval``: each instance carries the :data:`MARKER` of its contents (False: a
    memory without initial contents, all zero)."""
    n = slices(width, mode)
    full = n * mode
    out = [f"wire [{full - 1}:0] {name}_doa, {name}_dob;"]
    for s in range(n):
        lo = s * mode
        di = ", ".join(
            f".DIB{j}({wdata_b}[{lo + j}])" if lo + j < width else f".DIB{j}(1'b0)"
            for j in range(18))
        dia = ", ".join(f".DIA{j}(1'b0)" for j in range(18))
        doa = ", ".join(f".DOA{j}({name}_doa[{lo + j}])" if j < mode else f".DOA{j}()"
                        for j in range(18))
        dob = ", ".join(f".DOB{j}({name}_dob[{lo + j}])" if j < mode else f".DOB{j}()"
                        for j in range(18))
        marker = MARKER.format(name=name, slice=s) if initval else "// no initial contents"
        out.append(f"""DP16KD #(
    {marker}
    .DATA_WIDTH_A({mode}), .DATA_WIDTH_B({mode}),
    .REGMODE_A("OUTREG"), .REGMODE_B("OUTREG"),
    .RESETMODE("SYNC"), .ASYNC_RESET_RELEASE("SYNC"),
    .CSDECODE_A("0b000"), .CSDECODE_B("0b000"), .CLKAMUX("CLKA"), .CLKBMUX("CLKB"),
    .WRITEMODE_A("NORMAL"), .WRITEMODE_B("READBEFOREWRITE"), .GSR("AUTO")
) {name}_s{s} (
    .CLKA({clk}), .CEA({ce_a}), .OCEA({ce_a}), .WEA(1'b0), .RSTA(1'b0),
    .CSA0(1'b0), .CSA1(1'b0), .CSA2(1'b0),
    {_addr_pins("A", addr_a, abits, mode, "1'b1")},
    {dia},
    {doa},
    .CLKB({clk}), .CEB(1'b1), .OCEB(1'b1), .WEB({we_b}), .RSTB(1'b0),
    .CSB0(1'b0), .CSB1(1'b0), .CSB2(1'b0),
    {_addr_pins("B", addr_b, abits, mode, "1'b1")},
    {di},
    {dob}
);""")
    return "\n".join(out) + "\n"


def initval_params(words: Iterable[int], width: int, mode: int) -> list[str]:
    """The ``.INITVAL_xx(320'h...)`` parameters of each slice of a ``width``-bit memory whose
    entries are ``words`` (unsigned, ``width`` bits; entry ``k`` at address ``k``), one string
    per slice (a line per parameter, each ending in a comma)."""
    words = [int(w) for w in words]
    depth = DEPTH[mode]
    if len(words) > depth:
        raise ValueError(f"{len(words)} words do not fit a DP16KD in {mode}-bit mode")
    out = []
    for s in range(slices(width, mode)):
        mask = (1 << mode) - 1
        flat = 0
        for k, w in enumerate(words):
            flat |= ((w >> (s * mode)) & mask) << (k * mode)
        lines = []
        for i in range(INITVALS):
            v = 0
            for p in range(16):
                piece = (flat >> ((i * 16 + p) * 18)) & ((1 << 18) - 1)
                v |= piece << (p * 20)
            lines.append(f".INITVAL_{i:02X}(320'h{v:080X}),")
        out.append("\n    ".join(lines))
    return out


def fill_initvals(text: str, contents: dict[str, tuple[Iterable[int], int, int]]) -> str:
    """``text`` (Verilog) with every instance marker replaced by its ``INITVAL_xx``
    parameters; ``contents`` maps a memory name to ``(unsigned words, width, mode)``.

    Raises:
        ValueError: for a marker of a memory not in ``contents``, or a memory whose marker
            is missing.
    """
    params = {name: initval_params(w, width, mode) for name, (w, width, mode) in contents.items()}
    seen: set[str] = set()

    def sub(m: re.Match[str]) -> str:
        name, s = m.group(1), int(m.group(2))
        if name not in params:
            raise ValueError(f"no contents for the DP16KD memory {name}")
        seen.add(name)
        return params[name][s]

    out = _MARKER_RE.sub(sub, text)
    missing = sorted(set(params) - seen)
    if missing:
        raise ValueError(f"no DP16KD instance of the memories {', '.join(missing)}")
    return out
