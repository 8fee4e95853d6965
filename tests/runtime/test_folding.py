"""Dependency folding and the synchronisation tail, compared with isa-reference §7 by hand:
pops fold into the next instruction of their module, pushes into the last instruction when it
belongs to the pushing module (never a NOP LOAD), NOPs otherwise."""

import pytest
from runtime_helpers import PYNQ, check_token_balance, flags, is_noop

from vta.isa import Alu, Finish, Gemm, Load, MemoryType, Module, Store, VtaError
from vta.runtime import Device

LOAD, COMPUTE, STORE = Module.LOAD, Module.COMPUTE, Module.STORE


@pytest.fixture
def device():
    return Device(PYNQ)


@pytest.fixture
def buffers(device):
    return {kind: device.alloc(64 * PYNQ.elem_bytes(kind))
            for kind in (MemoryType.INP, MemoryType.WGT, MemoryType.ACC, MemoryType.OUT)}


def built(device):
    """The instructions of the built stream, decoded from device DRAM."""
    return device.stream.build().instructions()


def test_pop_folds_into_next_instruction_of_its_module(device, buffers):
    s = device.stream
    s.dep_pop(COMPUTE, LOAD)          # pending pop_next on load
    s.dep_pop(LOAD, COMPUTE)          # pending pop_prev on compute
    s.load(buffers[MemoryType.ACC], MemoryType.ACC, sram=0, x_size=1)   # compute: absorbs
    s.load(buffers[MemoryType.INP], MemoryType.INP, sram=0, x_size=1)   # load: absorbs
    insns = s.instructions
    assert [type(i) for i in insns] == [Load, Load]
    assert flags(insns[0]) == (1, 0, 0, 0) and insns[0].memory_type == MemoryType.ACC
    assert flags(insns[1]) == (0, 1, 0, 0) and insns[1].memory_type == MemoryType.INP


def test_second_pending_pop_commits_the_first_as_a_nop(device, buffers):
    s = device.stream
    s.dep_pop(LOAD, COMPUTE)
    s.dep_pop(LOAD, COMPUTE)
    s.load(buffers[MemoryType.ACC], MemoryType.ACC, sram=0, x_size=1)
    nop, load = s.instructions
    assert is_noop(nop) and isinstance(nop, Load) and nop.memory_type == MemoryType.UOP
    assert flags(nop) == (1, 0, 0, 0) and flags(load) == (1, 0, 0, 0)


def test_push_folds_into_last_instruction_of_the_pushing_module(device, buffers):
    s = device.stream
    s.load(buffers[MemoryType.INP], MemoryType.INP, sram=0, x_size=1)
    s.dep_push(LOAD, COMPUTE)
    assert len(s.instructions) == 1 and flags(s.instructions[0]) == (0, 0, 0, 1)
    s.dep_push(LOAD, COMPUTE)         # bit already set: a NOP on the load module carries it
    nop = s.instructions[1]
    assert is_noop(nop) and nop.module == LOAD and nop.memory_type == MemoryType.INP
    assert flags(nop) == (0, 0, 0, 1)


def test_push_from_another_module_needs_a_nop(device, buffers):
    s = device.stream
    s.store(buffers[MemoryType.OUT], sram=0, x_size=1)
    s.dep_push(COMPUTE, LOAD)         # last instruction is a store: compute NOP pushes prev
    nop = s.instructions[1]
    assert is_noop(nop) and isinstance(nop, Load) and nop.memory_type == MemoryType.UOP
    assert flags(nop) == (0, 0, 1, 0)
    s.dep_push(STORE, COMPUTE)        # last is now a compute NOP: store NOP, memory type 0
    store_nop = s.instructions[2]
    assert isinstance(store_nop, Store) and is_noop(store_nop) and store_nop.memory_type == 0
    assert flags(store_nop) == (0, 0, 1, 0)


def test_push_never_folds_into_a_nop_load(device):
    s = device.stream
    s.dep_pop(COMPUTE, LOAD)
    s.dep_push(LOAD, COMPUTE)         # commits the pop as a NOP, then a second NOP pushes
    first, second = s.instructions
    assert flags(first) == (0, 1, 0, 0) and flags(second) == (0, 0, 0, 1)
    assert first.module == second.module == LOAD


def test_push_commits_pending_pops_of_the_pushing_module(device, buffers):
    s = device.stream
    s.load(buffers[MemoryType.ACC], MemoryType.ACC, sram=0, x_size=1)
    s.dep_pop(STORE, COMPUTE)
    s.dep_push(COMPUTE, STORE)        # the pending pop becomes a compute NOP (a NOP LOAD, so
    load, pop_nop, push_nop = s.instructions   # it cannot take the push: a second NOP)
    assert flags(load) == (0, 0, 0, 0)
    assert is_noop(pop_nop) and flags(pop_nop) == (0, 1, 0, 0)
    assert is_noop(push_nop) and push_nop.module == COMPUTE and flags(push_nop) == (0, 0, 0, 1)


def test_push_sets_both_directions_on_one_compute_instruction(device):
    s = device.stream
    with s.kernel("copy") as k:
        k.shr(0, imm=0)
    s.dep_push(COMPUTE, LOAD)
    s.dep_push(COMPUTE, STORE)
    uop_load, alu = s.instructions
    assert isinstance(alu, Alu) and flags(alu) == (0, 0, 1, 1) and flags(uop_load) == (0, 0, 0, 0)


def test_push_after_an_earlier_instruction_of_the_module(device):
    """`after`: the token goes with that instruction (a GEMM whose slot the ALU kernels after
    it do not read), unless it pushes that token already or a later one of its module does
    (then with the last instruction, as without `after`)."""
    s = device.stream
    with s.kernel("gemm") as k:
        k.gemm(0, 0, 0)
    gemm = len(s.instructions) - 1
    with s.kernel("shift") as k:
        k.shr(1, imm=1)
    s.dep_push(COMPUTE, LOAD, gemm)
    first_gemm, alu = s.instructions[gemm], s.instructions[-1]
    assert isinstance(first_gemm, Gemm) and flags(first_gemm) == (0, 0, 1, 0)
    assert isinstance(alu, Alu) and flags(alu) == (0, 0, 0, 0)
    s.dep_push(COMPUTE, LOAD, gemm)   # the GEMM pushes already: the last instruction does
    assert flags(s.instructions[gemm]) == (0, 0, 1, 0) and flags(s.instructions[-1]) == \
        (0, 0, 1, 0)
    with s.kernel("shift"):
        pass
    s.dep_push(COMPUTE, LOAD, gemm)   # a later instruction pushed: after the last one again
    assert isinstance(s.instructions[-1], Alu) and flags(s.instructions[-1]) == (0, 0, 1, 0)


def test_pending_compute_pop_is_absorbed_by_the_uop_load(device):
    s = device.stream
    s.dep_pop(LOAD, COMPUTE)
    with s.kernel("gemm") as k:
        k.gemm(0, 0, 0)
    s.dep_pop(LOAD, COMPUTE)
    with s.kernel("gemm"):            # resident now: the GEMM itself absorbs the pop
        pass
    uop_load, gemm1, gemm2 = s.instructions
    assert isinstance(uop_load, Load) and flags(uop_load) == (1, 0, 0, 0)
    assert isinstance(gemm1, Gemm) and flags(gemm1) == (0, 0, 0, 0)
    assert isinstance(gemm2, Gemm) and flags(gemm2) == (1, 0, 0, 0)


def test_tokens_only_between_neighbouring_modules(device):
    with pytest.raises(VtaError, match="neighbouring"):
        device.stream.dep_push(LOAD, STORE)
    with pytest.raises(VtaError, match="neighbouring"):
        device.stream.dep_pop(STORE, LOAD)
    with pytest.raises(VtaError, match="module"):
        device.stream.dep_pop(0, 1)


def test_sync_tail_after_a_store(device, buffers):
    s = device.stream
    s.store(buffers[MemoryType.OUT], sram=0, x_size=1)
    store, load_nop, compute_nop, finish = built(device)
    assert isinstance(store, Store) and flags(store) == (0, 0, 1, 0)      # folded store -> compute
    assert isinstance(load_nop, Load) and load_nop.memory_type == MemoryType.INP
    assert is_noop(load_nop) and flags(load_nop) == (0, 0, 0, 1)          # load -> compute
    assert compute_nop.memory_type == MemoryType.UOP and flags(compute_nop) == (1, 1, 0, 0)
    assert isinstance(finish, Finish) and flags(finish) == (0, 0, 0, 0)


def test_sync_tail_of_an_empty_stream(device):
    store_nop, load_nop, compute_nop, finish = built(device)
    assert isinstance(store_nop, Store) and flags(store_nop) == (0, 0, 1, 0)
    assert isinstance(load_nop, Load) and flags(load_nop) == (0, 0, 0, 1)
    assert flags(compute_nop) == (1, 1, 0, 0) and isinstance(finish, Finish)


def test_sync_tail_after_a_load(device, buffers):
    s = device.stream
    s.load(buffers[MemoryType.WGT], MemoryType.WGT, sram=0, x_size=1)
    wgt, store_nop, load_nop, compute_nop, finish = built(device)
    # The store NOP comes first (push store->compute), so the WGT load cannot take the push.
    assert flags(wgt) == (0, 0, 0, 0)
    assert isinstance(store_nop, Store) and flags(store_nop) == (0, 0, 1, 0)
    assert isinstance(load_nop, Load) and flags(load_nop) == (0, 0, 0, 1)
    assert flags(compute_nop) == (1, 1, 0, 0) and isinstance(finish, Finish)
    check_token_balance([wgt, store_nop, load_nop, compute_nop, finish])


def test_stream_starts_afresh_after_build(device, buffers):
    device.stream.store(buffers[MemoryType.OUT], sram=0, x_size=1)
    built(device)
    assert device.stream.instructions == []
    assert len(built(device)) == 4
