#!/usr/bin/env python3
"""How long one GEMM or ALU instruction of N micro-op executions occupies compute on the RTL.

    .venv/bin/python benchmarks/rtl_steady_state.py [--preset pynq] [--executions 4096 16384]

For each kind (GEMM, ALU with an immediate, ALU with a vector operand) two program images run on
the `rtl` backend (Verilator, fast harness): one with the instruction and one without; the
difference of the compute module's busy counters is the instruction's occupancy. Prints the
occupancy against N (and 2N for vector ALU, whose initiation interval is 2: docs/hardware.md),
and the constant c = occupancy − II·N.
"""

from __future__ import annotations

import argparse

import numpy as np

from vta.isa import (Alu, AluOp, Config, Finish, Gemm, Load, MemoryType, Uop, encode_stream,
                     encode_uops)
from vta.isa.image import ProgramImage
from vta.runtime.backends import get_backend

KERNEL_UOPS = 16
INITIATION_INTERVAL = {"gemm": 1, "alu-imm": 1, "alu-vector": 2}


def loop_instruction(kind: str, executions: int):
    """One instruction of `executions` micro-op executions (KERNEL_UOPS per inner iteration;
    consecutive executions write different ACC tiles, as the hazard rule demands)."""
    iterations = executions // KERNEL_UOPS
    loops = dict(uop_bgn=0, uop_end=KERNEL_UOPS, iter_out=1, iter_in=iterations)
    if kind == "gemm":
        return Gemm(**loops)
    return Alu(alu_opcode=AluOp.ADD, use_imm=kind == "alu-imm", imm=1, **loops)


def compute_busy(config: Config, body: list) -> int:
    """The compute busy counter of a run of LOAD UOP, `body`, FINISH."""
    uops = encode_uops([Uop(dst_idx=k, src_idx=KERNEL_UOPS + k, wgt_idx=k)
                        for k in range(KERNEL_UOPS)], config)
    program = [Load(memory_type=MemoryType.UOP, y_size=1, x_size=KERNEL_UOPS,
                    x_stride=KERNEL_UOPS), *body, Finish()]
    stream = np.frombuffer(encode_stream(program, config), dtype=np.uint8)
    insn_addr = 4096
    dram = np.zeros(insn_addr + stream.size, dtype=np.uint8)
    dram[:uops.nbytes] = uops.view(np.uint8)
    dram[insn_addr:] = stream
    report = get_backend("rtl", config).run(ProgramImage(config, dram, insn_addr, len(program)))
    return report.modules["compute"]["busy"]


def occupancy(config: Config, kind: str, executions: int) -> int:
    """Cycles one instruction of `executions` micro-op executions keeps compute busy."""
    return (compute_busy(config, [loop_instruction(kind, executions)])
            - compute_busy(config, []))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="pynq")
    parser.add_argument("--executions", type=int, nargs="+", default=[4096, 16384])
    args = parser.parse_args()
    config = Config.preset(args.preset)
    print(f"config {config.model_string}: compute occupancy of one instruction on the RTL "
          f"(Verilator, memory latency {config.MEM_READ_LATENCY}/{config.MEM_WRITE_LATENCY})")
    for kind, interval in INITIATION_INTERVAL.items():
        for executions in args.executions:
            cycles = occupancy(config, kind, executions)
            print(f"{kind:10s} N = {executions:6d}: {cycles:6d} cycles = "
                  f"{interval}·N + {cycles - interval * executions}")


if __name__ == "__main__":
    main()
