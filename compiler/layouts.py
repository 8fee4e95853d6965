"""Which way round each value lies on the device: channels at axis 1 (NCHW — the tensors of
convolutions and pooling) or last (`packing.ActLayout.channels_last` — the token tensors of
transformers, channels-last images, matrices of many rows), so that each operator reads and
writes the layout it computes on, and a Reshape or Transpose between two values costs nothing
where both map every element to the same byte (`same_bytes`).

- Convolutions, transposed convolutions and pooling compute on NCHW values.
- Dense contracts the last axis: its input and output have their channels last (where its
  input is a matrix of a few rows, at most a tile's batch, the rows are samples instead and
  both are laid N×C×1×1 — as the classifier of a CNN).
- An elementwise operator (Add, requantization) reads and writes one layout.
- A product of two activations (`ir.MatMul`) reads its input and writes its output channels
  last, and reads its weights as weight tiles (`weight_operands`).
- Any other value takes its rank's usual layout (a 3-axis value is a token tensor), unless a
  Reshape or Transpose producing it can then alias its input.
"""

from __future__ import annotations

import numpy as np

from vta.compiler import ir
from vta.compiler.packing import ActLayout, physical_shape

#: Ranks of the values that have a device layout.
DEVICE_RANKS = (2, 3, 4)
#: Operators that compute on NCHW values.
NCHW_OPERATORS = (ir.Conv2d, ir.ConvTranspose2d, ir.MaxPool, ir.AvgPool)
#: Operators whose inputs and output share one layout.
ELEMENTWISE = (ir.Add, ir.Requantization)
#: Layout moves that may alias their input.
MOVES = (ir.Reshape, ir.Transpose)


def usual(shape: tuple[int, ...], batch: int) -> bool:
    """Whether a value of `shape` has its channels last when nothing decides otherwise."""
    return len(shape) == 3 or (len(shape) == 2 and shape[0] > batch)


def channels_last(graph: ir.Graph, batch: int, block: int) -> dict[str, bool]:
    """For every value with a device layout: whether its channels are last (see the module
    docstring). Where operators ask one value for both layouts, the first asking wins; the
    other then cannot run on VTA (`node_layers.describe` checks)."""
    group = {name: name for name in graph.values}

    def root(name: str) -> str:
        while group[name] != name:
            group[name] = group[group[name]]
            name = group[name]
        return name

    for node in graph.nodes:
        if isinstance(node, ELEMENTWISE):
            for name in node.inputs:
                if graph.values[name].shape == graph.values[node.output].shape:
                    group[root(name)] = root(node.output)
    decided: dict[str, bool] = {}
    for node in graph.nodes:
        for name, wanted in required(node, graph, batch):
            decided.setdefault(root(name), wanted)
    flags = {}
    for name, value in graph.values.items():
        if value.quantized and len(value.shape) in DEVICE_RANKS:
            flags[name] = decided.get(root(name), usual(value.shape, batch))
    for node in graph.nodes:
        if isinstance(node, MOVES) and node.output in flags and node.inputs[0] in flags \
                and root(node.output) not in decided:
            source = layout_of(graph.values[node.inputs[0]].shape, flags[node.inputs[0]], batch,
                               block)
            for flag in (flags[node.output], not flags[node.output]):
                target = layout_of(graph.values[node.output].shape, flag, batch, block)
                if same_bytes(source, target, graph.values[node.inputs[0]].shape, node):
                    flags[node.output] = flag
                    break
    return flags


def required(node: ir.Node, graph: ir.Graph, batch: int) -> list[tuple[str, bool]]:
    """(value, channels last?) that `node` computes on."""
    if isinstance(node, ir.MatMul):
        return [(node.inputs[0], True), (node.inputs[1], False), (node.output, True)]
    if isinstance(node, NCHW_OPERATORS):
        return [(node.inputs[0], False), (node.output, False)]
    if isinstance(node, ir.Dense):
        shape = graph.values[node.output].shape
        last = usual(shape, batch) or len(shape) == 4
        return [(node.inputs[0], last), (node.output, last)]
    return []


def weight_operands(graph: ir.Graph) -> set[str]:
    """Values a product reads as its weights: laid out N×C with a tile of `block` rows
    (`ActLayout.batch` = block), their bytes are exactly VTA's weight tiles (output-major rows
    of the block's input channels), so the GEMM loads them as it loads constant weights."""
    return {node.inputs[1] for node in graph.nodes if isinstance(node, ir.MatMul)}


def layout_of(shape: tuple[int, ...], last: bool, batch: int, block: int, **options) -> ActLayout:
    return ActLayout(physical_shape(shape, last), batch, block, channels_last=last, **options)


def same_bytes(source: ActLayout, target: ActLayout, source_shape: tuple[int, ...],
               node: ir.Node) -> bool:
    """Whether the output of the move `node` (a Reshape: the same elements in row-major order;
    a Transpose: permuted axes) in `target` lies in exactly the bytes its input does in
    `source`, so that it can share its input's buffer."""
    if source.nbytes != target.nbytes or source.halo != target.halo \
            or (any(target.halo) and source.fill != target.fill):
        return False
    elements = np.arange(int(np.prod(source_shape))).reshape(source_shape)
    if isinstance(node, ir.Transpose):
        elements = elements.transpose(node.perm)
    return bool(np.array_equal(target.scatter_map(), source.scatter_map()[elements.ravel()]))
