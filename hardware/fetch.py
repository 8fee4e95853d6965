"""Fetch: reads the instruction stream from DRAM in bursts and routes each instruction to the
load, compute or store command queue (isa-reference §3.7)."""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from vta.hardware.axi_master import ReadClientSignature
from vta.hardware.layouts import insn_layout
from vta.isa import INSN_BYTES, Config, Opcode
from vta.isa.opcodes import LOAD_MODULE_TYPES
from vta.isa.config import INSN_BITS


class Fetch(wiring.Component):
    """Instruction fetch and routing.

    Requests only as many instructions as its local buffer can take, so it never holds the
    shared read port while a full command queue blocks it.

    Ports
    -----
    start : ``In(1)``
        Pulse: fetch `insn_count` instructions from byte address `insn_addr`.
    insn_addr, insn_count : ``In(32)``
    busy : ``Out(1)``
        High from `start` until every instruction has been handed to a command queue.
    rd : ``Out(ReadClientSignature(config))``
    load_cmd, compute_cmd, store_cmd : ``Out(stream.Signature(128))``
        Instructions for each module's command queue.
    """

    def __init__(self, *, config: Config):
        config.check_bus()      # fetch splits instructions into whole bus words
        self.config = config
        super().__init__({
            "start": In(1), "insn_addr": In(32), "insn_count": In(32), "busy": Out(1),
            "rd": Out(ReadClientSignature(config)),
            "load_cmd": Out(stream.Signature(INSN_BITS)),
            "compute_cmd": Out(stream.Signature(INSN_BITS)),
            "store_cmd": Out(stream.Signature(INSN_BITS)),
        })

    def elaborate(self, platform):
        m = Module()
        config = self.config
        depth, chunk = config.machine.fetch_buffer_depth, config.machine.fetch_request_instructions
        words_per_insn = INSN_BITS // config.bus_bits
        m.submodules.buffer = buffer = fifo.SyncFIFOBuffered(width=INSN_BITS, depth=depth)

        # Requests.
        next_addr = Signal(32)
        remaining = Signal(32)
        in_flight = Signal(range(depth + 1))
        request = Signal(range(chunk + 1))
        m.d.comb += request.eq(chunk)
        with m.If(remaining < chunk):
            m.d.comb += request.eq(remaining)
        room = depth - buffer.level - in_flight
        m.d.comb += [self.rd.cmd.payload.addr.eq(next_addr),
                     self.rd.cmd.payload.words.eq(request * words_per_insn),
                     self.rd.cmd.valid.eq((remaining != 0) & (room >= request))]
        requested = self.rd.cmd.valid & self.rd.cmd.ready
        with m.If(self.start):
            m.d.sync += [next_addr.eq(self.insn_addr), remaining.eq(self.insn_count)]
        with m.Elif(requested):
            m.d.sync += [next_addr.eq(next_addr + request * INSN_BYTES),
                         remaining.eq(remaining - request)]

        # Assembly of bus words into instructions.
        word = Signal(range(max(words_per_insn, 2)))  # never zero-width
        assembled = Signal(INSN_BITS)
        m.d.comb += self.rd.data.ready.eq(1)
        arrived = Signal()
        with m.If(self.rd.data.valid):
            if words_per_insn == 1:
                m.d.comb += [buffer.w_data.eq(self.rd.data.payload), arrived.eq(1)]
            else:
                m.d.sync += assembled.word_select(word, config.bus_bits).eq(self.rd.data.payload)
                m.d.sync += word.eq(word + 1)
                with m.If(word == words_per_insn - 1):
                    m.d.sync += word.eq(0)
                    last = config.bus_bits * (words_per_insn - 1)
                    m.d.comb += [buffer.w_data.eq(Cat(assembled[:last], self.rd.data.payload)),
                                 arrived.eq(1)]
        m.d.comb += buffer.w_en.eq(arrived)
        m.d.sync += in_flight.eq(in_flight + (requested * request) - arrived)

        # Routing.
        insn = insn_layout(config)(buffer.r_data)
        opcode = insn.header.opcode
        memory_type = insn.memory.memory_type
        to_store = opcode == Opcode.STORE
        to_load = (opcode == Opcode.LOAD) & Cat(*(memory_type == kind
                                                  for kind in sorted(LOAD_MODULE_TYPES))).any()
        for port, selected in ((self.store_cmd, to_store), (self.load_cmd, to_load),
                               (self.compute_cmd, ~to_store & ~to_load)):
            m.d.comb += [port.payload.eq(buffer.r_data), port.valid.eq(buffer.r_rdy & selected)]
            with m.If(selected):
                m.d.comb += buffer.r_en.eq(port.ready)

        m.d.comb += self.busy.eq((remaining != 0) | (in_flight != 0) | buffer.r_rdy)
        return m
