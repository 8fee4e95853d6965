"""A small discrete-event kernel: processes are generators that wait for times or events.

Time is counted in clock cycles. A process yields an ``int`` (resume at that cycle) or an
`Event` (resume when it has fired, at its time). Callbacks at the same cycle run in priority
order, so an arbiter can run after every process that may post a request in that cycle.
"""

from __future__ import annotations

import heapq
import itertools

#: Priorities: processes first, arbitration last within a cycle.
PROCESS, ARBITER = 0, 1
#: A cycle after every cycle of any run.
NEVER = 1 << 62


class Event:
    """Fires once at a cycle; processes waiting on it resume at that cycle."""

    __slots__ = ("time", "_waiters")

    def __init__(self):
        self.time: int | None = None
        #: the processes waiting, None while there are none (most events are never waited
        #: for: a run makes several per instruction, and an empty list each cost as much)
        self._waiters: list | None = None

    def fire(self, kernel: Kernel, time: int) -> None:
        self.time = time
        if self._waiters:
            for process in self._waiters:
                kernel.resume(process, time)
            self._waiters = None


class Kernel:
    """The event queue and the processes. `queue` is the heap of ``(time, priority, order,
    callback, process)`` entries (readable: ``queue[0][0]`` is `next_time` without a call)."""

    def __init__(self):
        self.now = 0
        self.queue: list = []
        self._order = itertools.count()

    def at(self, time: int, callback, priority: int = PROCESS) -> None:
        heapq.heappush(self.queue, (time if time > self.now else self.now, priority,
                                     next(self._order), callback, None))

    def quiet_until(self, time: int) -> bool:
        """True when no callback is due at or before `time`."""
        return not self.queue or self.queue[0][0] > time

    def next_time(self) -> int:
        """The cycle of the next callback due (`NEVER` when none is)."""
        return self.queue[0][0] if self.queue else NEVER

    def spawn(self, process, time: int = 0) -> None:
        self.resume(process, time)

    def resume(self, process, time: int) -> None:
        heapq.heappush(self.queue, (time if time > self.now else self.now, PROCESS,
                                     next(self._order), None, process))

    def _step(self, process) -> None:
        """Run `process` until it waits for a later cycle or an event that has not fired."""
        while True:
            try:
                wait = next(process)
            except StopIteration:
                return
            if type(wait) is Event:
                if wait.time is None:
                    if wait._waiters is None:
                        wait._waiters = [process]
                    else:
                        wait._waiters.append(process)
                    return
                wait = wait.time
            if wait > self.now:
                self.resume(process, wait)
                return

    def run(self) -> None:
        queue, pop, step = self.queue, heapq.heappop, self._step
        while queue:
            self.now, _, _, callback, process = pop(queue)
            if process is None:
                callback()
            else:
                step(process)
