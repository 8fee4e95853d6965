"""The two harnesses that simulate the Verilog core, built through the cache, and the sessions
they open (`vta.runtime.backends.rtl.session`).

`FastHarness`: Verilator ``--cc --exe`` with ``harness.cpp`` as main; no Python per cycle;
built profile-guided when it is given the core's config.
`CocotbHarness`: the cocotb 2.x runner (Verilator or Icarus) with ``cocotb_testbench.py``.
Both serve the same bus protocol with the one memory model (``memory_model.h``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from vta.isa import Config, progress
from vta.isa.errors import VtaError
from vta.runtime.backends.driver import CoreDriver
from vta.runtime.backends.rtl.cache import build_key, cached_build
from vta.runtime.backends.rtl.processes import run_group
from vta.runtime.backends.rtl.session import CocotbSession, HarnessSession, Session, SessionBus
from vta.runtime.backends.rtl.toolchain import simulator_identity, tool_env
from vta.runtime.backends.rtl.training import training_program
from vta.runtime.backends.rtl.workload import watchdog_cycles

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
#: Statements per function of the model's C++ (Verilator's ``--output-split-cfuncs``): the edge's
#: evaluation in functions of this size rather than a few huge ones (docs/cosim.md, "Figures").
SPLIT_CFUNCS = "3000"
#: C++ compiler and linker options of a profile-guided build: the instrumented build, whose
#: training run writes its profile into folder PROFILE, and the build that uses the profile.
PROFILE_GENERATE = ("-fprofile-generate={profile} -fprofile-update=single", "-fprofile-generate")
PROFILE_USE = ("-fprofile-use={profile} -fprofile-partial-training -Wno-missing-profile", "")


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


_NEXT_STATE = re.compile(r"^  always_ff @\(posedge clk\)\n    (\S+) <= (\\\$\d+) ;\n", re.M)
_NEXT_STATE_LOGIC = re.compile(r"^  always_comb begin\n    (\\\$\d+)  = (\S+);\n(.*?)^  end\n",
                               re.M | re.S)
_ASSIGNMENT = re.compile(r"^\s*(\S+?)\s*(\[[^\]]*\])?\s*=(?!=)", re.M)


def registers_updated_in_place(verilog: str) -> str:
    """`verilog` (yosys's SystemVerilog text of an Amaranth design) with each register that
    keeps its value unless a condition says otherwise written as one ``always_ff`` block.

    Yosys writes such a register ``r`` as ``always_ff @(posedge clk) r <= $N;`` and
    ``always_comb begin $N = r; <statements assigning $N> end``. Where ``$N`` appears nowhere
    else and every assignment of the block is to ``$N``, the two become ``always_ff @(posedge
    clk) begin <the statements, assigning r with <=> end``: at each edge the statements see the
    values before the edge in both, and the last assignment that runs (none: r itself) is r's
    next value in both. Verilator evaluates the comb block at every edge, with a copy of ``r``
    and one back; the ``always_ff`` block only assigns what its conditions select (11 % fewer
    instructions per cycle on the GEMM-bound image, docs/cosim.md)."""
    modules = re.split(r"(?=^module )", verilog, flags=re.M)
    for index, module in enumerate(modules):
        registers = {match[2]: match for match in _NEXT_STATE.finditer(module)}
        edits = []
        for block in _NEXT_STATE_LOGIC.finditer(module):
            next_state, register, statements = block[1], block[2], block[3]
            update = registers.get(next_state)
            if update is None or update[1] != register:
                continue
            name = re.escape(next_state) + r"(?=[\s\[;])"
            targets = _ASSIGNMENT.findall(statements)
            if not targets or any(target != next_state for target, _ in targets):
                continue
            if len(re.findall(name, module)) != 3 + len(targets):  # declaration, update, default
                continue
            body = re.sub(r"^(\s*)" + name + r"\s*(\[[^\]]*\])?\s*=",
                          lambda match: f"{match[1]}{register}{match[2] or ''} <=",
                          statements, flags=re.M)
            edits += [(block.span(), f"  always_ff @(posedge clk) begin\n{body}  end\n"),
                      (update.span(), "")]
        for (start, end), text in sorted(edits, reverse=True):
            module = module[:start] + text + module[end:]
        modules[index] = module
    return "".join(modules)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"({path.name} missing)"


class FastHarness:
    """`waves` ("fst" or "vcd"): a build that can dump every signal (`open_session`'s
    ``waves``); a separate cache entry, as tracing slows the simulation. `training`: the config
    of the core in `verilog`, for a profile-guided build (without waves): the C++ is compiled
    instrumented, runs `training_program` of that config, and is compiled again with the
    profile; if any of that fails, a plain build follows with a one-line notice."""

    name = "fast"
    simulator = "verilator"

    def __init__(self, verilog: str, waves: str | None = None, training: Config | None = None):
        self.verilog = verilog
        self.waves = waves
        self.training = None if waves else training
        self.sources = {name: (HERE / name).read_text() for name in FAST_SOURCES}
        self.sources[f"{TOP}.v"] = registers_updated_in_place(verilog)
        if waves:  # the core as the top module: waveforms keep its signal names
            trace, define = WAVE_FORMATS[waves]
            top, options, files = TOP, [trace], [f"{TOP}.v"]
        else:
            self.sources[f"{WRAPPER}.v"] = input_registers(verilog)
            define, top = "-DVTA_INPUT_REGISTERS", WRAPPER
            options, files = ["--prefix", f"V{TOP}"], [f"{TOP}.v", f"{WRAPPER}.v"]
        self._options = (define, top, options, files)
        self.command = self._command()
        trained = [] if self.training is None else [
            "profile-guided", *PROFILE_GENERATE, *PROFILE_USE, (HERE / "training.py").read_text(),
            repr(sorted(self.training.to_dict().items()))]
        self.key = build_key("fast", verilog, *self.sources.values(), *self.command, *trained,
                             simulator_identity("verilator"))

    def _command(self, cflags: str = "", ldflags: str = "") -> list[str]:
        """The Verilator command, with extra C++ compiler and linker options."""
        define, top, options, files = self._options
        linking = ["-LDFLAGS", ldflags] if ldflags else []
        return ["verilator", "--cc", "--exe", "--build", "-j", "2", "-O3",
                "--x-assign", "fast", "--x-initial", "fast", "--noassert",
                "--output-split-cfuncs", SPLIT_CFUNCS, *options, *VERILATOR_WARNINGS,
                "--top-module", top, "-Mdir", "obj", "-o", "harness",
                "-MAKEFLAGS", "OPT_FAST=-O3", "-CFLAGS", f"{FAST_CFLAGS} {define} {cflags}".strip(),
                *linking, *files, "harness.cpp"]

    def build(self) -> Path:
        return cached_build(self.key, self._build)

    def _build(self, folder: Path) -> None:
        for name, text in self.sources.items():
            (folder / name).write_text(text)
        log = folder / "build.log"
        log.write_text("")
        with progress.step(f"building the Verilator harness"
                           f"{' with waveforms' if self.waves else ''}"
                           f"{' (profile-guided)' if self.training else ''} "
                           f"(once per design; minutes)"):
            if self.training is not None:
                try:
                    self._build_profiled(folder, log)
                    return
                except Exception as error:      # any failure: a plain build instead
                    reason = (str(error).splitlines() or [type(error).__name__])[0]
                    print(f"vta: the profile-guided build of the fast harness failed ({reason}); "
                          f"building it without a profile", file=sys.stderr)
                    for leftover in ("obj", "profile"):
                        shutil.rmtree(folder / leftover, ignore_errors=True)
            self._compile(folder, log, self.command)

    def _build_profiled(self, folder: Path, log: Path) -> None:
        """Build instrumented, run the training program, build again with its profile."""
        profile = folder / "profile"
        generate, use = ([flag.format(profile=profile) for flag in flags]
                         for flags in (PROFILE_GENERATE, PROFILE_USE))
        self._compile(folder, log, self._command(*generate))
        config, image = self.training, training_program(self.training)
        with HarnessSession(config, image.dram.size, folder / "obj" / "harness") as session:
            session.dram[:] = image.dram
            CoreDriver(SessionBus(session)).run(
                image.insn_addr, image.insn_count,
                watchdog_us=watchdog_cycles(image) / config.CLOCK_MHZ)
        if not any(profile.rglob("*.gcda")):
            raise VtaError("the training run wrote no profile")
        for path in (folder / "obj").glob("*"):     # compile everything again
            if path.suffix in (".o", ".a", ".gch") or path.name == "harness":
                path.unlink()
        self._compile(folder, log, self._command(*use))

    def _compile(self, folder: Path, log: Path, command: list[str]) -> None:
        with open(log, "a") as out:
            out.write(" ".join(command) + "\n")
            out.flush()
            status = run_group(command, record=folder.parent / f"{folder.name}.pgid",
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
        # The testbench is imported from this package when a session starts: not part of the
        # build. The simulator the build makes links cocotb's libraries from where cocotb is
        # installed, so each environment's cocotb has builds of its own.
        self.key = build_key("cocotb", simulator, verilog, *self.build_args,
                             simulator_identity(simulator), f"waves={waves}",
                             str(Path(importlib.util.find_spec("cocotb").origin).parent))

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

