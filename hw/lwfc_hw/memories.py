"""Memories and memory control: parameter RAMs, feature-memory lanes, the MCM.

All memories are block-RAM shaped: one synchronous write, registered reads, no reset of the
contents or the read registers.
"""

from __future__ import annotations

from typing import Any

from myhdl import Signal, always, always_comb, block, concat, enum, intbv

from . import ecp5_bram, myhdl_fast
from .plan import HOST_DATA_BITS, MemSpec

# every RTL module imports this one: elaborate and convert with lwfc_hw.myhdl_fast
myhdl_fast.install()


def named(name: str, inst: Any) -> Any:
    """Give a block instance a readable name (the prefix of its signals in the Verilog)."""
    inst.name = name
    return inst


#: The two states of a feature-memory half in the MCM (paper: WRITE / READ).
t_half = enum("WRITE", "READ")


def _host_ext(spec: MemSpec, word: str) -> str:
    """Verilog expression widening ``word`` (``spec.width`` bits) to the 32-bit host bus."""
    pad = HOST_DATA_BITS - spec.width
    if pad == 0:
        return word
    if spec.signed:
        return "{{" + str(pad) + "{" + word + "[" + str(spec.width - 1) + "]}}, " + word + "}"
    return "{" + str(pad) + "'d0, " + word + "}"


@block
def param_ram(clk, re, addr_a, dout_a, h_sel, h_we, h_addr, h_wdata, dout_b, spec: MemSpec,
              sel_bits: int, hown=None, reads: int = 2):
    """A parameter memory (weight bank, bias or requantization table) with two ports.

    Both ports read with **two** cycles of latency: the block RAM's registered read, then an
    output register (no logic in between, so the slow block-RAM clock-to-output path ends at
    a flip-flop placed next to it). Port A (engine): on a clock edge with ``re`` high,
    ``ra <= mem[addr_a]`` and ``dout_a <= ra`` (``spec.width`` bits, signed for weights and
    biases; ``addr_a`` must be at least ``spec.abits`` wide, its low ``abits`` bits are
    used). Port B (host): every cycle ``rb <= mem[h_addr]`` (32 bits, sign- or zero-extended,
    read before write), ``dout_b <= rb`` and, when ``h_we`` and ``h_sel == spec.sel``,
    ``mem[h_addr] <= h_wdata[width-1:0]``.

    The memory carries ``(* no_rw_check *)`` (parameters are written only while the core is
    idle), so synthesis maps both ports to one true-dual-port block RAM. Converted through a
    ``verilog_code`` template so that the contents come from
    ``$readmemh("<name>.hex")`` (prefixed by the macro ``LWFC_MEMDIR`` when it is defined)
    instead of a giant initial block. The MyHDL model below is a plain Python memory.

    With ``hown`` (a signal: the host owns the memory, i.e. the core is idle) the memory has
    a single read port, see :func:`shared_param_ram`; only that form takes ``reads == 1``
    (one-cycle reads: ``dout_a`` is the block RAM's own read register).
    """
    if hown is not None:
        return shared_param_ram(clk, re, addr_a, dout_a, h_sel, h_we, h_addr, h_wdata, dout_b,
                                hown, spec, sel_bits, reads)
    if reads != 2:
        raise ValueError(f"param_ram {spec.name}: {reads}-cycle reads need a shared port")
    return dual_param_ram(clk, re, addr_a, dout_a, h_sel, h_we, h_addr, h_wdata, dout_b, spec,
                          sel_bits)


@block
def dual_param_ram(clk, re, addr_a, dout_a, h_sel, h_we, h_addr, h_wdata, dout_b,
                   spec: MemSpec, sel_bits: int):
    """:func:`param_ram` with an engine read port and a host read/write port."""
    name = spec.name
    depth = spec.depth
    width = spec.width
    abits = spec.abits
    hexfile = spec.hexfile
    sel = spec.sel
    sb = sel_bits
    mem = [0] * depth
    mask = (1 << width) - 1
    _template_names = (name, hexfile, sb)  # read by the verilog_code template below

    pipe = [0, 0]  # the first read registers of port A and port B

    def _signed(v: int) -> int:
        return v - (1 << width) if spec.signed and v >> (width - 1) else v

    @always(clk.posedge)
    def model():
        a = int(h_addr) & ((1 << abits) - 1)
        old = mem[a] if a < depth else 0
        if h_we and int(h_sel) == sel and a < depth:
            mem[a] = int(h_wdata) & mask
        dout_b.next = pipe[1]
        pipe[1] = _signed(old) & ((1 << HOST_DATA_BITS) - 1)
        if re:
            aa = int(addr_a) & ((1 << abits) - 1)
            dout_a.next = pipe[0]
            pipe[0] = _signed(mem[aa]) if aa < depth else 0

    for s in (re, addr_a, h_sel, h_we, h_addr, h_wdata):
        s.read = True
    if spec.prim == "dp16kd":
        dout_a.driven = "wire"
        dout_b.driven = "wire"
        dual_param_ram.verilog_code = _dp16kd_code(spec, sel_bits)
        return model
    dout_a.driven = "reg"
    dout_b.driven = "reg"
    ext = _host_ext(spec, "${name}[${h_addr}[" + str(abits - 1) + ":0]]")
    dual_param_ram.verilog_code = (
        """
// ${name}: ${depth} x ${width} bit parameter memory, host id ${sel}
// no_rw_check: the host writes only while the core is idle, so a same-address read and
// write never happen together and the two ports map to one true-dual-port block RAM
(* no_rw_check *)
reg [${width}-1:0] ${name} [0:${depth}-1];
initial begin
`ifdef LWFC_MEMDIR
    $$readmemh({`LWFC_MEMDIR, "${hexfile}"}, ${name});
`else
    $$readmemh("${hexfile}", ${name});
`endif
end
// two-cycle reads: the block RAM's read register, then an output register
reg [${width}-1:0] ${name}_ra;
reg [31:0] ${name}_rb;
always @(posedge ${clk}) begin
    if (${re}) begin
        ${name}_ra <= ${name}[${addr_a}[${abits}-1:0]];
        ${dout_a} <= ${name}_ra;
    end
end
always @(posedge ${clk}) begin
    if (${h_we} && (${h_sel} == ${sb}'d${sel})) begin
        ${name}[${h_addr}[${abits}-1:0]] <= ${h_wdata}[${width}-1:0];
    end
    ${name}_rb <= """
        + ext
        + """;
    ${dout_b} <= ${name}_rb;
end
"""
    )
    return model


def _dp16kd_code(spec: MemSpec, sel_bits: int) -> str:
    """The ``verilog_code`` of a :func:`dual_param_ram` built from ECP5 DP16KD instances
    (``spec.prim == "dp16kd"``, :mod:`lwfc_hw.ecp5_bram`): the primitive's output register
    is the second read register, so both ports keep their two-cycle reads."""
    mode = ecp5_bram.dp16kd_mode(spec.depth, spec.width)
    n = ecp5_bram.slices(spec.width, mode)
    w = spec.width
    name = spec.name
    we = f"${{h_we}} && (${{h_sel}} == {sel_bits}'d{spec.sel})"
    return (
        f"""
// {name}: {spec.depth} x {w} bit parameter memory, host id {spec.sel}: {n} ECP5 DP16KD in
// {mode}-bit mode with output registers (two-cycle reads on both ports); port A: the engine's
// reads, port B: the host's reads (every cycle, read before write) and writes. The
// contents are INITVAL parameters (lwfc_hw.ecp5_bram.fill_initvals); without them the
// memory starts at zero and is loaded through the host port.
"""
        + ecp5_bram.instance_text(name, w, spec.abits, mode, clk="${clk}", ce_a="${re}",
                                  addr_a="${addr_a}", addr_b="${h_addr}", we_b=we,
                                  wdata_b="${h_wdata}")
        + f"""assign ${{dout_a}} = {name}_doa[{w - 1}:0];
wire [{w - 1}:0] {name}_wb = {name}_dob[{w - 1}:0];
assign ${{dout_b}} = {_host_ext(spec, name + "_wb")};
"""
    )


@block
def shared_param_ram(clk, re, addr_a, dout_a, h_sel, h_we, h_addr, h_wdata, dout_b, hown,
                     spec: MemSpec, sel_bits: int, reads: int = 2):
    """:func:`param_ram` with one read port shared by the engine and the host.

    The read address is ``h_addr`` while ``hown`` is high (the core is idle) and the low
    ``spec.abits`` bits of ``addr_a`` otherwise. Reads take two cycles, as in
    :func:`dual_param_ram`: on an edge with ``re`` or ``hown`` high, ``ra <= mem[address]``
    (skipped on an SPRAM write edge, see below) and ``dout_a <= ra``. ``dout_b`` is
    ``dout_a`` widened to 32 bits (a wire), so host readback keeps the core's
    ``READBACK_LATENCY`` (address, two edges to ``dout_a``, the core's select register) but
    is valid only while ``hown`` is high (and was high for the two edges before). A host
    write (``h_we`` and ``h_sel == spec.sel``) stores ``h_wdata[width-1:0]`` at ``h_addr``.

    ``spec.spram``: one port for reads and writes and no initial contents, the shape Yosys
    maps to SB_SPRAM256KA (``synth_ice40 -spram``; a bank deeper than one SPRAM is cascaded
    by Yosys, its read multiplexer ending at the ``dout_a`` register); the host writes
    through the shared address, so writes need ``hown``. Otherwise the write port is separate
    and the contents come from ``$readmemh`` as in :func:`dual_param_ram`: one read and one
    write port, one SB_RAM40_4K per 4 kbit on iCE40.

    ``reads == 1`` (not for SPRAM): ``dout_a`` is the read register itself, one edge from
    address to data, and no fabric register copies the block RAM's output (on iCE40 such a
    copy takes a logic cell per bit: nothing packs with it). The host's readback still meets
    ``READBACK_LATENCY``: while ``hown`` the memory reads the held ``h_addr`` at every edge,
    and every host reader (the serial bridge's VERIFY, ``hw/tb/tb_lwfc.v``) holds the address
    for the whole latency.
    """
    if reads not in (1, 2):
        raise ValueError(f"shared_param_ram {spec.name}: reads must be 1 or 2, got {reads!r}")
    if reads == 1 and spec.spram:
        raise ValueError(f"shared_param_ram {spec.name}: an SPRAM bank keeps two-cycle reads")
    name = spec.name
    depth = spec.depth
    width = spec.width
    abits = spec.abits
    hexfile = spec.hexfile
    sel = spec.sel
    sb = sel_bits
    mem = [0] * depth
    mask = (1 << width) - 1
    amask = (1 << abits) - 1
    wmask = (1 << HOST_DATA_BITS) - 1
    ab = len(addr_a)
    _template_names = (name, hexfile, sb, ab)  # read by the verilog_code template below
    pipe = [0]  # the memory's read register (ra)

    def _signed(v: int) -> int:
        return v - (1 << width) if spec.signed and v >> (width - 1) else v

    assert ab >= abits, f"{name}: engine address of {ab} bits for {abits} address bits"
    spram = spec.spram

    @always(clk.posedge)
    def model():
        ha = int(h_addr) & amask
        a = ha if hown else int(addr_a) & amask
        write = bool(h_we) and int(h_sel) == sel
        if re or hown:
            before = pipe[0]
            if not (spram and write):
                pipe[0] = _signed(mem[a]) if a < depth else 0  # read before write
            # two-cycle reads: the read register's previous word; one-cycle: the new one
            dout_a.next = before if reads == 2 else pipe[0]
        w = a if spram else ha
        if write and w < depth:
            mem[w] = int(h_wdata) & mask

    @always_comb
    def widen():
        dout_b.next = int(dout_a) & wmask

    dout_a.driven = "reg"
    dout_b.driven = "wire"
    for s in (re, addr_a, h_sel, h_we, h_addr, h_wdata, hown):
        s.read = True
    ext = _host_ext(spec, "${dout_a}")
    head = """
// ${name}: ${depth} x ${width} bit parameter memory, host id ${sel}, one read port: the
// engine's address while images are in flight, the host's (${h_addr}) while ${hown};
""" + ("""// two-cycle reads: the memory's read register, then an output register
""" if reads == 2 else """// one-cycle reads: the memory's read register is the output
""")
    addr = (
        "wire [" + str(abits) + "-1:0] ${name}_a = ${hown} ? ${h_addr}[" + str(abits)
        + "-1:0] : ${addr_a}[" + str(abits) + "-1:0];\n"
        + "assign ${dout_b} = " + ext + ";\n")
    if reads == 2:
        addr += """reg [${width}-1:0] ${name}_ra;
always @(posedge ${clk}) begin
    if (${re} || ${hown}) begin
        ${dout_a} <= ${name}_ra;
    end
end
"""
    # the read register: the block RAM's own (2: then an output register; 1: the output)
    ra = "${name}_ra" if reads == 2 else "${dout_a}"
    if spec.spram:
        body = """// single port, no initial contents (SPRAM): loaded through the host port;
// ram_style "huge" makes Yosys use SPRAM even where block RAM is cheaper by its cost model
(* ram_style = "huge" *)
reg [${width}-1:0] ${name} [0:${depth}-1];
always @(posedge ${clk}) begin
    if (${h_we} && (${h_sel} == ${sb}'d${sel})) begin
        ${name}[${name}_a] <= ${h_wdata}[${width}-1:0];
    end else if (${re} || ${hown}) begin
        """ + ra + """ <= ${name}[${name}_a];
    end
end
"""
    else:
        body = """(* no_rw_check *)
reg [${width}-1:0] ${name} [0:${depth}-1];
initial begin
`ifdef LWFC_MEMDIR
    $$readmemh({`LWFC_MEMDIR, "${hexfile}"}, ${name});
`else
    $$readmemh("${hexfile}", ${name});
`endif
end
always @(posedge ${clk}) begin
    if (${h_we} && (${h_sel} == ${sb}'d${sel})) begin
        ${name}[${h_addr}[${abits}-1:0]] <= ${h_wdata}[${width}-1:0];
    end
end
always @(posedge ${clk}) begin
    if (${re} || ${hown}) begin
        """ + ra + """ <= ${name}[${name}_a];
    end
end
"""
    shared_param_ram.verilog_code = head + addr + body
    return model, widen


@block
def fmem_lane(clk, wr_en, wr_half, wr_div, wr_mod, wr_cnt, wr_data, rd_en, rd_half, rd_addr,
              rd_data, q: int, Q: int, W: int, abits: int):
    """Lane ``q`` of a ``Q``-lane ping-pong feature memory (uint8 entries).

    Holds elements ``i`` with ``i % Q == q`` at address ``{half, i // Q}``. Write side: the
    writer stores ``wr_cnt`` (0 ... W) consecutive elements starting at element
    ``wr_div * Q + wr_mod``. With ``W == 1``, ``wr_data`` is the element (8 bits); otherwise
    it is ``8 * Q`` bits in lane order (byte ``q`` for lane ``q``) and this lane is written
    when ``(q - wr_mod) mod Q < wr_cnt``. Entries beyond an image's end are never written;
    the engines mask them (see :func:`~lwfc_hw.mac.mac_array`). Read side: registered read of
    ``{rd_half, rd_addr}`` when ``rd_en``.
    """
    mem = [Signal(intbv(0)[8:]) for _ in range(2 ** (abits + 1))]
    QQ = q + Q
    BB = len(wr_cnt)
    LO, HI = 8 * q, 8 * q + 8

    if W == 1:

        @always(clk.posedge)
        def write():
            if wr_en and wr_cnt != 0 and wr_mod == q:
                mem[concat(wr_half, wr_div)].next = wr_data

    else:

        @always(clk.posedge)
        def write():
            b = intbv(0)[BB:]
            a = intbv(0)[abits:]
            if wr_en:
                if wr_mod <= q:
                    b[:] = q - wr_mod
                else:
                    b[:] = QQ - wr_mod
                if b < wr_cnt:
                    a[:] = wr_div
                    if q < wr_mod:
                        a[:] = wr_div + 1
                    mem[concat(wr_half, a)].next = wr_data[HI:LO]

    @always(clk.posedge)
    def read():
        if rd_en:
            rd_data.next = mem[concat(rd_half, rd_addr)]

    return write, read


@block
def mcm(clk, rst, commit, release, wr_ok, rd_ok, wr_half, rd_half):
    """Memory control module of one ping-pong feature memory.

    Each half is in state WRITE (free: the producer may fill it) or READ (full: the consumer
    may read it). ``commit`` (producer finished the half ``wr_half``) moves it to READ and
    flips ``wr_half``; ``release`` (consumer finished ``rd_half``) moves it back to WRITE and
    flips ``rd_half``. ``wr_ok`` / ``rd_ok`` (combinational from registers) tell whether the
    current half may be written / read.
    """
    st0 = Signal(t_half.WRITE)
    st1 = Signal(t_half.WRITE)

    @always(clk.posedge)
    def seq():
        if rst:
            st0.next = t_half.WRITE
            st1.next = t_half.WRITE
            wr_half.next = 0
            rd_half.next = 0
        else:
            if commit:
                if wr_half:
                    st1.next = t_half.READ
                else:
                    st0.next = t_half.READ
                wr_half.next = not wr_half
            if release:
                if rd_half:
                    st1.next = t_half.WRITE
                else:
                    st0.next = t_half.WRITE
                rd_half.next = not rd_half

    @always_comb
    def comb():
        if wr_half:
            wr_ok.next = st1 == t_half.WRITE
        else:
            wr_ok.next = st0 == t_half.WRITE
        if rd_half:
            rd_ok.next = st1 == t_half.READ
        else:
            rd_ok.next = st0 == t_half.READ

    return seq, comb
