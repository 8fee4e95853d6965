"""Where a run's time goes, for any backend that counts cycles: module utilisation, GEMM
utilisation, DRAM traffic and bandwidth, and the run's place on the roofline of its config
(peak GEMM MACs per cycle against one bus word of DRAM traffic per cycle)."""

from __future__ import annotations

from vta.isa import Config
from vta.isa.program import PROFILE_COUNTERS
from vta.runtime.backends import RunReport

#: Counters of the DRAM bytes a run moves (data: loads and stores; instructions not included).
TRAFFIC_COUNTERS = tuple(name for name in PROFILE_COUNTERS if name.endswith("_nbytes"))


def roofline(config: Config, report: RunReport) -> dict:
    """Figures of one run; the report must come from a backend that counts cycles."""
    if not report.cycles:
        raise ValueError(f"the {report.backend} backend does not count cycles")
    cycles = report.cycles
    peak_macs = config.batch * config.block_in * config.block_out
    macs = report.counters["gemm_counter"] * peak_macs
    dram_bytes = sum(report.counters[name] for name in TRAFFIC_COUNTERS)
    intensity = macs / dram_bytes if dram_bytes else float("inf")
    ridge = peak_macs / config.bus_bytes
    attainable = min(peak_macs, intensity * config.bus_bytes)
    seconds = cycles / (config.CLOCK_MHZ * 1e6)
    return {
        "cycles": cycles,
        "seconds": seconds,
        "macs": macs,
        "macs_per_cycle": macs / cycles,
        "peak_macs_per_cycle": peak_macs,
        "gemm_utilization": macs / (cycles * peak_macs),
        "dram_bytes": dram_bytes,
        "bandwidth_bytes_per_second": dram_bytes / seconds,
        "peak_bandwidth_bytes_per_second": config.bus_bytes * config.CLOCK_MHZ * 1e6,
        "intensity_macs_per_byte": intensity,
        "ridge_macs_per_byte": ridge,
        "bound": "compute" if intensity >= ridge else "memory",
        "attainable_macs_per_cycle": attainable,
        "efficiency": (macs / cycles) / attainable if attainable else 0.0,
        "busy_share": {name: figures.get("busy", 0) / cycles
                       for name, figures in report.modules.items()},
        "stall_share": {name: figures["stall"] / cycles
                        for name, figures in report.modules.items() if "stall" in figures},
    }


def format_report(figures: dict) -> str:
    """A short text report of `roofline` figures."""
    lines = [f"cycles {figures['cycles']:,} ({figures['seconds'] * 1e3:.3f} ms)",
             f"GEMM {figures['macs_per_cycle']:.1f} of {figures['peak_macs_per_cycle']} MACs/cycle "
             f"({figures['gemm_utilization'] * 100:.1f} % utilization); intensity "
             f"{figures['intensity_macs_per_byte']:.2f} MACs/byte, ridge "
             f"{figures['ridge_macs_per_byte']:.2f}: {figures['bound']}-bound, "
             f"{figures['efficiency'] * 100:.0f} % of the attainable "
             f"{figures['attainable_macs_per_cycle']:.1f} MACs/cycle",
             f"DRAM {figures['dram_bytes']:,} bytes, "
             f"{figures['bandwidth_bytes_per_second'] / 1e6:.1f} MB/s of "
             f"{figures['peak_bandwidth_bytes_per_second'] / 1e6:.0f} MB/s",
             "busy: " + ", ".join(f"{name} {share * 100:.0f} %"
                                  for name, share in figures["busy_share"].items()),
             "stall: " + ", ".join(f"{name} {share * 100:.0f} %"
                                   for name, share in figures["stall_share"].items())]
    return "\n".join(lines)


def plot_roofline(config: Config, points: list[tuple[str, dict]], file_format: str) -> bytes:
    """The plot (png, svg or pdf) of runs (label, `roofline` figures) against the config's
    compute ceiling and bus bandwidth slope."""
    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    peak = config.batch * config.block_in * config.block_out
    intensities = [f["intensity_macs_per_byte"] for _, f in points if f["macs"]]
    low = min([peak / config.bus_bytes / 8, *intensities]) / 2
    high = max([peak / config.bus_bytes * 8, *intensities]) * 2
    figure, axes = plt.subplots(figsize=(7, 4.5))
    ridge = peak / config.bus_bytes
    axes.plot([low, ridge, high], [low * config.bus_bytes, peak, peak], color="black",
              label=f"ceilings: {peak} MACs/cycle, {config.bus_bytes} bytes/cycle")
    for label, figures in points:
        if figures["macs"]:
            axes.scatter(figures["intensity_macs_per_byte"], figures["macs_per_cycle"], s=18)
            axes.annotate(label, (figures["intensity_macs_per_byte"], figures["macs_per_cycle"]),
                          fontsize=6, xytext=(3, 3), textcoords="offset points")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("arithmetic intensity (MACs per DRAM byte)")
    axes.set_ylabel("achieved MACs per cycle")
    axes.set_title(f"roofline of {config.model_string} ({config.CLOCK_MHZ:g} MHz)")
    axes.legend(loc="lower right", fontsize=7)
    axes.grid(True, which="both", linewidth=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):     # SVG text stays text
        figure.savefig(buffer, format=file_format)
    plt.close(figure)
    return buffer.getvalue()
