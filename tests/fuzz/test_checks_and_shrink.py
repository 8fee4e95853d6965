"""The race checker refuses what would make backends disagree legitimately, invalid programs
get their documented verdict on every backend, and the shrinker finds small reproducers."""

import pytest

from vta.fuzz import races
from vta.fuzz.campaign import check
from vta.fuzz.configs import CONFIGS
from vta.fuzz.generator import generate
from vta.fuzz.invalid import VERDICTS, make_invalid
from vta.fuzz.shrink import shrink
from vta.isa import Alu, AluOp, Gemm, Load, MemoryType, Store, Uop

import numpy as np

PYNQ = CONFIGS["pynq"]


def test_a_token_taken_away_between_load_and_compute_is_a_race():
    """Dropping the l2g token of a round that loads INP lets compute read the tile early."""
    for seed in range(40):
        program = generate(PYNQ, (2, seed))
        insns = program.instructions
        loads = [i for i, insn in enumerate(insns) if isinstance(insn, Load) and insn.x_size
                 and insn.memory_type == MemoryType.INP]
        if not loads:
            continue
        # The first compute instruction that pops l2g after that load: drop its pop and the
        # load phase's push, keeping the counts balanced.
        push = next(i for i in range(loads[0], len(insns)) if insns[i].push_next_dep
                    and races.module_of(insns[i]) == "load")
        pop = next(i for i in range(push, len(insns)) if insns[i].pop_prev_dep
                   and races.module_of(insns[i]) == "compute")
        insns[push] = insns[push].replace(push_next_dep=False)
        insns[pop] = insns[pop].replace(pop_prev_dep=False)
        uses = any(isinstance(insn, Gemm) and insn.executions and not insn.reset_reg
                   for insn in insns[pop:pop + 12])
        if not uses:
            continue
        with pytest.raises(races.RaceError):
            races.check_program(program.image())
        return
    pytest.fail("no program with a loaded GEMM operand")


@pytest.mark.parametrize("table, vector_hazard, immediate_hazard", [
    ([(0, 5), (1, 5), (2, 5)], False, False),
    ([(0, 5), (1, 5), (0, 5)], True, True),      # written again two executions later
    ([(0, 5), (0, 5)], True, True),              # written again by the next execution
    ([(0, 5), (1, 6), (2, 0)], True, False),     # the third reads what the first wrote
    ([(0, 5), (1, 6), (2, 7), (3, 0)], False, False),   # three executions later: seen
])
def test_pipeline_hazard(table, vector_hazard, immediate_hazard):
    uops = [Uop(dst_idx=d, src_idx=s, wgt_idx=0) for d, s in table]
    alu = Alu(alu_opcode=AluOp.ADD, uop_bgn=0, uop_end=len(uops), iter_out=1, iter_in=1)
    assert races.hazard_free(alu, uops) is not vector_hazard
    assert races.hazard_free(alu.replace(use_imm=True), uops) is not immediate_hazard


@pytest.mark.parametrize("backends", [("functional", "cycle")])
@pytest.mark.parametrize("name", ["pynq", "tiny", "2x16"])
def test_invalid_programs_get_the_documented_verdict_everywhere(name, backends):
    rng = np.random.default_rng(5)
    seen = set()
    for seed in range(40):
        drawn = make_invalid(generate(CONFIGS[name], (5, seed)), rng)
        if drawn is None:
            continue
        kind, program = drawn
        assert check(program, kind, backends, {}) == [], (seed, kind)
        seen.add(kind)
    assert seen == set(VERDICTS)


def test_shrinking_finds_a_small_program_with_the_same_defect():
    """A stand-in bug — every ALU SHR by a negative immediate — shrinks to a program of a few
    instructions that still has one, checked valid and race-free at every step."""
    def has_negative_shift(program):
        return any(isinstance(i, Alu) and i.alu_opcode == AluOp.SHR and i.use_imm and i.imm < 0
                   and i.executions for i in program.instructions)

    program = next(p for p in (generate(PYNQ, (6, s), loop_limits=False) for s in range(200))
                   if has_negative_shift(p) and len(p.instructions) > 25)
    small, tries = shrink(program, has_negative_shift, budget=600)
    assert has_negative_shift(small)
    races.check_program(small.image())
    assert len(small.instructions) <= 8, small.instructions
    assert tries <= 600
    stores = [i for i in small.instructions if isinstance(i, Store) and i.x_size]
    assert not stores
