"""The evaluations of a design-space exploration, each a plain function of plain data so that
any Dask worker runs it: a model on configs (cycles, MAC share, bytes moved; `vta.dse.layers`),
a model's accuracy, a Yosys synthesis, and the verification of a point (fuzzer, conformance
corpus, cycle model against the RTL). The analytic resource estimate is cheap enough to run
where the sweep is driven (`resources`).
"""

from __future__ import annotations

import time

from vta.dse.energy import energy
from vta.dse.models import ModelSpec, accuracy, graph
from vta.fpga.boards import BOARDS
from vta.fpga.resource_model import board_estimate
from vta.isa import Config, VtaError

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
    """`spec` on the config: cycles of its VTA layers, MAC share and the profiler counters of
    their programs (bytes moved, GEMM and ALU executions), as `compile_graph` would give them
    (`vta.dse.layers`)."""
    return models_on_configs([config_keys], spec, fidelity)[0]


def models_on_configs(configs: list[dict], spec: ModelSpec, fidelity: str) -> list[dict]:
    """`model_on_config` for each of `configs`, in one process: configs that differ only in
    buffer sizes and clock share their layers' rankings, timings and counters."""
    from vta.dse.layers import evaluate_model

    results = []
    for config_keys in configs:
        started, cpu = time.perf_counter(), time.process_time()
        config = Config(**config_keys)
        try:
            result = evaluate_model(graph(spec.int8_path, config.ALU_MUL,
                                          (config.inp_width, config.wgt_width)),
                                    config, timed=fidelity == "cycle")
        except VtaError as error:
            result = {"error": str(error).splitlines()[0]}
        results.append(result | {"seconds": time.perf_counter() - started,
                                 "cpu_seconds": time.process_time() - cpu})
    return results


def on_clock(result: dict, config: Config) -> dict:
    """A model result at `config`'s clock: latency, and energy per FPGA family."""
    if "error" in result:
        return result
    seconds = result["cycles"] / (config.CLOCK_MHZ * 1e6)
    return result | {"latency_ms": seconds * 1e3,
                     "energy_uj": {family: energy(config, result["counters"], seconds, family)
                                   for family in FAMILIES}}


def model_accuracy(spec: ModelSpec, inp_width: int, wgt_width: int) -> dict:
    started, cpu = time.perf_counter(), time.process_time()
    try:
        result = accuracy(spec, inp_width, wgt_width)
    except VtaError as error:
        result = {"error": str(error).splitlines()[0]}
    return result | {"seconds": time.perf_counter() - started,
                     "cpu_seconds": time.process_time() - cpu}


def synthesize(config_keys: dict, family: str) -> dict:
    """Yosys' resource counts of the config's core for an FPGA family (minutes)."""
    from vta.fpga.synth import count_resources, synthesize_cells
    from vta.hardware.verilog import generate_verilog

    started = time.perf_counter()
    cells = synthesize_cells(generate_verilog(Config(**config_keys)), top="vta_core",
                             family=family)
    return {"used": count_resources(cells), "cells": cells,
            "seconds": time.perf_counter() - started}
