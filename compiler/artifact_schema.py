"""Everything a `.vtab` must satisfy past its checksum, checked in one place before any of it
is used: the header's JSON schema (every key, type and range), the facts that span fields
(sections, values and steps inside the model's memory, names that refer to values, sizes that
agree) and the inflation of compressed sections, bounded by their declared size. A file that
passes runs — or stops with a one-line error from a backend (a bounds error, a deadlock) —
and never raises anything else.

To validate a new part of the header: add its schema to `HEADER_SCHEMA` (a step kind to
`STEP_KINDS`), and, if it names values or occupies memory, say so in `_check_references` or
`_check_memory`. The schema language is JSON Schema with `vta.isa.schema`'s helpers.
"""

from __future__ import annotations

import math
import zlib

from vta.compiler.host_kernels import KERNEL_IR
from vta.compiler.subtiles import activation_block
from vta.isa import INSN_BYTES, Config, VtaError
from vta.isa import schema as s
from vta.runtime.memory import PAGE_BYTES


class ArtifactError(VtaError):
    """A .vtab that cannot be used: not one, damaged, another format version or config."""


#: The largest device memory a model may plan (the compiler's planning address space).
MAX_MEMORY_BYTES = 1 << 31
#: Limits on list lengths and names: generous for real models, small enough to check quickly.
MAX_ITEMS = 1 << 20
MAX_NAME = 4096
#: Scales a float32 host kernel can divide by and multiply with.
SCALE_RANGE = (1e-30, 1e30)

_name = s.text(MAX_NAME)
_names = s.array(_name, 0, MAX_ITEMS)
_address = s.integer(0, MAX_MEMORY_BYTES)
_size = s.integer(0, MAX_MEMORY_BYTES)
_pair = s.array(s.integer(1, 1 << 16), 2, 2)

LAYOUT_SCHEMA = s.record({
    "shape": s.array(s.integer(1, 1 << 24), 4, 4),
    "batch": s.integer(1, 1 << 16), "block": s.integer(1, 1 << 16),
    "halo": s.array(s.integer(0, 1 << 16), 4, 4),
    "fill": s.integer(-128, 127)}, {"channels_last": {"type": "boolean"},
                                    "lanes": s.integer(1, 1 << 16)})

#: Element types of host tensors (numpy's names) and of quantized values.
HOST_DTYPES = ("float32", "float16", "float64", "int8", "uint8", "int16", "uint16", "int32",
               "uint32", "int64", "uint64", "bool", "bfloat16", "float8_e4m3fn",
               "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz", "float8_e8m0fnu", "uint4",
               "int4", "uint2", "int2", "float4_e2m1fn", "float6_e2m3fn", "float6_e3m2fn")
QUANTIZED_DTYPES = ("int8", "uint8")
_null = {"type": "null"}

#: A value: quantized (scale and zero point) in device memory (layout, and an address unless
#: only a fused layer's accumulator holds it) or on the host, or a host tensor (no quantization).
VALUE_SCHEMA = s.record({
    "layout": {"anyOf": [_null, LAYOUT_SCHEMA]},
    "addr": {"anyOf": [_null, _address]},
    "shape": s.array(s.integer(0, 1 << 24), 0, 8),
    "scale": {"anyOf": [_null, s.number(*SCALE_RANGE)]},
    "zero_point": {"anyOf": [_null, s.integer(-128, 127)]},
    "onnx_dtype": s.one_of(*HOST_DTYPES)})

CONSTANT_SCHEMA = s.record({"name": _name, "dtype": s.one_of(*HOST_DTYPES),
                            "shape": s.array(s.integer(0, 1 << 31), 0, 8),
                            "offset": _size, "length": _size})

SECTION_SCHEMA = {"anyOf": [
    s.record({"name": _name, "addr": _address, "nbytes": _size, "fill": s.integer(-128, 255)}),
    s.record({"name": _name, "addr": _address, "nbytes": _size, "offset": _size,
              "length": _size})]}

ENDPOINT_SCHEMA = s.record({"value": _name, "onnx_name": _name})

#: The steps a model runs, by (op, kind): the schema of each.
STEP_KINDS = {
    ("vta", None): s.record({"op": {"const": "vta"}, "layer": _name, "insn_addr": _address,
                             "insn_count": s.integer(0, MAX_MEMORY_BYTES // INSN_BYTES)}),
    ("move", "reshape"): s.record({"op": {"const": "move"}, "node": _name,
                                   "kind": {"const": "reshape"}, "inputs": s.array(_name, 1, 1),
                                   "output": _name, "axis": s.integer(-8, 8)}),
    ("move", "concat"): s.record({"op": {"const": "move"}, "node": _name,
                                  "kind": {"const": "concat"}, "inputs": s.array(_name, 1, 4096),
                                  "output": _name, "axis": s.integer(-4, 3)}),
    ("move", "im2col"): s.record({"op": {"const": "move"}, "node": _name,
                                  "kind": {"const": "im2col"}, "inputs": s.array(_name, 1, 1),
                                  "output": _name, "kernel": _pair, "strides": _pair,
                                  "dilations": _pair,
                                  "pads": s.array(s.integer(0, 1 << 16), 4, 4)},
                                 # the values of the channels after the windows, every position
                                 {"constant_lanes": s.array(s.integer(-128, 127), 1, 1 << 16)}),
    # a graph node the host runs; "ir" is the node, which `host_steps.decode` reads and checks
    ("host", None): s.record({"op": {"const": "host"}, "node": _name,
                              "inputs": s.array(_name, 0, 4096),
                              "outputs": s.array(_name, 1, 4096),
                              "ir": {"type": "object"}}),
}

STEP_SCHEMA = {
    "type": "object", "required": ["op"],
    "properties": {"op": s.one_of(*sorted({op for op, _ in STEP_KINDS})),
                   "kind": s.one_of(*sorted({kind for _, kind in STEP_KINDS if kind}))},
    "allOf": [{"if": {"properties": {"op": {"const": op}}
                      | ({"kind": {"const": kind}} if kind else {}),
                      "required": ["op"] + (["kind"] if kind else [])},
               "then": schema} for (op, kind), schema in STEP_KINDS.items()]
    + [{"if": {"properties": {"op": {"const": op}}, "required": ["op"]},
        "then": {"required": ["kind"]}} for op in sorted({op for op, kind in STEP_KINDS if kind})],
}

NODE_SCHEMA = s.record({"name": _name, "operator": _name, "placement": _name}, extra=True)

HEADER_SCHEMA = s.record({
    "format": {"const": "pyvta compiled model"},
    "version": s.integer(0, 1 << 32),
    "name": _name,
    "config": {"type": "object", "maxProperties": 64},
    "fingerprint": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
    "memory_bytes": s.integer(2 * PAGE_BYTES, MAX_MEMORY_BYTES) | {"multipleOf": PAGE_BYTES},
    "sections": s.array(SECTION_SCHEMA, 0, MAX_ITEMS),
    "constants": s.array(CONSTANT_SCHEMA, 0, MAX_ITEMS),
    "values": {"type": "object", "additionalProperties": VALUE_SCHEMA, "maxProperties": MAX_ITEMS},
    "inputs": s.array(ENDPOINT_SCHEMA, 1, 4096),
    "outputs": s.array(ENDPOINT_SCHEMA, 1, 4096),
    "steps": s.array(STEP_SCHEMA, 0, MAX_ITEMS),
    "nodes": s.array(NODE_SCHEMA, 0, MAX_ITEMS),
    "host_kernels": s.text(1 << 24),
}, {
    "labels": {"anyOf": [{"type": "null"}, _names]},
    "compile_seconds": s.number(0, 1e9),   # written by earlier versions (a .vtab is now the
})                                         # same bytes whenever the same model is compiled)


def validated_header(text: bytes, payload_bytes: int, where: str) -> tuple[dict, Config]:
    """The header of a .vtab whose checksum and version passed, and its config, after every
    check of this module except the inflation of sections (`inflate`)."""
    header = s.parse_json(text, where, ArtifactError)
    s.validate(header, HEADER_SCHEMA, where, ArtifactError)
    try:
        config = Config(**header["config"])
    except (TypeError, VtaError) as error:
        message = str(error) if isinstance(error, VtaError) else "unknown config key"
        raise ArtifactError(f"{where}: config: {message}") from None
    if config.isa_fingerprint != header["fingerprint"]:
        raise ArtifactError(f"{where}: .vtab config does not match its fingerprint")
    if header["host_kernels"] != KERNEL_IR:
        raise ArtifactError(f"{where}: .vtab host kernels differ from this pyvta's")
    _check_memory(header, config, payload_bytes, where)
    _check_references(header, where)
    return header, config


def inflate(entry: dict, payload: bytes, where: str) -> bytes:
    """The bytes of a compressed section, never inflating more than its declared size."""
    packed = payload[entry["offset"]:entry["offset"] + entry["length"]]
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(packed, entry["nbytes"])
        complete = inflater.eof and not inflater.unconsumed_tail and not inflater.unused_data
    except zlib.error as error:
        raise ArtifactError(f"{where}: section {s.show(entry['name'])}: corrupt compressed "
                            f"data ({error})") from None
    if not complete or len(raw) != entry["nbytes"]:
        raise ArtifactError(f"{where}: section {s.show(entry['name'])}: compressed data does "
                            f"not inflate to its declared {entry['nbytes']} bytes")
    return raw


def _check_memory(header: dict, config: Config, payload_bytes: int, where: str) -> None:
    """Every section, stored value and instruction stream inside the model's memory (above
    the reserved page 0), every compressed section inside the payload, layouts of the config."""
    memory = header["memory_bytes"]

    def inside(what: str, addr: int, nbytes: int) -> None:
        if addr < PAGE_BYTES or addr + nbytes > memory:
            raise ArtifactError(f"{where}: {what}: bytes [{addr:#x}, {addr + nbytes:#x}) lie "
                                f"outside the model's memory [{PAGE_BYTES:#x}, {memory:#x})")

    for index, section in enumerate(header["sections"]):
        inside(f"sections[{index}]", section["addr"], section["nbytes"])
        if "offset" in section and section["offset"] + section["length"] > payload_bytes:
            raise ArtifactError(f"{where}: sections[{index}]: compressed bytes "
                                f"[{section['offset']}, {section['offset'] + section['length']})"
                                f" lie outside the payload of {payload_bytes} bytes")
    for index, constant in enumerate(header["constants"]):
        if constant["offset"] + constant["length"] > payload_bytes:
            raise ArtifactError(f"{where}: constants[{index}]: compressed bytes lie outside the "
                                f"payload of {payload_bytes} bytes")
        if math.prod(constant["shape"]) > MAX_MEMORY_BYTES:
            raise ArtifactError(f"{where}: constants[{index}]: shape {constant['shape']} is "
                                "too large")
    for name, value in header["values"].items():
        layout, what = value["layout"], f"values[{s.show(name)}]"
        if (value["scale"] is None) != (value["zero_point"] is None) or (
                value["scale"] is not None and value["onnx_dtype"] not in QUANTIZED_DTYPES):
            raise ArtifactError(f"{where}: {what}: a quantized value needs a scale, a zero "
                                "point and an int8 or uint8 type")
        if layout is None:
            if value["addr"] is not None:
                raise ArtifactError(f"{where}: {what}: an address without a layout")
            continue
        if value["scale"] is None:
            raise ArtifactError(f"{where}: {what}: a layout for a value that is not quantized")
        block = activation_block(config)
        if layout.get("lanes", block) not in (block, config.block_in):
            raise ArtifactError(f"{where}: {what}: layout of {layout['lanes']} lanes, not the "
                                f"config's {block} (or {config.block_in}, weight tiles)")
        if layout["block"] != block or layout["batch"] not in (config.batch, block):
            raise ArtifactError(f"{where}: {what}: layout of batch {layout['batch']} and block "
                                f"{layout['block']}, not the config's {config.batch} (or "
                                f"{block}, weight tiles) and {block}")
        if math.prod(layout["shape"]) != math.prod(value["shape"]):
            raise ArtifactError(f"{where}: {what}: shape {value['shape']} and layout shape "
                                f"{layout['shape']} differ in size")
        if value["addr"] is not None:
            inside(what, value["addr"], _layout_bytes(layout) * config.inp_width // 8)
    for index, step in enumerate(header["steps"]):
        if step["op"] == "vta":
            if step["insn_addr"] % INSN_BYTES:
                raise ArtifactError(f"{where}: steps[{index}]: insn_addr {step['insn_addr']:#x} "
                                    f"is not a multiple of {INSN_BYTES}")
            inside(f"steps[{index}]", step["insn_addr"], INSN_BYTES * step["insn_count"])
            first, end = step["insn_addr"], step["insn_addr"] + INSN_BYTES * step["insn_count"]
            if step["insn_count"] and not any(
                    "offset" in section and section["addr"] <= first
                    and end <= section["addr"] + section["nbytes"]
                    for section in header["sections"]):
                # a stream the file does not hold: zeros or a fill, which decode as millions
                # of instructions from a file of a few bytes
                raise ArtifactError(f"{where}: steps[{index}]: instructions [{first:#x}, "
                                    f"{end:#x}) lie outside every stored section")


def _layout_bytes(layout: dict) -> int:
    """Bytes of a packed activation of 8-bit values (`vta.compiler.packing.ActLayout.nbytes`)."""
    n, c, h, w = layout["shape"]
    top, left, bottom, right = layout["halo"]
    batch, block = layout["batch"], layout["block"]
    return -(-n // batch) * -(-c // block) * (h + top + bottom) * (w + left + right) * batch * block


def _check_references(header: dict, where: str) -> None:
    """Names of values exist; what device moves read and write is stored; shapes agree."""
    values = header["values"]

    def known(what: str, name: str) -> None:
        if name not in values:
            raise ArtifactError(f"{where}: {what}: no value {s.show(name)}")

    def stored(what: str, name: str) -> dict:
        if name not in values:
            raise ArtifactError(f"{where}: {what}: no value {s.show(name)}")
        if values[name]["addr"] is None:
            raise ArtifactError(f"{where}: {what}: value {s.show(name)} is not stored in memory")
        return values[name]

    for group in ("inputs", "outputs"):
        seen = set()
        for index, entry in enumerate(header[group]):
            known(f"{group}[{index}]", entry["value"])
            if entry["onnx_name"] in seen:
                raise ArtifactError(f"{where}: {group}[{index}]: {s.show(entry['onnx_name'])} "
                                    "named twice")
            seen.add(entry["onnx_name"])
    for index, step in enumerate(header["steps"]):
        if step["op"] == "host":
            for name in step["inputs"] + step["outputs"]:
                if name:
                    known(f"steps[{index}]", name)
        if step["op"] != "move":
            continue
        what = f"steps[{index}]"
        sources = [stored(what, name)["shape"] for name in step["inputs"]]
        target = stored(what, step["output"])["shape"]
        if step["kind"] == "reshape" and math.prod(sources[0]) != math.prod(target):
            raise ArtifactError(f"{where}: {what}: reshape of {sources[0]} to {target} changes "
                                f"the number of elements")
        if step["kind"] == "concat":
            _check_concat(sources, target, step["axis"], f"{where}: {what}")
        if step["kind"] == "im2col":
            _check_im2col(step, values[step["inputs"][0]], target, f"{where}: {what}")


def _check_concat(sources: list, target: list, axis: int, where: str) -> None:
    rank = len(target)
    if not -rank <= axis < rank or any(len(shape) != rank for shape in sources):
        raise ArtifactError(f"{where}: concat along axis {axis} of shapes {sources}")
    axis %= rank
    expected = list(sources[0])
    expected[axis] = sum(shape[axis] for shape in sources)
    if expected != list(target) or any(
            shape[:axis] + shape[axis + 1:] != target[:axis] + target[axis + 1:] for shape in sources):
        raise ArtifactError(f"{where}: concat of {sources} along axis {axis} is not {target}")


def _check_im2col(step: dict, source: dict, target: list, where: str) -> None:
    """The windows stay inside the source's halo (`ActLayout.window_map`) and the output has
    one channel per (input channel, kernel position), then one per constant lane."""
    n, c, h, w = source["layout"]["shape"]
    top, left, bottom, right = source["layout"]["halo"]
    (kh, kw), (sh, sw), (dh, dw) = step["kernel"], step["strides"], step["dilations"]
    pads = step["pads"]
    channels = c * kh * kw + len(step.get("constant_lanes", ()))
    if len(target) != 4 or target[:2] != [n, channels]:
        raise ArtifactError(f"{where}: im2col output {target} is not ({n}, {channels}, ...)")
    oh, ow = target[2:]
    reach_y = (oh - 1) * sh + (kh - 1) * dh
    reach_x = (ow - 1) * sw + (kw - 1) * dw
    if pads[0] > top or pads[1] > left or reach_y - pads[0] >= h + bottom or \
            reach_x - pads[1] >= w + right:
        raise ArtifactError(f"{where}: im2col windows reach beyond the input's halo")
