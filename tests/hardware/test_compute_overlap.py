"""The compute module's two units (`Machine.overlap_kernels` > 0, docs/hardware.md): random
programs whose GEMM and ALU kernels lie in either half of ACC, and a program built to overlap,
run on the core in Amaranth simulation. The final DRAM must equal the reference interpreter's
(the original semantics), and the cycles and every counter the cycle model's."""

import sys
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vta.fuzz.generator import generate
from vta.hardware.core import VtaCore
from vta.isa import Alu, AluOp, Config, Finish, Gemm, Load, MemoryType, Store, Uop
from vta.runtime.backends.rtl.amaranth_simulation import run_core
from vta.simulator.cycle import CycleModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "simulator"))
from image_builder import ImageBuilder  # noqa: E402
from program_strategies import programs  # noqa: E402
from reference_interpreter import reference_run  # noqa: E402

OVERLAP = Config.preset("pynq").replace(MACHINE={"overlap_kernels": 4})


def run_and_compare(image) -> int:
    """Run `image` on the core; check data against the reference and timing against the
    model; the cycles."""
    expected, _ = reference_run(image)
    dram = image.dram.copy()
    result, _ = run_core(VtaCore(config=image.config), dram, image.insn_addr, image.insn_count,
                         max_cycles=40000)
    different = np.flatnonzero(dram != expected)
    assert not different.size, f"{different.size} bytes differ, first at {different[0]:#x}"
    model = CycleModel(image.config).run(image.program, image.insn_addr, image.dram)
    assert model.cycles == result.cycles
    assert model.modules == result.modules
    return result.cycles


def overlapping_program(config: Config):
    """A GEMM over tiles in ACC's lower half, then vector and immediate ALU ops (with their
    LOAD UOPs and a LOAD ACC) in the upper half while it runs, a pushing ALU op that must wait
    for the older GEMM, and the stores of both halves."""
    builder = ImageBuilder(config)
    rng = np.random.default_rng(7)
    half = config.depth(MemoryType.ACC) // 2
    inp = builder.place(rng.integers(-128, 128, 4 * config.elem_bytes(MemoryType.INP),
                                     dtype=np.int64).astype(np.int8), MemoryType.INP)
    wgt = builder.place(rng.integers(-128, 128, 2 * config.elem_bytes(MemoryType.WGT),
                                     dtype=np.int64).astype(np.int8), MemoryType.WGT)
    acc = builder.place(rng.integers(-1000, 1000, (8, config.batch, config.block_out),
                                     dtype=np.int64).astype("<i4"), MemoryType.ACC)
    out = builder.reserve(16 * config.elem_bytes(MemoryType.OUT), MemoryType.OUT)
    gemm_uops = builder.uops([Uop(dst_idx=d, src_idx=d % 4, wgt_idx=d % 2) for d in range(8)])
    vector_uops = builder.uops([Uop(dst_idx=half + 1, src_idx=half + 4)])
    imm_uops = builder.uops([Uop(dst_idx=half, src_idx=half)])
    program = [
        Load(memory_type=MemoryType.INP, sram_base=0, dram_base=inp, y_size=1, x_size=4,
             x_stride=4),
        Load(memory_type=MemoryType.WGT, sram_base=0, dram_base=wgt, y_size=1, x_size=2,
             x_stride=2, push_next_dep=True),
        Load(memory_type=MemoryType.UOP, sram_base=0, dram_base=gemm_uops, y_size=1, x_size=8,
             x_stride=8, pop_prev_dep=True),
        Load(memory_type=MemoryType.ACC, sram_base=half, dram_base=acc, y_size=1, x_size=8,
             x_stride=8),
        Gemm(reset_reg=False, uop_bgn=0, uop_end=8, iter_out=20, iter_in=3, dst_factor_out=0,
             dst_factor_in=0, src_factor_out=0, src_factor_in=0, wgt_factor_out=0,
             wgt_factor_in=0),
        Load(memory_type=MemoryType.UOP, sram_base=8, dram_base=vector_uops, y_size=1, x_size=1,
             x_stride=1),
        Alu(alu_opcode=AluOp.ADD, use_imm=False, uop_bgn=8, uop_end=9, iter_out=1, iter_in=3,
            dst_factor_in=2, src_factor_in=1),
        Load(memory_type=MemoryType.UOP, sram_base=9, dram_base=imm_uops, y_size=1, x_size=1,
             x_stride=1),
        Alu(alu_opcode=AluOp.SHR, use_imm=True, imm=2, uop_bgn=9, uop_end=10, iter_out=2,
            iter_in=4, dst_factor_out=4, dst_factor_in=1),
        Alu(alu_opcode=AluOp.MAX, use_imm=True, imm=-5, uop_bgn=9, uop_end=10, iter_out=1,
            iter_in=8, dst_factor_in=1, push_next_dep=True),
        Store(sram_base=0, dram_base=out, y_size=1, x_size=8, x_stride=8, pop_prev_dep=True),
        Store(sram_base=half, dram_base=out + 8, y_size=1, x_size=8, x_stride=8,
              push_prev_dep=True),
        Load(memory_type=MemoryType.UOP, pop_next_dep=True),
        Finish(),
    ]
    return builder.image(program)


def test_units_overlap_and_keep_the_semantics():
    image = overlapping_program(OVERLAP)
    cycles = run_and_compare(image)
    one_unit = OVERLAP.replace(MACHINE={"overlap_kernels": 0})
    serial = CycleModel(one_unit).run(image.program, image.insn_addr, image.dram).cycles
    assert cycles < serial          # the ALU work ran beside the GEMM


@settings(max_examples=4, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_random_programs_on_overlapping_units(data):
    run_and_compare(data.draw(programs(OVERLAP)))


def test_an_acc_of_two_tiles_has_its_halves_as_its_banks():
    """ACC two tiles deep: its halves are its parities (the split ACC's banks 0 and 3, no
    address bits within a bank). Fuzzer programs whose GEMM and ALU kernels overlap there."""
    config = Config.preset("pynq").replace(
        LOG_BLOCK=2, LOG_BUS_WIDTH=5, LOG_UOP_BUFF_SIZE=6, LOG_INP_BUFF_SIZE=6,
        LOG_WGT_BUFF_SIZE=8, LOG_ACC_BUFF_SIZE=5, MACHINE={"overlap_kernels": 4})
    assert config.acc_depth == 2
    for seed in (1, 3):             # programs the overlap makes faster (cycle model)
        run_and_compare(generate(config, seed, loop_limits=False).image())
