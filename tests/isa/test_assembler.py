"""The text format: exact round trips with the binary encoding, and one-line errors that name
the line and the field."""

import pytest
from corpus import case_id, corpus_cases
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from isa_strategies import configs, instructions

from vta.isa import (Alu, AluOp, Config, DecodeError, FieldRangeError, Finish, Gemm, Load,
                     MemoryType, Store, VtaError, encode, encode_stream)
from vta.isa.assembler import assemble, disassemble, format_instruction, parse_program
from vta.isa.image import ProgramImage

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.filter_too_much])
PYNQ = Config.preset()


@SETTINGS
@given(st.data())
def test_format_parse_round_trip(data):
    config = data.draw(configs())
    insn = data.draw(instructions(config))
    assert parse_program(format_instruction(insn, config), config) == [insn]


@SETTINGS
@given(st.data())
def test_disassemble_assemble_round_trip_of_streams(data):
    config = data.draw(configs())
    program = data.draw(st.lists(instructions(config), max_size=20))
    stream = encode_stream(program, config)
    for indexed in (True, False):
        text = disassemble(stream, config, first_index=7, indexed=indexed)
        assert assemble(text, config) == stream


@pytest.mark.parametrize("case", corpus_cases(), ids=case_id)
def test_corpus_streams_round_trip_through_text(case):
    image = ProgramImage.load(case)
    stream = image.instruction_bytes.tobytes()
    text = disassemble(stream, image.config)
    assert len(text.splitlines()) == image.insn_count
    assert assemble(text, image.config) == stream


def test_written_syntax():
    source = """
    # a comment line, then a blank one

    LOAD INP sram_base=0 dram_base=0x40 y_size=1 x_size=4 x_stride=4 pop_next_dep push_next_dep
    load wgt x_size=2 y_size=0b11 x_pad_1=15   # lower case, binary, trailing comment
    12: STORE OUT sram_base=5 dram_base=9 y_size=1 x_size=1 x_stride=1 pop_prev_dep=1
    GEMM reset_reg uop_bgn=1 uop_end=3 iter_out=2 iter_in=2 wgt_factor_in=1
    ALU SHR use_imm imm=-3 uop_end=1 iter_out=1 iter_in=1 push_prev_dep
    FINISH
    """
    assert parse_program(source, PYNQ) == [
        Load(memory_type=MemoryType.INP, dram_base=64, y_size=1, x_size=4, x_stride=4,
             pop_next_dep=True, push_next_dep=True),
        Load(memory_type=MemoryType.WGT, x_size=2, y_size=3, x_pad_1=15),
        Store(sram_base=5, dram_base=9, y_size=1, x_size=1, x_stride=1, pop_prev_dep=True),
        Gemm(reset_reg=True, uop_bgn=1, uop_end=3, iter_out=2, iter_in=2, wgt_factor_in=1),
        Alu(alu_opcode=AluOp.SHR, use_imm=True, imm=-3, uop_end=1, iter_out=1, iter_in=1,
            push_prev_dep=True),
        Finish(),
    ]


def test_disassembly_text():
    load = Load(memory_type=MemoryType.INP, dram_base=64, y_size=1, x_size=4, x_stride=4,
                pop_next_dep=True, push_next_dep=True)
    alu = Alu(alu_opcode=AluOp.ADD, uop_end=1, iter_out=1, iter_in=1, use_imm=True, imm=-1)
    text = disassemble(encode(load, PYNQ) + encode(alu, PYNQ) + encode(Finish(), PYNQ), PYNQ)
    assert text.splitlines() == [
        "0: LOAD INP sram_base=0 dram_base=0x40 y_size=1 x_size=4 x_stride=4 pop_next_dep push_next_dep",
        "1: ALU ADD uop_bgn=0 uop_end=1 iter_out=1 iter_in=1 use_imm imm=-1",
        "2: FINISH",
    ]


@pytest.mark.parametrize("line, error, message", [
    ("LOAD INP sram_base=70000", FieldRangeError,
     "line 3: field sram_base = 70000 does not fit its 16 bits (at most 65535)"),
    ("ALU MAX use_imm imm=-40000", FieldRangeError,
     "line 3: field imm = -40000 does not fit its 16 bits (-32768..32767)"),
    ("GEMM uop_bgn=8192", FieldRangeError,
     "line 3: field uop_bgn = 8192 does not fit its 13 bits (at most 8191)"),
    ("STORE OUT x_size=-1", FieldRangeError,
     "line 3: field x_size = -1 does not fit its 16 bits (at most 65535)"),
    ("LOAD INP pop_next_dep=2", FieldRangeError,
     "line 3: field pop_next_dep = 2 does not fit its 1 bits (at most 1)"),
    ("LAOD INP", DecodeError, "line 3: unknown mnemonic 'LAOD' (known: LOAD, STORE, GEMM, FINISH, ALU)"),
    ("LOAD", DecodeError, "line 3: LOAD needs a memory type (UOP, WGT, INP, ACC, OUT, ACC_8BIT)"),
    ("ALU XOR", DecodeError, "line 3: ALU needs an ALU operation (MIN, MAX, ADD, SHR, MUL), got 'XOR'"),
    ("GEMM wgt_idx=1", DecodeError, "line 3: GEMM has no field 'wgt_idx'"),
    ("FINISH memory_type=1", DecodeError, "line 3: FINISH has no field 'memory_type'"),
    ("LOAD INP x_size", DecodeError, "line 3: field x_size needs a value (x_size=N)"),
    ("LOAD INP x_size=1 x_size=2", DecodeError, "line 3: field x_size is given twice"),
    ("LOAD INP x_size=four", DecodeError, "line 3: field x_size: 'four' is not an integer"),
])
def test_errors_name_the_line_and_the_field(line, error, message):
    with pytest.raises(error) as raised:
        parse_program(f"FINISH\n# comment\n{line}\nFINISH\n", PYNQ)
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("separator", ["\x0c", "\x0b", "\x1c", "\x85", "\u2028"])
def test_lines_end_only_at_line_feeds_and_carriage_returns(separator):
    """A form feed (or another character str.splitlines breaks at) inside a comment leaves it
    one comment line, and errors count lines as an editor does."""
    assert parse_program(f"FINISH\n# page{separator}break\nFINISH\n", PYNQ) == [Finish()] * 2
    with pytest.raises(DecodeError, match="^line 3: unknown mnemonic 'LAOD'"):
        parse_program(f"FINISH\n# page{separator}break\nLAOD INP\n", PYNQ)
    with pytest.raises(DecodeError, match="^line 3: unknown mnemonic 'LAOD'"):
        parse_program("FINISH\r# old Mac\rLAOD INP\r\n", PYNQ)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("LOADSTRGEMFINSHUpx_=0x1-#: \n\t")), max_size=80))
def test_arbitrary_text_gives_a_vta_error_or_a_program(text):
    try:
        program = parse_program(text, PYNQ)
    except VtaError as error:
        assert str(error).startswith("line ")
    else:
        stream = encode_stream(program, PYNQ)
        assert assemble(disassemble(stream, PYNQ), PYNQ) == stream


def test_one_bit_numeric_fields_are_not_flags():
    tiny = PYNQ.replace(LOG_UOP_BUFF_SIZE=3)  # a 2-entry micro-op buffer: uop_bgn is 1 bit wide
    gemm = Gemm(uop_bgn=1, uop_end=2, iter_out=1, iter_in=1)
    assert format_instruction(gemm, tiny) == "GEMM uop_bgn=1 uop_end=2 iter_out=1 iter_in=1"
    assert parse_program("GEMM uop_bgn=1 uop_end=2 iter_out=1 iter_in=1", tiny) == [gemm]
    with pytest.raises(DecodeError, match="line 1: field uop_bgn needs a value"):
        parse_program("GEMM uop_bgn", tiny)
