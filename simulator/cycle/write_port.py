"""The store module's write path, computed per burst: the AXI master's write side (one row
command at a time, AW per burst with at most the machine's `max_outstanding_writes` bursts
awaiting data) and the
memory model's write channel (W one beat per cycle, B `MEM_WRITE_LATENCY` after a burst
completes, in order, one per cycle). Reads never delay writes, so no arbitration is needed."""

from __future__ import annotations

from collections import deque

from vta.isa import Config, MemoryType

from vta.simulator.cycle.read_port import burst_sizes, fifo_latency

#: Cycles from a STORE's issue to its first word leaving the OUT prefetch FIFO.
ISSUE_TO_DATA = 3


class WritePort:
    """Write timing, kept across STOREs (the B responses of earlier STOREs)."""

    def __init__(self, config: Config, *, fast_forward: bool = True):
        self.latency, self.bus_bytes = config.MEM_WRITE_LATENCY, config.bus_bytes
        self.machine = config.machine
        self.words_per_tile = config.elem_bytes(MemoryType.OUT) // config.bus_bytes
        self.elem_bytes = config.elem_bytes(MemoryType.OUT)
        self.cmd_free = 0
        self.w_last = -1
        self.b_last = -1
        self.burst_w_ends: deque = deque(maxlen=config.machine.max_outstanding_writes)
        #: Cycles from a burst's AW to its first W beat (the burst FIFO in between).
        self.aw_to_w = fifo_latency(config.machine.max_outstanding_writes)
        self.stall = 0
        self.beats = 0
        self.fast_forward = fast_forward

    def idle_at(self) -> int:
        """First cycle in which every write issued so far is acknowledged."""
        return max(self.b_last + 1, self.cmd_free)

    def store(self, insn, start: int) -> int:
        """Times a STORE issued at `start`; returns its done cycle (before the push wait).

        Rows whose bursts stay inside a page repeat once the state relative to a row's offer
        (the write master's next free cycle, the last W beat, the last B response, the bursts
        awaiting data — values that can no longer matter clamped) is the one of the row
        before: the rest of them are timed at once."""
        post = start + 1
        data_ready = start + ISSUE_TO_DATA
        f = insn.fields
        row_words, rows = f["x_size"] * self.words_per_tile, f["y_size"]
        base, stride = f["dram_base"] * self.elem_bytes, f["x_stride"] * self.elem_bytes
        boundary = self.machine.burst_boundary_bytes
        row_bytes = row_words * self.bus_bytes
        w = max(self.w_last, data_ready - 1)
        ends = self.burst_w_ends
        previous = None
        row = 0
        while row < rows:
            grant = max(post, self.cmd_free)
            aw = grant
            addr = base + row * stride
            for beats in burst_sizes(addr, row_words, self.bus_bytes, self.machine):
                aw += 1
                if len(ends) == ends.maxlen:
                    aw = max(aw, ends[0] + 1)
                first = max(w + 1, aw + self.aw_to_w, data_ready)
                self.stall += first - max(w + 1, data_ready)
                w = first + beats - 1
                ends.append(w)
                self.b_last = max(max(aw, w) + self.latency, self.b_last + 1)
                self.beats += beats
            self.cmd_free = aw + 1
            post = grant + 1
            row += 1
            if not self.fast_forward or addr % boundary + row_bytes > boundary:
                previous = None
                continue
            state = (max(self.cmd_free - post, 0), w - post, self.b_last - post, len(ends),
                     *(max(end - post, 0) for end in ends))
            if previous is None or previous[0] != state:
                previous = (state, post, self.stall, self.beats)
                continue
            # Rows left whose bursts stay inside one page repeat this one.
            repeat, addr = 0, base + row * stride
            while row + repeat < rows and addr % boundary + row_bytes <= boundary:
                repeat += 1
                addr += stride
            if repeat:
                shift = repeat * (post - previous[1])
                self.stall += repeat * (self.stall - previous[2])
                self.beats += repeat * (self.beats - previous[3])
                post += shift
                self.cmd_free += shift
                self.b_last += shift
                w += shift
                for k in range(len(ends)):
                    ends[k] += shift
                row += repeat
            previous = None
        self.w_last = w
        return max(w + 1, self.cmd_free, start + 1)
