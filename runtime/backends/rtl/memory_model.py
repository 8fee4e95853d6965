"""The AXI4 memory model and the control driver, cycle by cycle (docs/memory-model.md).

Both are pure Python state machines with no simulator in sight: the cocotb testbench samples
the core's outputs once per cycle, calls `step`, and drives what `step` returns after the next
rising edge. ``harness.cpp`` implements the same two machines line for line in C++, so both
harnesses agree on every cycle. Edges are numbered from 1 (the first rising clock edge); a
handshake "at edge e" means VALID and READY were both high when edge e sampled them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from vta.isa.registers import CONTROL_START, STATUS_DONE, Register

#: The core is held in reset for edges 1..RESET_EDGES; the models act from the next edge on.
RESET_EDGES = 4
#: AXI4 burst type INCR, the only one the model serves.
BURST_INCR = 1
#: Longest burst (beats); the Zynq HP/ACP ports are AXI3.
MAX_BURST_BEATS = 16
#: No AXI burst may cross a boundary of this many bytes.
BURST_BOUNDARY_BYTES = 4096


class MemoryModelError(Exception):
    """The core broke the AXI contract or addressed bytes outside the DRAM image."""


@dataclass
class AxiSample:
    """The core's master outputs as sampled just before one rising edge."""

    arvalid: int = 0
    araddr: int = 0
    arlen: int = 0
    arsize: int = 0
    arburst: int = 0
    rready: int = 0
    awvalid: int = 0
    awaddr: int = 0
    awlen: int = 0
    awsize: int = 0
    awburst: int = 0
    wvalid: int = 0
    wdata: int = 0
    wstrb: int = 0
    wlast: int = 0
    bready: int = 0


class _Burst:
    __slots__ = ("addr", "beats", "done", "ready_at")

    def __init__(self, addr: int, beats: int, ready_at: int = 0):
        self.addr, self.beats, self.done, self.ready_at = addr, beats, 0, ready_at


class AxiMemoryModel:
    """One AXI4 slave over `dram` (a bytearray, changed in place).

    Outputs (what the core samples at the next edge): ``arready = awready = wready = 1``
    always, and the attributes ``rvalid, rdata, rlast, bvalid`` (``rresp = bresp = 0``).
    """

    def __init__(self, dram: bytearray, bus_bytes: int, read_latency: int, write_latency: int):
        if read_latency < 1 or write_latency < 1:
            raise ValueError("memory latencies must be at least 1 cycle")
        self.dram, self.bus_bytes = dram, bus_bytes
        self.size_code = bus_bytes.bit_length() - 1
        self.read_latency, self.write_latency = read_latency, write_latency
        self.reads: deque[_Burst] = deque()      # accepted AR bursts, oldest first
        self.writes: deque[_Burst] = deque()     # accepted AW bursts still waiting for W beats
        self.wbuffer: deque[tuple[int, int, int]] = deque()  # W beats that arrived before their AW
        self.responses: deque[int] = deque()     # edge from which each pending B may be valid
        self.rvalid = self.rdata = self.rlast = self.bvalid = 0

    def _burst(self, kind: str, edge: int, addr: int, length: int, size: int, burst: int) -> _Burst:
        beats = length + 1
        where = f"memory model: edge {edge}: {kind} burst at {addr:#x}"
        if burst != BURST_INCR or size != self.size_code or beats > MAX_BURST_BEATS:
            raise MemoryModelError(f"{where}: unsupported burst (type {burst}, size code {size}, "
                                   f"{beats} beats); expected INCR, size code {self.size_code}, "
                                   f"at most {MAX_BURST_BEATS} beats")
        if addr % self.bus_bytes:
            raise MemoryModelError(f"{where}: not aligned to the {self.bus_bytes}-byte bus")
        end = addr + beats * self.bus_bytes
        if addr // BURST_BOUNDARY_BYTES != (end - 1) // BURST_BOUNDARY_BYTES:
            raise MemoryModelError(f"{where} ({beats} beats) crosses a {BURST_BOUNDARY_BYTES}-byte boundary")
        if end > len(self.dram):
            raise MemoryModelError(f"{where} ({beats} beats) lies outside the DRAM image of "
                                   f"{len(self.dram)} bytes")
        return _Burst(addr, beats)

    def step(self, edge: int, s: AxiSample) -> None:
        """Apply the handshakes of `edge` and compute the outputs for edge ``edge + 1``."""
        reads, writes, wbuffer = self.reads, self.writes, self.wbuffer
        if self.rvalid and s.rready:
            head = reads[0]
            head.done += 1
            if head.done == head.beats:
                reads.popleft()
        if s.arvalid:
            burst = self._burst("read", edge, s.araddr, s.arlen, s.arsize, s.arburst)
            burst.ready_at = edge + self.read_latency
            reads.append(burst)
        if self.bvalid and s.bready:
            self.responses.popleft()
        if s.awvalid:
            writes.append(self._burst("write", edge, s.awaddr, s.awlen, s.awsize, s.awburst))
        if s.wvalid:
            wbuffer.append((s.wdata, s.wstrb, s.wlast))
        while writes and wbuffer:
            self._commit(edge, writes[0], *wbuffer.popleft())
            if writes[0].done == writes[0].beats:
                writes.popleft()
                self.responses.append(edge + self.write_latency)
        if wbuffer and len(wbuffer) > MAX_BURST_BEATS:
            raise MemoryModelError(f"memory model: edge {edge}: more than {MAX_BURST_BEATS} "
                                   "W beats without a write address")
        self._drive_read(edge + 1)
        self.bvalid = int(bool(self.responses) and self.responses[0] <= edge + 1)

    def _commit(self, edge: int, burst: _Burst, data: int, strobe: int, last: int) -> None:
        final = burst.done + 1 == burst.beats
        if bool(last) != final:
            raise MemoryModelError(f"memory model: edge {edge}: WLAST={last} on beat "
                                   f"{burst.done + 1} of a {burst.beats}-beat write burst at "
                                   f"{burst.addr:#x}")
        base = burst.addr + burst.done * self.bus_bytes
        for lane in range(self.bus_bytes):
            if strobe >> lane & 1:
                self.dram[base + lane] = data >> (8 * lane) & 0xFF
        burst.done += 1

    def _drive_read(self, next_edge: int) -> None:
        if self.reads and self.reads[0].ready_at <= next_edge:
            head = self.reads[0]
            start = head.addr + head.done * self.bus_bytes
            self.rvalid = 1
            self.rdata = int.from_bytes(self.dram[start:start + self.bus_bytes], "little")
            self.rlast = int(head.done + 1 == head.beats)
        else:
            self.rvalid = self.rlast = 0

    @property
    def idle(self) -> bool:
        return not (self.reads or self.writes or self.wbuffer or self.responses)


@dataclass
class LiteSample:
    """The control slave's outputs as sampled just before one rising edge."""

    awready: int = 0
    wready: int = 0
    bvalid: int = 0
    arready: int = 0
    rvalid: int = 0
    rdata: int = 0


#: Registers read once the core is done, in this order.
REPORT_REGISTERS = (Register.CYCLES, Register.FETCH_BUSY, Register.LOAD_BUSY, Register.LOAD_STALL,
                    Register.COMPUTE_BUSY, Register.COMPUTE_STALL, Register.STORE_BUSY,
                    Register.STORE_STALL)


class ControlDriver:
    """The AXI4-Lite master a driver would be: write INSN_ADDR, INSN_COUNT and CONTROL=1, read
    STATUS until bit 0 is set, then read `REPORT_REGISTERS`. One transaction at a time.

    Outputs: ``awvalid, awaddr, wvalid, wdata, wstrb, bready, arvalid, araddr, rready``.
    """

    def __init__(self, insn_addr: int, insn_count: int):
        self.operations = [("write", Register.INSN_ADDR, insn_addr),
                           ("write", Register.INSN_COUNT, insn_count),
                           ("write", Register.CONTROL, CONTROL_START),
                           ("poll", Register.STATUS, 0)]
        self.operations += [("read", register, 0) for register in REPORT_REGISTERS]
        self.index = -1
        self.registers: dict[Register, int] = {}
        self.awvalid = self.awaddr = self.wvalid = self.wdata = self.wstrb = self.bready = 0
        self.arvalid = self.araddr = self.rready = 0
        self.started_at = 0       # edge of the CONTROL write's B handshake

    @property
    def finished(self) -> bool:
        return self.index >= len(self.operations)

    @property
    def polling(self) -> bool:
        return not self.finished and self.operations[self.index][0] == "poll"

    def _begin(self, index: int) -> None:
        self.index = index
        if self.finished:
            return
        kind, register, value = self.operations[index]
        if kind == "write":
            self.awvalid, self.awaddr, self.wvalid, self.wdata, self.wstrb = 1, register, 1, value, 0xF
        else:
            self.arvalid, self.araddr = 1, register

    def step(self, edge: int, s: LiteSample) -> None:
        """Apply the handshakes of `edge` and compute the outputs for edge ``edge + 1``."""
        if self.index < 0:
            self._begin(0)
            return
        kind, register, _ = self.operations[self.index]
        if kind == "write":
            if self.bready and s.bvalid:
                self.bready = 0
                if register == Register.CONTROL:
                    self.started_at = edge
                self._begin(self.index + 1)
                return
            if self.awvalid and s.awready:
                self.awvalid = 0
            if self.wvalid and s.wready:
                self.wvalid = 0
            self.bready = int(not self.awvalid and not self.wvalid)
            return
        if self.rready and s.rvalid:
            self.rready = 0
            if kind == "poll" and not s.rdata & STATUS_DONE:
                self._begin(self.index)
                return
            if kind == "read":
                self.registers[register] = s.rdata
            self._begin(self.index + 1)
            return
        if self.arvalid and s.arready:
            self.arvalid, self.rready = 0, 1
