"""Property: folding never changes what each module does. For every module, the emitted stream
(real instructions, with the pops before and the pushes after each one, NOPs contributing only
their tokens) equals the sequence of calls made for that module: the same instructions with the
same token operations around them, in the same order."""

from hypothesis import given, settings
from hypothesis import strategies as st
from runtime_helpers import PYNQ, is_noop

from vta.isa import Load, MemoryType, Module, encode
from vta.runtime import Device

LOAD, COMPUTE, STORE = Module.LOAD, Module.COMPUTE, Module.STORE
EDGES = [(LOAD, COMPUTE), (COMPUTE, LOAD), (COMPUTE, STORE), (STORE, COMPUTE)]
TAIL = [("push", STORE, COMPUTE), ("push", LOAD, COMPUTE), ("pop", STORE, COMPUTE),
        ("pop", LOAD, COMPUTE), ("finish",)]

operations = st.lists(st.one_of(
    st.tuples(st.just("load"), st.sampled_from([MemoryType.INP, MemoryType.WGT, MemoryType.ACC])),
    st.tuples(st.just("store")),
    st.tuples(st.just("kernel"), st.integers(0, 2)),
    st.sampled_from([("push", *edge) for edge in EDGES]),
    st.sampled_from([("pop", *edge) for edge in EDGES]),
), max_size=40)


def normalised(symbols):
    """Token operations that happen at the same point (one instruction's pops, or its pushes)
    are unordered: sort each run of pops and each run of pushes."""
    result, run = [], []
    for symbol in symbols + [("end",)]:
        if run and symbol[0] != run[0][0]:
            result += sorted(run)
            run = []
        if symbol[0] in ("pop", "push"):
            run.append(symbol)
        else:
            result.append(symbol)
    return result[:-1]


def expected_by_module(calls):
    module_of_call = {"store": STORE, "kernel": COMPUTE, "finish": COMPUTE}
    per_module = {module: [] for module in Module}
    for call in calls:
        if call[0] == "pop":
            per_module[call[2]].append(("pop", int(call[1])))
        elif call[0] == "push":
            per_module[call[1]].append(("push", int(call[2])))
        elif call[0] == "load":
            module = COMPUTE if call[1] == MemoryType.ACC else LOAD
            per_module[module].append(("insn",))
        else:
            per_module[module_of_call[call[0]]].append(("insn",))
    return {module: normalised(symbols) for module, symbols in per_module.items()}


def emitted_by_module(insns):
    per_module = {module: [] for module in Module}
    for insn in insns:
        module, symbols = insn.module, per_module[insn.module]
        previous, following = module - 1, module + 1     # neighbours (stage ids 1..3)
        if insn.pop_prev_dep:
            symbols.append(("pop", previous))
        if insn.pop_next_dep:
            symbols.append(("pop", following))
        uop_load = isinstance(insn, Load) and insn.memory_type == MemoryType.UOP
        if not is_noop(insn) and not uop_load:
            symbols.append(("insn",))
        if insn.push_prev_dep:
            symbols.append(("push", previous))
        if insn.push_next_dep:
            symbols.append(("push", following))
    return {module: normalised(symbols) for module, symbols in per_module.items()}


def replayed(calls, afters=()):
    """A device's command stream after `calls`; a push at `calls[i]` with `afters[i]` as its
    `after`, where that is given and an index in the queue."""
    device = Device(PYNQ, memory_bytes=1 << 20)
    buffer = device.alloc(1 << 16)
    s = device.stream
    for call, after in zip(calls, list(afters) + [None] * len(calls)):
        if call[0] == "load":
            s.load(buffer, call[1], sram=0, x_size=1)
        elif call[0] == "store":
            s.store(buffer, sram=0, x_size=1)
        elif call[0] == "kernel":
            with s.kernel(call[1]) as k:
                k.gemm(dst=call[1], src=0, wgt=0)
        elif call[0] == "push":
            s.dep_push(call[1], call[2], after if after is not None and after < len(s.queue)
                       else None)
        else:
            s.dep_pop(call[1], call[2])
    return s


@settings(max_examples=200, deadline=None)
@given(operations)
def test_folding_preserves_each_modules_sequence(calls):
    s = replayed(calls)
    insns = s.build().instructions()
    assert emitted_by_module(insns) == expected_by_module(calls + TAIL)


@settings(max_examples=200, deadline=None)
@given(operations, st.lists(st.integers(0, 40), max_size=40))
def test_queued_bytes_are_those_of_the_queued_instructions(calls, afters):
    """Pops set in a new transfer, pushes set by their bit in an instruction already queued
    (the last one, or with `after` an earlier one), NOPs: the queue's bytes stay in step."""
    s = replayed(calls, afters)
    assert s.queue.encoded == [encode(insn, PYNQ) for insn in s.queue.instructions]
