"""Partitioning: which IR nodes run on VTA (and as which `layers` kind), which on the host, and
the packed layout (with halo) of every value.

Every operator VTA can express runs there: convolutions of any group structure, Dense, average
and max pooling, residual Add, requantization, and products of two activations (their second
operand, prepared by the host, is read as weight tiles). A Reshape that flattens an image for Dense
costs nothing: the Dense weights are permuted to read the image's packed tiles directly. Nodes
VTA cannot take (Concat, a Reshape feeding anything but Dense, requantization operands that vary
by position, or a padding value no producer can provide) run on the host.

A residual Add whose operand is produced by a convolution used nowhere else is fused into that
convolution: the sum is formed in ACC right after the convolution's requantization, so the
convolution's int8 result is never stored. The Add's placement is FUSED; the convolution's
layer runs where the Add stood, once both operands exist. A MaxPool fed by a convolution used
nowhere else is fused the same way: it pools the accumulators before the requantization, which
commutes with it when every step is monotone and never wraps over the accumulators' reach
(`alu_program.monotone`), so only the pooled tiles are requantized; given the cycle model, only
where that is faster than the two layers.

A convolution that reads a graph input with few channels (the stem's 3) wastes most of the GEMM
array on channel padding: 3 of 16 lanes per tap. When lowering cuts its GEMM work at least
`IM2COL_GAIN` times, it reads the im2col of its windows instead — (N, C·KH·KW, OH, OW), gathered
by the host right after it packs the input — as a 1×1 convolution over C·KH·KW channels.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace

import numpy as np

from vta.compiler import conv_transpose, ir
from vta.compiler import layouts as value_layouts
from vta.compiler.alu_program import IMM_MAX, AluStep, Register, monotone
from vta.compiler.layers import (AddLayer, Const, ConvLayer, Imm, MaxPoolLayer, Phase, Pool, Reg,
                                 Residual, Step, VtaLayer, WeightMode)
from vta.compiler.packing import (ActLayout, bias_weight_tiles, dense_weight_tiles,
                                  diagonal_weight_tiles, expand_groups, identity_tile,
                                  is_block_diagonal)
from vta.compiler.schedule import CycleCost, choose
from vta.compiler.tiling import feasible
from vta.isa import AluOp, Config, VtaError

#: Least factor by which lowering a graph input's convolution to im2col must cut its GEMM work.
IM2COL_GAIN = 2


class Placement(enum.StrEnum):
    """Where a node runs."""

    #: a VTA layer of its own
    VTA = "vta"
    #: nowhere: its output shares its input's DRAM buffer (a flatten read in place by Dense)
    ALIAS = "alias"
    #: inside the VTA layer of the convolution producing its input (`Partition.fused`)
    FUSED = "fused"
    #: on the host
    HOST = "host"


@dataclass
class Partition:
    graph: ir.Graph
    layouts: dict[str, ActLayout]
    #: value -> the value whose DRAM buffer it shares (a flatten is free)
    alias: dict[str, str]
    placement: dict[str, Placement]
    layers: dict[str, VtaLayer] = field(default_factory=dict)
    #: node name -> why it runs on the host
    reasons: dict[str, str] = field(default_factory=dict)
    #: convolution node name -> the value holding the im2col of its input (see the docstring)
    im2col: dict[str, str] = field(default_factory=dict)
    #: Add or MaxPool node name -> the convolution node whose layer it is fused into
    fused: dict[str, ir.Node] = field(default_factory=dict)
    #: convolution node name -> the other operand of the Add fused into it
    residual_inputs: dict[str, str] = field(default_factory=dict)
    #: values in device memory (`device_values`)
    device: set[str] = field(default_factory=set)
    #: host Reshape/Concat nodes done as one gather between device buffers
    moves: set[str] = field(default_factory=set)
    #: flattened images a Dense reads in place (aliases read through their image's layout)
    flattened: set[str] = field(default_factory=set)
    #: value -> (the Concat output whose buffer holds it, byte offset): inputs of a Concat
    #: along the channels, written straight into their channel blocks (`_concat_slices`)
    slices: dict[str, tuple[str, int]] = field(default_factory=dict)

    def sources(self, node: ir.Node) -> list[str]:
        """The values (DRAM buffers) a VTA node's layer reads."""
        reads = [self.im2col[node.name]] if node.name in self.im2col else \
            [self.alias.get(name, name) for name in node.inputs]
        if node.name in self.residual_inputs:
            other = self.residual_inputs[node.name]
            reads.append(self.alias.get(other, other))
        return reads


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
    tiles = bias_weight_tiles(np.asarray(bias), config.block_out, config.inp_width,
                              config.wgt_width)
    if tiles is None:
        return steps, None
    constants.pop()
    return [], tiles


def _pad_needs(graph: ir.Graph, placement) -> dict[str, list[tuple[str, tuple, int]]]:
    """value -> [(node, pads, fill)] for every VTA consumer whose window reads padding."""
    needs: dict[str, list] = {}
    for node in graph.nodes:
        if placement.get(node.name) != Placement.VTA:
            continue
        if isinstance(node, (ir.Conv2d, ir.AvgPool)):
            pads = node.pads if isinstance(node, ir.Conv2d) else _window_pads(node, graph)
            if any(pads):
                needs.setdefault(node.inputs[0], []).append((node.name, pads,
                                                             node.input_zero_point))
        elif isinstance(node, ir.MaxPool):
            pads = _window_pads(node, graph)
            if any(pads):
                lowest = graph.values[node.inputs[0]].quant.range[0]      # −128 at int8
                needs.setdefault(node.inputs[0], []).append((node.name, pads, lowest))
        elif isinstance(node, ir.ConvTranspose2d):
            try:
                lowering = _lower_transposed(node, graph)
            except Unsupported:
                continue
            pads = tuple(max(pad, 0) for pad in lowering.pads)
            if any(pads):
                needs.setdefault(node.inputs[0], []).append((node.name, pads,
                                                             node.input_zero_point))
    return needs


def _window_pads(node, graph) -> tuple[int, int, int, int]:
    """Pads extended at the end so every (ceil-mode) window lies inside (as the reference)."""
    _, _, h, w = graph.values[node.inputs[0]].shape
    oh, ow = graph.values[node.output].shape[2:]
    dilations = getattr(node, "dilations", (1, 1))
    top, left, bottom, right = node.pads
    need_h = (oh - 1) * node.strides[0] + (node.kernel[0] - 1) * dilations[0] + 1
    need_w = (ow - 1) * node.strides[1] + (node.kernel[1] - 1) * dilations[1] + 1
    return top, left, max(bottom, need_h - h - top), max(right, need_w - w - left)


#: Nodes that always run on the host: ONNX operators and the crossings to and from them.
HOST_NODES = (ir.HostOp, ir.Quantize, ir.Dequantize, ir.Reinterpret)


def has_layout(value: ir.Value) -> bool:
    """Whether a value can live in device memory: a quantized tensor of 2 to 4 axes
    (`layouts`)."""
    return value.quantized and len(value.shape) in value_layouts.DEVICE_RANKS


def _initial_placement(graph: ir.Graph, reasons: dict[str, str]) -> dict[str, Placement]:
    """Every node VTA may compute on VTA, a flatten read in place by Dense aliased, the rest on
    the host (layout moves become aliases later where their bytes agree)."""
    placement = {}
    for node in graph.nodes:
        if isinstance(node, HOST_NODES):
            placement[node.name] = Placement.HOST
            reasons[node.name] = graph.host_reasons.get(node.name, "a crossing between the "
                                                        "host's tensors and the quantized ones")
            continue
        flat = next((graph.values[name] for name in node.inputs + node.outputs
                     if not has_layout(graph.values[name])), None)
        if flat is not None:
            placement[node.name] = Placement.HOST
            reasons[node.name] = (f"its {len(flat.shape)}-D tensor {flat.name!r} has no VTA "
                                  "layout (quantized, 2 to 4 axes)")
        elif isinstance(node, ir.Reshape):
            placement[node.name] = Placement.ALIAS if _flatten_for_dense(graph, node) \
                else Placement.HOST
            if placement[node.name] == Placement.HOST:
                reasons[node.name] = "a reshape other than a flatten read by Dense: a gather"
        elif isinstance(node, (ir.Conv2d, ir.Dense, ir.AvgPool, ir.MaxPool, ir.Add,
                               ir.Requantization, ir.ConvTranspose2d, ir.MatMul)):
            placement[node.name] = Placement.VTA
        elif isinstance(node, ir.MatMulOperand):
            placement[node.name] = Placement.HOST
            reasons[node.name] = ("prepares an operand of a product of two activations "
                                  "(a gather with its zero point's terms)")
        else:
            placement[node.name] = Placement.HOST
            reasons[node.name] = f"{type(node).__name__} has no VTA layer: a gather"
    return placement


def _flatten_for_dense(graph: ir.Graph, node: ir.Reshape) -> bool:
    source = graph.values[node.inputs[0]].shape
    consumers = graph.consumers(node.output)
    return (len(source) == 4 and len(node.shape) == 2 and node.shape[0] == source[0]
            and consumers and node.output not in graph.outputs
            and all(isinstance(c, ir.Dense) for c in consumers))


def _lowers_to_im2col(graph: ir.Graph, node: ir.Node, placement, block: int) -> bool:
    producer = graph.producer(node.inputs[0])
    written_by_host = producer is None or placement[producer.name] == Placement.HOST
    if not isinstance(node, ir.Conv2d) or node.groups != 1 or not written_by_host:
        return False
    channels, taps = node.weight.shape[1], node.weight.shape[2] * node.weight.shape[3]
    direct = taps * -(-channels // block)
    return direct >= IM2COL_GAIN * -(-channels * taps // block)


def partition(graph: ir.Graph, config: Config, *, im2col: bool = True,
              cost: CycleCost | None = None) -> Partition:
    """Place every node and give every value its packed layout; `im2col` allows lowering graph
    inputs' convolutions; with `cost`, a max pooling is fused only where the cycle model times
    the fused layer faster than the two (see the module docstring)."""
    if config.block_in != config.block_out:
        raise VtaError("the compiler needs BLOCK_IN == BLOCK_OUT")
    reasons: dict[str, str] = {}
    placement = _initial_placement(graph, reasons)
    while True:
        needs = _pad_needs(graph, placement)
        conflict = None
        for value, requests in needs.items():
            fills = {fill for _, _, fill in requests}
            if len(fills) > 1:
                pools = {node.name for node in graph.nodes if isinstance(node, ir.MaxPool)}
                max_pools = [name for name, _, _ in requests if name in pools]
                conflict = max_pools[0] if max_pools else requests[-1][0]
                break
        if conflict is None:
            break
        placement[conflict] = Placement.HOST
        reasons[conflict] = "its input's padding must hold another value for another consumer"
    layouts, alias, flattened, slices = _value_layouts(graph, placement, needs, config)
    result = Partition(graph, layouts, alias, placement, reasons=reasons, flattened=flattened,
                       slices=slices)
    for node in graph.nodes:
        if placement[node.name] == Placement.VTA and im2col and _lowers_to_im2col(
                graph, node, placement, config.block_in):
            name = f"{node.name}/im2col"
            n, c, _, _ = layouts[node.inputs[0]].shape
            _, _, oh, ow = graph.values[node.output].shape
            layouts[name] = ActLayout((n, c * node.weight.shape[2] * node.weight.shape[3], oh, ow),
                                      config.batch, config.block_out)
            result.im2col[node.name] = name
    for node in graph.nodes:
        if placement[node.name] != Placement.VTA:
            continue
        try:
            result.layers[node.name] = describe(node, result, config)
        except Unsupported as error:
            placement[node.name] = Placement.HOST
            result.reasons[node.name] = str(error)
    for node in graph.nodes:
        conv = _fusable_conv(graph, node, result)
        if conv is not None:
            _fuse(conv, node, result, config)
        conv = _poolable_conv(graph, node, result)
        if conv is not None:
            _fuse_pool(conv, node, result, config, cost)
    _place_in_device_memory(result)
    return result


def _place_in_device_memory(part: Partition) -> None:
    """The values a VTA layer reads or writes live in device memory; a host Reshape or Concat
    that reads or writes one of them and whose values all have layouts becomes a device move
    (one gather between the buffers), and its values live there too. Host nodes read and write
    device values through the executor's gathers and scatters."""
    graph, device = part.graph, part.device
    for node in graph.nodes:
        placement = part.placement[node.name]
        if placement == Placement.VTA:
            device.update(part.sources(node), [node.output])
            if node.name in part.im2col:
                device.add(node.inputs[0])
        elif placement in (Placement.FUSED, Placement.ALIAS):
            device.update(node.inputs, [node.output])
    changed = True
    while changed:
        changed = False
        for node in graph.nodes:
            values = set(node.inputs) | {node.output}
            if (node.name not in part.moves and part.placement[node.name] == Placement.HOST
                    and isinstance(node, (ir.Reshape, ir.Concat)) and values & device
                    and all(name in part.layouts for name in values)):
                part.moves.add(node.name)
                device.update(values)
                changed = True


def _value_layouts(graph: ir.Graph, placement: dict[str, Placement], needs: dict,
                   config: Config) -> tuple[dict[str, ActLayout], dict[str, str], set[str]]:
    """(layout of every value with one, value -> the value whose buffer it shares, the
    flattened images Dense reads in place).

    A Reshape or Transpose whose output lies in its input's bytes (`layouts.same_bytes`) is an
    alias (placement ALIAS): all values sharing one buffer take the largest halo any of their
    consumers needs (and stay apart where those need different fills); a flatten read in place
    by Dense is one too, read through its input's layout."""
    flags = value_layouts.channels_last(graph, config.batch, config.block_out)

    weight_operands = value_layouts.weight_operands(graph)

    def layout(name: str, **options) -> ActLayout:
        batch = config.block_out if name in weight_operands else config.batch
        return value_layouts.layout_of(graph.values[name].shape, flags[name], batch,
                                       config.block_out, **options)

    owner: dict[str, str] = {}
    moves = {}
    for node in graph.nodes:
        if isinstance(node, value_layouts.MOVES) and node.inputs[0] in flags \
                and node.output in flags and value_layouts.same_bytes(
                layout(node.inputs[0]), layout(node.output), graph.values[node.inputs[0]].shape,
                node):
            owner[node.output] = owner.get(node.inputs[0], node.inputs[0])
            moves[node.output] = node
    fills: dict[str, set[int]] = {}
    for name in flags:
        fills.setdefault(owner.get(name, name), set()).update(
            fill for _, _, fill in needs.get(name, []))
    for name in [name for name in owner if len(fills[owner[name]]) > 1]:
        del owner[name]
    concats = _concat_slices(graph, flags, owner, needs, config)
    holder = {name: node.output for node in concats for name in node.inputs}
    groups: dict[str, list[str]] = {}
    for name in flags:
        groups.setdefault(owner.get(holder.get(name, name), holder.get(name, name)),
                          []).append(name)
    layouts = {}
    for members in groups.values():
        requests = [request for name in members for request in needs.get(name, [])]
        halo = tuple(max([pads[i] for _, pads, _ in requests], default=0) for i in range(4))
        fill = requests[0][2] if requests else 0
        for name in members:
            layouts[name] = layout(name, halo=halo, fill=fill)
    for name, node in moves.items():
        if name in owner:
            placement[node.name] = Placement.ALIAS
    flattened = set()
    for node in graph.nodes:
        if isinstance(node, ir.Reshape) and placement[node.name] == Placement.ALIAS \
                and node.output not in owner:
            owner[node.output] = owner.get(node.inputs[0], node.inputs[0])
            layouts[node.output] = layouts[owner[node.output]]
            flattened.add(node.output)
    slices = {}
    for node in concats:
        placement[node.name] = Placement.ALIAS
        target = layouts[node.output]
        offset = 0
        for name in node.inputs:
            slices[name] = (node.output, offset)
            offset += layouts[name].channel_blocks * target.channel_block_tiles \
                * target.tile_bytes
    return layouts, owner, flattened, slices


def _concat_slices(graph: ir.Graph, flags: dict[str, bool], owner: dict[str, str],
                   needs: dict, config: Config) -> list[ir.Concat]:
    """The Concats whose inputs can be written straight into the channel blocks of their
    output's buffer: along the channels of a value of one batch block, every input but the last
    a whole number of channel blocks, each input a value of its own (no other alias, in no
    other Concat) whose consumers' padding asks the fill the output's consumers ask."""
    chosen, taken = [], set(owner) | set(owner.values())
    for node in graph.nodes:
        if not isinstance(node, ir.Concat) or node.output not in flags \
                or node.output in taken or node.output in graph.inputs:
            continue
        shape = graph.values[node.output].shape
        axis = node.axis % len(shape)
        last = flags[node.output]
        names = list(node.inputs)
        if axis != (len(shape) - 1 if last else 1) or len(set(names)) != len(names) \
                or -(-shape[0] // config.batch) != 1 or len(shape) == 2 and last:
            continue
        if any(name not in flags or flags[name] != last or name in taken
               or name in graph.outputs for name in names):
            continue
        channels = [graph.values[name].shape[axis] for name in names]
        if any(count % config.block_out for count in channels[:-1]):
            continue
        fills = {fill for name in names + [node.output] for _, _, fill in needs.get(name, [])}
        if len(fills) > 1:
            continue
        chosen.append(node)
        taken.update(names + [node.output])
    return chosen


def _poolable_conv(graph: ir.Graph, node: ir.Node, part: Partition) -> ir.Node | None:
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


def _fuse_pool(conv: ir.Node, pool: ir.MaxPool, part: Partition, config: Config,
               cost: CycleCost | None) -> None:
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


def _fusable_conv(graph: ir.Graph, node: ir.Node, part: Partition) -> ir.Node | None:
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


def _fuse(conv: ir.Node, add: ir.Add, part: Partition, config: Config) -> None:
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


def describe(node: ir.Node, part: Partition, config: Config) -> VtaLayer:
    """The VTA layer of one node."""
    graph, layouts = part.graph, part.layouts
    for name, last in value_layouts.required(node, graph, config.batch):
        if name not in part.alias and layouts[name].channels_last != last:
            raise Unsupported(f"{name!r} is laid out for another operator")
    output = layouts[node.output]
    block = config.block_out
    out_shape = graph.values[node.output].shape
    constants: list[np.ndarray] = []
    if isinstance(node, ir.Conv2d) and node.name in part.im2col:
        weight = node.weight.reshape(node.weight.shape[0], -1, 1, 1)
        epilogue, bias_tiles = _epilogue(node, out_shape, constants, config)
        return ConvLayer(name=node.name, input=layouts[part.im2col[node.name]], output=output,
                         mode=WeightMode.DENSE, weights=dense_weight_tiles(weight, block),
                         epilogue=epilogue, constants=constants, bias_tiles=bias_tiles,
                         macs=int(np.prod(out_shape)) * int(np.prod(node.weight.shape[1:])))
    if isinstance(node, ir.Conv2d):
        x = layouts[node.inputs[0]]
        weight = expand_groups(node.weight, node.groups, x.shape[1]) if node.groups > 1 \
            else node.weight
        if node.groups > 1 and is_block_diagonal(weight, block):
            mode, tiles = WeightMode.DIAGONAL, diagonal_weight_tiles(weight, block)
        else:
            mode, tiles = WeightMode.DENSE, dense_weight_tiles(weight, block)
        epilogue, bias_tiles = _epilogue(node, out_shape, constants, config)
        return ConvLayer(name=node.name, input=x, output=output, kernel=node.weight.shape[2:],
                         strides=node.strides, dilations=node.dilations, pads=node.pads,
                         mode=mode, weights=tiles, epilogue=epilogue, constants=constants,
                         bias_tiles=bias_tiles,
                         macs=int(np.prod(out_shape)) * int(np.prod(node.weight.shape[1:])))
    if isinstance(node, ir.ConvTranspose2d):
        return _transposed_layer(node, part, config)
    if isinstance(node, ir.Dense):
        x, weight = _dense_input(node, part, config)
        epilogue, bias_tiles = _epilogue(node, out_shape, constants, config, output.channels_last)
        return ConvLayer(name=node.name, input=x, output=output, mode=WeightMode.DENSE,
                         weights=dense_weight_tiles(weight, block), epilogue=epilogue,
                         constants=constants, bias_tiles=bias_tiles,
                         macs=int(np.prod(out_shape)) * node.weight.shape[1] // node.copies)
    if isinstance(node, ir.AvgPool):
        taps = node.kernel[0] * node.kernel[1]
        epilogue = bias_step(-node.input_zero_point * taps, constants)
        epilogue += convert_steps(node.requant.steps, out_shape, constants)
        return ConvLayer(name=node.name, input=layouts[node.inputs[0]], output=output,
                         kernel=node.kernel, strides=node.strides,
                         pads=_window_pads(node, graph), mode=WeightMode.IDENTITY,
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
                            pads=_window_pads(node, graph))
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
    raise Unsupported(f"{type(node).__name__} has no VTA layer")


def _product_layer(node: ir.MatMul, part: Partition, config: Config) -> ConvLayer:
    """A product of two activations as a Dense whose weight tiles are the device buffer of its
    second operand, written at run time (`layouts.weight_operands`)."""
    graph, block = part.graph, config.block_out
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


def _lower_transposed(node: ir.ConvTranspose2d, graph: ir.Graph) -> conv_transpose.Lowering:
    try:
        return conv_transpose.lower(node, graph.values[node.inputs[0]].shape,
                                    graph.values[node.output].shape)
    except conv_transpose.NotLowerable as error:
        raise Unsupported(str(error)) from None


def _transposed_layer(node: ir.ConvTranspose2d, part: Partition, config: Config) -> ConvLayer:
    """A transposed convolution as one stride-1 convolution per output phase
    (`conv_transpose`): one bias for all phases where theirs agree (added as a convolution's),
    else a per-channel ALU ADD per phase."""
    graph, block = part.graph, config.block_out
    lowering = _lower_transposed(node, graph)
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
    n, channels, height, width = graph.values[node.inputs[0]].shape
    return ConvLayer(name=node.name, input=part.layouts[node.inputs[0]],
                     output=part.layouts[node.output], kernel=lowering.kernel,
                     pads=lowering.pads, mode=WeightMode.DENSE,
                     weights=dense_weight_tiles(lowering.weights, block), epilogue=epilogue,
                     constants=constants, bias_tiles=bias_tiles, upsample=tuple(node.strides),
                     phases=tuple(phases),
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
    block = config.block_out
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
    weight = np.zeros((m, virtual.shape[1]), dtype=np.int8)
    weight[:, position.ravel()] = node.weight
    return virtual, weight.reshape(m, -1, 1, 1)
