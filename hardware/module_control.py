"""The instruction life cycle shared by the load, compute and store modules.

Each module takes instructions in order from its command queue, waits for (and consumes) the
tokens the instruction pops, executes it, then pushes the tokens it asks for (reference §5).
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream

from vta.hardware.layouts import insn_layout
from vta.isa import Config


class InstructionCycle:
    """Builds the FETCH → TOKENS → EXECUTE → PUSH state machine into `m`.

    `pops` and `pushes` map an instruction flag name (``pop_prev_dep``...) to a token stream
    (consumer side for pops, producer side for pushes). After construction, ``insn`` is the
    current instruction, ``start`` pulses when execution may begin, and the caller drives
    ``done`` high (for at least one cycle) when execution has finished; ``stall`` is high while
    the instruction waits for tokens and ``executing`` while it executes (pushes included).
    """

    def __init__(self, m: Module, config: Config, queue: stream.Interface,
                 pops: dict, pushes: dict):
        self.insn = Signal(insn_layout(config))
        self.start, self.done = Signal(), Signal()
        self.stall, self.executing = Signal(), Signal()
        header = self.insn.header
        pending = {name: Signal(name=f"pending_{name}") for name in pushes}

        with m.FSM(name="insn_cycle"):
            with m.State("FETCH"):
                m.d.comb += queue.ready.eq(1)
                with m.If(queue.valid):
                    m.d.sync += self.insn.eq(queue.payload)
                    m.next = "TOKENS"
            with m.State("TOKENS"):
                available = 1
                for name, token in pops.items():
                    available = available & (~getattr(header, name) | token.valid)
                with m.If(available):
                    for name, token in pops.items():
                        m.d.comb += token.ready.eq(getattr(header, name))
                    m.d.comb += self.start.eq(1)
                    m.next = "EXECUTE"
                with m.Else():
                    m.d.comb += self.stall.eq(1)
            with m.State("EXECUTE"):
                m.d.comb += self.executing.eq(1)
                with m.If(self.done):
                    m.d.sync += [pending[name].eq(getattr(header, name)) for name in pushes]
                    m.next = "PUSH"
            with m.State("PUSH"):
                m.d.comb += self.executing.eq(1)
                for name, token in pushes.items():
                    m.d.comb += token.valid.eq(pending[name])
                    with m.If(token.ready):
                        m.d.sync += pending[name].eq(0)
                blocked = 0
                for name, token in pushes.items():
                    blocked = blocked | (pending[name] & ~token.ready)
                with m.If(~blocked):
                    m.next = "FETCH"
