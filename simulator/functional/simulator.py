"""FunctionalSimulator: runs a program image bit-exactly, with the seven profiler counters."""

from __future__ import annotations

import numpy as np

from vta.isa import Config, Opcode, VtaError
from vta.simulator.functional.alu import AluEngine
from vta.simulator.functional.gemm import GemmEngine
from vta.simulator.functional.memory import DataMover, Sram
from vta.isa.program import PROFILE_COUNTERS, DecodedInstruction, count, decode_program
from vta.simulator.functional.scheduler import run_modules
from vta.simulator.functional.threads import single_blas_thread
from vta.simulator.functional.workspace import Workspace

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

    def run(self, dram: np.ndarray, insn_addr: int, insn_count: int, *,
            program: list[DecodedInstruction] | None = None) -> dict[str, int]:
        """Execute the program in place on `dram` (a 1-D uint8 array) until FINISH retires;
        return the seven profiler counters of the instructions executed (`vta.isa.program.count`). `program` is
        the stream already decoded (`ProgramImage.program`), if the caller has it."""
        if not (isinstance(dram, np.ndarray) and dram.dtype == np.uint8 and dram.ndim == 1
                and dram.flags.c_contiguous and dram.flags.writeable):
            raise VtaError("the DRAM image must be a writeable, contiguous 1-D uint8 array")
        if program is None:
            program = decode_program(self.config, dram, insn_addr, insn_count)
        self.sram.clear()
        mover, gemm, alu, config = self.mover, self.gemm, self.alu, self.config
        counters = dict.fromkeys(PROFILE_COUNTERS, 0)

        def execute(insn: DecodedInstruction) -> None:
            count(counters, insn, config)
            opcode = insn.opcode
            if opcode == Opcode.GEMM:
                gemm.execute(insn)
            elif opcode == Opcode.LOAD:
                mover.load(insn, dram)
            elif opcode == Opcode.ALU:
                alu.execute(insn)
            elif opcode == Opcode.STORE:
                mover.store(insn, dram)

        with single_blas_thread():
            run_modules(program, execute)
        return counters
