"""Code generation: one VTA layer under its SRAM plan, emitted by the emitter of its kind (the
schedule they share: `layer_emitter`)."""

from __future__ import annotations

from vta.compiler.alu_emitters import AddEmitter, MaxPoolEmitter
from vta.compiler.conv_emitter import ConvEmitter
from vta.compiler.layer_emitter import Buffers
from vta.compiler.layers import AddLayer, ConvLayer, MaxPoolLayer
from vta.compiler.sram_plan import SramPlan
from vta.runtime.stream import CommandStream


EMITTERS = {ConvLayer: ConvEmitter, MaxPoolLayer: MaxPoolEmitter, AddLayer: AddEmitter}


def emit_layer(stream: CommandStream, plan: SramPlan, buffers: Buffers,
               replay: bool = False) -> int:
    """Emit the plan's layer into `stream`; returns the number of GEMM/ALU instructions.
    `replay`: each distinct tile emitted once (`tile_replay`; the same stream)."""
    emitter = EMITTERS[type(plan.layer)](stream, plan, buffers)
    emitter.emit(replay)
    return emitter.instructions
