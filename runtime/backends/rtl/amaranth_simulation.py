"""The core under Amaranth's own simulator (pysim), with the one memory model and the one host
driver: `AxiMemory` steps the memory model (`memory_model.AxiMemoryModel`) against an AXI4
interface as a background testbench; `AmaranthSimulation` is the `MmioBus` of a simulated
`VtaCore`, so `CoreDriver` runs programs on it as on the Verilog and on a board. Slow (a few
thousand cycles per second): for the hardware's unit tests and small programs.
"""

from __future__ import annotations

import math

import numpy as np
from amaranth.sim import Simulator

from vta.isa import Config
from vta.runtime.backends.driver import CoreDriver, RunResult
from vta.runtime.backends.rtl.memory_model import AxiMemoryModel, AxiSample, memory_parameters

SAMPLED = ("arvalid", "araddr", "arlen", "arsize", "arburst", "rready", "awvalid", "awaddr",
           "awlen", "awsize", "awburst", "wvalid", "wdata", "wstrb", "wlast", "bready")
DRIVEN = ("arready", "awready", "wready", "rvalid", "rlast", "bvalid")


class AxiMemory:
    """The memory model of `config` over `dram` behind the AXI4 slave port `axi`, as a
    background testbench (`run`); `stall_period` > 0 adds back-pressure (memory_model.h).
    `bursts` lists every accepted burst as ``(kind, address, beats)``; `cycle` counts edges."""

    def __init__(self, axi, dram: np.ndarray, *, config: Config, stall_period: int = 0):
        self.axi, self.bus_bytes = axi, config.bus_bytes
        self.model = AxiMemoryModel(dram, **memory_parameters(config), stall_period=stall_period)
        self.cycle = 0
        self.bursts: list[tuple[str, int, int]] = []

    async def run(self, ctx):
        axi, model, sample = self.axi, self.model, AxiSample()
        signals = [getattr(axi, name) for name in SAMPLED]
        for name in DRIVEN:
            ctx.set(getattr(axi, name), getattr(model.outputs, name))
        while True:
            values = dict(zip(SAMPLED, (await ctx.tick().sample(*signals))[-len(SAMPLED):]))
            self.cycle += 1
            out = model.outputs
            for name in SAMPLED:
                if name != "wdata":
                    setattr(sample, name, int(values[name]))
            sample.rready &= out.rvalid
            sample.bready &= out.bvalid
            sample.set_wdata(values["wdata"], self.bus_bytes)
            if sample.arvalid and out.arready:
                self.bursts.append(("read", sample.araddr, sample.arlen + 1))
            if sample.awvalid and out.awready:
                self.bursts.append(("write", sample.awaddr, sample.awlen + 1))
            model.step(self.cycle, sample)
            for name in DRIVEN:
                ctx.set(getattr(axi, name), getattr(out, name))
            if out.rvalid:
                ctx.set(axi.rdata, model.rdata)


async def axil_write(ctx, axi, address: int, value: int):
    """One AXI4-Lite write transaction from a testbench."""
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
    """One AXI4-Lite read transaction from a testbench."""
    ctx.set(axi.araddr, address)
    ctx.set(axi.arvalid, 1)
    await ctx.tick().until(axi.arready)
    ctx.set(axi.arvalid, 0)
    ctx.set(axi.rready, 1)
    value, = await ctx.tick().sample(axi.rdata).until(axi.rvalid)
    ctx.set(axi.rready, 0)
    return value


class AmaranthSimulation:
    """A `VtaCore` (`core`) in pysim with the memory model over `dram` (changed in place), as an
    `MmioBus`: each access runs the simulation until its transaction completes; a wait of t
    microseconds runs t × CLOCK_MHZ cycles. Time stands still between accesses."""

    def __init__(self, core, dram: np.ndarray, *, stall_period: int = 0):
        self.core, self.config = core, core.config
        self.memory = AxiMemory(core.m_axi, dram, config=core.config, stall_period=stall_period)
        self.simulator = Simulator(core)
        self.simulator.add_clock(1e-8)
        self.simulator.add_testbench(self.memory.run, background=True)
        self.simulator.add_testbench(self._host)
        self.request: tuple | None = None
        self.reply: int | None = None

    async def _host(self, ctx):
        control = self.core.s_axi_control
        while True:
            if self.request is None:
                await ctx.tick()
                continue
            kind, first, second = self.request
            self.reply = None
            if kind == "write":
                await axil_write(ctx, control, first, second)
            elif kind == "read":
                self.reply = await axil_read(ctx, control, first)
            else:
                await ctx.tick().repeat(first)
            self.request = None

    def _serve(self, request: tuple) -> int | None:
        self.request = request
        while self.request is not None:
            self.simulator.advance()
        return self.reply

    def read(self, offset: int) -> int:
        return int(self._serve(("read", int(offset), 0)))

    def write(self, offset: int, value: int) -> None:
        self._serve(("write", int(offset), int(value)))

    def wait(self, microseconds: float) -> None:
        self._serve(("wait", max(1, math.ceil(microseconds * self.config.CLOCK_MHZ)), 0))


def run_core(core, dram: np.ndarray, insn_addr: int, insn_count: int, *, max_cycles: int,
             stall_period: int = 0) -> tuple[RunResult, list]:
    """Run a program on a `VtaCore` in pysim through its AXI ports with the one host driver;
    `dram` is updated in place. The counters and the accepted bursts; DeadlockError after
    `max_cycles` cycles of waiting."""
    simulation = AmaranthSimulation(core, dram, stall_period=stall_period)
    result = CoreDriver(simulation).run(insn_addr, insn_count,
                                        watchdog_us=max_cycles / core.config.CLOCK_MHZ)
    return result, simulation.memory.bursts
