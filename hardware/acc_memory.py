"""The accumulator buffer as two banks by address parity, so that a vector ALU execution reads
its destination and source tiles in the same cycle when they lie in different banks.

Block RAM has two ports; one ACC read per cycle plus the write already takes both, and a second
copy of the buffer for a second read port does not fit the XC7Z020 (docs/hardware.md). Bank
``b`` holds the tiles whose address has lowest bit ``b``, at address ``addr >> 1``: the same
bits, the same block RAM count. Each bank has one read and one write port, its read port
transparent to its write port, as the single buffer's was.
"""

from amaranth.hdl import Cat, Module, Signal
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


def half_of(address) -> Signal:
    """The ACC half of a tile address (its top bit)."""
    return address[-1]


class SplitAccumulatorMemory(wiring.Component):
    """ACC for the compute module's two units (`Machine.overlap_kernels` > 0): four banks, by
    half (top address bit) and parity (lowest bit), each with one read and one write port.

    The GEMM unit reads and writes its destination tiles, the ALU unit reads its destination
    and source tiles and writes its destination; the ACC loader writes. The compute module runs
    the two units at once only when they work in different halves, and LOAD ACC only when
    both are idle, so no two requesters address one bank in a cycle, except the ALU unit's own
    two reads (a bank conflict, which it resolves as `AccumulatorMemory`'s caller does: its
    destination read, when enabled, wins the bank).

    Ports
    -----
    gemm_rd, alu_dst_rd, alu_src_rd : ``Out(memory.ReadPort.Signature(...))``
        Reads (data one cycle after the address) where ``en`` is high.
    gemm_wr, alu_wr : ``Out(memory.WritePort.Signature(...))``
        Whole-tile writes.
    load_wr : ``Out(memory.WritePort.Signature(..., granularity=bus bits))``
        The ACC loader's writes.
    """

    def __init__(self, *, config: Config):
        self.config = config
        bits = log_depth(config, MemoryType.ACC)
        tile = elem_bits(config, MemoryType.ACC)
        read = memory.ReadPort.Signature(addr_width=bits, shape=tile)
        write = memory.WritePort.Signature(addr_width=bits, shape=tile)
        super().__init__({"gemm_rd": Out(read), "alu_dst_rd": Out(read), "alu_src_rd": Out(read),
                          "gemm_wr": Out(write), "alu_wr": Out(write),
                          "load_wr": Out(memory.WritePort.Signature(
                              addr_width=bits, shape=tile, granularity=config.bus_bits))})

    def elaborate(self, platform):
        m = Module()
        config = self.config
        # A bank holds the tiles of one parity in one half, at the address bits between. ACC of
        # two tiles has no such bits: its parities are its halves, one tile in bank 0, one in 3.
        depth = max(config.depth(MemoryType.ACC) // 4, 1)

        def bank(address):
            return Cat(bank_of(address), half_of(address))

        def row(address):
            return address[1:max(len(address) - 1, 1)]

        readers = (self.alu_dst_rd, self.alu_src_rd, self.gemm_rd)   # by priority
        selected = [Signal(2, name=f"bank_{n}") for n in range(len(readers))]
        m.d.sync += [chosen.eq(bank(reader.addr)) for chosen, reader in zip(selected, readers)]
        for number in range(4):
            ram = memory.Memory(shape=elem_bits(config, MemoryType.ACC), depth=depth, init=[])
            m.submodules[f"bank{number}"] = ram
            write = ram.write_port(granularity=config.bus_bits)
            read = ram.read_port(transparent_for=(write,))
            with m.If(self.load_wr.en.any() & (bank(self.load_wr.addr) == number)):
                m.d.comb += [write.addr.eq(row(self.load_wr.addr)),
                             write.data.eq(self.load_wr.data), write.en.eq(self.load_wr.en)]
            for writer in (self.alu_wr, self.gemm_wr):
                with m.If(writer.en & (bank(writer.addr) == number)):
                    m.d.comb += [write.addr.eq(row(writer.addr)), write.data.eq(writer.data),
                                 write.en.eq(-1)]
            m.d.comb += read.en.eq(1)
            for reader in reversed(readers):      # the last assignment wins
                with m.If(reader.en & (bank(reader.addr) == number)):
                    m.d.comb += read.addr.eq(row(reader.addr))
            for chosen, reader in zip(selected, readers):
                with m.If(chosen == number):
                    m.d.comb += reader.data.eq(read.data)
        return m


class SplitOutMemory(wiring.Component):
    """OUT for the compute module's two units: two halves by the top address bit, each with one
    write port (the GEMM or the ALU unit, whichever addresses it; they never address one half
    in the same cycle) and one read port (the store module's, data one cycle after the
    address).

    Ports
    -----
    gemm_wr, alu_wr : ``Out(memory.WritePort.Signature(...))``
    rd : ``Out(memory.ReadPort.Signature(...))``
    """

    def __init__(self, *, config: Config):
        self.config = config
        bits = log_depth(config, MemoryType.OUT)
        tile = elem_bits(config, MemoryType.OUT)
        write = memory.WritePort.Signature(addr_width=bits, shape=tile)
        super().__init__({"gemm_wr": Out(write), "alu_wr": Out(write),
                          "rd": Out(memory.ReadPort.Signature(addr_width=bits, shape=tile))})

    def elaborate(self, platform):
        m = Module()
        config = self.config
        depth = config.depth(MemoryType.OUT) // 2
        chosen = Signal()
        with m.If(self.rd.en):
            m.d.sync += chosen.eq(half_of(self.rd.addr))
        for half in range(2):
            ram = memory.Memory(shape=elem_bits(config, MemoryType.OUT), depth=depth, init=[])
            m.submodules[f"half{half}"] = ram
            write = ram.write_port()
            read = ram.read_port()
            for writer in (self.alu_wr, self.gemm_wr):
                with m.If(writer.en & (half_of(writer.addr) == half)):
                    m.d.comb += [write.addr.eq(writer.addr[:-1]), write.data.eq(writer.data),
                                 write.en.eq(1)]
            m.d.comb += [read.addr.eq(self.rd.addr[:-1]), read.en.eq(self.rd.en)]
            with m.If(chosen == half):
                m.d.comb += self.rd.data.eq(read.data)
        return m
