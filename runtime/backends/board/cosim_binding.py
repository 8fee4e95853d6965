"""The board interface bound to the RTL co-simulation of ``vta_core``.

A `CosimSession` runs the generated Verilog under cocotb (``cosim_testbench``) in a thread of
this process; the simulator process maps the session's DRAM file, as the core sees the board's
DRAM, and serves register accesses over a Unix socket. `CosimBus` is the session's `MmioBus`
(a wait of t microseconds runs t × CLOCK_MHZ clock cycles); `CosimMemory` allocates
page-aligned buffers from the mapped DRAM with the runtime's page allocator (page 0 is never
handed out, so programs really are relocated). The build of the simulator is the rtl
backend's cocotb build, shared through its cache.
"""

from __future__ import annotations

import json
import math
import socket
import tempfile
import threading
from pathlib import Path

import numpy as np

from vta.isa import BoundsError, Config, VtaError
from vta.runtime.memory import PAGE_BYTES, PageAllocator

TEST_MODULE = "vta.runtime.backends.board.cosim_testbench"
TOP = "vta_core"
#: Seconds to wait for the simulator to connect (it is started, not built, by then).
CONNECT_SECONDS = 120


class CosimSession:
    """One simulation of the core with `dram_bytes` of DRAM; use as a context manager."""

    def __init__(self, config: Config, dram_bytes: int, *, simulator: str = "verilator"):
        from vta.runtime.backends.rtl.harnesses import CocotbHarness
        from vta.runtime.backends.rtl.verilog import core_verilog

        self.config = config
        self.dram_bytes = -(-dram_bytes // PAGE_BYTES) * PAGE_BYTES
        # Icarus 11 needs plain Verilog-2005 (as for the rtl backend, docs/cosim.md).
        self.harness = CocotbHarness(core_verilog(config, sv=simulator != "icarus"), simulator)
        self.error: BaseException | None = None

    def __enter__(self) -> CosimSession:
        built = self.harness.build()
        self._folder = tempfile.TemporaryDirectory(prefix="vta-board-")
        folder = Path(self._folder.name)
        (folder / "dram.bin").write_bytes(bytes(self.dram_bytes))
        self.dram = np.memmap(folder / "dram.bin", dtype=np.uint8, mode="r+")
        socket_path = str(folder / "host.sock")
        (folder / "session.json").write_text(json.dumps({
            "bus_bytes": self.config.bus_bytes, "read_latency": self.config.MEM_READ_LATENCY,
            "write_latency": self.config.MEM_WRITE_LATENCY, "socket": socket_path}))
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(socket_path)
        listener.listen(1)
        self._thread = threading.Thread(target=self._simulate, args=(built, folder), daemon=True)
        self._thread.start()
        try:
            self.link = self._accept(listener)
        except BaseException:
            self._folder.cleanup()
            raise
        finally:
            listener.close()
        self.received = b""
        return self

    def _simulate(self, built: Path, folder: Path) -> None:
        from cocotb_tools.runner import get_runner

        from vta.runtime.backends.rtl.toolchain import tool_env

        try:
            get_runner(self.harness.simulator).test(
                test_module=TEST_MODULE, hdl_toplevel=TOP, hdl_toplevel_lang="verilog",
                build_dir=built / "sim",
                test_dir=folder, results_xml=str(folder / "results.xml"),
                log_file=folder / "sim.log", timescale=("1ns", "1ps"),
                extra_env={"VTA_BOARD_SESSION": str(folder), "PATH": tool_env()["PATH"]})
        except BaseException as error:  # SystemExit from a failed cocotb test included
            self.error = error

    def _accept(self, listener: socket.socket) -> socket.socket:
        listener.settimeout(1.0)
        for _ in range(CONNECT_SECONDS):
            try:
                connection, _ = listener.accept()
                connection.settimeout(1.0)
                return connection
            except TimeoutError:
                if not self._thread.is_alive():
                    raise VtaError(f"the co-simulation did not start: {self._log_tail()}") from None
        raise VtaError(f"the co-simulation did not connect within {CONNECT_SECONDS} s")

    def _log_tail(self) -> str:
        log = Path(self._folder.name) / "sim.log"
        lines = log.read_text(errors="replace").splitlines()[-5:] if log.exists() else []
        return " | ".join(line.strip() for line in lines) or f"{self.error!r}"

    def request(self, line: str) -> list[str]:
        """Send one request line; the reply's words. Errors of the simulation are raised."""
        self.link.sendall((line + "\n").encode())
        while b"\n" not in self.received:
            try:
                chunk = self.link.recv(4096)
            except TimeoutError:  # the simulation is still working: check it is alive
                if not self._thread.is_alive():
                    raise VtaError(f"the co-simulation stopped: {self._log_tail()}") from None
                continue
            if not chunk:
                raise VtaError(f"the co-simulation closed the connection: {self._log_tail()}")
            self.received += chunk
        reply, self.received = self.received.split(b"\n", 1)
        words = reply.decode().split(maxsplit=1)
        if words[0] == "E":
            message = words[1].strip()
            raise BoundsError(message) if "outside the DRAM image" in message else VtaError(message)
        return words

    def __exit__(self, *exc) -> None:
        try:
            self.link.sendall(b"Q\n")
        except OSError:
            pass
        self._thread.join()
        self.link.close()
        del self.dram
        self._folder.cleanup()


class CosimBus:
    """`MmioBus` of a co-simulated core."""

    def __init__(self, session: CosimSession):
        self.session = session

    def read(self, offset: int) -> int:
        return int(self.session.request(f"R {int(offset)}")[1])

    def write(self, offset: int, value: int) -> None:
        self.session.request(f"W {int(offset)} {int(value) & 0xFFFF_FFFF}")

    def wait(self, microseconds: float) -> None:
        self.session.request(f"P {math.ceil(microseconds * self.session.config.CLOCK_MHZ)}")


class CosimBuffer:
    """A buffer of the co-simulated DRAM. The simulator maps the same file, so the
    synchronisation calls have nothing to do (as on a cache-coherent port)."""

    def __init__(self, memory: CosimMemory, address: int, nbytes: int):
        self.memory, self.physical_address = memory, address
        self.array = memory.session.dram[address:address + nbytes]

    def sync_to_device(self) -> None:
        self.memory.session.dram.flush()

    def sync_from_device(self) -> None:
        pass

    def free(self) -> None:
        self.memory.allocator.free(self.physical_address)


class CosimMemory:
    """`BufferAllocator` over a co-simulated core's DRAM."""

    def __init__(self, session: CosimSession):
        self.session = session
        self.allocator = PageAllocator(session.dram_bytes)

    def allocate(self, nbytes: int) -> CosimBuffer:
        return CosimBuffer(self, self.allocator.alloc(nbytes), nbytes)
