"""The Pareto front as a table, a plot (PNG and SVG) and JSON."""

from __future__ import annotations

from pathlib import Path

from vta.dse.sweep import PointResult

COLUMNS = ("config", "bus", "MHz", "latency ms", "energy uJ", "util", "LUT", "FF", "BRAM36",
           "DSP", "fmax", "accuracy", "VTA MACs")


def rows(front: list[PointResult], board: str) -> list[list[str]]:
    table = []
    for result in front:
        objectives = result.objectives(board)
        used = result.resources[board]["used"]
        shares = [m["vta_mac_share"] for m in result.models.values()]
        table.append([result.config.config_string, str(result.config.bus_bits),
                      f"{result.config.CLOCK_MHZ:g}", f"{objectives['latency_ms']:.3f}",
                      f"{objectives['energy_uj']:.1f}", f"{objectives['utilization']:.0%}",
                      f"{used['LUT']:,.0f}", f"{used['FF']:,.0f}", f"{used['BRAM36']:g}",
                      f"{used['DSP']:,.0f}", f"{result.resources[board]['fmax_mhz']:g}",
                      f"{objectives['accuracy']:.3f}", f"{min(shares):.1%}"])
    return table


def table(front: list[PointResult], board: str) -> str:
    """The front as fixed-width text: latency and energy are geometric means over the models,
    accuracy their mean, VTA MACs the lowest share over the models."""
    body = rows(front, board)
    widths = [max(len(cell) for cell in column) for column in zip(COLUMNS, *body)]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(line, widths))
             for line in [list(COLUMNS), *body]]
    return "\n".join(lines)


def plot(results: list[PointResult], front: list[PointResult], board: str,
         folder: Path) -> list[Path]:
    """Latency against energy of every point, the front highlighted, colour = utilization of
    `board`; written as front.png and front.svg."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def points(chosen):
        objectives = [r.objectives(board) for r in chosen if not r.errors]
        return ([o["latency_ms"] for o in objectives], [o["energy_uj"] for o in objectives],
                [o["utilization"] for o in objectives])

    figure, axes = plt.subplots(figsize=(7, 4.5))
    x, y, colour = points(results)
    cloud = axes.scatter(x, y, c=colour, cmap="viridis", s=14, alpha=0.6, label="points")
    fx, fy, _ = points(front)
    axes.scatter(fx, fy, facecolors="none", edgecolors="red", s=60, label="Pareto front")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("latency, ms (geometric mean over the models)")
    axes.set_ylabel("energy per inference, µJ (estimate)")
    axes.set_title(f"VTA design points on {board}")
    figure.colorbar(cloud, label=f"highest resource use on {board}")
    axes.legend(loc="best")
    figure.tight_layout()
    paths = [folder / "front.png", folder / "front.svg"]
    for path in paths:
        figure.savefig(path)
    plt.close(figure)
    return paths
