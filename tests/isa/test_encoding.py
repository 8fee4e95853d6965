"""Instruction and micro-op encodings: reference positions, hypothesis round trips over random
configs, and the bit-exact decode -> encode round trip of every instruction in the corpus."""

import numpy as np
import pytest
from corpus import case_id, corpus_cases
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from isa_strategies import configs, instructions, uops

from vta.isa import (INSN_BYTES, Config, DecodeError, FieldRangeError, Gemm, Opcode, decode,
                     decode_uop, encode, encode_uop, layouts)
from vta.isa.image import ProgramImage
from vta.isa.program import decode_program

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.filter_too_much])

# (field, msb, lsb) from isa-reference §3 (1x16) and tests/conformance/corpus/README.md §5 (1x32).
REFERENCE_1X16 = {
    "memory": [("memory_type", 9, 7), ("sram_base", 25, 10), ("dram_base", 57, 26),
               ("y_size", 79, 64), ("x_size", 95, 80), ("x_stride", 111, 96),
               ("y_pad_0", 115, 112), ("y_pad_1", 119, 116), ("x_pad_0", 123, 120),
               ("x_pad_1", 127, 124)],
    "gemm": [("reset_reg", 7, 7), ("uop_bgn", 20, 8), ("uop_end", 34, 21), ("iter_out", 48, 35),
             ("iter_in", 62, 49), ("dst_factor_out", 74, 64), ("dst_factor_in", 85, 75),
             ("src_factor_out", 96, 86), ("src_factor_in", 107, 97),
             ("wgt_factor_out", 117, 108), ("wgt_factor_in", 127, 118)],
    "alu": [("dst_factor_out", 74, 64), ("src_factor_in", 107, 97), ("alu_opcode", 110, 108),
            ("use_imm", 111, 111), ("imm", 127, 112)],
    "uop": [("dst_idx", 10, 0), ("src_idx", 21, 11), ("wgt_idx", 31, 22)],
    "finish": [("opcode", 2, 0), ("pop_prev_dep", 3, 3), ("pop_next_dep", 4, 4),
               ("push_prev_dep", 5, 5), ("push_next_dep", 6, 6)],
}
REFERENCE_1X32 = {
    "uop": [("dst_idx", 9, 0), ("src_idx", 19, 10), ("wgt_idx", 27, 20)],
    "gemm": [("dst_factor_out", 73, 64), ("dst_factor_in", 83, 74), ("src_factor_out", 93, 84),
             ("src_factor_in", 103, 94), ("wgt_factor_out", 111, 104),
             ("wgt_factor_in", 119, 112)],
    "alu": [("alu_opcode", 106, 104), ("use_imm", 107, 107), ("imm", 123, 108)],
}


@pytest.mark.parametrize("config, reference", [
    (Config.preset("pynq"), REFERENCE_1X16),
    (Config.preset("pynq").replace(LOG_BLOCK=5), REFERENCE_1X32),
], ids=["1x16", "1x32"])
def test_layouts_match_the_reference_tables(config, reference):
    isa = layouts(config)
    for attribute, rows in reference.items():
        layout = getattr(isa, attribute)
        for name, msb, lsb in rows:
            assert (layout[name].lsb, layout[name].width) == (lsb, msb - lsb + 1), (attribute, name)
    assert isa.alu["imm"].signed


def expected_word(insn, config) -> int:
    """The instruction word built bit by bit from the layout positions."""
    word = 0
    for field in layouts(config).for_opcode(insn.opcode).fields:
        value = int(insn.fields()[field.name])
        for bit in range(field.width):
            word |= ((value >> bit) & 1) << (field.lsb + bit)
    return word


@SETTINGS
@given(st.data())
def test_encode_decode_round_trip_of_instructions_and_micro_ops(data):
    config = data.draw(configs())
    insn = data.draw(instructions(config))
    encoded = encode(insn, config)
    assert len(encoded) == INSN_BYTES
    assert int.from_bytes(encoded, "little") == expected_word(insn, config)
    assert decode(encoded, config) == insn
    uop = data.draw(uops(config))
    word = encode_uop(uop, config)
    assert 0 <= word < 1 << 32
    assert decode_uop(word, config) == uop


@SETTINGS
@given(st.data())
def test_decode_encode_round_trip_of_words(data):
    """Any word with a valid opcode and enums and zero unused bits decodes and re-encodes to
    itself."""
    config = data.draw(configs())
    opcode = data.draw(st.sampled_from(list(Opcode)))
    layout = layouts(config).for_opcode(opcode)
    used = sum(((1 << field.width) - 1) << field.lsb for field in layout.fields)
    word = (data.draw(st.integers(0, (1 << 128) - 1)) & used & ~0b111) | int(opcode)
    raw = word.to_bytes(INSN_BYTES, "little")
    try:
        insn = decode(raw, config)
    except DecodeError as error:  # memory type 6-7 or ALU opcode 5-7
        assert "invalid memory_type" in str(error) or "invalid alu_opcode" in str(error)
        assume(False)
    assert encode(insn, config) == raw




@SETTINGS
@given(st.data())
def test_out_of_range_value_names_field_value_and_limit(data):
    config = data.draw(configs())
    name = data.draw(st.sampled_from(["uop_bgn", "uop_end", "iter_out", "dst_factor_in",
                                      "src_factor_out", "wgt_factor_in"]))
    width = layouts(config).gemm[name].width
    value = (1 << width) + data.draw(st.integers(0, 1000))
    with pytest.raises(FieldRangeError) as error:
        encode(Gemm(**{name: value}), config, "instruction 7: ")
    assert str(error.value) == (f"instruction 7: field {name} = {value} does not fit its {width} "
                                f"bits (at most {(1 << width) - 1})")


@pytest.mark.parametrize("value", [2.5, 2.0, "2"])
def test_a_value_that_is_not_a_whole_number_names_the_field(value):
    config = Config.preset()
    with pytest.raises(FieldRangeError, match=f"^instruction 7: field iter_out = {value!r} is "
                                              "not a whole number$"):
        encode(Gemm(uop_end=1, iter_out=value), config, "instruction 7: ")
    assert encode(Gemm(uop_end=1, iter_out=np.int64(2)), config) == \
        encode(Gemm(uop_end=1, iter_out=2), config)


def test_invalid_opcodes_are_rejected():
    config = Config.preset()
    for opcode in (5, 6, 7):
        with pytest.raises(DecodeError, match=f"instruction 3: invalid opcode {opcode}"):
            decode(bytes([opcode]) + bytes(15), config, "instruction 3: ")


def test_a_program_decodes_repeated_instructions_once_and_names_the_first_invalid_one():
    config = Config.preset()
    gemm = encode(Gemm(uop_end=1, iter_out=2, iter_in=3), config)
    invalid = bytes([6]) + bytes(15)
    words = np.frombuffer(gemm * 3 + invalid + gemm + invalid, np.uint8)
    with pytest.raises(DecodeError, match="^instruction 3: invalid opcode 6"):
        decode_program(config, words, 0, 6)
    program = decode_program(config, words, 0, 3)
    assert [insn.index for insn in program] == [0, 1, 2]
    assert all(insn.fields is program[0].fields and insn.raw == gemm for insn in program)
    assert program[2].executions == 6 and program[2].opcode is Opcode.GEMM


@pytest.mark.parametrize("case", corpus_cases(), ids=case_id)
def test_corpus_instructions_decode_and_reencode_bit_exactly(case):
    image = ProgramImage.load(case)
    stream = image.instruction_bytes.tobytes()
    insns = image.instructions()
    assert b"".join(encode(insn, image.config) for insn in insns) == stream
    assert insns[-1].opcode is Opcode.FINISH
