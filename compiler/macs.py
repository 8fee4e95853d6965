"""Multiply-accumulates of a graph node, wherever it runs (the placement report's MAC shares)."""

from __future__ import annotations

import numpy as np

from vta.compiler import ir

#: ONNX operators whose work is multiply-accumulates, and where their weights sit.
_CONVOLUTIONS = {"Conv": 1, "ConvInteger": 1, "QLinearConv": 3}
_PRODUCTS = {"MatMul": (0, 1), "MatMulInteger": (0, 1), "QLinearMatMul": (0, 3)}
_RECURRENT_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def node_macs(graph: ir.Graph, node: ir.Node) -> int:
    """MACs of one node (convolutions, products, pooling averages, recurrent layers)."""
    out = int(np.prod(graph.values[node.output].shape))
    if isinstance(node, ir.Conv2d):
        return out * int(np.prod(node.weight.shape[1:]))
    if isinstance(node, ir.Dense):
        return out * node.weight.shape[1] // node.copies
    if isinstance(node, ir.MatMul):
        return out * node.contraction
    if isinstance(node, ir.AvgPool):
        return out * node.kernel[0] * node.kernel[1]
    if isinstance(node, ir.ConvTranspose2d) and not node.upsample:
        return int(np.prod(graph.values[node.inputs[0]].shape)) * int(np.prod(node.weight.shape[1:]))
    if isinstance(node, ir.HostOp):
        return _host_macs(graph, node, out)
    return 0


def _shape(graph: ir.Graph, node: ir.HostOp, index: int) -> tuple[int, ...]:
    return tuple(graph.values[node.inputs[index]].shape)


def _host_macs(graph: ir.Graph, node: ir.HostOp, out: int) -> int:
    op = node.op_type
    if op in _CONVOLUTIONS:
        weight = _shape(graph, node, _CONVOLUTIONS[op])
        return out * int(np.prod(weight[1:]))
    if op == "ConvTranspose":
        x, weight = _shape(graph, node, 0), _shape(graph, node, 1)
        return int(np.prod(x)) * int(np.prod(weight[1:]))
    if op in _PRODUCTS:
        a = _shape(graph, node, _PRODUCTS[op][0])
        return out * (a[-1] if a else 1)
    if op == "Gemm":
        a = _shape(graph, node, 0)
        return out * (a[0] if node.attributes.get("transA") else a[-1])
    if op in _RECURRENT_GATES:
        x, w, r = (_shape(graph, node, i) for i in range(3))
        steps_batch = x[0] * x[1]
        return steps_batch * (int(np.prod(w)) + int(np.prod(r)))
    if op == "Einsum":
        return _einsum_macs(graph, node)
    return 0


def _einsum_macs(graph: ir.Graph, node: ir.HostOp) -> int:
    """Product of the sizes of every index the equation names (without ellipses: else 0)."""
    equation = node.attributes.get("equation", "").replace(" ", "")
    operands = equation.split("->")[0].split(",")
    if "." in equation or len(operands) != len(node.inputs):
        return 0
    sizes = {}
    for letters, name in zip(operands, node.inputs):
        sizes.update(zip(letters, graph.values[name].shape))
    return int(np.prod(list(sizes.values()))) if len(operands) > 1 else 0
