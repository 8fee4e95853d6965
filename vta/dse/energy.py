"""An energy estimate per inference: operations and bytes moved, times published per-operation
energies, plus the board's static power over the run (docs/dse.md, "Energy model").

Per-operation energies are M. Horowitz's 45 nm, 0.9 V figures ("Computing's energy problem (and
what we can do about it)", ISSCC 2014, Figure 1.1.9): an 8-bit integer multiply 0.2 pJ, a 32-bit
integer add 0.1 pJ, a 32-bit integer multiply 3.1 pJ, a 64-bit read of an 8 KB SRAM 10 pJ (32 KB:
20 pJ, 1 MB: 100 pJ) and a 64-bit DRAM access 1.3 to 2.6 nJ. Narrower multiplies scale with the
product of the operand widths (an array multiplier's partial products). The figures are an ASIC
node's, not an FPGA's (whose logic costs several times more): the estimate ranks design points
against each other; it is not a power measurement.
"""

from __future__ import annotations

import math

from vta.isa import Config, MemoryType

#: Picojoules of one operation or one 64-bit access (Horowitz, ISSCC 2014).
INT8_MULTIPLY_PJ = 0.2
INT32_ADD_PJ = 0.1
INT32_MULTIPLY_PJ = 3.1
SRAM_8KB_PJ_PER_64_BITS = 10.0
DRAM_PJ_PER_64_BITS = (1300.0, 2600.0)
#: Static power of each board's FPGA (programmable logic only), watts: typical device static
#: power of the Xilinx Power Estimator at 25 °C junction — an assumption, replace with XPE's
#: figure for the real design.
STATIC_WATTS = {"xc7": 0.12, "xcup": 0.35}


def multiply_pj(a_bits: int, b_bits: int) -> float:
    """Energy of an a × b-bit integer multiply: the 8 × 8 figure scaled by a·b/64."""
    return INT8_MULTIPLY_PJ * a_bits * b_bits / 64


def sram_pj_per_64_bits(nbytes: int) -> float:
    """Energy of a 64-bit access to an SRAM of `nbytes`: grows with the square root of its size
    (fits Horowitz' 8 KB 10 pJ, 32 KB 20 pJ and 1 MB 100 pJ within 15 %)."""
    return SRAM_8KB_PJ_PER_64_BITS * math.sqrt(max(nbytes, 1) / 8192)


def buffer_bytes(config: Config, memory: MemoryType) -> int:
    return config.depth(memory) * config.elem_bytes(memory)


def energy(config: Config, counters: dict[str, int], seconds: float, family: str
           ) -> dict[str, float]:
    """Energy of one inference in microjoules, by component and in total.

    `counters`: the seven profiler counters summed over the inference's programs
    (vta.isa.program.PROFILE_COUNTERS: bytes loaded per buffer, bytes stored, GEMM and ALU
    micro-op executions) and ``alu_vector_counter``, the ALU executions among them that read
    two accumulator tiles. DRAM is charged at the middle of Horowitz' range."""
    def sram(memory: MemoryType, bits: float) -> float:
        return bits / 64 * sram_pj_per_64_bits(buffer_bytes(config, memory))

    gemm = counters["gemm_counter"]
    products = config.batch * config.block_in * config.block_out
    macs = gemm * products * (multiply_pj(config.inp_width, config.wgt_width) + INT32_ADD_PJ)
    gemm_sram = gemm * (sram(MemoryType.INP, config.inp_elem_bits)
                        + sram(MemoryType.WGT, config.wgt_elem_bits)
                        + 2 * sram(MemoryType.ACC, config.acc_elem_bits)
                        + sram(MemoryType.UOP, 32))
    lanes = config.batch * config.block_out
    alu = counters["alu_counter"] * lanes * INT32_ADD_PJ
    alu_sram = (2 * counters["alu_counter"] + counters["alu_vector_counter"]) * \
        sram(MemoryType.ACC, config.acc_elem_bits) + counters["alu_counter"] * sram(MemoryType.UOP, 32)
    loaded = {MemoryType.INP: "inp_load_nbytes", MemoryType.WGT: "wgt_load_nbytes",
              MemoryType.ACC: "acc_load_nbytes", MemoryType.UOP: "uop_load_nbytes"}
    fill_sram = sum(sram(memory, counters[name] * 8) for memory, name in loaded.items()) + \
        sram(MemoryType.OUT, counters["out_store_nbytes"] * 8)
    dram_bytes = sum(counters[name] for name in loaded.values()) + counters["out_store_nbytes"]
    dram = dram_bytes / 8 * sum(DRAM_PJ_PER_64_BITS) / 2
    static = STATIC_WATTS[family] * seconds * 1e12
    parts = {"mac": macs, "sram": gemm_sram + alu_sram + fill_sram, "alu": alu, "dram": dram,
             "static": static}
    micro = {name: value * 1e-6 for name, value in parts.items()}
    return {**{name: round(value, 4) for name, value in micro.items()},
            "total": round(sum(micro.values()), 4), "dram_bytes": dram_bytes}
