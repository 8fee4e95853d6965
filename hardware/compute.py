"""The compute module: LOAD UOP, LOAD ACC, GEMM, ALU and FINISH (isa-reference §4, §5).

It owns the micro-op and ACC buffers; it reads INP/WGT (written by the load module) and writes
OUT (read by the store module) through ports the core connects.
"""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from vta.hardware.acc_memory import AccumulatorMemory, SplitAccumulatorMemory
from vta.hardware.axi_master import ReadClientSignature
from vta.hardware.footprint import KernelFootprints
from vta.hardware.layouts import insn_layout
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
        OUT writes (of the GEMM unit when the units overlap).
    out_alu_wr : ``In(memory.WritePort.Signature(...))``
        Only when the units overlap (`Machine.overlap_kernels` > 0): the ALU unit's OUT
        writes. The two never address one half of OUT in a cycle (`vta.hardware.core` banks
        OUT by half).
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
            **({"out_alu_wr": In(write_signature(config, MemoryType.OUT))}
               if config.machine.overlap_kernels else {}),
        })

    def elaborate(self, platform):
        if self.config.machine.overlap_kernels:
            return self._elaborate_overlap()
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

    def _elaborate_overlap(self):
        """Two units (docs/hardware.md, compute overlap): the head of the queue issues to the
        GEMM or the ALU unit when that unit is idle, its tokens are there, and the other unit
        is idle or works in the other ACC half (`KernelFootprints`); it then runs while the
        next instructions issue. A unit pushes its tokens when it is done and no older
        instruction still runs. LOAD UOP, LOAD ACC and FINISH issue only when both units are
        idle (a LOAD that pushes no token: when it leaves the running units' micro-ops and ACC
        halves alone), and run as in the one-unit module."""
        m = Module()
        config = self.config
        m.submodules.uop_mem = uop_mem = memory.Memory(shape=UOP_BITS, depth=config.uop_depth,
                                                       init=[])
        m.submodules.acc_mem = acc_mem = SplitAccumulatorMemory(config=config)
        uop_wp = uop_mem.write_port()
        m.submodules.uop_load = uop_load = UopLoad(config=config)
        m.submodules.acc_load = acc_load = TensorLoad(config=config, memory_type=MemoryType.ACC)
        m.submodules.footprints = footprints = KernelFootprints(config=config)
        units = {Opcode.GEMM: UopPipeline(config=config, unit=Opcode.GEMM),
                 Opcode.ALU: UopPipeline(config=config, unit=Opcode.ALU)}
        m.submodules.gemm_unit, m.submodules.alu_unit = gemm, alu = units.values()
        wiring.connect(m, wiring.flipped(self.rd_uop), uop_load.rd)
        wiring.connect(m, wiring.flipped(self.rd_acc), acc_load.rd)
        wiring.connect(m, uop_load.sram, uop_wp)
        wiring.connect(m, gemm.uop_rd, uop_mem.read_port())
        wiring.connect(m, alu.uop_rd, uop_mem.read_port())
        wiring.connect(m, gemm.acc_rd, acc_mem.gemm_rd)
        wiring.connect(m, alu.acc_rd, acc_mem.alu_dst_rd)
        wiring.connect(m, alu.acc_src_rd, acc_mem.alu_src_rd)
        wiring.connect(m, gemm.acc_wr, acc_mem.gemm_wr)
        wiring.connect(m, alu.acc_wr, acc_mem.alu_wr)
        wiring.connect(m, acc_load.sram, acc_mem.load_wr)
        wiring.connect(m, wiring.flipped(self.inp_rd), gemm.inp_rd)
        wiring.connect(m, wiring.flipped(self.wgt_rd), gemm.wgt_rd)
        wiring.connect(m, wiring.flipped(self.out_wr), gemm.out_wr)
        wiring.connect(m, wiring.flipped(self.out_alu_wr), alu.out_wr)

        pops, pushes = token_ports(self, IsaModule.COMPUTE)
        layout = insn_layout(config)
        head = layout(self.insn.payload)
        opcode = head.header.opcode
        tokens = self.insn.valid
        for name, token in pops.items():
            tokens = tokens & (~getattr(head.header, name) | token.valid)
        m.d.comb += footprints.insn.eq(head)
        mask = footprints.mask

        # Each unit: IDLE, RUN (its pipeline executes), PUSH (its tokens wait for the older
        # instruction on the other unit, or for room in a token queue).
        state = {unit: Signal(2, name=f"{unit.name.lower()}_state") for unit in units}
        IDLE, RUN, PUSH = 0, 1, 2
        active = {unit: Signal(name=f"{unit.name.lower()}_active") for unit in units}
        held = {unit: Signal(layout, name=f"{unit.name.lower()}_insn") for unit in units}
        footprint = {unit: Signal(2, name=f"{unit.name.lower()}_mask") for unit in units}
        older = {unit: Signal(name=f"{unit.name.lower()}_after_other") for unit in units}
        pending = {unit: {name: Signal(name=f"{unit.name.lower()}_{name}") for name in pushes}
                   for unit in units}
        other = {Opcode.GEMM: Opcode.ALU, Opcode.ALU: Opcode.GEMM}
        starts = {unit: Signal(name=f"{unit.name.lower()}_start") for unit in units}
        offers = {name: [] for name in pushes}
        for unit, pipe in units.items():
            m.d.comb += [active[unit].eq(state[unit] != IDLE), pipe.start.eq(starts[unit]),
                         pipe.insn.eq(Mux(starts[unit], head, held[unit]))]
        for unit, pipe in units.items():
            peer = other[unit]
            # `older[unit]`: the other unit runs an instruction issued before this one.
            with m.If(~active[peer]):
                m.d.sync += older[unit].eq(0)
            with m.If(starts[unit]):
                m.d.sync += [state[unit].eq(RUN), held[unit].eq(head), footprint[unit].eq(mask),
                             older[unit].eq(active[peer])]
                m.d.sync += [pending[unit][name].eq(getattr(head.header, name))
                             for name in pushes]
            # Tokens wait while the older instruction runs; an instruction without any is done.
            may_push = ~(older[unit] & active[peer] & Cat(*pending[unit].values()).any())
            finished = (state[unit] == RUN) & ~pipe.busy
            with m.If(finished | (state[unit] == PUSH)):
                with m.If(may_push):
                    left = 0
                    for name, token in pushes.items():
                        offer = Signal(name=f"{unit.name.lower()}_offer_{name}")
                        m.d.comb += offer.eq(pending[unit][name])
                        offers[name].append(offer)
                        with m.If(token.ready):
                            m.d.sync += pending[unit][name].eq(0)
                        left = left | (pending[unit][name] & ~token.ready)
                    m.d.sync += state[unit].eq(Mux(left, PUSH, IDLE))
                with m.Else():
                    m.d.sync += state[unit].eq(PUSH)

        # The issue stage and the one-at-a-time instructions (LOAD UOP, LOAD ACC, FINISH).
        issued = Signal(layout)
        serial_pending = {name: Signal(name=f"serial_{name}") for name in pushes}
        is_unit = (opcode == Opcode.GEMM) | (opcode == Opcode.ALU)
        to_gemm = opcode == Opcode.GEMM
        free = Mux(to_gemm, ~active[Opcode.GEMM], ~active[Opcode.ALU])
        peer_busy = Mux(to_gemm, active[Opcode.ALU], active[Opcode.GEMM])
        peer_mask = Mux(to_gemm, footprint[Opcode.ALU], footprint[Opcode.GEMM])
        unit_ready = is_unit & free & (~peer_busy | ((mask & peer_mask) == 0))
        is_load = (opcode == Opcode.LOAD) & (head.memory.x_size != 0)
        # A NOP (an x_size = 0 LOAD) that pushes nothing only pops: it need not wait.
        pushes_any = Cat(*(getattr(head.header, name) for name in pushes)).any()
        # A LOAD that pushes nothing need not wait for a unit it leaves alone: a NOP (x_size =
        # 0) for none, a LOAD UOP for one whose micro-op range it does not write, a LOAD ACC
        # for one whose ACC halves it does not write (`load_halves`).
        fields = head.memory
        memory_type = fields.memory_type
        uop_end = Signal(len(fields.sram_base) + len(fields.x_size) + 1)
        m.d.comb += uop_end.eq(fields.sram_base + fields.x_size)
        acc_halves = load_halves(m, config, fields)
        spares = []
        for unit in units:
            running = held[unit].gemm
            disjoint = Mux(memory_type == MemoryType.UOP,
                           (uop_end <= config.uop_depth)
                           & ((uop_end <= running.uop_bgn) | (running.uop_end <= fields.sram_base)),
                           (acc_halves & footprint[unit]) == 0)
            spares.append(~active[unit] | ((opcode == Opcode.LOAD) & ~pushes_any
                                           & ((fields.x_size == 0) | disjoint)))
        serial_ready = ~is_unit & spares[0] & spares[1]
        issuing, executing, stalled = Signal(), Signal(), Signal()
        m.d.comb += [uop_load.cmd.payload.eq(head), acc_load.cmd.payload.eq(head)]
        done = ~uop_load.busy & ~acc_load.busy
        with m.FSM(name="issue"):
            with m.State("ISSUE"):
                with m.If(tokens & (unit_ready | serial_ready)):
                    m.d.comb += [issuing.eq(1), self.insn.ready.eq(1)]
                    m.d.comb += [token.ready.eq(getattr(head.header, name))
                                 for name, token in pops.items()]
                    with m.If(is_unit):
                        m.d.comb += [starts[Opcode.GEMM].eq(to_gemm),
                                     starts[Opcode.ALU].eq(~to_gemm)]
                    with m.Else():
                        load_uop = is_load & (memory_type == MemoryType.UOP)
                        m.d.comb += [
                            uop_load.cmd.valid.eq(load_uop), footprints.load_start.eq(load_uop),
                            acc_load.cmd.valid.eq(is_load & (memory_type == MemoryType.ACC))]
                        m.d.sync += issued.eq(head)
                        m.next = "EXECUTE"
                with m.Elif(self.insn.valid & ~tokens):
                    m.d.comb += stalled.eq(1)
            with m.State("EXECUTE"):
                m.d.comb += executing.eq(1)
                with m.If(done):
                    was_uop_load = ((issued.header.opcode == Opcode.LOAD)
                                    & (issued.memory.memory_type == MemoryType.UOP)
                                    & (issued.memory.x_size != 0))
                    m.d.comb += footprints.load_done.eq(was_uop_load)
                    left = 0
                    for name, token in pushes.items():
                        wanted = getattr(issued.header, name)
                        offer = Signal(name=f"serial_offer_{name}")
                        m.d.comb += offer.eq(wanted)
                        offers[name].append(offer)
                        m.d.sync += serial_pending[name].eq(wanted & ~token.ready)
                        left = left | (wanted & ~token.ready)
                    with m.If(left):
                        m.next = "PUSH"
                    with m.Else():
                        m.next = "ISSUE"
            with m.State("PUSH"):
                m.d.comb += executing.eq(1)
                left = 0
                for name, token in pushes.items():
                    offer = Signal(name=f"serial_retry_{name}")
                    m.d.comb += offer.eq(serial_pending[name])
                    offers[name].append(offer)
                    with m.If(token.ready):
                        m.d.sync += serial_pending[name].eq(0)
                    left = left | (serial_pending[name] & ~token.ready)
                with m.If(~left):
                    m.next = "ISSUE"
        for name, token in pushes.items():
            m.d.comb += token.valid.eq(Cat(*offers[name]).any())
        m.d.comb += [footprints.uop_en.eq(uop_wp.en), footprints.uop_data.eq(uop_wp.data)]

        with m.If(issuing & (opcode == Opcode.FINISH)):
            m.d.sync += self.finish.eq(1)
        with m.Else():
            m.d.sync += self.finish.eq(0)
        m.d.comb += [self.busy.eq(executing | active[Opcode.GEMM] | active[Opcode.ALU]),
                     self.stall.eq(stalled | uop_load.mem_wait | acc_load.mem_wait)]
        return m


def load_halves(m: Module, config: Config, fields) -> Signal:
    """ACC halves a LOAD ACC (`fields`: its memory instruction view) writes: the tiles from
    ``sram_base`` on, ``(y_pad_0 + y_size + y_pad_1) × (x_pad_0 + x_size + x_pad_1)`` of them
    (up to ``end``: half 1 when ``end`` > depth / 2); both halves when they would reach past
    the end of ACC."""
    depth = config.depth(MemoryType.ACC)
    rows = fields.y_pad_0 + fields.y_size + fields.y_pad_1
    cols = fields.x_pad_0 + fields.x_size + fields.x_pad_1
    end = Signal(len(fields.sram_base) + len(rows) + len(cols) + 1)
    m.d.comb += end.eq(fields.sram_base + rows * cols)
    halves = Signal(2)
    beyond = end > depth
    m.d.comb += halves.eq(Cat((fields.sram_base < depth // 2) | beyond,
                              (end > depth // 2) | beyond))
    return halves
