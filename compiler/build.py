"""Compile a graph for a VTA config: partition, lay out device memory, tile and emit every VTA
layer, write every host node as a host step, and collect the result as a `CompiledModel` (what a
`.vtab` holds).

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

import numpy as np

from vta.compiler import host_steps, ir
from vta.compiler.codegen import emit_layer
from vta.compiler.layer_emitter import Buffers
from vta.compiler.layers import ConvLayer, WeightMode
from vta.compiler.macs import node_macs
from vta.compiler.model import CompiledModel, Section, layout_json
from vta.compiler.packing import bias_input_tile, channel_tiles, identity_tile
from vta.compiler.partition import partition
from vta.compiler.placement import Placement
from vta.compiler.schedule import CycleCost, choose
from vta.compiler.subtiles import SubTiles, activation_block
from vta.isa import Config, MemoryType
from vta.isa.elements import pack
from vta.runtime.device import Device
from vta.runtime.memory import Buffer
from vta.runtime.stream import CommandStream

#: Address space of the scratch device used for planning (pages are only touched when written).
PLAN_MEMORY_BYTES = 1 << 31
class _Planner:
    def __init__(self, config: Config):
        self.device = Device(config, "functional", memory_bytes=PLAN_MEMORY_BYTES)
        self.sections: list[Section] = []
        #: bits of the INP (and OUT) and WGT values the sections hold
        self.bits = {MemoryType.INP: config.inp_width, MemoryType.WGT: config.wgt_width}

    def data(self, name: str, array: np.ndarray, kind: MemoryType | None = None):
        """A section holding `array`: INP or WGT tiles (`kind`) packed at their config's width
        (isa-reference §2), anything else as its bytes."""
        if kind is not None:
            array = pack(np.ravel(array), self.bits[kind])
        raw = np.ascontiguousarray(array).tobytes()
        buffer = self.device.alloc(max(len(raw), 1))
        buffer.copy_in(np.frombuffer(raw, np.uint8))
        self.sections.append(Section(name, buffer.phys_addr, len(raw), data=raw))
        return buffer

    def activation(self, name: str, layout: ActLayout, value: int):
        """A section for an activation of `layout`, every value `value`."""
        bits = self.bits[MemoryType.INP]
        nbytes = layout.nbytes * bits // 8
        byte = int(pack(np.full(8 // bits, value), bits)[0])
        buffer = self.device.alloc(nbytes)
        buffer.copy_in(np.full(nbytes, byte, dtype=np.uint8))
        self.sections.append(Section(name, buffer.phys_addr, nbytes,
                                     fill=value if bits == 8 else byte))
        return buffer


def compile_graph(graph: ir.Graph, config: Config, *,
                  progress: Callable[[str, int, int], None] | None = None,
                  im2col: bool = True, timed: bool = True,
                  workers: int | None = None, cost: CycleCost | None = None) -> CompiledModel:
    """Compile `graph` for `config`; `progress(layer, done, total)` reports each layer;
    `im2col` allows lowering graph inputs' convolutions (`partition`). `timed`: choose each
    layer's tiling by timing the cost model's shortlist on the cycle model (else take the cost
    model's best: much faster, and its cycles are the cost model's estimate); `workers`:
    processes timing tilings at once (default one per core); `cost`: the `CycleCost` to time
    with (the caller's, e.g. started before the model's import; it stays open)."""
    started = time.perf_counter()
    if cost is not None:
        return _compile(graph, config, progress, im2col, cost if timed else None, started)
    with CycleCost(config, workers) as cost:
        return _compile(graph, config, progress, im2col, cost if timed else None, started)


def _compile(graph: ir.Graph, config: Config, progress, im2col: bool, cost: CycleCost | None,
             started: float) -> CompiledModel:
    part = partition(graph, config, im2col=im2col, cost=cost)
    if cost is not None:
        cost.prefetch(list(part.layers.values()))
    planner = _Planner(config)
    sub, block = SubTiles.of(config), activation_block(config)
    identity = planner.data("identity tile", sub.weight_tiles(identity_tile(block), config),
                            MemoryType.WGT)
    bias_input = planner.data("bias input tile", bias_input_tile(config.batch, block,
                                                              config.inp_width),
                              MemoryType.INP)
    values, buffers = _values(graph, part, planner)
    for node in graph.nodes:
        if node.name in part.im2col:
            name = part.im2col[node.name]
            layout = part.layouts[name]
            buffers[name] = planner.activation(f"activation {name}", layout, 0)
            values[name] = dict(values[node.inputs[0]], layout=layout_json(layout),
                                addr=buffers[name].phys_addr, shape=list(layout.shape))
    for node in graph.nodes:
        if node.name in part.staged:
            name = part.staged[node.name]
            layout = part.layouts[name]
            values[name] = dict(values[node.output], layout=layout_json(layout),
                                addr=buffers[name].phys_addr, shape=list(layout.shape))
    steps, nodes, deferred = [], [], {}
    constants = {f"value:{name}": array for name, array in graph.constants.items()}
    residuals = {conv.name for conv in part.fused.values()}
    total = len(graph.nodes)
    for index, node in enumerate(graph.nodes):
        placement = part.placement[node.name]
        operator = node.op_type if isinstance(node, ir.HostOp) else type(node).__name__
        if getattr(node, "activation", None) or getattr(node, "product", False):
            operator = node.activation if isinstance(node, ir.Requantization) else "Mul"
        if getattr(node, "upsample", False):
            operator = "Resize"
        if isinstance(node, ir.Table):
            operator = node.operator
        info = {"name": node.name, "operator": operator, "placement": str(placement),
                "macs": node_macs(graph, node)}
        if placement == Placement.VTA and node.name in residuals:
            deferred[node.name] = info             # runs where its fused Add stands
        elif placement == Placement.VTA:
            info.update(_emit(planner, node, node.output, buffers, part, (identity, bias_input),
                              steps, cost))
        elif placement == Placement.FUSED and node.name in part.folded:
            info["into"] = part.folded[node.name]      # computed lane by lane by the Concat
        elif placement == Placement.FUSED and node.name in part.shortcuts:
            info["into"] = part.shortcuts[node.name].name   # computed by its residual's layer
        elif placement == Placement.FUSED:
            conv = part.fused[node.name]
            info["into"] = conv.name
            deferred[conv.name].update(_emit(planner, conv, node.output, buffers, part,
                                             (identity, bias_input), steps, cost))
        elif placement == Placement.HOST:
            info["reason"] = part.reasons.get(node.name, "")
            if node.name in part.moves:
                steps.append({"op": "move", "node": node.name,
                              "kind": "reshape" if isinstance(node, ir.Reshape) else "concat",
                              "inputs": list(node.inputs), "output": node.output,
                              "axis": getattr(node, "axis", 0)})
            else:
                steps.append(host_steps.encode(node, constants))
        nodes.append(info)
        if progress is not None:
            progress(node.name, index + 1, total)
    allocator = planner.device.memory.allocator
    inputs = [{"value": name, "onnx_name": name} for name in graph.inputs]
    outputs = [{"value": name, "onnx_name": name} for name in graph.outputs]
    return CompiledModel(graph.name, config, allocator.high_water, planner.sections, values,
                         inputs, outputs, steps, nodes, constants, graph.labels,
                         compile_seconds=time.perf_counter() - started)


def _values(graph: ir.Graph, part, planner: _Planner) -> tuple[dict[str, dict], dict]:
    """(every value's description, its device buffer by value): a buffer (halo filled) for each
    device value that is stored (not an alias of another, nor held only by a fused layer's
    accumulator); a Concat's input is the part of its output's buffer that holds its channel
    blocks (`Partition.slices`) — of a staged Concat's staging buffer, which gets a buffer of
    its own."""
    unstored = {conv.output for conv in part.fused.values()} | {
        node.output for node in graph.nodes if node.name in part.folded
        or node.name in part.shortcuts}
    buffers = {}
    for name in graph.values:
        if name in part.device and name not in part.alias and name not in unstored \
                and name not in part.slices:
            layout = part.layouts[name]
            buffers[name] = planner.activation(f"activation {name}", layout, layout.fill)
    for name in part.staged.values():
        layout = part.layouts[name]
        buffers[name] = planner.activation(f"activation {name}", layout, layout.fill)
    bits = planner.bits[MemoryType.INP]
    for name, (holder, offset) in part.slices.items():
        whole = buffers[holder]
        buffers[name] = Buffer(whole.memory, whole.phys_addr + offset * bits // 8,
                               part.layouts[name].nbytes * bits // 8)
    values = {}
    for name, value in graph.values.items():
        owner = part.alias.get(name, name)
        device = name in part.device
        values[name] = {"shape": list(value.shape), "onnx_dtype": value.onnx_dtype,
                        "scale": value.quant.scale if value.quantized else None,
                        "zero_point": value.quant.zero_point if value.quantized else None,
                        "layout": layout_json(part.layouts[name]) if device else None,
                        "addr": buffers[owner].phys_addr if owner in buffers else None}
    return values, buffers


def _im2col_step(node: ir.Conv2d, part) -> dict:
    """The host's im2col of a lowered convolution's windows, then the constant lanes that
    carry its bias (`Partition.im2col_bias`), if any, at every position."""
    step = {"op": "move", "node": node.name, "kind": "im2col", "inputs": list(node.inputs[:1]),
            "output": part.im2col[node.name], "kernel": list(node.weight.shape[2:]),
            "strides": list(node.strides), "dilations": list(node.dilations),
            "pads": list(node.pads)}
    if node.name in part.im2col_bias:
        step["constant_lanes"] = part.im2col_bias[node.name][0].tolist()
    return step


def _emit(planner: _Planner, node: ir.Node, output: str, buffers, part, shared, steps,
          cost: CycleCost | None) -> dict:
    """Tile and emit the layer of `node`, storing into `output`; its node information."""
    config = planner.device.config
    sub = SubTiles.of(config)
    layer = part.layers[node.name]
    info = {}
    if node.name in part.im2col:
        steps.append(_im2col_step(node, part))
        info["lowering"] = "im2col"
    if isinstance(layer, ConvLayer) and layer.residual is not None:
        info["fused"] = "residual add" if layer.residual.shortcut is None else \
            f"residual add, shortcut {layer.residual.shortcut.name}"
    plan, estimate = choose(layer, config, cost)
    weights = constants = bias_weights = None
    if isinstance(layer, ConvLayer) and layer.weights_from is not None:
        weights = buffers[layer.weights_from]
    elif isinstance(layer, ConvLayer) and layer.mode != WeightMode.IDENTITY:
        weights = planner.data(f"{node.name} weights", sub.weight_tiles(layer.weights, config),
                               MemoryType.WGT)
    if isinstance(layer, ConvLayer) and layer.bias_tiles is not None:
        bias_weights = planner.data(f"{node.name} bias tiles",
                                    sub.weight_tiles(layer.bias_tiles, config), MemoryType.WGT)
    shortcut = layer.residual.shortcut if isinstance(layer, ConvLayer) \
        and layer.residual is not None else None
    shortcut_weights = None if shortcut is None else planner.data(
        f"{shortcut.name} weights", sub.weight_tiles(shortcut.weights, config), MemoryType.WGT)
    if layer.constants:
        constants = planner.data(f"{node.name} constants",
                                 channel_tiles(layer.constants, layer.output.shape[1], config))
    stream = CommandStream(planner.device)
    identity, bias_input = shared
    count = emit_layer(stream, plan, Buffers([buffers[s] for s in part.sources(node)],
                                             buffers[output], weights, constants, identity,
                                             bias_weights, bias_input, shortcut_weights))
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

