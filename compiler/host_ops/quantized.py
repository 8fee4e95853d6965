"""The quantization operators and the quantized products, with the arithmetic of ONNX's
reference: integer accumulation, then the float rescaling in the reference's precision
(int32 · float32 promotes to float64), rounding half to even and saturation."""

from __future__ import annotations

import numpy as np

from vta.compiler.host_ops.nn import convolve
from vta.compiler.host_ops.registry import HostOpError, NotMine, kernel
from vta.compiler.host_ops.shape import dtype_of

_INTEGER_TYPES = (np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32)


def along_axis(values: np.ndarray, shape: tuple, axis: int, block: int = 0) -> np.ndarray:
    """A scale or zero point broadcast against a tensor: a scalar, per `axis`, or per block of
    `block` elements along `axis` (the remainder block shorter)."""
    values = np.asarray(values)
    if values.ndim == 0 or values.size == 1 and not block:
        return values.reshape(())
    if not block:
        dims = [1] * len(shape)
        dims[axis] = values.size
        return values.reshape(dims)
    repeated = np.repeat(values, block, axis=axis)
    return np.take(repeated, np.arange(shape[axis]), axis=axis)


@kernel("QuantizeLinear")
def quantize_linear(call, x, scale, zero_point=None):
    axis = call.attr("axis", 1) % max(x.ndim, 1)
    block = call.attr("block_size", 0)
    if zero_point is not None:
        dtype = zero_point.dtype
    elif call.attributes.get("output_dtype"):
        dtype = dtype_of(call.attr("output_dtype"))
    else:
        dtype = np.dtype(np.uint8)
    if dtype.type not in _INTEGER_TYPES:
        raise NotMine(f"QuantizeLinear to {dtype}")
    scaled = x / along_axis(scale, x.shape, axis, block)
    info = np.iinfo(dtype)
    rounded = np.rint(np.clip(scaled, -2.0 ** 31, 2.0 ** 31 - 1))
    if zero_point is not None:
        rounded = rounded + along_axis(zero_point, x.shape, axis, block).astype(np.float64)
    rounded = np.nan_to_num(rounded, nan=info.min)     # NaN quotients: the lowest, as ORT
    return np.clip(rounded, info.min, info.max).astype(dtype)


@kernel("DequantizeLinear")
def dequantize_linear(call, x, scale, zero_point=None):
    if x.dtype.type not in _INTEGER_TYPES:
        raise NotMine(f"DequantizeLinear of {x.dtype}")
    axis = call.attr("axis", 1) % max(x.ndim, 1)
    block = call.attr("block_size", 0)
    shifted = x.astype(np.float32)
    if zero_point is not None:
        shifted = shifted - along_axis(zero_point, x.shape, axis, block)
    y = shifted * along_axis(scale, x.shape, axis, block)
    output = call.attributes.get("output_dtype")
    return y.astype(dtype_of(output) if output else scale.dtype)


@kernel("DynamicQuantizeLinear")
def dynamic_quantize_linear(call, x):
    low = np.minimum(np.float32(0), np.min(x)) if x.size else np.float32(0)
    high = np.maximum(np.float32(0), np.max(x)) if x.size else np.float32(0)
    scale = np.float32((high - low) / np.float32(255))
    scale = scale if scale != 0 else np.float32(1)     # all zeros: any scale quantizes to 0
    zero_point = np.uint8(np.clip(np.rint(np.float32(0) - low / scale), 0, 255))
    y = np.clip(np.rint(x / scale) + zero_point, 0, 255).astype(np.uint8)
    return y, np.asarray(scale, np.float32), np.asarray(zero_point, np.uint8)


def _shifted(q: np.ndarray, zero_point, axis: int = 0) -> np.ndarray:
    """q − zero point as int64 (zero point scalar or per `axis`)."""
    values = q.astype(np.int64)
    if zero_point is None:
        return values
    zero_point = np.asarray(zero_point).astype(np.int64)
    if zero_point.size > 1:
        return values - along_axis(zero_point, q.shape, axis)
    return values - zero_point.reshape(())


def _requantize(acc: np.ndarray, multiplier: np.ndarray, zero_point, dtype) -> np.ndarray:
    real = acc.astype(np.int32) * multiplier        # int32 · float32 → float64, as ONNX's
    if zero_point is not None:
        real = real + np.asarray(zero_point).astype(np.int64)
        dtype = np.asarray(zero_point).dtype
    info = np.iinfo(dtype)
    return np.clip(np.rint(real), info.min, info.max).astype(dtype)


@kernel("ConvInteger")
def conv_integer(call, x, w, x_zero_point=None, w_zero_point=None):
    acc = convolve(_shifted(x, x_zero_point).astype(np.float64),
                   _shifted(w, w_zero_point, 0).astype(np.float64), call, call.attr("group", 1),
                   np.float64)
    return acc.astype(np.int32)


@kernel("MatMulInteger")
def matmul_integer(call, a, b, a_zero_point=None, b_zero_point=None):
    left = _shifted(a, a_zero_point, a.ndim - 2 if a.ndim > 1 else 0)
    right = _shifted(b, b_zero_point, b.ndim - 1)
    return np.matmul(left.astype(np.float64), right.astype(np.float64)).astype(np.int32)


@kernel("QLinearConv")
def qlinear_conv(call, x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale,
                 y_zero_point=None, bias=None):
    acc = convolve(_shifted(x, x_zero_point).astype(np.float64),
                   _shifted(w, w_zero_point, 0).astype(np.float64), call, call.attr("group", 1),
                   np.float64)
    if bias is not None:
        acc = acc + bias.astype(np.float64).reshape((1, -1) + (1,) * (x.ndim - 2))
    w_scale = np.asarray(w_scale)
    if w_scale.size > 1:
        w_scale = w_scale.reshape((1, -1) + (1,) * (x.ndim - 2))
    multiplier = x_scale * w_scale / y_scale
    return _requantize(acc, multiplier, y_zero_point, x.dtype)


@kernel("QLinearMatMul")
def qlinear_matmul(call, a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale,
                   y_zero_point=None):
    left = _shifted(a, a_zero_point, a.ndim - 2 if a.ndim > 1 else 0)
    right = _shifted(b, b_zero_point, b.ndim - 1)
    acc = np.matmul(left.astype(np.float64), right.astype(np.float64))
    if np.size(a_scale) > 1 or np.size(y_scale) > 1 and np.size(y_scale) != acc.shape[-1]:
        raise HostOpError("QLinearMatMul: per-row scales are not supported")
    multiplier = a_scale * b_scale / y_scale
    return _requantize(acc, multiplier, y_zero_point, a.dtype)
