"""The generator serves any config the config check accepts, not only the named fuzz configs:
every field range comes from the config's field widths and buffer depths (`vta.isa`), so every
program it draws encodes, is valid and race-free, runs on the functional backend and — where
the core can be built with the config's bus — agrees with the cycle backend. The design-space
exploration verifies each point it proposes with these programs."""

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from vta.fuzz import races
from vta.fuzz.campaign import check
from vta.fuzz.compare import run
from vta.fuzz.generator import generate
from vta.fuzz.invalid import make_invalid
from vta.isa import Config, ConfigError, Gemm, Load, layouts
from vta.isa.config import KEY_RANGES
from vta.simulator import check_program

#: The buffer depths a config may have (2^1 … 2^16 elements, `Config`).
LOG_DEPTHS = st.one_of(st.integers(1, 4), st.integers(5, 12), st.integers(13, 16))


def _key(name):
    low, high, _ = KEY_RANGES[name]
    return st.integers(low, high)


@st.composite
def any_configs(draw) -> Config:
    """A config over every key's whole accepted range: operand widths, batch, BLOCK_IN and
    BLOCK_OUT drawn apart, buffers from 2 elements to 2^16, bus widths, the multiply, latencies
    and token queues from 1 token deep."""
    keys = {name: draw(_key(name)) for name in
            ("LOG_INP_WIDTH", "LOG_WGT_WIDTH", "LOG_BATCH", "LOG_BLOCK_IN", "LOG_BLOCK_OUT",
             "LOG_BUS_WIDTH")}
    keys["ALU_MUL"] = draw(st.booleans())
    keys["MEM_READ_LATENCY"] = draw(st.sampled_from([1, 2, 7, 32, 100]))
    keys["MEM_WRITE_LATENCY"] = draw(st.sampled_from([1, 3, 16, 64]))
    # Buffer sizes from the depths drawn: log bytes = log depth + log bits of an element - 3.
    log_bits = {
        "LOG_UOP_BUFF_SIZE": 5,
        "LOG_INP_BUFF_SIZE": keys["LOG_BATCH"] + keys["LOG_BLOCK_IN"] + keys["LOG_INP_WIDTH"],
        "LOG_WGT_BUFF_SIZE": keys["LOG_BLOCK_IN"] + keys["LOG_BLOCK_OUT"] + keys["LOG_WGT_WIDTH"],
        "LOG_ACC_BUFF_SIZE": keys["LOG_BATCH"] + keys["LOG_BLOCK_OUT"] + 5,
    }
    for name, bits in log_bits.items():
        keys[name] = draw(LOG_DEPTHS) + bits - 3
    queue = draw(st.sampled_from([None, 1, 2, 3]))
    if queue:
        keys["MACHINE"] = {"token_queue_depth": queue}
    try:
        config = Config.preset().replace(**keys)
        layouts(config)
    except ConfigError:
        assume(False)
    return config


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=any_configs(), seed=st.integers(0, 2**32 - 1), loop_limits=st.booleans())
def test_every_program_encodes_and_runs_on_the_functional_backend(config, seed, loop_limits):
    program = generate(config, seed, loop_limits=loop_limits)
    image = program.image()                   # encodes every instruction and micro-op
    check_program(image)
    races.check_program(image)
    outcome = run(image, "functional")
    assert outcome.status == 0, outcome.message
    damaged = make_invalid(program, np.random.default_rng(seed))
    if damaged is not None:
        damaged[1].image()                    # an invalid program still encodes


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=any_configs(), seed=st.integers(0, 2**32 - 1), invalid=st.booleans())
def test_functional_and_cycle_agree_on_any_buildable_config(config, seed, invalid):
    try:
        config.check_bus()
    except ConfigError:
        assume(False)                         # no core moves these tiles over this bus
    program, defect = generate(config, seed, loop_limits=False), None
    if invalid:
        damaged = make_invalid(program, np.random.default_rng(seed))
        if damaged is not None:
            defect, program = damaged
    assert check(program, defect, ("functional", "cycle"), {}) == []


def test_the_field_limits_of_a_small_config_are_reached_and_respected():
    """Block 8 with 2^11 INP and 2^10 ACC tiles (the config whose 10-bit ALU src factor got a
    GEMM's 2047): every loop field of every program is within its own layout's range, and
    unused factors sit at those limits."""
    config = Config.preset().replace(LOG_BLOCK=3, LOG_INP_BUFF_SIZE=14, LOG_WGT_BUFF_SIZE=13,
                                     LOG_ACC_BUFF_SIZE=15, LOG_UOP_BUFF_SIZE=6)
    isa = layouts(config)
    assert isa.alu["src_factor_out"].maximum != isa.gemm["src_factor_out"].maximum
    at_limit = set()
    for seed in range(30):
        program = generate(config, (9, seed))
        program.image()
        for insn in program.instructions:
            if isinstance(insn, Load) or not hasattr(insn, "src_factor_out"):
                continue
            layout = isa.gemm if isinstance(insn, Gemm) else isa.alu
            for field in layout.fields:
                if hasattr(insn, field.name):
                    value = int(getattr(insn, field.name))
                    assert field.minimum <= value <= field.maximum, (seed, field.name, value)
                    if value == field.maximum and "factor" in field.name:
                        at_limit.add((layout.name, field.name))
    assert ("ALU", "src_factor_out") in at_limit and ("GEMM", "src_factor_out") in at_limit
