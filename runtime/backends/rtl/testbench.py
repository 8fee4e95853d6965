"""cocotb testbench: run one program image on ``vta_core`` (the `cocotb` harness).

The runner starts it with ``VTA_RTL_RUN_DIR`` naming a run folder that holds ``dram.bin`` and
``run.json`` (`vta.runtime.backends.rtl.rundir`); it leaves ``dram_out.bin`` and
``result.json`` there. The per-cycle protocol is the one of docs/cosim.md: sample the core's
outputs at the falling edge (everything has settled), step the memory model and the driver,
and drive their new outputs right after the rising edge.
"""

from __future__ import annotations

import os
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge

from vta.runtime.backends.rtl import rundir
from vta.runtime.backends.rtl.memory_model import (RESET_EDGES, AxiMemoryModel, AxiSample,
                                                   ControlDriver, LiteSample, MemoryModelError)


def sample_axi(dut, memory: AxiMemoryModel, s: AxiSample) -> None:
    s.arvalid = int(dut.m_axi_arvalid.value)
    if s.arvalid:
        s.araddr, s.arlen = int(dut.m_axi_araddr.value), int(dut.m_axi_arlen.value)
        s.arsize, s.arburst = int(dut.m_axi_arsize.value), int(dut.m_axi_arburst.value)
    s.rready = int(dut.m_axi_rready.value) if memory.rvalid else 0
    s.awvalid = int(dut.m_axi_awvalid.value)
    if s.awvalid:
        s.awaddr, s.awlen = int(dut.m_axi_awaddr.value), int(dut.m_axi_awlen.value)
        s.awsize, s.awburst = int(dut.m_axi_awsize.value), int(dut.m_axi_awburst.value)
    s.wvalid = int(dut.m_axi_wvalid.value)
    if s.wvalid:
        s.wdata, s.wstrb = int(dut.m_axi_wdata.value), int(dut.m_axi_wstrb.value)
        s.wlast = int(dut.m_axi_wlast.value)
    s.bready = int(dut.m_axi_bready.value) if memory.bvalid else 0


def sample_lite(dut, driver: ControlDriver, s: LiteSample) -> None:
    s.awready = int(dut.s_axi_control_awready.value) if driver.awvalid else 0
    s.wready = int(dut.s_axi_control_wready.value) if driver.wvalid else 0
    s.bvalid = int(dut.s_axi_control_bvalid.value) if driver.bready else 0
    s.arready = int(dut.s_axi_control_arready.value) if driver.arvalid else 0
    s.rvalid = int(dut.s_axi_control_rvalid.value) if driver.rready else 0
    if s.rvalid:
        s.rdata = int(dut.s_axi_control_rdata.value)


class Outputs:
    """Drives the testbench's outputs, writing only the signals whose value changed."""

    def __init__(self, dut, memory: AxiMemoryModel, driver: ControlDriver):
        self.memory, self.driver = memory, driver
        memory_signals = {"rvalid": "m_axi_rvalid", "rdata": "m_axi_rdata", "rlast": "m_axi_rlast",
                          "bvalid": "m_axi_bvalid"}
        lite_signals = {name: f"s_axi_control_{name}" for name in
                        ("awvalid", "awaddr", "wvalid", "wdata", "wstrb", "bready", "arvalid",
                         "araddr", "rready")}
        self.handles = ([(memory, name, getattr(dut, signal)) for name, signal in memory_signals.items()]
                        + [(driver, name, getattr(dut, signal)) for name, signal in lite_signals.items()])
        self.last = [None] * len(self.handles)

    def drive(self) -> None:
        for index, (source, name, handle) in enumerate(self.handles):
            value = getattr(source, name)
            if value != self.last[index]:
                handle.value = value
                self.last[index] = value


def initialise(dut) -> None:
    """Every input of the core gets a value before the clock starts."""
    dut.rst.value = 1
    for name in ("arready", "awready", "wready"):
        getattr(dut, f"m_axi_{name}").value = 1
    for name in ("rvalid", "rdata", "rlast", "rresp", "bvalid", "bresp"):
        getattr(dut, f"m_axi_{name}").value = 0
    for name in ("awvalid", "awaddr", "wvalid", "wdata", "wstrb", "bready", "arvalid", "araddr",
                 "rready"):
        getattr(dut, f"s_axi_control_{name}").value = 0


@cocotb.test()
async def run_program_image(dut):
    """Run the image of the run folder to completion, the watchdog or a memory-model error."""
    folder = Path(os.environ["VTA_RTL_RUN_DIR"])
    run = rundir.read_request(folder)
    dram = bytearray(rundir.read_dram(folder))
    memory = AxiMemoryModel(dram, run["bus_bytes"], run["read_latency"], run["write_latency"])
    driver = ControlDriver(run["insn_addr"], run["insn_count"])
    deadline = RESET_EDGES + run["max_cycles"]
    initialise(dut)
    Clock(dut.clk, 10, unit="ns").start(start_high=True)
    outputs = Outputs(dut, memory, driver)
    axi, lite = AxiSample(), LiteSample()
    status, message, edge = "ok", "", 0
    while not driver.finished:
        edge += 1
        await FallingEdge(dut.clk)
        if edge > RESET_EDGES:
            if driver.polling and edge > deadline:
                status, message = "deadlock", f"watchdog: the core was not done after {run['max_cycles']} cycles"
                break
            sample_axi(dut, memory, axi)
            sample_lite(dut, driver, lite)
            try:
                memory.step(edge, axi)
            except MemoryModelError as error:
                status, message = "error", str(error)
                break
            driver.step(edge, lite)
        await RisingEdge(dut.clk)
        if edge == RESET_EDGES:
            dut.rst.value = 0
        outputs.drive()
    rundir.write_result(folder, dram, status=status, message=message, edges=edge,
                        started_at=driver.started_at, registers=driver.registers)
