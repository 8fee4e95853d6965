"""Amaranth (pysim) simulation of the core: an AXI4 memory model with the project's memory
timing (fixed read and write latency, pipelined bursts, optional back-pressure), an AXI4-Lite
host, and `run_core`, which runs a program image through the core's real ports."""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from vta.isa import DeadlockError
from vta.isa.registers import CONTROL_START, STATUS_DONE, Register


class AxiProtocolError(Exception):
    """The core broke an AXI rule it promises (burst type, size, length, 4 KiB, alignment)."""


def _require(condition: bool, message: str):
    if not condition:
        raise AxiProtocolError(message)


class AxiMemory:
    """AXI4 slave over a numpy byte array, as a background testbench.

    Read bursts return their first beat `read_latency` cycles after the address handshake, then
    one beat per cycle (bursts are pipelined). Writes are accepted once their address is, and
    answered `write_latency` cycles after the last beat. `stall(cycle)` (optional) returns True
    on cycles where the memory withholds ready/valid, to exercise back-pressure. Every burst is
    checked against the AXI rules the core promises (INCR, ≤ 16 beats, no 4 KiB crossing);
    a violation raises `AxiProtocolError`.
    """

    def __init__(self, axi, dram: np.ndarray, bus_bytes: int, read_latency: int = 32,
                 write_latency: int = 16, stall=None):
        self.axi, self.dram, self.bus_bytes = axi, dram, bus_bytes
        self.read_latency, self.write_latency = read_latency, write_latency
        self.stall = stall or (lambda cycle: False)
        self.cycle = 0
        self.bursts = []

    def _check_burst(self, addr: int, length: int, size: int, burst: int, kind: str):
        beats = length + 1
        _require(burst == 1, f"{kind} burst type {burst} is not INCR")
        _require(1 << size == self.bus_bytes, f"{kind} size {size} is not the bus width")
        _require(beats <= 16, f"{kind} burst of {beats} beats")
        _require(addr % self.bus_bytes == 0, f"{kind} address {addr:#x} unaligned")
        _require(addr // 4096 == (addr + beats * self.bus_bytes - 1) // 4096,
                 f"{kind} burst at {addr:#x} of {beats} beats crosses 4 KiB")
        end = addr + beats * self.bus_bytes
        _require(end <= self.dram.size, f"{kind} burst [{addr:#x}, {end:#x}) outside DRAM")
        self.bursts.append((kind, addr, beats))

    async def run(self, ctx):
        axi, bus = self.axi, self.bus_bytes
        reads, read_beat = [], 0          # [(ready_cycle, addr, beats)]
        writes, write_beat = [], 0        # [(addr, beats)]
        responses = []                    # ready cycles of B responses
        sampled = (axi.arvalid, axi.araddr, axi.arlen, axi.arsize, axi.arburst, axi.rready,
                   axi.awvalid, axi.awaddr, axi.awlen, axi.awsize, axi.awburst,
                   axi.wvalid, axi.wdata, axi.wstrb, axi.wlast, axi.bready)
        arready = awready = wready = rvalid = bvalid = 0
        while True:
            (arvalid, araddr, arlen, arsize, arburst, rready, awvalid, awaddr, awlen, awsize,
             awburst, wvalid, wdata, wstrb, wlast, bready) = (await ctx.tick().sample(*sampled))[-16:]
            self.cycle += 1
            if arvalid and arready:
                self._check_burst(araddr, arlen, arsize, arburst, "read")
                reads.append((self.cycle + self.read_latency - 1, araddr, arlen + 1))
            if rvalid and rready:
                read_beat += 1
                if read_beat == reads[0][2]:
                    reads.pop(0)
                    read_beat = 0
            if awvalid and awready:
                self._check_burst(awaddr, awlen, awsize, awburst, "write")
                writes.append((awaddr, awlen + 1))
            if wvalid and wready:
                addr, beats = writes[0]
                base = addr + write_beat * bus
                data = int(wdata).to_bytes(bus, "little")
                for byte in range(bus):
                    if wstrb >> byte & 1:
                        self.dram[base + byte] = data[byte]
                write_beat += 1
                _require(bool(wlast) == (write_beat == beats), "wlast on the wrong beat")
                if write_beat == beats:
                    writes.pop(0)
                    write_beat = 0
                    responses.append(self.cycle + self.write_latency - 1)
            if bvalid and bready:
                responses.pop(0)

            stalled = self.stall(self.cycle)
            arready = awready = int(not stalled)
            wready = int(bool(writes) and not stalled)
            rvalid = int(bool(reads) and reads[0][0] <= self.cycle and not stalled)
            bvalid = int(bool(responses) and responses[0] <= self.cycle)
            ctx.set(axi.arready, arready)
            ctx.set(axi.awready, awready)
            ctx.set(axi.wready, wready)
            ctx.set(axi.rvalid, rvalid)
            ctx.set(axi.bvalid, bvalid)
            if rvalid:
                addr = reads[0][1] + read_beat * bus
                ctx.set(axi.rdata, int.from_bytes(self.dram[addr:addr + bus].tobytes(), "little"))
                ctx.set(axi.rlast, int(read_beat == reads[0][2] - 1))


async def axil_write(ctx, axi, address: int, value: int):
    ctx.set(axi.awaddr, address)
    ctx.set(axi.wdata, value)
    ctx.set(axi.wstrb, 0xF)
    ctx.set(axi.awvalid, 1)
    ctx.set(axi.wvalid, 1)
    await ctx.tick().until(axi.awready)
    ctx.set(axi.awvalid, 0)
    ctx.set(axi.wvalid, 0)
    ctx.set(axi.bready, 1)
    await ctx.tick().until(axi.bvalid)
    ctx.set(axi.bready, 0)


async def axil_read(ctx, axi, address: int) -> int:
    ctx.set(axi.araddr, address)
    ctx.set(axi.arvalid, 1)
    await ctx.tick().until(axi.arready)
    ctx.set(axi.arvalid, 0)
    ctx.set(axi.rready, 1)
    value, = await ctx.tick().sample(axi.rdata).until(axi.rvalid)
    ctx.set(axi.rready, 0)
    return value


def run_core(core, dram: np.ndarray, insn_addr: int, insn_count: int, *, max_cycles: int,
             poll_interval: int = 64, stall=None) -> dict:
    """Runs a program on a `VtaCore` in pysim through its AXI ports, with the memory timing of
    its config; `dram` is updated in place. Returns the control registers by name (and the
    list of bursts under ``"bursts"``); raises DeadlockError after `max_cycles`."""
    config = core.config
    memory = AxiMemory(core.m_axi, dram, config.bus_bytes, read_latency=config.MEM_READ_LATENCY,
                       write_latency=config.MEM_WRITE_LATENCY, stall=stall)
    registers = {}

    async def host(ctx):
        ctl = core.s_axi_control
        await axil_write(ctx, ctl, Register.INSN_ADDR, insn_addr)
        await axil_write(ctx, ctl, Register.INSN_COUNT, insn_count)
        await axil_write(ctx, ctl, Register.CONTROL, CONTROL_START)
        while not await axil_read(ctx, ctl, Register.STATUS) & STATUS_DONE:
            if memory.cycle >= max_cycles:
                raise DeadlockError(f"no FINISH after {max_cycles} cycles (watchdog)")
            await ctx.tick().repeat(poll_interval)
        for register in Register:
            registers[register.name] = await axil_read(ctx, ctl, register)

    sim = Simulator(core)
    sim.add_clock(1e-8)
    sim.add_testbench(memory.run, background=True)
    sim.add_testbench(host)
    sim.run()
    registers["bursts"] = memory.bursts
    return registers
