"""The VTA layer (`layers`) of one node placed on VTA (`describe`), its ALU steps made from the
IR's requantization steps (`convert_steps`)."""

from __future__ import annotations

import numpy as np

from vta.compiler import conv_transpose, ir
from vta.compiler import layouts as value_layouts
from vta.compiler.alu_program import IMM_MAX, INT32_MAX, INT32_MIN, AluStep, Register
from vta.compiler.layers import (AddLayer, Const, ConvLayer, Imm, MaxPoolLayer, Phase, Reg, Step,
                                 VtaLayer, WeightMode)
from vta.compiler.packing import (ActLayout, bias_weight_tiles, dense_weight_tiles,
                                  diagonal_weight_tiles, expand_groups, identity_tile,
                                  weight_parts)
from vta.compiler.placement import Partition
from vta.compiler.subtiles import activation_block
from vta.isa import AluOp, Config, VtaError


class Unsupported(VtaError):
    """This node cannot run on VTA; it runs on the host."""


def channel_operand(operand: np.ndarray, shape: tuple[int, ...],
                    channels_last: bool = False) -> int | np.ndarray:
    """A step operand as an immediate (uniform) or a vector along the channels (axis 1, or the
    last); Unsupported if it varies along other axes."""
    operand = np.asarray(operand, dtype=np.int64)
    if operand.ndim == 0:
        return int(operand)
    full = np.broadcast_to(operand, (1,) + tuple(shape[1:]) if len(shape) > 1 else shape)
    per_channel = np.moveaxis(full, -1 if channels_last else 1, 0).reshape(full.shape[
        -1 if channels_last else 1], -1)
    if np.any(per_channel != per_channel[:, :1]):
        raise Unsupported("requantization operand varies by position")
    return per_channel[:, 0]


def convert_steps(steps, shape, constants: list[np.ndarray], channels_last: bool = False
                  ) -> list[Step]:
    """`AluStep`s as layer steps: a constant operand as an immediate (uniform and narrow enough)
    or a per-channel constant tile (appended to `constants`), a register as a register."""
    result = []
    for step in steps:
        if isinstance(step.operand, Register):
            result.append(Step(step.op, Reg(step.operand.index), step.register))
            continue
        operand = channel_operand(step.operand, shape, channels_last)
        if isinstance(operand, int) and step.immediate:
            result.append(Step(step.op, Imm(operand), step.register))
        else:
            channels = shape[-1] if channels_last or len(shape) == 1 else shape[1]
            constants.append(np.broadcast_to(np.asarray(operand, dtype=np.int64), (channels,)))
            result.append(Step(step.op, Const(len(constants) - 1), step.register))
    return result


def bias_step(bias: np.ndarray | int, constants: list[np.ndarray]) -> list[Step]:
    """ALU ADD of a bias: an immediate when uniform and small, else per-channel tiles."""
    bias = np.asarray(bias, dtype=np.int64)
    if bias.ndim == 0 or np.all(bias == bias.ravel()[0]):
        value = int(bias.ravel()[0])
        if value == 0:
            return []
        if abs(value) <= IMM_MAX:
            return [Step(AluOp.ADD, Imm(value))]
    constants.append(bias)
    return [Step(AluOp.ADD, Const(len(constants) - 1))]


def bias_by_gemm(bias: np.ndarray, constants: list[np.ndarray], config: Config):
    """(epilogue steps, bias tiles): a per-channel bias is added by one GEMM (1 cycle per
    output tile) where its tiles reach it, else by the ALU (`bias_step`, 2 cycles)."""
    steps = bias_step(bias, constants)
    if not steps or isinstance(steps[0].operand, Imm):
        return steps, None
    tiles = bias_weight_tiles(np.asarray(bias), activation_block(config), config.inp_width,
                              config.wgt_width)
    if tiles is None:
        return steps, None
    constants.pop()
    return [], tiles


def window_pads(node, graph) -> tuple[int, int, int, int]:
    """Pads extended at the end so every (ceil-mode) window lies inside (as the reference)."""
    _, _, h, w = graph.values[node.inputs[0]].shape
    oh, ow = graph.values[node.output].shape[2:]
    dilations = getattr(node, "dilations", (1, 1))
    top, left, bottom, right = node.pads
    need_h = (oh - 1) * node.strides[0] + (node.kernel[0] - 1) * dilations[0] + 1
    need_w = (ow - 1) * node.strides[1] + (node.kernel[1] - 1) * dilations[1] + 1
    return top, left, max(bottom, need_h - h - top), max(right, need_w - w - left)


def describe(node: ir.Node, part: Partition, config: Config) -> VtaLayer:
    """The VTA layer of one node."""
    graph, layouts = part.graph, part.layouts
    for name, last in value_layouts.required(node, graph, config.batch):
        if name not in part.alias and layouts[name].channels_last != last:
            raise Unsupported(f"{name!r} is laid out for another operator")
    output = layouts[node.output]
    block = activation_block(config)
    out_shape = graph.values[node.output].shape
    constants: list[np.ndarray] = []
    if isinstance(node, ir.Conv2d) and node.name in part.im2col:
        parts, weight = weight_parts(node.weight.reshape(node.weight.shape[0], -1, 1, 1))
        if node.name in part.im2col_bias:          # the bias rides on constant input lanes
            lane_weights = part.im2col_bias[node.name][1]
            bias = np.zeros((len(weight), lane_weights.shape[1], parts, 1), dtype=np.int8)
            bias[:, :, 0, 0] = lane_weights         # in the first part only
            weight = np.concatenate([weight, bias], axis=1)
            epilogue = convert_steps(node.requant.steps, out_shape, constants)
            bias_tiles = None
        else:
            epilogue, bias_tiles = _epilogue(node, out_shape, constants, config)
        return ConvLayer(name=node.name, input=layouts[part.im2col[node.name]], output=output,
                         mode=WeightMode.DENSE, weights=dense_weight_tiles(weight, block),
                         parts=parts, epilogue=epilogue, constants=constants,
                         bias_tiles=bias_tiles,
                         macs=int(np.prod(out_shape)) * int(np.prod(node.weight.shape[1:])))
    if isinstance(node, ir.Conv2d):
        x = layouts[node.inputs[0]]
        parts, weight = weight_parts(node.weight)
        diagonal = diagonal_weight_tiles(weight, node.groups, x.shape[1], block) \
            if node.groups > 1 else None
        if diagonal is not None:
            mode, tiles = WeightMode.DIAGONAL, diagonal
        else:
            if node.groups > 1:
                weight = expand_groups(weight, node.groups, x.shape[1])
            mode, tiles = WeightMode.DENSE, dense_weight_tiles(weight, block)
        epilogue, bias_tiles = _epilogue(node, out_shape, constants, config)
        return ConvLayer(name=node.name, input=x, output=output, kernel=node.weight.shape[2:],
                         strides=node.strides, dilations=node.dilations, pads=node.pads,
                         mode=mode, weights=tiles, parts=parts, epilogue=epilogue,
                         constants=constants, bias_tiles=bias_tiles,
                         macs=int(np.prod(out_shape)) * int(np.prod(node.weight.shape[1:])))
    if isinstance(node, ir.ConvTranspose2d):
        return _transposed_layer(node, part, config)
    if isinstance(node, ir.Dense):
        x, weight = _dense_input(node, part, config)
        parts, weight = weight_parts(weight)
        epilogue, bias_tiles = _epilogue(node, out_shape, constants, config, output.channels_last)
        return ConvLayer(name=node.name, input=x, output=output, mode=WeightMode.DENSE,
                         weights=dense_weight_tiles(weight, block), parts=parts,
                         epilogue=epilogue, constants=constants, bias_tiles=bias_tiles,
                         macs=int(np.prod(out_shape)) * node.weight.shape[1] // node.copies)
    if isinstance(node, ir.AvgPool):
        taps = node.kernel[0] * node.kernel[1]
        epilogue = bias_step(-node.input_zero_point * taps, constants)
        epilogue += convert_steps(node.requant.steps, out_shape, constants)
        return ConvLayer(name=node.name, input=layouts[node.inputs[0]], output=output,
                         kernel=node.kernel, strides=node.strides,
                         pads=window_pads(node, graph), mode=WeightMode.IDENTITY,
                         weights=identity_tile(block), epilogue=epilogue, constants=constants,
                         macs=int(np.prod(out_shape)) * taps)
    if isinstance(node, ir.Requantization):
        source = layouts[node.inputs[0]]
        if source.shape != output.shape or source.channels_last != output.channels_last:
            raise Unsupported(f"its input is laid out as {source.shape}"
                              f"{' channels-last' if source.channels_last else ''}, its output "
                              f"as {output.shape}{' channels-last' if output.channels_last else ''}")
        epilogue = bias_step(-node.input_zero_point, constants)
        epilogue += convert_steps(node.requant.steps, out_shape, constants, output.channels_last)
        return ConvLayer(name=node.name, input=layouts[node.inputs[0]], output=output,
                         mode=WeightMode.IDENTITY, weights=identity_tile(block),
                         epilogue=epilogue, constants=constants)
    if isinstance(node, ir.MaxPool):
        return MaxPoolLayer(name=node.name, input=layouts[node.inputs[0]], output=output,
                            kernel=node.kernel, strides=node.strides, dilations=node.dilations,
                            pads=window_pads(node, graph))
    if isinstance(node, ir.Add):
        a, b = (layouts[name] for name in node.inputs)
        broadcast = node.product and a.shape != b.shape
        if broadcast and (len(b.shape) != 4 or b.shape[2:] != (1, 1) or b.channels_last
                          or output.channels_last):
            raise Unsupported("a gate broadcast over a channels-last tensor")
        if (a.shape != b.shape and not broadcast) or a.shape != output.shape:
            raise Unsupported("Add of differently shaped tensors (broadcasting)")
        last = output.channels_last
        steps_a = convert_steps(node.input_steps[0], out_shape, constants, last)
        steps_b = convert_steps(node.input_steps[1], out_shape, constants, last)
        epilogue = convert_steps(node.requant.steps, out_shape, constants, last)
        return AddLayer(name=node.name, a=a, b=b, output=output, steps_a=steps_a,
                        steps_b=steps_b, epilogue=epilogue, constants=constants,
                        macs=int(np.prod(out_shape)),
                        combine=AluOp.MUL if node.product else AluOp.ADD,
                        broadcast=broadcast)
    if isinstance(node, ir.MatMul):
        return _product_layer(node, part, config)
    if isinstance(node, ir.Concat) and node.name in part.staged:
        return _staged_concat_layer(node, part, config)
    raise Unsupported(f"{type(node).__name__} has no VTA layer")


def _product_layer(node: ir.MatMul, part: Partition, config: Config) -> ConvLayer:
    """A product of two activations as a Dense whose weight tiles are the device buffer of its
    second operand, written at run time (`layouts.weight_operands`)."""
    graph, block = part.graph, activation_block(config)
    if config.batch != 1 or config.inp_width != config.wgt_width:
        raise Unsupported("a product of two activations needs a config of batch 1 and equal "
                          "input and weight widths")
    weights = part.layouts[node.inputs[1]]
    if weights.halo != (0, 0, 0, 0) or node.inputs[1] in part.alias:
        raise Unsupported(f"weights {node.inputs[1]!r} are shared with another layout")
    columns, width = graph.values[node.inputs[1]].shape
    out_shape = graph.values[node.output].shape
    constants: list[np.ndarray] = []
    epilogue = bias_step(node.constant, constants)
    epilogue += convert_steps(node.requant.steps, out_shape, constants, True)
    tiles = np.zeros((weights.batch_blocks, weights.channel_blocks, 1, 1, block, block), np.int8)
    return ConvLayer(name=node.name, input=part.layouts[node.inputs[0]],
                     output=part.layouts[node.output], mode=WeightMode.DENSE, weights=tiles,
                     weights_from=node.inputs[1], epilogue=epilogue, constants=constants,
                     macs=int(np.prod(out_shape)) * node.contraction)


def _staged_concat_layer(node: ir.Concat, part: Partition, config: Config) -> ConvLayer:
    """A Concat whose inputs lie in channel blocks of their own of one staging buffer (an
    input ends inside a block): a 1×1 convolution over that buffer whose weight moves each
    input's lanes to its channels of the output (lane c of an input's block b to output channel
    offset + b·block + c), so that acc is the int8 value the staging buffer holds. Where the
    Requantizations producing some inputs are folded into the layer (`Partition.folded`: the
    buffer holds their inputs), the epilogue is their programs lane by lane — the bias
    −input_zero_point, then the programs' steps merged into one sequence (`merged_sequence`),
    every lane's operand from its input's program where the step is one of its own, else the
    step's identity (MUL 1, SHR 0, ADD 0, MAX −2^31, MIN 2^31 − 1)."""
    graph, block = part.graph, activation_block(config)
    staging = part.layouts[part.staged[node.name]]
    output = part.layouts[node.output]
    out_shape = graph.values[node.output].shape
    weight = np.zeros((output.shape[1], staging.shape[1], 1, 1), dtype=np.int8)
    bias = np.zeros(out_shape[1], dtype=np.int64)
    programs = []
    first_block = offset = 0
    for name in node.inputs:
        channels = graph.values[name].shape[1]
        lanes = np.arange(channels)
        weight[offset + lanes, first_block * block + lanes] = 1
        producer = graph.producer(name)
        if producer is not None and producer.name in part.folded:
            bias[offset:offset + channels] = -producer.input_zero_point
            programs.append((offset, channels, producer.requant.steps))
            name = producer.inputs[0]
        offset += channels
        first_block += part.layouts[name].channel_blocks
    constants: list[np.ndarray] = []
    epilogue, bias_tiles = [], None
    if programs:
        epilogue, bias_tiles = bias_by_gemm(bias, constants, config)
        sequence = []
        for _, _, steps in programs:
            sequence = merged_sequence(sequence, [step.op for step in steps])
        operands = np.array([np.full(out_shape[1], _IDENTITY[op], dtype=np.int64)
                             for op in sequence])
        for start, channels, steps in programs:
            shape = (1, channels) + tuple(out_shape[2:])
            for index, step in zip(embedding(sequence, [step.op for step in steps]), steps):
                operands[index, start:start + channels] = channel_operand(step.operand, shape)
        merged = [AluStep(op, operand.reshape((-1,) + (1,) * (len(out_shape) - 2)))
                  for op, operand in zip(sequence, operands)]
        epilogue += convert_steps(merged, out_shape, constants)
    return ConvLayer(name=node.name, input=staging, output=output, mode=WeightMode.DENSE,
                     weights=dense_weight_tiles(weight, block), epilogue=epilogue,
                     constants=constants, bias_tiles=bias_tiles)


#: An ALU step that leaves every int32 as it is, by operation.
_IDENTITY = {AluOp.MUL: 1, AluOp.SHR: 0, AluOp.ADD: 0, AluOp.MAX: INT32_MIN, AluOp.MIN: INT32_MAX}


def merged_sequence(a: list, b: list) -> list:
    """A shortest sequence of which both `a` and `b` are subsequences (dynamic programming
    over the two: ALU programs are a few steps long)."""
    rows, cols = len(a), len(b)
    length = [[0] * (cols + 1) for _ in range(rows + 1)]
    for i in range(rows - 1, -1, -1):
        for j in range(cols - 1, -1, -1):
            length[i][j] = length[i + 1][j + 1] + 1 if a[i] == b[j] else \
                max(length[i + 1][j], length[i][j + 1])
    merged, i, j = [], 0, 0
    while i < rows and j < cols:
        if a[i] == b[j]:
            merged.append(a[i])
            i, j = i + 1, j + 1
        elif length[i + 1][j] >= length[i][j + 1]:
            merged.append(a[i])
            i += 1
        else:
            merged.append(b[j])
            j += 1
    return merged + a[i:] + b[j:]


def embedding(sequence: list, part: list) -> list[int]:
    """Positions in `sequence` of the items of its subsequence `part`, leftmost first."""
    positions, index = [], 0
    for item in part:
        while sequence[index] != item:
            index += 1
        positions.append(index)
        index += 1
    return positions


def lower_transposed(node: ir.ConvTranspose2d, graph: ir.Graph) -> conv_transpose.Lowering:
    """The lowering of a transposed convolution (`conv_transpose.lower`), or Unsupported."""
    try:
        return conv_transpose.lower(node, graph.values[node.inputs[0]].shape,
                                    graph.values[node.output].shape)
    except conv_transpose.NotLowerable as error:
        raise Unsupported(str(error)) from None


def _transposed_layer(node: ir.ConvTranspose2d, part: Partition, config: Config) -> ConvLayer:
    """A transposed convolution as one stride-1 convolution per output phase
    (`conv_transpose`): one bias for all phases where theirs agree (added as a convolution's),
    else a per-channel ALU ADD per phase."""
    graph, block = part.graph, activation_block(config)
    lowering = lower_transposed(node, graph)
    out_shape = graph.values[node.output].shape
    constants: list[np.ndarray] = []
    shared = all(np.array_equal(bias, lowering.biases[0]) for bias in lowering.biases)
    bias_tiles, epilogue = None, []
    if shared:
        epilogue, bias_tiles = bias_by_gemm(lowering.biases[0], constants, config)
    phases, first_tap = [], 0
    biases = iter(lowering.biases)
    for row in lowering.rows:
        for col in lowering.cols:
            bias = next(biases)
            if not shared:
                constants.append(bias.astype(np.int64))
            kernel = (len(row.kernel_indices), len(col.kernel_indices))
            phases.append(Phase(row.phase, col.phase, kernel, (row.first_row, col.first_row),
                                first_tap, None if shared else Const(len(constants) - 1)))
            first_tap += kernel[0] * kernel[1]
    epilogue += convert_steps(node.requant.steps, out_shape, constants)
    parts, weights = weight_parts(lowering.weights)
    n, channels, height, width = graph.values[node.inputs[0]].shape
    return ConvLayer(name=node.name, input=part.layouts[node.inputs[0]],
                     output=part.layouts[node.output], kernel=lowering.kernel,
                     pads=lowering.pads, mode=WeightMode.DENSE,
                     weights=dense_weight_tiles(weights, block), epilogue=epilogue,
                     constants=constants, bias_tiles=bias_tiles, upsample=tuple(node.strides),
                     phases=tuple(phases), parts=parts,
                     macs=n * height * width * channels * int(np.prod(node.weight.shape[1:])))


def _epilogue(node: ir.Conv2d | ir.Dense, out_shape, constants: list[np.ndarray],
              config: Config, channels_last: bool = False):
    """(ALU steps, bias tiles) of a convolution or Dense: its bias (`bias_by_gemm`), then its
    requantization."""
    steps, bias_tiles = bias_by_gemm(node.folded_bias(), constants, config)
    return steps + convert_steps(node.requant.steps, out_shape, constants,
                                 channels_last), bias_tiles


def _dense_input(node: ir.Dense, part: Partition, config: Config):
    """(input layout as N × K' × 1 × 1, (M, K', 1, 1) weights) — K' the packed tiles of the
    input, so a flattened image is read in place (weights permuted, halo/padding weights 0)."""
    name = node.inputs[0]
    source = part.alias[name] if name in part.flattened else None
    block = activation_block(config)
    m, k = node.weight.shape
    if source is None:
        x = part.layouts[name]
        return x, node.weight.reshape(m, k, 1, 1)
    image = part.layouts[source]
    n, c, h, w = image.shape
    if c * h * w != k:
        raise Unsupported("Reshape to Dense does not flatten C×H×W")
    virtual = ActLayout((n, image.channel_blocks * image.channel_block_tiles * block, 1, 1),
                        config.batch, block)
    channel, y, xx = np.meshgrid(np.arange(c), np.arange(h), np.arange(w), indexing="ij")
    position = image.tile_offset(0, channel // block, y + image.halo[0], xx + image.halo[1]) \
        * block + channel % block
    weight = np.zeros((m, virtual.shape[1]), dtype=node.weight.dtype)
    weight[:, position.ravel()] = node.weight
    return virtual, weight.reshape(m, -1, 1, 1)
