"""What a compiled model tells its user: where operators and MACs run, top-k classes, labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

#: ONNX metadata keys that may hold class names (a JSON list or one name per line).
LABEL_KEYS = ("labels", "classes", "class_names")


def shares(nodes: list[dict]) -> dict:
    """Counts and MAC shares by placement ("vta", "host"; "alias" and "fused" = folded into a
    VTA layer)."""
    total_macs = sum(node["macs"] for node in nodes) or 1
    vta = [n for n in nodes if n["placement"] == "vta"]
    host = [n for n in nodes if n["placement"] == "host"]
    folded = [n for n in nodes if n["placement"] in ("alias", "fused")]
    return {"operators": len(nodes), "vta_operators": len(vta), "host_operators": len(host),
            "folded_operators": len(folded),
            "vta_mac_share": sum(n["macs"] for n in vta) / total_macs,
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


def top_classes(output: np.ndarray, k: int, labels: list[str] | None):
    """[(index, score, label)] of the k largest entries of the first sample."""
    scores = np.asarray(output, dtype=np.float64).reshape(output.shape[0], -1)[0]
    order = np.argsort(-scores, kind="stable")[:k]
    return [(int(i), float(scores[i]), labels[i] if labels and i < len(labels) else "")
            for i in order]


def model_labels(path: Path) -> list[str] | None:
    """Class names from the ONNX model's metadata, if it carries them."""
    import onnx
    model = onnx.load(str(path), load_external_data=False)
    for prop in model.metadata_props:
        if prop.key in LABEL_KEYS:
            try:
                names = json.loads(prop.value)
            except ValueError:
                names = prop.value.splitlines()
            if isinstance(names, list):
                return [str(name) for name in names]
    return None
