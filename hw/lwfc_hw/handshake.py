"""The layer state control module (L-SCM): the hand-shake between a layer's engine and the
feature memories on both sides of it.
"""

from __future__ import annotations

from myhdl import Signal, always, always_comb, block, enum

#: L-SCM states.
t_lscm = enum("IDLE", "BUSY")


@block
def lscm(clk, rst, in_ok, out_ok, start, eng_done, release, commit):
    """Layer state control module: starts the layer's engine(s) when the input memory holds
    an image (``in_ok``) and the next memory has a free half (``out_ok``); when the engine
    reports ``eng_done`` it releases the input half and commits the output half (hand-shakes
    with both neighbouring layers' MCMs). ``start`` is a one-cycle registered pulse.
    """
    state = Signal(t_lscm.IDLE)

    @always(clk.posedge)
    def seq():
        if rst:
            state.next = t_lscm.IDLE
            start.next = 0
        elif state == t_lscm.IDLE:
            if in_ok and out_ok:
                state.next = t_lscm.BUSY
                start.next = 1
            else:
                start.next = 0
        else:
            start.next = 0
            if eng_done:
                state.next = t_lscm.IDLE

    @always_comb
    def hs():
        release.next = state == t_lscm.BUSY and eng_done
        commit.next = state == t_lscm.BUSY and eng_done

    return seq, hs
