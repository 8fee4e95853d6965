"""Where a run's time goes: module utilisation, bus occupancy and its place on the roofline
of the config (peak GEMM MACs per cycle against one bus word per cycle of DRAM traffic)."""

from __future__ import annotations

from vta.isa import Config

from vta.simulator.cycle.model import CycleReport


def roofline(config: Config, counters: dict, report: CycleReport) -> dict:
    """Figures of one run; `counters` are the seven counters of the functional simulator."""
    cycles = report.cycles
    peak_macs = config.batch * config.block_in * config.block_out
    macs = counters["gemm_counter"] * peak_macs
    dram_bytes = (report.bus["read_beats"] + report.bus["write_beats"]) * config.bus_bytes
    intensity = macs / dram_bytes if dram_bytes else float("inf")
    ridge = peak_macs / config.bus_bytes
    attainable = min(peak_macs, intensity * config.bus_bytes)
    return {
        "cycles": cycles,
        "seconds": cycles / (config.CLOCK_MHZ * 1e6),
        "macs": macs,
        "macs_per_cycle": macs / cycles,
        "peak_macs_per_cycle": peak_macs,
        "dram_bytes": dram_bytes,
        "intensity_macs_per_byte": intensity,
        "ridge_macs_per_byte": ridge,
        "bound": "compute" if intensity >= ridge else "memory",
        "attainable_macs_per_cycle": attainable,
        "efficiency": (macs / cycles) / attainable if attainable else 0.0,
        "read_occupancy": report.bus["read_beats"] / cycles,
        "write_occupancy": report.bus["write_beats"] / cycles,
        "busy_share": {name: figures["busy"] / cycles for name, figures in report.modules.items()},
    }


def format_report(figures: dict) -> str:
    """A short text report of `roofline` figures."""
    lines = [f"cycles {figures['cycles']:,} ({figures['seconds'] * 1e3:.3f} ms)",
             f"GEMM {figures['macs_per_cycle']:.1f} of {figures['peak_macs_per_cycle']} MACs/cycle; "
             f"intensity {figures['intensity_macs_per_byte']:.2f} MACs/byte, ridge "
             f"{figures['ridge_macs_per_byte']:.2f}: {figures['bound']}-bound, "
             f"{figures['efficiency'] * 100:.0f} % of the attainable "
             f"{figures['attainable_macs_per_cycle']:.1f} MACs/cycle",
             f"bus: read {figures['read_occupancy'] * 100:.0f} %, write "
             f"{figures['write_occupancy'] * 100:.0f} % of cycles",
             "busy: " + ", ".join(f"{name} {share * 100:.0f} %"
                                  for name, share in figures["busy_share"].items())]
    return "\n".join(lines)
