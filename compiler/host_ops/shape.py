"""Shape, indexing and data-movement operators: reshapes, transposes, slicing, gathers and
scatters, padding, resizing, type casts, and the tensor generators (Range, ConstantOfShape…)."""

from __future__ import annotations

import numpy as np

from vta.compiler.host_ops.registry import HostOpError, NotMine, kernel

#: ONNX TensorProto element types → numpy dtypes (those numpy has).
DTYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32,
          7: np.int64, 9: np.bool_, 10: np.float16, 11: np.float64, 12: np.uint32,
          13: np.uint64, 14: np.complex64, 15: np.complex128}


def dtype_of(element_type: int) -> np.dtype:
    if element_type not in DTYPES:
        raise NotMine(f"element type {element_type}")
    return np.dtype(DTYPES[element_type])


def _ints(array) -> list[int]:
    return [int(v) for v in np.asarray(array).ravel()]


def _input_or_attribute(call, value, name: str):
    """An operand that moved from an attribute to an input in some opset."""
    if value is not None:
        return _ints(value)
    attribute = call.attributes.get(name)
    return None if attribute is None else [int(v) for v in attribute]


@kernel("Identity")
def identity(call, x):
    return x


@kernel("Dropout")
def dropout(call, x, ratio=None, training_mode=None):
    if training_mode is not None and bool(np.asarray(training_mode)):
        raise NotMine("Dropout in training mode")
    return x, np.ones(x.shape, dtype=np.bool_)


@kernel("Reshape")
def reshape(call, x, shape):
    requested = _ints(shape)
    allow_zero = call.attr("allowzero", 0)
    target = [x.shape[i] if d == 0 and not allow_zero else d for i, d in enumerate(requested)]
    return x.reshape(target)


@kernel("Flatten")
def flatten(call, x):
    axis = call.attr("axis", 1)
    axis = axis + x.ndim if axis < 0 else axis
    return x.reshape(int(np.prod(x.shape[:axis])), -1)


@kernel("Squeeze")
def squeeze(call, x, axes=None):
    axes = _input_or_attribute(call, axes, "axes")
    if axes is None:
        return np.squeeze(x)
    return np.squeeze(x, axis=tuple(a % x.ndim for a in axes))


@kernel("Unsqueeze")
def unsqueeze(call, x, axes=None):
    return np.expand_dims(x, tuple(_input_or_attribute(call, axes, "axes")))


@kernel("Transpose")
def transpose(call, x):
    perm = call.attr("perm")
    return np.transpose(x, perm if perm is not None else None)


@kernel("Concat")
def concat(call, *xs):
    return np.concatenate(xs, axis=call.attr("axis"))


@kernel("Split")
def split(call, x, sizes=None):
    axis = call.attr("axis", 0) % x.ndim
    sizes = _input_or_attribute(call, sizes, "split")
    if sizes is None:
        parts = call.attr("num_outputs", call.outputs)
        chunk = -(-x.shape[axis] // parts)
        sizes = [min(chunk, x.shape[axis] - i * chunk) for i in range(parts)]
    if sum(sizes) != x.shape[axis]:
        raise HostOpError(f"Split: sizes {sizes} do not add up to {x.shape[axis]}")
    return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=axis))


@kernel("Slice")
def slice_(call, x, starts=None, ends=None, axes=None, steps=None):
    if call.opset < 10:
        starts, ends, axes = call.attr("starts"), call.attr("ends"), call.attr("axes")
    starts, ends = _ints(starts), _ints(ends)
    axes = _ints(axes) if axes is not None else list(range(len(starts)))
    steps = _ints(steps) if steps is not None else [1] * len(starts)
    index = [slice(None)] * x.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps):
        if step == 0:
            raise HostOpError("Slice: a step of 0")
        index[axis % x.ndim] = slice(start, end, step)
    return x[tuple(index)]


@kernel("Gather")
def gather(call, x, indices):
    return np.take(x, indices.astype(np.int64), axis=call.attr("axis", 0))


@kernel("GatherElements")
def gather_elements(call, x, indices):
    axis = call.attr("axis", 0) % x.ndim
    indices = np.where(indices < 0, indices + x.shape[axis], indices)
    return np.take_along_axis(x, indices.astype(np.int64), axis=axis)


@kernel("GatherND")
def gather_nd(call, x, indices):
    batch = call.attr("batch_dims", 0)
    depth = indices.shape[-1]
    batches = int(np.prod(x.shape[:batch]))
    data = x.reshape((batches,) + x.shape[batch:])
    where = indices.reshape(batches, -1, depth).astype(np.int64)
    where = np.where(where < 0, where + np.asarray(x.shape[batch:batch + depth]), where)
    rows = np.arange(batches)[:, None]
    result = data[(rows,) + tuple(where[..., i] for i in range(depth))]
    return result.reshape(indices.shape[:-1] + x.shape[batch + depth:])


_REDUCTIONS = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}


def _scatter(target: np.ndarray, where: tuple, updates: np.ndarray, reduction: str) -> None:
    if reduction == "none":
        target[where] = updates
    elif reduction in _REDUCTIONS:
        _REDUCTIONS[reduction].at(target, where, updates)
    else:
        raise HostOpError(f"reduction {reduction!r} is not an ONNX reduction")


@kernel("ScatterND")
def scatter_nd(call, x, indices, updates):
    result = x.copy()
    depth = indices.shape[-1]
    where = np.where(indices < 0, indices + np.asarray(x.shape[:depth]), indices).astype(np.int64)
    _scatter(result, tuple(where[..., i] for i in range(depth)), updates,
             call.attr("reduction", "none"))
    return result


@kernel("ScatterElements", "Scatter")
def scatter_elements(call, x, indices, updates):
    axis = call.attr("axis", 0) % x.ndim
    result = x.copy()
    coordinates = list(np.indices(indices.shape, sparse=True))
    coordinates[axis] = np.where(indices < 0, indices + x.shape[axis], indices).astype(np.int64)
    _scatter(result, tuple(coordinates), updates, call.attr("reduction", "none"))
    return result


@kernel("Expand")
def expand(call, x, shape):
    return np.broadcast_to(x, np.broadcast_shapes(x.shape, tuple(_ints(shape)))).copy()


@kernel("Tile")
def tile(call, x, repeats):
    return np.tile(x, _ints(repeats))


@kernel("Pad")
def pad(call, x, pads=None, constant=None, axes=None):
    mode = call.attr("mode", "constant")
    pads = _ints(pads) if pads is not None else list(call.attr("pads"))
    value = (np.asarray(constant).ravel()[0] if constant is not None and np.size(constant)
             else call.attr("value", 0))
    axes = [a % x.ndim for a in _ints(axes)] if axes is not None else list(range(x.ndim))
    begin, end = [0] * x.ndim, [0] * x.ndim
    for i, axis in enumerate(axes):
        begin[axis], end[axis] = pads[i], pads[i + len(axes)]
    cropped = x[tuple(slice(max(-b, 0), x.shape[a] - max(-e, 0))
                      for a, (b, e) in enumerate(zip(begin, end)))]
    widths = [(max(b, 0), max(e, 0)) for b, e in zip(begin, end)]
    if mode == "constant":
        return np.pad(cropped, widths, mode="constant", constant_values=value)
    if mode in ("reflect", "edge", "wrap"):
        return np.pad(cropped, widths, mode=mode)
    raise HostOpError(f"Pad: mode {mode!r} is not an ONNX padding mode")


@kernel("Shape")
def shape(call, x):
    return np.asarray(x.shape[call.attr("start", 0):call.attributes.get("end")], dtype=np.int64)


@kernel("Size")
def size(call, x):
    return np.asarray(x.size, dtype=np.int64)


@kernel("ConstantOfShape")
def constant_of_shape(call, shape):
    value = call.attr("value", np.zeros(1, np.float32))
    return np.full(_ints(shape), np.asarray(value).ravel()[0], dtype=np.asarray(value).dtype)


@kernel("Constant")
def constant(call):
    for name in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if name in call.attributes:
            dtype = np.float32 if "float" in name else (np.int64 if "int" in name else None)
            return np.asarray(call.attributes[name], dtype=dtype)
    raise NotMine("Constant of strings or sparse tensors")


@kernel("Range")
def range_(call, start, limit, delta):
    start, limit, delta = (np.asarray(v).reshape(()) for v in (start, limit, delta))
    count = max(int(np.ceil((limit - start) / delta)), 0)
    return (start + np.arange(count, dtype=start.dtype) * delta).astype(start.dtype)


@kernel("EyeLike")
def eye_like(call, x):
    dtype = dtype_of(call.attr("dtype")) if call.attributes.get("dtype") else x.dtype
    return np.eye(x.shape[0], x.shape[1], k=call.attr("k", 0), dtype=dtype)


@kernel("Cast")
def cast(call, x):
    return _cast(x, dtype_of(call.attr("to")))


@kernel("CastLike")
def cast_like(call, x, like):
    return _cast(x, like.dtype)


def _cast(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if x.dtype.kind in "OUS" or dtype.kind in "OUS":
        raise NotMine("casts of strings")
    return x.astype(dtype)


@kernel("OneHot")
def one_hot(call, indices, depth, values):
    depth = int(np.asarray(depth).ravel()[0])
    indices = np.asarray(indices).astype(np.int64)
    indices = np.where(indices < 0, indices + depth, indices)
    hot = indices[..., None] == np.arange(depth)
    result = np.where(hot, values[1], values[0])
    axis = call.attr("axis", -1)
    return np.moveaxis(result, -1, axis if axis >= 0 else axis + result.ndim)


@kernel("Trilu")
def trilu(call, x, k=None):
    offset = int(np.asarray(k).ravel()[0]) if k is not None else 0
    return np.triu(x, offset) if call.attr("upper", 1) else np.tril(x, offset)


@kernel("DepthToSpace")
def depth_to_space(call, x):
    size = call.attr("blocksize")
    n, c, h, w = x.shape
    if call.attr("mode", "DCR") == "DCR":
        y = x.reshape(n, size, size, c // size ** 2, h, w).transpose(0, 3, 4, 1, 5, 2)
    else:
        y = x.reshape(n, c // size ** 2, size, size, h, w).transpose(0, 1, 4, 2, 5, 3)
    return y.reshape(n, c // size ** 2, h * size, w * size)


@kernel("SpaceToDepth")
def space_to_depth(call, x):
    size = call.attr("blocksize")
    n, c, h, w = x.shape
    y = x.reshape(n, c, h // size, size, w // size, size)
    y = y.transpose(0, 3, 5, 1, 2, 4) if call.attr("mode", "DCR") == "DCR" else \
        y.transpose(0, 1, 3, 5, 2, 4)
    return y.reshape(n, c * size * size, h // size, w // size)


@kernel("NonZero")
def non_zero(call, x):
    return np.asarray(np.nonzero(x), dtype=np.int64).reshape(x.ndim, -1)


@kernel("Compress")
def compress(call, x, condition):
    axis = call.attributes.get("axis")
    return np.compress(np.asarray(condition, dtype=bool), x, axis=axis)


@kernel("ReverseSequence")
def reverse_sequence(call, x, lengths):
    batch_axis, time_axis = call.attr("batch_axis", 1), call.attr("time_axis", 0)
    time = np.arange(x.shape[time_axis])
    lengths = lengths.astype(np.int64)
    # source time index per (time, batch): reversed inside each sequence's length
    source = np.where(time[:, None] < lengths[None, :], lengths[None, :] - 1 - time[:, None],
                      time[:, None])
    moved = np.moveaxis(x, (time_axis, batch_axis), (0, 1))
    result = moved[source, np.arange(len(lengths))[None, :]]
    return np.moveaxis(result, (0, 1), (time_axis, batch_axis))
