"""LOAD UOP: copies `x_size` consecutive 32-bit micro-ops from DRAM into the micro-op buffer.

Micro-ops are narrower than the bus and a load may start anywhere inside a bus word, so the
loader requests the bus words covering the range and writes one micro-op per cycle.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from vta.hardware.axi_master import ReadClientSignature
from vta.hardware.layouts import insn_layout, log_depth
from vta.isa import UOP_BYTES, Config, MemoryType
from vta.isa.config import UOP_BITS


class UopLoad(wiring.Component):
    """Executes LOAD UOP instructions.

    Ports
    -----
    cmd : ``In(stream.Signature(insn_layout(config)))``
        A LOAD UOP with ``x_size > 0``; accepted only while idle.
    busy, mem_wait : ``Out(1)``
    rd : ``Out(ReadClientSignature(config))``
    sram : ``In(memory.WritePort.Signature(addr_width=log uop depth, shape=32))``
    """

    def __init__(self, *, config: Config):
        self.config = config
        super().__init__({
            "cmd": In(stream.Signature(insn_layout(config))), "busy": Out(1), "mem_wait": Out(1),
            "rd": Out(ReadClientSignature(config)),
            "sram": In(memory.WritePort.Signature(addr_width=log_depth(config, MemoryType.UOP),
                                                  shape=UOP_BITS)),
        })

    def elaborate(self, platform):
        m = Module()
        config = self.config
        per_word = config.bus_bits // UOP_BITS
        log_per_word = exact_log2(per_word)
        fields = self.cmd.payload.memory

        running, requesting = Signal(), Signal()
        left = Signal.like(fields.x_size)
        slot = Signal(range(max(per_word, 2)))  # never zero-width
        address = Signal.like(self.sram.addr)
        first_slot = fields.dram_base[:log_per_word] if per_word > 1 else 0
        byte_addr = fields.dram_base << exact_log2(UOP_BYTES)
        m.d.comb += [self.cmd.ready.eq(~running), self.rd.cmd.valid.eq(requesting)]
        with m.If(self.cmd.valid & self.cmd.ready):
            m.d.sync += [running.eq(1), requesting.eq(1), left.eq(fields.x_size),
                         slot.eq(first_slot), address.eq(fields.sram_base),
                         self.rd.cmd.payload.addr.eq(byte_addr & ~(config.bus_bytes - 1)),
                         self.rd.cmd.payload.words.eq(
                             (first_slot + fields.x_size + per_word - 1) >> log_per_word)]
        with m.If(self.rd.cmd.valid & self.rd.cmd.ready):
            m.d.sync += requesting.eq(0)

        m.d.comb += [self.sram.addr.eq(address),
                     self.sram.data.eq(self.rd.data.payload.word_select(slot, UOP_BITS))]
        with m.If(running):
            m.d.comb += self.mem_wait.eq(~self.rd.data.valid)
            with m.If(self.rd.data.valid):
                m.d.comb += self.sram.en.eq(1)
                m.d.sync += [address.eq(address + 1), left.eq(left - 1), slot.eq(slot + 1)]
                with m.If((slot == per_word - 1) | (left == 1)):
                    m.d.comb += self.rd.data.ready.eq(1)
                    m.d.sync += slot.eq(0)
                with m.If(left == 1):
                    m.d.sync += running.eq(0)
        m.d.comb += self.busy.eq(running)
        return m
