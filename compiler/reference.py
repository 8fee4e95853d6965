"""The reference executor of the graph: the bit-exact oracle of every VTA run.

Integer nodes run on the unpacked tensors (NCHW / NC) with the accumulator's int32 wrap-around
and the requantization's ALU steps (`alu_program.run_steps`), vectorised; host nodes run their ONNX
kernels (`host_ops`), the same the executor runs them with. It knows nothing of packing,
scheduling or code generation. Convolutions and matrix products are computed in float64, which is
exact here: every product of int8 (or zero-point-shifted 9-bit) operands and every partial sum
stays far below 2^53.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from vta.compiler import host_ops, ir
from vta.compiler.alu_program import alu, run_steps, wrap32
from vta.isa import AluOp, VtaError


def run(graph: ir.Graph, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Execute `graph` on `feeds`, one per graph input as that input holds it (the ONNX tensor
    for a host input, int8 for a quantized one); returns every value by name.

    The feeds may hold a batch of N samples where the graph has one: each sample is then run on
    its own and every value gets N in its first dimension.
    """
    arrays = {}
    for name in graph.inputs:
        if name not in feeds:
            raise VtaError(f"no feed for graph input {name!r}")
        arrays[name] = _checked_feed(graph.values[name], np.asarray(feeds[name]))
    batches = {array.shape[0] for name, array in arrays.items()
               if array.ndim and array.shape != graph.values[name].shape}
    if batches:
        samples = [run(graph, {name: array[i:i + 1] for name, array in arrays.items()})
                   for i in range(batches.pop())]
        return {name: np.concatenate([sample[name] for sample in samples]) if
                np.ndim(samples[0][name]) else samples[0][name] for name in samples[0]}
    values = dict(graph.constants) | arrays
    for node in graph.nodes:
        results = run_node(node, [values[name] if name else None for name in node.inputs])
        values.update((name, result) for name, result in zip(node.outputs, results) if name)
    return values


def _checked_feed(value: ir.Value, array: np.ndarray) -> np.ndarray:
    expected = np.dtype(np.int8) if value.quantized else host_ops.element_type(value.onnx_dtype)
    shape = tuple(value.shape)
    batched = array.ndim == len(shape) and array.shape[1:] == shape[1:] and shape[:1] == (1,)
    if array.dtype != expected or not (array.shape == shape or batched):
        raise VtaError(f"graph input {value.name!r} needs {expected} {shape}, "
                       f"got {array.dtype} {array.shape}")
    return array


def run_node(node: ir.Node, inputs: list[np.ndarray | None]) -> list[np.ndarray]:
    """Execute one node on its input arrays; returns its outputs (in `node.outputs` order)."""
    if isinstance(node, ir.HostOp):
        return host_ops.run(node.call(), inputs)
    return [_KERNELS[type(node)](node, *inputs)]


def _padded(x: np.ndarray, pads: tuple[int, int, int, int], fill: float) -> np.ndarray:
    top, left, bottom, right = pads
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=fill)


def _windows(x: np.ndarray, kernel, strides, dilations, out_shape) -> np.ndarray:
    """(N, C, KH·KW, OH, OW): the input under each kernel position (x already padded)."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, strides, dilations, out_shape
    taps = [x[:, :, i * dh: i * dh + sh * (oh - 1) + 1: sh, j * dw: j * dw + sw * (ow - 1) + 1: sw]
            for i in range(kh) for j in range(kw)]
    return np.stack(taps, axis=2)


def _pad_to_windows(x: np.ndarray, pads, kernel, strides, dilations, out_shape) -> tuple:
    """Extend the end padding so that every (ceil-mode) window lies inside the array."""
    top, left, bottom, right = pads
    need_h = (out_shape[0] - 1) * strides[0] + (kernel[0] - 1) * dilations[0] + 1
    need_w = (out_shape[1] - 1) * strides[1] + (kernel[1] - 1) * dilations[1] + 1
    bottom = max(bottom, need_h - x.shape[2] - top)
    right = max(right, need_w - x.shape[3] - left)
    return top, left, bottom, right


def _conv2d(node: ir.Conv2d, x: np.ndarray) -> np.ndarray:
    n, c, h, w = x.shape
    o, cg, kh, kw = node.weight.shape
    top, left, bottom, right = node.pads
    out_shape = (ir.window_output_size(h, kh, node.strides[0], top, bottom, node.dilations[0]),
                 ir.window_output_size(w, kw, node.strides[1], left, right, node.dilations[1]))
    shifted = _padded(x.astype(np.float64) - node.input_zero_point, node.pads, 0.0)
    cols = _windows(shifted, (kh, kw), node.strides, node.dilations, out_shape)
    acc = _grouped_product(node.weight.astype(np.float64), cols.reshape(n, node.groups, -1,
                                                                         out_shape[0] * out_shape[1]))
    acc = acc.reshape(n, o, *out_shape)
    acc = wrap32(acc.astype(np.int64) + node.bias.astype(np.int64)[:, None, None])
    return node.requant(acc)


def _grouped_product(weight: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(N, O, P) = per group g, weight[g·O/G:(g+1)·O/G] (O/G, K) @ cols[:, g] (K, P)."""
    n, groups, k, p = cols.shape
    weight = weight.reshape(groups, -1, k)
    if groups == 1:
        flat = cols[:, 0].transpose(1, 0, 2).reshape(k, n * p)
        return (weight[0] @ flat).reshape(-1, n, p).transpose(1, 0, 2)
    if weight.shape[1] == 1:                         # depthwise: one filter per group
        return np.einsum("gk,ngkp->ngp", weight[:, 0], cols)
    return np.concatenate([np.matmul(weight[g], cols[:, g]) for g in range(groups)], axis=1)


def _dense(node: ir.Dense, x: np.ndarray) -> np.ndarray:
    shifted = x.astype(np.float64) - node.input_zero_point
    acc = shifted @ node.weight.astype(np.float64).T
    return node.requant(wrap32(acc.astype(np.int64) + node.bias.astype(np.int64)))


def _add(node: ir.Add, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    steps_a, steps_b = node.input_steps
    if node.product:
        return node.requant(alu(AluOp.MUL, run_steps(steps_a, a), run_steps(steps_b, b)))
    total = run_steps(steps_a, a).astype(np.int64) + run_steps(steps_b, b)
    return node.requant(wrap32(total))


def _max_pool(node: ir.MaxPool, x: np.ndarray) -> np.ndarray:
    out_shape = _pool_output_shape(node, x.shape)
    pads = _pad_to_windows(x, node.pads, node.kernel, node.strides, node.dilations, out_shape)
    cols = _windows(_padded(x, pads, -128), node.kernel, node.strides, node.dilations, out_shape)
    return cols.max(axis=2)


def _avg_pool(node: ir.AvgPool, x: np.ndarray) -> np.ndarray:
    out_shape = _pool_output_shape(node, x.shape)
    pads = _pad_to_windows(x, node.pads, node.kernel, node.strides, (1, 1), out_shape)
    shifted = _padded(x.astype(np.int64) - node.input_zero_point, pads, 0)
    acc = _windows(shifted, node.kernel, node.strides, (1, 1), out_shape).sum(axis=2)
    return node.requant(wrap32(acc))


def _pool_output_shape(node, shape) -> tuple[int, int]:
    dilations = getattr(node, "dilations", (1, 1))
    top, left, bottom, right = node.pads
    return (ir.window_output_size(shape[2], node.kernel[0], node.strides[0], top, bottom,
                                  dilations[0], node.ceil_mode),
            ir.window_output_size(shape[3], node.kernel[1], node.strides[1], left, right,
                                  dilations[1], node.ceil_mode))


def _requantization(node: ir.Requantization, x: np.ndarray) -> np.ndarray:
    return node.requant(x.astype(np.int64) - node.input_zero_point)


def _reshape(node: ir.Reshape, x: np.ndarray) -> np.ndarray:
    return x.reshape(node.shape)


def _transpose(node: ir.Transpose, x: np.ndarray) -> np.ndarray:
    return np.transpose(x, node.perm)


def _concat(node: ir.Concat, *xs: np.ndarray) -> np.ndarray:
    return np.concatenate(xs, axis=node.axis)


def _conv_transpose2d(node: ir.ConvTranspose2d, x: np.ndarray) -> np.ndarray:
    """Each input position scatters its weighted taps onto a canvas of every position a tap
    reaches, which is then cropped by the pads (and extended by the output padding)."""
    n, c, h, w = x.shape
    _, out_per_group, kh, kw = node.weight.shape
    groups = node.groups
    (sh, sw), (dh, dw) = node.strides, node.dilations
    top, left = node.pads[:2]
    oh, ow = node.output_size(h, w)
    canvas = np.zeros((n, groups * out_per_group, max((h - 1) * sh + (kh - 1) * dh + 1, top + oh),
                       max((w - 1) * sw + (kw - 1) * dw + 1, left + ow)))
    shifted = (x.astype(np.float64) - node.input_zero_point).reshape(n, groups, c // groups, h, w)
    weight = node.weight.astype(np.float64).reshape(groups, c // groups, out_per_group, kh, kw)
    for ky in range(kh):
        for kx in range(kw):
            taps = np.einsum("ngchw,gco->ngohw", shifted, weight[..., ky, kx])
            canvas[:, :, ky * dh:ky * dh + (h - 1) * sh + 1:sh,
                   kx * dw:kx * dw + (w - 1) * sw + 1:sw] += taps.reshape(n, -1, h, w)
    acc = canvas[:, :, top:top + oh, left:left + ow].astype(np.int64)
    return node.requant(wrap32(acc + node.bias.astype(np.int64)[:, None, None]))


def _matmul_operand(node: ir.MatMulOperand, x: np.ndarray) -> np.ndarray:
    lead = x.shape[:-2]
    head = x.reshape((-1,) + x.shape[-2:])[node.head]
    if node.side == "b":
        head = head.T                                  # (J, K): output-major
    parts = []
    for a_piece, b_piece in node.segments():
        piece = a_piece if node.side == "a" else b_piece
        parts.append(head if piece is None else np.full_like(head, piece))
    joined = np.concatenate(parts, axis=1).astype(np.int8)
    return joined if node.side == "b" else joined.reshape((1,) * len(lead) + joined.shape)


def _matmul(node: ir.MatMul, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    acc = a.astype(np.int64) @ b.astype(np.int64).T + node.constant
    return node.requant(wrap32(acc))


def _table(node: ir.Table, x: np.ndarray) -> np.ndarray:
    return np.take(node.table, x.astype(np.intp) + 128)


def _quantize(node: ir.Quantize, x: np.ndarray) -> np.ndarray:
    return node.quant.quantize(x)


def _dequantize(node: ir.Dequantize, q: np.ndarray) -> np.ndarray:
    return node.quant.dequantize(q)


def _reinterpret(node: ir.Reinterpret, x: np.ndarray) -> np.ndarray:
    shift = 128 if node.onnx_dtype == "uint8" else 0
    if node.to_host:
        return (x.astype(np.int16) + shift).astype(node.onnx_dtype)
    return (x.astype(np.int16) - shift).astype(np.int8)


_KERNELS: dict[type, Callable] = {
    ir.Conv2d: _conv2d, ir.Dense: _dense, ir.Add: _add, ir.MaxPool: _max_pool,
    ir.AvgPool: _avg_pool, ir.Requantization: _requantization, ir.Reshape: _reshape,
    ir.Concat: _concat, ir.ConvTranspose2d: _conv_transpose2d, ir.Quantize: _quantize,
    ir.Dequantize: _dequantize, ir.Reinterpret: _reinterpret, ir.Transpose: _transpose,
    ir.MatMulOperand: _matmul_operand, ir.MatMul: _matmul, ir.Table: _table,
}
