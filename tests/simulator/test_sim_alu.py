"""The simulator's ALU engine: every opcode on edge values lane by lane as `vta.isa.alu` computes
them (itself checked against the reference table in tests/isa/test_alu.py), the SHR shift rule,
MUL, wrap-around, OUT."""

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vta.isa import Alu, AluOp, Config, DecodeError, Finish, Load, MemoryType, Store, Uop, VtaError
from vta.isa.alu import alu
from vta.simulator import check_program
from vta.simulator.functional import FunctionalSimulator
from vta.simulator.functional.alu import AluPlan, independent_segments
from vta.simulator.functional.memory import Sram

from image_builder import ImageBuilder

PYNQ = Config.preset("pynq")
def expected_lane(opcode: AluOp, a: int, b: int) -> int:
    return int(alu(opcode, np.int32(a), np.int32(b)))


def wrap(value: int) -> int:
    return (int(value) + (1 << 31)) % (1 << 32) - (1 << 31)


EDGES = [-(1 << 31), -(1 << 31) + 1, -65537, -65536, -32769, -32768, -257, -129, -128, -17, -16,
         -1, 0, 1, 2, 15, 16, 17, 31, 32, 127, 128, 255, 256, 32767, 32768, 65535, 65536,
         0x12345678, (1 << 31) - 1]


def run_alu(opcode: AluOp, a_values, b_values=None, imm: int | None = None,
            config: Config = PYNQ):
    """Run one ALU instruction over tiles holding `a_values` (each value fills a tile), with
    tiles of `b_values` as the vector operand or `imm`; returns (ACC tiles, stored bytes)."""
    lanes = config.batch * config.block_out
    count = len(a_values)
    a = np.repeat(np.array(a_values, np.int64), lanes).astype("<i4")
    b = np.repeat(np.array(b_values if b_values is not None else a_values, np.int64), lanes).astype("<i4")
    builder = ImageBuilder(config)
    acc_base = builder.place(np.concatenate([a, b]), MemoryType.ACC)
    uop_base = builder.uops([Uop(dst_idx=0, src_idx=count)])
    out_base = builder.reserve(count * config.elem_bytes(MemoryType.OUT), MemoryType.OUT)
    program = [
        Load(memory_type=MemoryType.UOP, dram_base=uop_base, y_size=1, x_size=1, x_stride=1),
        Load(memory_type=MemoryType.ACC, dram_base=acc_base, y_size=1, x_size=2 * count,
             x_stride=2 * count),
        Alu(alu_opcode=opcode, use_imm=imm is not None, imm=imm or 0, uop_bgn=0, uop_end=1,
            iter_out=1, iter_in=count, dst_factor_in=1, src_factor_in=1, push_next_dep=True),
        Store(dram_base=out_base, y_size=1, x_size=count, x_stride=count, pop_prev_dep=True,
              push_prev_dep=True),
        Load(memory_type=MemoryType.UOP, pop_next_dep=True), Finish()]
    image = builder.image(program)
    check_program(image)
    simulator = FunctionalSimulator(config)
    counters = simulator.run(image.dram, image.insn_addr, image.insn_count)
    assert counters["alu_counter"] == count
    start = out_base * config.elem_bytes(MemoryType.OUT)
    stored = image.dram[start:start + count * lanes].view(np.int8).reshape(count, lanes)
    return simulator.sram.acc[:count].reshape(count, lanes).astype(np.int64), stored


def check(opcode, acc, stored, expected):
    expected = np.array(expected, np.int64)[:, None]
    assert (acc == expected).all(), f"{opcode.name}: {acc[:, 0]} != {expected[:, 0]}"
    assert (stored == ((expected + 128) % 256) - 128).all(), "OUT is not the low byte of ACC"


@pytest.mark.parametrize("opcode", [AluOp.MIN, AluOp.MAX, AluOp.ADD, AluOp.SHR, AluOp.MUL])
def test_vector_operation_on_edge_values(opcode):
    a_values = [a for a in EDGES for _ in EDGES]
    b_values = [b for _ in EDGES for b in EDGES]
    acc, stored = run_alu(opcode, a_values, b_values)
    check(opcode, acc, stored, [expected_lane(opcode, a, b) for a, b in zip(a_values, b_values)])


@pytest.mark.parametrize("opcode", [AluOp.MIN, AluOp.MAX, AluOp.ADD, AluOp.SHR, AluOp.MUL])
@pytest.mark.parametrize("imm", [-(1 << 15), -32, -17, -16, -15, -1, 0, 1, 8, 15, 16, 31, 32,
                                 (1 << 15) - 1])
def test_immediate_operation_on_edge_values(opcode, imm):
    acc, stored = run_alu(opcode, EDGES, imm=imm)
    check(opcode, acc, stored, [expected_lane(opcode, a, imm) for a in EDGES])


def test_shift_amount_is_the_low_five_bits_signed():
    value = 0x00010003
    cases = {0: value, 3: value >> 3, 15: value >> 15, 16: wrap(value << 16), -16: wrap(value << 16),
             -1: wrap(value << 1), 31: wrap(value << 1), 32: value, 47: value >> 15}
    for imm, expected in cases.items():
        acc, _ = run_alu(AluOp.SHR, [value], imm=imm)
        assert acc[0, 0] == expected, f"SHR imm {imm}"
    acc, _ = run_alu(AluOp.SHR, [-(1 << 31)], imm=31)  # left by one: the sign bit falls off
    assert acc[0, 0] == 0
    acc, _ = run_alu(AluOp.SHR, [-256], imm=4)  # arithmetic right shift
    assert acc[0, 0] == -16
    acc, _ = run_alu(AluOp.SHR, [value], [0x12345678])  # vector: low 5 bits 24 = -8 -> left 8
    assert acc[0, 0] == wrap(value << 8)


def test_multiply_uses_the_low_sixteen_bits_of_the_source_sign_extended():
    acc, _ = run_alu(AluOp.MUL, [1000, 1000, -7, 0x40000000], [0x0001FFFF, 0x00008000, 3, 4])
    assert acc[:, 0].tolist() == [-1000, -32768000, -21, 0]
    acc, _ = run_alu(AluOp.MUL, [123456789], imm=-32768)
    assert acc[0, 0] == wrap(123456789 * -32768)


def test_add_wraps_around():
    acc, stored = run_alu(AluOp.ADD, [(1 << 31) - 1, -(1 << 31)], [1, -1])
    assert acc[:, 0].tolist() == [-(1 << 31), (1 << 31) - 1]
    assert stored[:, 0].tolist() == [0, -1]


def test_multiply_is_invalid_without_the_extension():
    with pytest.raises(DecodeError, match=r"^instruction 2: ALU MUL needs the ALU_MUL extension"):
        run_alu(AluOp.MUL, [1], imm=2, config=PYNQ.replace(ALU_MUL=False))


@pytest.mark.parametrize("config", [PYNQ.replace(LOG_BATCH=1), PYNQ.replace(LOG_BLOCK=5)],
                         ids=["2x16", "1x32"])
def test_other_tile_shapes(config):
    acc, stored = run_alu(AluOp.ADD, [5, -9, 1 << 30], [7, 1, 1 << 30], config=config)
    check(AluOp.ADD, acc, stored, [12, -8, -(1 << 31)])


def test_a_later_execution_reads_what_an_earlier_one_wrote():
    """ADD with dst i+1 and src i over a loop: a running sum, executed in order."""
    config = PYNQ
    lanes = config.block_out
    builder = ImageBuilder(config)
    acc_base = builder.place(np.repeat(np.arange(1, 9, dtype="<i4"), lanes), MemoryType.ACC)
    uop_base = builder.uops([Uop(dst_idx=1, src_idx=0)])
    program = [
        Load(memory_type=MemoryType.UOP, dram_base=uop_base, y_size=1, x_size=1, x_stride=1),
        Load(memory_type=MemoryType.ACC, dram_base=acc_base, y_size=1, x_size=8, x_stride=8),
        Alu(alu_opcode=AluOp.ADD, uop_bgn=0, uop_end=1, iter_out=1, iter_in=7, dst_factor_in=1,
            src_factor_in=1),
        Finish()]
    image = builder.image(program)
    simulator = FunctionalSimulator(config)
    simulator.run(image.dram, image.insn_addr, image.insn_count)
    assert simulator.sram.acc[:8, 0, 0].tolist() == np.cumsum(np.arange(1, 9)).tolist()


def test_an_alu_loop_too_large_to_expand_is_refused_with_a_message():
    builder = ImageBuilder(PYNQ)
    uop_base = builder.uops([Uop(dst_idx=k) for k in range(3)])
    image = builder.image([
        Load(memory_type=MemoryType.UOP, dram_base=uop_base, y_size=1, x_size=3, x_stride=3),
        Alu(alu_opcode=AluOp.ADD, use_imm=True, imm=1, uop_bgn=0, uop_end=3, iter_out=16383,
            iter_in=16383),
        Finish()])
    with pytest.raises(VtaError, match=r"^instruction 1: ALU ADD: 805208067 executions are more"):
        FunctionalSimulator(PYNQ).run(image.dram, image.insn_addr, image.insn_count)


@settings(max_examples=200, deadline=None)
@given(dst=st.lists(st.integers(0, 6), min_size=1, max_size=40), data=st.data())
def test_segments_are_independent_and_cut_only_where_needed(dst, data):
    src = data.draw(st.none() | st.lists(st.integers(0, 6), min_size=len(dst), max_size=len(dst)))
    segments = independent_segments(np.array(dst), None if src is None else np.array(src))
    assert segments[0][0] == 0 and segments[-1][1] == len(dst)
    for (start, end), (following, _) in zip(segments, segments[1:] + [(len(dst), None)]):
        assert end == following and start < end
        written = set()
        for k in range(start, end):
            assert dst[k] not in written and (src is None or src[k] not in written)
            written.add(dst[k])
        if end < len(dst):  # the cut was needed: the next execution depends on this segment
            assert dst[end] in written or (src is not None and src[end] in written)


@settings(max_examples=300, deadline=None)
@given(loops=st.tuples(*[st.integers(1, 4)] * 2, *[st.integers(0, 3)] * 4),
       dst=st.integers(0, 8), src=st.integers(0, 8), use_imm=st.booleans(),
       opcode=st.sampled_from([AluOp.ADD, AluOp.MAX]))
def test_one_micro_op_runs_its_executions_in_order(loops, dst, src, use_imm, opcode):
    """Plans of one micro-op (one segment found by arithmetic where it can be) do what the
    executions do one after the other."""
    iter_out, iter_in, dst_out, dst_in, src_out, src_in = loops
    fields = dict(alu_opcode=int(opcode), use_imm=int(use_imm), imm=3, iter_out=iter_out,
                  iter_in=iter_in, dst_factor_out=dst_out, dst_factor_in=dst_in,
                  src_factor_out=src_out, src_factor_in=src_in, uop_bgn=0, uop_end=1)
    sram = Sram(PYNQ)
    sram.acc[:40] = np.random.default_rng(dst * 9 + src).integers(-99, 99, sram.acc[:40].shape)
    acc, out = sram.acc[:40].copy(), sram.out[:40].copy()
    for i in range(iter_out):
        for j in range(iter_in):
            d, s = dst + i * dst_out + j * dst_in, src + i * src_out + j * src_in
            acc[d] = alu(opcode, acc[d], np.int32(3) if use_imm else acc[s])
            out[d] = acc[d].astype(np.int8)
    AluPlan(sram, SimpleNamespace(fields=fields),
            {"dst_idx": np.array([dst]), "src_idx": np.array([src])}).run()
    assert (sram.acc[:40] == acc).all() and (sram.out[:40] == out).all()
