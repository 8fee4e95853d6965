"""The importer's operator handlers: each maps one ONNX node to the meanings of its outputs.
This module holds their registry (`OPERATORS`, filled by `operator`) and the handlers of the
conversions (QuantizeLinear, DequantizeLinear, Cast); `onnx_accumulations`,
`onnx_elementwise`, `onnx_layout_ops` and `onnx_recurrent` hold the others."""

from __future__ import annotations

import numpy as np
import onnx

from vta.compiler.onnx_attributes import NodeError, attributes
from vta.compiler.onnx_values import Const, Host, Pending, QConst, Quantized, Real
from vta.isa import VtaError

OPERATORS = {}


def operator(*names):
    def register(function):
        for name in names:
            OPERATORS[name] = function
        return function
    return register


def optional_input(node: onnx.NodeProto, index: int) -> str | None:
    """The name of the node's input `index`, None where it is not given."""
    return node.input[index] if len(node.input) > index and node.input[index] else None


# -- conversions ------------------------------------------------------------------------------
@operator("QuantizeLinear")
def quantize_linear(im, node, label):
    attributes(node, label, {"axis": 1, "saturate": 1, "block_size": 0, "output_dtype": 0,
                             "precision": 0})
    source = im.env.get(node.input[0])
    if isinstance(source, Const):
        return [Const(_constant_call(im, node, label, source.array))]
    quant, dtype = im.quant_params(node.input[1], optional_input(node, 2), label)
    output_name = node.output[0]
    if quant.bits < 8 and output_name in im.reserved:
        raise NodeError(label, f"graph output {output_name!r} holds the model's 8-bit integers, "
                               f"not the {quant.bits}-bit operands of the config")
    graph = im.graph
    if isinstance(source, Pending):
        snapshot = im.snapshot()
        try:
            value = im.finalize(source, quant, output_name, dtype)
        except VtaError as error:       # no integer requantization: quantize its float result
            im.roll_back(snapshot)
            value = im.host.quantize(node.input[0], quant, dtype, label, output_name, str(error))
    elif isinstance(source, Real):
        value = graph.values[source.value]
        if value.quant != quant or value.onnx_dtype != dtype:
            value = im.requantize(value, quant, label, im.lo, im.hi, output_name, dtype)
    elif isinstance(source, Host):
        value = im.host.quantize(node.input[0], quant, dtype, label, output_name)
    else:
        raise NodeError(label, f"input {node.input[0]!r} is not a float tensor of the model")
    graph.onnx_names[output_name] = value.name
    return [Quantized(value.name)]


def _constant_call(im, node, label, *arrays) -> np.ndarray:
    """The node evaluated by its host kernel on constant inputs (its own, then the rest)."""
    rest = [im.const(name, label, "input") if name else None for name in node.input[len(arrays):]]
    return im.host.fold_arrays(node, label, list(arrays) + rest)[0]


@operator("DequantizeLinear")
def dequantize_linear(im, node, label):
    attrs = attributes(node, label, {"axis": 1, "block_size": 0, "output_dtype": 0})
    source = im.env.get(node.input[0])
    zero_point_name = optional_input(node, 2)
    if isinstance(source, Const):
        q = source.array
        scale = np.asarray(im.const(node.input[1], label, "scale"))
        zero_point = (np.asarray(im.const(zero_point_name, label, "zero point")) if zero_point_name
                      else np.zeros(scale.shape, np.int64))
        axis = attrs["axis"] % max(q.ndim, 1)
        if attrs["block_size"] or (scale.size > 1 and (q.ndim == 0 or scale.size != q.shape[axis])):
            raise NodeError(label, f"{scale.size} scales do not match axis {axis} of {q.shape}")
        real = _constant_call(im, node, label, q)
        return [QConst(q.astype(np.int64), scale.astype(np.float64).ravel(),
                       zero_point.astype(np.int64).ravel(), axis, real)]
    quant, dtype = im.quant_params(node.input[1], zero_point_name, label)
    value = im.quantized(node.input[0], label, quant, dtype)
    if not np.isclose(quant.scale, value.quant.scale, rtol=1e-6) \
            or quant.zero_point != value.quant.zero_point or dtype != value.onnx_dtype:
        raise NodeError(label, f"dequantizes {node.input[0]!r} with other parameters than "
                        "it was quantized with")
    return [Real(value.name)]


@operator("Cast")
def cast(im, node, label):
    attrs = attributes(node, label, {"to": 0, "saturate": 1, "round_mode": "up"})
    source = im.env.get(node.input[0])
    if isinstance(source, Pending) and attrs["to"] == onnx.TensorProto.FLOAT:
        return [source]
    raise NodeError(label, "Cast is only supported from an integer accumulation to float")
