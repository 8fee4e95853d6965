"""Packed layouts: the im2col window map against numpy's sliding windows of the padded tensor."""

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from vta.compiler.packing import ActLayout, bias_input_tile, bias_weight_tiles, pack_array


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
