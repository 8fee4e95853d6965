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

#: Grants the port looks back for a repeating pattern, per burst it may have in flight (a
#: pattern can last as many grants as there are bursts in flight, times the clients in turn).
REPEAT_SEARCH_PER_BURST = 2
#: Transfers a command must have left for the port to look for a pattern (shorter commands
#: gain less than the search costs).
REPEAT_MIN_TRANSFERS = 32
#: Full bursts a transfer must span for its bursts to be fast-forwarded.
STREAM_MIN_BURSTS = 4


class ReadClient(ABC):
    """A client's side of the data stream: when it accepts the beats of its bursts. A
    `periodic` client has a ``writer`` cycle and ``mem_wait`` count, and its state after a
    whole transfer is shifted by `skip` (the port fast-forwards repeating transfers)."""

    periodic = False

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

    def __init__(self, kernel: Kernel, config: Config, clients: int, *, fast_forward: bool = True):
        self.kernel, self.bus_bytes = kernel, config.bus_bytes
        self.machine = machine = config.machine
        # Cycles from an AR to its first beat at the earliest: the memory's latency, and the
        # burst's client id, written at AR, must be readable from the in-flight FIFO.
        self.latency = max(config.MEM_READ_LATENCY, fifo_latency(machine.max_outstanding_reads))
        self.pending: list[ReadCommand | None] = [None] * clients
        self.last_grant = 0
        self.free_at = 0            # first cycle the master can grant again
        self.channel_free = 0       # first cycle the next burst's first beat can be taken
        self.burst_ends: deque = deque(maxlen=machine.max_outstanding_reads)
        self.beats = 0
        self.history: deque = deque(    # records of the last grants (`_repeat`)
            maxlen=REPEAT_SEARCH_PER_BURST * machine.max_outstanding_reads + 1)
        self.fast_forward = fast_forward
        self.jumps = 0

    def post(self, index: int, command: ReadCommand) -> None:
        self.pending[index] = command
        self.history.clear()        # grants before a new command do not predict later ones
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
            if command.next < command.count:
                command.posted = now + 1
            else:
                pending[index] = None
            if not command.client.periodic:
                self.history.clear()
            elif self.fast_forward and command.count - command.next >= REPEAT_MIN_TRANSFERS:
                self._repeat(now)
            now = self.free_at
            if not kernel.quiet_until(now):
                kernel.at(now, self._arbitrate, ARBITER)
                return
            kernel.now = now

    def _repeat(self, granted: int) -> None:
        """Fast-forward grants that repeat (docs/cycle-model.md, "Repeating transfers").

        After a grant at `granted`, the port's state relative to that cycle (next grant,
        channel, bursts in flight, round-robin position, and each pending command with its
        client's writer) determines every later grant until something else happens (a command
        is offered or finishes, any other callback is due). When it equals the state after
        the grant P grants earlier, those P grants repeat, `period` cycles later each time,
        for as long as their transfers keep the same burst split (no 4 KiB boundary inside),
        every command keeps its last transfer (which fires its events), and the repeated
        grants come before the next callback: the port jumps over them at once."""
        commands = tuple(c for c in self.pending if c is not None)
        history = self.history
        for c in commands:
            if not c.client.periodic:
                history.clear()
                return
        ends = self.burst_ends
        record = (granted, self.free_at - granted, commands, self.last_grant, tuple(ends),
                  self.channel_free, [(c.posted, c.client.writer, c.next, c.client.mem_wait)
                                      for c in commands], self.beats)
        match = None
        for old in reversed(history):
            if (old[1] == record[1] and old[2] == commands and old[3] == record[3]
                    and len(old[4]) == len(ends) and self._same(old, record)):
                match = old
                break
        history.append(record)
        if match is not None:
            self._jump(match, record)

    def _same(self, old: tuple, new: tuple) -> bool:
        """Whether two grant records are the same state relative to their grant cycles."""
        then, now = old[0], new[0]
        lead = self.latency + 1     # no later burst's data comes before grant + lead
        if max(old[5] - then, lead) != max(new[5] - now, lead):
            return False
        for a, b in zip(old[4], new[4]):
            if max(a - then, 0) != max(b - now, 0):
                return False
        for (posted_a, writer_a, *_), (posted_b, writer_b, *_) in zip(old[6], new[6]):
            if (writer_a - then != writer_b - now
                    or max(posted_a - then, 1) != max(posted_b - now, 1)):
                return False
        return True

    def _jump(self, old: tuple, new: tuple) -> None:
        """Replay the grants from record `old` to record `new` as many times as they repeat
        exactly (see `_repeat`)."""
        granted, commands = new[0], new[2]
        period = granted - old[0]
        periods = -(-(self.kernel.next_time() - granted) // period) - 1  # before the next callback
        boundary = self.machine.burst_boundary_bytes
        steps = []
        for c, (*_, position, waited), (*_, now_next, now_waited) in zip(commands, old[6],
                                                                        new[6]):
            rows = now_next - position
            row_bytes = c.words * self.bus_bytes
            if rows <= 0 or row_bytes > boundary:
                return
            periods = min(periods, (c.count - 1 - c.next) // rows)
            steps.append((c, rows, now_waited - waited))
        for c, rows, _ in steps:   # the period's transfers and the repeated ones: one page each
            if periods <= 0:
                return
            addr, inside = c.first + (c.next - rows) * c.stride, 0
            row_bytes = c.words * self.bus_bytes
            while inside < rows * (periods + 1) and addr % boundary + row_bytes <= boundary:
                inside += 1
                addr += c.stride
            periods = min(periods, inside // rows - 1)
        if periods <= 0:
            return
        shift = periods * period
        for c, rows, waited in steps:
            c.next += periods * rows
            c.posted += shift
            c.client.skip(periods * rows, shift, periods * waited)
        self.beats += periods * (new[7] - old[7])
        self.free_at += shift
        self.channel_free += shift
        ends = self.burst_ends
        for k in range(len(ends)):
            ends[k] += shift
        self.history.clear()
        self.jumps += 1

    def _grant(self, command: ReadCommand, now: int) -> None:
        """Issue the ARs of the command's next transfer and time the beats of its bursts.

        Full bursts in a row that leave the state relative to their last beat unchanged (the
        AR, the channel, the bursts in flight and a periodic client's writer) repeat `period`
        cycles apart: the rest of them up to the page's end is timed at once (`_stream`)."""
        client = command.client
        addr, words = command.first + command.next * command.stride, command.words
        command.next += 1
        bus, ends = self.bus_bytes, self.burst_ends
        latency = self.latency
        boundary, longest = self.machine.burst_boundary_bytes, self.machine.max_burst_beats
        outstanding = self.machine.max_outstanding_reads
        accept, channel_free = client.accept, self.channel_free
        stream = self.fast_forward and client.periodic and words > STREAM_MIN_BURSTS * longest
        previous = None
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
            if stream and beats == longest and words > longest:
                # The AR, the writer and the oldest burst in flight first (cheap), then all.
                state = (ar - last, client.writer - last, ends[0] - last)
                if (previous is not None and previous[0] == state
                        and len(previous[3]) == len(ends)
                        and all(a - previous[1] == b - last for a, b in zip(previous[3], ends))):
                    # Full bursts left in this page, keeping the transfer's last one.
                    count = min(room - beats, words - 1) // longest
                    if count > 0:
                        period = last - previous[1]
                        shift = count * period
                        ar += shift
                        last += shift
                        channel_free += shift
                        for k in range(len(ends)):
                            ends[k] += shift
                        addr += count * longest * bus
                        words -= count * longest
                        client.skip_words(count * longest, shift,
                                          count * (client.mem_wait - previous[2]))
                    previous = None
                else:
                    previous = (state, last, client.mem_wait, tuple(ends))
        self.channel_free = channel_free
        self.free_at = ar + 1
        if command.next == command.count:
            command.granted.fire(self.kernel, now)
            command.done.fire(self.kernel, last)
