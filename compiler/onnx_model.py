"""Loading an ONNX model and making it importable: model-local functions inlined, opsets older
than 13 converted, every graph input's shape fixed (from the user's `--input-shape`, a
dynamic batch alone set to 1), and the standard domain checked."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from vta.isa import VtaError

#: The oldest default-domain opset imported as it is; older models are converted to it.
MIN_OPSET = 13
#: Domains whose operators the compiler knows (ONNX's default domain).
STANDARD_DOMAINS = ("", "ai.onnx")
#: Metadata keys that may hold a model's class names (a JSON list or one name per line).
LABEL_KEYS = ("labels", "classes", "class_names")


def load(model: onnx.ModelProto | str | Path) -> tuple[onnx.ModelProto, str]:
    """(the model, how errors name it)."""
    if not isinstance(model, (str, Path)):
        return model, model.graph.name or "model"
    try:
        return onnx.load(str(model)), str(model)
    except Exception as error:  # noqa: BLE001 - protobuf and OS errors alike
        reason = " ".join(str(error).split())
        raise VtaError(f"{model}: not a readable ONNX model ({reason})") from None


def labels(model: onnx.ModelProto) -> list[str] | None:
    """Class names from the model's metadata, if it carries them (`LABEL_KEYS`)."""
    for prop in model.metadata_props:
        if prop.key in LABEL_KEYS:
            try:
                names = json.loads(prop.value)
            except ValueError:
                names = prop.value.splitlines()
            if isinstance(names, list):
                return [str(name) for name in names]
    return None


def default_opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in STANDARD_DOMAINS), 0)


def tensor_array(tensor: onnx.TensorProto, where: str) -> np.ndarray:
    """A TensorProto's data (an initializer or a Constant's value); `where` says what it is in
    the error when its data does not fit its declared type and shape."""
    try:
        return numpy_helper.to_array(tensor)
    except Exception as error:  # noqa: BLE001 - numpy and protobuf errors alike
        reason = " ".join(str(error).split())
        raise VtaError(f"{where} {tensor.name!r} of shape {tuple(tensor.dims)} has data "
                       f"that does not fit it ({reason})") from None


def _check_opset(model: onnx.ModelProto, source: str) -> int:
    """The default-domain opset, refused when absent (an empty file parses as an empty model)
    or newer than the installed onnx package defines."""
    if not model.HasField("graph") or not (model.graph.node or model.graph.output):
        raise VtaError(f"{source}: not an ONNX model (no graph: the file is empty or holds "
                       "something else)")
    opset = default_opset(model)
    if opset <= 0:
        raise VtaError(f"{source}: the model declares no opset for ONNX's default domain "
                       "(opset_import)")
    newest = onnx.defs.onnx_opset_version()
    if opset > newest:
        raise VtaError(f"{source}: opset {opset} of ONNX's default domain does not exist yet "
                       f"(the newest this onnx {onnx.__version__} knows is {newest})")
    return opset


def prepare(model: onnx.ModelProto, source: str,
            input_shapes: Mapping[str, tuple[int, ...]] | None, notices: list[str]
            ) -> onnx.ModelProto:
    """The model ready for the importer (a copy; `notices` receives what was changed)."""
    prepared = onnx.ModelProto()
    prepared.CopyFrom(model)
    if prepared.functions:
        from onnx import inliner
        prepared = inliner.inline_local_functions(prepared)
    opset = _check_opset(prepared, source)
    if opset < MIN_OPSET:
        prepared = _converted(prepared, source, opset)
        notices.append(f"{source}: converted from opset {opset} to {MIN_OPSET}")
    _check_domains(prepared, source)
    _fix_input_shapes(prepared, source, dict(input_shapes or {}), notices)
    return prepared


def _converted(model: onnx.ModelProto, source: str, opset: int) -> onnx.ModelProto:
    from onnx import version_converter
    resizes = {node.output[0] for node in model.graph.node
               if node.op_type in ("Resize", "Upsample") and node.domain in STANDARD_DOMAINS}
    hardmaxes = {node.output[0]: _attribute(node, "axis", 1) for node in model.graph.node
                 if node.op_type == "Hardmax" and node.domain in STANDARD_DOMAINS}
    try:
        converted = version_converter.convert_version(model, MIN_OPSET)
    except Exception as error:  # noqa: BLE001 - the converter raises many kinds
        reason = " ".join(str(error).split())[:200]
        raise VtaError(f"{source}: cannot convert opset {opset} to {MIN_OPSET} "
                       f"(onnx.version_converter: {reason})") from None
    # What the converter leaves out: a Resize (or Upsample) before opset 11 maps coordinates
    # as `asymmetric` (x / scale) and rounds a nearest one down where it enlarges an axis and up
    # where it shrinks one (onnxruntime's opset-10 kernel), not with opset 11's defaults; a
    # Hardmax before opset 13 takes its input as 2-D, flattened at `axis` (default 1).
    nodes = []
    for node in converted.graph.node:
        if opset < 11 and node.op_type == "Resize" and node.output[0] in resizes:
            nodes += _resize_before_11(converted, node)
        elif node.op_type == "Hardmax" and node.output[0] in hardmaxes:
            nodes += _hardmax_before_13(node, hardmaxes[node.output[0]])
        else:
            nodes.append(node)
    del converted.graph.node[:]
    converted.graph.node.extend(nodes)
    return converted


def _attribute(node: onnx.NodeProto, name: str, default):
    found = [a for a in node.attribute if a.name == name]
    return onnx.helper.get_attribute_value(found[0]) if found else default


def _set_attribute(node: onnx.NodeProto, name: str, value) -> None:
    kept = [a for a in node.attribute if a.name != name]
    del node.attribute[:]
    node.attribute.extend(kept + [onnx.helper.make_attribute(name, value)])


def _constant(model: onnx.ModelProto, name: str) -> np.ndarray | None:
    for tensor in model.graph.initializer:
        if tensor.name == name:
            return numpy_helper.to_array(tensor)
    for node in model.graph.node:
        if node.op_type == "Constant" and list(node.output) == [name]:
            value = _attribute(node, "value", None)
            return None if value is None else numpy_helper.to_array(value)
    return None


def _resize_before_11(model: onnx.ModelProto, node: onnx.NodeProto) -> list[onnx.NodeProto]:
    """A converted opset-10 Resize as opset 11 nodes: `asymmetric`, and a nearest one `floor`
    where every scale is ≥ 1, `ceil` where every one is ≤ 1, else enlarged by scales max(s, 1)
    (floor), then shrunk by min(s, 1) (ceil): nearest resizing is separable."""
    _set_attribute(node, "coordinate_transformation_mode", "asymmetric")
    if _attribute(node, "mode", b"nearest") != b"nearest":
        return [node]
    scales = _constant(model, node.input[2])
    if scales is not None and (np.all(scales >= 1) or np.all(scales <= 1)):
        _set_attribute(node, "nearest_mode", "floor" if np.all(scales >= 1) else "ceil")
        return [node]
    x, roi, output, name = node.input[0], node.input[1], node.output[0], node.name or node.output[0]
    one = onnx.helper.make_node("Constant", [], [f"{output}/one"], name=f"{name}/one",
                                value=numpy_helper.from_array(np.ones(1, np.float32)))
    up = onnx.helper.make_node("Max", [node.input[2], one.output[0]], [f"{output}/up_scales"],
                               name=f"{name}/up_scales")
    down = onnx.helper.make_node("Min", [node.input[2], one.output[0]], [f"{output}/down_scales"],
                                 name=f"{name}/down_scales")
    enlarge, shrink = onnx.ModelProto().graph.node.add(), onnx.ModelProto().graph.node.add()
    enlarge.CopyFrom(node)
    shrink.CopyFrom(node)
    enlarge.name, shrink.name = f"{name}/up", f"{name}/down"
    enlarge.input[:], enlarge.output[:] = [x, roi, up.output[0]], [f"{output}/up"]
    shrink.input[:] = [enlarge.output[0], roi, down.output[0]]
    _set_attribute(enlarge, "nearest_mode", "floor")
    _set_attribute(shrink, "nearest_mode", "ceil")
    return [one, up, down, enlarge, shrink]


def _hardmax_before_13(node: onnx.NodeProto, axis: int) -> list[onnx.NodeProto]:
    """Hardmax before opset 13 (rows of its input flattened at `axis`) as opset 13 nodes."""
    x, output, name = node.input[0], node.output[0], node.name or node.output[0]
    return [onnx.helper.make_node("Flatten", [x], [f"{output}/rows"], name=f"{name}/rows",
                                  axis=axis),
            onnx.helper.make_node("Hardmax", [f"{output}/rows"], [f"{output}/2d"], name=name,
                                  axis=-1),
            onnx.helper.make_node("Shape", [x], [f"{output}/shape"], name=f"{name}/shape"),
            onnx.helper.make_node("Reshape", [f"{output}/2d", f"{output}/shape"], [output],
                                  name=f"{name}/reshape")]


def _check_domains(model: onnx.ModelProto, source: str) -> None:
    for index, node in enumerate(model.graph.node):
        if node.domain not in STANDARD_DOMAINS:
            name = node.name or (node.output[0] if node.output else f"#{index}")
            advice = (" (onnxruntime's QOperator format writes it: quantize with "
                      "quant_format=QuantFormat.QDQ, whose operators are all standard)"
                      if node.domain == "com.microsoft" and node.op_type.startswith("Q") else "")
            raise VtaError(f"node {name} ({node.op_type}): operator {node.domain}.{node.op_type} "
                           f"is not supported: domain {node.domain!r} is not ONNX's standard "
                           f"domain, and no engine here runs it{advice}")


def _fix_input_shapes(model: onnx.ModelProto, source: str, shapes: dict, notices: list[str]):
    initializers = {tensor.name for tensor in model.graph.initializer}
    inputs = [value for value in model.graph.input if value.name not in initializers]
    unknown = set(shapes) - {value.name for value in inputs}
    if unknown:
        raise VtaError(f"{source}: --input-shape names {sorted(unknown)[0]!r}, which is no graph "
                       f"input (the inputs: {', '.join(v.name for v in inputs)})")
    for value in inputs:
        if not value.type.tensor_type.HasField("shape") and value.name not in shapes:
            raise VtaError(f"{source}: graph input {value.name!r} declares no shape; give it "
                           f"with --input-shape {value.name}=DIMS")
        dims = value.type.tensor_type.shape.dim
        _check_declared_sizes(value.name, dims, source)
        if value.name in shapes and not value.type.tensor_type.HasField("shape"):
            for size in shapes[value.name]:
                dims.add().dim_value = int(size)
            continue
        if value.name in shapes:
            requested = tuple(int(d) for d in shapes[value.name])
            if len(requested) != len(dims) or any(d.HasField("dim_value") and d.dim_value != r
                                                  for d, r in zip(dims, requested)):
                declared = tuple(d.dim_value if d.HasField("dim_value") else d.dim_param or "?"
                                 for d in dims)
                raise VtaError(f"{source}: --input-shape {value.name}={_dims(requested)} does not "
                               f"fit the declared shape {declared}")
            for dim, size in zip(dims, requested):
                dim.dim_value = size
            continue
        dynamic = [axis for axis, dim in enumerate(dims) if not dim.HasField("dim_value")]
        if dynamic == [0] and len(dims) > 1:
            dims[0].dim_value = 1
            notices.append(f"{source}: graph input {value.name!r} has a dynamic batch "
                           "dimension: compiled for batch 1")
        elif dynamic:
            named = [f"{axis} ({dims[axis].dim_param or '?'!r})" for axis in dynamic]
            which = (f"dynamic dimension {named[0]}" if len(named) == 1 else
                     f"dynamic dimensions {', '.join(named[:-1])} and {named[-1]}")
            raise VtaError(f"{source}: graph input {value.name!r} has {'a ' * (len(named) == 1)}"
                           f"{which}; fix "
                           f"{'it' if len(named) == 1 else 'them'} with --input-shape "
                           f"{value.name}=DIMS (e.g. 1,3,224,224)")


def _check_declared_sizes(name: str, dims, source: str) -> None:
    for axis, dim in enumerate(dims):
        if dim.HasField("dim_value") and dim.dim_value <= 0:
            what = "an empty tensor" if dim.dim_value == 0 else "a negative size"
            raise VtaError(f"{source}: graph input {name!r} declares size {dim.dim_value} in "
                           f"dimension {axis} ({what}); sizes must be positive")


def _dims(shape) -> str:
    return ",".join(str(d) for d in shape)
