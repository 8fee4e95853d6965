"""The read port's grants of tensor and micro-op loads and the write port's STOREs as compiled
loops.

Two functions, generated as LLVM IR with llvmlite and compiled once per process, step every
grant and burst exactly as the Python code does — `read_port.ReadPort._grant` with
`clients.TensorLoadClient.accept` or `clients.UopLoadClient.accept`, and
`write_port.WritePort._store` —, at a few nanoseconds per burst instead of microseconds. The
Python code is the reference: `CycleModel(config, fast_forward=False)` runs it, and
tests/simulator/test_cycle_fast_forward.py compares both. Their state is one ``array('q')``
each, laid out by the constants below; the Python side keeps it in step.

`arbitrate(state)` grants, in round-robin order, the transfers of the pending tensor-load and
micro-op load commands (`TENSOR` and `UOP` slots) from ``state[NOW]`` on, each the cycle after
the previous grant's last AR, and returns when

- no command is offered by now (`WAIT`),
- the next grant belongs to a client it does not time, fetch (`PYTHON`; ``state[RESULT]`` is
  its index),
- a command's last transfer was granted (`DONE`; its events are the caller's to fire),
- the next grant would come at or after ``state[LIMIT]``, the cycle of the next callback of the
  event kernel (`YIELD`).

``state[NOW]`` is then the cycle of the last grant (`DONE`, `PYTHON`, `WAIT`) or of the next
arbitration (`YIELD`).

`store(state)` times one STORE (its rows, bursts, AW/W/B channel) and returns its done cycle
before the push wait.
"""

from __future__ import annotations

import ctypes
from array import array

#: Read port state: scalar slots.
NOW, FREE_AT, CHANNEL, LAST_GRANT, BEATS, LATENCY, BOUNDARY, LONGEST, OUTSTANDING, BUS, \
    ENDS_COUNT, ENDS_HEAD, LIMIT, CLIENTS, RESULT = range(15)
#: Read port state: the ring of the last beats of the bursts in flight (oldest at ENDS_HEAD).
ENDS = 16
#: Most bursts in flight a state holds (`Machine.max_outstanding_reads`/`_writes` allow 256).
MAX_ENDS = 256
#: Read port state: per client (round-robin order), `COMMAND_FIELDS` slots from `COMMANDS`.
COMMANDS = ENDS + MAX_ENDS
COMMAND_FIELDS = 16
#: A client slot: kind, offer cycle, the command's first address, stride, words per transfer,
#: transfers, next transfer; the writer of a tensor load (`TensorLoadClient`); the last beat.
KIND, POSTED, FIRST, STRIDE, WORDS, COUNT, NEXT, WRITER, MEM_WAIT, X_PAD_0, X_PAD_1, TAIL, \
    ROW_WORDS, ROWS_LEFT, WORDS_LEFT, LAST = range(COMMAND_FIELDS)
#: A micro-op load's slot uses three of them otherwise (`clients.UopLoadClient`).
SLOT, PER_WORD, LEFT = X_PAD_0, X_PAD_1, ROWS_LEFT
#: Slot kinds: no command, a tensor load and a micro-op load timed here, a command the Python
#: code grants (fetch).
EMPTY, TENSOR, UOP, OTHER = range(4)
#: `arbitrate` results.
WAIT, PYTHON, DONE, YIELD = range(1, 5)

#: Write port state: a STORE's parameters, the port's timing, the ring of bursts awaiting data.
(W_START, W_ROWS, W_ROW_WORDS, W_BASE, W_STRIDE, W_CMD_FREE, W_LAST, W_B_LAST, W_STALL,
 W_BEATS, W_BOUNDARY, W_LONGEST, W_BUS, W_OUTSTANDING, W_AW_TO_W, W_LATENCY, W_ENDS_COUNT,
 W_ENDS_HEAD) = range(18)
W_ENDS = 32


def read_state(clients: int) -> array:
    return array("q", bytes(8 * (COMMANDS + clients * COMMAND_FIELDS)))


def write_state() -> array:
    return array("q", bytes(8 * (W_ENDS + MAX_ENDS)))


def address(state: array) -> int:
    return state.buffer_info()[0]


class _Builder:
    """An `i64 f(i64* state)` function: state slots read and written by index, locals in
    stack slots, structured control flow."""

    def __init__(self, module, name: str):
        from llvmlite import ir
        self.ir, self.i64 = ir, ir.IntType(64)
        function = ir.Function(module, ir.FunctionType(self.i64, [self.i64.as_pointer()]), name)
        self.function, self.state = function, function.args[0]
        self.entry = function.append_basic_block("entry")
        self.b = ir.IRBuilder(self.entry)

    def const(self, value):
        return self.ir.Constant(self.i64, value) if isinstance(value, int) else value

    def slot(self, index):
        return self.b.gep(self.state, [self.const(index)])

    def get(self, index):
        return self.b.load(self.slot(index))

    def set(self, index, value) -> None:
        self.b.store(self.const(value), self.slot(index))

    def local(self, value=0):
        """A variable (made in the entry block, before any loop)."""
        assert self.b.block is self.entry
        variable = self.b.alloca(self.i64)
        self.b.store(self.const(value), variable)
        return variable

    def load(self, variable):
        return self.b.load(variable)

    def store(self, variable, value) -> None:
        self.b.store(self.const(value), variable)

    def add(self, a, b):
        return self.b.add(self.const(a), self.const(b))

    def sub(self, a, b):
        return self.b.sub(self.const(a), self.const(b))

    def mul(self, a, b):
        return self.b.mul(self.const(a), self.const(b))

    def cmp(self, op: str, a, b):
        return self.b.icmp_signed(op, self.const(a), self.const(b))

    def max(self, a, b):
        a, b = self.const(a), self.const(b)
        return self.b.select(self.b.icmp_signed(">", a, b), a, b)

    def min(self, a, b):
        a, b = self.const(a), self.const(b)
        return self.b.select(self.b.icmp_signed("<", a, b), a, b)

    def block(self, name: str):
        return self.function.append_basic_block(name)

    def ret(self, value) -> None:
        self.b.ret(self.const(value))

    def burst(self, addr, words, boundary, longest, bus):
        """Beats of the next burst of a transfer at `addr` with `words` left (`burst_sizes`)."""
        room = self.b.sdiv(self.sub(boundary, self.b.srem(addr, boundary)), bus)
        return self.min(self.min(words, longest), room)

    def ring_oldest(self, base: int, head):
        return self.get(self.add(head, base))

    def ring_append(self, base: int, count_slot: int, head_slot: int, capacity, value) -> None:
        """Append to a ring of `capacity` entries, dropping the oldest when full (a deque with
        ``maxlen``)."""
        count, head = self.get(count_slot), self.get(head_slot)
        full = self.cmp("==", count, capacity)
        with self.b.if_else(full) as (then, otherwise):
            with then:
                self.set(self.add(head, base), value)
                following = self.add(head, 1)
                wrapped = self.cmp("==", following, capacity)
                self.set(head_slot, self.b.select(wrapped, self.const(0), following))
            with otherwise:
                self.set(self.add(self.b.srem(self.add(head, count), capacity), base), value)
                self.set(count_slot, self.add(count, 1))


def _arbitrate(module) -> None:
    f = _Builder(module, "arbitrate")
    b = f.b
    now = f.local(f.get(NOW))
    offset, index, base = f.local(), f.local(), f.local()
    addr, words, ar, last, channel = f.local(), f.local(), f.local(), f.local(), f.local()
    top, pick, pick_next, found = (f.block(n) for n in ("top", "pick", "pick_next", "found"))
    b.branch(top)

    # Round robin from the client after the last grant over the commands offered by now.
    b.position_at_end(top)
    f.store(offset, 1)
    b.branch(pick)
    b.position_at_end(pick)
    clients = f.get(CLIENTS)
    with b.if_then(f.cmp(">", f.load(offset), clients)):
        f.set(NOW, f.load(now))
        f.ret(WAIT)
    f.store(index, b.srem(f.add(f.get(LAST_GRANT), f.load(offset)), clients))
    f.store(base, f.add(f.mul(f.load(index), COMMAND_FIELDS), COMMANDS))
    kind = f.get(f.load(base))
    posted = f.get(f.add(f.load(base), POSTED))
    offered = b.and_(f.cmp("!=", kind, EMPTY), f.cmp("<=", posted, f.load(now)))
    b.cbranch(offered, found, pick_next)
    b.position_at_end(pick_next)
    f.store(offset, f.add(f.load(offset), 1))
    b.branch(pick)

    b.position_at_end(found)
    with b.if_then(f.cmp("==", kind, OTHER)):
        f.set(RESULT, f.load(index))
        f.set(NOW, f.load(now))
        f.ret(PYTHON)
    f.set(LAST_GRANT, f.load(index))

    # The grant: ARs of the transfer's bursts, their beats as the client takes them.

    def slot(field: int):
        return f.add(f.load(base), field)

    transfer = f.get(slot(NEXT))
    f.store(addr, f.add(f.get(slot(FIRST)), f.mul(transfer, f.get(slot(STRIDE)))))
    f.set(slot(NEXT), f.add(transfer, 1))
    f.store(words, f.get(slot(WORDS)))
    f.set(BEATS, f.add(f.get(BEATS), f.load(words)))
    f.store(ar, f.load(now))
    f.store(last, f.load(now))
    f.store(channel, f.get(CHANNEL))
    boundary, longest, bus = f.get(BOUNDARY), f.get(LONGEST), f.get(BUS)
    latency, outstanding = f.get(LATENCY), f.get(OUTSTANDING)
    bursts, burst, granted = f.block("bursts"), f.block("burst"), f.block("granted")
    b.branch(bursts)
    b.position_at_end(bursts)
    b.cbranch(f.cmp("==", f.load(words), 0), granted, burst)
    b.position_at_end(burst)
    beats = f.burst(f.load(addr), f.load(words), boundary, longest, bus)
    f.store(addr, f.add(f.load(addr), f.mul(beats, bus)))
    f.store(words, f.sub(f.load(words), beats))
    f.store(ar, f.add(f.load(ar), 1))
    with b.if_then(f.cmp("==", f.get(ENDS_COUNT), outstanding)):
        oldest = f.ring_oldest(ENDS, f.get(ENDS_HEAD))
        with b.if_then(f.cmp(">=", oldest, f.load(ar))):
            f.store(ar, f.add(oldest, 1))
    earliest = f.max(f.add(f.load(ar), latency), f.load(channel))
    writer = f.get(slot(WRITER))
    with b.if_then(f.cmp(">", earliest, writer)):
        f.set(slot(MEM_WAIT), f.add(f.get(slot(MEM_WAIT)), f.sub(earliest, writer)))
    first = f.max(earliest, writer)
    with b.if_else(f.cmp("==", f.get(slot(KIND)), UOP)) as (uop, tensor):
        with uop:       # UopLoadClient.accept: each word held until its last micro-op
            per_word, to_write = f.get(slot(PER_WORD)), f.get(slot(LEFT))
            held = f.add(f.sub(per_word, f.get(slot(SLOT))), f.mul(f.sub(beats, 1), per_word))
            cycles = f.min(held, to_write)
            f.set(slot(LEFT), f.sub(to_write, cycles))
            f.set(slot(SLOT), 0)
            f.set(slot(WRITER), f.add(first, cycles))
            f.store(last, f.sub(f.add(first, cycles), 1))
        with tensor:    # TensorLoadClient.accept
            f.store(last, f.sub(f.add(first, beats), 1))
            f.set(slot(WRITER), f.add(f.load(last), 1))
            left = f.sub(f.get(slot(WORDS_LEFT)), beats)
            f.set(slot(WORDS_LEFT), left)
            with b.if_then(f.cmp("==", left, 0)):
                rows = f.sub(f.get(slot(ROWS_LEFT)), 1)
                f.set(slot(ROWS_LEFT), rows)
                f.set(slot(WORDS_LEFT), f.get(slot(ROW_WORDS)))
                pad = b.select(f.cmp("!=", rows, 0), f.get(slot(X_PAD_0)), f.get(slot(TAIL)))
                f.set(slot(WRITER), f.add(f.get(slot(WRITER)), f.add(f.get(slot(X_PAD_1)), pad)))
    f.store(channel, f.add(f.load(last), 1))
    f.ring_append(ENDS, ENDS_COUNT, ENDS_HEAD, outstanding, f.load(last))
    b.branch(bursts)

    b.position_at_end(granted)
    f.set(CHANNEL, f.load(channel))
    f.set(FREE_AT, f.add(f.load(ar), 1))
    f.set(slot(LAST), f.load(last))
    finished = f.cmp(">=", f.get(slot(NEXT)), f.get(slot(COUNT)))
    with b.if_then(finished):
        f.set(RESULT, f.load(index))
        f.set(NOW, f.load(now))
        f.ret(DONE)
    f.set(slot(POSTED), f.add(f.load(now), 1))
    f.store(now, f.get(FREE_AT))
    with b.if_then(f.cmp("<=", f.get(LIMIT), f.load(now))):
        f.set(NOW, f.load(now))
        f.ret(YIELD)
    b.branch(top)


def _store(module) -> None:
    f = _Builder(module, "store")
    b = f.b
    start = f.get(W_START)
    post, data_ready = f.local(f.add(start, 1)), f.add(start, 3)
    w = f.local(f.max(f.get(W_LAST), f.sub(data_ready, 1)))
    row, grant, aw, addr, words = f.local(), f.local(), f.local(), f.local(), f.local()
    boundary, longest, bus = f.get(W_BOUNDARY), f.get(W_LONGEST), f.get(W_BUS)
    outstanding, aw_to_w, latency = f.get(W_OUTSTANDING), f.get(W_AW_TO_W), f.get(W_LATENCY)
    rows, row_words = f.get(W_ROWS), f.get(W_ROW_WORDS)
    row_top, row_body, bursts, burst, row_end, end = (
        f.block(n) for n in ("row_top", "row_body", "bursts", "burst", "row_end", "end"))
    b.branch(row_top)
    b.position_at_end(row_top)
    b.cbranch(f.cmp("<", f.load(row), rows), row_body, end)
    b.position_at_end(row_body)
    f.store(grant, f.max(f.load(post), f.get(W_CMD_FREE)))
    f.store(aw, f.load(grant))
    f.store(addr, f.add(f.get(W_BASE), f.mul(f.load(row), f.get(W_STRIDE))))
    f.store(words, row_words)
    b.branch(bursts)
    b.position_at_end(bursts)
    b.cbranch(f.cmp("==", f.load(words), 0), row_end, burst)
    b.position_at_end(burst)
    beats = f.burst(f.load(addr), f.load(words), boundary, longest, bus)
    f.store(addr, f.add(f.load(addr), f.mul(beats, bus)))
    f.store(words, f.sub(f.load(words), beats))
    f.store(aw, f.add(f.load(aw), 1))
    with b.if_then(f.cmp("==", f.get(W_ENDS_COUNT), outstanding)):
        f.store(aw, f.max(f.load(aw), f.add(f.ring_oldest(W_ENDS, f.get(W_ENDS_HEAD)), 1)))
    ready = f.max(f.add(f.load(w), 1), data_ready)
    first = f.max(ready, f.add(f.load(aw), aw_to_w))
    f.set(W_STALL, f.add(f.get(W_STALL), f.sub(first, ready)))
    f.store(w, f.sub(f.add(first, beats), 1))
    f.ring_append(W_ENDS, W_ENDS_COUNT, W_ENDS_HEAD, outstanding, f.load(w))
    f.set(W_B_LAST, f.max(f.add(f.max(f.load(aw), f.load(w)), latency),
                          f.add(f.get(W_B_LAST), 1)))
    f.set(W_BEATS, f.add(f.get(W_BEATS), beats))
    b.branch(bursts)
    b.position_at_end(row_end)
    f.set(W_CMD_FREE, f.add(f.load(aw), 1))
    f.store(post, f.add(f.load(grant), 1))
    f.store(row, f.add(f.load(row), 1))
    b.branch(row_top)
    b.position_at_end(end)
    f.set(W_LAST, f.load(w))
    f.ret(f.max(f.max(f.add(f.load(w), 1), f.get(W_CMD_FREE)), f.add(start, 1)))


_FUNCTIONS: dict = {}


def functions() -> dict:
    """``{"arbitrate": f, "store": f}``, each ``f(address of its state) -> int``, compiled on
    first use."""
    if not _FUNCTIONS:
        import llvmlite.binding as llvm
        from llvmlite import ir
        module = ir.Module(name="vta_cycle_ports")
        _arbitrate(module)
        _store(module)
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        parsed = llvm.parse_assembly(str(module))
        parsed.verify()
        machine = llvm.Target.from_default_triple().create_target_machine(opt=2)
        engine = llvm.create_mcjit_compiler(parsed, machine)
        engine.finalize_object()
        signature = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p)
        compiled = {name: signature(engine.get_function_address(name))
                    for name in ("arbitrate", "store")}
        _FUNCTIONS.update(compiled, engine=engine)
    return _FUNCTIONS
