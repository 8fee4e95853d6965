"""cocotb testbench: ``vta_core`` with the memory model, serving the bus protocol of
`vta.runtime.backends.rtl.session` over a Unix socket — the cocotb counterpart of the fast
harness (harness.cpp), request for request.

`session.CocotbSession` starts it with ``VTA_SESSION_DIR`` naming a folder that holds
``session.json`` (memory parameters, the socket path) and ``dram.bin``, the DRAM both processes
map. The per-cycle protocol is the one of docs/memory-model.md: sample the core's outputs at the
falling edge, step the memory model and the AXI4-Lite master, drive their new outputs right
after the rising edge. The clock runs only while a request is served.
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
                                                   MemoryBoundsError, MemoryProtocolError)

#: A control-register access that takes longer than this many cycles is an error.
TRANSACTION_CYCLES = 1000
LITE_OUTPUTS = ("awvalid", "awaddr", "wvalid", "wdata", "wstrb", "bready", "arvalid", "araddr",
                "rready")


class LiteMaster:
    """An AXI4-Lite master doing one transaction at a time, on request."""

    def __init__(self):
        self.awvalid = self.awaddr = self.wvalid = self.wdata = self.wstrb = self.bready = 0
        self.arvalid = self.araddr = self.rready = 0
        self.kind: str | None = None
        self.result: int | None = None

    def write(self, offset: int, value: int) -> None:
        self.kind, self.result = "write", None
        self.awvalid, self.awaddr, self.wvalid, self.wdata, self.wstrb = 1, offset, 1, value, 0xF

    def read(self, offset: int) -> None:
        self.kind, self.result = "read", None
        self.arvalid, self.araddr = 1, offset

    def step(self, dut) -> None:
        """Apply the handshakes of this edge (the slave's outputs are settled) and compute the
        outputs for the next one."""
        if self.kind == "write":
            if self.bready and dut.s_axi_control_bvalid.value:
                self.bready, self.kind = 0, None
                return
            if self.awvalid and dut.s_axi_control_awready.value:
                self.awvalid = 0
            if self.wvalid and dut.s_axi_control_wready.value:
                self.wvalid = 0
            self.bready = int(not self.awvalid and not self.wvalid)
        elif self.kind == "read":
            if self.rready and dut.s_axi_control_rvalid.value:
                self.rready, self.kind = 0, None
                self.result = int(dut.s_axi_control_rdata.value)
                return
            if self.arvalid and dut.s_axi_control_arready.value:
                self.arvalid, self.rready = 0, 1


def sample_axi(dut, memory: AxiMemoryModel, s: AxiSample) -> None:
    s.arvalid = int(dut.m_axi_arvalid.value)
    if s.arvalid:
        s.araddr, s.arlen = int(dut.m_axi_araddr.value), int(dut.m_axi_arlen.value)
        s.arsize, s.arburst = int(dut.m_axi_arsize.value), int(dut.m_axi_arburst.value)
    s.rready = int(dut.m_axi_rready.value) if memory.outputs.rvalid else 0
    s.awvalid = int(dut.m_axi_awvalid.value)
    if s.awvalid:
        s.awaddr, s.awlen = int(dut.m_axi_awaddr.value), int(dut.m_axi_awlen.value)
        s.awsize, s.awburst = int(dut.m_axi_awsize.value), int(dut.m_axi_awburst.value)
    s.wvalid = int(dut.m_axi_wvalid.value)
    if s.wvalid:
        s.set_wdata(int(dut.m_axi_wdata.value), memory.bus_bytes)
        s.wstrb, s.wlast = int(dut.m_axi_wstrb.value), int(dut.m_axi_wlast.value)
    s.bready = int(dut.m_axi_bready.value) if memory.outputs.bvalid else 0


class Outputs:
    """Drives the testbench's outputs, writing only the signals whose value changed."""

    def __init__(self, dut, memory: AxiMemoryModel, master: LiteMaster):
        self.dut, self.memory, self.master = dut, memory, master
        self.last: dict[str, int] = {}

    def _set(self, name: str, value: int) -> None:
        if self.last.get(name) != value:
            getattr(self.dut, name).value = value
            self.last[name] = value

    def drive(self) -> None:
        out = self.memory.outputs
        for name in ("arready", "awready", "wready", "rvalid", "rlast", "bvalid"):
            self._set(f"m_axi_{name}", getattr(out, name))
        if out.rvalid:
            self._set("m_axi_rdata", self.memory.rdata)
        for name in LITE_OUTPUTS:
            self._set(f"s_axi_control_{name}", getattr(self.master, name))


def initialise(dut) -> None:
    """Every input of the core gets a value before the clock starts."""
    dut.rst.value = 1
    for name in ("arready", "awready", "wready"):
        getattr(dut, f"m_axi_{name}").value = 1
    for name in ("rvalid", "rdata", "rlast", "rresp", "bvalid", "bresp"):
        getattr(dut, f"m_axi_{name}").value = 0
    for name in LITE_OUTPUTS:
        getattr(dut, f"s_axi_control_{name}").value = 0


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
        self.socket.sendall((line.replace("\n", " ") + "\n").encode())


@cocotb.test()
async def serve_host(dut):
    """Serve the host's requests until it says Q, or a failure."""
    folder = Path(os.environ["VTA_SESSION_DIR"])
    session = json.loads((folder / "session.json").read_text())
    with open(folder / "dram.bin", "r+b") as file:
        dram = mmap.mmap(file.fileno(), 0)
    memory = AxiMemoryModel(dram, **session["memory"])
    master = LiteMaster()
    link = HostLink(session["socket"])
    initialise(dut)
    Clock(dut.clk, 10, unit="ns").start(start_high=True)
    outputs = Outputs(dut, memory, master)
    sample = AxiSample()
    edge, pause, started, reply = 0, 0, 0, None
    while True:
        edge += 1
        await FallingEdge(dut.clk)
        if edge > RESET_EDGES:
            sample_axi(dut, memory, sample)
            try:
                memory.step(edge, sample)
            except (MemoryBoundsError, MemoryProtocolError) as error:
                kind = "bounds" if isinstance(error, MemoryBoundsError) else "protocol"
                link.send(f"E {kind} {error}")
                break
            busy = master.kind is not None
            master.step(dut)
            if busy and master.kind is None:
                reply = "OK" if master.result is None else f"V {master.result}"
            elif master.kind is not None and edge - started > TRANSACTION_CYCLES:
                link.send(f"E timeout control slave did not answer a {master.kind} within "
                          f"{TRANSACTION_CYCLES} cycles")
                break
            pause = max(pause - 1, 0)
            if master.kind is None and pause == 0:
                if reply is not None:
                    link.send(reply)
                request = link.receive()
                if request[0] == "Q":
                    break
                started, reply = edge, None
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
