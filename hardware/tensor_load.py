"""2-D strided tensor load with zero padding (isa-reference §4.1), for INP, WGT and ACC buffers.

The SRAM image is the dense block of ``(y_pad_0 + y_size + y_pad_1)`` rows of
``xw = x_pad_0 + x_size + x_pad_1`` tiles starting at `sram_base`. Rows are requested from DRAM
ahead of the writer (one read command per row); pad tiles take one cycle each, data tiles one
cycle per bus word, written into the SRAM row with a per-bus-word write enable.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from vta.hardware.axi_master import ReadClientSignature
from vta.hardware.layouts import elem_bits, insn_layout, log_depth
from vta.isa import Config, MemoryType, layouts


def sram_write_signature(config: Config, memory_type: MemoryType) -> memory.WritePort.Signature:
    """The write port of a tile buffer, writable one bus word at a time."""
    return memory.WritePort.Signature(addr_width=log_depth(config, memory_type),
                                      shape=elem_bits(config, memory_type),
                                      granularity=config.bus_bits)


class TensorLoad(wiring.Component):
    """Executes LOAD instructions of one memory type.

    Ports
    -----
    cmd : ``In(stream.Signature(insn_layout(config)))``
        A LOAD with ``x_size > 0``; accepted only while idle.
    busy : ``Out(1)``
        High from the accepted command until the last tile is written.
    mem_wait : ``Out(1)``
        High while the writer waits for data from memory.
    rd : ``Out(ReadClientSignature(config))``
    sram : ``In(sram_write_signature(config, memory_type))``
        Drives the buffer's write port.
    """

    def __init__(self, *, config: Config, memory_type: MemoryType):
        config.check_bus()      # tiles arrive as whole bus words
        self.config, self.memory_type = config, memory_type
        super().__init__({"cmd": In(stream.Signature(insn_layout(config))), "busy": Out(1),
                          "mem_wait": Out(1), "rd": Out(ReadClientSignature(config)),
                          "sram": In(sram_write_signature(config, memory_type))})

    def elaborate(self, platform):
        m = Module()
        config = self.config
        words_per_tile = elem_bits(config, self.memory_type) // config.bus_bits
        log_elem_bytes = exact_log2(config.elem_bytes(self.memory_type))
        insn = Signal(insn_layout(config))
        fields = insn.memory
        go = Signal()

        m.d.comb += self.cmd.ready.eq(~self.busy)
        with m.If(self.cmd.valid & self.cmd.ready):
            m.d.sync += [insn.eq(self.cmd.payload), go.eq(1)]
        with m.Else():
            m.d.sync += go.eq(0)

        # Row requests.
        requesting = Signal()
        rows_left = Signal.like(fields.y_size)
        row_addr = Signal(32)
        m.d.comb += [self.rd.cmd.payload.addr.eq(row_addr),
                     self.rd.cmd.payload.words.eq(fields.x_size * words_per_tile),
                     self.rd.cmd.valid.eq(requesting)]
        with m.If(go):
            m.d.sync += [rows_left.eq(fields.y_size), requesting.eq(fields.y_size != 0),
                         row_addr.eq(fields.dram_base << log_elem_bytes)]
        with m.Elif(self.rd.cmd.valid & self.rd.cmd.ready):
            m.d.sync += [rows_left.eq(rows_left - 1), requesting.eq(rows_left != 1),
                         row_addr.eq(row_addr + (fields.x_stride << log_elem_bytes))]

        # Tile writer: walks the dense padded block.
        writing = Signal()
        # A padded block is at most 2·(largest pad) + (largest size) rows or columns.
        memory_fields = layouts(self.config).memory
        block_span = 2 * memory_fields["y_pad_0"].maximum + memory_fields["y_size"].maximum + 1
        total_rows = Signal(range(block_span))
        row = Signal.like(total_rows)
        column = Signal(range(block_span))
        word = Signal(range(max(words_per_tile, 2)))  # never zero-width
        address = Signal.like(self.sram.addr)
        row_width = fields.x_pad_0 + fields.x_size + fields.x_pad_1
        data_row = (row >= fields.y_pad_0) & (row < fields.y_pad_0 + fields.y_size)
        data_column = (column >= fields.x_pad_0) & (column < fields.x_pad_0 + fields.x_size)
        is_data = data_row & data_column

        m.d.comb += [self.sram.addr.eq(address),
                     self.sram.data.eq(Cat([self.rd.data.payload] * words_per_tile))]
        advance = Signal()
        with m.If(writing):
            with m.If(is_data):
                m.d.comb += [self.rd.data.ready.eq(1), self.mem_wait.eq(~self.rd.data.valid)]
                with m.If(self.rd.data.valid):
                    m.d.comb += self.sram.en.eq(1 << word)
                    m.d.sync += word.eq(word + 1)
                    with m.If(word == words_per_tile - 1):
                        m.d.sync += word.eq(0)
                        m.d.comb += advance.eq(1)
            with m.Else():
                m.d.comb += [self.sram.data.eq(0), self.sram.en.eq(-1), advance.eq(1)]
        with m.If(go):
            m.d.sync += [writing.eq(1), row.eq(0), column.eq(0), word.eq(0),
                         address.eq(fields.sram_base),
                         total_rows.eq(fields.y_pad_0 + fields.y_size + fields.y_pad_1)]
        with m.Elif(advance):
            m.d.sync += [address.eq(address + 1), column.eq(column + 1)]
            with m.If(column == row_width - 1):
                m.d.sync += [column.eq(0), row.eq(row + 1)]
                with m.If(row == total_rows - 1):
                    m.d.sync += writing.eq(0)
        with m.If(go & (fields.y_pad_0 + fields.y_size + fields.y_pad_1 == 0)):
            m.d.sync += writing.eq(0)

        m.d.comb += self.busy.eq(go | writing | requesting)
        return m
