"""Packed layouts: the im2col window map against numpy's sliding windows of the padded tensor."""

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from vta.compiler.packing import (ActLayout, bias_input_lanes, bias_input_tile, bias_lane_weights,
                                  bias_weight_tiles, diagonal_weight_tiles, pack_array,
                                  physical_shape, weight_parts)


@pytest.mark.parametrize("shape, kernel, strides, dilations, pads, batch", [
    ((1, 3, 11, 9), (7, 7), (2, 2), (1, 1), (3, 3, 3, 3), 1),
    ((2, 5, 6, 7), (3, 2), (1, 2), (2, 1), (2, 0, 1, 1), 2),
    ((1, 20, 5, 5), (1, 1), (1, 1), (1, 1), (0, 0, 0, 0), 1),
])
def test_window_map_is_im2col_of_the_padded_tensor(shape, kernel, strides, dilations, pads,
                                                   batch):
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, size=shape).astype(np.int8)
    fill = -7
    layout = ActLayout(shape, batch, 16, halo=pads, fill=fill)
    packed = pack_array(x, layout)
    top, left, bottom, right = pads
    padded = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=fill)
    (kh, kw), (sh, sw), (dh, dw) = kernel, strides, dilations
    windows = sliding_window_view(padded, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(2, 3))
    windows = windows[:, :, ::sh, ::sw, ::dh, ::dw]            # (N, C, OH, OW, KH, KW)
    n, c, oh, ow = windows.shape[:4]
    expected = windows.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, oh, ow)
    got = packed[layout.window_map(kernel, strides, dilations, pads, (oh, ow))]
    np.testing.assert_array_equal(got.reshape(expected.shape), expected)


@pytest.mark.parametrize("block", [4, 16, 32])
def test_bias_tiles_add_the_bias_through_the_gemm(block):
    """The GEMM of the bias input tile with the bias tiles yields every bias its lanes reach
    (|bias| up to 128 · 127 · (block − 1)), and refuses one beyond 128² · (block − 1) + 63."""
    reach = 128 * 127 * (block - 1)
    bias = np.concatenate([np.random.default_rng(block).integers(-reach, reach, size=45),
                           [reach, -reach, 0, 63, -64, 64, -65]])
    tiles = bias_weight_tiles(bias, block)
    lanes = bias_input_tile(1, block)[0, 0].astype(np.int64)
    sums = np.einsum("toi,i->to", tiles.astype(np.int64), lanes).ravel()
    np.testing.assert_array_equal(sums[:len(bias)], bias)
    np.testing.assert_array_equal(sums[len(bias):], 0)
    assert bias_weight_tiles(np.array([128 * 128 * (block - 1) + 64]), block) is None
    assert bias_weight_tiles(np.array([-reach - 128 - 64]), block) is None


@pytest.mark.parametrize("lanes, bits", [(2, 8), (13, 8), (5, 4)])
def test_bias_lanes_add_the_bias_through_the_padding(lanes, bits):
    """The constant lanes an im2col writes into its channel padding (1, then the lowest input
    value) and their weights add every bias they reach: |bias| up to m · 127 · (lanes − 1) with
    m = 2^(bits − 1); one past m · 128 · (lanes − 1) + m / 2 − 1 is refused."""
    m = 1 << (bits - 1)
    reach = m * 127 * (lanes - 1)
    bias = np.concatenate([np.random.default_rng(lanes).integers(-reach, reach, size=45),
                           [reach, -reach, 0, m // 2 - 1, -m // 2, m // 2, -m // 2 - 1]])
    inputs = bias_input_lanes(lanes, bits)
    assert inputs[0] == 1 and np.all(inputs[1:] == -m)
    weights = bias_lane_weights(bias, lanes, bits)
    assert weights.shape == (len(bias), lanes) and weights.dtype == np.int8
    np.testing.assert_array_equal(weights.astype(np.int64) @ inputs.astype(np.int64), bias)
    assert bias_lane_weights(np.array([m * 128 * (lanes - 1) + m // 2]), lanes, bits) is None
    assert bias_lane_weights(np.array([-reach - m - m // 2]), lanes, bits) is None
    assert bias_lane_weights(np.array([5]), 1, bits) is None


@pytest.mark.parametrize("input_bits, weight_bits", [(8, 4), (8, 2), (4, 2)])
def test_bias_lanes_with_weights_narrower_than_inputs(input_bits, weight_bits):
    """Inputs wider than weights: every lane weight lies in the weights' range and the lanes
    add the bias, or the bias is refused (the first lane's weight, the bias modulo 2^(bits−1)
    of the inputs, may exceed a narrow weight: it used to wrap)."""
    biases = np.random.default_rng(input_bits + weight_bits).integers(-2000, 2000, size=200)
    inputs = bias_input_lanes(16, input_bits).astype(np.int64)
    low, high = -(1 << (weight_bits - 1)), (1 << (weight_bits - 1)) - 1
    placed = 0
    for bias in biases:
        weights = bias_lane_weights(np.array([bias]), 16, input_bits, weight_bits)
        if weights is not None:
            assert low <= weights.min() and weights.max() <= high
            assert weights.astype(np.int64) @ inputs == [bias]
            placed += 1
    assert placed > 0


@pytest.mark.parametrize("channels, groups, block, in_channels", [
    (40, 40, 16, 40), (20, 10, 16, 20), (48, 3, 16, 48), (33, 33, 8, 33), (24, 2, 16, 24),
    (16, 8, 16, 32)])
def test_diagonal_tiles_are_the_diagonal_blocks_of_the_dense_weights(channels, groups, block,
                                                                     in_channels):
    """The diagonal tiles of grouped weights are the diagonal blocks of the equivalent dense
    weights (written out here with numpy), or None where a nonzero dense weight lies off them
    (groups across blocks, or output and input channels differing)."""
    rng = np.random.default_rng(channels + groups)
    per_input = in_channels // groups
    weight = rng.integers(-128, 128, (channels, per_input, 3, 2)).astype(np.int8)
    weight[::5] = 0
    dense = np.zeros((channels, in_channels, 3, 2), np.int8)
    per_output = channels // groups
    for out in range(channels):
        first = out // per_output * per_input
        dense[out, first:first + per_input] = weight[out]
    count = -(-max(channels, in_channels) // block)
    padded = np.zeros((count * block, count * block, 3, 2), np.int8)
    padded[:channels, :in_channels] = dense
    expected = np.stack([padded[b * block:(b + 1) * block, b * block:(b + 1) * block]
                         .transpose(2, 3, 0, 1) for b in range(count)])
    off_diagonal = padded.copy()
    for b in range(count):
        off_diagonal[b * block:(b + 1) * block, b * block:(b + 1) * block] = 0
    tiles = diagonal_weight_tiles(weight, groups, in_channels, block)
    if channels != in_channels or off_diagonal.any():       # the last two cases
        assert tiles is None
    else:
        assert tiles.dtype == np.int8
        np.testing.assert_array_equal(tiles, expected)


@pytest.mark.parametrize("low, high, parts", [(-128, 127, 1), (-127, 128, 2), (-255, 254, 2),
                                               (-256, 254, 2), (0, 255, 3), (-255, 0, 2)])
def test_weight_parts_are_int8_and_sum_to_the_weights(low, high, parts):
    """Every weight of the range is the sum of its parts (rows p·KH… of the split), each part
    int8, in the fewest parts that hold the range."""
    values = np.arange(low, high + 1)
    weight = np.resize(values, (len(values), 2, 2, 3)).astype(np.int16)
    count, split = weight_parts(weight)
    assert count == parts and split.dtype == np.int8
    assert split.shape == (len(values), 2, 2 * parts, 3)
    total = split.astype(np.int64).reshape(len(values), 2, parts, 2, 3).sum(axis=2)
    np.testing.assert_array_equal(total, weight)


def tile_array(x: np.ndarray, batch: int, block: int, halo, fill: int) -> np.ndarray:
    """NCHW `x` as the (N/b, C/c, H', W', b, c) tiles the packed layout documents, built
    directly: every byte that holds no element of `x` (padding samples and channels, the halo
    around every image) holds `fill`."""
    n, c, h, w = x.shape
    nb, cb = -(-n // batch), -(-c // block)
    padded = np.full((nb * batch, cb * block, h, w), fill, dtype=np.int8)
    padded[:n, :c] = x
    top, left, bottom, right = halo
    framed = np.pad(padded, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=fill)
    tiles = framed.reshape(nb, batch, cb, block, *framed.shape[2:]).transpose(0, 2, 4, 5, 1, 3)
    return np.ascontiguousarray(tiles).ravel()


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("shape, halo", [((2, 20, 3, 5), (1, 0, 2, 1)),
                                         ((1, 7, 4, 1), (0, 0, 0, 0)),
                                         ((3, 33, 1, 1), (0, 0, 0, 0))])
def test_packed_bytes_are_the_documented_tiles(shape, halo, batch):
    x = np.random.default_rng(1).integers(-128, 128, size=shape).astype(np.int8)
    layout = ActLayout(shape, batch, 16, halo=halo, fill=-5)
    np.testing.assert_array_equal(pack_array(x, layout), tile_array(x, batch, 16, halo, -5))


@pytest.mark.parametrize("shape", [(5, 40), (2, 7, 20), (1, 3, 4, 18), (2, 2, 3, 5)])
def test_channels_last_packs_like_the_nchw_transpose(shape):
    """A tensor with channels last (M×C, N×L×C, N×H×W×C) takes the bytes its NCHW transpose
    takes: its channels in the lanes, its other axes as positions."""
    x = np.random.default_rng(2).integers(-128, 128, size=shape).astype(np.int8)
    physical = physical_shape(shape, channels_last=True)
    nchw = np.moveaxis(x, -1, 1).reshape(physical) if len(shape) > 2 else x.T[None, :, :, None]
    layout = ActLayout(physical, 1, 16, halo=(1, 0, 0, 2), fill=3, channels_last=True)
    expected = pack_array(nchw, ActLayout(physical, 1, 16, halo=(1, 0, 0, 2), fill=3))
    np.testing.assert_array_equal(pack_array(x, layout), expected)
    np.testing.assert_array_equal(pack_array(x, layout)[layout.scatter_map()], x.ravel())
