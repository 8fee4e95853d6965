"""The two harnesses that simulate the Verilog core, built through the cache, and the sessions
they open (`vta.runtime.backends.rtl.session`).

`FastHarness`: Verilator ``--cc --exe`` with ``harness.cpp`` as main; no Python per cycle.
`CocotbHarness`: the cocotb 2.x runner (Verilator or Icarus) with ``cocotb_testbench.py``.
Both serve the same bus protocol with the one memory model (``memory_model.h``).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from vta.isa import Config, progress
from vta.isa.errors import VtaError
from vta.runtime.backends.rtl.cache import build_key, cached_build
from vta.runtime.backends.rtl.processes import run_group
from vta.runtime.backends.rtl.session import CocotbSession, HarnessSession, Session
from vta.runtime.backends.rtl.toolchain import simulator_identity, tool_env

TOP = "vta_core"
HERE = Path(__file__).resolve().parent
VERILATOR_WARNINGS = ["-Wno-fatal", "-Wno-lint", "-Wno-style"]
FAST_SOURCES = ("harness.cpp", "memory_model.h")
#: Icarus's waveform dump, in Verilog-2005 (cocotb's own dump module is SystemVerilog, which
#: the plain-Verilog core cannot be compiled with): the file comes from +dumpfile_path=.
ICARUS_DUMP = """module vta_waves_dump;
  reg [8*4096-1:0] path;
  initial if ($value$plusargs("dumpfile_path=%s", path)) begin
    $dumpfile(path);
    $dumpvars(0, vta_core);
  end
endmodule
"""
#: Waveform formats of the fast harness: Verilator's option and the harness's define.
WAVE_FORMATS = {"fst": ("--trace-fst", "-DVTA_WAVES_FST"), "vcd": ("--trace", "-DVTA_WAVES_VCD")}
#: The fast harness's top module without waveforms (`input_registers`).
WRAPPER = "vta_fast_top"
#: C++ compiler options of the fast harness (the generated model and harness.cpp).
FAST_CFLAGS = "-O3 -std=c++17"


def input_registers(verilog: str, top: str = TOP, name: str = WRAPPER) -> str:
    """A Verilog module `name` with the ports of module `top` in `verilog` that instantiates it
    (as ``core``) and passes `rst` and its ``m_axi_*`` inputs through registers clocked by
    ``clk``, initially what the fast harness drives before the first edge (1 for ``rst`` and the
    ``*ready`` inputs, 0 for the others); its other inputs and every output are wired through.

    The fast harness sets a registered input before the rising edge after which the core must
    see it, so the core sees the same values at every edge; but its combinational logic no
    longer depends on a top-level input that changes between edges, which Verilator would
    re-evaluate at every evaluation of the model (twice per cycle), and settles in the rising
    edge's own evaluation. The control slave's inputs stay direct: a request may begin between
    any two cycles."""
    match = re.search(rf"^module {re.escape(top)}\(.*?^endmodule", verilog, re.M | re.S)
    if match is None:
        raise VtaError(f"no module {top} in the Verilog")
    ports = re.findall(r"^\s*(input|output)\s*(\[\d+:\d+\])?\s*(\w+)\s*;", match[0], re.M)
    lines = [f"module {name}({', '.join(port for _, _, port in ports)});"]
    connections = []
    for direction, width, port in ports:
        lines.append(f"  {direction} {width + ' ' if width else ''}{port};")
        if direction == "input" and (port == "rst" or port.startswith("m_axi_")):
            initial = int(port == "rst" or port.endswith("ready"))
            lines.append(f"  reg {width + ' ' if width else ''}{port}_q = {initial};")
            lines.append(f"  always @(posedge clk) {port}_q <= {port};")
            connections.append(f"    .{port}({port}_q)")
        else:
            connections.append(f"    .{port}({port})")
    lines += [f"  {top} core (", ",\n".join(connections), "  );", "endmodule", ""]
    return "\n".join(lines)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"({path.name} missing)"


class FastHarness:
    """`waves` ("fst" or "vcd"): a build that can dump every signal (`open_session`'s
    ``waves``); a separate cache entry, as tracing slows the simulation."""

    name = "fast"
    simulator = "verilator"

    def __init__(self, verilog: str, waves: str | None = None):
        self.verilog = verilog
        self.waves = waves
        self.sources = {name: (HERE / name).read_text() for name in FAST_SOURCES}
        if waves:  # the core as the top module: waveforms keep its signal names
            trace, define = WAVE_FORMATS[waves]
            top, options, files = TOP, [trace], [f"{TOP}.v"]
        else:
            self.sources[f"{WRAPPER}.v"] = input_registers(verilog)
            define, top = "-DVTA_INPUT_REGISTERS", WRAPPER
            options, files = ["--prefix", f"V{TOP}"], [f"{TOP}.v", f"{WRAPPER}.v"]
        self.command = ["verilator", "--cc", "--exe", "--build", "-j", "2", "-O3",
                        "--x-assign", "fast", "--x-initial", "fast", "--noassert", *options,
                        *VERILATOR_WARNINGS, "--top-module", top, "-Mdir", "obj", "-o", "harness",
                        "-MAKEFLAGS", "OPT_FAST=-O3", "-CFLAGS", f"{FAST_CFLAGS} {define}",
                        *files, "harness.cpp"]
        self.key = build_key("fast", verilog, *self.sources.values(), *self.command,
                             simulator_identity("verilator"))

    def build(self) -> Path:
        return cached_build(self.key, self._build)

    def _build(self, folder: Path) -> None:
        (folder / f"{TOP}.v").write_text(self.verilog)
        for name, text in self.sources.items():
            (folder / name).write_text(text)
        log = folder / "build.log"
        with open(log, "w") as out, progress.step(
                f"building the Verilator harness{' with waveforms' if self.waves else ''} "
                f"(once per design; minutes)"):
            status = run_group(self.command, record=folder.parent / f"{folder.name}.pgid",
                               cwd=folder, stdout=out, stderr=subprocess.STDOUT, env=tool_env())
        if status:
            raise VtaError(f"Verilator build of the fast harness failed (see {log}):\n{_tail(log)}")

    def open_session(self, config: Config, dram_bytes: int, *, waves: Path | None = None,
                     window: tuple[int, int] | None = None) -> Session:
        """A running simulation with `dram_bytes` of DRAM (build first, cached); with `waves`
        (a harness built with `waves`) dumping cycles `window` (every one: None) there."""
        if waves is not None and not self.waves:
            raise VtaError("this fast harness was built without waveforms")
        return HarnessSession(config, dram_bytes, self.build() / "obj" / "harness",
                              waves=waves, window=window)


class CocotbHarness:
    """`waves` ("vcd" on Verilator, "fst" on Icarus: what cocotb's runner writes): a build that
    can dump every signal (`open_session`'s ``waves``)."""

    name = "cocotb"
    #: The waveform format cocotb's runner writes on each simulator.
    WAVE_FORMAT = {"verilator": "vcd", "icarus": "fst"}

    def __init__(self, verilog: str, simulator: str, waves: str | None = None):
        if simulator not in ("verilator", "icarus"):
            raise VtaError(f"unknown simulator {simulator!r}: expected 'verilator' or 'icarus'")
        if waves and waves != self.WAVE_FORMAT[simulator]:
            raise VtaError(f"cocotb on {simulator} writes .{self.WAVE_FORMAT[simulator]} "
                           f"waveforms, not .{waves}")
        self.verilog, self.simulator, self.waves = verilog, simulator, waves
        if simulator == "verilator":
            self.build_args = [*VERILATOR_WARNINGS, "-O3"]
        else:
            # Plain Verilog needs -g2005 on Icarus 11, SystemVerilog the runner's -g2012
            # (docs/cosim.md).
            self.build_args = [] if "always_comb" in verilog else ["-g2005"]
        # The testbench is imported from this package when a session starts: not part of the build.
        self.key = build_key("cocotb", simulator, verilog, *self.build_args,
                             simulator_identity(simulator), f"waves={waves}")

    def _runner(self):
        from cocotb_tools.runner import get_runner
        return get_runner(self.simulator)

    def build(self) -> Path:
        return cached_build(self.key, self._build)

    def _build(self, folder: Path) -> None:
        source = folder / f"{TOP}.v"
        source.write_text(self.verilog)
        sources, build_args = [source], list(self.build_args)
        if self.waves and self.simulator == "icarus":
            (folder / "waves_dump.v").write_text(ICARUS_DUMP)
            sources.append(folder / "waves_dump.v")
            build_args += ["-s", "vta_waves_dump"]
        log = folder / "build.log"
        try:
            with _environment(tool_env()), progress.step(
                    f"building the {self.simulator} simulation for cocotb (once per design)"):
                self._runner().build(sources=sources, hdl_toplevel=TOP, build_dir=folder / "sim",
                                     build_args=build_args, timescale=("1ns", "1ps"),
                                     log_file=log,
                                     waves=bool(self.waves) and self.simulator == "verilator")
        except (SystemExit, Exception) as error:
            raise VtaError(f"{self.simulator} build for cocotb failed ({error}; see {log}):\n"
                           f"{_tail(log)}") from None

    def open_session(self, config: Config, dram_bytes: int, *, waves: Path | None = None,
                     window: tuple[int, int] | None = None) -> Session:
        """A running simulation with `dram_bytes` of DRAM (build first, cached); with `waves`
        (a harness built with `waves`) dumping every cycle there."""
        if waves is not None and not self.waves:
            raise VtaError("this cocotb harness was built without waveforms")
        if window is not None:
            raise VtaError("a waves window needs the fast harness")
        return CocotbSession(config, dram_bytes, self.simulator, self.build() / "sim",
                             waves=waves)


class _environment:
    """Temporarily replace os.environ (the cocotb runner reads it, not an env argument)."""

    def __init__(self, env: dict[str, str]):
        self.env = env

    def __enter__(self):
        self.saved = dict(os.environ)
        os.environ.update(self.env)

    def __exit__(self, *exc):
        os.environ.clear()
        os.environ.update(self.saved)

