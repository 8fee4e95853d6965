"""Reading ONNX node attributes, with one-line errors naming the node."""

from __future__ import annotations

import math

import onnx
from onnx import helper

from vta.isa import VtaError


def node_label(node: onnx.NodeProto, index: int) -> str:
    """How errors name a node: its name, or its operator and first output when it has none."""
    name = node.name or (node.output[0] if node.output else f"#{index}")
    return f"{name} ({node.op_type})"


class NodeError(VtaError):
    """What stops the importer at one node: the message names the node (`label`) and gives the
    `reason`. From the integer (VTA) path it only sends the node to the host."""

    def __init__(self, label: str, reason: str):
        super().__init__(f"node {label}: {reason}")
        self.label, self.reason = label, reason


def attributes(node: onnx.NodeProto, label: str, allowed: dict) -> dict:
    """The node's attributes as Python values, defaults filled in from `allowed` (name → default);
    an attribute not in `allowed` is an error."""
    values = dict(allowed)
    for attribute in node.attribute:
        if attribute.name not in allowed:
            raise NodeError(label, f"attribute {attribute.name!r} is not supported")
        value = helper.get_attribute_value(attribute)
        values[attribute.name] = value.decode() if isinstance(value, bytes) else value
    return values


def window_geometry(attrs: dict, label: str, spatial: tuple[int, int],
                    kernel: tuple[int, int]) -> tuple[tuple, tuple, tuple]:
    """(strides, pads (top, left, bottom, right), dilations) of a 2-D Conv or pool, resolving
    auto_pad (NOTSET, VALID, SAME_UPPER, SAME_LOWER) as ONNX defines it."""
    strides = tuple(attrs.get("strides") or (1, 1))
    dilations = tuple(attrs.get("dilations") or (1, 1))
    pads = tuple(attrs.get("pads") or (0, 0, 0, 0))
    if len(strides) != 2 or len(dilations) != 2 or len(pads) != 4:
        raise NodeError(label, "only 2-D windows are supported")
    if min(strides) < 1 or min(dilations) < 1 or min(pads) < 0:
        raise NodeError(label, "strides, dilations and pads must be positive")
    auto_pad = attrs.get("auto_pad", "NOTSET")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for size, k, s, d in zip(spatial, kernel, strides, dilations):
            out = math.ceil(size / s)
            total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
            small, large = total // 2, total - total // 2
            begin.append(small if auto_pad == "SAME_UPPER" else large)
            end.append(large if auto_pad == "SAME_UPPER" else small)
        pads = (begin[0], begin[1], end[0], end[1])
    elif auto_pad == "VALID":
        pads = (0, 0, 0, 0)
    elif auto_pad != "NOTSET":
        raise NodeError(label, f"auto_pad {auto_pad!r} is not supported")
    return strides, pads, dilations
