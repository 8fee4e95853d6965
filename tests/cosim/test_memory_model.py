"""The memory model of docs/memory-model.md, cycle by cycle, against hand-derived timings."""

import pytest

from vta.isa.registers import Register
from vta.runtime.backends.rtl.memory_model import (AxiMemoryModel, AxiSample, ControlDriver,
                                                   LiteSample, MemoryModelError)

BUS = 8


def memory(size=8192, read_latency=3, write_latency=2):
    return AxiMemoryModel(bytearray(range(256)) * (size // 256), BUS, read_latency, write_latency)


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
    sample.wvalid, sample.wdata, sample.wstrb, sample.wlast = 1, data, strobe, last
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


@pytest.mark.parametrize("sample, message", [
    (ar(0x2000, 1), "outside the DRAM image"),
    (ar(0x44, 1), "not aligned"),
    (ar(0x40, 17), "unsupported burst"),
    (AxiSample(arvalid=1, araddr=0x40, arlen=0, arsize=2, arburst=1), "unsupported burst"),
    (AxiSample(arvalid=1, araddr=0x40, arlen=0, arsize=3, arburst=2), "unsupported burst"),
    (aw(0x1000 - 8, 2), "crosses a 4096-byte boundary"),
    (w(0, 1, sample=aw(0x40, 2)), "WLAST=1 on beat 1 of a 2-beat write burst"),
])
def test_contract_violations_are_reported(sample, message):
    with pytest.raises(MemoryModelError, match=message):
        memory().step(7, sample)


class FakeControlSlave:
    """A control slave that answers every request on the next edge; done after `busy` polls."""

    def __init__(self, busy):
        self.registers, self.busy, self.writes = {Register.CYCLES: 1234}, busy, []
        self.bvalid = self.rvalid = 0
        self.rdata = 0

    def step(self, driver):
        sample = LiteSample(awready=1, wready=1, bvalid=self.bvalid, arready=1,
                            rvalid=self.rvalid, rdata=self.rdata)
        if self.bvalid and driver.bready:
            self.bvalid = 0
        if driver.awvalid and driver.wvalid:
            self.writes.append((driver.awaddr, driver.wdata))
            self.bvalid = 1
        if self.rvalid and driver.rready:
            self.rvalid = 0
        if driver.arvalid:
            if driver.araddr == Register.STATUS:
                self.busy -= 1
                self.rdata = int(self.busy < 0)
            else:
                self.rdata = self.registers.get(Register(driver.araddr), 0)
            self.rvalid = 1
        return sample


def test_driver_starts_the_core_polls_and_reads_the_counters():
    driver, slave = ControlDriver(insn_addr=0x400, insn_count=9), FakeControlSlave(busy=3)
    edge = 0
    while not driver.finished and edge < 200:
        edge += 1
        driver.step(edge, slave.step(driver))
    assert driver.finished
    assert slave.writes == [(Register.INSN_ADDR, 0x400), (Register.INSN_COUNT, 9),
                            (Register.CONTROL, 1)]
    assert slave.busy == -1                                  # four STATUS reads, the last done
    assert driver.registers[Register.CYCLES] == 1234
    assert driver.started_at > 0
