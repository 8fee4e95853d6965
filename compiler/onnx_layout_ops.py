"""Importer handlers for pooling, shape and data-movement operators, and constant folding."""

from __future__ import annotations

import numpy as np

from vta.compiler import ir
from vta.compiler.onnx_attributes import NodeError, attributes, window_geometry
from vta.compiler.onnx_operators import operator
from vta.compiler.onnx_values import Const, Host, Pending, Quantized, Real

_POOL_ATTRIBUTES = {"auto_pad": "NOTSET", "ceil_mode": 0, "dilations": None, "kernel_shape": None,
                    "pads": None, "strides": None}


def _same_quant(im, label, x: ir.Value, kind: type, node_type, output_name: str, out_shape,
                **fields) -> list:
    """Emit an operator that keeps its input's quantization; its output means what its input
    meant (`Real` or `Quantized`)."""
    output = im.new_value(output_name, out_shape, x.quant, x.onnx_dtype)
    value = im.emit(node_type, label, [x.name], output, **fields)
    if kind is Quantized:
        im.graph.onnx_names[output_name] = value.name
    return [kind(value.name)]


def _pool_geometry(attrs, label, x: ir.Value):
    if len(x.shape) != 4 or not attrs["kernel_shape"] or len(attrs["kernel_shape"]) != 2:
        raise NodeError(label, "only 2-D pooling of NCHW tensors is supported")
    kernel = tuple(attrs["kernel_shape"])
    strides, pads, dilations = window_geometry(attrs, label, x.shape[2:], kernel)
    ceil_mode = bool(attrs["ceil_mode"])
    out = tuple(ir.window_output_size(x.shape[2 + a], kernel[a], strides[a], pads[a], pads[a + 2],
                                      dilations[a], ceil_mode) for a in range(2))
    return kernel, strides, pads, dilations, ceil_mode, out


@operator("MaxPool")
def max_pool(im, node, label):
    attrs = attributes(node, label, _POOL_ATTRIBUTES | {"storage_order": 0})
    if len(node.output) > 1 and node.output[1]:
        raise NodeError(label, "the Indices output of MaxPool is not supported")
    x, kind = im.tensor(node.input[0], label)
    kernel, strides, pads, dilations, ceil_mode, out = _pool_geometry(attrs, label, x)
    return _same_quant(im, label, x, kind, ir.MaxPool, node.output[0], x.shape[:2] + out,
                       kernel=kernel, strides=strides, pads=pads, dilations=dilations,
                       ceil_mode=ceil_mode)


def _divisors(size, kernel, stride, pad_begin, pad_end, out, include_pad) -> np.ndarray:
    """Per output position, how many elements AveragePool divides by (as onnxruntime counts)."""
    start = np.arange(out) * stride - pad_begin
    end = np.minimum(start + kernel, size + pad_end)
    if include_pad:
        return end - start
    return np.minimum(end, size) - np.maximum(start, 0)


def _avg_pending(im, label, x: ir.Value, kernel, strides, pads, ceil_mode, divisors) -> Pending:
    if not im.alu_mul and np.any(divisors & (divisors - 1)):
        raise NodeError(label, f"averaging over {int(divisors.max())} elements is no "
                        "power-of-two division and the config has no ALU multiply (ALU_MUL)")
    acc_scale = x.quant.scale / divisors.astype(np.float64)
    if np.all(divisors == divisors.flat[0]):
        acc_scale = np.asarray(acc_scale.flat[0])
    out = divisors.shape
    return Pending(label, "avgpool", ir.AvgPool, (x.name,), x.shape[:2] + out,
                   acc_scale.reshape((1,) + out) if acc_scale.ndim else acc_scale,
                   dict(kernel=kernel, strides=strides, pads=pads, ceil_mode=ceil_mode,
                        input_zero_point=x.quant.zero_point),
                   input_range=255 * kernel[0] * kernel[1])


@operator("AveragePool")
def average_pool(im, node, label):
    attrs = attributes(node, label, _POOL_ATTRIBUTES | {"count_include_pad": 0})
    x = im.real(node.input[0], label)
    kernel, strides, pads, dilations, ceil_mode, out = _pool_geometry(attrs, label, x)
    if dilations != (1, 1):
        raise NodeError(label, "dilated AveragePool is not supported")
    include = bool(attrs["count_include_pad"])
    rows = _divisors(x.shape[2], kernel[0], strides[0], pads[0], pads[2], out[0], include)
    cols = _divisors(x.shape[3], kernel[1], strides[1], pads[1], pads[3], out[1], include)
    return [_avg_pending(im, label, x, kernel, strides, pads, ceil_mode, np.outer(rows, cols))]


@operator("GlobalAveragePool")
def global_average_pool(im, node, label):
    attributes(node, label, {})
    x = im.real(node.input[0], label)
    if len(x.shape) != 4:
        raise NodeError(label, "only NCHW inputs are supported")
    kernel = x.shape[2:]
    return [_avg_pending(im, label, x, kernel, (1, 1), (0, 0, 0, 0), False,
                         np.full((1, 1), kernel[0] * kernel[1]))]


# -- shapes -----------------------------------------------------------------------------------
@operator("Flatten")
def flatten(im, node, label):
    attrs = attributes(node, label, {"axis": 1})
    x, kind = im.tensor(node.input[0], label)
    axis = attrs["axis"] % (len(x.shape) + 1) if attrs["axis"] < 0 else attrs["axis"]
    shape = (int(np.prod(x.shape[:axis])), int(np.prod(x.shape[axis:])))
    return _same_quant(im, label, x, kind, ir.Reshape, node.output[0], shape, shape=shape)


@operator("Reshape")
def reshape(im, node, label):
    attrs = attributes(node, label, {"allowzero": 0})
    x, kind = im.tensor(node.input[0], label)
    requested = [int(d) for d in np.asarray(im.const(node.input[1], label, "shape")).ravel()]
    shape = [x.shape[i] if d == 0 and not attrs["allowzero"] else d for i, d in enumerate(requested)]
    if shape.count(-1) == 1:
        known = int(np.prod([d for d in shape if d != -1]))
        shape[shape.index(-1)] = int(np.prod(x.shape)) // max(known, 1)
    if int(np.prod(shape)) != int(np.prod(x.shape)) or min(shape, default=1) < 1:
        raise NodeError(label, f"cannot reshape {x.shape} to {tuple(requested)}")
    return _same_quant(im, label, x, kind, ir.Reshape, node.output[0], tuple(shape),
                       shape=tuple(shape))


@operator("Squeeze", "Unsqueeze")
def squeeze(im, node, label):
    attrs = attributes(node, label, {"axes": None})
    x, kind = im.tensor(node.input[0], label)
    axes = attrs["axes"] if attrs["axes"] is not None else (
        [int(a) for a in np.asarray(im.const(node.input[1], label, "axes")).ravel()]
        if len(node.input) > 1 and node.input[1] else None)
    probe = np.empty(x.shape, dtype=np.int8)
    if node.op_type == "Squeeze":
        shape = np.squeeze(probe, axis=tuple(axes) if axes is not None else None).shape
    else:
        shape = np.expand_dims(probe, tuple(axes)).shape
    return _same_quant(im, label, x, kind, ir.Reshape, node.output[0], shape, shape=shape)


@operator("Concat")
def concat(im, node, label):
    attrs = attributes(node, label, {"axis": None})
    values = [im.real(name, label) for name in node.input]
    rank = len(values[0].shape)
    axis = attrs["axis"] % rank
    for value in values[1:]:
        if len(value.shape) != rank or any(a != b for i, (a, b) in
                                           enumerate(zip(value.shape, values[0].shape)) if i != axis):
            raise NodeError(label, f"input shapes {values[0].shape} and {value.shape} "
                            f"do not concatenate along axis {axis}")
    shape = list(values[0].shape)
    shape[axis] = sum(value.shape[axis] for value in values)
    if all(v.quant == values[0].quant and v.onnx_dtype == values[0].onnx_dtype for v in values):
        output = im.new_value(node.output[0], shape, values[0].quant, values[0].onnx_dtype)
        return [Real(im.emit(ir.Concat, label, [v.name for v in values], output, axis=axis).name)]
    return [Pending(label, "concat", ir.Concat, tuple(v.name for v in values), tuple(shape),
                    np.asarray(1.0), dict(axis=axis))]


@operator("Identity", "Dropout")
def identity(im, node, label):
    if node.op_type == "Dropout" and len(node.output) > 1 and node.output[1]:
        raise NodeError(label, "the mask output of Dropout is not supported")
    return [im.env.get(node.input[0])]


@operator("Shape", "Size")
def shape(im, node, label):
    attrs = attributes(node, label, {"start": 0, "end": None})
    meaning = im.env.get(node.input[0])
    if isinstance(meaning, (Real, Quantized)):
        dims = im.graph.values[meaning.value].shape
    elif isinstance(meaning, Host):
        dims = im.graph.values[meaning.value].shape
    elif isinstance(meaning, Pending):
        dims = meaning.shape
    else:
        raise NodeError(label, f"the shape of {node.input[0]!r} is unknown")
    if node.op_type == "Size":
        return [Const(np.asarray(int(np.prod(dims)), dtype=np.int64))]
    return [Const(np.asarray(dims[attrs["start"]:attrs["end"]], dtype=np.int64))]
