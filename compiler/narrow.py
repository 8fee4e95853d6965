"""Re-quantization of an int8 model for a config's narrower operands (docs/compiler.md,
"Narrow operands").

A config with 4- or 2-bit inputs (`LOG_INP_WIDTH`) holds every quantized activation in that
many bits, and one with narrow weights (`LOG_WGT_WIDTH`) every weight. The importer keeps the
int8 model's calibration: an activation keeps its real range, spread over 2^bits − 1 steps
instead of 255 (scale × 255 / (2^bits − 1), zero point scaled likewise and rounded); weights
stay symmetric per output channel, re-rounded from their int8 values to the channel's largest
magnitude over 2^(bits−1) − 1. Biases are re-derived from their real values by the importer.
"""

from __future__ import annotations

import numpy as np

from vta.compiler import ir


def activation(quant: ir.Quant, bits: int) -> ir.Quant:
    """The `bits`-bit quantization covering the real range of int8 `quant`."""
    if bits == 8:
        return quant
    factor = 255 / ((1 << bits) - 1)
    low, high = ir.Quant(1.0, 0, bits).range
    zero_point = int(np.clip(np.rint(quant.zero_point / factor), low, high))
    return ir.Quant(float(np.float32(quant.scale * factor)), zero_point, bits)


def weights(weight: np.ndarray, scale: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(`bits`-bit weights in int8, scale per output channel) for `weight` (int8, or int16
    within ±255) with output channels on axis 0 and their `scale` (one per channel)."""
    if bits == 8:
        return weight, scale
    limit = (1 << (bits - 1)) - 1
    channels = weight.shape[0]
    real = weight.reshape(channels, -1).astype(np.float64) * scale[:, None]
    largest = np.abs(real).max(axis=1, initial=0.0)
    new_scale = np.where(largest > 0, largest / limit, scale)
    narrowed = np.clip(np.rint(real / new_scale[:, None]), -limit, limit)
    return narrowed.astype(np.int8).reshape(weight.shape), new_scale
