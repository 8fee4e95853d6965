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

#: Earlier grants with the same relative state that a grant tries to repeat (newest first).
REPEAT_CANDIDATES = 4
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
        self.seen: dict = {}        # grant records by relative state (`_repeat`)
        self.fast_forward = fast_forward
        self.jumps = 0
        self.boundary = machine.burst_boundary_bytes
        self.transfers: dict = {}   # outcomes of commands granted alone (`_arbitrate`)
        self.replays = 0

    def post(self, index: int, command: ReadCommand) -> None:
        self.pending[index] = command
        self.seen.clear()        # grants before a new command do not predict later ones
        self.kernel.at(max(command.posted, self.free_at), self._arbitrate, ARBITER)

    def _arbitrate(self) -> None:
        """Grant commands from now on; while no other event comes first, keep granting here
        instead of scheduling the next arbitration (the common case of a streaming client).

        A tensor load's command granted alone from some transfer to its last here (no other
        command, no other callback in between) is recorded (`transfers`); a later command of
        the same shape, with as many transfers left from the same page offset (any, when none
        crosses a page boundary), alone from the same relative state, replays the record when it would end before the next callback
        (`_replay`). The port looks a command up when it grants it first here or after
        another one."""
        kernel, pending, count = self.kernel, self.pending, len(self.pending)
        now = kernel.now
        recording = previous = None
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
            client = command.client
            if (command is not previous and recording is None and self.fast_forward
                    and client.periodic and pending.count(None) == count - 1):
                boundary = self.boundary
                key = (client, command.words, command.count - command.next,
                       command.stride % boundary, self._page_offset(command),
                       self._relative(now), client.state(now))
                outcome = self.transfers.get(key)
                if outcome is not None and kernel.quiet_until(now + outcome[0]):
                    self._replay(command, now, outcome)
                    pending[index] = None
                    now = self.free_at
                    if not kernel.quiet_until(now):
                        kernel.at(now, self._arbitrate, ARBITER)
                        return
                    kernel.now = now
                    continue
                recording = (command, key, now, self.beats, client.mem_wait)
            previous = command
            self._grant(command, now)
            if command.next < command.count:
                command.posted = now + 1
            else:
                pending[index] = None
                if recording is not None and recording[0] is command:
                    self._record(recording, now)
                    recording = None
            if not client.periodic:
                self.seen.clear()
            elif self.fast_forward and command.count - command.next >= REPEAT_MIN_TRANSFERS:
                self._repeat(now)
            now = self.free_at
            if not kernel.quiet_until(now):
                kernel.at(now, self._arbitrate, ARBITER)
                return
            kernel.now = now

    def _page_offset(self, command: ReadCommand) -> int | None:
        """The page offset of the command's next transfer, or None when none of its remaining
        transfers crosses a page boundary (then every burst split is the same wherever they
        lie)."""
        boundary, size = self.boundary, command.words * self.bus_bytes
        offset = (command.first + command.next * command.stride) % boundary
        stride = command.stride % boundary
        at = offset
        for _ in range(command.count - command.next):
            if at + size > boundary:
                return offset
            at = (at + stride) % boundary
        return None

    def _relative(self, now: int) -> tuple:
        """The channel and the bursts in flight relative to a grant at `now`, values that can
        no longer matter clamped."""
        lead = self.latency + 1     # no later burst's data comes before grant + lead
        channel = self.channel_free - now
        return (channel if channel > lead else lead,
                tuple([e - now if e > now else 0 for e in self.burst_ends]))

    def _record(self, recording: tuple, last: int) -> None:
        """Keep the outcome of a command granted alone from its first grant to its last."""
        command, key, start, beats, mem_wait = recording
        client = command.client
        self.transfers[key] = (last - start, command.done.time - start, self.free_at - start,
                               self.channel_free - start,
                               tuple([e - start for e in self.burst_ends]), self.beats - beats,
                               client.mem_wait - mem_wait, client.state(start))

    def _replay(self, command: ReadCommand, now: int, outcome: tuple) -> None:
        """Grant every transfer of `command` as the recorded command of the same shape was."""
        last, done, free_at, channel, ends, beats, mem_wait, state = outcome
        self.free_at, self.channel_free = now + free_at, now + channel
        self.burst_ends.clear()
        self.burst_ends.extend([now + e for e in ends])
        self.beats += beats
        command.client.restore(now, state, mem_wait)
        command.next = command.count
        command.granted.fire(self.kernel, now + last)
        command.done.fire(self.kernel, now + done)
        self.replays += 1

    def _repeat(self, granted: int) -> None:
        """Fast-forward grants that repeat (docs/cycle-model.md, "Repeating transfers").

        After a grant at `granted`, the port's state relative to that cycle (next grant,
        channel, bursts in flight, round-robin position, and each pending command with its
        client's writer) determines every later grant until something else happens (a command
        is offered or finishes, any other callback is due). When it equals the state after
        an earlier grant (`seen`, keyed by that relative state), the grants since then repeat,
        `period` cycles later each time, for as long as their transfers keep the same burst
        split (`_jump`), every command keeps its last transfer (which fires its events), and
        the repeated grants come before the next callback: the port jumps over them at once.
        An earlier match whose transfers cannot repeat (a page boundary in between) may be
        followed by an older one that spans whole pages."""
        commands = tuple(c for c in self.pending if c is not None)
        for c in commands:
            if not c.client.periodic:
                self.seen.clear()
                return
        lead = self.latency + 1     # no later burst's data comes before grant + lead
        ends = tuple([e - granted if e > granted else 0 for e in self.burst_ends])
        channel = self.channel_free - granted
        key = (self.free_at - granted, self.last_grant, commands, ends,
               channel if channel > lead else lead,
               tuple([(c.client.writer - granted,
                       c.posted - granted if c.posted - granted > 1 else 1) for c in commands]))
        record = (granted, tuple([(c.next, c.client.mem_wait) for c in commands]), self.beats)
        earlier = self.seen.get(key)
        if earlier is None:
            self.seen[key] = [record]
            return
        for old in reversed(earlier[-REPEAT_CANDIDATES:]):
            shift = self._jump(old, record, commands)
            if shift:
                record = (granted + shift,
                          tuple([(c.next, c.client.mem_wait) for c in commands]), self.beats)
                granted += shift
        earlier.append(record)

    def _jump(self, old: tuple, new: tuple, commands: tuple) -> int:
        """Replay the grants from record `old` to record `new` as many times as they repeat
        exactly (see `_repeat`); returns the cycles jumped over (0: none).

        A repeated transfer has the burst split of the transfer a period before it when both
        lie inside one page, or when a period's transfers advance the address by whole pages
        (`burst_boundary_bytes`)."""
        granted = new[0]
        period = granted - old[0]
        periods = -(-(self.kernel.next_time() - granted) // period) - 1  # before the next callback
        if periods <= 0:
            return 0
        boundary = self.machine.burst_boundary_bytes
        steps = []
        for c, (position, waited), (now_next, now_waited) in zip(commands, old[1], new[1]):
            rows = now_next - position
            if rows <= 0:
                return 0
            periods = min(periods, (c.count - 1 - c.next) // rows)
            if periods <= 0:
                return 0
            steps.append((c, rows, now_waited - waited))
        for c, rows, _ in steps:
            if rows * c.stride % boundary == 0:
                continue            # every transfer has the split of the one a period before
            # The period's transfers and the repeated ones: one page each.
            row_bytes = c.words * self.bus_bytes
            if row_bytes > boundary:
                return 0
            addr, inside = c.first + (c.next - rows) * c.stride, 0
            while inside < rows * (periods + 1) and addr % boundary + row_bytes <= boundary:
                inside += 1
                addr += c.stride
            periods = min(periods, inside // rows - 1)
            if periods <= 0:
                return 0
        shift = periods * period
        for c, rows, waited in steps:
            c.next += periods * rows
            c.posted += shift
            c.client.skip(periods * rows, shift, periods * waited)
        self.beats += periods * (new[2] - old[2])
        self.free_at += shift
        self.channel_free += shift
        ends = self.burst_ends
        for k in range(len(ends)):
            ends[k] += shift
        self.jumps += 1
        return shift

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
