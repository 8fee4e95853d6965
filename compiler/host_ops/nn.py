"""Convolutions, pooling, matrix products and the recurrent layers, for any number of spatial
dimensions. Windows are gathered once per kernel tap (strided views), never per element; float
tensors compute in their own type (float32 products and sums, as onnxruntime's kernels do),
integer ones exactly."""

from __future__ import annotations

import itertools
import math

import numpy as np

from vta.compiler.host_ops.elementwise import hard_sigmoid
from vta.compiler.host_ops.registry import Call, HostOpError, kernel


# -- geometry ---------------------------------------------------------------------------------
def window_pads(call, spatial, kernel_shape, strides, dilations) -> list[int]:
    """Pads [begins..., ends...] of a Conv or pooling window, resolving auto_pad."""
    auto_pad = call.attr("auto_pad", "NOTSET")
    rank = len(spatial)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for size, k, s, d in zip(spatial, kernel_shape, strides, dilations):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small, large = total // 2, total - total // 2
            begin.append(small if auto_pad == "SAME_UPPER" else large)
            end.append(large if auto_pad == "SAME_UPPER" else small)
        return begin + end
    if auto_pad == "VALID":
        return [0] * 2 * rank
    if auto_pad != "NOTSET":
        raise HostOpError(f"auto_pad {auto_pad!r} is not an ONNX padding mode")
    return list(call.attr("pads", [0] * 2 * rank))


def _geometry(call, x_shape, kernel_shape):
    rank = len(kernel_shape)
    strides = list(call.attr("strides", [1] * rank))
    dilations = list(call.attr("dilations", [1] * rank))
    pads = window_pads(call, x_shape[2:], kernel_shape, strides, dilations)
    return strides, dilations, pads


def output_size(size, kernel, stride, begin, end, dilation, ceil_mode) -> int:
    if size + begin + end < (kernel - 1) * dilation + 1:
        raise HostOpError(f"window of {kernel} (dilation {dilation}) is larger than the padded "
                          f"input ({size} + {begin} + {end})")
    span = (size + begin + end - (kernel - 1) * dilation - 1) / stride + 1
    if not ceil_mode:
        return int(math.floor(span))
    out = int(math.ceil(span))
    return out - 1 if (out - 1) * stride >= size + begin else out


def _taps(padded: np.ndarray, kernel_shape, strides, dilations, out_shape):
    """Per kernel tap (row-major over the kernel), the strided view of the input it reads:
    arrays of shape (N, C, *out_shape)."""
    for offsets in itertools.product(*(range(k) for k in kernel_shape)):
        index = [slice(None), slice(None)]
        for o, s, d, n in zip(offsets, strides, dilations, out_shape):
            index.append(slice(o * d, o * d + s * (n - 1) + 1, s))
        yield padded[tuple(index)]


def _pad_spatial(x: np.ndarray, begin, end, value) -> np.ndarray:
    widths = [(0, 0), (0, 0)] + [(b, e) for b, e in zip(begin, end)]
    return np.pad(x, widths, mode="constant", constant_values=value)


# -- convolution ------------------------------------------------------------------------------
def convolve(x: np.ndarray, w: np.ndarray, call, groups: int, compute_dtype) -> np.ndarray:
    """Σ w · x over the windows (no bias), in `compute_dtype`: (N, M, *out)."""
    kernel_shape = list(w.shape[2:])
    strides, dilations, pads = _geometry(call, x.shape, kernel_shape)
    rank = len(kernel_shape)
    out_shape = [output_size(x.shape[2 + i], kernel_shape[i], strides[i], pads[i],
                             pads[rank + i], dilations[i], False) for i in range(rank)]
    padded = _pad_spatial(x.astype(compute_dtype), pads[:rank], pads[rank:], 0)
    n, c = x.shape[:2]
    m = w.shape[0]
    if c != w.shape[1] * groups or m % groups:
        raise HostOpError(f"{c} input channels do not match weights {w.shape} in {groups} groups")
    positions = int(np.prod(out_shape))
    cols = np.stack([tap.reshape(n, c, positions)
                     for tap in _taps(padded, kernel_shape, strides, dilations, out_shape)],
                    axis=2)                                        # (N, C, taps, P)
    cols = cols.reshape(n, groups, -1, positions)
    weights = w.astype(compute_dtype).reshape(groups, m // groups, -1)
    result = np.matmul(weights[None], cols)                        # (N, G, M/G, P)
    return result.reshape(n, m, *out_shape)


def _bias_shape(rank: int) -> tuple:
    return (1, -1) + (1,) * rank


@kernel("Conv")
def conv(call, x, w, bias=None):
    y = convolve(x, w, call, call.attr("group", 1), x.dtype)
    if bias is not None:
        y = y + bias.reshape(_bias_shape(x.ndim - 2))
    return y.astype(x.dtype)


@kernel("ConvTranspose")
def conv_transpose(call, x, w, bias=None):
    groups = call.attr("group", 1)
    rank = x.ndim - 2
    kernel_shape = list(w.shape[2:])
    strides = list(call.attr("strides", [1] * rank))
    dilations = list(call.attr("dilations", [1] * rank))
    extra = list(call.attr("output_padding", [0] * rank))
    pads = call.attributes.get("pads")
    requested = call.attributes.get("output_shape")
    requested = list(requested)[-rank:] if requested is not None else None
    full = [(x.shape[2 + i] - 1) * strides[i] + (kernel_shape[i] - 1) * dilations[i] + 1
            + extra[i] for i in range(rank)]
    auto_pad = call.attr("auto_pad", "NOTSET")
    if pads is None and (auto_pad in ("SAME_UPPER", "SAME_LOWER") or requested is not None):
        target = requested or [x.shape[2 + i] * strides[i] for i in range(rank)]
        total = [full[i] - target[i] for i in range(rank)]
        if auto_pad == "SAME_UPPER":
            pads = [t // 2 for t in total] + [t - t // 2 for t in total]
        else:
            pads = [t - t // 2 for t in total] + [t // 2 for t in total]
    pads = list(pads) if pads is not None else [0] * 2 * rank
    n, c = x.shape[:2]
    m = w.shape[1] * groups
    positions = int(np.prod(x.shape[2:]))
    xs = x.reshape(n, groups, c // groups, positions)
    ws = w.reshape(groups, c // groups, -1)                       # (G, C/G, M/G·taps)
    cols = np.matmul(ws.transpose(0, 2, 1)[None], xs)             # (N, G, M/G·taps, P)
    cols = cols.reshape(n, m, int(np.prod(kernel_shape)), *x.shape[2:])
    out = np.zeros((n, m, *full), dtype=np.result_type(x, w))
    for tap, offsets in enumerate(itertools.product(*(range(k) for k in kernel_shape))):
        index = [slice(None), slice(None)]
        for i, o in enumerate(offsets):
            start = o * dilations[i]
            index.append(slice(start, start + strides[i] * (x.shape[2 + i] - 1) + 1, strides[i]))
        out[tuple(index)] += cols[:, :, tap]
    # Pads crop the full result; negative pads (an output_shape beyond it) extend it by zeros.
    y = _pad_spatial(out, [max(-p, 0) for p in pads[:rank]],
                     [max(-p, 0) for p in pads[rank:]], 0)
    y = y[tuple([slice(None), slice(None)] +
                [slice(max(pads[i], 0), y.shape[2 + i] - max(pads[rank + i], 0))
                 for i in range(rank)])]
    if bias is not None:
        y = y + bias.reshape(_bias_shape(rank))
    return y.astype(x.dtype)


# -- pooling ----------------------------------------------------------------------------------
def _pool_setup(call, x):
    kernel_shape = list(call.attr("kernel_shape"))
    rank = len(kernel_shape)
    strides = list(call.attr("strides", [1] * rank))
    dilations = list(call.attr("dilations", [1] * rank))
    pads = window_pads(call, x.shape[2:], kernel_shape, strides, dilations)
    ceil_mode = call.attr("ceil_mode", 0)
    out_shape = [output_size(x.shape[2 + i], kernel_shape[i], strides[i], pads[i],
                             pads[rank + i], dilations[i], ceil_mode) for i in range(rank)]
    # Ceil-mode windows may reach past the declared end padding: pad further (those positions
    # are never counted).
    ends = [max(pads[rank + i], (out_shape[i] - 1) * strides[i] + (kernel_shape[i] - 1)
                * dilations[i] + 1 - x.shape[2 + i] - pads[i]) for i in range(rank)]
    return kernel_shape, strides, dilations, pads, ends, out_shape


def _lowest(dtype):
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


@kernel("MaxPool")
def max_pool(call, x):
    kernel_shape, strides, dilations, pads, ends, out_shape = _pool_setup(call, x)
    rank = len(kernel_shape)
    padded = _pad_spatial(x, pads[:rank], ends, _lowest(x.dtype))
    best, best_tap = None, None
    for tap, view in enumerate(_taps(padded, kernel_shape, strides, dilations, out_shape)):
        if best is None:
            best, best_tap = view.copy(), np.zeros(view.shape, np.int64)
        else:
            better = view > best
            best = np.where(better, view, best)
            best_tap = np.where(better, tap, best_tap)
    if call.outputs < 2:
        return best
    return best, _max_indices(call, x.shape, best_tap, kernel_shape, strides, dilations, pads,
                              out_shape)


def _max_indices(call, shape, best_tap, kernel_shape, strides, dilations, pads, out_shape):
    """Flat input index of each maximum (row-major, or column-major with storage_order 1)."""
    rank = len(kernel_shape)
    offsets = np.array(list(itertools.product(*(range(k) for k in kernel_shape))))
    coordinates = []
    for i in range(rank):
        grid = np.arange(out_shape[i]).reshape([-1 if j == i else 1 for j in range(rank)])
        coordinates.append(grid * strides[i] + offsets[best_tap, i] * dilations[i] - pads[i])
    n, c = shape[:2]
    batch = np.arange(n).reshape((-1,) + (1,) * (rank + 1))
    channel = np.arange(c).reshape((1, -1) + (1,) * rank)
    spatial = list(shape[2:])
    if call.attr("storage_order", 0):
        flat = np.zeros(best_tap.shape, np.int64)
        for i in reversed(range(rank)):
            flat = flat * spatial[i] + coordinates[i]
        return ((batch * c + channel) * int(np.prod(spatial)) + flat).astype(np.int64)
    flat = batch * c + channel
    for i in range(rank):
        flat = flat * spatial[i] + coordinates[i]
    return flat.astype(np.int64)


def _window_sums(call, x, power=None):
    """(Σ over each window of x (or |x|^power), count of the elements the mean divides by)."""
    kernel_shape, strides, dilations, pads, ends, out_shape = _pool_setup(call, x)
    rank = len(kernel_shape)
    data = np.abs(x) ** x.dtype.type(power) if power is not None else x
    padded = _pad_spatial(data, pads[:rank], ends, 0)
    inside = _pad_spatial(np.ones((1, 1) + x.shape[2:], x.dtype), pads[:rank], ends, 0)
    declared = _pad_spatial(np.ones((1, 1) + x.shape[2:], x.dtype), pads[:rank], pads[rank:], 1)
    declared = _pad_spatial(declared, [0] * rank, [e - p for e, p in zip(ends, pads[rank:])], 0)
    counted = declared if call.attr("count_include_pad", 0) else inside
    total = sum(_taps(padded, kernel_shape, strides, dilations, out_shape))
    count = sum(_taps(counted, kernel_shape, strides, dilations, out_shape))
    return total, count


@kernel("AveragePool")
def average_pool(call, x):
    total, count = _window_sums(call, x)
    return (total / count).astype(x.dtype)


@kernel("LpPool")
def lp_pool(call, x):
    p = call.attr("p", 2)
    total, _ = _window_sums(call, x, p)
    return (total ** x.dtype.type(1 / p)).astype(x.dtype)


def _global_axes(x):
    return tuple(range(2, x.ndim))


@kernel("GlobalAveragePool")
def global_average_pool(call, x):
    return np.mean(x, axis=_global_axes(x), keepdims=True, dtype=x.dtype)


@kernel("GlobalMaxPool")
def global_max_pool(call, x):
    return np.max(x, axis=_global_axes(x), keepdims=True)


@kernel("GlobalLpPool")
def global_lp_pool(call, x):
    p = call.attr("p", 2)
    total = np.sum(np.abs(x) ** x.dtype.type(p), axis=_global_axes(x), keepdims=True)
    return (total ** x.dtype.type(1 / p)).astype(x.dtype)


# -- products ---------------------------------------------------------------------------------
@kernel("MatMul")
def matmul(call, a, b):
    return np.matmul(a, b)


@kernel("Gemm")
def gemm(call, a, b, c=None):
    a = a.T if call.attr("transA", 0) else a
    b = b.T if call.attr("transB", 0) else b
    y = np.matmul(a, b) * a.dtype.type(call.attr("alpha", 1.0))
    if c is not None:
        y = y + c * a.dtype.type(call.attr("beta", 1.0))
    return y.astype(a.dtype)


@kernel("Einsum")
def einsum(call, *xs):
    return np.einsum(call.attr("equation").replace(" ", ""), *xs)


# -- recurrent layers -------------------------------------------------------------------------
def _activation(name: str, alpha, beta):
    functions = {
        "Sigmoid": lambda v: 1 / (1 + np.exp(-v)),
        "Tanh": np.tanh,
        "Relu": lambda v: np.maximum(v, 0),
        "Affine": lambda v: alpha * v + beta,
        "LeakyRelu": lambda v: np.where(v < 0, alpha * v, v),
        "ThresholdedRelu": lambda v: np.where(v > alpha, v, 0),
        "ScaledTanh": lambda v: alpha * np.tanh(beta * v),
        "HardSigmoid": lambda v: hard_sigmoid(Call("HardSigmoid", {"alpha": alpha,
                                                                   "beta": beta}), v),
        "Elu": lambda v: np.where(v < 0, alpha * (np.exp(v) - 1), v),
        "Softsign": lambda v: v / (1 + np.abs(v)),
        "Softplus": lambda v: np.log1p(np.exp(v)),
    }
    if name not in functions:
        raise HostOpError(f"activation {name!r} is not an ONNX recurrent activation")
    return functions[name]


_RECURRENT = {"RNN": (1, ["Tanh"]), "GRU": (3, ["Sigmoid", "Tanh"]),
              "LSTM": (4, ["Sigmoid", "Tanh", "Tanh"])}
_ACTIVATION_DEFAULT_ALPHA = {"LeakyRelu": 0.01, "ThresholdedRelu": 1.0, "HardSigmoid": 0.2,
                             "Elu": 1.0, "ScaledTanh": 1.0, "Affine": 1.0}
_ACTIVATION_DEFAULT_BETA = {"HardSigmoid": 0.5, "ScaledTanh": 1.0, "Affine": 0.0}


def _activations(call, directions: int):
    gates, defaults = _RECURRENT[call.op_type]
    names = list(call.attr("activations", defaults * directions))
    alphas = list(call.attr("activation_alpha", []))
    betas = list(call.attr("activation_beta", []))
    result = []
    for i, name in enumerate(names):
        alpha = alphas[i] if i < len(alphas) else _ACTIVATION_DEFAULT_ALPHA.get(name, 0.0)
        beta = betas[i] if i < len(betas) else _ACTIVATION_DEFAULT_BETA.get(name, 0.0)
        result.append(_activation(name, np.float32(alpha), np.float32(beta)))
    per_direction = len(defaults)
    return [result[d * per_direction:(d + 1) * per_direction] for d in range(directions)]


@kernel("RNN", "GRU", "LSTM")
def recurrent(call, x, w, r, b=None, lengths=None, initial_h=None, initial_c=None,
              peepholes=None):
    """The three recurrent layers: one time step at a time, vectorised over batch and gates."""
    gates = _RECURRENT[call.op_type][0]
    layout = call.attr("layout", 0)
    if layout:        # batch first: x (batch, steps, features), states (batch, directions, H)
        x = x.transpose(1, 0, 2)
        initial_h, initial_c = (None if state is None else state.transpose(1, 0, 2)
                                for state in (initial_h, initial_c))
    steps, batch = x.shape[:2]
    directions = w.shape[0]
    hidden = call.attr("hidden_size", r.shape[-1])
    dtype = x.dtype
    if b is None:
        b = np.zeros((directions, 2 * gates * hidden), dtype)
    lengths = (np.full(batch, steps, np.int64) if lengths is None
               else np.asarray(lengths).astype(np.int64))
    activations = _activations(call, directions)
    clip = call.attributes.get("clip")
    y = np.zeros((steps, directions, batch, hidden), dtype)
    final_h = np.zeros((directions, batch, hidden), dtype)
    final_c = np.zeros((directions, batch, hidden), dtype)
    direction_names = {"forward": [False], "reverse": [True],
                       "bidirectional": [False, True]}[call.attr("direction", "forward")]
    for d, reverse in enumerate(direction_names):
        h = initial_h[d].astype(dtype) if initial_h is not None else np.zeros((batch, hidden), dtype)
        c = initial_c[d].astype(dtype) if initial_c is not None else np.zeros((batch, hidden), dtype)
        p = peepholes[d] if peepholes is not None else np.zeros(3 * hidden, dtype)
        wb, rb = b[d, :gates * hidden], b[d, gates * hidden:]
        inputs = x @ w[d].T + wb                                  # (steps, batch, gates·H)
        for step in range(steps):
            time = np.where(reverse, lengths - 1 - step, step)    # per batch entry
            active = step < lengths
            xt = inputs[np.clip(time, 0, steps - 1), np.arange(batch)]
            h_new, c_new = _cell(call.op_type, xt, h, c, r[d], rb, p, activations[d], clip,
                                 hidden, call.attr("linear_before_reset", 0),
                                 call.attr("input_forget", 0))
            h = np.where(active[:, None], h_new, h)
            c = np.where(active[:, None], c_new, c)
            y[np.clip(time, 0, steps - 1)[active], d, np.arange(batch)[active]] = h[active]
        final_h[d], final_c[d] = h, c
    if layout:
        y, final_h, final_c = (y.transpose(2, 0, 1, 3), final_h.transpose(1, 0, 2),
                               final_c.transpose(1, 0, 2))
    return (y, final_h, final_c) if call.op_type == "LSTM" else (y, final_h)


def _clipped(v, clip):
    return v if clip is None else np.clip(v, -clip, clip)


def _cell(op_type, xt, h, c, r, rb, p, activation, clip, hidden, linear_before_reset,
          input_forget):
    """One time step: (new hidden state, new cell state)."""
    if op_type == "RNN":
        return activation[0](_clipped(xt + h @ r.T + rb, clip)), c
    if op_type == "GRU":
        f, g = activation
        rz, rr, rh = np.split(r, 3)
        bz, br, bh = np.split(rb, 3)
        xz, xr, xh = np.split(xt, 3, axis=1)
        z = f(_clipped(xz + h @ rz.T + bz, clip))
        reset = f(_clipped(xr + h @ rr.T + br, clip))
        if linear_before_reset:
            candidate = g(_clipped(xh + reset * (h @ rh.T + bh), clip))
        else:
            candidate = g(_clipped(xh + (reset * h) @ rh.T + bh, clip))
        return (1 - z) * candidate + z * h, c
    f, g, out = activation
    gates = xt + h @ r.T + rb
    gi, go, gf, gc = np.split(gates, 4, axis=1)
    pi, po, pf = np.split(p, 3)
    i = f(_clipped(gi + pi * c, clip))
    forget = 1 - i if input_forget else f(_clipped(gf + pf * c, clip))
    c_new = forget * c + i * g(_clipped(gc, clip))
    o = f(_clipped(go + po * c_new, clip))
    return o * out(c_new), c_new
