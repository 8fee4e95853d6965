"""Run a `CompiledModel` on a device: the VTA layers' programs and the host's steps, in order.

The executor writes the model's memory sections into a fresh `Device` of the model's config
(same allocator, so the same addresses the instructions carry), then per inference runs each
step: a VTA layer's program, a device move (one gather between buffers in device memory), or a
host node (`host_steps`: rebuilt once, run with the reference executor's kernel). Values a host
node reads from device memory are gathered (unpacked) once per inference; values it writes that
VTA reads are scattered (packed) into their buffers. A quantization into device memory and a
dequantization out of it are single llvmlite passes over the packed positions. Positions count
values: with a config's narrow (4- or 2-bit) activations the host works on the device memory
unpacked to one int8 per value and packs it back after writing (`vta.isa.elements`).

Nothing here imports onnx, onnxruntime or amaranth: a `.vtab` runs on numpy and llvmlite.
"""

from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass, field

import numpy as np

from vta.compiler import host_ops, host_steps, ir, reference
from vta.compiler.host_kernels import Kernels
from vta.compiler.model import CompiledModel, layout_from_json
from vta.isa import VtaError, progress
from vta.isa.elements import pack, unpack, values_per_byte
from vta.isa.image import ProgramImage
from vta.runtime.backends import RunReport
from vta.runtime.device import Device
from vta.runtime.memory import PAGE_BYTES


@dataclass
class StepRun:
    """One step of an inference, in order: a VTA layer (`report` its run's), a device move or
    a host node; `seconds` of this machine's time it took (the simulation's, for a layer)."""

    kind: str               # "vta", "move" or "host"
    name: str
    seconds: float
    report: RunReport | None = None


@dataclass
class Result:
    """Outputs by ONNX name (in the graph's dtypes), one report per VTA layer run, the
    seconds the host's steps took and every step in order (`steps`: a whole-model trace)."""

    outputs: dict[str, np.ndarray]
    reports: list[tuple[str, RunReport]]
    #: seconds of each host node (`host_seconds` is their sum)
    host_times: dict[str, float]
    steps: list[StepRun] = field(default_factory=list)

    @property
    def host_seconds(self) -> float:
        return sum(self.host_times.values())

    @property
    def cycles(self) -> int | None:
        cycles = [report.cycles for _, report in self.reports]
        return None if any(c is None for c in cycles) else sum(cycles)


class Executor:
    """A compiled model loaded on a device of one backend."""

    def __init__(self, model: CompiledModel, backend: str = "functional", **backend_options):
        self.model = model
        self.device = Device(model.config, backend,
                             memory_bytes=model.memory_bytes + PAGE_BYTES, **backend_options)
        region = self.device.alloc(model.memory_bytes - PAGE_BYTES)
        if region.phys_addr != PAGE_BYTES:
            raise VtaError("device memory does not start where the model was planned")
        dram = self.device.dram
        for section in model.sections:
            end = section.addr + section.nbytes
            if section.addr < PAGE_BYTES or end > model.memory_bytes:
                raise VtaError(f"section {section.name!r} lies outside the model's memory")
            if section.data is not None:
                dram[section.addr:end] = np.frombuffer(section.data, np.uint8)
            else:
                dram[section.addr:end] = np.uint8(section.fill & 0xFF)
        self.kernels = Kernels()
        self.host_nodes = {step["node"]: host_steps.decode(step, model.constants)
                           for step in model.steps if step["op"] == "host"}
        self.host_values: dict[str, np.ndarray] = {}
        self._maps: dict[str, np.ndarray] = {}
        self._im2col_maps: dict[str, tuple[np.ndarray, ...]] = {}
        #: bits of every activation value in device memory, and how many share a byte
        self.bits = model.config.inp_width
        self.per_byte = values_per_byte(self.bits)

    def _values(self) -> np.ndarray:
        """Device memory as one int8 per activation value (a view at 8 bits, else a copy that
        `_commit` packs back)."""
        dram = self.device.dram
        return dram.view(np.int8) if self.per_byte == 1 else unpack(dram, self.bits)

    def _commit(self, values: np.ndarray) -> None:
        if self.per_byte > 1:
            self.device.dram[:] = pack(values, self.bits)

    # -- device memory ----------------------------------------------------------------------
    def on_device(self, value: str) -> bool:
        return self.model.values[value]["layout"] is not None

    def positions(self, value: str) -> np.ndarray:
        """Absolute position (DRAM byte × values per byte) of every element (flat NCHW order) of
        a device value."""
        if value not in self._maps:
            info = self.model.values[value]
            if info["layout"] is None:
                raise VtaError(f"value {value!r} is not in device memory: the host holds it")
            if info["addr"] is None:
                raise VtaError(f"value {value!r} is not stored: it stays in the accumulator of "
                               f"a fused layer")
            layout = layout_from_json(info["layout"])
            self._maps[value] = layout.scatter_map() + info["addr"] * self.per_byte
        return self._maps[value]

    def im2col_maps(self, step: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(positions written, positions read) of an im2col step's windows — its output's first
        C·KH·KW channels —, then (positions written, index into its `constant_lanes`) of the
        constant lanes in the channels after them, at every position."""
        output = step["output"]
        if output not in self._im2col_maps:
            info = self.model.values[step["inputs"][0]]
            n, channels, oh, ow = self.model.values[output]["shape"]
            lanes = len(step.get("constant_lanes", ()))
            sources = layout_from_json(info["layout"]).window_map(
                step["kernel"], step["strides"], step["dilations"], step["pads"], (oh, ow)) \
                + info["addr"] * self.per_byte
            targets = self.positions(output).reshape(n, channels, oh * ow)
            lane_index = np.broadcast_to(np.arange(lanes, dtype=np.int64)[None, :, None],
                                         (n, lanes, oh * ow))
            self._im2col_maps[output] = (targets[:, :channels - lanes].ravel(), sources,
                                     targets[:, channels - lanes:].ravel(), lane_index.ravel())
        return self._im2col_maps[output]

    def read(self, value: str) -> np.ndarray:
        """A value after a run: a device value's int8 contents (NCHW or NC), a host value as the
        host computed it."""
        if not self.on_device(value):
            if value not in self.host_values:
                raise VtaError(f"value {value!r} has not been computed")
            return self.host_values[value]
        positions = self.positions(value)
        flat = np.empty(len(positions), dtype=np.int8)
        self.kernels.move(flat, np.arange(len(positions), dtype=np.int64), self._values(),
                          positions)
        return flat.reshape(self.model.values[value]["shape"])

    def _store(self, value: str, array: np.ndarray) -> None:
        """Keep a host node's result; pack it into device memory where VTA reads it."""
        self.host_values[value] = array
        if self.on_device(value):
            source = np.ascontiguousarray(array, dtype=np.int8).ravel()
            values = self._values()
            self.kernels.move(values, self.positions(value), source,
                              np.arange(source.size, dtype=np.int64))
            self._commit(values)

    def _load(self, value: str) -> np.ndarray:
        """A host node's input (unpacked from device memory once per inference)."""
        if value not in self.host_values:
            self.host_values[value] = self.read(value)
        return self.host_values[value]

    # -- running ----------------------------------------------------------------------------
    def run(self, feeds: dict[str, np.ndarray]) -> Result:
        """One inference; `feeds` by ONNX input name, as the ONNX graph declares them."""
        self.host_values = {key.removeprefix("value:"): array
                            for key, array in self.model.constants.items()
                            if key.startswith("value:")}
        for entry in self.model.inputs:
            if entry["onnx_name"] not in feeds:
                raise VtaError(f"no input {entry['onnx_name']!r} given")
            self._feed(entry["value"], entry["onnx_name"], np.asarray(feeds[entry["onnx_name"]]))
        reports, host_times, steps = [], {}, []
        with progress.step(f"running {self.model.name} on the {self.device.backend.name} "
                           f"backend (steps)", total=len(self.model.steps)) as shown:
            for step in self.model.steps:
                started = time.perf_counter()
                if step["op"] == "vta":
                    image = ProgramImage(self.model.config, self.device.dram_view(),
                                         step["insn_addr"], step["insn_count"])
                    reports.append((step["layer"], self.device.run(image)))
                    steps.append(StepRun("vta", step["layer"], time.perf_counter() - started,
                                         reports[-1][1]))
                elif step["op"] == "move":
                    self._device_move(step)
                    steps.append(StepRun("move", f"{step['kind']} {step['node']}",
                                         time.perf_counter() - started))
                else:
                    try:
                        self._host_step(self.host_nodes[step["node"]])
                    # a node no valid .vtab holds (ArgumentError: a compiled host kernel
                    # called with a field of the wrong type, e.g. a scale of null)
                    except (ArithmeticError, AttributeError, IndexError, KeyError, TypeError,
                            ValueError, ctypes.ArgumentError) as error:
                        reason = " ".join(str(error).split())[:160]
                        raise VtaError(f"host node {step['node']!r} cannot run "
                                       f"({type(error).__name__}: {reason})") from None
                    host_times[step["node"]] = time.perf_counter() - started
                    steps.append(StepRun("host", step["node"], host_times[step["node"]]))
                shown.advance()
        outputs = {}
        for entry in self.model.outputs:
            info = self.model.values[entry["value"]]
            array = self._load(entry["value"])
            if info["scale"] is not None and info["onnx_dtype"] == "uint8":
                array = (array.astype(np.int16) + 128).astype(np.uint8)
            outputs[entry["onnx_name"]] = array
        return Result(outputs, reports, host_times, steps)

    def _feed(self, value: str, name: str, array: np.ndarray) -> None:
        info = self.model.values[value]
        dtype = host_ops.element_type(info["onnx_dtype"])
        if tuple(array.shape) != tuple(info["shape"]):
            raise VtaError(f"input {name!r} must have shape {tuple(info['shape'])}, "
                           f"not {array.shape}")
        if array.dtype != dtype:
            raise VtaError(f"input {name!r} must be {dtype}, not {array.dtype}")
        if info["scale"] is not None and dtype == np.uint8:       # a quantized uint8 input
            array = (array.astype(np.int16) - 128).astype(np.int8)
        self._store(value, array)

    def _host_step(self, node: ir.Node) -> None:
        if isinstance(node, ir.Quantize) and self.on_device(node.output):
            values, positions = self._values(), self.positions(node.output)
            self.kernels.quantize(values, positions, self._load(node.inputs[0]),
                                  node.quant.scale, node.quant.zero_point)
            if node.quant.bits < 8:      # the kernel saturates to int8
                values[positions] = np.clip(values[positions], *node.quant.range)
            self._commit(values)
            return
        if isinstance(node, ir.Dequantize) and self.on_device(node.inputs[0]) \
                and node.inputs[0] not in self.host_values:
            flat = self.kernels.dequantize(self._values(),
                                           self.positions(node.inputs[0]), node.quant.scale,
                                           node.quant.zero_point)
            self.host_values[node.output] = flat.reshape(self.model.values[node.output]["shape"])
            return
        results = reference.run_node(node, [self._load(name) if name else None
                                            for name in node.inputs])
        for name, result in zip(node.outputs, results):
            self._store(name, result)

    def _device_move(self, step: dict) -> None:
        """Reshape (same elements, row-major), Concat or im2col (its windows, then its constant
        lanes), as gathers over device memory."""
        dram = self._values()
        if step["kind"] == "im2col":
            targets, sources, lane_targets, lane_index = self.im2col_maps(step)
            self.kernels.move(dram, targets, dram, sources)
            self.kernels.move(dram, lane_targets,
                              np.array(step.get("constant_lanes", ()), dtype=np.int8), lane_index)
        else:
            if step["kind"] == "reshape":
                sources = self.positions(step["inputs"][0])
            else:
                pieces = [self.positions(name).reshape(self.model.values[name]["shape"])
                          for name in step["inputs"]]
                sources = np.concatenate(pieces, axis=step["axis"]).ravel()
            self.kernels.move(dram, self.positions(step["output"]), dram, sources)
        self._commit(dram)
