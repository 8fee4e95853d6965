"""The store module: STORE OUT tiles to DRAM (2-D strided, isa-reference §4.2).

A STORE that pushes a token retires only when every write issued so far has been acknowledged
(B channel), so the token also orders DRAM (a load may read back what was stored); a STORE
without a push retires as soon as its data has been sent.

The OUT tiles of one STORE are consecutive in SRAM (``sram_base + y·x_size + x``), so a reader
streams them through a small prefetch FIFO into a serialiser that emits one bus word per cycle,
while one write command per row goes to the AXI master.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from vta.hardware.axi_master import WriteClientSignature
from vta.hardware.layouts import elem_bits
from vta.hardware.module_control import InstructionCycle, token_ports
from vta.hardware.token_queue import TokenSignature
from vta.hardware.uop_pipeline import read_signature
from vta.isa import Config, MemoryType
from vta.isa import Module as IsaModule
from vta.isa.config import INSN_BITS


class Store(wiring.Component):
    """The store module.

    Ports
    -----
    insn : ``In(stream.Signature(128))``
        The store command queue.
    g2s : ``In(TokenSignature)``
        Tokens popped by ``pop_prev_dep``.
    s2g : ``Out(TokenSignature)``
        Tokens pushed by ``push_prev_dep``.
    out_rd : ``In(memory.ReadPort.Signature(...))``
    wr : ``Out(WriteClientSignature(config))``
    busy, stall : ``Out(1)``
    """

    def __init__(self, *, config: Config):
        config.check_bus()      # tiles leave as whole bus words
        self.config = config
        super().__init__({
            "insn": In(stream.Signature(INSN_BITS)),
            "g2s": In(TokenSignature), "s2g": Out(TokenSignature),
            "out_rd": In(read_signature(config, MemoryType.OUT)),
            "wr": Out(WriteClientSignature(config)),
            "busy": Out(1), "stall": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        config = self.config
        words_per_tile = elem_bits(config, MemoryType.OUT) // config.bus_bits
        log_elem_bytes = exact_log2(config.elem_bytes(MemoryType.OUT))
        pops, pushes = token_ports(self, IsaModule.STORE)
        cycle = InstructionCycle(m, config, self.insn, pops=pops, pushes=pushes)
        fields = cycle.insn.memory
        go = cycle.start & (fields.x_size != 0) & (fields.y_size != 0)

        # Row write commands.
        requesting = Signal()
        rows_left = Signal.like(fields.y_size)
        row_addr = Signal(32)
        m.d.comb += [self.wr.cmd.payload.addr.eq(row_addr),
                     self.wr.cmd.payload.words.eq(fields.x_size * words_per_tile),
                     self.wr.cmd.valid.eq(requesting)]
        with m.If(go):
            m.d.sync += [requesting.eq(1), rows_left.eq(fields.y_size),
                         row_addr.eq(fields.dram_base << log_elem_bytes)]
        with m.Elif(self.wr.cmd.valid & self.wr.cmd.ready):
            m.d.sync += [rows_left.eq(rows_left - 1), requesting.eq(rows_left != 1),
                         row_addr.eq(row_addr + (fields.x_stride << log_elem_bytes))]

        # OUT reader into the prefetch FIFO.
        prefetch_tiles = config.machine.store_prefetch_tiles
        m.submodules.prefetch = prefetch = fifo.SyncFIFO(width=elem_bits(config, MemoryType.OUT),
                                                         depth=prefetch_tiles)
        tiles_left = Signal(32)
        address = Signal.like(self.out_rd.addr)
        read_issued = Signal()
        issue = (tiles_left != 0) & (prefetch.level + read_issued < prefetch_tiles)
        m.d.comb += [self.out_rd.en.eq(1), self.out_rd.addr.eq(address),
                     prefetch.w_data.eq(self.out_rd.data), prefetch.w_en.eq(read_issued)]
        m.d.sync += read_issued.eq(issue)
        with m.If(go):
            m.d.sync += [tiles_left.eq(fields.x_size * fields.y_size), address.eq(fields.sram_base)]
        with m.Elif(issue):
            m.d.sync += [tiles_left.eq(tiles_left - 1), address.eq(address + 1)]

        # Serialiser: one bus word per cycle.
        word = Signal(range(max(words_per_tile, 2)))  # never zero-width
        m.d.comb += [self.wr.data.payload.eq(prefetch.r_data.word_select(word, config.bus_bits)),
                     self.wr.data.valid.eq(prefetch.r_rdy)]
        with m.If(self.wr.data.valid & self.wr.data.ready):
            m.d.sync += word.eq(word + 1)
            with m.If(word == words_per_tile - 1):
                m.d.sync += word.eq(0)
                m.d.comb += prefetch.r_en.eq(1)

        # A STORE that pushes a token retires once all writes so far are acknowledged, so the
        # token also orders DRAM; one that pushes none retires when its data has been sent.
        draining = requesting | (tiles_left != 0) | read_issued | prefetch.r_rdy
        settled = self.wr.idle | ~cycle.insn.header.push_prev_dep
        m.d.comb += [cycle.done.eq(~go & ~draining & settled),
                     self.busy.eq(cycle.executing),
                     self.stall.eq(cycle.stall | (prefetch.r_rdy & ~self.wr.data.ready))]
        return m
