"""The fuzz generator: its programs are valid, race-free and hazard-free for every fuzz config,
mean what the reference interpreter (an independent, obviously-correct executor) computes,
and cover every instruction kind and field range the issue names."""

import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from vta.fuzz import races
from vta.fuzz.configs import CONFIGS
from vta.fuzz.generator import generate
from vta.isa import Alu, AluOp, Finish, Gemm, Load, MemoryType, Store
from vta.runtime.backends import get_backend
from vta.simulator import check_program

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "simulator"))
from reference_interpreter import reference_run  # noqa: E402


@pytest.mark.parametrize("name", CONFIGS)
def test_programs_are_valid_and_mean_what_the_reference_computes(name):
    config = CONFIGS[name]
    functional = get_backend("functional", config)
    for seed in range(10):
        image = generate(config, (1, seed), loop_limits=seed == 0).image()
        check_program(image)
        races.check_program(image)
        if seed == 0:
            continue                     # loops at the limit: too long for the reference
        expected, counters = reference_run(image)
        report = functional.run(image)
        assert report.counters == counters, seed
        different = np.flatnonzero(image.dram != expected)
        assert not different.size, (seed, different[:5])


def _features(config, seeds) -> Counter:
    seen = Counter()
    for seed in seeds:
        program = generate(config, seed)
        insns = program.instructions
        for insn in insns:
            if isinstance(insn, Load) and insn.x_size:
                seen[f"load {insn.memory_type.name}"] += 1
                if insn.y_pad_0 or insn.y_pad_1 or insn.x_pad_0 or insn.x_pad_1:
                    seen["padding"] += 1
                if insn.y_pad_0 == 15 or insn.x_pad_1 == 15:
                    seen["padding at the field limit"] += 1
                if insn.y_size > 1:
                    seen["stride 0" if insn.x_stride == 0 else
                         "stride < size" if insn.x_stride < insn.x_size else "stride >= size"] += 1
            elif isinstance(insn, (Load, Store)):
                seen[f"nop {type(insn).__name__} {'flags' if _flags(insn) else 'bare'}"] += 1
            if isinstance(insn, Store) and insn.x_size:
                seen["store"] += 1
            if isinstance(insn, Gemm):
                seen["gemm reset" if insn.reset_reg else "gemm"] += 1
            if isinstance(insn, Alu):
                seen[f"alu {AluOp(insn.alu_opcode).name} {'imm' if insn.use_imm else 'vector'}"] += 1
                if insn.use_imm and insn.imm in (-32768, 32767):
                    seen["imm at the field limit"] += 1
                if insn.alu_opcode == AluOp.SHR and insn.use_imm and insn.imm < 0:
                    seen["negative shift"] += 1
            if isinstance(insn, (Gemm, Alu)):
                if 16383 in (insn.iter_out, insn.iter_in):
                    seen["loop at the field limit"] += 1
                if not insn.executions:
                    seen["empty loop"] += 1
            if isinstance(insn, Finish):
                seen["finish pops" if insn.pop_next_dep else "finish"] += 1
            for flag in ("pop_prev_dep", "pop_next_dep", "push_prev_dep", "push_next_dep"):
                if getattr(insn, flag):
                    seen[f"{races.module_of(insn)} {flag}"] += 1
        seen["round trip"] += any(isinstance(i, Load) and i.memory_type == MemoryType.INP
                                  and i.dram_base * config.elem_bytes(MemoryType.INP) >=
                                  _first_output_byte(program) for i in insns)
    return seen


def _flags(insn) -> bool:
    return any(getattr(insn, f) for f in ("pop_prev_dep", "pop_next_dep", "push_prev_dep",
                                          "push_next_dep"))


def _first_output_byte(program) -> int:
    """The output regions follow the INP, WGT and ACC regions; they are filled with 0xA5."""
    data = np.frombuffer(program.data, np.uint8)
    run = np.flatnonzero(np.convolve(data == 0xA5, np.ones(64), "valid") == 64)
    return int(run[0]) if run.size else len(data)


def test_every_instruction_kind_and_field_range_is_covered():
    seen = _features(CONFIGS["pynq"], range(90))
    expected = [
        "load INP", "load WGT", "load ACC", "load UOP", "store", "padding",
        "padding at the field limit", "stride 0", "stride < size", "stride >= size",
        "gemm", "gemm reset", "imm at the field limit", "negative shift", "loop at the field limit",
        "empty loop", "finish", "finish pops", "round trip",
        "nop Load flags", "nop Store flags",
        *(f"alu {op.name} {kind}" for op in AluOp for kind in ("imm", "vector")),
        "load pop_next_dep", "load push_next_dep", "compute pop_prev_dep", "compute pop_next_dep",
        "compute push_prev_dep", "compute push_next_dep", "store pop_prev_dep",
        "store push_prev_dep",
    ]
    missing = [feature for feature in expected if not seen[feature]]
    assert not missing, missing


def test_without_the_multiply_no_mul_is_drawn():
    seen = _features(CONFIGS["no-mul"], range(25))
    assert not any(key.startswith("alu MUL") for key in seen)


def test_the_same_seed_gives_the_same_program():
    first, second = generate(CONFIGS["tiny"], (3, 4)), generate(CONFIGS["tiny"], (3, 4))
    assert first.data == second.data and first.instructions == second.instructions
    assert generate(CONFIGS["tiny"], (3, 5)).instructions != first.instructions
