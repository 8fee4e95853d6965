"""Token queues and module scheduling: ordering, deadlock reports, FINISH."""

import numpy as np
import pytest

from vta.isa import (Alu, AluOp, Config, DeadlockError, Finish, Gemm, Load, MemoryType, Store, Uop)
from vta.simulator.functional import FunctionalSimulator

from image_builder import ImageBuilder

PYNQ = Config.preset("pynq")


def run(program, builder=None):
    image = (builder or ImageBuilder(PYNQ)).image(program)
    dram = image.dram.copy()
    return FunctionalSimulator(PYNQ).run(dram, image.insn_addr, image.insn_count), dram


def deadlock_message(program) -> str:
    with pytest.raises(DeadlockError) as error:
        run(program)
    return str(error.value)


def test_missing_push_names_the_waiting_instruction_module_and_queue():
    message = deadlock_message([Load(memory_type=MemoryType.INP), Load(memory_type=MemoryType.UOP),
                                Gemm(pop_prev_dep=True), Finish()])
    assert message == ("instruction 2: deadlock: compute waits for a token on l2g; "
                       "load has no instructions left; store has no instructions left")


def test_every_waiting_module_is_reported_lowest_index_first():
    message = deadlock_message([Load(memory_type=MemoryType.INP, pop_next_dep=True, push_next_dep=True),
                                Store(pop_prev_dep=True, push_prev_dep=True),
                                Load(memory_type=MemoryType.UOP, pop_prev_dep=True, pop_next_dep=True,
                                     push_prev_dep=True, push_next_dep=True),
                                Finish()])
    assert message == ("instruction 0: deadlock: load waits for a token on g2l; "
                       "store waits for a token on g2s (instruction 1); "
                       "compute waits for a token on l2g and s2g (instruction 2)")


def test_a_program_without_finish_never_ends():
    message = deadlock_message([Load(memory_type=MemoryType.UOP)])
    assert message == "deadlock: every module ran out of instructions without executing FINISH"


def test_finish_ends_the_run_and_later_instructions_do_not_execute():
    builder = ImageBuilder(PYNQ)
    out = builder.reserve(PYNQ.elem_bytes(MemoryType.OUT), MemoryType.OUT, fill=7)
    counters, dram = run([Finish(), Store(dram_base=out, y_size=1, x_size=1)], builder)
    assert counters["out_store_nbytes"] == 0
    assert (dram[:PYNQ.elem_bytes(MemoryType.OUT)] == 7).all()


def test_tokens_order_a_store_after_the_alu_that_feeds_it():
    """Program order puts the STORE first; the g2s token makes it wait for the ALU result."""
    builder = ImageBuilder(PYNQ)
    acc = builder.place(np.full((1, PYNQ.batch, PYNQ.block_out), 40, "<i4"), MemoryType.ACC)
    uop = builder.uops([Uop()])
    out = builder.reserve(PYNQ.elem_bytes(MemoryType.OUT), MemoryType.OUT)
    counters, dram = run([
        Store(dram_base=out, y_size=1, x_size=1, x_stride=1, pop_prev_dep=True, push_prev_dep=True),
        Load(memory_type=MemoryType.UOP, dram_base=uop, y_size=1, x_size=1, x_stride=1),
        Load(memory_type=MemoryType.ACC, dram_base=acc, y_size=1, x_size=1, x_stride=1),
        Alu(alu_opcode=AluOp.ADD, use_imm=True, imm=2, uop_bgn=0, uop_end=1, iter_out=1, iter_in=1,
            push_next_dep=True),
        Load(memory_type=MemoryType.UOP, pop_next_dep=True), Finish()], builder)
    start = out * PYNQ.elem_bytes(MemoryType.OUT)
    assert (dram[start:start + PYNQ.elem_bytes(MemoryType.OUT)] == 42).all()
    assert counters["out_store_nbytes"] == PYNQ.elem_bytes(MemoryType.OUT)


def test_tokens_accumulate_and_are_consumed_one_per_pop():
    """Three pushes before three pops on l2g; a fourth pop would deadlock."""
    loads = [Load(memory_type=MemoryType.INP, push_next_dep=True) for _ in range(3)]
    pops = [Load(memory_type=MemoryType.UOP, pop_prev_dep=True) for _ in range(3)]
    run(loads + pops + [Finish()])
    message = deadlock_message(loads + pops + [Load(memory_type=MemoryType.UOP, pop_prev_dep=True),
                                               Finish()])
    assert message.startswith("instruction 6: deadlock: compute waits for a token on l2g")
