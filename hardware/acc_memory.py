"""The accumulator buffer as two banks by address parity, so that a vector ALU execution reads
its destination and source tiles in the same cycle when they lie in different banks.

Block RAM has two ports; one ACC read per cycle plus the write already takes both, and a second
copy of the buffer for a second read port does not fit the XC7Z020 (docs/hardware.md). Bank
``b`` holds the tiles whose address has lowest bit ``b``, at address ``addr >> 1``: the same
bits, the same block RAM count. Each bank has one read and one write port, its read port
transparent to its write port, as the single buffer's was.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import Out

from vta.hardware.layouts import elem_bits, log_depth
from vta.isa import Config, MemoryType


def bank_of(address) -> Signal:
    """The bank of an ACC tile address (its lowest bit)."""
    return address[0]


class AccumulatorMemory(wiring.Component):
    """Two-bank ACC buffer with two read ports and one write port.

    Ports
    -----
    dst_rd, src_rd : ``Out(memory.ReadPort.Signature(...))``
        Reads; data one cycle after the address. ``dst_rd.en`` gives `dst_rd` its bank when
        both address the same one (`src_rd` then reads the other bank's word at that
        address); `src_rd.en` is ignored. When both address the same bank the caller reads
        them in two cycles (`vta.hardware.uop_pipeline`).
    wr : ``Out(memory.WritePort.Signature(..., granularity=bus bits))``
    """

    def __init__(self, *, config: Config):
        self.config = config
        bits = log_depth(config, MemoryType.ACC)
        tile = elem_bits(config, MemoryType.ACC)
        read = memory.ReadPort.Signature(addr_width=bits, shape=tile)
        super().__init__({"dst_rd": Out(read), "src_rd": Out(read),
                          "wr": Out(memory.WritePort.Signature(addr_width=bits, shape=tile,
                                                               granularity=config.bus_bits))})

    def elaborate(self, platform):
        m = Module()
        config = self.config
        depth = config.depth(MemoryType.ACC) // 2
        dst_bank, src_bank = Signal(), Signal()
        m.d.sync += [dst_bank.eq(bank_of(self.dst_rd.addr)), src_bank.eq(bank_of(self.src_rd.addr))]
        for bank in range(2):
            m.submodules[f"bank{bank}"] = ram = memory.Memory(
                shape=elem_bits(config, MemoryType.ACC), depth=depth, init=[])
            write = ram.write_port(granularity=config.bus_bits)
            read = ram.read_port(transparent_for=(write,))
            m.d.comb += [write.addr.eq(self.wr.addr[1:]), write.data.eq(self.wr.data),
                         read.en.eq(1), read.addr.eq(self.src_rd.addr[1:])]
            with m.If(bank_of(self.wr.addr) == bank):
                m.d.comb += write.en.eq(self.wr.en)
            with m.If(self.dst_rd.en & (bank_of(self.dst_rd.addr) == bank)):
                m.d.comb += read.addr.eq(self.dst_rd.addr[1:])
            with m.If(dst_bank == bank):
                m.d.comb += self.dst_rd.data.eq(read.data)
            with m.If(src_bank == bank):
                m.d.comb += self.src_rd.data.eq(read.data)
        return m
