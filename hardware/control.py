"""AXI4-Lite control slave: the register map of `vta.isa.registers`, the run state and the
performance counters."""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from vta.hardware.axi import AxiLiteSignature
from vta.isa.registers import (CONTROL_ADDR_BITS, CONTROL_START, MODULE_COUNTERS, READABLE,
                               REGISTER_BYTES, STATUS_BUSY, STATUS_DONE, WRITABLE, Register)

#: Event inputs, one per counter register: ``<module>_<busy|stall>``.
EVENT_REGISTERS = {f"{module}_{kind}": register
                   for module, kinds in MODULE_COUNTERS.items() for kind, register in kinds.items()}


class ControlSlave(wiring.Component):
    """The control registers behind an AXI4-Lite slave.

    Ports
    -----
    s_axi : ``In(AxiLiteSignature(addr_width=CONTROL_ADDR_BITS))``
    start : ``Out(1)``
        One-cycle pulse when the host writes CONTROL bit 0.
    insn_addr, insn_count : ``Out(32)``
        The INSN_ADDR and INSN_COUNT registers.
    finish : ``In(1)``
        Pulse when FINISH retires: sets STATUS.done, stops CYCLES.
    <module>_<busy|stall> : ``In(1)``
        Counted every cycle of a run in which they are high (one per counter register).
    """

    def __init__(self):
        members = {"s_axi": In(AxiLiteSignature(addr_width=CONTROL_ADDR_BITS)),
                   "start": Out(1), "insn_addr": Out(32), "insn_count": Out(32), "finish": In(1)}
        members |= {name: In(1) for name in EVENT_REGISTERS}
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        axi = self.s_axi
        running, done = Signal(), Signal()
        cycles = Signal(32)
        counters = {name: Signal(32, name=f"count_{name}") for name in EVENT_REGISTERS}

        values = {Register.STATUS: done * STATUS_DONE | running * STATUS_BUSY,
                  Register.INSN_ADDR: self.insn_addr, Register.INSN_COUNT: self.insn_count,
                  Register.CYCLES: cycles}
        values |= {EVENT_REGISTERS[name]: counter for name, counter in counters.items()}
        readable = {register: values[register] for register in sorted(READABLE)}
        writes = {Register.CONTROL: None, Register.INSN_ADDR: self.insn_addr,
                  Register.INSN_COUNT: self.insn_count}
        assert set(writes) == WRITABLE, "the register map's writable set changed"

        # Writes: take address and data together, answer OKAY.
        bvalid = Signal()
        take_write = axi.awvalid & axi.wvalid & ~bvalid
        m.d.comb += [axi.awready.eq(take_write), axi.wready.eq(take_write), axi.bvalid.eq(bvalid),
                     axi.bresp.eq(0)]
        with m.If(take_write):
            m.d.sync += bvalid.eq(1)
            with m.Switch(axi.awaddr // REGISTER_BYTES):
                for register, target in writes.items():
                    with m.Case(register // REGISTER_BYTES):
                        if target is None:  # CONTROL: a start pulse
                            m.d.comb += self.start.eq((axi.wdata & CONTROL_START).any()
                                                      & axi.wstrb[0])
                        else:
                            m.d.sync += target.eq(axi.wdata)
        with m.Elif(axi.bready):
            m.d.sync += bvalid.eq(0)

        # Reads: one outstanding read, data registered.
        rvalid = Signal()
        m.d.comb += [axi.arready.eq(~rvalid), axi.rvalid.eq(rvalid), axi.rresp.eq(0)]
        with m.If(axi.arvalid & ~rvalid):
            m.d.sync += [rvalid.eq(1), axi.rdata.eq(0)]
            with m.Switch(axi.araddr // REGISTER_BYTES):
                for register, value in readable.items():
                    with m.Case(register // REGISTER_BYTES):
                        m.d.sync += axi.rdata.eq(value)
        with m.Elif(axi.rready):
            m.d.sync += rvalid.eq(0)

        # Run state and counters.
        with m.If(self.start):
            m.d.sync += [running.eq(1), done.eq(0), cycles.eq(0)]
            m.d.sync += [counter.eq(0) for counter in counters.values()]
        with m.Elif(running):
            m.d.sync += cycles.eq(cycles + 1)
            for name, counter in counters.items():
                with m.If(getattr(self, name)):
                    m.d.sync += counter.eq(counter + 1)
            with m.If(self.finish):
                m.d.sync += [running.eq(0), done.eq(1)]
        return m
