"""FunctionalSimulator: runs a program image bit-exactly, with the seven profiler counters."""

from __future__ import annotations

import numpy as np

from vta.isa import Config, MemoryType, Opcode, VtaError
from vta.simulator.functional.alu import AluEngine
from vta.simulator.functional.gemm import GemmEngine
from vta.simulator.functional.memory import DataMover, Sram
from vta.isa.program import (LOAD_COUNTERS, PROFILE_COUNTERS, DecodedInstruction,
                             decode_program, instruction_words)
from vta.simulator.functional.scheduler import run_modules
from vta.simulator.functional.threads import blas_libraries, single_blas_thread
from vta.simulator.functional.workspace import Workspace

#: Decoded streams a simulator keeps (by their bytes), for programs run again and again.
PROGRAM_CACHE_SIZE = 8


def counter_increments(program: list[DecodedInstruction], config: Config) -> dict:
    """By instruction bytes, what executing it adds to the profiler counters: ``(name,
    amount)`` or None (`vta.isa.program.count`, tabulated once per stream and per distinct
    instruction)."""
    elem = {kind: config.elem_bytes(kind) for kind in MemoryType}
    increments = {}
    for insn in program:
        if insn.raw in increments:
            continue
        f, opcode, step = insn.fields, insn.opcode, None
        if opcode == Opcode.LOAD and f["x_size"]:
            kind = f["memory_type"]
            step = LOAD_COUNTERS[kind], f["x_size"] * f["y_size"] * elem[kind]
        elif opcode == Opcode.STORE:
            step = "out_store_nbytes", f["x_size"] * f["y_size"] * elem[MemoryType.OUT]
        elif opcode == Opcode.GEMM and not f["reset_reg"]:
            step = "gemm_counter", insn.executions
        elif opcode == Opcode.ALU:
            step = "alu_counter", insn.executions
        increments[insn.raw] = step if step and step[1] else None
    return increments


class FunctionalSimulator:
    """The machine of /docs/semantics.md for one config: three in-order modules, four token
    queues, and every SRAM and DRAM access bounds-checked.

    The on-chip buffers start zeroed at every `run`; planned GEMM/ALU instructions are cached
    across runs of the same simulator.
    """

    def __init__(self, config: Config):
        self.config = config
        self.sram = Sram(config)
        self.workspace = Workspace()
        self.mover = DataMover(config, self.sram)
        self.gemm = GemmEngine(config, self.sram, self.workspace)
        self.alu = AluEngine(config, self.sram)
        self._programs: dict[bytes, tuple[list, dict]] = {}
        blas_libraries()  # found now rather than in the first run

    def _decoded(self, dram: np.ndarray, insn_addr: int, insn_count: int,
                 program: list[DecodedInstruction] | None) -> tuple[list, dict]:
        """The decoded stream and its counter increments, cached by the stream's bytes."""
        if program is not None:
            key = b"".join(insn.raw for insn in program)
        else:
            key = instruction_words(dram, insn_addr, insn_count).tobytes()
        cached = self._programs.get(key)
        if cached is None:
            if program is None:
                program = decode_program(self.config, dram, insn_addr, insn_count)
            if len(self._programs) >= PROGRAM_CACHE_SIZE:
                self._programs.clear()
            cached = self._programs[key] = program, counter_increments(program, self.config)
        return cached

    def prepare(self, dram: np.ndarray, insn_addr: int, insn_count: int, *,
                program: list[DecodedInstruction] | None = None) -> None:
        """Do now, for the program at `insn_addr`, the work its first `run` would otherwise do
        on meeting each instruction: decode the stream (a DecodeError is raised here as `run`
        would raise it), work out every LOAD/STORE's addressing, and plan every GEMM/ALU over
        the micro-ops its LOAD UOPs bring from `dram` as it is now, in program order (as
        `check_program` reads them). Nothing executes and `dram` is not changed. Preparation
        stops quietly at an instruction that fails (bounds): `run` raises that error when it
        gets there. Plans of micro-ops that a run finds different are made by the run."""
        program, _ = self._decoded(dram, insn_addr, insn_count, program)
        prepare = {Opcode.GEMM: self.gemm.prepare, Opcode.ALU: self.alu.prepare,
                   Opcode.LOAD: lambda insn: self.mover.prepare(insn, dram),
                   Opcode.STORE: lambda insn: self.mover.prepare(insn, dram),
                   Opcode.FINISH: lambda insn: None}
        try:
            for insn in program:
                prepare[insn.opcode](insn)
        except VtaError:
            pass

    def run(self, dram: np.ndarray, insn_addr: int, insn_count: int, *,
            program: list[DecodedInstruction] | None = None) -> dict[str, int]:
        """Execute the program in place on `dram` (a 1-D uint8 array) until FINISH retires;
        return the seven profiler counters of the instructions executed (`vta.isa.program.count`). `program` is
        the stream already decoded (`ProgramImage.program`), if the caller has it."""
        if not (isinstance(dram, np.ndarray) and dram.dtype == np.uint8 and dram.ndim == 1
                and dram.flags.c_contiguous and dram.flags.writeable):
            raise VtaError("the DRAM image must be a writeable, contiguous 1-D uint8 array")
        program, increments = self._decoded(dram, insn_addr, insn_count, program)
        self.sram.clear()
        mover = self.mover
        counters = dict.fromkeys(PROFILE_COUNTERS, 0)
        handlers = {Opcode.GEMM: self.gemm.execute, Opcode.ALU: self.alu.execute,
                    Opcode.LOAD: lambda insn: mover.load(insn, dram),
                    Opcode.STORE: lambda insn: mover.store(insn, dram),
                    Opcode.FINISH: lambda insn: None}

        def execute(insn: DecodedInstruction) -> None:
            step = increments[insn.raw]
            if step is not None:
                counters[step[0]] += step[1]
            handlers[insn.opcode](insn)

        with single_blas_thread():
            run_modules(program, execute)
        return counters
