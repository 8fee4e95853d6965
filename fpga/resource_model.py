"""An analytic FPGA resource and fmax model of the core: microseconds per config instead of a
Yosys run of many minutes, so a design-space exploration can rank thousands of points.

Each resource is a formula in a few parameters of the config (docs/dse.md, "Resource model"):

- **DSP**: the GEMM's multipliers (``batch × block_in × block_out`` products, two per DSP when
  the machine packs multiplier pairs) and the ALU's multiplying lanes (``batch × block_out``
  when ``ALU_MUL``);
- **BRAM36**: the on-chip buffers and the three command queues as the generator builds them
  (ACC in two banks, or four and OUT in two halves and the micro-ops in two copies for the
  second read port when the compute units overlap), each tiled with the cheapest RAMB36/RAMB18
  aspect ratio (memories of less than `LUTRAM_BITS` are left to LUT RAM);
- **LUT**, **FF**: linear in the products (weighted by their width, the sum of the operand
  bits: the multipliers are DSPs, the adder tree and pipeline registers are as wide as the
  products) and the ALU lanes
  (weighted by the accumulator bits), with a term for the lanes of a core without ``ALU_MUL``
  (its lanes lack the multiplier's logic; the term is fitted where the calibration runs include
  such a core, else it is 0), and, when the compute units overlap
  (``Machine.overlap_kernels`` > 0), a constant (the second unit's control, its micro-op port),
  a term in the ALU lanes (the four ACC banks' multiplexers) and one in the bits of the
  footprint table (``overlap_kernels`` entries of `footprint_entry_bits`, registers and
  comparators); the bus width changes them by a few percent only, so it is left out to keep the
  fit determined by a handful of Yosys runs.
- **DSP** and **BRAM36** also have a constant for the overlapping core (DSP: the footprint's
  loop-bound products; BRAM36: Yosys packs its memories a few RAMB36 tighter than the tiling).

A structural count alone gives each formula's shape; its coefficients are fitted, per FPGA
family, by least squares on Yosys runs (`calibration.json`, written by
``scripts/calibrate_resources.py``, which also reports the error on points left out of the
fit). The fmax estimate is anchored on the clocks the boards' presets run at.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from vta.fpga.boards import RESOURCES, Board
from vta.isa import Config, ConfigError, MemoryType, Module, layouts
from vta.isa.config import INSN_BITS

#: The fitted coefficients and the Yosys runs behind them.
CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
#: Memories smaller than this go to LUT RAM (Yosys' xc7/xcup memory mapping does the same).
LUTRAM_BITS = 4096
#: (depth, width) of one RAMB18 and of one RAMB36 in each aspect ratio (simple dual port).
RAMB18_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))
RAMB36_SHAPES = ((32768, 1), (16384, 2), (8192, 4), (4096, 9), (2048, 18), (1024, 36),
                 (512, 72))
#: Command queues the core has: one per instruction-executing module (`vta.isa.Module`), each
#: `command_queue_depth` instructions.
COMMAND_QUEUES = len(Module)

#: fmax anchor of each FPGA family: the clock VTA's presets run at on it (docs/dse.md), with
#: the 1×16 GEMM block they were built with, and the share of the critical path each doubling
#: of the block's reduction (BLOCK_IN) adds, one more adder level of about 25 (docs/fpga.md).
FMAX_ANCHOR_MHZ = {"xc7": 100.0, "xcup": 333.0}
FMAX_ANCHOR_LOG_BLOCK = 4
FMAX_LEVEL_SHARE = 1 / 25


def ramb_units(depth: int, width: int, granule: int | None = None) -> float:
    """RAMB36 equivalents (a RAMB18 is ½) of the cheapest tiling of a depth × width memory.
    A memory written in `granule`-bit parts narrower than its width (the loads' bus-wide
    writes) uses the data bits of each aspect ratio only (…×32, not …×36): the parity bits'
    byte enables do not line up with the granules."""
    if depth * width < LUTRAM_BITS:
        return 0.0
    data_only = granule is not None and granule < width
    candidates = [units * math.ceil(depth / d) * math.ceil(width / (w - w // 9 if data_only
                                                                    else w))
                  for units, shapes in ((0.5, RAMB18_SHAPES), (1.0, RAMB36_SHAPES))
                  for d, w in shapes]
    return min(candidates)


def memories(config: Config) -> dict[str, tuple[int, int, int | None]]:
    """(depth, width in bits, write granule in bits or None) of every on-chip memory the model
    counts as block RAM, as the
    generator builds them (docs/hardware.md): ACC in two banks by address parity; with the
    compute overlap ACC in four banks (by half and parity), OUT in two halves and the micro-op
    buffer in two copies (one per unit's read port: a block RAM has one read port beside the
    write)."""
    overlap = config.machine.overlap_kernels > 0
    shapes = {}
    for kind in (MemoryType.UOP, MemoryType.INP, MemoryType.WGT, MemoryType.ACC, MemoryType.OUT):
        parts = {MemoryType.ACC: 4 if overlap else 2,
                 MemoryType.OUT: 2 if overlap else 1}.get(kind, 1)
        copies = 2 if overlap and kind == MemoryType.UOP else 1
        granule = (config.bus_bits if kind in (MemoryType.INP, MemoryType.WGT, MemoryType.ACC)
                   else None)      # written by the tensor loads, a bus word at a time
        for part in range(parts * copies):
            shapes[f"{kind.name} {part}"] = (config.depth(kind) // parts,
                                             config.elem_bytes(kind) * 8, granule)
    machine = config.machine
    for queue in range(COMMAND_QUEUES):     # buffered FIFOs: one entry is a register
        shapes[f"command queue {queue}"] = (machine.command_queue_depth - 1, INSN_BITS, None)
    # below `LUTRAM_BITS` at the default depths (32 instructions, 4 OUT tiles)
    shapes["fetch buffer"] = (machine.fetch_buffer_depth - 1, INSN_BITS, None)
    shapes["store prefetch"] = (machine.store_prefetch_tiles, config.elem_bytes(MemoryType.OUT) * 8,
                                None)
    return shapes


def products(config: Config) -> int:
    """Multiplications the GEMM core does per cycle."""
    return config.batch * config.block_in * config.block_out


def footprint_entry_bits(config: Config) -> int:
    """Bits of one entry of the compute overlap's footprint table (`vta.hardware.footprint`): a
    LOAD UOP's range (its SRAM base and end) and the bounds of its micro-ops' indices."""
    isa = layouts(config)
    base, x_size = isa.memory["sram_base"].width, isa.memory["x_size"].width
    end = max(config.log_uop_depth, base) + x_size + 1
    index = max(isa.uop["dst_idx"].width, isa.uop["src_idx"].width)
    return base + end + 4 * index


def features(config: Config) -> dict[str, dict[str, float]]:
    """The terms of each resource's formula, by resource; the fit weighs each term."""
    pairs = 2 if config.machine.pack_multiplier_pairs else 1
    lanes = config.batch * config.block_out
    # a product's width (its adder tree, its pipeline registers; the multipliers are DSPs)
    product_bits = products(config) * (config.inp_width + config.wgt_width) / 16
    alu = lanes * config.acc_width / 32
    kernels = config.machine.overlap_kernels
    overlap = 1.0 if kernels else 0.0
    bram = sum(ramb_units(*shape) for shape in memories(config).values())
    logic = {"constant": 1.0, "products": product_bits, "alu lanes": alu,
             "alu lanes without multipliers": 0.0 if config.ALU_MUL else alu,
             "overlap": overlap, "overlap alu lanes": overlap * alu,
             "footprint table bits": kernels * footprint_entry_bits(config) / 64}
    return {
        "LUT": logic,
        "FF": dict(logic),
        "BRAM36": {"block ram": bram, "overlap": overlap},
        "DSP": {"constant": 1.0, "multipliers": math.ceil(products(config) / pairs),
                "alu multipliers": lanes if config.ALU_MUL else 0.0, "overlap": overlap},
    }


@dataclass(frozen=True)
class ResourceModel:
    """The fitted formulas of one FPGA family: coefficients by resource and term."""

    family: str
    coefficients: dict[str, dict[str, float]]

    def estimate(self, config: Config) -> dict[str, float]:
        """Estimated LUT, FF, BRAM36 and DSP use of `config`'s core."""
        terms = features(config)
        return {resource: round(max(0.0, sum(self.coefficients[resource][name] * value
                                             for name, value in terms[resource].items())), 1)
                for resource in RESOURCES}


def fit(family: str, runs: list[dict], *, reference: ResourceModel | None = None) -> ResourceModel:
    """Least-squares coefficients from Yosys `runs` ({"config": dict, "used": {resource: n}}),
    relative errors weighted alike (each row divided by its measured value). With `reference`
    (another family's model), only one factor per resource is fitted: the family's
    coefficients are the reference's times that factor (a family with few Yosys runs)."""
    configs = [Config(**run["config"]) for run in runs]
    coefficients = {}
    for resource in RESOURCES:
        names = list(features(configs[0])[resource])
        rows = np.array([[features(c)[resource][name] for name in names] for c in configs])
        measured = np.array([max(run["used"][resource], 1.0) for run in runs])
        if reference is not None:
            base = np.array([reference.coefficients[resource][name] for name in names])
            rows = (rows @ base)[:, None]
        solution, *_ = np.linalg.lstsq(rows / measured[:, None], np.ones(len(runs)), rcond=None)
        if reference is not None:
            solution = solution[0] * base
        coefficients[resource] = {name: float(value) for name, value in zip(names, solution)}
    return ResourceModel(family, coefficients)


@cache
def calibrated(family: str) -> ResourceModel:
    """The model of `family` fitted on the calibration runs held in `CALIBRATION_FILE`."""
    data = json.loads(CALIBRATION_FILE.read_text())
    return ResourceModel(family, data["models"][family])


def fmax_mhz(config: Config, family: str) -> float:
    """Estimated fmax: the family's anchor clock, lowered by one adder level of the critical
    path per doubling of BLOCK_IN past the anchor's block (an estimate, docs/dse.md)."""
    levels = math.log2(config.block_in) - FMAX_ANCHOR_LOG_BLOCK
    return FMAX_ANCHOR_MHZ[family] / (1 + FMAX_LEVEL_SHARE * levels)


def board_estimate(config: Config, board: Board) -> dict:
    """Resources, fit and fmax of `config` on `board` (JSON-ready)."""
    used = calibrated(board.yosys_family).estimate(config)
    overflows = [name for name in RESOURCES if used[name] > board.capacity[name]]
    try:
        board.check_config(config)
        port = None
    except ConfigError as error:   # the board's memory port cannot carry the bus
        port = str(error)
    utilization = max(used[name] / board.capacity[name] for name in RESOURCES)
    fmax = fmax_mhz(config, board.yosys_family)
    return {"used": used, "utilization": round(utilization, 4), "overflows": overflows,
            "port": port, "fits": not overflows and port is None,
            "fmax_mhz": round(fmax, 1), "meets_clock": config.CLOCK_MHZ <= fmax}
