"""Hypothesis strategies for configs, instructions and micro-ops."""

import dataclasses

from hypothesis import assume
from hypothesis import strategies as st

from vta.isa import AluOp, Config, ConfigError, MemoryType, Opcode, Uop, layouts
from vta.isa.instructions import INSTRUCTION_CLASSES

ENUM_FIELDS = {"memory_type": MemoryType, "alu_opcode": AluOp}


@st.composite
def configs(draw) -> Config:
    """Valid configs around the presets: LOG_BATCH 0-1, LOG_BLOCK_IN and LOG_BLOCK_OUT 3-5,
    int2/int4/int8 inputs and weights, varied buffer sizes."""
    keys = {
        "LOG_BATCH": draw(st.integers(0, 1)),
        "LOG_BLOCK_IN": draw(st.integers(3, 5)),
        "LOG_BLOCK_OUT": draw(st.integers(3, 5)),
        "LOG_INP_WIDTH": draw(st.integers(1, 3)),
        "LOG_WGT_WIDTH": draw(st.integers(1, 3)),
        "LOG_UOP_BUFF_SIZE": draw(st.integers(10, 17)),
        "LOG_INP_BUFF_SIZE": draw(st.integers(12, 18)),
        "LOG_WGT_BUFF_SIZE": draw(st.integers(14, 20)),
        "LOG_ACC_BUFF_SIZE": draw(st.integers(14, 19)),
        "ALU_MUL": draw(st.booleans()),
    }
    try:
        config = Config.preset().replace(**keys)
        layouts(config)
    except ConfigError:
        assume(False)
    return config


@st.composite
def instructions(draw, config: Config):
    """Any instruction `decode` accepts for `config`, every field drawn over its full range."""
    opcode = draw(st.sampled_from(list(Opcode)))
    layout = layouts(config).for_opcode(opcode)
    cls = INSTRUCTION_CLASSES[opcode]
    types = {field.name: field.type for field in dataclasses.fields(cls)}
    values = {}
    for field in layout.fields:
        if field.name == "opcode":
            continue
        if field.name in ENUM_FIELDS:
            values[field.name] = draw(st.sampled_from(list(ENUM_FIELDS[field.name])))
        elif types[field.name] == "bool":
            values[field.name] = draw(st.booleans())
        else:
            values[field.name] = draw(st.integers(field.minimum, field.maximum))
    return cls(**values)


@st.composite
def uops(draw, config: Config) -> Uop:
    layout = layouts(config).uop
    return Uop(**{field.name: draw(st.integers(field.minimum, field.maximum))
                  for field in layout.fields})
