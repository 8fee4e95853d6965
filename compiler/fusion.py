"""Fusing a residual Add or a MaxPool into the VTA layer of the convolution that feeds it (see
`partition`'s docstring)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from vta.compiler import ir
from vta.compiler.alu_program import AluStep, Register, monotone
from vta.compiler.layers import Imm, Pool, Reg, Residual
from vta.compiler.node_layers import convert_steps
from vta.compiler.placement import Partition, Placement
from vta.compiler.schedule import CycleCost, choose
from vta.compiler.tiling import feasible
from vta.isa import Config


def poolable_conv(graph: ir.Graph, node: ir.Node, part: Partition) -> ir.Node | None:
    """The convolution feeding MaxPool `node` whose requantization commutes with the pooling."""
    if not isinstance(node, ir.MaxPool) or part.placement[node.name] != Placement.VTA \
            or tuple(node.dilations) != (1, 1):
        return None
    producer = graph.producer(node.inputs[0])
    if not (isinstance(producer, ir.Conv2d) and part.placement[producer.name] == Placement.VTA
            and producer.output not in graph.outputs
            and len(graph.consumers(producer.output)) == 1):
        return None
    layer = part.layers[producer.name]
    reach = 128 * np.abs(producer.weight.astype(np.int64)).sum(axis=(1, 2, 3))
    offset = 0
    if layer.bias_tiles is not None:
        offset = producer.folded_bias().astype(np.int64)
    steps = [AluStep(step.op, np.int64(step.operand.value) if isinstance(step.operand, Imm)
                     else Register(step.operand.index) if isinstance(step.operand, Reg)
                     else layer.constants[step.operand.index], step.register)
             for step in layer.epilogue]
    return producer if monotone(steps, offset - reach, offset + reach) else None


def fuse_pool(conv: ir.Node, pool: ir.MaxPool, part: Partition, config: Config,
              cost: CycleCost | None) -> None:
    """Fuse MaxPool `pool` into the layer of `conv` where it fits in SRAM and (with `cost`)
    the cycle model times the fused layer faster than the two."""
    layer, pool_layer = part.layers[conv.name], part.layers[pool.name]
    pool_spec = Pool(pool_layer.kernel, pool_layer.strides, pool_layer.pads,
                     part.layouts[pool.output])
    fused = replace(layer, pool=pool_spec)
    # Whole rows of windows may need more SRAM than tiles do; and the rows under a tile's
    # windows are recomputed by the next tile, which can cost more than the requantization of
    # the unpooled tiles saves (ResNet-18's stem with power-of-two scales).
    if not feasible(fused, config):
        return
    if cost is not None:
        cost.prefetch([fused, layer, pool_layer])
    if cost is not None and choose(fused, config, cost)[1] >= (
            choose(layer, config, cost)[1] + choose(pool_layer, config, cost)[1]):
        return
    part.layers[conv.name] = fused
    del part.layers[pool.name]
    part.placement[pool.name] = Placement.FUSED
    part.fused[pool.name] = conv


def fusable_conv(graph: ir.Graph, node: ir.Node, part: Partition) -> ir.Node | None:
    """The convolution producing an operand of Add `node` that can be fused with it."""
    if not isinstance(node, ir.Add) or part.placement[node.name] != Placement.VTA \
            or node.inputs[0] == node.inputs[1] or node.product:
        return None
    for name in node.inputs:
        producer = graph.producer(name)
        if (isinstance(producer, ir.Conv2d) and part.placement[producer.name] == Placement.VTA
                and name not in graph.outputs and len(graph.consumers(name)) == 1):
            return producer
    return None


def fuse_add(conv: ir.Node, add: ir.Add, part: Partition, config: Config) -> None:
    """Fuse Add `add` into the layer of `conv` where the other operand's window fits in SRAM."""
    layer, add_layer = part.layers[conv.name], part.layers[add.name]
    first = 0 if add.inputs[0] == conv.output else 1
    steps = (add.input_steps[first], add.input_steps[1 - first])
    out_shape = part.graph.values[add.output].shape
    constants = list(layer.constants)
    residual = Residual(add_layer.b if first == 0 else add_layer.a,
                        convert_steps(steps[0], out_shape, constants),
                        convert_steps(steps[1], out_shape, constants),
                        convert_steps(add.requant.steps, out_shape, constants))
    fused = replace(layer, constants=constants, residual=residual,
                    output=part.layouts[add.output])
    if not feasible(fused, config):      # the other operand's window needs more SRAM
        return
    part.layers[conv.name] = fused
    del part.layers[add.name]
    part.placement[add.name] = Placement.FUSED
    part.fused[add.name] = conv
    part.residual_inputs[conv.name] = add.inputs[1 - first]
