"""The HTML report of one inference (`vta run --report report.html`): one self-contained file
(inline style and SVG, no script, nothing fetched) with the run's summary, per-layer cycles and
utilization, the roofline plot of the layers, the placement table and the config.

Needs a backend that counts cycles, and matplotlib for the plot (``pyvta[compiler]``).
"""

from __future__ import annotations

import html
import importlib.util

from vta.compiler.executor import Result
from vta.compiler.model import CompiledModel
from vta.compiler.report import placement_report
from vta.isa import VtaError

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 2px 8px; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f0f0f0; }
svg { max-width: 100%; height: auto; }
"""


def html_report(model: CompiledModel, result: Result, backend: str) -> str:
    """The report's HTML text; `result` is one inference of `model` on `backend`."""
    from vta.runtime.roofline import plot_roofline, roofline

    if result.cycles is None:
        raise VtaError(f"the HTML report needs a backend that counts cycles, not {backend}")
    if importlib.util.find_spec("matplotlib") is None:
        raise VtaError("the HTML report's roofline plot needs matplotlib "
                       "(pip install 'pyvta[compiler]')")
    config = model.config
    layers = [(name, roofline(config, report)) for name, report in result.reports]
    plot = plot_roofline(config, layers, "svg").decode()
    plot = plot[plot.index("<svg"):]                 # without the XML prolog and doctype
    placement = placement_report(model, result.host_times)
    seconds = result.cycles / (config.CLOCK_MHZ * 1e6)
    summary = [("model", model.name), ("backend", backend), ("config", config.model_string),
               ("clock", f"{config.CLOCK_MHZ:g} MHz"), ("VTA layer runs", len(result.reports)),
               ("VTA cycles", f"{result.cycles:,}"), ("VTA time", f"{seconds * 1e3:.3f} ms"),
               ("host time", f"{result.host_seconds * 1e3:.3f} ms (this machine)"),
               ("MACs on VTA", f"{100 * placement['summary']['vta_mac_share']:.2f} %")]
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>pyvta run report: {_text(model.name)}</title><style>{STYLE}</style></head>",
        f"<body><h1>Run of {_text(model.name)}</h1>",
        _table(None, summary, id="summary"),
        "<h2>Layers</h2>",
        _table(("layer", "cycles", "ms", "GEMM utilization", "MACs/cycle", "DRAM bytes",
                "bound", "load busy", "compute busy", "store busy"),
               [(name, f["cycles"], f"{f['seconds'] * 1e3:.4f}",
                 f"{100 * f['gemm_utilization']:.1f} %", f"{f['macs_per_cycle']:.2f}",
                 f["dram_bytes"], f["bound"],
                 *(f"{100 * f['busy_share'].get(module, 0):.0f} %"
                   for module in ("load", "compute", "store")))
                for name, f in layers], id="layers"),
        "<h2>Roofline</h2>", f'<figure id="roofline">{plot}</figure>',
        "<h2>Placement</h2>",
        _table(("node", "operator", "placement", "MACs", "estimated cycles", "host µs",
                "why not on VTA"),
               [(n["name"], n["operator"], n["placement"], n["macs"], n["cycles"] or "",
                 "" if n["host_seconds"] is None else f"{n['host_seconds'] * 1e6:.0f}",
                 n["reason"] or (f"fused into {n['into']}" if n.get("into") else ""))
                for n in placement["nodes"]], id="placement"),
        "<h2>Configuration</h2>",
        _table(("key", "value"), [*config.to_dict().items(), *config.derived().items()],
               id="config"),
        "</body></html>",
    ]
    return "\n".join(parts)


def _text(value) -> str:
    return html.escape(str(value))


def _table(header, rows, *, id: str) -> str:
    cells = [] if header is None else ["".join(f"<th>{_text(title)}</th>" for title in header)]
    for row in rows:
        cells.append("".join(
            f'<td class="number">{value}</td>' if isinstance(value, (int, float))
            and not isinstance(value, bool) else f"<td>{_text(value)}</td>" for value in row))
    body = "".join(f"<tr>{cell}</tr>" for cell in cells)
    return f'<table id="{id}">{body}</table>'
