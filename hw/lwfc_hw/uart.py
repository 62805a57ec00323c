"""8N1 UART receiver and transmitter of the serial bridge (:mod:`lwfc_hw.serial`).

The bit period is ``div`` clocks (``lwfc_hw.link.uart_timing``). Both are plain counters: no
oversampling clock, no FIFO (the bridge's parser takes a byte the cycle it arrives).
"""

from __future__ import annotations

from myhdl import Signal, always, block, concat, enum, intbv

t_rx = enum("IDLE", "START", "DATA", "STOP")


@block
def uart_rx(clk, rst, rx, data, valid, ferr, div: int):
    """Receiver.

    ``rx`` passes two synchroniser flip-flops. A falling edge starts a byte: the start bit is
    checked ``div // 2`` clocks later (a glitch returns to idle), then each data bit (LSB
    first) and the stop bit are sampled ``div`` clocks apart, at their middles. With a good
    stop bit ``valid`` pulses for one cycle, with a bad one ``ferr`` (the byte is dropped).
    ``data[7:0]`` is the shift register itself: it holds the byte from the ``valid`` cycle
    until the next byte's first data bit (1.5 bit periods at least). Receiver tolerance: see
    ``lwfc_hw.link.UartTiming.tolerance``.
    """
    s1 = Signal(bool(1))
    s2 = Signal(bool(1))
    state = Signal(t_rx.IDLE)
    cnt = Signal(intbv(0, min=0, max=div + 1))
    nbit = Signal(intbv(0, min=0, max=8))
    sh = data
    half = div // 2

    @always(clk.posedge)
    def seq():
        s1.next = rx
        s2.next = s1
        valid.next = 0
        ferr.next = 0
        if rst:
            state.next = t_rx.IDLE
            cnt.next = 0
        elif state == t_rx.IDLE:
            if not s2:
                state.next = t_rx.START
                cnt.next = half
        elif cnt != 0:
            cnt.next = cnt - 1
        elif state == t_rx.START:
            if s2:
                state.next = t_rx.IDLE  # a glitch, not a start bit
            else:
                state.next = t_rx.DATA
                cnt.next = div - 1
                nbit.next = 0
        elif state == t_rx.DATA:
            sh.next = concat(s2, sh[8:1])
            cnt.next = div - 1
            if nbit == 7:
                state.next = t_rx.STOP
            else:
                nbit.next = nbit + 1
        else:  # STOP
            state.next = t_rx.IDLE
            if s2:
                valid.next = 1
            else:
                ferr.next = 1

    return seq


@block
def uart_tx(clk, rst, data, start, busy, tx, div: int):
    """Transmitter: ``start`` (while ``busy`` is low) sends ``data[7:0]``: a start bit, eight
    data bits LSB first, a stop bit, ``div`` clocks each. ``busy`` is high from the edge that
    takes ``start`` until the stop bit has been sent; ``tx`` is a register (idle high)."""
    cnt = Signal(intbv(0, min=0, max=div + 1))
    nbit = Signal(intbv(0, min=0, max=11))
    sh = Signal(intbv(0)[9:])

    @always(clk.posedge)
    def seq():
        if rst:
            busy.next = 0
            tx.next = 1
            nbit.next = 0
            cnt.next = 0
        elif not busy:
            if start:
                busy.next = 1
                tx.next = 0
                sh.next = concat(True, data)  # data bits, then the stop bit
                nbit.next = 9
                cnt.next = div - 1
        elif cnt != 0:
            cnt.next = cnt - 1
        elif nbit != 0:
            tx.next = sh[0]
            sh.next = sh >> 1
            nbit.next = nbit - 1
            cnt.next = div - 1
        else:
            busy.next = 0

    return seq
