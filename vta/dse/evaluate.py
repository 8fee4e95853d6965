"""The evaluations of a design-space exploration, each a plain function of plain data so that
any Dask worker runs it: a model on a config (compile: cycles, MAC share, bytes moved, energy),
a model's accuracy, a Yosys synthesis, and the verification of a point (fuzzer, conformance
corpus, cycle model against the RTL). The analytic resource estimate is cheap enough to run
where the sweep is driven (`resources`).
"""

from __future__ import annotations

import time

import numpy as np

from vta.dse.energy import energy
from vta.dse.models import ModelSpec, accuracy, graph
from vta.fpga.boards import BOARDS
from vta.fpga.resource_model import board_estimate
from vta.isa import Config, VtaError
from vta.isa.opcodes import Opcode
from vta.isa.program import count, decode_program

#: Fidelities of a model evaluation: "estimate" takes each layer's tiling and cycles from the
#: compiler's analytic cost model; "cycle" times the cost model's shortlist on the cycle model
#: (what `vta compile` does).
FIDELITIES = ("estimate", "cycle")
FAMILIES = ("xc7", "xcup")


def resources(config: Config, boards: tuple[str, ...]) -> dict:
    """Analytic resources, fit and fmax of `config` on each board."""
    return {name: board_estimate(config, BOARDS[name]) for name in boards}


def cycle_fingerprint(config: Config) -> str:
    """What decides a model's cycles and counters on a config: everything but the clock."""
    return config.replace(CLOCK_MHZ=100.0).fingerprint


def model_on_config(config_keys: dict, spec: ModelSpec, fidelity: str) -> dict:
    """Compile `spec` for the config: cycles of its VTA layers, MAC share and the profiler
    counters of its programs (bytes moved, GEMM and ALU executions)."""
    from vta.compiler.build import compile_graph
    from vta.compiler.report import shares

    started = time.perf_counter()
    config = Config(**config_keys)
    try:
        model = compile_graph(graph(spec.int8_path, config.ALU_MUL), config,
                              timed=fidelity == "cycle", workers=1)
    except VtaError as error:
        return {"error": str(error).splitlines()[0], "seconds": time.perf_counter() - started}
    share = shares(model.nodes)
    return {"cycles": sum(node.get("estimated_cycles", 0) for node in model.nodes),
            "vta_mac_share": share["vta_mac_share"], "macs": share["macs"],
            "counters": program_counters(model), "seconds": time.perf_counter() - started}


def on_clock(result: dict, config: Config) -> dict:
    """A model result at `config`'s clock: latency, and energy per FPGA family."""
    if "error" in result:
        return result
    seconds = result["cycles"] / (config.CLOCK_MHZ * 1e6)
    return result | {"latency_ms": seconds * 1e3,
                     "energy_uj": {family: energy(config, result["counters"], seconds, family)
                                   for family in FAMILIES}}


def program_counters(model) -> dict[str, int]:
    """The seven profiler counters over every VTA program of a compiled model, and
    ``alu_vector_counter`` (ALU executions reading two accumulator tiles)."""
    config = model.config
    counters = {"inp_load_nbytes": 0, "wgt_load_nbytes": 0, "acc_load_nbytes": 0,
                "uop_load_nbytes": 0, "out_store_nbytes": 0, "gemm_counter": 0,
                "alu_counter": 0, "alu_vector_counter": 0}
    for step in model.steps:
        if step["op"] != "vta":
            continue
        section = next(s for s in model.sections
                       if s.data is not None and s.addr <= step["insn_addr"] < s.addr + s.nbytes)
        dram = np.frombuffer(section.data, np.uint8)
        for insn in decode_program(config, dram, step["insn_addr"] - section.addr,
                                   step["insn_count"]):
            count(counters, insn, config)
            if insn.opcode == Opcode.ALU and not insn.fields["use_imm"]:
                counters["alu_vector_counter"] += insn.executions
    return counters


def model_accuracy(spec: ModelSpec, inp_width: int, wgt_width: int) -> dict:
    started = time.perf_counter()
    try:
        result = accuracy(spec, inp_width, wgt_width)
    except VtaError as error:
        result = {"error": str(error).splitlines()[0]}
    return result | {"seconds": time.perf_counter() - started}


def synthesize(config_keys: dict, family: str) -> dict:
    """Yosys' resource counts of the config's core for an FPGA family (minutes)."""
    from vta.fpga.synth import count_resources, synthesize_cells
    from vta.hardware.verilog import generate_verilog

    started = time.perf_counter()
    cells = synthesize_cells(generate_verilog(Config(**config_keys)), top="vta_core",
                             family=family)
    return {"used": count_resources(cells), "cells": cells,
            "seconds": time.perf_counter() - started}
