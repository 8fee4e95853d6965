"""The instruction life cycle shared by the load, compute and store modules.

Each module takes instructions in order from its command queue, waits for (and consumes) the
tokens the instruction pops, executes it, then pushes the tokens it asks for (isa-reference §5).
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream

from vta.hardware.layouts import insn_layout
from vta.isa import Config
from vta.isa import Module as IsaModule
from vta.isa.opcodes import FLAG_QUEUES, POP_FLAGS, PUSH_FLAGS


def token_ports(component, module: IsaModule) -> tuple[dict, dict]:
    """(pops, pushes) of `module` for `InstructionCycle`: each dependency flag the module has
    (`FLAG_QUEUES`) mapped to the component's port of that token queue (``l2g``, ...)."""
    queues = FLAG_QUEUES[module]
    ports = {flag: getattr(component, queue.name.lower()) for flag, queue in queues.items()}
    return ({flag: port for flag, port in ports.items() if flag in POP_FLAGS},
            {flag: port for flag, port in ports.items() if flag in PUSH_FLAGS})


class InstructionCycle:
    """Builds the ISSUE → EXECUTE (→ PUSH) state machine into `m`.

    ISSUE: the head of the command queue issues in the cycle all the tokens it pops are
    available; the instruction and its tokens are consumed and ``start`` pulses. EXECUTE lasts
    until the caller raises ``done``; in that cycle the pushed tokens are offered, and if every
    one is accepted the module is back in ISSUE on the next cycle (otherwise it waits in PUSH).
    So an instruction costs one cycle plus its execution.

    `pops` and `pushes` map an instruction flag name (``pop_prev_dep``...) to a token interface
    (consumer side for pops, producer side for pushes). ``insn`` is the queue head in the
    ``start`` cycle and the issued instruction afterwards; ``stall`` is high while an
    instruction waits for tokens, ``executing`` while one executes (pushes included).
    """

    def __init__(self, m: Module, config: Config, queue: stream.Interface,
                 pops: dict, pushes: dict):
        layout = insn_layout(config)
        self.insn = Signal(layout)
        self.start, self.done = Signal(), Signal()
        self.stall, self.executing = Signal(), Signal()
        issued = Signal(layout)
        head = layout(queue.payload)
        pending = {name: Signal(name=f"pending_{name}") for name in pushes}
        m.d.comb += self.insn.eq(issued)

        with m.FSM(name="insn_cycle"):
            with m.State("ISSUE"):
                m.d.comb += self.insn.eq(queue.payload)
                available = queue.valid
                for name, token in pops.items():
                    available = available & (~getattr(head.header, name) | token.valid)
                with m.If(available):
                    m.d.comb += [queue.ready.eq(1), self.start.eq(1)]
                    m.d.comb += [token.ready.eq(getattr(head.header, name))
                                 for name, token in pops.items()]
                    m.d.sync += issued.eq(queue.payload)
                    m.next = "EXECUTE"
                with m.Elif(queue.valid):
                    m.d.comb += self.stall.eq(1)
            with m.State("EXECUTE"):
                m.d.comb += self.executing.eq(1)
                with m.If(self.done):
                    blocked = 0
                    for name, token in pushes.items():
                        wanted = getattr(issued.header, name)
                        m.d.comb += token.valid.eq(wanted)
                        m.d.sync += pending[name].eq(wanted & ~token.ready)
                        blocked = blocked | (wanted & ~token.ready)
                    with m.If(blocked):
                        m.next = "PUSH"
                    with m.Else():
                        m.next = "ISSUE"
            with m.State("PUSH"):
                m.d.comb += self.executing.eq(1)
                blocked = 0
                for name, token in pushes.items():
                    m.d.comb += token.valid.eq(pending[name])
                    with m.If(token.ready):
                        m.d.sync += pending[name].eq(0)
                    blocked = blocked | (pending[name] & ~token.ready)
                with m.If(~blocked):
                    m.next = "ISSUE"
