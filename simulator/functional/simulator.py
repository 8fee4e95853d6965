"""FunctionalSimulator: runs a program image bit-exactly, with the seven profiler counters."""

from __future__ import annotations

import numpy as np

from vta.isa import Config, MemoryType, Opcode, VtaError
from vta.simulator.functional.alu import AluEngine
from vta.simulator.functional.gemm import GemmEngine
from vta.simulator.functional.memory import DataMover, Sram
from vta.simulator.functional.program import DecodedInstruction, decode_program
from vta.simulator.functional.scheduler import run_modules
from vta.simulator.functional.threads import single_blas_thread
from vta.simulator.functional.workspace import Workspace

COUNTERS = ("inp_load_nbytes", "wgt_load_nbytes", "acc_load_nbytes", "uop_load_nbytes",
            "out_store_nbytes", "gemm_counter", "alu_counter")
LOAD_COUNTERS = {MemoryType.INP: "inp_load_nbytes", MemoryType.WGT: "wgt_load_nbytes",
                 MemoryType.ACC: "acc_load_nbytes", MemoryType.UOP: "uop_load_nbytes"}


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

    def run(self, dram: np.ndarray, insn_addr: int, insn_count: int) -> dict[str, int]:
        """Execute the program in place on `dram` (a 1-D uint8 array) until FINISH retires;
        return the counters of tests/conformance/corpus/README.md §1."""
        if not (isinstance(dram, np.ndarray) and dram.dtype == np.uint8 and dram.ndim == 1
                and dram.flags.c_contiguous and dram.flags.writeable):
            raise VtaError("the DRAM image must be a writeable, contiguous 1-D uint8 array")
        program = decode_program(self.config, dram, insn_addr, insn_count)
        self.sram.clear()
        counters = dict.fromkeys(COUNTERS, 0)
        mover, gemm, alu = self.mover, self.gemm, self.alu

        def execute(insn: DecodedInstruction) -> None:
            opcode = insn.opcode
            if opcode == Opcode.GEMM:
                gemm.execute(insn)
                if not insn.fields["reset_reg"]:
                    counters["gemm_counter"] += insn.executions
            elif opcode == Opcode.LOAD:
                counters[LOAD_COUNTERS[insn.fields["memory_type"]]] += mover.load(insn, dram)
            elif opcode == Opcode.ALU:
                alu.execute(insn)
                counters["alu_counter"] += insn.executions
            elif opcode == Opcode.STORE:
                counters["out_store_nbytes"] += mover.store(insn, dram)

        with single_blas_thread():
            run_modules(program, execute)
        return counters
