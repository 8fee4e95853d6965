"""A running simulation of ``vta_core`` with its DRAM, driven through the bus protocol.

A session owns a folder with ``dram.bin``, the simulated DRAM, which this process maps
(`Session.dram`) and the simulator maps too, so the host's writes are what the core reads. The
simulator serves one request at a time, one line each way:

``W offset value`` -> ``OK``      one AXI4-Lite write of the control slave
``R offset``       -> ``V value`` one AXI4-Lite read
``P cycles``       -> ``OK``      let the clock run (the host waiting)
``Q``                             end the simulation

A failure is answered ``E kind message`` and ends the simulation: `bounds` (the core addressed
bytes outside the DRAM) raises `MemoryBoundsError`, `protocol` `MemoryProtocolError`, `timeout`
(the control slave did not answer) `VtaError`. Two simulators serve it: the fast harness
(``harness.cpp`` on Verilator, a child process on pipes) and the cocotb testbench
(``cocotb_testbench.py``, on Verilator or Icarus, over a Unix socket). `SessionBus` is the
`MmioBus` of a session, for the one host driver.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import numpy as np

from vta.isa import Config, VtaError
from vta.runtime.backends.rtl import processes
from vta.runtime.backends.rtl.memory_model import (MemoryBoundsError, MemoryProtocolError,
                                                   memory_parameters)

#: Seconds the fast harness gets to quit before it is killed (it is mid-run when interrupted).
STOP_SECONDS = 5
#: Seconds to wait for the cocotb simulator to connect (it is started, not built, by then).
CONNECT_SECONDS = 120
ERRORS = {"bounds": MemoryBoundsError, "protocol": MemoryProtocolError}


class Session:
    """Base of both simulators' sessions: the folder, the mapped DRAM, the request loop."""

    def __init__(self, config: Config, dram_bytes: int):
        self.config = config
        self.dram_bytes = dram_bytes
        self._folder = processes.temporary_folder()
        self.folder = Path(self._folder.name)
        (self.folder / "dram.bin").write_bytes(bytes(max(dram_bytes, 1)))
        self.dram = np.memmap(self.folder / "dram.bin", dtype=np.uint8, mode="r+")[:dram_bytes]

    def request(self, line: str) -> list[str]:
        """Send one request; the reply's words. A failure reply raises its error."""
        self._send(line)
        words = self._receive().split(maxsplit=2)
        if not words:
            raise VtaError(f"the simulation stopped: {self._log_tail()}")
        if words[0] == "E":
            message = words[2].strip() if len(words) > 2 else ""
            raise ERRORS.get(words[1], VtaError)(message)
        return words

    def close(self) -> None:
        try:
            self._send("Q")
        except OSError:
            pass
        self._stop()
        self.dram.flush()
        del self.dram
        self._folder.cleanup()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _log_tail(self) -> str:
        log = self.folder / "sim.log"
        lines = log.read_text(errors="replace").splitlines()[-5:] if log.exists() else []
        return " | ".join(line.strip() for line in lines) or "no log"


class HarnessSession(Session):
    """The fast harness (a Verilator C++ program built by `FastHarness`) as a child process."""

    def __init__(self, config: Config, dram_bytes: int, executable: Path, *,
                 waves: Path | None = None, window: tuple[int, int] | None = None):
        super().__init__(config, dram_bytes)
        settings = dict(memory_parameters(config))
        if waves is not None:
            settings["period_ps"] = max(2, round(1e6 / config.CLOCK_MHZ))
            if window is not None:
                settings["waves_from"], settings["waves_to"] = window
        (self.folder / "session.txt").write_text("".join(
            f"{key} {value}\n" for key, value in settings.items()))
        self._log = open(self.folder / "sim.log", "w")
        self._record = self.folder / "harness.pgid"
        extra = [] if waves is None else [str(waves)]
        self.process = processes.spawn([str(executable), str(self.folder), *extra],
                                       record=self._record, stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, stderr=self._log, text=True)

    def _send(self, line: str) -> None:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def _receive(self) -> str:
        return self.process.stdout.readline()

    def _stop(self) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_SECONDS)      # it quits on "Q" unless busy
        processes.end(self.process, self._record)       # interrupted mid-run: killed
        self._log.close()


class CocotbSession(Session):
    """The cocotb testbench, started by the cocotb runner in a thread of this process; the
    simulator process connects back over a Unix socket."""

    def __init__(self, config: Config, dram_bytes: int, simulator: str, build_dir: Path, *,
                 waves: Path | None = None):
        super().__init__(config, dram_bytes)
        self.waves = waves
        socket_path = str(self.folder / "host.sock")
        (self.folder / "session.json").write_text(json.dumps(
            {"memory": memory_parameters(config), "socket": socket_path}))
        self.error: BaseException | None = None
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(socket_path)
        listener.listen(1)
        self._thread = threading.Thread(target=self._simulate, args=(simulator, build_dir),
                                        daemon=True)
        self._thread.start()
        try:
            self.link = self._accept(listener)
        except BaseException:
            self._folder.cleanup()
            raise
        finally:
            listener.close()
        self.received = b""

    def _simulate(self, simulator: str, build_dir: Path) -> None:
        from cocotb_tools.runner import get_runner

        from vta.runtime.backends.rtl.toolchain import tool_env

        # Icarus writes its FST where the plusarg says, Verilator dump.vcd in the test folder.
        plusargs = [f"+dumpfile_path={self.waves}"] if self.waves and simulator == "icarus" else []
        try:
            get_runner(simulator).test(
                test_module="vta.runtime.backends.rtl.cocotb_testbench", hdl_toplevel="vta_core",
                hdl_toplevel_lang="verilog", build_dir=build_dir, test_dir=self.folder,
                results_xml=str(self.folder / "results.xml"), log_file=self.folder / "sim.log",
                timescale=("1ns", "1ps"), waves=self.waves is not None, plusargs=plusargs,
                extra_env={"VTA_SESSION_DIR": str(self.folder), "PATH": tool_env()["PATH"]})
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

    def _send(self, line: str) -> None:
        self.link.sendall((line + "\n").encode())

    def _receive(self) -> str:
        while b"\n" not in self.received:
            try:
                chunk = self.link.recv(4096)
            except TimeoutError:  # the simulation is still working: check it is alive
                if not self._thread.is_alive():
                    return ""
                continue
            if not chunk:
                return ""
            self.received += chunk
        reply, self.received = self.received.split(b"\n", 1)
        return reply.decode()

    def _stop(self) -> None:
        self._thread.join()
        self.link.close()
        dump = self.folder / "dump.vcd"
        if self.waves is not None and dump.exists():
            shutil.move(dump, self.waves)


class SessionBus:
    """`MmioBus` of a session: a wait of t microseconds runs t × CLOCK_MHZ clock cycles."""

    def __init__(self, session: Session):
        self.session = session

    def read(self, offset: int) -> int:
        return int(self.session.request(f"R {int(offset)}")[1])

    def write(self, offset: int, value: int) -> None:
        self.session.request(f"W {int(offset)} {int(value) & 0xFFFF_FFFF}")

    def wait(self, microseconds: float) -> None:
        self.session.request(f"P {math.ceil(microseconds * self.session.config.CLOCK_MHZ)}")
