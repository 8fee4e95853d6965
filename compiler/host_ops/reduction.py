"""Reductions, arg-max/min, top-k, cumulative sums, softmax and the normalizations."""

from __future__ import annotations

import numpy as np

from vta.compiler.host_ops.registry import NotMine, kernel


def _axes(call, x: np.ndarray, axes_input) -> tuple[int, ...] | None:
    """The reduced axes (None: all); the axes are an input since opset 18 (ReduceSum: 13)."""
    axes = axes_input if axes_input is not None else call.attributes.get("axes")
    if axes is None or len(np.atleast_1d(axes)) == 0:
        return None
    return tuple(int(a) % max(x.ndim, 1) for a in np.atleast_1d(axes))


def _reducer(function, prepare=None, finish=None):
    def apply(call, x, axes_input=None):
        axes = _axes(call, x, axes_input)
        if axes is None and call.attr("noop_with_empty_axes", 0):
            return x
        keepdims = bool(call.attr("keepdims", 1))
        data = prepare(x) if prepare else x
        result = function(data, axes, keepdims)
        result = finish(result) if finish else result
        return np.asarray(result).astype(x.dtype)
    return apply


def _extreme(function, identity):
    def reduce(x, axes, keepdims):
        initial = identity(x.dtype) if x.size == 0 else None
        kwargs = {} if initial is None else {"initial": initial}
        return function(x, axis=axes, keepdims=keepdims, **kwargs)
    return reduce


def _lowest(dtype):
    return -np.inf if dtype.kind == "f" else (False if dtype.kind == "b" else np.iinfo(dtype).min)


def _highest(dtype):
    return np.inf if dtype.kind == "f" else (True if dtype.kind == "b" else np.iinfo(dtype).max)


def _sum(x, axes, keepdims):
    return np.sum(x, axis=axes, keepdims=keepdims, dtype=x.dtype)


kernel("ReduceSum")(_reducer(_sum))
kernel("ReduceMean")(_reducer(lambda x, a, k: np.mean(x, axis=a, keepdims=k, dtype=x.dtype)
                              if x.dtype.kind == "f" else
                              np.mean(x, axis=a, keepdims=k).astype(x.dtype)))
kernel("ReduceMax")(_reducer(_extreme(np.max, _lowest)))
kernel("ReduceMin")(_reducer(_extreme(np.min, _highest)))
kernel("ReduceProd")(_reducer(lambda x, a, k: np.prod(x, axis=a, keepdims=k, dtype=x.dtype)))
kernel("ReduceSumSquare")(_reducer(_sum, prepare=lambda x: x * x))
kernel("ReduceL1")(_reducer(_sum, prepare=np.abs))
kernel("ReduceL2")(_reducer(_sum, prepare=lambda x: x * x, finish=np.sqrt))
kernel("ReduceLogSum")(_reducer(_sum, finish=np.log))


@kernel("ReduceLogSumExp")
def reduce_log_sum_exp(call, x, axes_input=None):
    axes = _axes(call, x, axes_input)
    if axes is None and call.attr("noop_with_empty_axes", 0):
        return x
    keepdims = bool(call.attr("keepdims", 1))
    data = x.astype(np.float64)
    peak = np.max(data, axis=axes, keepdims=True, initial=-np.inf) if x.size else 0.0
    peak = np.where(np.isfinite(peak), peak, 0.0)
    total = np.sum(np.exp(data - peak), axis=axes, keepdims=True)
    result = np.log(total) + peak
    if not keepdims:
        result = np.squeeze(result, axis=axes if axes is not None else tuple(range(x.ndim)))
    return result.astype(x.dtype)


def _arg(call, x, largest: bool):
    axis = call.attr("axis", 0) % x.ndim
    data = np.flip(x, axis) if call.attr("select_last_index", 0) else x
    index = np.argmax(data, axis=axis) if largest else np.argmin(data, axis=axis)
    if call.attr("select_last_index", 0):
        index = x.shape[axis] - 1 - index
    if call.attr("keepdims", 1):
        index = np.expand_dims(index, axis)
    return index.astype(np.int64)


@kernel("ArgMax")
def arg_max(call, x):
    return _arg(call, x, True)


@kernel("ArgMin")
def arg_min(call, x):
    return _arg(call, x, False)


@kernel("TopK")
def top_k(call, x, k):
    k = int(np.asarray(k).ravel()[0]) if k is not None else call.attr("k")
    axis = call.attr("axis", -1) % x.ndim
    largest = call.attr("largest", 1)
    keys = x.astype(np.float64) if x.dtype.kind in "iub" else x
    # A stable sort of the negated keys keeps the lower index first among equal values.
    order = np.argsort(-keys if largest else keys, axis=axis, kind="stable")
    index = np.take(order, np.arange(k), axis=axis)
    return np.take_along_axis(x, index, axis=axis), index.astype(np.int64)


@kernel("CumSum")
def cumulative_sum(call, x, axis):
    axis = int(np.asarray(axis).ravel()[0]) % x.ndim
    data = np.flip(x, axis) if call.attr("reverse", 0) else x
    total = np.cumsum(data, axis=axis, dtype=x.dtype)
    if call.attr("exclusive", 0):
        total = total - data
    return (np.flip(total, axis) if call.attr("reverse", 0) else total).astype(x.dtype)


@kernel("CumProd")
def cumulative_product(call, x, axis):
    axis = int(np.asarray(axis).ravel()[0]) % x.ndim
    data = np.flip(x, axis) if call.attr("reverse", 0) else x
    if call.attr("exclusive", 0):
        ones = np.ones_like(np.take(data, [0], axis=axis))
        data = np.concatenate([ones, np.take(data, np.arange(data.shape[axis] - 1), axis=axis)],
                              axis=axis)
    total = np.cumprod(data, axis=axis, dtype=x.dtype)
    return np.flip(total, axis) if call.attr("reverse", 0) else total


# -- softmax family ---------------------------------------------------------------------------
def _softmax_axes(call, x):
    """Opset ≥ 13: one axis (default −1). Before: the axes from `axis` (default 1) on, as one."""
    if call.opset >= 13:
        return (call.attr("axis", -1) % x.ndim,)
    axis = call.attr("axis", 1) % x.ndim
    return tuple(range(axis, x.ndim))


@kernel("Softmax")
def softmax(call, x):
    axes = _softmax_axes(call, x)
    shifted = np.exp(x - np.max(x, axis=axes, keepdims=True))
    return (shifted / np.sum(shifted, axis=axes, keepdims=True)).astype(x.dtype)


@kernel("LogSoftmax")
def log_softmax(call, x):
    axes = _softmax_axes(call, x)
    shifted = x - np.max(x, axis=axes, keepdims=True)
    return (shifted - np.log(np.sum(np.exp(shifted), axis=axes, keepdims=True))).astype(x.dtype)


@kernel("Hardmax")
def hardmax(call, x):
    axes = _softmax_axes(call, x)
    flat = np.moveaxis(x, axes, range(x.ndim - len(axes), x.ndim))
    shape = flat.shape
    flat = flat.reshape(shape[:x.ndim - len(axes)] + (-1,))
    result = np.zeros_like(flat)
    np.put_along_axis(result, np.argmax(flat, axis=-1)[..., None], 1, axis=-1)
    return np.moveaxis(result.reshape(shape), range(x.ndim - len(axes), x.ndim), axes)


# -- normalizations ---------------------------------------------------------------------------
@kernel("LayerNormalization")
def layer_normalization(call, x, scale, bias=None):
    axis = call.attr("axis", -1) % x.ndim
    axes = tuple(range(axis, x.ndim))
    epsilon = call.attr("epsilon", 1e-5)
    stash = np.float64 if call.attr("stash_type", 1) == 11 else np.float32
    data = x.astype(stash)
    mean = np.mean(data, axis=axes, keepdims=True)
    variance = np.mean((data - mean) ** 2, axis=axes, keepdims=True)
    inverse = 1 / np.sqrt(variance + stash(epsilon))
    y = (data - mean) * inverse * scale.astype(stash)
    if bias is not None:
        y = y + bias.astype(stash)
    return y.astype(x.dtype), mean.astype(stash), inverse.astype(stash)


@kernel("RMSNormalization")
def rms_normalization(call, x, scale):
    axis = call.attr("axis", -1) % x.ndim
    axes = tuple(range(axis, x.ndim))
    stash = np.float64 if call.attr("stash_type", 1) == 11 else np.float32
    data = x.astype(stash)
    rms = np.sqrt(np.mean(data * data, axis=axes, keepdims=True) + stash(call.attr("epsilon", 1e-5)))
    return (data / rms * scale.astype(stash)).astype(x.dtype)


@kernel("BatchNormalization")
def batch_normalization(call, x, scale, bias, mean, variance):
    if call.attr("training_mode", 0):
        raise NotMine("BatchNormalization in training mode")
    shape = (1, -1) + (1,) * (x.ndim - 2)
    epsilon = np.asarray(call.attr("epsilon", 1e-5), x.dtype)
    inverse = scale.reshape(shape) / np.sqrt(variance.reshape(shape) + epsilon)
    return ((x - mean.reshape(shape)) * inverse + bias.reshape(shape)).astype(x.dtype)


def _normalize(x: np.ndarray, axes, epsilon: float) -> np.ndarray:
    mean = np.mean(x, axis=axes, keepdims=True)
    variance = np.mean((x - mean) ** 2, axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(variance + np.asarray(epsilon, x.dtype))


@kernel("InstanceNormalization")
def instance_normalization(call, x, scale, bias):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    y = _normalize(x, tuple(range(2, x.ndim)), call.attr("epsilon", 1e-5))
    return (y * scale.reshape(shape) + bias.reshape(shape)).astype(x.dtype)


@kernel("GroupNormalization")
def group_normalization(call, x, scale, bias):
    groups = call.attr("num_groups")
    n, c = x.shape[:2]
    grouped = x.reshape((n, groups, -1)).astype(np.float32)
    y = _normalize(grouped, (2,), call.attr("epsilon", 1e-5)).reshape(x.shape)
    # Opset 18 scales per group, opset 21 per channel.
    if scale.size == groups and c != groups:
        scale, bias = np.repeat(scale, c // groups), np.repeat(bias, c // groups)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (y * scale.reshape(shape) + bias.reshape(shape)).astype(x.dtype)


@kernel("MeanVarianceNormalization")
def mean_variance_normalization(call, x):
    axes = tuple(call.attr("axes", [0, 2, 3]))
    mean = np.mean(x, axis=axes, keepdims=True)
    deviation = np.sqrt(np.mean(x * x, axis=axes, keepdims=True) - mean * mean)
    return ((x - mean) / (deviation + np.asarray(1e-9, x.dtype))).astype(x.dtype)


@kernel("LpNormalization")
def lp_normalization(call, x):
    axis, p = call.attr("axis", -1), call.attr("p", 2)
    norm = np.sum(np.abs(x), axis=axis, keepdims=True) if p == 1 else \
        np.sqrt(np.sum(x * x, axis=axis, keepdims=True))
    return np.where(norm == 0, 0, x / norm).astype(x.dtype)


@kernel("LRN")
def local_response_normalization(call, x):
    size = call.attr("size")
    alpha, beta, bias = call.attr("alpha", 1e-4), call.attr("beta", 0.75), call.attr("bias", 1.0)
    square = np.pad(x * x, [(0, 0), ((size - 1) // 2, size - 1 - (size - 1) // 2)]
                    + [(0, 0)] * (x.ndim - 2))
    total = sum(square[:, i:i + x.shape[1]] for i in range(size))
    return (x / (bias + alpha / size * total) ** beta).astype(x.dtype)
