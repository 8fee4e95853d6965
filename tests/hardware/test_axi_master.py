"""AXI master: bursts (≤ 16 beats, no 4 KiB crossing), read arbitration and routing between
clients, back-pressure from clients and memory, read latency, writes and `idle`."""

import random

import numpy as np
import pytest
from amaranth.sim import Simulator
from vta.runtime.backends.rtl.amaranth_simulation import AxiMemory

from vta.hardware.axi_master import AxiMaster
from vta.isa import Config

CONFIG = Config.preset("pynq")
BUS = CONFIG.bus_bytes
DRAM_BYTES = 1 << 16


def commands(rng, count, base):
    """Random (addr, words) transfers in the 32 KiB from `base`, many of them straddling
    4 KiB boundaries."""
    result = []
    for _ in range(count):
        words = rng.choice([1, 2, 15, 16, 17, 33, rng.randrange(1, 80)])
        if rng.random() < 0.5:
            addr = base + rng.randrange(1, 8) * 4096 - rng.randrange(1, 20) * BUS
        else:
            addr = base + rng.randrange(0, 32768 // BUS - 100) * BUS
        result.append((addr, words))
    return result


def words_of(dram, addr, words):
    return [int.from_bytes(dram[addr + i * BUS: addr + (i + 1) * BUS].tobytes(), "little")
            for i in range(words)]


@pytest.mark.parametrize("latency,stalls", [(1, False), (32, False), (5, True)],
                         ids=["latency1", "latency32", "stalls"])
def test_reads_and_writes(latency, stalls):
    rng = random.Random(latency)
    dut = AxiMaster(config=CONFIG, read_clients=("a", "b"))
    dram = np.random.default_rng(latency).integers(0, 256, DRAM_BYTES, dtype=np.uint8)
    initial = dram.copy()
    model = AxiMemory(dut.axi, dram,
                      config=CONFIG.replace(MEM_READ_LATENCY=latency, MEM_WRITE_LATENCY=latency),
                      stall_period=4 if stalls else 0)
    reads = {"a": commands(rng, 12, 0), "b": commands(rng, 12, 0)}
    received = {"a": [], "b": []}
    writes = [(addr, words, [rng.getrandbits(64) for _ in range(words)])
              for addr, words in commands(rng, 8, 32768)]
    done = {}

    def reader(name):
        client = getattr(dut, f"rd_{name}")

        async def send(ctx):
            for addr, words in reads[name]:
                ctx.set(client.cmd.payload, {"addr": addr, "words": words})
                ctx.set(client.cmd.valid, 1)
                await ctx.tick().until(client.cmd.ready)
            ctx.set(client.cmd.valid, 0)

        async def receive(ctx):
            total = sum(words for _, words in reads[name])
            while len(received[name]) < total:
                ready = rng.random() < 0.7
                ctx.set(client.data.ready, ready)
                _, _, valid, payload = await ctx.tick().sample(client.data.valid,
                                                                client.data.payload)
                if valid and ready:
                    received[name].append(payload)
            ctx.set(client.data.ready, 0)
        return send, receive

    async def writer(ctx):
        for addr, words, data in writes:
            ctx.set(dut.wr.cmd.payload, {"addr": addr, "words": words})
            ctx.set(dut.wr.cmd.valid, 1)
            await ctx.tick().until(dut.wr.cmd.ready)
            ctx.set(dut.wr.cmd.valid, 0)
            for word in data:
                ctx.set(dut.wr.data.payload, word)
                ctx.set(dut.wr.data.valid, 1)
                await ctx.tick().until(dut.wr.data.ready)
            ctx.set(dut.wr.data.valid, 0)
        await ctx.tick().until(dut.wr.idle)
        done["write"] = model.cycle

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(model.run, background=True)
    for name in reads:
        for process in reader(name):
            sim.add_testbench(process)
    sim.add_testbench(writer)
    sim.run()

    for name, transfers in reads.items():
        expected = [word for addr, words in transfers for word in words_of(initial, addr, words)]
        assert received[name] == expected, name
    expected_dram = initial.copy()
    for addr, words, data in writes:
        for index, word in enumerate(data):
            start = addr + index * BUS
            expected_dram[start:start + BUS] = np.frombuffer(word.to_bytes(BUS, "little"), np.uint8)
    np.testing.assert_array_equal(dram, expected_dram)
    assert {kind for kind, _, _ in model.bursts} == {"read", "write"}
    assert sum(beats for kind, _, beats in model.bursts if kind == "write") == \
        sum(words for _, words, _ in writes)


def test_read_bursts_overlap_latency():
    """With several bursts in flight, a long read streams one word per cycle after the
    latency: 256 words at latency 32 take well under 2 × (32 + 16) cycles per burst."""
    dut = AxiMaster(config=CONFIG, read_clients=("a",))
    dram = np.arange(DRAM_BYTES, dtype=np.uint32).astype(np.uint8)
    model = AxiMemory(dut.axi, dram, config=CONFIG.replace(MEM_READ_LATENCY=32))
    cycles = {}

    async def testbench(ctx):
        ctx.set(dut.rd_a.cmd.payload, {"addr": 0, "words": 256})
        ctx.set(dut.rd_a.cmd.valid, 1)
        await ctx.tick().until(dut.rd_a.cmd.ready)
        ctx.set(dut.rd_a.cmd.valid, 0)
        ctx.set(dut.rd_a.data.ready, 1)
        start = model.cycle
        for _ in range(256):
            await ctx.tick().until(dut.rd_a.data.valid)
        cycles["read"] = model.cycle - start

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(model.run, background=True)
    sim.add_testbench(testbench)
    sim.run()
    assert cycles["read"] <= 256 + 32 + 8
