"""Where each node runs (`Placement`), and the partition of a graph that records it with every
value's packed layout (`Partition`)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from vta.compiler import ir
from vta.compiler.layers import VtaLayer
from vta.compiler.packing import ActLayout


class Placement(enum.StrEnum):
    """Where a node runs."""

    #: a VTA layer of its own
    VTA = "vta"
    #: nowhere: its output shares its input's DRAM buffer (a flatten read in place by Dense)
    ALIAS = "alias"
    #: inside the VTA layer of the convolution producing its input (`Partition.fused`)
    FUSED = "fused"
    #: on the host
    HOST = "host"


@dataclass
class Partition:
    graph: ir.Graph
    layouts: dict[str, ActLayout]
    #: value -> the value whose DRAM buffer it shares (a flatten is free)
    alias: dict[str, str]
    placement: dict[str, Placement]
    layers: dict[str, VtaLayer] = field(default_factory=dict)
    #: node name -> why it runs on the host
    reasons: dict[str, str] = field(default_factory=dict)
    #: convolution node name -> the value holding the im2col of its input (see the docstring)
    im2col: dict[str, str] = field(default_factory=dict)
    #: lowered convolution node name -> (constant lanes, their (O, lanes) weights): the lanes
    #: that follow its im2col's windows in the spare channel padding and add its bias
    #: (`partition._bias_lanes`)
    im2col_bias: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    #: Add or MaxPool node name -> the convolution node whose layer it is fused into
    fused: dict[str, ir.Node] = field(default_factory=dict)
    #: 1×1 convolution node name -> the convolution whose fused residual Add computes its
    #: output in place (`layers.Shortcut`; the output is never stored)
    shortcuts: dict[str, ir.Node] = field(default_factory=dict)
    #: convolution node name -> the other operand of the Add fused into it (its shortcut's
    #: input, where the shortcut is fused too)
    residual_inputs: dict[str, str] = field(default_factory=dict)
    #: values in device memory (`partition._place_in_device_memory`)
    device: set[str] = field(default_factory=set)
    #: host Reshape/Concat nodes done as one gather between device buffers
    moves: set[str] = field(default_factory=set)
    #: flattened images a Dense reads in place (aliases read through their image's layout)
    flattened: set[str] = field(default_factory=set)
    #: value -> (the Concat output whose buffer holds it, byte offset): inputs of a Concat along
    #: the channels, written straight into their channel blocks (`partition._concat_slices`)
    slices: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: staged Concat node name -> the staging buffer its inputs are written into, which its
    #: VTA layer reads (`partition._concat_slices`)
    staged: dict[str, str] = field(default_factory=dict)
    #: Requantization node name -> the staged Concat whose layer computes it (lane by lane)
    folded: dict[str, str] = field(default_factory=dict)

    def sources(self, node: ir.Node) -> list[str]:
        """The values (DRAM buffers) a VTA node's layer reads."""
        if node.name in self.staged:
            return [self.staged[node.name]]
        reads = [self.im2col[node.name]] if node.name in self.im2col else \
            [self.alias.get(name, name) for name in node.inputs]
        if node.name in self.residual_inputs:
            other = self.residual_inputs[node.name]
            reads.append(self.alias.get(other, other))
        return reads
