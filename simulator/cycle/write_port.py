"""The store module's write path, computed per burst: the AXI master's write side (one row
command at a time, AW per burst with at most the machine's `max_outstanding_writes` bursts
awaiting data) and the
memory model's write channel (W one beat per cycle, B `MEM_WRITE_LATENCY` after a burst
completes, in order, one per cycle). Reads never delay writes, so no arbitration is needed."""

from __future__ import annotations

from array import array
from collections import deque

from vta.isa import Config, MemoryType

from vta.simulator.cycle import native
from vta.simulator.cycle.geometry import geometry
from vta.simulator.cycle.read_port import burst_sizes, fifo_latency

#: Cycles from a STORE's issue to its first word leaving the OUT prefetch FIFO.
ISSUE_TO_DATA = 3


class WritePort:
    """Write timing, kept across STOREs (the B responses of earlier STOREs). With
    `fast_forward` (the default) a STORE is timed by the compiled loop of `native`, otherwise
    here (`_store`, the reference)."""

    def __init__(self, config: Config, *, fast_forward: bool = True):
        sizes = geometry(config)
        self.latency, self.bus_bytes = config.MEM_WRITE_LATENCY, sizes.bus_bytes
        self.machine = machine = config.machine
        self.elem_bytes = sizes.elem_bytes[MemoryType.OUT]
        self.words_per_tile = self.elem_bytes // self.bus_bytes
        self.cmd_free = 0
        self.w_last = -1
        self.b_last = -1
        self.burst_w_ends: deque = deque(maxlen=machine.max_outstanding_writes)
        #: Cycles from a burst's AW to its first W beat (the burst FIFO in between).
        self.aw_to_w = fifo_latency(machine.max_outstanding_writes)
        self.stall = 0
        self.beats = 0
        self.state = None
        if fast_forward:
            self.state = state = native.write_state()
            state[native.W_CMD_FREE:native.W_ENDS_HEAD + 1] = array("q", (
                self.cmd_free, self.w_last, self.b_last, self.stall, self.beats,
                machine.burst_boundary_bytes, machine.max_burst_beats, self.bus_bytes,
                machine.max_outstanding_writes, self.aw_to_w, self.latency, 0, 0))
            self._native = native.functions()["store"]
            self._address = native.address(state)

    def idle_at(self) -> int:
        """First cycle in which every write issued so far is acknowledged."""
        return max(self.b_last + 1, self.cmd_free)

    def store(self, insn, start: int) -> int:
        """Times a STORE issued at `start`; returns its done cycle (before the push wait)."""
        f = insn.fields
        row_words, rows = f["x_size"] * self.words_per_tile, f["y_size"]
        base, stride = f["dram_base"] * self.elem_bytes, f["x_stride"] * self.elem_bytes
        state = self.state
        if state is None:
            return self._store(start, rows, row_words, base, stride)
        state[native.W_START:native.W_STRIDE + 1] = array("q", (start, rows, row_words, base,
                                                               stride))
        done = self._native(self._address)
        self.cmd_free, self.w_last, self.b_last, self.stall, self.beats = \
            state[native.W_CMD_FREE:native.W_BEATS + 1]
        return done

    def _store(self, start: int, rows: int, row_words: int, base: int, stride: int) -> int:
        post = start + 1
        data_ready = start + ISSUE_TO_DATA
        w = max(self.w_last, data_ready - 1)
        ends = self.burst_w_ends
        for row in range(rows):
            grant = max(post, self.cmd_free)
            aw = grant
            for beats in burst_sizes(base + row * stride, row_words, self.bus_bytes,
                                     self.machine):
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
        self.w_last = w
        return max(w + 1, self.cmd_free, start + 1)
