"""Dependency token queue: a FIFO of data-less tokens, i.e. a bounded counter."""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

#: A token handshake: tokens carry no data (a stream without payload).
TokenSignature = wiring.Signature({"valid": Out(1), "ready": In(1)})


class TokenQueue(wiring.Component):
    """Holds up to `depth` tokens.

    Ports
    -----
    push : ``In(TokenSignature)``
        A token enters on each handshake; ``ready`` is low while the queue is full.
    pop : ``Out(TokenSignature)``
        ``valid`` while at least one token is queued; a handshake removes one.
    level : ``Out(range(depth + 1))``
        Tokens queued.
    """

    def __init__(self, *, depth: int = 64):
        if not isinstance(depth, int) or depth < 1:
            raise ValueError(f"token queue depth must be a positive integer, not {depth!r}")
        self.depth = depth
        super().__init__({"push": In(TokenSignature), "pop": Out(TokenSignature),
                          "level": Out(range(depth + 1))})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [self.push.ready.eq(self.level != self.depth), self.pop.valid.eq(self.level != 0)]
        pushed = self.push.valid & self.push.ready
        popped = self.pop.valid & self.pop.ready
        with m.If(pushed & ~popped):
            m.d.sync += self.level.eq(self.level + 1)
        with m.Elif(popped & ~pushed):
            m.d.sync += self.level.eq(self.level - 1)
        return m
