"""Handlers of the ONNX operators that accumulate products on the GEMM unit: Conv,
ConvTranspose, nearest Resize, Gemm, MatMul and their integer forms (QLinear*, *Integer)."""

from __future__ import annotations

import numpy as np

from vta.compiler import ir, narrow
from vta.compiler.onnx_attributes import (NodeError, attributes, transposed_geometry,
                                          window_geometry)
from vta.compiler.onnx_operators import operator, optional_input
from vta.compiler.onnx_values import Const, Pending, QConst, Quantized, channel_shape
from vta.compiler.requantize import INT8_MAX, INT8_MIN

#: The largest |weight − zero point| of 8-bit weights (uint8 255 against zero point 0).
WIDE_WEIGHT = 255


def _weights(q: np.ndarray, zero_point: np.ndarray, axis: int, label: str) -> np.ndarray:
    """Weights with the zero point (scalar or per `axis`) removed: int8 where they fit, else
    int16 within ±255 (asymmetric uint8 weights, or weights quantized as activations), which
    VTA runs as a sum of int8 parts (`packing.weight_parts`)."""
    shape = [1] * q.ndim
    if zero_point.size > 1:
        shape[axis] = zero_point.size
    weight = q.astype(np.int64) - zero_point.reshape(shape if zero_point.size > 1 else ())
    low, high = weight.min(initial=0), weight.max(initial=0)
    if low < -WIDE_WEIGHT or high > WIDE_WEIGHT:
        raise NodeError(label, f"weights minus their zero point reach {low}…{high}, beyond what "
                        f"8-bit weights span (±{WIDE_WEIGHT})")
    return weight.astype(np.int8 if INT8_MIN <= low and high <= INT8_MAX else np.int16)


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
    out_channels, _, kh, kw = weight.shape
    groups = attrs["group"]
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
    bias = _bias(im, optional_input(node, 2), label, acc_scale, weight.shape[0])
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
    _, per_group, kh, kw = w.q.shape
    out_channels = per_group * groups
    if w.scale.size > 1 and w.axis != 1:
        raise NodeError(label, "per-channel weight scales must be along axis 1 (output channels)")
    if w.scale.size > 1 and groups > 1:
        raise NodeError(label, "per-channel weight scales with groups are not supported")
    weight = _weights(w.q, w.zero_point, 1, label)
    strides, pads, dilations, output_padding = transposed_geometry(attrs, label, x.shape[2:],
                                                                   (kh, kw))
    acc_scale = x.quant.scale * _per_channel(w.scale, out_channels)
    bias = _bias(im, optional_input(node, 2), label, acc_scale, out_channels)
    fields = dict(weight=weight, strides=strides, pads=pads, dilations=dilations,
                  output_padding=output_padding, groups=groups,
                  input_zero_point=x.quant.zero_point)
    probe = ir.ConvTranspose2d(name="", inputs=(), output="", bias=bias, requant=None, **fields)
    out_h, out_w = probe.output_size(*x.shape[2:])
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
    interpolates = _interpolating(node, label)
    if picked.shape[:2] != (n, c) or picked.shape[2] % h or picked.shape[3] % w:
        if interpolates:
            return [_exact_resize(x, picked.shape, label)]
        raise NodeError(label, f"resize {x.shape} → {picked.shape}: integer factors of the "
                        "height and width only")
    factors = (picked.shape[2] // h, picked.shape[3] // w)
    nearest = np.repeat(np.repeat(coded, factors[0], axis=2), factors[1], axis=3)
    if not np.array_equal(picked, nearest):
        if interpolates:
            return [_exact_resize(x, picked.shape, label)]
        raise NodeError(label, "only nearest up-sampling by integer factors runs on VTA")
    weight = np.zeros((c, c) + factors, np.int8)
    weight[np.arange(c), np.arange(c)] = 1
    fields = dict(weight=weight, strides=factors, pads=(0, 0, 0, 0), dilations=(1, 1),
                  output_padding=(0, 0), groups=1, input_zero_point=x.quant.zero_point,
                  upsample=True)
    return [Pending(label, "convtranspose", ir.ConvTranspose2d, (x.name,), picked.shape,
                    np.full(channel_shape("conv", c), x.quant.scale), fields,
                    np.zeros(c, np.int64))]


def _interpolating(node, label) -> bool:
    """Whether a Resize weighs several input elements (linear or cubic mode) rather than
    picking one."""
    mode = attributes(node, label, {"antialias": 0, "axes": None,
                                    "coordinate_transformation_mode": "half_pixel",
                                    "cubic_coeff_a": -0.75, "exclude_outside": 0,
                                    "extrapolation_value": 0.0,
                                    "keep_aspect_ratio_policy": "stretch", "mode": "nearest",
                                    "nearest_mode": "round_prefer_floor"})["mode"]
    return mode in ("linear", "cubic")


def _exact_resize(x: ir.Value, shape: tuple[int, ...], label: str) -> Pending:
    """An interpolating Resize of a dequantized tensor, waiting for the QuantizeLinear after it:
    then it runs on the host in float64 from the integers (`Importer.finalize`), as the exact
    evaluation of the QDQ graph does. Its weights (¼ and ¾ for a ×2 half-pixel up-sampling) put
    many results exactly on a tie between two steps, which float32 arithmetic (dequantized
    inputs, a float32 result) breaks either way by its rounding noise; where the result is used
    as a float tensor, the node runs on the host as it is."""
    return Pending(label, "resize", ir.HostOp, (x.name,), tuple(shape),
                   np.asarray(x.quant.scale))


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
    bias = _bias(im, optional_input(node, 2), label, acc_scale, weight.shape[0], attrs["beta"])
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
    name = optional_input(node, zero_index)
    zero_point = np.asarray(im.const(name, label, "zero point")) if name else np.zeros(1, np.int64)
    return q, zero_point.astype(np.int64).ravel()


def _input_zero_point(im, node, label, value: ir.Value, index: int) -> int:
    """An integer operator's input zero point, in the IR's int8 domain."""
    name = optional_input(node, index)
    zero_point = int(np.asarray(im.const(name, label, "zero point")).item()) if name else 0
    return zero_point - (128 if value.onnx_dtype == "uint8" else 0)


def _scale(im, name, label) -> np.ndarray:
    scale = np.asarray(im.const(name, label, "scale"), dtype=np.float64).ravel()
    if not np.all(np.isfinite(scale)):
        raise NodeError(label, f"scale {name!r} is not finite")
    return scale


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
    bias_name = optional_input(node, 8)
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
