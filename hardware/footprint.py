"""ACC footprints of GEMM/ALU instructions, for the compute module's two units.

An instruction touches ``ACC[uop.dst + i·dst_factor_out + j·dst_factor_in]`` (and, for a vector
ALU op, ``ACC[uop.src + ...]`` with its source factors) over its micro-ops and loops. Its
footprint is summarised as the set of ACC *halves* it may touch (bit ``h`` of a 2-bit mask for
half ``h``, the tiles whose top address bit is ``h``): the compute module starts an instruction
on one unit while the other runs only when their masks are disjoint (docs/hardware.md).

The micro-op bounds come from a table of the last `Machine.overlap_kernels` micro-kernels LOAD
UOP wrote: while a LOAD UOP writes, the smallest and largest ``dst`` and ``src`` of its
micro-ops are kept, and when it ends its range ``[sram_base, sram_base + x_size)`` with these
bounds replaces the oldest entry (entries whose range it overlaps are dropped; a load that
wraps around the end of the buffer drops all). An instruction
whose micro-op range lies inside an entry's range has the footprint

    dst in [dst_min, dst_max + (iter_out − 1)·dst_factor_out + (iter_in − 1)·dst_factor_in]

(and likewise for the source of a vector ALU op); one without an entry may touch both halves,
and an empty one (no execution) touches none. A range reaching past the end of ACC counts as
both halves.
"""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from vta.hardware.layouts import insn_layout, log_depth, sign_extended, uop_layout
from vta.isa import Config, MemoryType, Opcode
from vta.isa.config import UOP_BITS

BOTH_HALVES = 0b11


class KernelFootprints(wiring.Component):
    """The micro-kernel table and the footprint of one instruction.

    Ports
    -----
    load_start : ``In(1)``
        Pulse: a LOAD UOP starts (``insn`` is that LOAD); its bounds are reset.
    uop_en, uop_data : ``In(1)``, ``In(32)``
        A micro-op written into the buffer by the running LOAD UOP.
    load_done : ``In(1)``
        Pulse: the LOAD UOP started last has written its last micro-op; its entry is made.
    insn : ``In(insn_layout(config))``
        The instruction whose footprint `mask` gives (and the LOAD at `load_start`).
    mask : ``Out(2)``
        ACC halves `insn` (a GEMM or ALU) may touch.
    """

    def __init__(self, *, config: Config):
        if config.machine.overlap_kernels < 1:
            raise ValueError("KernelFootprints needs machine.overlap_kernels >= 1")
        self.config = config
        super().__init__({"load_start": In(1), "uop_en": In(1), "uop_data": In(UOP_BITS),
                          "load_done": In(1), "insn": In(insn_layout(config)), "mask": Out(2)})

    def elaborate(self, platform):
        m = Module()
        config = self.config
        entries = config.machine.overlap_kernels
        uop_bits = log_depth(config, MemoryType.UOP)
        acc_bits = log_depth(config, MemoryType.ACC)
        uop = uop_layout(config)
        index_bits = max(len(uop(self.uop_data).dst_idx), len(uop(self.uop_data).src_idx))

        # Bounds of the running LOAD UOP and its range.
        lo_dst, hi_dst = Signal(index_bits), Signal(index_bits)
        lo_source, hi_source = Signal(index_bits), Signal(index_bits)
        load = self.insn.memory
        end_bits = max(uop_bits, len(load.sram_base)) + len(load.x_size) + 1
        base, end = Signal(len(load.sram_base)), Signal(end_bits)
        written = uop(self.uop_data)
        with m.If(self.load_start):
            m.d.sync += [lo_dst.eq(-1), hi_dst.eq(0), lo_source.eq(-1), hi_source.eq(0),
                         base.eq(load.sram_base), end.eq(load.sram_base + load.x_size)]
        with m.Elif(self.uop_en):
            with m.If(written.dst_idx < lo_dst):
                m.d.sync += lo_dst.eq(written.dst_idx)
            with m.If(written.dst_idx > hi_dst):
                m.d.sync += hi_dst.eq(written.dst_idx)
            with m.If(written.src_idx < lo_source):
                m.d.sync += lo_source.eq(written.src_idx)
            with m.If(written.src_idx > hi_source):
                m.d.sync += hi_source.eq(written.src_idx)

        # The table: entry `oldest` is replaced next. An entry's fields need no reset (`valid`
        # has one); its four bounds are one signal, selected at once by the lookup.
        bounds = data.StructLayout({"lo_dst": index_bits, "hi_dst": index_bits,
                                    "lo_source": index_bits, "hi_source": index_bits})
        valid = Signal(entries)
        table = [{"base": Signal(len(load.sram_base), name=f"base{n}", reset_less=True),
                  "end": Signal(end_bits, name=f"end{n}", reset_less=True),
                  "bounds": Signal(bounds, name=f"bounds{n}", reset_less=True)}
                 for n in range(entries)]
        oldest = Signal(range(entries))
        with m.If(self.load_done):
            m.d.sync += oldest.eq(Mux(oldest == entries - 1, 0, oldest + 1))
            for n, entry in enumerate(table):
                overlaps = ((entry["base"] < end) & (base < entry["end"])
                            | (end > config.uop_depth))      # a load wrapping around
                with m.If(oldest == n):
                    m.d.sync += [valid[n].eq(1), entry["base"].eq(base), entry["end"].eq(end),
                                 entry["bounds"].eq(Cat(lo_dst, hi_dst, lo_source, hi_source))]
                with m.Elif(overlaps):
                    m.d.sync += valid[n].eq(0)

        # Lookup: entries never overlap, so at most one holds a non-empty range.
        insn = self.insn
        loop = insn.gemm
        hit = Signal()
        found = Signal(bounds, name="found")
        # The entries' hits in one signal, computed in one expression (not an expression
        # repeated in the selection below, nor a one-bit signal per entry: each is a byte that
        # Verilator's C++ stores, after which the compiler reads the instruction again).
        uop_bgn, uop_end = Signal.like(loop.uop_bgn), Signal.like(loop.uop_end)
        m.d.comb += [uop_bgn.eq(loop.uop_bgn), uop_end.eq(loop.uop_end)]
        hits = Signal(entries)
        m.d.comb += hits.eq(valid & Cat((entry["base"] <= uop_bgn) & (uop_end <= entry["end"])
                                        for entry in table))
        m.d.comb += hit.eq(hits.any())
        value = 0
        for n, entry in enumerate(table):
            value = value | Mux(hits[n], entry["bounds"].as_value(), 0)
        m.d.comb += found.eq(value)

        def halves(lo, hi, factor_out, factor_in):
            top = Signal(index_bits + 26)
            m.d.comb += top.eq(sign_extended(hi + (loop.iter_out - 1) * factor_out
                                             + (loop.iter_in - 1) * factor_in, len(top)))
            half = 1 << (acc_bits - 1)
            beyond = top >= (1 << acc_bits)
            return (((lo < half) | beyond) & 1) | ((((top >= half) | beyond) & 1) << 1)

        opcode = insn.header.opcode
        vector = (opcode == Opcode.ALU) & ~insn.alu.use_imm
        empty = (loop.iter_out == 0) | (loop.iter_in == 0) | (loop.uop_bgn >= loop.uop_end)
        dst = halves(found.lo_dst, found.hi_dst, loop.dst_factor_out, loop.dst_factor_in)
        src = halves(found.lo_source, found.hi_source, insn.alu.src_factor_out,
                     insn.alu.src_factor_in)
        with m.If(empty):
            m.d.comb += self.mask.eq(0)
        with m.Elif(~hit):
            m.d.comb += self.mask.eq(BOTH_HALVES)
        with m.Elif(vector):
            m.d.comb += self.mask.eq(dst | src)
        with m.Else():
            m.d.comb += self.mask.eq(dst)
        return m

