"""The static check (and the simulator's own run-time checks): invalid instructions and every
kind of out-of-range SRAM or DRAM access, each named by instruction index."""

import numpy as np
import pytest

from vta.isa import (INSN_BYTES, Alu, AluOp, BoundsError, Config, DecodeError, Finish, Gemm, Load,
                     MemoryType, Store, Uop, layouts)
from vta.simulator import check_program
from vta.simulator.functional import FunctionalSimulator

from image_builder import ImageBuilder

PYNQ = Config.preset("pynq")


def image_of(program, config=PYNQ, uops=(Uop(),), data_tiles=8):
    """An image with `data_tiles` WGT/INP/ACC/OUT tiles and `uops`, then `program` (items may
    be functions of the regions' dram_base by memory type); returns (image, bases)."""
    builder = ImageBuilder(config)
    bases = {kind: builder.reserve(data_tiles * config.elem_bytes(kind), kind, fill=1)
             for kind in (MemoryType.WGT, MemoryType.INP, MemoryType.ACC, MemoryType.OUT)}
    bases[MemoryType.UOP] = builder.uops(list(uops))
    return builder.image([p(bases) if callable(p) else p for p in program]), bases


def expect_everywhere(error, pattern, image):
    """Both the static check and a run of the simulator alone raise `error`."""
    with pytest.raises(error, match=pattern):
        check_program(image)
    with pytest.raises(error, match=pattern):
        FunctionalSimulator(image.config).run(image.dram.copy(), image.insn_addr, image.insn_count)


def load_uops(count=1):
    return lambda b: Load(memory_type=MemoryType.UOP, dram_base=b[MemoryType.UOP], y_size=1,
                          x_size=count, x_stride=count)


# -- invalid instructions -------------------------------------------------------------------
def test_invalid_opcode():
    image, _ = image_of([Finish(), Finish()])
    image.dram[image.insn_addr + INSN_BYTES] = 5
    expect_everywhere(DecodeError, r"^instruction 1: invalid opcode 5$", image)


def test_the_first_invalid_instruction_is_reported():
    image, _ = image_of([Finish(), Load(memory_type=MemoryType.OUT), Finish(), Finish()])
    image.dram[image.insn_addr + 3 * INSN_BYTES] = 7
    expect_everywhere(DecodeError, r"^instruction 1: LOAD with memory type OUT", image)


@pytest.mark.parametrize("memory_type", [MemoryType.OUT, MemoryType.ACC_8BIT])
def test_load_types_outside_the_decode_table(memory_type):
    image, _ = image_of([Load(memory_type=memory_type, x_size=0), Finish()])
    expect_everywhere(DecodeError, rf"^instruction 0: LOAD with memory type {memory_type.name} is invalid",
                      image)


def test_store_needs_out_and_no_padding_unless_it_is_a_nop():
    image, _ = image_of([Store(memory_type=MemoryType.INP, x_size=0, y_pad_0=3), Finish()])
    check_program(image)  # an x_size = 0 STORE is a NOP whatever its other fields
    image, _ = image_of([Store(x_size=1, y_size=1, x_pad_1=1), Finish()])
    expect_everywhere(DecodeError, r"^instruction 0: STORE with padding \(x_pad_1 = 1\)", image)
    image, _ = image_of([Store(memory_type=MemoryType.ACC, x_size=1, y_size=1), Finish()])
    expect_everywhere(DecodeError, r"^instruction 0: STORE with memory type 3 is invalid", image)


def test_invalid_alu_opcode():
    image, _ = image_of([Alu(alu_opcode=AluOp.MIN), Finish()])
    field = layouts(PYNQ).alu["alu_opcode"]
    stream = image.dram[image.insn_addr:image.insn_addr + INSN_BYTES]
    word = int.from_bytes(stream.tobytes(), "little") | 6 << field.lsb
    stream[:] = np.frombuffer(word.to_bytes(INSN_BYTES, "little"), np.uint8)
    expect_everywhere(DecodeError, r"^instruction 0: invalid ALU opcode 6$", image)


@pytest.mark.parametrize("insn, flag", [
    (Load(memory_type=MemoryType.INP, pop_prev_dep=True), "pop_prev_dep"),
    (Load(memory_type=MemoryType.WGT, push_prev_dep=True), "push_prev_dep"),
    (Store(pop_next_dep=True), "pop_next_dep"),
    (Store(push_next_dep=True), "push_next_dep"),
])
def test_dependency_flags_the_module_does_not_have(insn, flag):
    image, _ = image_of([insn, Finish()])
    expect_everywhere(DecodeError, rf"^instruction 0: .* sets {flag}, which the", image)


def test_nops_with_junk_fields_are_valid():
    junk = dict(sram_base=65535, dram_base=(1 << 32) - 1, y_size=9, x_stride=7, y_pad_0=15)
    image, _ = image_of([Load(memory_type=MemoryType.INP, x_size=0, **junk),
                         Load(memory_type=MemoryType.ACC, x_size=0, **junk),
                         Store(x_size=0, **junk), Finish()])
    check_program(image)
    counters = FunctionalSimulator(PYNQ).run(image.dram, image.insn_addr, image.insn_count)
    assert not any(counters.values())


# -- bounds -----------------------------------------------------------------------------------
def test_padded_load_past_the_end_of_the_buffer():
    depth = PYNQ.inp_depth
    image, _ = image_of([lambda b: Load(memory_type=MemoryType.INP, sram_base=depth - 14,
                                        dram_base=b[MemoryType.INP], y_size=1, x_size=3,
                                        x_stride=3, y_pad_1=2, x_pad_0=1, x_pad_1=1), Finish()])
    expect_everywhere(BoundsError, rf"^instruction 0: LOAD INP: INP index {depth} is outside the "
                      rf"buffer of depth {depth} \(SRAM elements \[{depth - 14}, {depth + 1}\)\)$", image)


@pytest.mark.parametrize("kind", [MemoryType.INP, MemoryType.WGT, MemoryType.ACC, MemoryType.UOP])
def test_load_past_the_end_of_dram(kind):
    image, _ = image_of([Load(memory_type=kind), Finish()])  # same size with any field values
    elem = PYNQ.elem_bytes(kind)
    last = image.dram.size // elem  # the first element past the image
    image, _ = image_of([Load(memory_type=kind, dram_base=last - 2, y_size=2, x_size=1,
                              x_stride=2 if kind != MemoryType.UOP else 1), Finish()])
    if kind == MemoryType.UOP:  # a UOP load ignores y_size: x_size = 3 reaches past the end
        image, _ = image_of([Load(memory_type=kind, dram_base=last - 2, y_size=1, x_size=3), Finish()])
    expect_everywhere(BoundsError, rf"^instruction 0: LOAD {kind.name}: DRAM bytes .* lie outside "
                      rf"the DRAM image of {image.dram.size} bytes", image)


def test_store_past_the_end_of_dram_and_of_out():
    def store(sram, dram_base, **fields):
        return lambda b: Store(sram_base=sram, dram_base=dram_base(b), x_size=2, x_stride=4,
                               push_prev_dep=True, **fields)
    finish = [Load(memory_type=MemoryType.UOP, pop_next_dep=True), Finish()]  # after the STORE
    image, _ = image_of([store(PYNQ.out_depth - 3, lambda b: b[MemoryType.OUT], y_size=2)] + finish)
    expect_everywhere(BoundsError, rf"^instruction 0: STORE OUT: OUT index {PYNQ.out_depth} is "
                      rf"outside the buffer of depth {PYNQ.out_depth}", image)
    image, _ = image_of([store(0, lambda b: 0, y_size=2)] + finish)
    past = image.dram.size // PYNQ.elem_bytes(MemoryType.OUT)  # same size with any dram_base
    image, _ = image_of([store(0, lambda b: past - 5, y_size=2)] + finish)
    expect_everywhere(BoundsError, r"^instruction 0: STORE OUT: DRAM bytes", image)


@pytest.mark.parametrize("operand, buffer, depth", [
    ("dst", "ACC", PYNQ.acc_depth), ("src", "INP", PYNQ.inp_depth), ("wgt", "WGT", PYNQ.wgt_depth)])
def test_gemm_loop_expanded_index(operand, buffer, depth):
    uops = [Uop(), Uop(**{f"{operand}_idx": depth - 7})]
    gemm = Gemm(uop_bgn=0, uop_end=2, iter_out=3, iter_in=4,
                **{f"{operand}_factor_out": 2, f"{operand}_factor_in": 1})
    image, _ = image_of([load_uops(2), gemm.replace(iter_in=2), gemm, Finish()], uops=uops)
    expect_everywhere(BoundsError, rf"^instruction 2: GEMM: {operand} {buffer} index {depth + 0} "
                      rf"is outside the buffer of depth {depth} \(micro-op 1, iteration \(2, 3\)\)",
                      image)


def test_alu_source_is_checked_only_when_it_is_read():
    uops = [Uop(dst_idx=0, src_idx=PYNQ.acc_depth - 1)]
    alu = Alu(alu_opcode=AluOp.ADD, uop_bgn=0, uop_end=1, iter_out=1, iter_in=2, src_factor_in=1)
    image, _ = image_of([load_uops(), alu.replace(use_imm=True), Finish()], uops=uops)
    check_program(image)
    image, _ = image_of([load_uops(), alu, Finish()], uops=uops)
    expect_everywhere(BoundsError, rf"^instruction 1: ALU ADD: src ACC index {PYNQ.acc_depth} is "
                      rf"outside", image)


def test_micro_op_range_past_the_uop_buffer():
    depth = PYNQ.uop_depth
    image, _ = image_of([Gemm(uop_bgn=depth - 1, uop_end=depth + 1, iter_out=1, iter_in=1), Finish()])
    expect_everywhere(BoundsError, rf"^instruction 0: GEMM: UOP index {depth} is outside", image)
    image, _ = image_of([lambda b: Load(memory_type=MemoryType.UOP, sram_base=depth - 1,
                                        dram_base=b[MemoryType.UOP], y_size=1, x_size=2), Finish()],
                        uops=[Uop(), Uop()])
    expect_everywhere(BoundsError, rf"^instruction 0: LOAD UOP: UOP index {depth} is outside", image)


def test_empty_loops_read_nothing():
    depth = PYNQ.uop_depth
    image, _ = image_of([Gemm(uop_bgn=depth - 1, uop_end=depth + 5, iter_out=0, iter_in=1),
                         Gemm(uop_bgn=5, uop_end=5, iter_out=3, iter_in=3), Finish()])
    check_program(image)


def test_static_check_follows_micro_op_loads_in_program_order():
    """The same GEMM is in range with the first kernel and out of range with the second."""
    high = Uop(dst_idx=PYNQ.acc_depth - 1)
    builder = ImageBuilder(PYNQ)
    low_base, high_base = builder.uops([Uop()]), builder.uops([high])
    gemm = Gemm(uop_bgn=0, uop_end=1, iter_out=1, iter_in=2, dst_factor_in=1)

    def load(base):
        return Load(memory_type=MemoryType.UOP, dram_base=base, y_size=1, x_size=1, x_stride=1)
    image = builder.image([load(low_base), gemm, load(high_base), gemm, Finish()])
    expect_everywhere(BoundsError, r"^instruction 3: GEMM: dst ACC index", image)
