"""The compute module: LOAD UOP, LOAD ACC, GEMM, ALU and FINISH (isa-reference §4, §5).

It owns the micro-op and ACC buffers; it reads INP/WGT (written by the load module) and writes
OUT (read by the store module) through ports the core connects.
"""

from amaranth.hdl import Module
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from vta.hardware.acc_memory import AccumulatorMemory
from vta.hardware.axi_master import ReadClientSignature
from vta.hardware.module_control import InstructionCycle, token_ports
from vta.hardware.tensor_load import TensorLoad
from vta.hardware.token_queue import TokenSignature
from vta.hardware.uop_load import UopLoad
from vta.hardware.uop_pipeline import UopPipeline, read_signature, write_signature
from vta.isa import Config, MemoryType, Opcode
from vta.isa import Module as IsaModule
from vta.isa.config import INSN_BITS, UOP_BITS


class Compute(wiring.Component):
    """The compute module.

    Ports
    -----
    insn : ``In(stream.Signature(128))``
        The compute command queue.
    l2g, s2g : ``In(TokenSignature)``
        Tokens popped by ``pop_prev_dep`` / ``pop_next_dep``.
    g2l, g2s : ``Out(TokenSignature)``
        Tokens pushed by ``push_prev_dep`` / ``push_next_dep``.
    rd_uop, rd_acc : ``Out(ReadClientSignature(config))``
    inp_rd, wgt_rd : ``In(memory.ReadPort.Signature(...))``
    out_wr : ``In(memory.WritePort.Signature(...))``
    finish : ``Out(1)``
        Pulse when FINISH retires.
    busy, stall : ``Out(1)``
        See docs/hardware.md (performance counters).
    """

    def __init__(self, *, config: Config):
        self.config = config
        super().__init__({
            "insn": In(stream.Signature(INSN_BITS)),
            "l2g": In(TokenSignature), "s2g": In(TokenSignature),
            "g2l": Out(TokenSignature), "g2s": Out(TokenSignature),
            "rd_uop": Out(ReadClientSignature(config)), "rd_acc": Out(ReadClientSignature(config)),
            "inp_rd": In(read_signature(config, MemoryType.INP)),
            "wgt_rd": In(read_signature(config, MemoryType.WGT)),
            "out_wr": In(write_signature(config, MemoryType.OUT)),
            "finish": Out(1), "busy": Out(1), "stall": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        config = self.config
        m.submodules.uop_mem = uop_mem = memory.Memory(shape=UOP_BITS, depth=config.uop_depth,
                                                       init=[])
        m.submodules.acc_mem = acc_mem = AccumulatorMemory(config=config)
        uop_wp = uop_mem.write_port()
        uop_rp = uop_mem.read_port()
        acc_wp = acc_mem.wr

        m.submodules.uop_load = uop_load = UopLoad(config=config)
        m.submodules.acc_load = acc_load = TensorLoad(config=config, memory_type=MemoryType.ACC)
        m.submodules.pipeline = pipeline = UopPipeline(config=config)
        wiring.connect(m, wiring.flipped(self.rd_uop), uop_load.rd)
        wiring.connect(m, wiring.flipped(self.rd_acc), acc_load.rd)
        wiring.connect(m, uop_load.sram, uop_wp)
        wiring.connect(m, pipeline.uop_rd, uop_rp)
        wiring.connect(m, pipeline.acc_rd, acc_mem.dst_rd)
        wiring.connect(m, pipeline.acc_src_rd, acc_mem.src_rd)
        wiring.connect(m, wiring.flipped(self.inp_rd), pipeline.inp_rd)
        wiring.connect(m, wiring.flipped(self.wgt_rd), pipeline.wgt_rd)
        wiring.connect(m, wiring.flipped(self.out_wr), pipeline.out_wr)

        # ACC write port: the ACC loader (per bus word) or the pipeline (whole tiles).
        m.d.comb += [acc_wp.addr.eq(acc_load.sram.addr), acc_wp.data.eq(acc_load.sram.data),
                     acc_wp.en.eq(acc_load.sram.en)]
        with m.If(pipeline.acc_wr.en):
            m.d.comb += [acc_wp.addr.eq(pipeline.acc_wr.addr), acc_wp.data.eq(pipeline.acc_wr.data),
                         acc_wp.en.eq(-1)]

        pops, pushes = token_ports(self, IsaModule.COMPUTE)
        cycle = InstructionCycle(m, config, self.insn, pops=pops, pushes=pushes)
        insn = cycle.insn
        opcode, memory_type = insn.header.opcode, insn.memory.memory_type
        is_load = (opcode == Opcode.LOAD) & (insn.memory.x_size != 0)
        m.d.comb += [
            uop_load.cmd.payload.eq(insn), acc_load.cmd.payload.eq(insn), pipeline.insn.eq(insn),
            uop_load.cmd.valid.eq(cycle.start & is_load & (memory_type == MemoryType.UOP)),
            acc_load.cmd.valid.eq(cycle.start & is_load & (memory_type == MemoryType.ACC)),
            pipeline.start.eq(cycle.start & ((opcode == Opcode.GEMM) | (opcode == Opcode.ALU))),
            cycle.done.eq(~uop_load.busy & ~acc_load.busy & ~pipeline.busy),
        ]
        with m.If(cycle.start & (opcode == Opcode.FINISH)):
            m.d.sync += self.finish.eq(1)
        with m.Else():
            m.d.sync += self.finish.eq(0)

        m.d.comb += [self.busy.eq(cycle.executing),
                     self.stall.eq(cycle.stall | uop_load.mem_wait | acc_load.mem_wait)]
        return m
