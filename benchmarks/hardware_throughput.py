"""Steady-state throughput of the Amaranth core, measured in simulation (pysim).

Each figure is the marginal cost of a unit of work: two programs differing only in the amount of
work are run through the core's AXI ports with the config's memory timing, and the difference
of the module's busy counter is divided by the difference of work. Prints one line per figure.

    .venv/bin/python benchmarks/hardware_throughput.py [--preset pynq]
"""

import argparse
import time

import numpy as np

from vta.hardware.core import VtaCore
from vta.runtime.backends.rtl.amaranth_simulation import run_core
from vta.isa import (UOP_BYTES, Alu, AluOp, Config, Finish, Gemm, Load, MemoryType,
                     Store, Uop, encode_stream, encode_uops)

DRAM_BYTES = 1 << 20
UOP_BASE = 0x1000          # bytes
DATA_BASE = 0x10000        # bytes
INSN_BASE = 0xF0000        # bytes
KERNEL_UOPS = 16


def run(config: Config, insns: list) -> dict:
    dram = np.zeros(DRAM_BYTES, dtype=np.uint8)
    uops = encode_uops([Uop(dst_idx=k, src_idx=k + 32, wgt_idx=k) for k in range(KERNEL_UOPS)],
                       config)
    dram[UOP_BASE:UOP_BASE + uops.nbytes] = uops.view(np.uint8)
    stream = np.frombuffer(encode_stream(insns + [Finish()], config), dtype=np.uint8)
    dram[INSN_BASE:INSN_BASE + stream.size] = stream
    result, _ = run_core(VtaCore(config=config), dram, INSN_BASE, len(insns) + 1,
                         max_cycles=200_000)
    counters = {f"{module.upper()}_{kind.upper()}": value
                for module, figures in result.modules.items() for kind, value in figures.items()}
    return counters | {"CYCLES": result.cycles}


def load_uops() -> Load:
    return Load(memory_type=MemoryType.UOP, sram_base=0, dram_base=UOP_BASE // UOP_BYTES,
                y_size=1, x_size=KERNEL_UOPS, x_stride=KERNEL_UOPS)


def loop_program(kind: str, repeats: int) -> list:
    common = dict(uop_bgn=0, uop_end=KERNEL_UOPS, iter_out=1, iter_in=repeats)
    if kind == "gemm":
        return [load_uops(), Gemm(**common)]
    if kind == "alu-imm":
        return [load_uops(), Alu(alu_opcode=AluOp.ADD, use_imm=True, imm=3, **common)]
    return [load_uops(), Alu(alu_opcode=AluOp.ADD, use_imm=False, **common)]


def load_program(memory_type: MemoryType, tiles: int, config: Config) -> list:
    dram_base = DATA_BASE // config.elem_bytes(memory_type)
    load = Load(memory_type=memory_type, sram_base=0, dram_base=dram_base, y_size=1,
                x_size=tiles, x_stride=tiles, push_next_dep=True)
    return [load, Load(memory_type=MemoryType.UOP, pop_prev_dep=True)]


def acc_program(tiles: int, config: Config) -> list:
    return [Load(memory_type=MemoryType.ACC, sram_base=0,
                 dram_base=DATA_BASE // config.elem_bytes(MemoryType.ACC), y_size=1,
                 x_size=tiles, x_stride=tiles)]


def store_program(tiles: int, config: Config) -> list:
    store = Store(sram_base=0, dram_base=DATA_BASE // config.elem_bytes(MemoryType.OUT),
                  y_size=1, x_size=tiles, x_stride=tiles, push_prev_dep=True)
    return [store, Load(memory_type=MemoryType.UOP, pop_next_dep=True)]


def marginal(config, build, small, large, counter):
    low, high = run(config, build(small)), run(config, build(large))
    return (high[counter] - low[counter]) / (large - small), high["CYCLES"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="pynq")
    config = Config.preset(parser.parse_args().preset)
    print(f"config {config.model_string}, bus {config.bus_bits} bit, memory latency "
          f"{config.MEM_READ_LATENCY}/{config.MEM_WRITE_LATENCY} cycles (pysim; figures are "
          f"cycles, independent of host load)")
    for kind in ("gemm", "alu-imm", "alu-vector"):
        start = time.time()
        per_repeat, cycles = marginal(config, lambda n: loop_program(kind, n), 1, 33,
                                      "COMPUTE_BUSY")
        per_uop = per_repeat / KERNEL_UOPS
        print(f"{kind:12s} {per_uop:5.2f} cycles per micro-op execution "
              f"(initiation interval; {cycles} cycles in {time.time() - start:.1f} s)")
    for memory_type in (MemoryType.INP, MemoryType.WGT):
        words = config.elem_bytes(memory_type) // config.bus_bytes
        per_tile, _ = marginal(config, lambda n: load_program(memory_type, n, config), 4, 36,
                               "LOAD_BUSY")
        print(f"load {memory_type.name:7s} {per_tile / words:5.2f} cycles per bus word "
              f"({per_tile:.1f} per tile)")
    words = config.elem_bytes(MemoryType.ACC) // config.bus_bytes
    per_tile, _ = marginal(config, lambda n: acc_program(n, config), 4, 36, "COMPUTE_BUSY")
    print(f"load ACC     {per_tile / words:5.2f} cycles per bus word ({per_tile:.1f} per tile)")
    words = config.elem_bytes(MemoryType.OUT) // config.bus_bytes
    per_tile, _ = marginal(config, lambda n: store_program(n, config), 4, 132, "STORE_BUSY")
    print(f"store OUT    {per_tile / words:5.2f} cycles per bus word ({per_tile:.1f} per tile)")
    fixed = run(config, [load_uops()])
    print(f"LOAD UOP of {KERNEL_UOPS} + FINISH: {fixed['CYCLES']} cycles from start to FINISH")


if __name__ == "__main__":
    main()
