"""The load module: LOAD INP and LOAD WGT (2-D strided, zero padded)."""

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from vta.hardware.axi_master import ReadClientSignature
from vta.hardware.module_control import InstructionCycle, token_ports
from vta.hardware.tensor_load import TensorLoad, sram_write_signature
from vta.hardware.token_queue import TokenSignature
from vta.isa import Config, MemoryType
from vta.isa import Module as IsaModule
from vta.isa.config import INSN_BITS


class Load(wiring.Component):
    """The load module.

    Ports
    -----
    insn : ``In(stream.Signature(128))``
        The load command queue.
    g2l : ``In(TokenSignature)``
        Tokens popped by ``pop_next_dep``.
    l2g : ``Out(TokenSignature)``
        Tokens pushed by ``push_next_dep``.
    rd_inp, rd_wgt : ``Out(ReadClientSignature(config))``
    inp_wr, wgt_wr : ``In(memory.WritePort.Signature(..., granularity=bus_bits))``
    busy, stall : ``Out(1)``
    """

    def __init__(self, *, config: Config):
        self.config = config
        super().__init__({
            "insn": In(stream.Signature(INSN_BITS)),
            "g2l": In(TokenSignature), "l2g": Out(TokenSignature),
            "rd_inp": Out(ReadClientSignature(config)), "rd_wgt": Out(ReadClientSignature(config)),
            "inp_wr": In(sram_write_signature(config, MemoryType.INP)),
            "wgt_wr": In(sram_write_signature(config, MemoryType.WGT)),
            "busy": Out(1), "stall": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.inp_load = inp_load = TensorLoad(config=self.config, memory_type=MemoryType.INP)
        m.submodules.wgt_load = wgt_load = TensorLoad(config=self.config, memory_type=MemoryType.WGT)
        wiring.connect(m, wiring.flipped(self.rd_inp), inp_load.rd)
        wiring.connect(m, wiring.flipped(self.rd_wgt), wgt_load.rd)
        wiring.connect(m, wiring.flipped(self.inp_wr), inp_load.sram)
        wiring.connect(m, wiring.flipped(self.wgt_wr), wgt_load.sram)

        pops, pushes = token_ports(self, IsaModule.LOAD)
        cycle = InstructionCycle(m, self.config, self.insn, pops=pops, pushes=pushes)
        fields = cycle.insn.memory
        transfer = cycle.start & (fields.x_size != 0)
        m.d.comb += [
            inp_load.cmd.payload.eq(cycle.insn), wgt_load.cmd.payload.eq(cycle.insn),
            inp_load.cmd.valid.eq(transfer & (fields.memory_type == MemoryType.INP)),
            wgt_load.cmd.valid.eq(transfer & (fields.memory_type == MemoryType.WGT)),
            cycle.done.eq(~inp_load.busy & ~wgt_load.busy),
            self.busy.eq(cycle.executing),
            self.stall.eq(cycle.stall | inp_load.mem_wait | wgt_load.mem_wait),
        ]
        return m
