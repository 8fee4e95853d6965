"""A compiled model in memory: what a `.vtab` holds (`artifact` writes and reads it, the
`executor` runs it). Nothing here imports onnx, onnxruntime or amaranth."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vta.compiler.packing import ActLayout
from vta.isa import Config


@dataclass
class Section:
    """A range of device memory: `data` to copy in, or `fill` to set every byte to."""

    name: str
    addr: int
    nbytes: int
    data: bytes | None = None
    fill: int = 0


@dataclass
class CompiledModel:
    """Everything needed to run a model on a device of `config` (see `artifact` for the file).

    `values`: value name -> {"shape", "onnx_dtype", "scale" and "zero_point" (quantized values,
    else None), "layout" and "addr" (values in device memory, else None; a layout without an
    address is a value only a fused layer's accumulator holds)}.
    `inputs`/`outputs`: [{"value", "onnx_name"}], the graph's inputs and outputs in order.
    `steps`, in execution order: {"op": "vta", "layer", "insn_addr", "insn_count"}, a device
    move {"op": "move", "node", "kind": "reshape"|"concat"|"im2col", "inputs", "output", ...}
    or a host node {"op": "host", "node", "kind", "inputs", "outputs", ...} (`host_steps`).
    `constants`: the host's constant tensors: "value:NAME" for a constant value of the graph,
    "step:…" for the arrays of a host step. `nodes`: per graph node {"name", "operator", "placement", "macs",
    ...} — what the placement report shows.
    """

    name: str
    config: Config
    memory_bytes: int
    sections: list[Section]
    values: dict[str, dict]
    inputs: list[dict]
    outputs: list[dict]
    steps: list[dict]
    nodes: list[dict]
    constants: dict[str, np.ndarray] = field(default_factory=dict)
    labels: list[str] | None = None
    compile_seconds: float = 0.0      # measured by compile_graph; not stored in the .vtab


def layout_json(layout: ActLayout) -> dict:
    """The layout in the .vtab header ("channels_last" only where true)."""
    data = {"shape": list(layout.shape), "batch": layout.batch, "block": layout.block,
            "halo": list(layout.halo), "fill": layout.fill}
    if layout.channels_last:
        data["channels_last"] = True
    if layout.lanes and layout.lanes != layout.block:
        data["lanes"] = layout.lanes
    return data


def layout_from_json(data: dict) -> ActLayout:
    return ActLayout(tuple(data["shape"]), data["batch"], data["block"], tuple(data["halo"]),
                     data["fill"], data.get("channels_last", False), data.get("lanes", 0))
