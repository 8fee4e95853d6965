"""Compile an integer graph for a VTA config: partition, lay out device memory, tile and emit
every VTA layer, and collect the result as a `CompiledModel` (what a `.vtab` holds).

Device memory is planned once, at compile time, on a scratch `Device` whose allocator hands out
addresses deterministically: one page-aligned buffer per activation (halo filled), then per
layer its weight tiles, its constant tiles, and the micro-ops and instructions its command stream
built. Instructions therefore carry final addresses; running a model is writing these sections
into a fresh device and starting each layer's program.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from vta.compiler import ir
from vta.compiler.codegen import Buffers, emit_layer
from vta.compiler.layers import ConvLayer, WeightMode
from vta.compiler.packing import ActLayout, bias_input_tile, channel_tiles, identity_tile
from vta.compiler.partition import Placement, partition
from vta.compiler.schedule import CycleCost, choose
from vta.isa import Config, VtaError
from vta.runtime.device import Device
from vta.runtime.stream import CommandStream

#: Address space of the scratch device used for planning (pages are only touched when written).
PLAN_MEMORY_BYTES = 1 << 31
#: Host operators with a kernel (layout moves); anything else must run on VTA.
HOST_MOVES = (ir.Reshape, ir.Concat)


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
    """Everything needed to run a model on a device of `config` (see `artifact` for the file)."""

    name: str
    config: Config
    memory_bytes: int
    sections: list[Section]
    #: value name -> {"layout": {...}, "addr", "shape", "scale", "zero_point", "onnx_dtype"}
    values: dict[str, dict]
    #: [{"value", "onnx_name", "float"}] for graph inputs and outputs
    inputs: list[dict]
    outputs: list[dict]
    #: in execution order: {"op": "vta", "layer", "insn_addr", "insn_count"} or
    #: {"op": "move", "node", "kind": "reshape"|"concat", "inputs", "output", "axis"} or
    #: {"op": "move", "node", "kind": "im2col", "inputs", "output", "kernel", "strides",
    #: "dilations", "pads"}
    steps: list[dict]
    #: per IR node: {"name", "operator", "placement", "macs", ...}
    nodes: list[dict]
    labels: list[str] | None = None
    compile_seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def layout_json(layout: ActLayout) -> dict:
    return {"shape": list(layout.shape), "batch": layout.batch, "block": layout.block,
            "halo": list(layout.halo), "fill": layout.fill}


def layout_from_json(data: dict) -> ActLayout:
    return ActLayout(tuple(data["shape"]), data["batch"], data["block"], tuple(data["halo"]),
                     data["fill"])


def node_macs(graph: ir.Graph, node: ir.Node) -> int:
    """Multiply-accumulates of a node (convolution, dense and average pooling)."""
    out = int(np.prod(graph.values[node.output].shape))
    if isinstance(node, ir.Conv2d):
        return out * int(np.prod(node.weight.shape[1:]))
    if isinstance(node, ir.Dense):
        return out * node.weight.shape[1]
    if isinstance(node, ir.AvgPool):
        return out * node.kernel[0] * node.kernel[1]
    if isinstance(node, ir.ConvTranspose2d):
        n, channels, height, width = graph.values[node.inputs[0]].shape
        return n * channels * height * width * int(np.prod(node.weight.shape[1:]))
    return 0


class _Planner:
    def __init__(self, config: Config):
        self.device = Device(config, "functional", memory_bytes=PLAN_MEMORY_BYTES)
        self.sections: list[Section] = []

    def data(self, name: str, array: np.ndarray):
        raw = np.ascontiguousarray(array).tobytes()
        buffer = self.device.alloc(max(len(raw), 1))
        buffer.copy_in(np.frombuffer(raw, np.uint8))
        self.sections.append(Section(name, buffer.phys_addr, len(raw), data=raw))
        return buffer

    def fill(self, name: str, nbytes: int, value: int):
        buffer = self.device.alloc(nbytes)
        buffer.copy_in(np.full(nbytes, value, dtype=np.int8))
        self.sections.append(Section(name, buffer.phys_addr, nbytes, fill=value))
        return buffer


def compile_graph(graph: ir.Graph, config: Config, *,
                  progress: Callable[[str, int, int], None] | None = None,
                  im2col: bool = True) -> CompiledModel:
    """Compile `graph` for `config`; `progress(layer, done, total)` reports each layer;
    `im2col` allows lowering graph inputs' convolutions (`partition`)."""
    started = time.perf_counter()
    with CycleCost(config) as cost:
        return _compile(graph, config, progress, im2col, cost, started)


def _compile(graph: ir.Graph, config: Config, progress, im2col: bool, cost: CycleCost,
             started: float) -> CompiledModel:
    part = partition(graph, config, im2col=im2col, cost=cost)
    planner = _Planner(config)
    identity = planner.data("identity tile", identity_tile(config.block_out))
    bias_input = planner.data("bias input tile", bias_input_tile(config.batch, config.block_in))
    buffers, values = {}, {}
    unstored = {conv.output for conv in part.fused.values()}
    for name, value in graph.values.items():
        layout = part.layouts[name]
        if name in part.alias or name in unstored:
            continue
        buffers[name] = planner.fill(f"activation {name}", layout.nbytes, layout.fill)
    for name, value in graph.values.items():
        owner = part.alias.get(name, name)
        values[name] = {"layout": layout_json(part.layouts[owner]),
                        "addr": buffers[owner].phys_addr if owner in buffers else None,
                        "shape": list(value.shape),
                        "scale": value.quant.scale, "zero_point": value.quant.zero_point,
                        "onnx_dtype": value.onnx_dtype}
    for node in graph.nodes:
        if node.name in part.im2col:
            name = part.im2col[node.name]
            layout = part.layouts[name]
            buffers[name] = planner.fill(f"activation {name}", layout.nbytes, 0)
            values[name] = dict(values[node.inputs[0]], layout=layout_json(layout),
                                addr=buffers[name].phys_addr, shape=list(layout.shape))
    steps, nodes, deferred = [], [], {}
    residuals = {conv.name for conv in part.fused.values()}
    total = len(graph.nodes)
    for index, node in enumerate(graph.nodes):
        placement = part.placement[node.name]
        info = {"name": node.name, "operator": type(node).__name__, "placement": placement,
                "macs": node_macs(graph, node)}
        if placement == Placement.VTA and node.name in residuals:
            deferred[node.name] = info             # runs where its fused Add stands
        elif placement == Placement.VTA:
            info.update(_emit(planner, node, node.output, buffers, part, (identity, bias_input),
                              steps, cost))
        elif placement == Placement.FUSED:
            conv = part.fused[node.name]
            info["into"] = conv.name
            deferred[conv.name].update(_emit(planner, conv, node.output, buffers, part,
                                             (identity, bias_input), steps, cost))
        elif placement == Placement.HOST:
            if not isinstance(node, HOST_MOVES):
                reason = part.reasons.get(node.name, "no VTA layer")
                raise VtaError(f"node {node.name}: {type(node).__name__} cannot run on VTA "
                               f"({reason}) and has no host kernel")
            info["reason"] = part.reasons.get(node.name, "a layout change VTA does not do")
            steps.append({"op": "move", "node": node.name,
                          "kind": "reshape" if isinstance(node, ir.Reshape) else "concat",
                          "inputs": list(node.inputs), "output": node.output,
                          "axis": getattr(node, "axis", 0)})
        nodes.append(info)
        if progress is not None:
            progress(node.name, index + 1, total)
    allocator = planner.device.memory.allocator
    inputs = [{"value": name, "onnx_name": graph.float_inputs.get(name, name),
               "float": name in graph.float_inputs} for name in graph.inputs]
    outputs = [{"value": name, "onnx_name": graph.float_outputs.get(name, name),
                "float": name in graph.float_outputs} for name in graph.outputs]
    return CompiledModel(graph.name, config, allocator.high_water, planner.sections, values,
                         inputs, outputs, steps, nodes,
                         compile_seconds=time.perf_counter() - started)


def _im2col_step(node: ir.Conv2d, output: str) -> dict:
    return {"op": "move", "node": node.name, "kind": "im2col", "inputs": list(node.inputs[:1]),
            "output": output, "kernel": list(node.weight.shape[2:]),
            "strides": list(node.strides), "dilations": list(node.dilations),
            "pads": list(node.pads)}


def _emit(planner: _Planner, node: ir.Node, output: str, buffers, part, shared, steps,
          cost: CycleCost) -> dict:
    """Tile and emit the layer of `node`, storing into `output`; its node information."""
    config = planner.device.config
    layer = part.layers[node.name]
    info = {}
    if node.name in part.im2col:
        steps.append(_im2col_step(node, part.im2col[node.name]))
        info["lowering"] = "im2col"
    if isinstance(layer, ConvLayer) and layer.residual is not None:
        info["fused"] = "residual add"
    plan, estimate = choose(layer, config, cost)
    weights = constants = bias_weights = None
    if isinstance(layer, ConvLayer) and layer.mode != WeightMode.IDENTITY:
        weights = planner.data(f"{node.name} weights", layer.weights)
    if isinstance(layer, ConvLayer) and layer.bias_tiles is not None:
        bias_weights = planner.data(f"{node.name} bias tiles", layer.bias_tiles)
    if layer.constants:
        constants = planner.data(f"{node.name} constants",
                                 channel_tiles(layer.constants, layer.output.shape[1], config))
    stream = CommandStream(planner.device)
    identity, bias_input = shared
    count = emit_layer(stream, plan, Buffers([buffers[s] for s in part.sources(node)],
                                             buffers[output], weights, constants, identity,
                                             bias_weights, bias_input))
    before = planner.device.memory.allocator.high_water
    image = stream.build()
    after = planner.device.memory.allocator.high_water
    raw = planner.device.dram[before:after].tobytes()
    planner.sections.append(Section(f"{node.name} micro-ops and instructions", before,
                                    after - before, data=raw))
    steps.append({"op": "vta", "layer": node.name, "insn_addr": image.insn_addr,
                  "insn_count": image.insn_count})
    return info | {"tiling": dataclasses.asdict(plan.tiling),
                   "estimated_cycles": int(estimate), "instructions": image.insn_count,
                   "compute_instructions": count, "kind": type(layer).__name__,
                   "mode": getattr(layer, "mode", None)}

