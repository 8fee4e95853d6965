"""Reading ONNX node attributes, and refusing the nodes ONNX defines as invalid, with one-line
errors naming the node and the attribute."""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import helper

from vta.isa import VtaError

#: ONNX's padding modes of a Conv or pooling window.
AUTO_PADS = ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER")


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
        values[attribute.name] = _value(attribute)
    return values


def _value(attribute: onnx.AttributeProto):
    value = helper.get_attribute_value(attribute)
    return value.decode() if isinstance(value, bytes) else value


# -- windows ----------------------------------------------------------------------------------
def _per_axis(attrs: dict, name: str, rank: int, count: int, lowest: int, label: str
              ) -> tuple[int, ...] | None:
    """Window attribute `name`: `count` integers for a `rank`-D window, none below `lowest`;
    None where it is absent."""
    values = attrs.get(name)
    if values is None:
        return None
    values = tuple(values)
    if len(values) != count:
        raise NodeError(label, f"attribute {name} {list(values)} has {len(values)} "
                        f"value{'s' * (len(values) != 1)}; a {rank}-D window takes {count}")
    if min(values) < lowest:
        must = "be positive" if lowest else "not be negative"
        raise NodeError(label, f"attribute {name} {list(values)}: its values must {must}")
    return values


def window_kernel(attrs: dict, label: str, rank: int,
                  weight_shape: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """The kernel of a `rank`-D window: a convolution's weights' spatial shape (which a
    kernel_shape attribute must repeat), or a pool's kernel_shape (which ONNX requires)."""
    given = _per_axis(attrs, "kernel_shape", rank, rank, 1, label)
    if weight_shape is None:
        return given
    kernel = tuple(weight_shape[2:])
    if given is not None and given != kernel:
        raise NodeError(label, f"attribute kernel_shape {list(given)} does not match the "
                        f"weights of shape {tuple(weight_shape)}")
    return kernel


def window_geometry(attrs: dict, label: str, spatial: tuple[int, ...],
                    kernel: tuple[int, ...]) -> tuple[tuple, tuple, tuple]:
    """(strides, pads (begins, then ends: top, left, bottom, right in 2-D), dilations) of a Conv
    or pooling window over the `spatial` axes, checked as ONNX defines them (counts, signs,
    auto_pad) and auto_pad resolved."""
    rank = len(spatial)
    strides = _per_axis(attrs, "strides", rank, rank, 1, label) or (1,) * rank
    dilations = _per_axis(attrs, "dilations", rank, rank, 1, label) or (1,) * rank
    pads = _per_axis(attrs, "pads", rank, 2 * rank, 0, label) or (0,) * (2 * rank)
    auto_pad = _auto_pad(attrs, label)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pads = _split_pads([max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
                            for size, k, s, d in zip(spatial, kernel, strides, dilations)],
                           upper=auto_pad == "SAME_UPPER")
    elif auto_pad == "VALID":
        pads = (0,) * (2 * rank)
    return strides, pads, dilations


def _split_pads(totals: list[int], upper: bool) -> tuple[int, ...]:
    """Pads (begins, then ends) splitting each axis's total in two halves, the larger at the
    end where `upper` (SAME_UPPER), else at the start."""
    halves = [(total // 2, total - total // 2) for total in totals]
    return tuple([small if upper else large for small, large in halves]
                 + [large if upper else small for small, large in halves])


def _auto_pad(attrs: dict, label: str) -> str:
    auto_pad = attrs.get("auto_pad") or "NOTSET"
    if auto_pad not in AUTO_PADS:
        raise NodeError(label, f"attribute auto_pad {auto_pad!r} is not one of "
                        f"{', '.join(AUTO_PADS)}")
    return auto_pad


def transposed_geometry(attrs: dict, label: str, spatial: tuple[int, ...],
                        kernel: tuple[int, ...]) -> tuple[tuple, tuple, tuple, tuple]:
    """(strides, pads (begins, then ends: the crops of the full output), dilations,
    output_padding) of a ConvTranspose over the `spatial` axes, checked as ONNX and onnxruntime
    define them: the pads from `pads`, or from `output_shape` or auto_pad (the larger half at
    the start unless SAME_UPPER), and no empty output."""
    rank = len(spatial)
    strides, pads, dilations = window_geometry(attrs | {"auto_pad": "NOTSET"}, label, spatial,
                                               kernel)
    extra = _per_axis(attrs, "output_padding", rank, rank, 0, label) or (0,) * rank
    for axis, (pad, stride, dilation) in enumerate(zip(extra, strides, dilations)):
        if pad >= max(stride, dilation):
            raise NodeError(label, f"attribute output_padding {list(extra)}: {pad} on axis "
                            f"{axis} is not smaller than the stride or dilation "
                            f"({max(stride, dilation)})")
    full = [(size - 1) * stride + (k - 1) * dilation + 1 + pad for size, k, stride, dilation, pad
            in zip(spatial, kernel, strides, dilations, extra)]
    auto_pad = _auto_pad(attrs, label)
    wanted = _per_axis(attrs, "output_shape", rank, rank, 1, label)
    if wanted is None and auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        wanted = tuple(size * stride for size, stride in zip(spatial, strides))
    elif auto_pad == "VALID":
        pads = (0,) * (2 * rank)
    if wanted is not None:
        for axis, (out, largest, stride) in enumerate(zip(wanted, full, strides)):
            if out >= largest + stride:
                raise NodeError(label, f"attribute output_shape {list(wanted)}: {out} on axis "
                                f"{axis} is beyond what the input makes (at most "
                                f"{largest + stride - 1})")
        # (a negative total: zeros appended)
        pads = _split_pads([largest - out for out, largest in zip(wanted, full)],
                           upper=auto_pad == "SAME_UPPER")
    for axis, largest in enumerate(full):
        if largest - pads[axis] - pads[rank + axis] < 1:
            raise NodeError(label, f"attribute pads {list(pads)} crop all {largest} outputs of "
                            f"axis {axis} (an empty output)")
    return strides, pads, dilations, extra


# -- what ONNX defines as invalid -------------------------------------------------------------
def check_node(node: onnx.NodeProto, label: str, opset: int, shapes: list, constants: list
               ) -> None:
    """Refuse the node where ONNX defines it as invalid (onnxruntime refuses such a model),
    before the integer path or the host reads it: an operator ONNX does not define at `opset`,
    a wrong number of inputs, an attribute the operator does not define, of another type, or
    missing where it is required; from the inputs' `shapes` and `constants` (per input, None
    where absent or not constant): window geometries (`window_geometry`), axes beyond the rank
    (`check_axis`), recurrent weights that do not fit hidden_size, and block sizes."""
    try:
        schema = onnx.defs.get_schema(node.op_type, opset, "")
    except onnx.defs.SchemaError:
        raise NodeError(label, f"operator {node.op_type} is not an ONNX operator at opset "
                               f"{opset}") from None
    given = len(node.input)
    if given < schema.min_input or given > schema.max_input:
        raise NodeError(label, f"{node.op_type} takes {schema.min_input} to {schema.max_input} "
                               f"inputs, not {given}")
    for attribute in node.attribute:
        defined = schema.attributes.get(attribute.name)
        if defined is None:
            raise NodeError(label, f"attribute {attribute.name!r} is not an attribute of "
                                   f"{node.op_type} (opset {opset})")
        if attribute.type != defined.type.value:
            kind = onnx.AttributeProto.AttributeType.Name
            raise NodeError(label, f"attribute {attribute.name} is of type "
                                   f"{kind(attribute.type)}; {node.op_type} defines it as "
                                   f"{kind(defined.type.value)}")
    names = {attribute.name for attribute in node.attribute}
    for name, defined in schema.attributes.items():
        if defined.required and name not in names:
            raise NodeError(label, f"attribute {name} is missing ({node.op_type} requires it)")
    attrs = {attribute.name: _value(attribute) for attribute in node.attribute}
    for check in _CHECKS.get(node.op_type, ()):
        check(node, attrs, label, shapes, constants)


def check_axis(axis: int, rank: int, label: str, what: str = "attribute axis",
               end: bool = False) -> int:
    """`axis` (negative: counted from the end) as an index into `rank` axes, or the position
    after the last where `end`; a NodeError where ONNX puts it out of range."""
    top = rank if end else rank - 1
    if not -rank <= axis <= top:
        raise NodeError(label, f"{what} {axis} is out of range for an input of rank {rank} "
                               f"({-rank}…{top})")
    return axis + rank if axis < 0 else axis


def _at(values: list, index: int | None):
    """Input `index`'s entry of `shapes` or `constants` (None where the node has no such input)."""
    return values[index] if index is not None and index < len(values) else None


def _convolution(x_index: int, w_index: int, bias_index: int | None):
    """The check of a Conv, ConvInteger, QLinearConv or ConvTranspose: geometry, groups, bias."""
    def check(node, attrs, label, shapes, constants):
        x, w = _at(shapes, x_index), _at(shapes, w_index)
        if x is None or w is None:
            return
        if len(x) < 3 or len(w) != len(x):
            raise NodeError(label, f"weights of shape {w} do not fit an input of shape {x} "
                                   "(N, C and the spatial axes)")
        kernel = window_kernel(attrs, label, len(x) - 2, w)
        groups = attrs.get("group", 1)
        if groups < 1:
            raise NodeError(label, f"attribute group {groups} must be positive")
        if node.op_type == "ConvTranspose":
            transposed_geometry(attrs, label, x[2:], kernel)
            fits, outputs = x[1] == w[0] and x[1] % groups == 0, w[1] * groups
        else:
            window_geometry(attrs, label, x[2:], kernel)
            fits, outputs = x[1] == w[1] * groups and w[0] % groups == 0, w[0]
        if not fits:
            raise NodeError(label, f"{x[1]} input channels do not match weights {w} in "
                                   f"{groups} groups (attribute group)")
        bias = _at(shapes, bias_index)
        if bias is not None and tuple(bias) != (outputs,):
            raise NodeError(label, f"bias of shape {bias} for {outputs} output channels")
    return check


def _pool(node, attrs, label, shapes, constants):
    x = _at(shapes, 0)
    if x is None:
        return
    if len(x) < 3:
        raise NodeError(label, f"input of shape {x} has no spatial axes (N, C, …)")
    kernel = window_kernel(attrs, label, len(x) - 2)
    window_geometry(attrs, label, x[2:], kernel)
    pads = attrs.get("pads") or ()
    if any(pad >= k for pad, k in zip(pads, kernel + kernel)):
        raise NodeError(label, f"attribute pads {list(pads)}: each pad must be smaller than "
                               f"the kernel {list(kernel)}")


def _blocks(node, attrs, label, shapes, constants):
    """DepthToSpace and SpaceToDepth."""
    size, x = attrs["blocksize"], _at(shapes, 0)
    if size < 1:
        raise NodeError(label, f"attribute blocksize {size} must be positive")
    mode = attrs.get("mode", "DCR")
    if mode not in ("DCR", "CRD"):
        raise NodeError(label, f"attribute mode {mode!r} is not DCR or CRD")
    if x is None:
        return
    if len(x) != 4:
        raise NodeError(label, f"input of shape {x} is not 4-D (N, C, H, W)")
    if node.op_type == "DepthToSpace" and x[1] % (size * size):
        raise NodeError(label, f"attribute blocksize {size}: the {x[1]} channels are no "
                               f"multiple of {size}×{size}")
    if node.op_type == "SpaceToDepth" and (x[2] % size or x[3] % size):
        raise NodeError(label, f"attribute blocksize {size}: height {x[2]} and width {x[3]} "
                               "must be multiples of it")


#: Recurrent operators: (gates, default activations per direction).
CELLS = {"RNN": (1, ("Tanh",)), "GRU": (3, ("Sigmoid", "Tanh")),
         "LSTM": (4, ("Sigmoid", "Tanh", "Tanh"))}


def _recurrent(node, attrs, label, shapes, constants):
    """RNN, GRU, LSTM: direction, layout, activations, and every input's shape against
    hidden_size (R's last axis where the attribute is absent)."""
    gates, defaults = CELLS[node.op_type]
    functions = len(defaults)
    direction = attrs.get("direction", "forward")
    if direction not in ("forward", "reverse", "bidirectional"):
        raise NodeError(label, f"attribute direction {direction!r} is not forward, reverse or "
                               "bidirectional")
    directions = 2 if direction == "bidirectional" else 1
    layout = attrs.get("layout", 0)
    if layout not in (0, 1):
        raise NodeError(label, f"attribute layout {layout} is not 0 or 1")
    activations = attrs.get("activations")
    if activations is not None and len(activations) != functions * directions:
        raise NodeError(label, f"attribute activations {list(activations)}: a {direction} "
                               f"{node.op_type} takes {functions * directions} functions")
    hidden = attrs.get("hidden_size")
    if hidden is not None and hidden < 1:
        raise NodeError(label, f"attribute hidden_size {hidden} must be positive")
    x, r = _at(shapes, 0), _at(shapes, 2)
    if x is None or r is None:
        return
    if len(x) != 3 or len(r) != 3:
        raise NodeError(label, f"inputs X {x} and R {r} must be 3-D")
    hidden = r[2] if hidden is None else hidden
    batch = x[0] if layout else x[1]
    state = (batch, directions, hidden) if layout else (directions, batch, hidden)
    expected = {1: ("W", (directions, gates * hidden, x[2])),
                2: ("R", (directions, gates * hidden, hidden)),
                3: ("B", (directions, 2 * gates * hidden)), 4: ("sequence_lens", (batch,)),
                5: ("initial_h", state), 6: ("initial_c", state),
                7: ("P", (directions, 3 * hidden))}
    for index, (name, shape) in expected.items():
        given = _at(shapes, index)
        if given is not None and tuple(given) != shape:
            raise NodeError(label, f"input {name} of shape {tuple(given)} does not fit: a "
                                   f"{direction} {node.op_type} of hidden_size {hidden} on "
                                   f"{x[2]} input features takes {shape}")


def _axis(end: bool = False):
    """The check of an operator's `axis` attribute against its first input's rank."""
    def check(node, attrs, label, shapes, constants):
        x = _at(shapes, 0)
        if "axis" in attrs and x is not None:
            check_axis(attrs["axis"], len(x), label, end=end)
    return check


def _axes(node, attrs, label, shapes, constants):
    """Squeeze, Unsqueeze and the reductions: each axis (attribute or constant input axes)
    within the rank, Unsqueeze's within the output's and none twice."""
    x = _at(shapes, 0)
    axes, what = attrs.get("axes"), "attribute axes: axis"
    if axes is None and _at(constants, 1) is not None:
        axes, what = [int(a) for a in np.asarray(constants[1]).ravel()], "input axes: axis"
    if axes is None or x is None:
        return
    rank = len(x) + (len(axes) if node.op_type == "Unsqueeze" else 0)
    positions = [check_axis(axis, rank, label, what) for axis in axes]
    if node.op_type == "Unsqueeze" and len(set(positions)) < len(positions):
        raise NodeError(label, f"axes {list(axes)} name an axis twice")


def _transpose(node, attrs, label, shapes, constants):
    x, perm = _at(shapes, 0), attrs.get("perm")
    if x is not None and perm is not None and sorted(perm) != list(range(len(x))):
        raise NodeError(label, f"attribute perm {list(perm)} is no permutation of the "
                               f"{len(x)} axes")


#: op_type -> the checks of its nodes (`check_node`).
_CHECKS = {
    "Conv": (_convolution(0, 1, 2),), "ConvInteger": (_convolution(0, 1, None),),
    "QLinearConv": (_convolution(0, 3, 8),),
    "ConvTranspose": (_convolution(0, 1, 2),),
    "MaxPool": (_pool,), "AveragePool": (_pool,), "LpPool": (_pool,),
    "DepthToSpace": (_blocks,), "SpaceToDepth": (_blocks,),
    "RNN": (_recurrent,), "GRU": (_recurrent,), "LSTM": (_recurrent,),
    "Flatten": (_axis(end=True),), "Transpose": (_transpose,),
    "Squeeze": (_axes,), "Unsqueeze": (_axes,),
} | {op: (_axis(),) for op in ("ArgMax", "ArgMin", "Compress", "Concat", "Gather",
                               "GatherElements", "Hardmax", "LayerNormalization", "LogSoftmax",
                               "LpNormalization", "ScatterElements", "Softmax", "Split", "TopK")
     } | {op: (_axes,) for op in ("ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp",
                                  "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd",
                                  "ReduceSum", "ReduceSumSquare")}
