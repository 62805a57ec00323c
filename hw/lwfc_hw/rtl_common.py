"""RTL building blocks every engine uses: signal constructors of the datapath widths, the
delay line and the sign extension. Widths: accumulators 32-bit signed (``ACC_BITS``).
"""

from __future__ import annotations

from myhdl import Signal, always, always_comb, block, concat, intbv

from .plan import ACC_BITS

ACC_MIN, ACC_MAX = -(2 ** (ACC_BITS - 1)), 2 ** (ACC_BITS - 1)


def acc_signal(val: int = 0) -> Signal:
    """A 32-bit signed accumulator-width signal."""
    return Signal(intbv(val, min=ACC_MIN, max=ACC_MAX))


def uint(bits: int, val: int = 0) -> Signal:
    return Signal(intbv(val)[bits:])


@block
def delay_line(clk, rst, en, din, dout, n: int):
    """``dout`` is ``din`` delayed by ``n >= 1`` clock edges with ``en`` high (same width as
    ``din``). With ``rst`` (not None) every stage clears on reset (for valid flags)."""
    assert n >= 1
    regs = [Signal(din.val) for _ in range(n)]
    NM1 = n - 1

    if rst is None:

        @always(clk.posedge)
        def seq():
            if en:
                regs[0].next = din
                for i in range(1, n):
                    regs[i].next = regs[i - 1]

    else:

        @always(clk.posedge)
        def seq():
            if rst:
                for i in range(n):
                    regs[i].next = 0
            elif en:
                regs[0].next = din
                for i in range(1, n):
                    regs[i].next = regs[i - 1]

    @always_comb
    def out():
        dout.next = regs[NM1]

    return seq, out


@block
def extend(x, out):
    """``out`` = ``x`` widened to ``len(out) > len(x)`` bits: sign-extended when ``x`` is
    signed (``x.min < 0``), else zero-extended; ``out`` signed or unsigned."""
    W, OW = len(x), len(out)
    assert OW > W
    ZW = OW - W
    ONES = 2**ZW - 1
    out_signed = out.min is not None and out.min < 0
    if not (x.min is not None and x.min < 0):
        assert not out_signed

        @always_comb
        def zero():
            out.next = concat(intbv(0)[ZW:], x[W:])

        return zero

    top = Signal(intbv(0)[ZW:])

    @always_comb
    def sign():
        if x[W - 1]:
            top.next = ONES
        else:
            top.next = 0

    if out_signed:

        @always_comb
        def comb():
            out.next = concat(top, x[W:]).signed()

    else:

        @always_comb
        def comb():
            out.next = concat(top, x[W:])

    return sign, comb
