"""VTA's blocked layouts (isa-reference §2, §8) and the packing of tensors into them.

Activations live in DRAM as ``N{b}n C{c}c H W`` tiles — a 6-D ``(N/b, C/c, H', W', b, c)`` int8
array — where channels are padded to the block size and H', W' include a *halo*: border rows and
columns filled once with the value a consumer's padding must hold (the input zero point for a
convolution, −128 for a max-pool), because VTA's own load padding can only write zeros.
Producers store into the interior; consumers read windows that reach into the halo.
Weights are ``OIHW{c}o{c}i`` tiles; per-channel ALU operands are ACC tiles, one per channel
block, each row of the tile (batch lane) the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vta.compiler.subtiles import activation_block
from vta.isa import Config, VtaError


def blocks(count: int, size: int) -> int:
    return -(-count // size)


@dataclass(frozen=True)
class ActLayout:
    """Where an int8 tensor lives: `shape` (N, C, H, W) of its tiles' array — the samples,
    channels and the positions' rows and columns —, halo (top, left, bottom, right), fill.

    The tensor itself is NCHW (an N×C, N×C×L value with H = L, W = 1, or N×C×1×1), or, with
    `channels_last`, its channels are its last axis (N×H×W×C, N×L×C with H = L, W = 1, or an
    M×C matrix as N = 1, H = M rows of C channels): `physical_shape` says which.
    """

    shape: tuple[int, int, int, int]
    batch: int
    block: int
    halo: tuple[int, int, int, int] = (0, 0, 0, 0)
    fill: int = 0
    channels_last: bool = False
    #: channels per run of a tile's bytes (0: the block): a tile holds its block as
    #: block / lanes runs, each `batch` rows of `lanes` values — the weight tiles of a config
    #: whose BLOCK_IN < BLOCK_OUT, read from an activation (compiler/subtiles.py)
    lanes: int = 0

    @property
    def run(self) -> int:
        """Channels per run of a tile's bytes (`lanes`, or the whole block)."""
        return self.lanes or self.block

    @property
    def batch_blocks(self) -> int:
        return blocks(self.shape[0], self.batch)

    @property
    def channel_blocks(self) -> int:
        return blocks(self.shape[1], self.block)

    @property
    def height_with_halo(self) -> int:
        return self.shape[2] + self.halo[0] + self.halo[2]

    @property
    def width_with_halo(self) -> int:
        return self.shape[3] + self.halo[1] + self.halo[3]

    @property
    def tiles(self) -> int:
        return self.batch_blocks * self.channel_blocks * self.channel_block_tiles

    @property
    def tile_bytes(self) -> int:
        return self.batch * self.block

    @property
    def nbytes(self) -> int:
        """Bytes at 8-bit values (narrower values pack into nbytes × bits / 8)."""
        return self.tiles * self.tile_bytes

    @property
    def channel_block_tiles(self) -> int:
        """Tiles of one channel block of one batch block: its halo'd image."""
        return self.height_with_halo * self.width_with_halo

    def tile_offset(self, batch_block: int, channel_block: int, row: int, column: int) -> int:
        """Tile index of (row, column) — counted from the halo's top left — of a channel block
        of a batch block."""
        return (((batch_block * self.channel_blocks + channel_block) * self.height_with_halo + row)
                * self.width_with_halo + column)

    def gather_map(self) -> np.ndarray:
        """For each byte of the packed buffer: the flat index in the tensor (NCHW or channels
        last) of the element it holds, or −1 (halo and padding)."""
        n, c, h, w = self.shape
        batch_block = np.arange(self.batch_blocks)[:, None, None, None, None, None]
        channel_block = np.arange(self.channel_blocks)[None, :, None, None, None, None]
        y = np.arange(self.height_with_halo)[None, None, :, None, None, None] - self.halo[0]
        x = np.arange(self.width_with_halo)[None, None, None, :, None, None] - self.halo[1]
        runs, run = self.block // self.run, self.run
        batch_block, channel_block, y, x = (axis[..., None] for axis in (batch_block,
                                                                         channel_block, y, x))
        lane_batch = np.arange(self.batch)[None, None, None, None, None, :, None]
        lane_channel = (np.arange(runs)[:, None, None] * run + np.arange(run)[None, None, :])[
            None, None, None, None]
        sample = batch_block * self.batch + lane_batch
        channel = channel_block * self.block + lane_channel
        valid = (sample < n) & (channel < c) & (y >= 0) & (y < h) & (x >= 0) & (x < w)
        if self.channels_last:
            flat = ((sample * h + y) * w + x) * c + channel
        else:
            flat = ((sample * c + channel) * h + y) * w + x
        return np.where(valid, flat, -1).astype(np.int64).ravel()

    def window_map(self, kernel, strides, dilations, pads, out_hw) -> np.ndarray:
        """The im2col of this tensor's convolution windows: for each element of the (N, C·KH·KW,
        OH, OW) tensor (flat; channel index c·KH·KW + ky·KW + kx, as the flattened OIHW weight)
        the byte of the packed buffer it copies — padding positions read the halo."""
        n, c = self.shape[:2]
        (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, strides, dilations, out_hw
        sample = np.arange(n)[:, None, None, None, None, None]
        channel = np.arange(c)[None, :, None, None, None, None]
        ky = np.arange(kh)[None, None, :, None, None, None]
        kx = np.arange(kw)[None, None, None, :, None, None]
        y = (np.arange(oh) * sh)[None, None, None, None, :, None] + ky * dh - pads[0] + self.halo[0]
        x = (np.arange(ow) * sw)[None, None, None, None, None, :] + kx * dw - pads[1] + self.halo[1]
        if y.min() < 0 or x.min() < 0 or y.max() >= self.height_with_halo \
                or x.max() >= self.width_with_halo:
            raise VtaError("convolution windows reach beyond the tensor's halo")
        tile = self.tile_offset(sample // self.batch, channel // self.block, y, x)
        lane, run = channel % self.block, self.run
        byte = ((tile * (self.block // run) + lane // run) * self.batch + sample % self.batch) \
            * run + lane % run
        return byte.astype(np.int64).ravel()

    def scatter_map(self) -> np.ndarray:
        """For each element of the tensor (flat): the byte of the packed buffer holding it."""
        source = self.gather_map()
        positions = np.flatnonzero(source >= 0)
        result = np.empty(int(np.prod(self.shape)), dtype=np.int64)
        result[source[positions]] = positions
        return result


def physical_shape(shape: tuple[int, ...], channels_last: bool) -> tuple[int, int, int, int]:
    """The (N, C, H, W) tile array of a tensor of `shape`, channels at axis 1 or last (see
    `ActLayout`); VtaError for a tensor of another rank."""
    if len(shape) not in (2, 3, 4):
        raise VtaError(f"a value of shape {shape} has no VTA layout (2 to 4 axes only)")
    if not channels_last:
        return tuple(shape) + (1,) * (4 - len(shape))
    if len(shape) == 2:
        return (1, shape[1], shape[0], 1)
    return (shape[0], shape[-1]) + tuple(shape[1:-1]) + (1,) * (4 - len(shape))


def pack_array(array: np.ndarray, layout: ActLayout) -> np.ndarray:
    """Pack an int8 tensor into the layout's bytes (halo = fill)."""
    source = layout.gather_map()
    flat = np.asarray(array, dtype=np.int8).ravel()
    return np.where(source >= 0, flat[np.maximum(source, 0)], np.int8(layout.fill)).astype(np.int8)


def pad_channels(weight: np.ndarray, out_channels: int, in_channels: int) -> np.ndarray:
    """Zero-pad (O, C, KH, KW) weights to (out_channels, in_channels, KH, KW)."""
    o, c = weight.shape[:2]
    return np.pad(weight, ((0, out_channels - o), (0, in_channels - c), (0, 0), (0, 0)))


def dense_weight_tiles(weight: np.ndarray, block: int) -> np.ndarray:
    """(O, C, KH, KW) int8 → OIHW{c}o{c}i tiles (O/c, C/c, KH, KW, c, c), zero padded."""
    o, c, kh, kw = weight.shape
    padded = pad_channels(weight, blocks(o, block) * block, blocks(c, block) * block)
    tiles = padded.reshape(blocks(o, block), block, blocks(c, block), block, kh, kw)
    return np.ascontiguousarray(tiles.transpose(0, 2, 4, 5, 1, 3)).astype(np.int8)


def weight_parts(weight: np.ndarray) -> tuple[int, np.ndarray]:
    """(P, int8 (O, C, P·KH, KW)): (O, C, KH, KW) weights as the sum of the fewest int8 parts
    P, part p's taps after part p − 1's (rows p·KH…). A weight w splits evenly, into
    ⌊(w + p) / P⌋ for p = 0…P − 1 (their sum is w), each within int8 where −128·P ≤ w ≤ 127·P:
    one part for int8 weights, two for weights minus an activation-style zero point (−1: up to
    128) or most asymmetric uint8 ones (−255…254), three at most (255)."""
    weight = weight.astype(np.int64)
    parts = max(1, -(-int(weight.max(initial=0)) // 127), -(-int(-weight.min(initial=0)) // 128))
    split = [(weight + part) // parts for part in range(parts)]
    return parts, np.concatenate(split, axis=2).astype(np.int8)


def diagonal_weight_tiles(weight: np.ndarray, groups: int, in_channels: int,
                          block: int) -> np.ndarray | None:
    """The diagonal blocks (O/c, KH, KW, c, c) of grouped (O, C/G, KH, KW) weights as dense ones
    (`expand_groups`), where those are block diagonal: every nonzero weight connects channels of
    the same block, and O == C. Else None. (Made from the groups directly: a depthwise layer's
    dense weights would be C × C × KH × KW.)"""
    o, per_input, kh, kw = weight.shape
    if o != in_channels:
        return None
    out_channel = np.arange(o)[:, None]
    in_channel = out_channel // (o // groups) * per_input + np.arange(per_input)[None, :]
    same_block = out_channel // block == in_channel // block
    if np.any(np.any(weight, axis=(2, 3)) & ~same_block):
        return None
    rows, columns = np.nonzero(same_block)
    tiles = np.zeros((blocks(o, block), kh, kw, block, block), dtype=np.int8)
    tiles[rows // block, :, :, rows % block, in_channel[rows, columns] % block] = \
        weight[rows, columns]
    return tiles


def expand_groups(weight: np.ndarray, groups: int, in_channels: int) -> np.ndarray:
    """Grouped (O, C/G, KH, KW) weights as the equivalent dense (O, C, KH, KW) weights."""
    o, cg, kh, kw = weight.shape
    full = np.zeros((o, in_channels, kh, kw), dtype=weight.dtype)
    per_group = o // groups
    for g in range(groups):
        full[g * per_group:(g + 1) * per_group, g * cg:(g + 1) * cg] = \
            weight[g * per_group:(g + 1) * per_group]
    return full


def identity_tile(block: int) -> np.ndarray:
    return np.eye(block, dtype=np.int8)[None]


def channel_tiles(vectors: list[np.ndarray], channels: int, config: Config) -> np.ndarray:
    """Per-channel int32 vectors → ACC tiles (len(vectors), C/c, batch, c), rows repeated (c
    the activation block: at batch 1 a block of BLOCK_IN > BLOCK_OUT is several ACC tiles)."""
    block = activation_block(config)
    count = blocks(channels, block)
    result = np.zeros((len(vectors), count * block), dtype=np.int32)
    for index, vector in enumerate(vectors):
        result[index, :channels] = vector
    tiles = result.reshape(len(vectors), count, 1, block)
    return np.ascontiguousarray(np.broadcast_to(tiles, (len(vectors), count, config.batch,
                                                        block)))


def bias_input_lanes(count: int, bits: int = 8) -> np.ndarray:
    """`count` constant input lanes that carry a bias through a GEMM: 1, then the lowest
    `bits`-bit value (−128 at int8)."""
    lanes = np.full(count, -(1 << (bits - 1)), dtype=np.int8)
    lanes[0] = 1
    return lanes


def bias_lane_weights(bias: np.ndarray, lanes: int, input_bits: int = 8,
                      weight_bits: int = 8) -> np.ndarray | None:
    """int8 weights (len(bias), lanes) whose products with `bias_input_lanes(lanes)` add `bias`
    (int, per output channel): with m = 2^(input_bits − 1) (128 at int8),
    bias = w0 − m · (w1 + … + w_{lanes−1}) with w0 ≡ bias (mod m) in −m/2…m/2 − 1 and the rest
    spread evenly over `weight_bits`-bit values; None when some |bias| is beyond their reach
    (about 128² · (lanes − 1) at int8)."""
    bias = np.asarray(bias, dtype=np.int64)
    modulus, weight_low = 1 << (input_bits - 1), -(1 << (weight_bits - 1))
    low = (bias + modulus // 2) % modulus - modulus // 2
    high = (low - bias) // modulus
    spread = lanes - 1
    if spread < 1 or low.min(initial=0) < weight_low or low.max(initial=0) > -weight_low - 1 \
            or high.min(initial=0) < weight_low * spread \
            or high.max(initial=0) > (-weight_low - 1) * spread:
        return None
    base, extra = np.divmod(high, spread)
    weights = np.empty((len(bias), lanes), dtype=np.int8)
    weights[:, 0] = low
    weights[:, 1:] = base[:, None] + (np.arange(spread)[None, :] < extra[:, None])
    return weights


def bias_input_tile(batch: int, block: int, bits: int = 8) -> np.ndarray:
    """The INP tile a bias GEMM reads: `bias_input_lanes` of the block in every batch row."""
    return np.ascontiguousarray(np.broadcast_to(bias_input_lanes(block, bits), (1, batch, block)))


def bias_weight_tiles(bias: np.ndarray, block: int, input_bits: int = 8,
                      weight_bits: int = 8) -> np.ndarray | None:
    """WGT tiles (O/c, c, c) whose GEMM with `bias_input_tile` adds `bias` to the accumulators
    (`bias_lane_weights` over the c lanes; None beyond their reach)."""
    weights = bias_lane_weights(bias, block, input_bits, weight_bits)
    if weights is None:
        return None
    tiles = np.zeros((blocks(len(weights), block) * block, block), dtype=np.int8)
    tiles[:len(weights)] = weights
    return np.ascontiguousarray(tiles.reshape(-1, block, block))
