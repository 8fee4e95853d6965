"""Choice of a layer's tiling: the analytic model (`cost_model.estimate`) ranks every tiling
that fits the SRAMs, the cycle-level model of the core (`vta.simulator.cycle`) times the
`SHORTLIST` best of them as code generation emits them, and the fastest wins.

The analytic model alone is off by up to 1.5× per layer and often ranks the best tiling tenth
or twentieth; eight timed candidates find within 0.6 % of the best of forty on ResNet-18
(docs/compiler.md). Timing needs no data: the emitted stream runs on a scratch device whose
buffers have the layer's sizes. Layers that differ only in their data (ResNet's repeated
blocks) are timed once.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from vta.compiler.codegen import Buffers, emit_layer
from vta.compiler.layers import AddLayer, ConvLayer
from vta.compiler.packing import ActLayout
from vta.compiler.tiling import Tiling, fitting
from vta.isa import Config, MemoryType, VtaError
from vta.runtime.device import Device
from vta.runtime.stream import CommandStream
from vta.simulator.cycle import CycleModel

#: Tilings the cycle model times per layer (the analytic model's best ones).
SHORTLIST = 8
#: Address space of the scratch device a candidate is emitted on (pages are touched lazily).
SCRATCH_MEMORY_BYTES = 1 << 31


def timing_key(layer) -> tuple:
    """What the timing of a layer depends on: everything but its name and its data."""
    return (type(layer).__name__,) + tuple(
        _shape_of(getattr(layer, item.name)) for item in dataclasses.fields(layer)
        if item.name != "name")


def _shape_of(value):
    if isinstance(value, np.ndarray):
        return value.shape
    if isinstance(value, list):
        return tuple(_shape_of(item) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, ActLayout):
        return timing_key(value)
    return value


class CycleCost:
    """Times layers under tilings on the cycle model; remembers every result."""

    def __init__(self, config: Config):
        self.config = config
        self.model = CycleModel(config)
        self.cycles: dict[tuple, int] = {}

    def __call__(self, layer, tiling: Tiling) -> int:
        key = (timing_key(layer), tiling)
        if key not in self.cycles:
            self.cycles[key] = self._time(layer, tiling)
        return self.cycles[key]

    def _time(self, layer, tiling: Tiling) -> int:
        device = Device(self.config, "functional", memory_bytes=SCRATCH_MEMORY_BYTES)
        inputs = [layer.a, layer.b] if isinstance(layer, AddLayer) else [layer.inp]
        if isinstance(layer, ConvLayer) and layer.residual is not None:
            inputs.append(layer.residual.other)
        weights = consts = None
        if isinstance(layer, ConvLayer) and layer.mode != "identity":
            weights = device.alloc(layer.weights.nbytes)
        if layer.consts:
            consts = device.alloc(len(layer.consts) * layer.out.cb
                                  * self.config.elem_bytes(MemoryType.ACC))
        bias_weights = None
        if isinstance(layer, ConvLayer) and layer.bias_tiles is not None:
            bias_weights = device.alloc(layer.bias_tiles.nbytes)
        buffers = Buffers([device.alloc(_nbytes(x)) for x in inputs],
                          device.alloc(_nbytes(layer.out)), weights, consts,
                          device.alloc(self.config.elem_bytes(MemoryType.WGT)), bias_weights,
                          device.alloc(self.config.elem_bytes(MemoryType.INP)))
        stream = CommandStream(device)
        emit_layer(stream, layer, tiling, buffers)
        image = stream.build()
        return self.model.run(image.instructions(), image.insn_addr).cycles


def _nbytes(layout: ActLayout) -> int:
    return max(layout.nbytes, 1)


def choose(layer, config: Config, cost: CycleCost | None = None) -> tuple[Tiling, int]:
    """The tiling of `layer` and its cycles: timed by `cost` among the analytic model's
    shortlist, or the analytic model's best and its estimate when `cost` is None."""
    ranked = fitting(layer, config)
    if not ranked:
        raise VtaError(f"layer {layer.name}: no tiling fits the on-chip buffers")
    if cost is None:
        tiling, estimate = ranked[0]
        return tiling, int(estimate)
    timed = [(cost(layer, tiling), index, tiling)
             for index, (tiling, _) in enumerate(ranked[:SHORTLIST])]
    cycles, _, tiling = min(timed)
    return tiling, cycles
