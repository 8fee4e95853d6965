"""Element-wise operators: arithmetic with numpy broadcasting (ONNX's multidirectional
broadcasting is numpy's), comparisons and logic, activations and math functions. Integer
arithmetic wraps around in the tensor's own type, as ONNX's does."""

from __future__ import annotations

from functools import reduce

import numpy as np

from vta.compiler.host_ops.registry import HostOpError, kernel
from vta.compiler.host_ops.special import erf

_UNARY = {
    "Abs": np.abs, "Neg": np.negative, "Exp": np.exp, "Log": np.log, "Sqrt": np.sqrt,
    "Floor": np.floor, "Ceil": np.ceil, "Round": np.rint, "Sign": np.sign,
    "Sin": np.sin, "Cos": np.cos, "Tan": np.tan, "Asin": np.arcsin, "Acos": np.arccos,
    "Atan": np.arctan, "Sinh": np.sinh, "Cosh": np.cosh, "Tanh": np.tanh, "Asinh": np.arcsinh,
    "Acosh": np.arccosh, "Atanh": np.arctanh, "Not": np.logical_not, "BitwiseNot": np.invert,
    "IsNaN": np.isnan,
}


def _same_type(function):
    def apply(call, x):
        return np.asarray(function(x)).astype(x.dtype, copy=False)
    return apply


for _name, _function in _UNARY.items():
    kernel(_name)(_same_type(_function) if _name not in ("Not", "IsNaN") else
                  (lambda f: lambda call, x: f(x))(_function))


@kernel("Reciprocal")
def reciprocal(call, x):
    return (np.asarray(1, x.dtype) / x).astype(x.dtype)


@kernel("Erf")
def erf_op(call, x):
    return erf(x)


@kernel("IsInf")
def is_inf(call, x):
    positive, negative = call.attr("detect_positive", 1), call.attr("detect_negative", 1)
    return np.isinf(x) & (((x > 0) & bool(positive)) | ((x < 0) & bool(negative)))


# -- binary arithmetic ------------------------------------------------------------------------
def _integer(x: np.ndarray) -> bool:
    return x.dtype.kind in "iu"


@kernel("Add")
def add(call, a, b):
    return np.add(a, b, dtype=a.dtype)


@kernel("Sub")
def sub(call, a, b):
    return np.subtract(a, b, dtype=a.dtype)


@kernel("Mul")
def mul(call, a, b):
    return np.multiply(a, b, dtype=a.dtype)


@kernel("Div")
def div(call, a, b):
    if _integer(a):                 # (division by zero is undefined in ONNX; numpy gives 0)
        quotient = np.floor_divide(a, b)
        adjust = (np.remainder(a, b) != 0) & ((a < 0) ^ (b < 0))    # truncate toward zero
        return (quotient + adjust.astype(quotient.dtype)).astype(a.dtype)
    return np.divide(a, b, dtype=a.dtype)


@kernel("Mod")
def mod(call, a, b):
    function = np.fmod if call.attr("fmod", 0) else np.mod    # sign of the dividend / divisor
    return function(a, b).astype(a.dtype)


@kernel("Pow")
def power(call, base, exponent):
    if _integer(base) and _integer(exponent):
        return np.power(base.astype(np.int64), exponent.astype(np.int64)).astype(base.dtype)
    if exponent.dtype != base.dtype and not _integer(base):
        exponent = exponent.astype(base.dtype)
    return np.power(base, exponent).astype(base.dtype)


@kernel("BitShift")
def bit_shift(call, x, amount):
    direction = call.attr("direction", "")
    if direction == "LEFT":
        return np.left_shift(x, amount).astype(x.dtype)
    if direction == "RIGHT":
        return np.right_shift(x, amount).astype(x.dtype)
    raise HostOpError(f"BitShift: direction {direction!r} is neither LEFT nor RIGHT")


_BINARY = {
    "And": np.logical_and, "Or": np.logical_or, "Xor": np.logical_xor,
    "BitwiseAnd": np.bitwise_and, "BitwiseOr": np.bitwise_or, "BitwiseXor": np.bitwise_xor,
    "Equal": np.equal, "Greater": np.greater, "Less": np.less,
    "GreaterOrEqual": np.greater_equal, "LessOrEqual": np.less_equal,
}
for _name, _function in _BINARY.items():
    kernel(_name)((lambda f: lambda call, a, b: f(a, b))(_function))


def _variadic(function):
    def apply(call, *inputs):
        return reduce(function, inputs).astype(inputs[0].dtype)
    return apply


kernel("Max")(_variadic(np.maximum))
kernel("Min")(_variadic(np.minimum))
kernel("Sum")(_variadic(np.add))


@kernel("Mean")
def mean(call, *inputs):
    return (reduce(np.add, inputs) / np.asarray(len(inputs), inputs[0].dtype)).astype(inputs[0].dtype)


@kernel("Where")
def where(call, condition, a, b):
    return np.where(condition, a, b)


# -- activations ------------------------------------------------------------------------------
def _scalar(x: np.ndarray, value) -> np.ndarray:
    """`value` as a 0-d array of x's type (arithmetic then stays in that type)."""
    return np.asarray(value, dtype=x.dtype)


@kernel("Relu")
def relu(call, x):
    return np.maximum(x, _scalar(x, 0))


@kernel("LeakyRelu")
def leaky_relu(call, x):
    return np.where(x < 0, x * _scalar(x, call.attr("alpha", 0.01)), x)


@kernel("PRelu")
def prelu(call, x, slope):
    return np.where(x < 0, x * slope, x).astype(x.dtype)


@kernel("ThresholdedRelu")
def thresholded_relu(call, x):
    return np.where(x > _scalar(x, call.attr("alpha", 1.0)), x, _scalar(x, 0))


@kernel("Elu")
def elu(call, x):
    alpha = _scalar(x, call.attr("alpha", 1.0))
    return np.where(x < 0, alpha * (np.exp(x) - _scalar(x, 1)), x)


@kernel("Celu")
def celu(call, x):
    alpha = _scalar(x, call.attr("alpha", 1.0))
    return np.maximum(x, _scalar(x, 0)) + np.minimum(_scalar(x, 0),
                                                     alpha * (np.exp(x / alpha) - _scalar(x, 1)))


@kernel("Selu")
def selu(call, x):
    alpha = _scalar(x, call.attr("alpha", 1.67326319217681884765625))
    gamma = _scalar(x, call.attr("gamma", 1.05070102214813232421875))
    return np.where(x <= 0, gamma * (alpha * np.exp(x) - alpha), gamma * x)


@kernel("Sigmoid")
def sigmoid(call, x):
    one = _scalar(x, 1)
    return one / (one + np.exp(-x))


@kernel("HardSigmoid")
def hard_sigmoid(call, x):
    alpha, beta = _scalar(x, call.attr("alpha", 0.2)), _scalar(x, call.attr("beta", 0.5))
    return np.clip(alpha * x + beta, _scalar(x, 0), _scalar(x, 1))


@kernel("HardSwish")
def hard_swish(call, x):
    return x * np.clip(x * _scalar(x, 1 / 6) + _scalar(x, 0.5), _scalar(x, 0), _scalar(x, 1))


@kernel("Swish")
def swish(call, x):
    alpha = _scalar(x, call.attr("alpha", 1.0))
    return x / (_scalar(x, 1) + np.exp(-alpha * x))


@kernel("Softplus")
def softplus(call, x):
    return np.logaddexp(_scalar(x, 0), x).astype(x.dtype)


@kernel("Softsign")
def softsign(call, x):
    return x / (_scalar(x, 1) + np.abs(x))


@kernel("Mish")
def mish(call, x):
    return x * np.tanh(np.logaddexp(_scalar(x, 0), x).astype(x.dtype))


@kernel("Gelu")
def gelu(call, x):
    half, one = _scalar(x, 0.5), _scalar(x, 1)
    if call.attr("approximate", "none") == "tanh":
        inner = _scalar(x, np.sqrt(2 / np.pi)) * (x + _scalar(x, 0.044715) * x ** 3)
        return half * x * (one + np.tanh(inner))
    return half * x * (one + erf(x / _scalar(x, np.sqrt(2))))


@kernel("Shrink")
def shrink(call, x):
    bias, lambd = call.attr("bias", 0.0), call.attr("lambd", 0.5)
    result = np.where(x < -lambd, x + bias, np.where(x > lambd, x - bias, 0))
    return result.astype(x.dtype)


@kernel("Clip")
def clip(call, x, low=None, high=None):
    if call.opset < 11:
        low, high = call.attributes.get("min"), call.attributes.get("max")
    result = x
    if low is not None:
        result = np.maximum(result, np.asarray(low, x.dtype))
    if high is not None:
        result = np.minimum(result, np.asarray(high, x.dtype))
    return result
