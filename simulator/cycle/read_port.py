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
from collections import deque

from vta.isa import Config
from vta.isa.machine import Machine

from vta.simulator.cycle.events import ARBITER, Event, Kernel


class ReadClient(ABC):
    """A client's side of the data stream: when it accepts the beats of its bursts."""

    @abstractmethod
    def accept(self, beats: int, earliest: int) -> tuple[int, int]:
        """Cycles of the first and last accepted beat of a burst whose first beat can arrive
        at `earliest`; beats follow back to back unless the client holds them."""


class ReadCommand:
    """A client's successive ``{addr, words}`` commands (`transfers`, e.g. one per row): each
    is offered the cycle after the previous one's grant. `granted` fires at the last grant,
    `done` at the last beat."""

    __slots__ = ("client", "transfers", "next", "posted", "granted", "done")

    def __init__(self, client: ReadClient, transfers: list, posted: int):
        self.client, self.transfers, self.next, self.posted = client, transfers, 0, posted
        self.granted, self.done = Event(), Event()


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
    """Arbitration and timing of the shared read channel for `clients` (round-robin order)."""

    def __init__(self, kernel: Kernel, config: Config, clients: int):
        self.kernel, self.latency, self.bus_bytes = kernel, config.MEM_READ_LATENCY, config.bus_bytes
        self.machine = machine = config.machine
        self.pending: list[ReadCommand | None] = [None] * clients
        self.last_grant = 0
        self.free_at = 0            # first cycle the master can grant again
        self.channel_free = 0       # first cycle the next burst's first beat can be taken
        self.burst_ends: deque = deque(maxlen=machine.max_outstanding_reads)
        self.beats = 0

    def post(self, index: int, command: ReadCommand) -> None:
        self.pending[index] = command
        self.kernel.at(max(command.posted, self.free_at), self._arbitrate, ARBITER)

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
            if command.next < len(command.transfers):
                command.posted = now + 1
            else:
                pending[index] = None
            now = self.free_at
            if not kernel.quiet_until(now):
                kernel.at(now, self._arbitrate, ARBITER)
                return
            kernel.now = now

    def _grant(self, command: ReadCommand, now: int) -> None:
        """Issue the ARs of the command's next transfer and time the beats of its bursts."""
        addr, words = command.transfers[command.next]
        command.next += 1
        bus, latency, ends = self.bus_bytes, max(self.latency, 2), self.burst_ends
        boundary, longest = self.machine.burst_boundary_bytes, self.machine.max_burst_beats
        outstanding = self.machine.max_outstanding_reads
        accept, channel_free = command.client.accept, self.channel_free
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
        if command.next == len(command.transfers):
            command.granted.fire(self.kernel, now)
            command.done.fire(self.kernel, last)
