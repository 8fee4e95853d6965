"""The importer's operator handlers: each maps one ONNX node to the meanings of its outputs."""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx

from vta.compiler import ir, narrow
from vta.compiler.activations import ACTIVATIONS, Activation
from vta.compiler.onnx_attributes import NodeError, attributes, window_geometry
from vta.compiler.onnx_values import Const, Host, Pending, QConst, Quantized, Real, channel_shape
from vta.compiler.requantize import INT8_MAX, INT8_MIN
from vta.isa import VtaError

OPERATORS = {}


def operator(*names):
    def register(function):
        for name in names:
            OPERATORS[name] = function
        return function
    return register


def _optional(node: onnx.NodeProto, index: int) -> str | None:
    return node.input[index] if len(node.input) > index and node.input[index] else None


# -- quantize / dequantize --------------------------------------------------------------------
@operator("QuantizeLinear")
def quantize_linear(im, node, label):
    attributes(node, label, {"axis": 1, "saturate": 1, "block_size": 0, "output_dtype": 0,
                             "precision": 0})
    source = im.env.get(node.input[0])
    if isinstance(source, Const):
        return [Const(_constant_call(im, node, label, source.array))]
    quant, dtype = im.quant_params(node.input[1], _optional(node, 2), label)
    output_name = node.output[0]
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
    zero_point_name = _optional(node, 2)
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


# -- accumulating operators -------------------------------------------------------------------
def _weights(q: np.ndarray, zero_point: np.ndarray, axis: int, label: str) -> np.ndarray:
    """int8 weights with the zero point (scalar or per `axis`) removed."""
    shape = [1] * q.ndim
    if zero_point.size > 1:
        shape[axis] = zero_point.size
    weight = q.astype(np.int64) - zero_point.reshape(shape if zero_point.size > 1 else ())
    if weight.min(initial=0) < INT8_MIN or weight.max(initial=0) > INT8_MAX:
        raise NodeError(label, f"weights minus their zero point do not fit int8 (quantize "
                        "weights symmetrically, as `vta quantize` does)")
    return weight.astype(np.int8)


def _bias(im, name: str | None, label: str, acc_scale: np.ndarray, channels: int,
          factor: float = 1.0) -> np.ndarray:
    """int64 bias in accumulator units (acc_scale per channel), from a quantized or float bias."""
    if name is None:
        return np.zeros(channels, np.int64)
    meaning = im.env.get(name)
    if isinstance(meaning, QConst) and factor == 1.0 and not meaning.zero_point.any() \
            and meaning.q.size == channels \
            and np.allclose(np.broadcast_to(meaning.scale, (channels,)), acc_scale, rtol=1e-6):
        return meaning.q.ravel().astype(np.int64)
    real = np.asarray(im.const(name, label, "bias"), dtype=np.float64) * factor
    if real.size not in (1, channels):
        raise NodeError(label, f"bias of {real.size} values for {channels} channels")
    return np.rint(np.broadcast_to(real.ravel(), (channels,)) / acc_scale).astype(np.int64)


def _per_channel(values: np.ndarray, channels: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(values, dtype=np.float64).ravel(), (channels,)).copy()


def conv_pending(im, node, label, x: ir.Value, input_zero_point: int, weight: np.ndarray,
                 acc_scale: np.ndarray, bias: np.ndarray) -> Pending:
    """A Conv2d accumulation of int8 `x` (NCHW) with int8 `weight` (OIHW)."""
    attrs = attributes(node, label, {"auto_pad": "NOTSET", "dilations": None, "group": 1,
                                     "kernel_shape": None, "pads": None, "strides": None})
    if len(x.shape) != 4 or weight.ndim != 4:
        raise NodeError(label, "only 2-D convolutions (NCHW) are supported")
    out_channels, group_channels, kh, kw = weight.shape
    groups = attrs["group"]
    if x.shape[1] != group_channels * groups or out_channels % groups:
        raise NodeError(label, f"{x.shape[1]} input channels do not match weights "
                        f"{weight.shape} in {groups} groups")
    if attrs["kernel_shape"] and tuple(attrs["kernel_shape"]) != (kh, kw):
        raise NodeError(label, f"kernel_shape {attrs['kernel_shape']} does not match weights")
    strides, pads, dilations = window_geometry(attrs, label, x.shape[2:], (kh, kw))
    out_h = ir.window_output_size(x.shape[2], kh, strides[0], pads[0], pads[2], dilations[0])
    out_w = ir.window_output_size(x.shape[3], kw, strides[1], pads[1], pads[3], dilations[1])
    return Pending(label, "conv", ir.Conv2d, (x.name,), (x.shape[0], out_channels, out_h, out_w),
                   acc_scale.reshape(channel_shape("conv", out_channels)),
                   dict(weight=weight, strides=strides, pads=pads, dilations=dilations,
                        groups=groups, input_zero_point=input_zero_point), bias)


def dense_pending(label, x: ir.Value, input_zero_point: int, weight: np.ndarray,
                  acc_scale: np.ndarray, bias: np.ndarray) -> Pending:
    """A Dense accumulation of int8 `x` (..., K) with int8 `weight` (M, K): the product over the
    last axis, for every position of the leading ones (tokens of a transformer)."""
    if len(x.shape) < 2 or x.shape[-1] != weight.shape[1]:
        raise NodeError(label, f"input {x.shape} does not match weights {weight.shape[::-1]}")
    return Pending(label, "dense", ir.Dense, (x.name,), x.shape[:-1] + (weight.shape[0],),
                   acc_scale.reshape(weight.shape[0]),
                   dict(weight=weight, input_zero_point=input_zero_point), bias)


@operator("Conv")
def conv(im, node, label):
    x = im.real(node.input[0], label)
    w = im.qconst(node.input[1], label, "weight")
    if w.scale.size > 1 and w.axis != 0:
        raise NodeError(label, "per-channel weight scales must be along axis 0")
    weight = _weights(w.q, w.zero_point, 0, label)
    weight, weight_scale = narrow.weights(weight, _per_channel(w.scale, weight.shape[0]),
                                          im.weight_bits)
    acc_scale = x.quant.scale * weight_scale
    bias = _bias(im, _optional(node, 2), label, acc_scale, weight.shape[0])
    return [conv_pending(im, node, label, x, x.quant.zero_point, weight, acc_scale, bias)]


@operator("ConvTranspose")
def conv_transpose(im, node, label):
    x = im.real(node.input[0], label)
    w = im.qconst(node.input[1], label, "weight")
    if (im.activation_bits, im.weight_bits) != (8, 8):
        raise NodeError(label, "only QDQ Conv/Gemm/MatMul are re-quantized for narrow operands")
    if w.q.ndim != 4 or len(x.shape) != 4:
        raise NodeError(label, "only 2-D transposed convolutions (NCHW) are supported")
    attrs = attributes(node, label, {"auto_pad": "NOTSET", "dilations": None, "group": 1,
                                     "kernel_shape": None, "output_padding": None,
                                     "output_shape": None, "pads": None, "strides": None})
    groups = attrs["group"]
    channels, per_group, kh, kw = w.q.shape
    out_channels = per_group * groups
    if w.scale.size > 1 and w.axis != 1:
        raise NodeError(label, "per-channel weight scales must be along axis 1 (output channels)")
    if w.scale.size > 1 and groups > 1:
        raise NodeError(label, "per-channel weight scales with groups are not supported")
    if x.shape[1] != channels or channels % groups:
        raise NodeError(label, f"{x.shape[1]} input channels do not match weights {w.q.shape}")
    if attrs["kernel_shape"] and tuple(attrs["kernel_shape"]) != (kh, kw):
        raise NodeError(label, f"kernel_shape {attrs['kernel_shape']} does not match weights")
    weight = _weights(w.q, w.zero_point, 1, label)
    strides = tuple(attrs["strides"] or (1, 1))
    dilations = tuple(attrs["dilations"] or (1, 1))
    output_padding = tuple(attrs["output_padding"] or (0, 0))
    pads = _transposed_pads(attrs, label, x.shape[2:], (kh, kw), strides, dilations,
                            output_padding)
    acc_scale = x.quant.scale * _per_channel(w.scale, out_channels)
    bias = _bias(im, _optional(node, 2), label, acc_scale, out_channels)
    fields = dict(weight=weight, strides=strides, pads=pads, dilations=dilations,
                  output_padding=output_padding, groups=groups,
                  input_zero_point=x.quant.zero_point)
    probe = ir.ConvTranspose2d(name="", inputs=(), output="", bias=bias, requant=None, **fields)
    out_h, out_w = probe.output_size(*x.shape[2:])
    if out_h < 1 or out_w < 1:
        raise NodeError(label, f"output size {out_h}×{out_w} is empty")
    return [Pending(label, "convtranspose", ir.ConvTranspose2d, (x.name,),
                    (x.shape[0], out_channels, out_h, out_w),
                    acc_scale.reshape(channel_shape("conv", out_channels)), fields, bias)]


@operator("Resize")
def resize(im, node, label):
    """A nearest Resize by integer factors (s_h, s_w) of a dequantized NCHW tensor: a transposed
    convolution of stride (s_h, s_w) whose s_h × s_w taps are the identity (output (y, x) takes
    input (⌊y/s_h⌋, ⌊x/s_w⌋)), so it runs on VTA like U-Net's up-sampling. Whether the node is
    such a resize is decided by running its host kernel on an input holding each element's
    index: every mode, rounding and coordinate transformation that picks those elements is."""
    x = im.real(node.input[0], label)
    if (im.activation_bits, im.weight_bits) != (8, 8):
        raise NodeError(label, "only QDQ Conv/Gemm/MatMul are re-quantized for narrow operands")
    if len(x.shape) != 4:
        raise NodeError(label, "only a Resize of an NCHW tensor runs on VTA")
    rest = [im.const(name, label, "input") if name else None for name in node.input[1:]]
    coded = np.arange(int(np.prod(x.shape)), dtype=np.float32).reshape(x.shape)
    picked = im.host.fold_arrays(node, label, [coded] + rest)[0]
    n, c, h, w = x.shape
    if picked.shape[:2] != (n, c) or picked.shape[2] % h or picked.shape[3] % w:
        raise NodeError(label, f"resize {x.shape} → {picked.shape}: integer factors of the "
                        "height and width only")
    factors = (picked.shape[2] // h, picked.shape[3] // w)
    nearest = np.repeat(np.repeat(coded, factors[0], axis=2), factors[1], axis=3)
    if not np.array_equal(picked, nearest):
        raise NodeError(label, "only nearest up-sampling by integer factors runs on VTA")
    weight = np.zeros((c, c) + factors, np.int8)
    weight[np.arange(c), np.arange(c)] = 1
    fields = dict(weight=weight, strides=factors, pads=(0, 0, 0, 0), dilations=(1, 1),
                  output_padding=(0, 0), groups=1, input_zero_point=x.quant.zero_point,
                  upsample=True)
    return [Pending(label, "convtranspose", ir.ConvTranspose2d, (x.name,), picked.shape,
                    np.full(channel_shape("conv", c), x.quant.scale), fields,
                    np.zeros(c, np.int64))]


def _transposed_pads(attrs: dict, label: str, spatial, kernel, strides, dilations,
                     output_padding) -> tuple[int, int, int, int]:
    """ConvTranspose's (top, left, bottom, right) output crops: `pads`, or derived from
    `output_shape` as ONNX defines it (the larger half at the start unless SAME_UPPER)."""
    if len(strides) != 2 or len(dilations) != 2 or len(output_padding) != 2:
        raise NodeError(label, "only 2-D windows are supported")
    if min(strides) < 1 or min(dilations) < 1 or min(output_padding) < 0:
        raise NodeError(label, "strides and dilations must be positive")
    if any(extra >= max(stride, dilation) for extra, stride, dilation
           in zip(output_padding, strides, dilations)):
        raise NodeError(label, "output_padding must be smaller than the stride or dilation")
    auto_pad, output_shape = attrs["auto_pad"], attrs["output_shape"]
    if output_shape is None and auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        output_shape = [size * stride for size, stride in zip(spatial, strides)]
    elif auto_pad not in ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"):
        raise NodeError(label, f"auto_pad {auto_pad!r} is not supported")
    if output_shape is None:
        pads = tuple(attrs["pads"] or (0, 0, 0, 0)) if auto_pad == "NOTSET" else (0, 0, 0, 0)
        if len(pads) != 4 or min(pads) < 0:
            raise NodeError(label, "pads must be 4 values, none negative")
        return pads
    output_shape = list(output_shape)[-2:]
    begin, end = [], []
    for size, k, stride, dilation, extra, out in zip(spatial, kernel, strides, dilations,
                                                     output_padding, output_shape):
        total = stride * (size - 1) + extra + (k - 1) * dilation + 1 - out
        if total < 0:
            raise NodeError(label, f"output_shape {attrs['output_shape']} needs negative pads")
        small, large = total // 2, total - total // 2
        begin.append(small if auto_pad == "SAME_UPPER" else large)
        end.append(large if auto_pad == "SAME_UPPER" else small)
    return begin[0], begin[1], end[0], end[1]


def _dense_weight(w: QConst, transposed: bool, label: str, bits: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(`bits`-bit weight (M, K), scale per M) from a (K, M) weight, or (M, K) when
    `transposed`."""
    output_axis = 0 if transposed else 1
    if w.q.ndim != 2 or (w.scale.size > 1 and w.axis != output_axis):
        raise NodeError(label, "weights must be 2-D with scales per output column")
    weight = _weights(w.q, w.zero_point, output_axis, label)
    weight = np.ascontiguousarray(weight if transposed else weight.T)
    return narrow.weights(weight, _per_channel(w.scale, weight.shape[0]), bits)


@operator("Gemm")
def gemm(im, node, label):
    attrs = attributes(node, label, {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0})
    if attrs["transA"]:
        raise NodeError(label, "attribute transA=1 is not supported")
    if not attrs["alpha"] > 0:
        raise NodeError(label, f"alpha={attrs['alpha']} must be positive")
    x = im.real(node.input[0], label)
    weight, weight_scale = _dense_weight(im.qconst(node.input[1], label, "weight"),
                                         bool(attrs["transB"]), label, im.weight_bits)
    acc_scale = x.quant.scale * weight_scale * attrs["alpha"]
    bias = _bias(im, _optional(node, 2), label, acc_scale, weight.shape[0], attrs["beta"])
    return [dense_pending(label, x, x.quant.zero_point, weight, acc_scale, bias)]


@operator("MatMul")
def matmul(im, node, label):
    attributes(node, label, {})
    x = im.real(node.input[0], label)
    if not isinstance(im.env.get(node.input[1]), (Const, QConst)):
        return [activation_product(label, x, im.real(node.input[1], label))]
    weight, weight_scale = _dense_weight(im.qconst(node.input[1], label, "weight"), False, label,
                                         im.weight_bits)
    acc_scale = x.quant.scale * weight_scale
    return [dense_pending(label, x, x.quant.zero_point, weight, acc_scale,
                          np.zeros(weight.shape[0], np.int64))]


def activation_product(label, a: ir.Value, b: ir.Value) -> Pending:
    """A product of two int8 activations (attention's Q·Kᵀ and A·V): (..., I, K) × (..., K, J)
    with the same leading axes, of which at most one (the heads) is not 1."""
    lead = a.shape[:-2]
    if len(a.shape) not in (3, 4) or b.shape[:-2] != lead or a.shape[-1] != b.shape[-2]:
        raise NodeError(label, f"product of {a.shape} and {b.shape}: 3-D or 4-D operands with "
                        "the same leading axes only")
    if sum(size > 1 for size in lead) > 1:
        raise NodeError(label, f"leading axes {lead}: one axis of heads at most")
    contraction = a.shape[-1]
    reach = [max(INT8_MAX - value.quant.zero_point, value.quant.zero_point - INT8_MIN)
             for value in (a, b)]
    return Pending(label, "matmul", ir.MatMul, (a.name, b.name),
                   lead + (a.shape[-2], b.shape[-1]),
                   np.asarray(a.quant.scale * b.quant.scale),
                   dict(contraction=contraction),
                   input_range=contraction * reach[0] * reach[1])


def _int_weight(im, node, label, index: int, zero_index: int) -> tuple[np.ndarray, np.ndarray]:
    """An integer weight initializer and its zero point (QLinear*/…Integer operators)."""
    if (im.activation_bits, im.weight_bits) != (8, 8):
        raise NodeError(label, "only QDQ Conv/Gemm/MatMul are re-quantized for narrow operands")
    q = np.asarray(im.const(node.input[index], label, "weight"))
    if q.dtype.kind not in "iu":
        raise NodeError(label, f"weight {node.input[index]!r} is not an integer tensor")
    name = _optional(node, zero_index)
    zero_point = np.asarray(im.const(name, label, "zero point")) if name else np.zeros(1, np.int64)
    return q, zero_point.astype(np.int64).ravel()


def _input_zero_point(im, node, label, value: ir.Value, index: int) -> int:
    """An integer operator's input zero point, in the IR's int8 domain."""
    name = _optional(node, index)
    zero_point = int(np.asarray(im.const(name, label, "zero point")).item()) if name else 0
    return zero_point - (128 if value.onnx_dtype == "uint8" else 0)


def _scale(im, name, label) -> np.ndarray:
    return np.asarray(im.const(name, label, "scale"), dtype=np.float64).ravel()


def _finalize_qlinear(im, node, label, pending: Pending, scale_index: int, zero_index: int):
    quant, dtype = im.quant_params(node.input[scale_index], node.input[zero_index], label)
    value = im.finalize(pending, quant, node.output[0], dtype)
    im.graph.onnx_names[node.output[0]] = value.name
    return [Quantized(value.name)]


@operator("QLinearConv")
def qlinear_conv(im, node, label):
    x = im.quantized(node.input[0], label)
    q, zero_point = _int_weight(im, node, label, 3, 5)
    weight = _weights(q, zero_point, 0, label)
    acc_scale = _scale(im, node.input[1], label)[0] * _per_channel(_scale(im, node.input[4], label),
                                                                   weight.shape[0])
    bias_name = _optional(node, 8)
    bias = (np.asarray(im.const(bias_name, label, "bias")).astype(np.int64).ravel() if bias_name
            else np.zeros(weight.shape[0], np.int64))
    pending = conv_pending(im, node, label, x, _input_zero_point(im, node, label, x, 2), weight,
                           acc_scale, bias)
    return _finalize_qlinear(im, node, label, pending, 6, 7)


@operator("QLinearMatMul")
def qlinear_matmul(im, node, label):
    attributes(node, label, {})
    x = im.quantized(node.input[0], label)
    q, zero_point = _int_weight(im, node, label, 3, 5)
    if q.ndim != 2:
        raise NodeError(label, "weights must be 2-D")
    weight = np.ascontiguousarray(_weights(q, zero_point, 1, label).T)
    acc_scale = _scale(im, node.input[1], label)[0] * _per_channel(_scale(im, node.input[4], label),
                                                                   weight.shape[0])
    pending = dense_pending(label, x, _input_zero_point(im, node, label, x, 2), weight, acc_scale,
                            np.zeros(weight.shape[0], np.int64))
    return _finalize_qlinear(im, node, label, pending, 6, 7)


@operator("ConvInteger")
def conv_integer(im, node, label):
    x = im.quantized(node.input[0], label)
    q, zero_point = _int_weight(im, node, label, 1, 3)
    weight = _weights(q, zero_point, 0, label)
    ones = np.ones(weight.shape[0])
    return [conv_pending(im, node, label, x, _input_zero_point(im, node, label, x, 2), weight, ones,
                         np.zeros(weight.shape[0], np.int64))]


@operator("MatMulInteger")
def matmul_integer(im, node, label):
    attributes(node, label, {})
    x = im.quantized(node.input[0], label)
    q, zero_point = _int_weight(im, node, label, 1, 3)
    if q.ndim != 2:
        raise NodeError(label, "weights must be 2-D")
    weight = np.ascontiguousarray(_weights(q, zero_point, 1, label).T)
    return [dense_pending(label, x, _input_zero_point(im, node, label, x, 2), weight,
                          np.ones(weight.shape[0]), np.zeros(weight.shape[0], np.int64))]


# -- element-wise -----------------------------------------------------------------------------
def _requant_pending(label, x: ir.Value) -> Pending:
    """x − zero point as an accumulation (for a ReLU/Clip or a change of scale on its own)."""
    return Pending(label, "requant", ir.Requantization, (x.name,), x.shape,
                   np.asarray(x.quant.scale), dict(input_zero_point=x.quant.zero_point))


def _clamped(im, node, label, lo: float, hi: float):
    source = im.env.get(node.input[0])
    pending = source if isinstance(source, Pending) else _requant_pending(label, im.real(node.input[0], label))
    if pending.kind == "concat":
        raise NodeError(label, "a clamp after Concat is not supported")
    return [dataclasses.replace(pending, lo=max(pending.lo, lo), hi=min(pending.hi, hi))]


@operator("Relu")
def relu(im, node, label):
    attributes(node, label, {})
    return _clamped(im, node, label, 0.0, np.inf)


@operator("Clip")
def clip(im, node, label):
    attrs = attributes(node, label, {"min": -np.inf, "max": np.inf})
    lo, hi = attrs["min"], attrs["max"]
    if _optional(node, 1):
        lo = float(im.const(node.input[1], label, "min"))
    if _optional(node, 2):
        hi = float(im.const(node.input[2], label, "max"))
    return _clamped(im, node, label, lo, hi)


@operator(*ACTIVATIONS)
def activation(im, node, label):
    """An element-wise activation of a dequantized tensor, planned as an ALU program once the
    QuantizeLinear after it fixes the output's quantization (`activations`)."""
    attrs = attributes(node, label, ACTIVATIONS[node.op_type])
    x = im.real(node.input[0], label)
    channels = ()
    if node.op_type == "PRelu":
        slope = np.asarray(im.const(node.input[1], label, "slope"), dtype=np.float32)
        channels = _slope_channels(slope, x.shape, label)
        negative = slope.reshape(channels).astype(np.float64) if channels else \
            np.float64(slope.ravel()[0])
        slopes = (negative, np.ones_like(negative))
        slope = slope.reshape(channels) if channels else slope.ravel()[:1].reshape(())

        def table(real, slope=slope):
            return im.host.fold_arrays(node, label, [real, slope])[0]
    else:
        alpha = {"LeakyRelu": attrs.get("alpha"), "HardSigmoid": attrs.get("alpha")}.get(
            node.op_type)
        slopes = None if alpha is None else (
            (np.float64(alpha), np.float64(1.0)) if node.op_type == "LeakyRelu"
            else (np.float64(alpha), np.float64(alpha)))

        def table(real):
            return im.host.fold_arrays(node, label, [real])[0]
    spec = Activation(node.op_type, slopes, table)
    return [Pending(label, "activation", ir.Requantization, (x.name,), x.shape,
                    np.asarray(x.quant.scale),
                    dict(input_zero_point=x.quant.zero_point, activation=spec,
                         channels=channels))]


def _slope_channels(slope: np.ndarray, shape: tuple[int, ...], label: str) -> tuple[int, ...]:
    """() for one slope; (C, 1, 1) for a slope per channel of an NCHW tensor."""
    if slope.size == 1:
        return ()
    if len(shape) == 4 and slope.size == shape[1] and \
            slope.shape[-3:] == (shape[1], 1, 1)[-slope.ndim:] and slope.ndim <= 4 \
            and (slope.ndim < 4 or slope.shape[0] == 1):
        return (shape[1], 1, 1)
    raise NodeError(label, f"slopes of shape {slope.shape}: one slope, or one per channel of a "
                    "4-D tensor, on VTA")


@operator("Add")
def add(im, node, label):
    attributes(node, label, {})
    meanings = [im.env.get(name) for name in node.input]
    pending = next((m for m in meanings if isinstance(m, Pending)), None)
    constant = next((name for name in node.input if isinstance(im.env.get(name), (Const, QConst))), None)
    if pending is not None and constant is not None and pending.kind in ("conv", "convtranspose", "dense"):
        channels = pending.bias.size
        real = np.asarray(im.const(constant, label, "addend"), dtype=np.float64)
        per_channel = _channel_vector(real, pending, label)
        bias = pending.bias + np.rint(per_channel / pending.acc_scale.ravel()).astype(np.int64)
        return [dataclasses.replace(pending, bias=bias.reshape(channels))]
    if constant is not None and pending is None:
        return [_constant_affine(im, node, label)]
    if constant is not None:
        raise NodeError(label, f"adding a constant is only supported as the bias of a "
                        "Conv/Gemm/MatMul result before its QuantizeLinear")
    a, b = (im.real(name, label) for name in node.input)
    if a.shape != b.shape:
        raise NodeError(label, f"only same-shape Add is supported ({a.shape} + {b.shape})")
    return [Pending(label, "add", ir.Add, (a.name, b.name), a.shape, None)]


def _channel_vector(real: np.ndarray, pending: Pending, label: str) -> np.ndarray:
    """A constant that varies at most along the output channels, as one value per channel."""
    channels = pending.bias.size
    full = np.broadcast_to(real, pending.shape) if real.ndim <= len(pending.shape) else None
    if full is None:
        raise NodeError(label, f"addend of shape {real.shape} does not fit {pending.shape}")
    moved = np.moveaxis(full, -1 if pending.kind == "dense" else 1, 0).reshape(channels, -1)
    if not np.all(moved == moved[:, :1]):
        raise NodeError(label, f"only a per-channel constant can be added to {pending.label}")
    return moved[:, 0]


@operator("Mul")
def mul(im, node, label):
    attributes(node, label, {})
    pending = next((im.env[n] for n in node.input if isinstance(im.env.get(n), Pending)), None)
    constant = next((n for n in node.input if isinstance(im.env.get(n), (Const, QConst))), None)
    if all(isinstance(im.env.get(n), Real) for n in node.input):
        return [_activation_product(im, node, label)]
    if pending is None and constant is not None:
        return [_constant_affine(im, node, label)]
    if pending is None or constant is None or pending.kind not in ("conv", "convtranspose",
                                                                   "dense"):
        raise NodeError(label, f"Mul is only supported as the rescaling of a ConvInteger "
                        "or MatMulInteger result by a constant")
    factor = _channel_vector(np.asarray(im.const(constant, label, "factor"), np.float64), pending, label)
    if np.any(factor <= 0):
        raise NodeError(label, "rescaling factors must be positive")
    return [dataclasses.replace(pending, acc_scale=pending.acc_scale * factor.reshape(pending.acc_scale.shape))]


def _activation_product(im, node, label) -> Pending:
    """The elementwise product of two dequantized tensors of one shape (a gated unit, x·σ(x),
    HardSwish as x·HardSigmoid(x)): (a − za)(b − zb) by the ALU's vector MUL, requantized."""
    a, b = (im.real(name, label) for name in node.input)
    if a.shape != b.shape and _gate_shape(a.shape, b.shape):
        a, b = b, a                     # the full tensor first, the gate second
    if a.shape != b.shape and not _gate_shape(b.shape, a.shape):
        raise NodeError(label, f"only a Mul of two activations of one shape, or of an N×C×H×W "
                        f"tensor by an N×C×1×1 gate, runs on VTA ({a.shape} × {b.shape})")
    if not im.alu_mul:
        raise NodeError(label, "a product of two activations needs the ALU multiply (ALU_MUL)")
    reach = [max(INT8_MAX - v.quant.zero_point, v.quant.zero_point - INT8_MIN) for v in (a, b)]
    return Pending(label, "mul", ir.Add, (a.name, b.name), a.shape,
                   np.asarray(np.float32(a.quant.scale) * np.float32(b.quant.scale)),
                   input_range=reach[0] * reach[1])


@operator("Sub", "Div")
def sub_div(im, node, label):
    attributes(node, label, {})
    return [_constant_affine(im, node, label)]


def _constant_affine(im, node, label) -> Pending:
    """x + c, x − c, c − x, x·c, x / c of a dequantized x and a constant c (one value, or one per
    channel): an affine function of x, planned on the ALU like an activation (`activations`:
    exact for all 256 inputs, else the host) once the QuantizeLinear after it is known."""
    meanings = [im.env.get(name) for name in node.input]
    if len(meanings) != 2 or sum(isinstance(m, Real) for m in meanings) != 1 \
            or not any(isinstance(m, (Const, QConst)) for m in meanings):
        raise NodeError(label, f"{node.op_type} runs on VTA only between a dequantized tensor "
                        "and a constant")
    index = 0 if isinstance(meanings[0], Real) else 1
    if node.op_type == "Div" and index == 1:
        raise NodeError(label, "a constant divided by a tensor is no affine function")
    x = im.real(node.input[index], label)
    constant = np.asarray(im.const(node.input[1 - index], label, "operand"))
    if constant.dtype != np.float32:
        raise NodeError(label, f"a {constant.dtype} operand of a float tensor")
    channels, constant = _constant_channels(constant, x.shape, label)
    slope = {"Add": np.ones(channels), "Sub": np.full(channels, -1.0 if index else 1.0),
             "Mul": constant.astype(np.float64),
             "Div": np.divide(1, constant.astype(np.float64), where=constant != 0,
                              out=np.full(constant.shape, np.inf))}[node.op_type]
    if not np.all(np.isfinite(slope)):
        raise NodeError(label, "division by zero")

    def table(real):
        operands = [real, constant] if index == 0 else [constant, real]
        return im.host.fold_arrays(node, label, operands)[0]
    spec = Activation(node.op_type, (slope, slope), table)
    return Pending(label, "activation", ir.Requantization, (x.name,), x.shape,
                   np.asarray(x.quant.scale),
                   dict(input_zero_point=x.quant.zero_point, activation=spec,
                        channels=channels))


def _constant_channels(constant: np.ndarray, shape: tuple[int, ...], label: str
                       ) -> tuple[tuple[int, ...], np.ndarray]:
    """(broadcast shape, constant in it) of a constant applied to a tensor of `shape`: () for
    one value; (C, 1, 1) or (C,) for one per channel (axis 1 or the last of a 4-D tensor, the
    last axis of a 2-D or 3-D one)."""
    if constant.size == 1:
        return (), constant.reshape(())
    if constant.ndim > len(shape):
        raise NodeError(label, f"a constant of shape {constant.shape} widens {shape}")
    full = np.broadcast_to(constant, shape)
    for axis in ((1, 3) if len(shape) == 4 else (len(shape) - 1,)):
        moved = np.moveaxis(full, axis, 0).reshape(shape[axis], -1)
        if np.all(moved == moved[:, :1]):
            channels = (shape[axis],) + (1,) * (len(shape) - 1 - axis)
            return channels, np.ascontiguousarray(moved[:, 0].reshape(channels))
    raise NodeError(label, f"a constant of shape {constant.shape} that varies along other "
                    "axes than the channels")


def _gate_shape(gate: tuple[int, ...], full: tuple[int, ...]) -> bool:
    """Whether `gate` is a squeeze-excite gate of `full`: N×C×1×1 against N×C×H×W."""
    return len(gate) == len(full) == 4 and gate[:2] == full[:2] and gate[2:] == (1, 1) \
        and full[2:] != (1, 1)


@operator("Cast")
def cast(im, node, label):
    attrs = attributes(node, label, {"to": 0, "saturate": 1, "round_mode": "up"})
    source = im.env.get(node.input[0])
    if isinstance(source, Pending) and attrs["to"] == onnx.TensorProto.FLOAT:
        return [source]
    raise NodeError(label, "Cast is only supported from an integer accumulation to float")
