"""The GEMM/ALU execution pipeline of the compute module.

A loop generator walks ``iter_out × iter_in × [uop_bgn, uop_end)`` and issues one micro-op
execution every initiation interval of the machine description (`Machine.loop_interval`: by
default every cycle). Stages:

====  ===========================================================================
S0    micro-op buffer read (loop counters give the address, loop offsets registered)
S1    index computation: ``idx = uop.idx + i·factor_out + j·factor_in``
S2    buffer reads: ACC[dst] (and INP[src], WGT[wgt] for GEMM, ACC[src] for a vector ALU op)
S3    GEMM products / ALU operation
S4    GEMM adder trees (ALU: result held)
S5    write ACC[dst] and OUT[dst] = low 8 bits of every lane
====  ===========================================================================

ACC is two banks by address parity (`vta.hardware.acc_memory`). A vector ALU execution whose
two ACC tiles lie in the same bank (a bank conflict) reads its source first and stalls S0–S2
for one cycle to read its destination, so every conflict costs exactly one cycle
(`vta.isa.machine.Machine.alu_bank_conflict`).

ACC is written three cycles after it is read and the read ports are transparent to the write
port, so an execution sees every write of the executions three or more before it; programs
must not touch an ACC tile written by one of the two executions before (the runtime's VerifyDep
rule, guaranteed by the conformance corpus). The pipeline drains at the end of every
instruction.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from vta.hardware.acc_memory import bank_of
from vta.hardware.alu import TensorAlu
from vta.hardware.gemm import GemmCore
from vta.hardware.layouts import (acc_tile, elem_bits, insn_layout, log_depth, sign_extended,
                                  uop_layout)
from vta.isa import Config, ConfigError, MemoryType, Opcode, layouts


#: Loop fields the pipeline reads through the GEMM view for both GEMM and ALU instructions.
SHARED_LOOP_FIELDS = ("reset_reg", "uop_bgn", "uop_end", "iter_out", "iter_in", "dst_factor_out",
                      "dst_factor_in")


def read_signature(config: Config, memory_type: MemoryType) -> memory.ReadPort.Signature:
    return memory.ReadPort.Signature(addr_width=log_depth(config, memory_type),
                                     shape=elem_bits(config, memory_type))


def write_signature(config: Config, memory_type: MemoryType) -> memory.WritePort.Signature:
    return memory.WritePort.Signature(addr_width=log_depth(config, memory_type),
                                      shape=elem_bits(config, memory_type))


class UopPipeline(wiring.Component):
    """Executes one GEMM or ALU instruction (with `unit` = ``Opcode.GEMM`` or ``Opcode.ALU``:
    only that kind, without the other's datapath and ports — the compute module's two units when
    they overlap, `vta.hardware.compute`).

    Ports
    -----
    start : ``In(1)``
        Pulse: execute `insn` (held stable until `busy` falls).
    insn : ``In(insn_layout(config))``
    busy : ``Out(1)``
    uop_rd, acc_rd, acc_src_rd, inp_rd, wgt_rd : ``In(memory.ReadPort.Signature(...))``
        Drive the read ports of the buffers (`acc_rd`: the destination tile, with the bank
        when both ACC reads address one; `acc_src_rd`: a vector ALU op's source tile).
    acc_wr, out_wr : ``In(memory.WritePort.Signature(...))``
        Drive the (full-width) write ports of ACC and OUT.
    """

    def __init__(self, *, config: Config, unit: Opcode | None = None):
        isa = layouts(config)
        for name in SHARED_LOOP_FIELDS:
            if isa.gemm[name] != isa.alu[name]:
                raise ConfigError(f"GEMM and ALU field {name} differ in position for this config")
        if unit not in (None, Opcode.GEMM, Opcode.ALU):
            raise ValueError(f"unit must be None, Opcode.GEMM or Opcode.ALU, not {unit!r}")
        self.config, self.unit = config, unit
        ports = {
            "start": In(1), "insn": In(insn_layout(config)), "busy": Out(1),
            "uop_rd": In(read_signature(config, MemoryType.UOP)),
            "acc_rd": In(read_signature(config, MemoryType.ACC)),
            "acc_src_rd": In(read_signature(config, MemoryType.ACC)),
            "inp_rd": In(read_signature(config, MemoryType.INP)),
            "wgt_rd": In(read_signature(config, MemoryType.WGT)),
            "acc_wr": In(write_signature(config, MemoryType.ACC)),
            "out_wr": In(write_signature(config, MemoryType.OUT)),
        }
        if unit is Opcode.GEMM:
            del ports["acc_src_rd"]
        elif unit is Opcode.ALU:
            del ports["inp_rd"], ports["wgt_rd"]
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        config = self.config
        unit = self.unit
        has_gemm, has_alu = unit is not Opcode.ALU, unit is not Opcode.GEMM
        if has_gemm:
            m.submodules.gemm = gemm = GemmCore(config=config)
        if has_alu:
            m.submodules.alu = alu = TensorAlu(config=config)
        is_gemm = (self.insn.header.opcode == Opcode.GEMM) if unit is None else Const(has_gemm)
        gemm_insn, alu_insn = self.insn.gemm, self.insn.alu
        vector = Signal()
        m.d.comb += vector.eq(~is_gemm & ~alu_insn.use_imm)
        loop = gemm_insn  # SHARED_LOOP_FIELDS: the same bits in GEMM and ALU (checked above)
        acc_bits = log_depth(config, MemoryType.ACC)
        src_bits = max(acc_bits, log_depth(config, MemoryType.INP))
        wgt_bits = log_depth(config, MemoryType.WGT)

        # A vector ALU execution with the source tile of the execution before it in the same
        # instruction (`repeat`) reuses that value instead of reading it. One whose two ACC
        # tiles share a bank (`conflict`) stays in S2 one more cycle: it reads the source first
        # (`pending` next cycle), then the destination; meanwhile S0 and S1 stall.
        s2_valid, pending, stall = Signal(), Signal(), Signal()
        s2_dst, s2_src, s2_wgt = Signal(acc_bits), Signal(src_bits), Signal(wgt_bits)
        last_src, last_valid = Signal(acc_bits), Signal()
        repeat = last_valid & (s2_src[:acc_bits] == last_src)
        conflict = s2_valid & vector & ~repeat & (bank_of(s2_dst) == bank_of(s2_src))
        m.d.comb += stall.eq(conflict & ~pending)
        m.d.sync += pending.eq(stall)
        with m.If(self.start):
            m.d.sync += last_valid.eq(0)
        with m.Elif(s2_valid & ~stall):
            m.d.sync += [last_valid.eq(1), last_src.eq(s2_src)]

        # S0: loop generator; `gap` counts the cycles to wait before the next issue.
        machine = config.machine
        gemm_interval = machine.loop_interval(gemm=True)
        alu_interval = machine.loop_interval(gemm=False)
        issuing = Signal()
        gap = Signal(range(max(gemm_interval, alu_interval, 2)))
        interval = Mux(is_gemm, gemm_interval, alu_interval)
        k = Signal.like(loop.uop_end)
        i, j = Signal.like(loop.iter_out), Signal.like(loop.iter_in)
        dst_row, dst_off = Signal(acc_bits), Signal(acc_bits)
        src_row, src_off = Signal(src_bits), Signal(src_bits)
        wgt_row, wgt_off = Signal(wgt_bits), Signal(wgt_bits)
        src_fo = Signal(src_bits)
        src_fi = Signal(src_bits)
        m.d.comb += [src_fo.eq(alu_insn.src_factor_out), src_fi.eq(alu_insn.src_factor_in)]
        with m.If(is_gemm):
            m.d.comb += [src_fo.eq(gemm_insn.src_factor_out), src_fi.eq(gemm_insn.src_factor_in)]
        wgt_fo = Signal(wgt_bits)
        wgt_fi = Signal(wgt_bits)
        m.d.comb += [wgt_fo.eq(gemm_insn.wgt_factor_out), wgt_fi.eq(gemm_insn.wgt_factor_in)]

        empty = (loop.iter_out == 0) | (loop.iter_in == 0) | (loop.uop_bgn >= loop.uop_end)
        issue = issuing & (gap == 0) & ~stall
        s1_valid = Signal()
        s1_dst, s1_src, s1_wgt = Signal(acc_bits), Signal(src_bits), Signal(wgt_bits)
        m.d.comb += [self.uop_rd.addr.eq(k), self.uop_rd.en.eq(~stall)]
        with m.If(~stall):
            m.d.sync += [s1_valid.eq(issue), s1_dst.eq(dst_off), s1_src.eq(src_off),
                         s1_wgt.eq(wgt_off)]
        with m.If(self.start):
            m.d.sync += [issuing.eq(~empty), gap.eq(0), k.eq(loop.uop_bgn), i.eq(0), j.eq(0),
                         dst_row.eq(0), dst_off.eq(0), src_row.eq(0), src_off.eq(0),
                         wgt_row.eq(0), wgt_off.eq(0)]
        with m.Elif(issue):
            m.d.sync += gap.eq(interval - 1)
        with m.Elif((gap != 0) & ~stall):
            m.d.sync += gap.eq(gap - 1)
        with m.If(issue):
            m.d.sync += k.eq(k + 1)
            with m.If(k + 1 == loop.uop_end):
                m.d.sync += [k.eq(loop.uop_bgn), j.eq(j + 1), dst_off.eq(dst_off + loop.dst_factor_in),
                             src_off.eq(src_off + src_fi), wgt_off.eq(wgt_off + wgt_fi)]
                with m.If(j + 1 == loop.iter_in):
                    m.d.sync += [j.eq(0), i.eq(i + 1),
                                 dst_row.eq(dst_row + loop.dst_factor_out),
                                 dst_off.eq(dst_row + loop.dst_factor_out),
                                 src_row.eq(src_row + src_fo), src_off.eq(src_row + src_fo),
                                 wgt_row.eq(wgt_row + wgt_fo), wgt_off.eq(wgt_row + wgt_fo)]
                    with m.If(i + 1 == loop.iter_out):
                        m.d.sync += issuing.eq(0)

        # S1: indices.
        uop = uop_layout(config)(self.uop_rd.data)
        with m.If(~stall):
            m.d.sync += [s2_valid.eq(s1_valid), s2_dst.eq(uop.dst_idx + s1_dst),
                         s2_src.eq(uop.src_idx + s1_src), s2_wgt.eq(uop.wgt_idx + s1_wgt)]

        # S2: buffer reads (in a conflict's first cycle only the source).
        # (A unit of the overlapping compute module enables its ACC reads only for valid
        # executions: the banks are shared with the other unit, `SplitAccumulatorMemory`.)
        m.d.comb += [self.acc_rd.en.eq(~stall if unit is None else s2_valid & ~stall),
                     self.acc_rd.addr.eq(s2_dst)]
        if has_alu:
            m.d.comb += [self.acc_src_rd.en.eq(1 if unit is None else s2_valid & vector),
                         self.acc_src_rd.addr.eq(s2_src)]
        if has_gemm:
            m.d.comb += [self.inp_rd.en.eq(1), self.wgt_rd.en.eq(1),
                         self.inp_rd.addr.eq(s2_src), self.wgt_rd.addr.eq(s2_wgt)]
        s3_valid, s3_dst = Signal(), Signal(acc_bits)
        m.d.sync += [s3_valid.eq(s2_valid & ~stall), s3_dst.eq(s2_dst)]
        result = Signal(acc_tile(config))
        if has_alu:
            operand_b, held, reused = Signal(acc_tile(config)), Signal(), Signal()
            m.d.sync += [held.eq(pending), reused.eq(repeat)]
            with m.If(pending):
                m.d.sync += operand_b.eq(self.acc_src_rd.data)

            # S3: operations (the GEMM core and the ALU register their results).
            source, previous_source = Signal(acc_tile(config)), Signal(acc_tile(config))
            m.d.comb += source.eq(Mux(held, operand_b,
                                      Mux(reused, previous_source, self.acc_src_rd.data)))
            m.d.comb += [alu.op.eq(alu_insn.alu_opcode), alu.a.eq(self.acc_rd.data),
                         alu.b.eq(source)]
            with m.If(s3_valid):
                m.d.sync += previous_source.eq(source)
            # The immediate, sign-extended once and broadcast (not extended in every lane).
            immediate = Signal(signed(config.acc_width))
            m.d.comb += immediate.eq(sign_extended(alu_insn.imm, config.acc_width))
            with m.If(alu_insn.use_imm):
                m.d.comb += [alu.b[lane].eq(immediate) for lane in range(len(alu.b))]
            # S4: align the ALU result with the GEMM result.
            alu_result = Signal(acc_tile(config))
            m.d.sync += alu_result.eq(alu.result)
            m.d.comb += result.eq(alu_result)
        if has_gemm:
            m.d.comb += [gemm.valid.eq(s3_valid), gemm.reset.eq(gemm_insn.reset_reg),
                         gemm.inp.eq(self.inp_rd.data), gemm.wgt.eq(self.wgt_rd.data),
                         gemm.acc.eq(self.acc_rd.data)]
            with m.If(is_gemm):
                m.d.comb += result.eq(gemm.result)

        # S4, S5, then write.
        s4_valid, s4_dst = Signal(), Signal(acc_bits)
        s5_valid, s5_dst = Signal(), Signal(acc_bits)
        m.d.sync += [s4_valid.eq(s3_valid), s4_dst.eq(s3_dst), s5_valid.eq(s4_valid),
                     s5_dst.eq(s4_dst)]
        m.d.comb += [self.acc_wr.addr.eq(s5_dst), self.acc_wr.data.eq(result),
                     self.acc_wr.en.eq(s5_valid),
                     self.out_wr.addr.eq(s5_dst),
                     self.out_wr.data.eq(Cat(result[lane][:config.out_width]
                                             for lane in range(len(result)))),
                     self.out_wr.en.eq(s5_valid)]

        m.d.comb += self.busy.eq(self.start | issuing | s1_valid | s2_valid | s3_valid |
                                 s4_valid | s5_valid)
        return m
