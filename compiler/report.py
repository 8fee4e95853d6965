"""What a compiled model tells its user: where operators and MACs run (the placement report of
`vta compile --report/--json`), top-k classes with their labels."""

from __future__ import annotations

import numpy as np


def shares(nodes: list[dict]) -> dict:
    """Counts and MAC shares by placement ("vta", "host"; "alias" and "fused" = folded into a
    VTA layer, so their MACs, a fused shortcut convolution's, run on VTA)."""
    total_macs = sum(node["macs"] for node in nodes) or 1
    vta = [n for n in nodes if n["placement"] == "vta"]
    host = [n for n in nodes if n["placement"] == "host"]
    folded = [n for n in nodes if n["placement"] in ("alias", "fused")]
    return {"operators": len(nodes), "vta_operators": len(vta), "host_operators": len(host),
            "folded_operators": len(folded),
            "vta_mac_share": sum(n["macs"] for n in vta + folded) / total_macs,
            "macs": sum(node["macs"] for node in nodes),
            "host": [f"{n['operator']} {n['name']} ({n.get('reason', '')})" for n in host]}


def share_summary(nodes: list[dict]) -> str:
    s = shares(nodes)
    lines = [f"{s['vta_operators']} of {s['operators']} operators on VTA, "
             f"{s['folded_operators']} folded into a VTA layer (flatten, fused Add or "
             f"MaxPool), {s['host_operators']} on the host; {100 * s['vta_mac_share']:.2f} % of "
             f"{s['macs'] / 1e6:.1f} M MACs on VTA"]
    lines += [f"  host: {entry}" for entry in s["host"]]
    return "\n".join(lines)


def placement_report(model, host_times: dict[str, float] | None = None) -> dict:
    """The placement report as one JSON-able document: per node where it runs, why not on VTA,
    its MACs and cycles (VTA) or measured seconds (host); the summary's shares and times.
    `host_times`: seconds per host node of one inference (`Result.host_times`), if measured."""
    nodes = []
    for node in model.nodes:
        entry = {"name": node["name"], "operator": node["operator"],
                 "placement": node["placement"], "macs": node["macs"],
                 "cycles": node.get("estimated_cycles"), "host_seconds": None,
                 "reason": node.get("reason")}
        if node["placement"] == "fused":
            entry["reason"] = None
            entry["into"] = node.get("into")
        if node["placement"] == "host":
            entry["host_seconds"] = (host_times or {}).get(node["name"])
        nodes.append(entry)
    s = shares(model.nodes)
    cycles = sum(n["cycles"] or 0 for n in nodes)
    counted = s["operators"] or 1
    summary = {
        "operators": s["operators"], "vta_operators": s["vta_operators"],
        "folded_operators": s["folded_operators"], "host_operators": s["host_operators"],
        "vta_operator_share": (s["vta_operators"] + s["folded_operators"]) / counted,
        "macs": s["macs"], "vta_macs": sum(n["macs"] for n in nodes if n["placement"] == "vta"),
        "vta_mac_share": s["vta_mac_share"], "vta_cycles": cycles,
        "vta_seconds": cycles / (model.config.CLOCK_MHZ * 1e6),
        "host_seconds": None if host_times is None else sum(host_times.values()),
    }
    return {"model": model.name, "config": model.config.model_string,
            "clock_mhz": model.config.CLOCK_MHZ, "nodes": nodes, "summary": summary}


def measured_host_times(model) -> dict[str, float] | None:
    """Seconds of each host node in one inference on the functional backend, with synthetic
    inputs (normal floats, zero integers), the second of two (the first builds the index maps
    of device values); None where such a run fails."""
    from vta.compiler.executor import Executor
    from vta.isa import VtaError
    rng = np.random.default_rng(0)
    feeds = {}
    for entry in model.inputs:
        info = model.values[entry["value"]]
        dtype = np.dtype(info["onnx_dtype"])
        feeds[entry["onnx_name"]] = (rng.standard_normal(info["shape"]).astype(dtype)
                                     if dtype.kind == "f" else np.zeros(info["shape"], dtype))
    try:
        executor = Executor(model)
        executor.run(feeds)
        return executor.run(feeds).host_times
    except VtaError:
        return None


def format_report(report: dict) -> str:
    """The placement report as a table, one line per node, and its summary."""
    width = min(max((len(n["name"]) for n in report["nodes"]), default=4), 48)
    lines = [f"{'node':{width}}  {'operator':24} {'where':6} {'MACs':>12} {'cycles':>10} "
             f"{'host µs':>9}  why not on VTA"]
    for node in report["nodes"]:
        cycles = "" if node["cycles"] is None else str(node["cycles"])
        host = "" if node["host_seconds"] is None else f"{node['host_seconds'] * 1e6:.0f}"
        why = node["reason"] or (f"fused into {node['into']}" if node.get("into") else "")
        lines.append(f"{node['name'][-width:]:{width}}  {node['operator'][:24]:24} "
                     f"{node['placement']:6} {node['macs']:12d} {cycles:>10} {host:>9}  {why}")
    s = report["summary"]
    host = ("not measured" if s["host_seconds"] is None
            else f"{s['host_seconds'] * 1e3:.2f} ms per inference on this machine")
    lines += [
        f"{s['vta_operators']} of {s['operators']} operators on VTA and {s['folded_operators']} "
        f"folded into VTA layers ({100 * s['vta_operator_share']:.1f} %), "
        f"{s['host_operators']} on the host",
        f"{100 * s['vta_mac_share']:.2f} % of {s['macs'] / 1e6:.2f} M MACs on VTA; "
        f"VTA {s['vta_cycles']} cycles ({s['vta_seconds'] * 1e3:.3f} ms at "
        f"{report['clock_mhz']:g} MHz); host {host}"]
    return "\n".join(lines)


def top_classes(output: np.ndarray, k: int, labels: list[str] | None):
    """[(index, score, label)] of the k largest entries of the first sample."""
    scores = np.asarray(output, dtype=np.float64).reshape(output.shape[0], -1)[0]
    order = np.argsort(-scores, kind="stable")[:k]
    return [(int(i), float(scores[i]), labels[i] if labels and i < len(labels) else "")
            for i in order]
