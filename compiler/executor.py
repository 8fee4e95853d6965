"""Run a `CompiledModel` on a device: host kernels around the VTA layers' programs.

The executor writes the model's memory sections into a fresh `Device` of the model's config
(same allocator, so the same addresses the instructions carry), then per inference quantizes
and packs the input with the host kernels, runs each step (a VTA layer's program, or a host
layout move), and unpacks (and dequantizes) the output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vta.compiler.build import CompiledModel, layout_from_json
from vta.compiler.host_kernels import Kernels
from vta.isa import VtaError
from vta.isa.image import ProgramImage
from vta.runtime.backends import RunReport
from vta.runtime.device import Device
from vta.runtime.memory import PAGE_BYTES


@dataclass
class Result:
    """Outputs by ONNX name (in the graph's dtypes) and one report per VTA layer run."""

    outputs: dict[str, np.ndarray]
    reports: list[tuple[str, RunReport]]

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
        self._maps: dict[str, np.ndarray] = {}
        self._windows: dict[str, np.ndarray] = {}

    def positions(self, value: str) -> np.ndarray:
        """Absolute DRAM byte of every element (flat NCHW order) of a value."""
        if value not in self._maps:
            info = self.model.values[value]
            if info["addr"] is None:
                raise VtaError(f"value {value!r} is not stored: it stays in the accumulator of "
                               f"a fused layer")
            layout = layout_from_json(info["layout"])
            self._maps[value] = layout.scatter_map() + info["addr"]
        return self._maps[value]

    def windows(self, step: dict) -> np.ndarray:
        """Absolute DRAM byte read for every element of an im2col step's output."""
        output = step["output"]
        if output not in self._windows:
            info = self.model.values[step["inputs"][0]]
            _, _, oh, ow = self.model.values[output]["shape"]
            self._windows[output] = layout_from_json(info["layout"]).window_map(
                step["kernel"], step["strides"], step["dilations"], step["pads"], (oh, ow)) \
                + info["addr"]
        return self._windows[output]

    def run(self, feeds: dict[str, np.ndarray]) -> Result:
        """One inference; `feeds` by ONNX input name, as the ONNX graph declares them."""
        dram = self.device.dram.view(np.int8)
        for entry in self.model.inputs:
            info = self.model.values[entry["value"]]
            if entry["onnx_name"] not in feeds:
                raise VtaError(f"no input {entry['onnx_name']!r} given")
            array = np.asarray(feeds[entry["onnx_name"]])
            if tuple(array.shape) != tuple(info["shape"]):
                raise VtaError(f"input {entry['onnx_name']!r} must have shape "
                               f"{tuple(info['shape'])}, not {array.shape}")
            if entry["float"]:
                if array.dtype != np.float32:
                    raise VtaError(f"input {entry['onnx_name']!r} must be float32, "
                                   f"not {array.dtype}")
                self.kernels.quantize(dram, self.positions(entry["value"]), array,
                                      info["scale"], info["zero_point"])
            else:
                self._move_in(dram, entry["value"], info, array)
        reports = []
        for step in self.model.steps:
            if step["op"] == "vta":
                image = ProgramImage(self.model.config, self.device.dram_view(),
                                     step["insn_addr"], step["insn_count"])
                reports.append((step["layer"], self.device.run(image)))
            else:
                self._host_move(dram, step)
        outputs = {}
        for entry in self.model.outputs:
            info = self.model.values[entry["value"]]
            positions = self.positions(entry["value"])
            if entry["float"]:
                flat = self.kernels.dequantize(dram, positions, info["scale"], info["zero_point"])
            else:
                flat = np.empty(len(positions), dtype=np.int8)
                flip = 0x80 if info["onnx_dtype"] == "uint8" else 0
                self.kernels.move(flat, np.arange(len(positions), dtype=np.int64), dram,
                                  positions, flip)
                if flip:
                    flat = flat.view(np.uint8)
            outputs[entry["onnx_name"]] = flat.reshape(info["shape"])
        return Result(outputs, reports)

    def read(self, value: str) -> np.ndarray:
        """The int8 NCHW (or NC) contents of an IR value in device memory, after a run."""
        positions = self.positions(value)
        flat = np.empty(len(positions), dtype=np.int8)
        self.kernels.move(flat, np.arange(len(positions), dtype=np.int64),
                          self.device.dram.view(np.int8), positions)
        return flat.reshape(self.model.values[value]["shape"])

    def _move_in(self, dram, value: str, info: dict, array: np.ndarray) -> None:
        expected = np.uint8 if info["onnx_dtype"] == "uint8" else np.int8
        if array.dtype != expected:
            raise VtaError(f"input of value {value!r} must be {np.dtype(expected)}, "
                           f"not {array.dtype}")
        source = np.ascontiguousarray(array).view(np.int8).ravel()
        self.kernels.move(dram, self.positions(value), source,
                          np.arange(source.size, dtype=np.int64),
                          0x80 if expected == np.uint8 else 0)

    def _host_move(self, dram, step: dict) -> None:
        """Reshape (same elements, row-major), Concat or im2col, as one gather over device
        memory."""
        if step["kind"] == "reshape":
            sources = self.positions(step["inputs"][0])
        elif step["kind"] == "im2col":
            sources = self.windows(step)
        else:
            pieces = [self.positions(name).reshape(self.model.values[name]["shape"])
                      for name in step["inputs"]]
            sources = np.concatenate(pieces, axis=step["axis"]).ravel()
        self.kernels.move(dram, self.positions(step["output"]), dram, sources)
