"""cocotb testbench: ``vta_core`` as a board, driven register by register from another process.

`cosim_binding.CosimSession` starts it with ``VTA_BOARD_SESSION`` naming a folder that holds
``session.json`` (bus width, memory latencies, the Unix socket to connect to) and ``dram.bin``,
the board's DRAM: a file both processes map, so the host's buffer writes are what the core
reads. Requests arrive one line at a time and are answered one line at a time:

``W offset value`` -> ``OK``     one AXI4-Lite write of the control slave
``R offset``       -> ``V value`` one AXI4-Lite read
``P cycles``       -> ``OK``     let the clock run (the driver waiting between polls)
``Q``                            end the simulation

An error (the core broke the AXI contract, addressed outside DRAM, or the control slave did not
answer) is answered ``E message`` and ends the simulation. The clock only runs while a request
is being served: the host is infinitely fast, as far as the core can tell. The per-cycle
protocol and the memory model are the rtl backend's (docs/cosim.md, docs/memory-model.md).
"""

from __future__ import annotations

import json
import mmap
import os
import socket
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge

from vta.runtime.backends.rtl.memory_model import (RESET_EDGES, AxiMemoryModel, AxiSample,
                                                   LiteSample, MemoryModelError)
from vta.runtime.backends.rtl.testbench import initialise, Outputs, sample_axi, sample_lite

#: A control-register access that takes longer than this many cycles is an error.
TRANSACTION_CYCLES = 1000


class MmioMaster:
    """An AXI4-Lite master doing one transaction at a time, on request.

    Outputs: ``awvalid, awaddr, wvalid, wdata, wstrb, bready, arvalid, araddr, rready``.
    """

    def __init__(self):
        self.awvalid = self.awaddr = self.wvalid = self.wdata = self.wstrb = self.bready = 0
        self.arvalid = self.araddr = self.rready = 0
        self.kind: str | None = None
        self.result: int | None = None

    @property
    def idle(self) -> bool:
        return self.kind is None

    def write(self, offset: int, value: int) -> None:
        self.kind = "write"
        self.awvalid, self.awaddr, self.wvalid, self.wdata, self.wstrb = 1, offset, 1, value, 0xF

    def read(self, offset: int) -> None:
        self.kind = "read"
        self.arvalid, self.araddr = 1, offset

    def step(self, s: LiteSample) -> None:
        """Apply the handshakes of this edge and compute the outputs for the next one."""
        if self.kind == "write":
            if self.bready and s.bvalid:
                self.bready, self.kind = 0, None
                return
            if self.awvalid and s.awready:
                self.awvalid = 0
            if self.wvalid and s.wready:
                self.wvalid = 0
            self.bready = int(not self.awvalid and not self.wvalid)
        elif self.kind == "read":
            if self.rready and s.rvalid:
                self.rready, self.kind, self.result = 0, None, s.rdata
                return
            if self.arvalid and s.arready:
                self.arvalid, self.rready = 0, 1


class HostLink:
    """The line protocol over the session's Unix socket."""

    def __init__(self, path: str):
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.socket.connect(path)
        self.reader = self.socket.makefile("r")

    def receive(self) -> list[str]:
        line = self.reader.readline()
        return line.split() if line else ["Q"]

    def send(self, line: str) -> None:
        self.socket.sendall((" ".join(line.split()) + "\n").encode())


@cocotb.test()
async def serve_host(dut):
    """Serve the host's register accesses and waits until it says Q (or an error)."""
    folder = Path(os.environ["VTA_BOARD_SESSION"])
    session = json.loads((folder / "session.json").read_text())
    with open(folder / "dram.bin", "r+b") as file:
        dram = mmap.mmap(file.fileno(), 0)
    memory = AxiMemoryModel(dram, session["bus_bytes"], session["read_latency"],
                            session["write_latency"])
    master = MmioMaster()
    link = HostLink(session["socket"])
    initialise(dut)
    Clock(dut.clk, 10, unit="ns").start(start_high=False)
    outputs = Outputs(dut, memory, master)
    axi, lite = AxiSample(), LiteSample()
    edge, pause, busy_since, reply = 0, 0, 0, None
    while True:
        edge += 1
        await FallingEdge(dut.clk)
        if edge > RESET_EDGES:
            sample_axi(dut, memory, axi)
            sample_lite(dut, master, lite)
            try:
                memory.step(edge, axi)
            except MemoryModelError as error:
                link.send(f"E {error}")
                break
            was_busy = not master.idle
            master.step(lite)
            if was_busy and master.idle:
                reply = "OK" if master.result is None else f"V {master.result}"
            elif not master.idle and edge - busy_since > TRANSACTION_CYCLES:
                link.send(f"E control slave did not answer a {master.kind} within "
                          f"{TRANSACTION_CYCLES} cycles")
                break
            pause = max(pause - 1, 0)
            if master.idle and pause == 0:
                if reply is not None:
                    link.send(reply)
                request = link.receive()
                if request[0] == "Q":
                    break
                master.result, busy_since, reply = None, edge, None
                if request[0] == "W":
                    master.write(int(request[1]), int(request[2]))
                elif request[0] == "R":
                    master.read(int(request[1]))
                else:
                    pause, reply = int(request[1]), "OK"
        await RisingEdge(dut.clk)
        if edge == RESET_EDGES:
            dut.rst.value = 0
        outputs.drive()
    dram.flush()
    dram.close()
