"""The AXI master's read side and the memory model's read channel (docs/memory-model.md).

The master grants one client command at a time (round robin over the clients with a pending
command), issues one AR per cycle for its bursts (at most the machine's `max_burst_beats`, never
across its `burst_boundary_bytes`, at most `max_outstanding_reads` in flight), and the memory returns bursts in order, one beat per cycle, the
first beat `MEM_READ_LATENCY` cycles after its AR. Beat times are computed per burst, when its
AR is issued: a burst starts when the channel is free, its latency has passed and its client
can take data (`ReadClient.accept`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from array import array
from collections import deque

from vta.isa import Config
from vta.isa.machine import Machine

from vta.simulator.cycle import native
from vta.simulator.cycle.native import (COMMAND_FIELDS, COMMANDS, DONE, EMPTY, FREE_AT, LAST,
                                        LAST_GRANT, LIMIT, NOW, POSTED, RESULT, WAIT, YIELD)
from vta.simulator.cycle.events import ARBITER, NEVER, Event, Kernel
from vta.simulator.cycle.geometry import geometry


class ReadClient(ABC):
    """A client's side of the data stream: when it accepts the beats of its bursts. Tensor and
    micro-op loads' acceptance is also computed by the compiled loop of `native` (their
    `native_kind`)."""

    native_kind = native.OTHER

    @abstractmethod
    def accept(self, beats: int, earliest: int) -> tuple[int, int]:
        """Cycles of the first and last accepted beat of a burst whose first beat can arrive
        at `earliest`; beats follow back to back unless the client holds them."""


class ReadCommand:
    """A client's `count` successive ``{addr, words}`` commands (e.g. one per row of a LOAD):
    transfer k reads `words` bus words from ``first + k · stride``; each is offered the cycle
    after the previous one's grant. `granted` fires at the last grant, `done` at the last
    beat."""

    __slots__ = ("client", "first", "stride", "words", "count", "next", "posted", "granted",
                 "done")

    def __init__(self, client: ReadClient, first: int, words: int, posted: int, *,
                 count: int = 1, stride: int = 0):
        self.client, self.first, self.stride, self.words = client, first, stride, words
        self.count, self.next, self.posted = count, 0, posted
        self.granted, self.done = Event(), Event()


def fifo_latency(depth: int) -> int:
    """Cycles from an entry written into an empty FIFO of the core (Amaranth's
    `SyncFIFOBuffered`) to it being readable: its output register, behind the storage when
    `depth` is 2 or more; a one-entry FIFO is that register alone."""
    return 1 if depth == 1 else 2


def read_latency(config: Config) -> int:
    """Cycles from an AR to its first beat at the earliest: the memory's latency, and the
    burst's client id, written at AR, must be readable from the in-flight FIFO."""
    return max(config.MEM_READ_LATENCY, fifo_latency(config.machine.max_outstanding_reads))


def burst_sizes(addr: int, words: int, bus_bytes: int, machine: Machine):
    """Beats of each INCR burst of a transfer (at most `max_burst_beats`, not crossing a
    multiple of `burst_boundary_bytes`)."""
    boundary, longest = machine.burst_boundary_bytes, machine.max_burst_beats
    while words:
        to_boundary = (boundary - addr % boundary) // bus_bytes
        beats = min(words, longest, to_boundary)
        yield beats
        addr += beats * bus_bytes
        words -= beats


class ReadPort:
    """Arbitration and timing of the shared read channel for `clients` (round-robin order).

    With `fast_forward` (the default) the grants of tensor and micro-op loads are stepped by
    the compiled loop of `native` (`_arbitrate_native`), fetch's here; without it every grant
    is stepped here (`_arbitrate`), the reference the compiled loop is tested against."""

    def __init__(self, kernel: Kernel, config: Config, clients: int, *, fast_forward: bool = True):
        self.kernel, self.bus_bytes = kernel, geometry(config).bus_bytes
        self.machine = machine = config.machine
        self.latency = read_latency(config)
        self.pending: list[ReadCommand | None] = [None] * clients
        self.last_grant = 0
        self.free_at = 0            # first cycle the master can grant again
        self.channel_free = 0       # first cycle the next burst's first beat can be taken
        self.burst_ends: deque = deque(maxlen=machine.max_outstanding_reads)
        self.beats = 0
        self.state = None
        if fast_forward:
            self.state = state = native.read_state(clients)
            state[native.LATENCY], state[native.BOUNDARY] = self.latency, \
                machine.burst_boundary_bytes
            state[native.LONGEST], state[native.OUTSTANDING] = machine.max_burst_beats, \
                machine.max_outstanding_reads
            state[native.BUS], state[native.CLIENTS] = self.bus_bytes, clients
            self._native = native.functions()["arbitrate"]
            self._address = native.address(state)

    def post(self, index: int, command: ReadCommand) -> None:
        self.pending[index] = command
        state = self.state
        if state is None:
            self.kernel.at(max(command.posted, self.free_at), self._arbitrate, ARBITER)
            return
        base = native.COMMANDS + index * native.COMMAND_FIELDS
        client = command.client
        kind = client.native_kind
        if kind == native.TENSOR:
            state[base:base + native.COMMAND_FIELDS] = array("q", (
                kind, command.posted, command.first, command.stride, command.words,
                command.count, command.next, client.writer, client.mem_wait, client.x_pad_0,
                client.x_pad_1, client.tail, client.row_words, client.rows_left,
                client.words_left, 0))
        elif kind == native.UOP:
            state[base:base + native.COMMAND_FIELDS] = array("q", (
                kind, command.posted, command.first, command.stride, command.words,
                command.count, command.next, client.writer, client.mem_wait, client.slot,
                client.per_word, 0, 0, client.left, 0, 0))
        else:
            state[base], state[base + native.POSTED] = kind, command.posted
        self.kernel.at(max(command.posted, state[native.FREE_AT]), self._arbitrate_native,
                       ARBITER)

    def _arbitrate(self) -> None:
        """Grant commands from now on; while no other event comes first, keep granting here
        instead of scheduling the next arbitration (the common case of a streaming client)."""
        kernel, pending, count = self.kernel, self.pending, len(self.pending)
        now = kernel.now
        while now >= self.free_at:
            for offset in range(1, count + 1):
                index = (self.last_grant + offset) % count
                command = pending[index]
                if command is not None and command.posted <= now:
                    break
            else:
                waiting = [c.posted for c in pending if c is not None]
                if waiting:
                    kernel.at(min(waiting), self._arbitrate, ARBITER)
                return
            self.last_grant = index
            self._grant(command, now)
            if command.next < command.count:
                command.posted = now + 1
            else:
                pending[index] = None
            now = self.free_at
            if not kernel.quiet_until(now):
                kernel.at(now, self._arbitrate, ARBITER)
                return
            kernel.now = now

    def _arbitrate_native(self) -> None:
        """`_arbitrate` with the tensor and micro-op loads' grants in the compiled loop
        (`native`): it returns to fire a finished command's events, to let fetch be granted
        here, or when another callback is due."""
        kernel, state, pending = self.kernel, self.state, self.pending
        queue, run, address = kernel.queue, self._native, self._address
        now = kernel.now
        while now >= state[FREE_AT]:
            state[NOW] = now
            state[LIMIT] = queue[0][0] if queue else NEVER
            result = run(address)
            now = state[NOW]
            if result == YIELD:
                kernel.at(now, self._arbitrate_native, ARBITER)
                return
            if result == WAIT:
                waiting = [state[COMMANDS + COMMAND_FIELDS * k + POSTED]
                           for k, c in enumerate(pending) if c is not None]
                if waiting:
                    kernel.at(min(waiting), self._arbitrate_native, ARBITER)
                return
            index = state[RESULT]
            base = COMMANDS + index * COMMAND_FIELDS
            command = pending[index]
            kernel.now = now
            if result == DONE:
                pending[index] = None
                state[base] = EMPTY
                self._settle(command, base)
                command.granted.fire(kernel, now)
                command.done.fire(kernel, state[base + LAST])
            else:
                state[LAST_GRANT] = index
                self._from_state()
                self._grant(command, now)
                self._to_state()
                if command.next < command.count:
                    command.posted = state[base + POSTED] = now + 1
                else:
                    pending[index] = None
                    state[base] = EMPTY
            now = state[FREE_AT]
            if queue and queue[0][0] <= now:
                kernel.at(now, self._arbitrate_native, ARBITER)
                return
            kernel.now = now

    def _settle(self, command: ReadCommand, base: int) -> None:
        """Take a command's and its client's state from the compiled loop's."""
        state, client = self.state, command.client
        command.next = state[base + native.NEXT]
        command.posted = state[base + native.POSTED]
        client.writer = state[base + native.WRITER]
        client.mem_wait = state[base + native.MEM_WAIT]
        if client.native_kind == native.UOP:
            client.slot, client.left = state[base + native.SLOT], state[base + native.LEFT]
        else:
            client.rows_left = state[base + native.ROWS_LEFT]
            client.words_left = state[base + native.WORDS_LEFT]

    def _from_state(self) -> None:
        """The port's timing from the compiled loop's state (before a grant here)."""
        state = self.state
        self.free_at, self.channel_free = state[native.FREE_AT], state[native.CHANNEL]
        self.beats = state[native.BEATS]
        count, head = state[native.ENDS_COUNT], state[native.ENDS_HEAD]
        ends, outstanding = self.burst_ends, self.machine.max_outstanding_reads
        ends.clear()
        ends.extend([state[native.ENDS + (head + k) % outstanding] for k in range(count)])

    def _to_state(self) -> None:
        state = self.state
        state[native.FREE_AT], state[native.CHANNEL] = self.free_at, self.channel_free
        state[native.BEATS] = self.beats
        ends = self.burst_ends
        state[native.ENDS_COUNT], state[native.ENDS_HEAD] = len(ends), 0
        for k, end in enumerate(ends):
            state[native.ENDS + k] = end

    def settle(self) -> None:
        """After a run: beats and the clients' state of commands still pending taken from the
        compiled loop."""
        state = self.state
        if state is None:
            return
        for index, command in enumerate(self.pending):
            if command is not None and command.client.native_kind != native.OTHER:
                self._settle(command, native.COMMANDS + index * native.COMMAND_FIELDS)
        self._from_state()

    def _grant(self, command: ReadCommand, now: int) -> None:
        """Issue the ARs of the command's next transfer and time the beats of its bursts."""
        client = command.client
        addr, words = command.first + command.next * command.stride, command.words
        command.next += 1
        bus, ends = self.bus_bytes, self.burst_ends
        latency = self.latency
        boundary, longest = self.machine.burst_boundary_bytes, self.machine.max_burst_beats
        outstanding = self.machine.max_outstanding_reads
        accept, channel_free = client.accept, self.channel_free
        self.beats += words
        ar = last = now
        while words:
            room = (boundary - addr % boundary) // bus
            beats = words if words <= longest and words <= room else min(words, longest, room)
            addr += beats * bus
            words -= beats
            ar += 1
            if len(ends) == outstanding and ends[0] >= ar:
                ar = ends[0] + 1
            earliest = ar + latency
            first, last = accept(beats, earliest if earliest > channel_free else channel_free)
            channel_free = last + 1
            ends.append(last)
        self.channel_free = channel_free
        self.free_at = ar + 1
        if command.next == command.count:
            command.granted.fire(self.kernel, now)
            command.done.fire(self.kernel, last)
