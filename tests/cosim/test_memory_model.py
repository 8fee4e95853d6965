"""The memory model of docs/memory-model.md (its one implementation, memory_model.h, through its
binding), cycle by cycle, against hand-derived timings; and the host driver against a fake bus."""

import pytest

from vta.isa import DeadlockError
from vta.isa.registers import Register
from vta.runtime.backends.driver import CoreDriver
from vta.runtime.backends.rtl.memory_model import (AxiMemoryModel, AxiSample, MemoryBoundsError,
                                                   MemoryProtocolError)

BUS = 8


def memory(size=8192, read_latency=3, write_latency=2, stall_period=0):
    return AxiMemoryModel(bytearray(range(256)) * (size // 256), bus_bytes=BUS,
                          read_latency=read_latency, write_latency=write_latency,
                          max_burst_beats=16, burst_boundary_bytes=4096, stall_period=stall_period)


def ar(addr, beats, **extra):
    return AxiSample(arvalid=1, araddr=addr, arlen=beats - 1, arsize=3, arburst=1, **extra)


def aw(addr, beats, **extra):
    return AxiSample(awvalid=1, awaddr=addr, awlen=beats - 1, awsize=3, awburst=1, **extra)


def run_reads(model, requests, rready=lambda edge: 1, last_edge=40):
    """Step edges 1..last_edge; `requests` maps edge -> (addr, beats). Returns the edges at which
    beats were accepted, with their data and RLAST."""
    accepted = []
    for edge in range(1, last_edge + 1):
        sample = ar(*requests[edge]) if edge in requests else AxiSample()
        sample.rready = rready(edge)
        if model.rvalid and sample.rready:
            accepted.append((edge, model.rdata, model.rlast))
        model.step(edge, sample)
    return accepted


def word(addr):
    return int.from_bytes(bytes((addr + lane) % 256 for lane in range(BUS)), "little")


def test_first_read_beat_comes_read_latency_edges_after_the_address():
    beats = run_reads(memory(), {10: (0x40, 2)})
    assert beats == [(13, word(0x40), 0), (14, word(0x48), 1)]


def test_a_beat_is_held_while_rready_is_low():
    beats = run_reads(memory(), {10: (0x40, 2)}, rready=lambda edge: edge not in (13, 14))
    assert [edge for edge, _, _ in beats] == [15, 16]
    assert beats[0][1] == word(0x40)


def test_bursts_are_served_in_order_back_to_back():
    beats = run_reads(memory(), {10: (0x100, 2), 11: (0x200, 2), 30: (0x80, 1)})
    assert beats == [(13, word(0x100), 0), (14, word(0x108), 1), (15, word(0x200), 0),
                     (16, word(0x208), 1), (33, word(0x80), 1)]


def test_a_later_burst_waits_for_its_own_latency():
    beats = run_reads(memory(read_latency=5), {10: (0x100, 1), 12: (0x200, 1)})
    assert [edge for edge, _, _ in beats] == [15, 17]


def run_writes(model, samples, bready=lambda edge: 1, last_edge=30):
    """Step edges 1..last_edge with `samples` (edge -> AxiSample); edges of B handshakes."""
    responses = []
    for edge in range(1, last_edge + 1):
        sample = samples.get(edge, AxiSample())
        sample.bready = bready(edge)
        if model.bvalid and sample.bready:
            responses.append(edge)
        model.step(edge, sample)
    return responses


def w(data, last, strobe=0xFF, sample=None):
    sample = sample or AxiSample()
    sample.wvalid, sample.wstrb, sample.wlast = 1, strobe, last
    sample.set_wdata(data, BUS)
    return sample


def test_write_response_comes_write_latency_after_the_last_beat():
    model = memory()
    samples = {10: w(0x1111111111111111, 0, sample=aw(0x80, 2)), 11: w(0x2222222222222222, 1)}
    assert run_writes(model, samples) == [13]
    assert model.dram[0x80:0x90] == bytes([0x11] * 8 + [0x22] * 8)


def test_write_data_is_committed_when_the_beat_is_accepted():
    model = memory()
    model.step(10, w(0x0102030405060708, 0, sample=aw(0x80, 2)))
    assert model.dram[0x80:0x88] == bytes([8, 7, 6, 5, 4, 3, 2, 1])


def test_write_beats_before_their_address_wait_for_it():
    model = memory()
    samples = {5: w(0xAA, 0, strobe=0x01), 6: w(0xBB00, 1, strobe=0x02), 8: aw(0x100, 2)}
    assert run_writes(model, samples) == [10]
    assert model.dram[0x100] == 0xAA and model.dram[0x109] == 0xBB
    assert model.dram[0x101] == 0x01 and model.dram[0x108] == 0x08   # strobed-off lanes kept


def test_response_waits_for_the_later_of_address_and_data_and_is_held():
    model = memory(write_latency=4)
    samples = {3: aw(0x100, 1), 9: w(7, 1)}
    assert run_writes(model, samples, bready=lambda edge: edge != 13) == [14]


def test_responses_are_in_order_one_per_cycle():
    model = memory(write_latency=2)
    samples = {3: w(1, 1, sample=aw(0x100, 1)), 4: w(2, 1, sample=aw(0x200, 1))}
    assert run_writes(model, samples) == [5, 6]


def test_read_data_reflects_the_writes_accepted_at_the_previous_edge():
    model = memory(read_latency=1)
    model.step(10, ar(0x40, 1))
    assert model.rvalid and model.rdata == word(0x40)
    model.step(11, w(0xFFFFFFFFFFFFFFFF, 1, sample=aw(0x40, 1)))     # RREADY low: beat held
    assert model.rvalid and model.rdata == 0xFFFFFFFFFFFFFFFF


def test_back_pressure_withholds_ready_and_read_data_every_period():
    beats = run_reads(memory(stall_period=4), {10: (0x40, 4)})
    assert [edge for edge, _, _ in beats] == [14, 15, 16, 18]   # nothing valid at edge 17


@pytest.mark.parametrize("sample, error, message", [
    (ar(0x2000, 1), MemoryBoundsError, "outside the DRAM image"),
    (ar(0x44, 1), MemoryProtocolError, "not aligned"),
    (ar(0x40, 17), MemoryProtocolError, "unsupported burst"),
    (AxiSample(arvalid=1, araddr=0x40, arlen=0, arsize=2, arburst=1), MemoryProtocolError,
     "unsupported burst"),
    (AxiSample(arvalid=1, araddr=0x40, arlen=0, arsize=3, arburst=2), MemoryProtocolError,
     "unsupported burst"),
    (aw(0x1000 - 8, 2), MemoryProtocolError, "crosses a 4096-byte boundary"),
    (w(0, 1, sample=aw(0x40, 2)), MemoryProtocolError, "WLAST=1 on beat 1 of a 2-beat write burst"),
])
def test_contract_violations_are_reported_by_kind(sample, error, message):
    with pytest.raises(error, match=message):
        memory().step(7, sample)


class FakeBus:
    """A control slave behind an `MmioBus` that is done after `busy` STATUS polls."""

    def __init__(self, busy):
        self.busy, self.writes, self.waits = busy, [], []

    def read(self, offset):
        if offset == Register.STATUS:
            self.busy -= 1
            return int(self.busy < 0)
        return {Register.CYCLES: 1234, Register.COMPUTE_BUSY: 77}.get(offset, 0)

    def write(self, offset, value):
        self.writes.append((offset, value))

    def wait(self, microseconds):
        self.waits.append(microseconds)


def test_driver_starts_the_core_polls_with_growing_waits_and_reads_the_counters():
    bus = FakeBus(busy=4)
    result = CoreDriver(bus).run(0x400, 9, watchdog_us=1000)
    assert bus.writes == [(Register.INSN_ADDR, 0x400), (Register.INSN_COUNT, 9),
                          (Register.CONTROL, 1)]
    assert bus.waits == [1.0, 2.0, 4.0]           # the start's STATUS read, then three polls
    assert result.cycles == 1234 and result.modules["compute"]["busy"] == 77


def test_driver_watchdog_is_a_deadlock():
    with pytest.raises(DeadlockError, match="not done after"):
        CoreDriver(FakeBus(busy=10**9)).run(0, 1, watchdog_us=100)
