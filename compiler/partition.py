"""Partitioning: which IR nodes run on VTA (and as which `layers` kind), which on the host, and
the packed layout (with halo) of every value.

Every operator VTA can express runs there: convolutions of any group structure, Dense, average
and max pooling, residual Add, requantization, and products of two activations (their second
operand, prepared by the host, is read as weight tiles). A Reshape that flattens an image for Dense
costs nothing: the Dense weights are permuted to read the image's packed tiles directly. A
Concat along the channels costs nothing where its inputs can be stored into their channel blocks
of its output, and is one VTA layer (a 1×1 convolution gathering lanes, the Requantizations
before it folded in) where an input ends inside a block (`_concat_slices`). Nodes VTA cannot
take (other Concats, a Reshape feeding anything but Dense, requantization operands that vary by
position, or a padding value no producer can provide) run on the host.

A residual Add whose operand is produced by a convolution used nowhere else is fused into that
convolution: the sum is formed in ACC right after the convolution's requantization, so the
convolution's int8 result is never stored. The Add's placement is FUSED; the convolution's
layer runs where the Add stood, once both operands exist. A MaxPool fed by a convolution used
nowhere else is fused the same way: it pools the accumulators before the requantization, which
commutes with it when every step is monotone and never wraps over the accumulators' reach
(`alu_program.monotone`), so only the pooled tiles are requantized; given the cycle model, only
where that is faster than the two layers.

Where the fused Add's other operand is itself produced by a 1×1 convolution without padding
used nowhere else (a residual block's strided downsample), that convolution may be fused too
(`fusion.shortcut_fusion`): the layer loads the shortcut's input and weights and computes the
operand in place — a GEMM over the input blocks instead of the identity copy, the shortcut's
bias and requantization (which clamps to int8: the value it would have stored) —; its placement
is FUSED (`Partition.shortcuts`). Again only where it fits and, given the cycle model, is faster
than the two layers (a shortcut whose own layer is bound by its ALU epilogue runs it in the ALU
slack of a GEMM-bound 3×3 convolution).

A convolution that reads a graph input with few channels (the stem's 3) wastes most of the GEMM
array on channel padding: 3 of 16 lanes per tap. When lowering cuts its GEMM work at least
`IM2COL_GAIN` times, it reads the im2col of its windows instead — (N, C·KH·KW, OH, OW), gathered
by the host right after it packs the input — as a 1×1 convolution over C·KH·KW channels.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from vta.compiler import ir
from vta.compiler import layouts as value_layouts
from vta.compiler.alu_program import Register
from vta.compiler.fusion import (apply_paying, fusable_conv, fuse_add, pool_fusion, poolable_conv,
                                 shortcut_conv, shortcut_fusion)
from vta.compiler.layer_emitter import CARRY_GEMMS_PER_OUTPUT
from vta.compiler.node_layers import Unsupported, describe, lower_transposed, window_pads
from vta.compiler.packing import ActLayout, bias_input_lanes, bias_lane_weights
from vta.compiler.placement import Partition, Placement
from vta.compiler.schedule import CycleCost, choose
from vta.compiler.sram_plan import feasible
from vta.compiler.subtiles import activation_block
from vta.isa import Config, VtaError

#: Least factor by which lowering a graph input's convolution to im2col must cut its GEMM work.
IM2COL_GAIN = 2

#: The reason of a node whose VTA layer fits the on-chip buffers under no tiling: it runs on the
#: host (a design-space point refuses such a config, `vta.dse.layers.evaluate_model`).
NO_TILING_FITS = "no tiling of its VTA layer fits the on-chip buffers"


def _pad_needs(graph: ir.Graph, placement) -> dict[str, list[tuple[str, tuple, int]]]:
    """value -> [(node, pads, fill)] for every VTA consumer whose window reads padding."""
    needs: dict[str, list] = {}
    for node in graph.nodes:
        if placement.get(node.name) != Placement.VTA:
            continue
        if isinstance(node, (ir.Conv2d, ir.AvgPool)):
            pads = node.pads if isinstance(node, ir.Conv2d) else window_pads(node, graph)
            if any(pads):
                needs.setdefault(node.inputs[0], []).append((node.name, pads,
                                                             node.input_zero_point))
        elif isinstance(node, ir.MaxPool):
            pads = window_pads(node, graph)
            if any(pads):
                lowest = graph.values[node.inputs[0]].quant.range[0]      # −128 at int8
                needs.setdefault(node.inputs[0], []).append((node.name, pads, lowest))
        elif isinstance(node, ir.ConvTranspose2d):
            try:
                lowering = lower_transposed(node, graph)
            except Unsupported:
                continue
            pads = tuple(max(pad, 0) for pad in lowering.pads)
            if any(pads):
                needs.setdefault(node.inputs[0], []).append((node.name, pads,
                                                             node.input_zero_point))
    return needs


#: Nodes that always run on the host: ONNX operators and the crossings to and from them.
HOST_NODES = (ir.HostOp, ir.Quantize, ir.Dequantize, ir.Reinterpret)


def has_layout(value: ir.Value) -> bool:
    """Whether a value can live in device memory: a quantized tensor of 2 to 4 axes
    (`layouts`)."""
    return value.quantized and len(value.shape) in value_layouts.DEVICE_RANKS


def _initial_placement(graph: ir.Graph, reasons: dict[str, str], batch: int
                       ) -> dict[str, Placement]:
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
        if isinstance(node, ir.Table):
            placement[node.name] = Placement.HOST
            reasons[node.name] = ("a lookup table of the 256 input values, exact "
                                  "(VTA has no gather)")
        elif flat is not None:
            placement[node.name] = Placement.HOST
            reasons[node.name] = (f"its {len(flat.shape)}-D tensor {flat.name!r} has no VTA "
                                  "layout (quantized, 2 to 4 axes)")
        elif isinstance(node, ir.Reshape):
            placement[node.name] = Placement.ALIAS if _flatten_for_dense(graph, node, batch) \
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


def _flatten_for_dense(graph: ir.Graph, node: ir.Reshape, batch: int) -> bool:
    """Whether a Reshape flattens each sample's C×H×W into a row its Dense consumers read in
    place: only where those rows are samples (at most a tile's batch, laid N×C×1×1). Many rows
    (tokens: a (T, 1, heads, d) attention output flattened to (T, heads·d)) are laid channels
    last, one row per tile row, which the image's layout is not (`layouts.required`)."""
    source = graph.values[node.inputs[0]].shape
    consumers = graph.consumers(node.output)
    return (len(source) == 4 and len(node.shape) == 2 and node.shape[0] == source[0]
            and not value_layouts.usual(node.shape, batch)
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


def _bias_lanes(node: ir.Conv2d, windows: int, config: Config
                ) -> tuple[np.ndarray, np.ndarray] | None:
    """(constant lanes, their weights) that add a lowered convolution's bias through the spare
    channel padding of its im2col (`windows` channels): every lane left in the last block, the
    arithmetic of the bias GEMM (`packing.bias_lane_weights`); None without a bias, with fewer
    than 2 spare lanes or a bias beyond their reach (the bias GEMM or ALU adds it then)."""
    block = activation_block(config)
    spare = -(-windows // block) * block - windows
    bias = node.folded_bias()
    if spare < 2 or not np.any(bias):
        return None
    weights = bias_lane_weights(bias, spare, config.inp_width, config.wgt_width)
    return None if weights is None else (bias_input_lanes(spare, config.inp_width), weights)


def partition(graph: ir.Graph, config: Config, *, im2col: bool = True,
              cost: CycleCost | None = None) -> Partition:
    """Place every node and give every value its packed layout; `im2col` allows lowering graph
    inputs' convolutions; with `cost`, a max pooling is fused only where the cycle model times
    the fused layer faster than the two (see the module docstring)."""
    if config.block_in != config.block_out and config.batch != 1:
        raise VtaError("the compiler needs BATCH = 1 where BLOCK_IN ≠ BLOCK_OUT (an activation "
                       "tile's sub-tiles lie apart otherwise)")
    reasons: dict[str, str] = {}
    placement = _initial_placement(graph, reasons, config.batch)
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
    layouts, alias, flattened, slices, staged, folded = _value_layouts(graph, placement, needs,
                                                                      config)
    for name in list(staged) + list(folded):
        reasons.pop(name, None)
    result = Partition(graph, layouts, alias, placement, reasons=reasons, flattened=flattened,
                       slices=slices, staged=staged, folded=folded)
    for node in graph.nodes:
        if placement[node.name] == Placement.VTA and im2col and _lowers_to_im2col(
                graph, node, placement, activation_block(config)):
            name = f"{node.name}/im2col"
            n, c, _, _ = layouts[node.inputs[0]].shape
            _, _, oh, ow = graph.values[node.output].shape
            windows = c * node.weight.shape[2] * node.weight.shape[3]
            bias = _bias_lanes(node, windows, config)
            if bias is not None:
                result.im2col_bias[node.name] = bias
            lanes = 0 if bias is None else len(bias[0])
            layouts[name] = ActLayout((n, windows + lanes, oh, ow), config.batch,
                                      activation_block(config))
            result.im2col[node.name] = name
    for node in graph.nodes:
        if placement[node.name] != Placement.VTA:
            continue
        try:
            layer = describe(node, result, config)
            if not feasible(layer, config):
                raise Unsupported(NO_TILING_FITS)
            result.layers[node.name] = layer
        except Unsupported as error:
            placement[node.name] = Placement.HOST
            result.reasons[node.name] = str(error)
            result.im2col.pop(node.name, None)
            result.im2col_bias.pop(node.name, None)
    fusions = []
    for node in graph.nodes:
        conv = fusable_conv(graph, node, result)
        if conv is not None and fuse_add(conv, node, result, config):
            shortcut = shortcut_conv(graph, conv, result)
            if shortcut is not None:
                fusions.append(shortcut_fusion(conv, shortcut, result, config))
        conv = poolable_conv(graph, node, result)
        if conv is not None:
            fusions.append(pool_fusion(conv, node, result, config))
    apply_paying([fusion for fusion in fusions if fusion is not None], result, config, cost)
    if cost is not None:
        for node in graph.nodes:
            if node.name in result.im2col_bias:
                _keep_bias_lanes_where_faster(node, result, config, cost)
    _place_in_device_memory(result)
    return result


def _keep_bias_lanes_where_faster(node: ir.Conv2d, part: Partition, config: Config,
                                  cost: CycleCost) -> None:
    """Give up the bias on the im2col's padding lanes where the cycle model times the layer
    (its max pool fused, if it is) faster with the bias GEMM or ALU ADD: a tile with fewer GEMM
    executions may no longer carry its epilogue beside the next tile's GEMMs
    (`LayerEmitter.emit`) — VGG's stem, 2 input blocks. Timed only where that can happen (the
    lanes leave fewer than `CARRY_GEMMS_PER_OUTPUT` GEMM executions per output); a layer with
    a fused Add keeps them."""
    layer = part.layers.get(node.name)
    if layer is None or layer.residual is not None \
            or layer.input.channel_blocks * layer.parts >= CARRY_GEMMS_PER_OUTPUT:
        return
    name = part.im2col[node.name]
    with_lanes, bias = part.layouts[name], part.im2col_bias.pop(node.name)
    n, channels, oh, ow = with_lanes.shape
    part.layouts[name] = replace(with_lanes, shape=(n, channels - len(bias[0]), oh, ow))
    plain = replace(describe(node, part, config), pool=layer.pool)
    cost.prefetch([layer, plain])
    if choose(plain, config, cost)[1] < choose(layer, config, cost)[1]:
        part.layers[node.name] = plain
    else:
        part.layouts[name], part.im2col_bias[node.name] = with_lanes, bias


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
            if node.name in part.staged:              # the values in its staging buffer
                device.update(staged_members(graph, node, part.folded))
            if node.name in part.im2col:
                device.add(node.inputs[0])
        elif node.name in part.folded:                # computed by the Concat's layer
            device.update(node.inputs)
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
                   config: Config) -> tuple:
    """(layout of every value with one, value -> the value whose buffer it shares, the
    flattened images Dense reads in place, the slices of Concats' inputs, staged Concat node
    -> its staging buffer (`_concat_slices`)).

    A Reshape or Transpose whose output lies in its input's bytes (`layouts.same_bytes`) is an
    alias (placement ALIAS): all values sharing one buffer take the largest halo any of their
    consumers needs (and stay apart where those need different fills); a flatten read in place
    by Dense is one too, read through its input's layout."""
    flags = value_layouts.channels_last(graph, config.batch, activation_block(config))

    weight_operands = value_layouts.weight_operands(graph)

    def layout(name: str, **options) -> ActLayout:
        if name in weight_operands and config.block_in < config.block_out:
            options = {"lanes": config.block_in} | options   # weight tiles (`subtiles`)
        batch = activation_block(config) if name in weight_operands else config.batch
        return value_layouts.layout_of(graph.values[name].shape, flags[name], batch,
                                       activation_block(config), **options)

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
    concats, staged, folded = _concat_slices(graph, flags, owner, needs, config, placement)
    members_of = {node.name: staged_members(graph, node, folded) for node in staged}
    holder = {name: node.output for node in concats for name in node.inputs}
    holder |= {name: staging_value(node) for node in staged for name in members_of[node.name]}
    groups: dict[str, list[str]] = {}
    for name in flags:
        groups.setdefault(owner.get(holder.get(name, name), holder.get(name, name)),
                          []).append(name)
    layouts = {}
    for key, members in groups.items():
        requests = [request for name in members for request in needs.get(name, [])]
        halo = tuple(max([pads[i] for _, pads, _ in requests], default=0) for i in range(4))
        fill = requests[0][2] if requests else 0
        for name in members:
            layouts[name] = layout(name, halo=halo, fill=fill)
        if key not in flags:                  # a staged Concat's blocks: its inputs' halo
            first = layouts[members[0]]
            n, _, h, w = first.shape
            block = activation_block(config)
            channels = sum(layouts[name].channel_blocks for name in members) * block
            layouts[key] = ActLayout((n, channels, h, w), config.batch, block,
                                     halo=halo, fill=fill)
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
    for node in concats + staged:
        if node in concats:
            placement[node.name] = Placement.ALIAS
        buffer = node.output if node in concats else staging_value(node)
        target = layouts[buffer]
        offset = 0
        for name in node.inputs if node in concats else members_of[node.name]:
            slices[name] = (buffer, offset)
            offset += layouts[name].channel_blocks * target.channel_block_tiles \
                * target.tile_bytes
    for node in staged:
        placement[node.name] = Placement.VTA
    for name in folded:
        placement[name] = Placement.FUSED
    return (layouts, owner, flattened, slices,
            {node.name: staging_value(node) for node in staged}, folded)


def staged_members(graph: ir.Graph, node: ir.Concat, folded: dict[str, str]) -> list[str]:
    """The values a staged Concat's staging buffer holds, one per input: the input itself, or
    the input of the Requantization producing it where that is folded into the Concat's layer
    (`folded`: Requantization node -> Concat node)."""
    members = []
    for name in node.inputs:
        producer = graph.producer(name)
        members.append(producer.inputs[0] if producer is not None and producer.name in folded
                       else name)
    return members


def _foldable(graph: ir.Graph, node: ir.Concat, placement) -> dict[str, str]:
    """The Requantizations (plain rescales on VTA, read by this Concat alone, without scratch
    registers) producing inputs of a staged Concat: their programs, lane by lane, become the
    Concat layer's epilogue (`node_layers._staged_concat_layer`). Requantization node ->
    Concat node."""
    folded = {}
    for name in node.inputs:
        producer = graph.producer(name)
        if not isinstance(producer, ir.Requantization) or producer.activation is not None \
                or placement.get(producer.name) != Placement.VTA or name in graph.outputs \
                or [consumer.name for consumer in graph.consumers(name)] != [node.name] \
                or np.any(producer.requant.offset) \
                or graph.values[producer.inputs[0]].shape != graph.values[name].shape:
            continue
        if any(step.register or isinstance(step.operand, Register)
               for step in producer.requant.steps):
            continue
        folded[producer.name] = node.name
    return folded


def staging_value(node: ir.Concat) -> str:
    """The device buffer a staged Concat's inputs are written into (`_concat_slices`)."""
    return f"{node.name}/blocks"


def _concat_slices(graph: ir.Graph, flags: dict[str, bool], owner: dict[str, str],
                   needs: dict, config: Config, placement) -> tuple[list, list, dict]:
    """(aligned, staged, folded): the Concats whose inputs can be written straight into channel blocks
    of one buffer: along the channels of a value of one batch block, each input a value of its
    own (no other alias, in no other Concat) whose consumers' padding asks the fill the
    others' ask.

    *Aligned*: every input but the last a whole number of channel blocks — they are written
    into their blocks of the output's buffer (the output's consumers' fill too), and the
    Concat costs nothing. *Staged*: an input before the last ends inside a channel block (a
    store writes whole blocks, so it cannot share that block with the next input): each input
    is written into blocks of its own of a staging buffer (`staging_value`, every input's
    blocks one after the other), which one VTA layer — a 1×1 convolution whose weights place
    each input's lanes at its channels of the output — gathers into the output (NCHW values;
    the IR's Concat joins the int8 values as they are: the importer has brought its inputs to
    the output's scale). The Requantizations that bring them there are folded into that layer
    where they can be (`_foldable`): their inputs are then written into the staging buffer
    instead, and each lane's epilogue is its input's requantization program."""
    chosen, staged, taken, folded = [], [], set(owner) | set(owner.values()), {}
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
        channels = [graph.values[name].shape[axis] for name in names]
        aligned = not any(count % activation_block(config) for count in channels[:-1])
        if not aligned and last:
            continue
        for fold in ([_foldable(graph, node, placement), {}] if not aligned else [{}]):
            members = staged_members(graph, node, fold)
            if len(set(members)) != len(members) or any(
                    name not in flags or flags[name] != last or name in taken
                    or name in graph.outputs for name in members):
                continue
            shared = members + [node.output] if aligned else members
            fills = {fill for name in shared for _, _, fill in needs.get(name, [])}
            if len(fills) > 1:
                continue
            (chosen if aligned else staged).append(node)
            folded |= fold
            taken.update(members + names + [node.output])
            break
    return chosen, staged, folded
