"""Fusing a residual Add or a MaxPool into the VTA layer of the convolution that feeds it, and a
residual Add's strided 1×1 shortcut into the same layer (see `partition`'s docstring)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from vta.compiler import ir
from vta.compiler.alu_program import AluStep, Register, monotone, run_steps
from vta.compiler.layers import (ConvLayer, Imm, Pool, Reg, Residual, Shortcut, VtaLayer,
                                 WeightMode, gemm_copied_epilogue)
from vta.compiler.node_layers import bias_step, convert_steps
from vta.compiler.placement import Partition, Placement
from vta.compiler.schedule import CycleCost, choose
from vta.compiler.sram_plan import feasible
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
    reach = _reach(producer)
    offset = 0
    if layer.bias_tiles is not None or producer.name in part.im2col_bias:   # in the GEMM
        offset = producer.folded_bias().astype(np.int64)
    steps = _alu_steps(layer.epilogue, layer.constants)
    return producer if monotone(steps, offset - reach, offset + reach) else None


def _reach(conv: ir.Conv2d) -> np.ndarray:
    """Per output channel, a bound on |Σ weight · x| over int8 inputs x."""
    return 128 * np.abs(conv.weight.astype(np.int64)).sum(axis=(1, 2, 3))


def _alu_steps(steps: list, constants: list[np.ndarray]) -> list[AluStep]:
    """A layer's steps as `AluStep`s (per-channel operands from `constants`)."""
    return [AluStep(step.op, np.int64(step.operand.value) if isinstance(step.operand, Imm)
                    else Register(step.operand.index) if isinstance(step.operand, Reg)
                    else constants[step.operand.index], step.register)
            for step in steps]


def cycle_floor(layer: VtaLayer, config: Config) -> int:
    """A lower bound on the cycles of `layer` run as a layer of its own, whatever its tiling:
    its MACs at the GEMM core's peak and, for a convolution without a fused pool or phases,
    its requantization's ALU executions (every output vector goes through its epilogue, or
    through the shorter one where the GEMM unit takes over the copy), each unit doing at most
    one execution per cycle."""
    gemm = -(-getattr(layer, "macs", 0) // config.derived()["macs_per_cycle"])
    if not isinstance(layer, ConvLayer) or layer.pool is not None or layer.phases \
            or layer.upsample != (1, 1):
        return gemm
    copied = gemm_copied_epilogue(layer)
    steps = len(layer.epilogue) if copied is None else min(len(layer.epilogue),
                                                           len(copied.steps))
    rows, cols = layer.grid_size                      # as `tiling.tiles` covers them
    vectors = layer.output.batch_blocks * layer.output.channel_blocks * rows * cols
    return max(gemm, vectors * steps)


@dataclass
class Fusion:
    """A fusion that fits in SRAM: the layer of node `gone` merges into that of `conv` as
    `fused` (`apart`: the two layers it replaces). `into` is the partition's map that records
    it (`Partition.fused` or `Partition.shortcuts`), `residual_input` the fused layer's new
    residual input, if it has one."""

    conv: ir.Node
    gone: ir.Node
    fused: VtaLayer
    apart: list[VtaLayer]
    into: dict
    residual_input: str | None = None

    def apply(self, part: Partition) -> None:
        part.layers[self.conv.name] = self.fused
        del part.layers[self.gone.name]
        part.placement[self.gone.name] = Placement.FUSED
        self.into[self.gone.name] = self.conv
        if self.residual_input is not None:
            part.residual_inputs[self.conv.name] = self.residual_input


def apply_paying(fusions: list[Fusion], part: Partition, config: Config,
                 cost: CycleCost | None) -> None:
    """Apply those of `fusions` that pay: all of them without `cost`; with it, those the cycle
    model times faster than their layers apart. The fused layers are timed in one batch with
    the partition's layers that no fusion replaces (they are timed anyway, and one batch keeps
    the process pool busy); the layers apart only where their `cycle_floor`s leave the decision
    open, again in one batch."""
    if cost is not None and fusions:
        replaced = {id(layer) for fusion in fusions for layer in fusion.apart}
        cost.prefetch([fusion.fused for fusion in fusions]
                      + [layer for layer in part.layers.values() if id(layer) not in replaced])
        fused = [choose(fusion.fused, config, cost)[1] for fusion in fusions]
        floors = [sum(cycle_floor(layer, config) for layer in fusion.apart)
                  for fusion in fusions]
        cost.prefetch([layer for fusion, cycles, floor in zip(fusions, fused, floors)
                       if cycles >= floor for layer in fusion.apart])
        fusions = [fusion for fusion, cycles, floor in zip(fusions, fused, floors)
                   if cycles < floor or cycles < sum(choose(layer, config, cost)[1]
                                                     for layer in fusion.apart)]
    for fusion in fusions:
        fusion.apply(part)


def pool_fusion(conv: ir.Node, pool: ir.MaxPool, part: Partition, config: Config
                ) -> Fusion | None:
    """MaxPool `pool` fused into the layer of `conv`, where it fits in SRAM. (Whole rows of
    windows may need more SRAM than tiles do; and the rows under a tile's windows are
    recomputed by the next tile, which can cost more than the requantization of the unpooled
    tiles saves: `apply_paying` decides.)"""
    layer, pool_layer = part.layers[conv.name], part.layers[pool.name]
    pool_spec = Pool(pool_layer.kernel, pool_layer.strides, pool_layer.pads,
                     part.layouts[pool.output])
    fused = replace(layer, pool=pool_spec)
    return Fusion(conv, pool, fused, [layer, pool_layer], part.fused) \
        if feasible(fused, config) else None


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


def fuse_add(conv: ir.Node, add: ir.Add, part: Partition, config: Config) -> bool:
    """Fuse Add `add` into the layer of `conv` where the other operand's window fits in SRAM;
    True where it did."""
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
        return False
    part.layers[conv.name] = fused
    del part.layers[add.name]
    part.placement[add.name] = Placement.FUSED
    part.fused[add.name] = conv
    part.residual_inputs[conv.name] = add.inputs[1 - first]
    return True


def shortcut_conv(graph: ir.Graph, conv: ir.Node, part: Partition) -> ir.Conv2d | None:
    """The convolution producing the other operand of the residual Add fused into `conv`
    where it can compute that operand in place (`Shortcut`): a dense 1×1 convolution without
    padding used nowhere else."""
    other = part.residual_inputs.get(conv.name)
    node = graph.producer(other) if other is not None else None
    if not (isinstance(node, ir.Conv2d) and part.placement[node.name] == Placement.VTA
            and node.name not in part.im2col and other not in graph.outputs
            and len(graph.consumers(other)) == 1):
        return None
    layer = part.layers[node.name]
    if not (isinstance(layer, ConvLayer) and layer.mode == WeightMode.DENSE
            and layer.kernel == (1, 1) and layer.pads == (0, 0, 0, 0) and layer.parts == 1
            and layer.weights_from is None and layer.pool is None and layer.residual is None
            and not layer.input.channels_last and not layer.output.channels_last):
        return None
    return node


def shortcut_fusion(conv: ir.Node, shortcut: ir.Conv2d, part: Partition, config: Config
                    ) -> Fusion | None:
    """The operand of the residual Add fused into `conv` computed in place by its producer
    `shortcut` (`Shortcut`), where that is the value the shortcut would store and the layer
    fits in SRAM (whether it pays, `apply_paying` decides).

    The operand is the shortcut's epilogue (its bias, its requantization) on its accumulators,
    as an int32 in ACC; the stored value is its low INP-width bits, which the Add's identity
    copy would read back. The two agree where the epilogue maps every accumulator within
    reach into the INP range: it is monotone (`alu_program.monotone`) and maps the two ends
    of the reach inside."""
    layer, short_layer = part.layers[conv.name], part.layers[shortcut.name]
    out_shape = part.graph.values[shortcut.output].shape
    constants = list(layer.constants)
    epilogue = bias_step(shortcut.folded_bias(), constants) \
        + convert_steps(shortcut.requant.steps, out_shape, constants)
    steps, reach = _alu_steps(epilogue, constants), _reach(shortcut)
    lowest, highest = -(1 << (config.inp_width - 1)), (1 << (config.inp_width - 1)) - 1
    if not (monotone(steps, -reach, reach) and np.all(run_steps(steps, -reach) >= lowest)
            and np.all(run_steps(steps, reach) <= highest)):
        return None
    residual = replace(layer.residual, other=short_layer.input,
                       shortcut=Shortcut(shortcut.name, short_layer.input, short_layer.strides,
                                         short_layer.weights, epilogue))
    fused = replace(layer, constants=constants, residual=residual,
                    macs=layer.macs + short_layer.macs)
    return Fusion(conv, shortcut, fused, [layer, short_layer], part.shortcuts,
                  shortcut.inputs[0]) if feasible(fused, config) else None
