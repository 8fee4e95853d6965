"""Resize (opsets 11–19): nearest, linear and cubic interpolation, every coordinate
transformation, antialiasing, `axes` and `keep_aspect_ratio_policy`.

Interpolation is separable, so the tensor is resized one axis at a time: per output position
a few source indices and weights (computed for all positions at once), one gather and a weighted
sum. Arithmetic is in float64, then cast back (integers rounded and saturated), as ONNX's own
reference computes it."""

from __future__ import annotations

import numpy as np

from vta.compiler.host_ops.registry import HostOpError, NotMine, kernel


def _source_coordinates(mode: str, out: np.ndarray, scale: float, size_in: int,
                        size_out: int, roi: tuple[float, float] | None):
    """(x in input coordinates per output index, mask of extrapolated positions or None)."""
    width = scale * size_in
    if mode == "align_corners":
        return (np.zeros(size_out) if width == 1 else out * (size_in - 1) / (width - 1)), None
    if mode == "asymmetric":
        return out / scale, None
    if mode == "pytorch_half_pixel":
        return (np.full(size_out, -0.5) if width == 1 else (out + 0.5) / scale - 0.5), None
    if mode == "half_pixel":
        return (out + 0.5) / scale - 0.5, None
    if mode == "tf_half_pixel_for_nn":     # opsets 11-12 (TensorFlow exports); kept on conversion
        return (out + 0.5) / scale, None
    if mode == "half_pixel_symmetric":
        offset = size_in / 2 * (1 - size_out / width)
        return offset + (out + 0.5) / scale - 0.5, None
    if mode == "tf_crop_and_resize":
        low, high = roi
        x = (np.full(size_out, (high - low) * (size_in - 1) / 2) if width == 1
             else out * (high - low) * (size_in - 1) / (width - 1))
        x = x + low * (size_in - 1)
        return x, (x < 0) | (x > size_in - 1)
    raise HostOpError(f"Resize: coordinate_transformation_mode {mode!r} is not an ONNX mode")


def _nearest_weights(ratio: np.ndarray, rounding: str) -> np.ndarray:
    """Two taps (floor side, ceil side), one of them 1."""
    if rounding == "round_prefer_floor":
        upper = ratio > 0.5
    elif rounding == "round_prefer_ceil":
        upper = ratio >= 0.5
    elif rounding == "floor":
        upper = np.zeros(ratio.shape, bool)
    elif rounding == "ceil":
        upper = np.ones(ratio.shape, bool)
    else:
        raise HostOpError(f"Resize: nearest_mode {rounding!r} is not an ONNX mode")
    upper = upper | (ratio == 1)        # an integer coordinate sits on the ceil-side tap
    return np.stack([~upper, upper], axis=-1).astype(np.float64)


def _cubic(distance: np.ndarray, a: float) -> np.ndarray:
    x = np.abs(distance)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.where(x <= 1, near, np.where(x < 2, far, 0.0))


def _weights(call, ratio: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(tap offsets from the tap left of x, per output position the weights of its taps);
    ratio in (0, 1] is x minus that left tap."""
    mode = call.attr("mode", "nearest")
    if mode == "nearest":
        return np.arange(2), _nearest_weights(ratio, call.attr("nearest_mode", "round_prefer_floor"))
    if mode not in ("linear", "cubic"):
        raise HostOpError(f"Resize: mode {mode!r} is not an ONNX mode")
    antialias = bool(call.attr("antialias", 0)) and scale < 1
    stretch = scale if antialias else 1.0      # an antialiasing filter widens when shrinking
    reach = 1.0 if mode == "linear" else 2.0
    start = int(np.floor(-reach / stretch) + 1)
    taps = np.arange(start, 2 - start)
    distance = (taps[None, :] - ratio[:, None]) * stretch
    if mode == "linear":
        weights = np.clip(1 - np.abs(distance), 0, 1)
    else:
        weights = _cubic(distance, call.attr("cubic_coeff_a", -0.75))
    return taps, (weights / weights.sum(axis=1, keepdims=True) if antialias else weights)


def _resize_axis(call, data: np.ndarray, axis: int, scale: float, size_out: int,
                 roi: tuple[float, float] | None) -> np.ndarray:
    size_in = data.shape[axis]
    x, extrapolated = _source_coordinates(
        call.attr("coordinate_transformation_mode", "half_pixel"),
        np.arange(size_out, dtype=np.float64), scale, size_in, size_out, roi)
    base = np.ceil(x).astype(np.int64) - 1           # ratio in (0, 1]: the left tap wins ties
    ratio = x - base
    taps, weights = _weights(call, ratio, scale)
    index = base[:, None] + taps[None, :]
    if call.attr("exclude_outside", 0):
        weights = np.where((index < 0) | (index >= size_in), 0.0, weights)
        total = weights.sum(axis=1, keepdims=True)
        weights = weights / np.where(total == 0, 1.0, total)
    gathered = np.take(data, np.clip(index, 0, size_in - 1), axis=axis)
    shape = (1,) * axis + weights.shape + (1,) * (data.ndim - axis - 1)
    result = (gathered * weights.reshape(shape)).sum(axis=axis + 1)
    if extrapolated is not None and extrapolated.any():
        mask = extrapolated.reshape((1,) * axis + (size_out,) + (1,) * (data.ndim - axis - 1))
        result = np.where(mask, call.attr("extrapolation_value", 0.0), result)
    return result


@kernel("Resize")
def resize(call, x, roi=None, scales=None, sizes=None):
    if call.opset < 11:
        raise NotMine("Resize before opset 11")
    rank = x.ndim
    axes = [a % rank for a in call.attr("axes", list(range(rank)))]
    if sizes is not None and np.size(sizes):
        sizes = [int(v) for v in np.asarray(sizes).ravel()]
        factors = [sizes[i] / x.shape[a] for i, a in enumerate(axes)]
        policy = call.attr("keep_aspect_ratio_policy", "stretch")
        if policy != "stretch":
            common = min(factors) if policy == "not_larger" else max(factors)
            factors = [common] * len(axes)
            sizes = [int(common * x.shape[a] + 0.5) for a in axes]
    elif scales is not None and np.size(scales):
        factors = [float(v) for v in np.asarray(scales).ravel()]
        sizes = [int(f * x.shape[a]) for f, a in zip(factors, axes)]
    else:
        raise HostOpError("Resize: neither scales nor sizes given")
    if roi is not None and np.size(roi):
        roi = np.asarray(roi, dtype=np.float64).ravel()
        if roi.size == 2 * rank and len(axes) != rank:
            roi = np.concatenate([roi[axes], roi[[rank + a for a in axes]]])
    else:
        roi = None
    result = x.astype(np.float64)
    for i, axis in enumerate(axes):
        window = None if roi is None else (roi[i], roi[i + len(axes)])
        if np.isclose(factors[i], 1.0) and sizes[i] == x.shape[axis] and \
                (window is None or np.allclose(window, (0.0, 1.0))):
            continue
        result = _resize_axis(call, result, axis, factors[i], sizes[i], window)
    if x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        return np.clip(np.rint(result), info.min, info.max).astype(x.dtype)
    return result.astype(x.dtype)
