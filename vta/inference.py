"""pyvta's Python API in the shape ML engineers know from onnxruntime::

    import vta

    program = vta.compile("model.onnx", config="ultra96")     # a vta.compiler CompiledModel
    vta.save(program, "model.vtab")
    session = vta.InferenceSession("model.vtab", backend="cycle")
    (scores,) = session.run(None, {"input": x})
    session.last_result.cycles                                  # what the backend measured

`InferenceSession` needs only the runtime (``pip install pyvta``); `compile` needs
``pyvta[compiler]`` (onnx, onnxruntime).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vta.isa import Config, VtaError


@dataclass(frozen=True)
class TensorInfo:
    """An input or output of a model, as onnxruntime's ``NodeArg``: `name`, `shape`, `type`
    (``"tensor(float)"``...) and the numpy `dtype`."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def type(self) -> str:
        return f"tensor({_ONNX_TYPE_NAMES.get(self.dtype.name, self.dtype.name)})"


_ONNX_TYPE_NAMES = {"float32": "float", "float64": "double", "int8": "int8", "uint8": "uint8",
                    "int16": "int16", "int32": "int32", "int64": "int64", "bool": "bool",
                    "float16": "float16"}


def config_of(config: Config | str | Path | None) -> Config:
    """A `Config` from itself, a preset name, a JSON file (pyvta's or TVM's) or None (pynq)."""
    from vta.isa.config import PRESETS

    if config is None or isinstance(config, Config):
        return config or Config.preset()
    if isinstance(config, str) and config in PRESETS:
        return Config.preset(config)
    path = Path(config)
    if path.suffix != ".json":
        raise VtaError(f"config {str(config)!r} is neither a preset ({', '.join(PRESETS)}) nor "
                       "a .json file")
    return Config.from_file(path)


def compile(model, config: Config | str | Path | None = None, *,
            input_shapes: Mapping[str, Sequence[int]] | None = None):
    """Compile an ONNX model (an ``onnx.ModelProto`` or a path) for `config` (a `Config`, a
    preset name or a config file; default pynq); the program object (`CompiledModel`), which
    `save` writes as a ``.vtab`` and `InferenceSession` runs."""
    from vta.compiler.build import compile_graph
    from vta.compiler.onnx_import import import_onnx

    config = config_of(config)
    shapes = {name: tuple(shape) for name, shape in (input_shapes or {}).items()}
    graph = import_onnx(model, alu_mul=config.ALU_MUL, input_shapes=shapes)
    return compile_graph(graph, config)


def save(program, path: str | Path) -> None:
    """Write a compiled model as a ``.vtab`` file."""
    from vta.compiler import artifact

    artifact.save(program, Path(path))


class InferenceSession:
    """A compiled model (a ``.vtab`` path or a `CompiledModel`) loaded on a device of
    `backend` ("functional", "cycle", "rtl", "board"; `backend_options` go to it)."""

    def __init__(self, model, backend: str = "functional", **backend_options):
        from vta.compiler import artifact
        from vta.compiler.executor import Executor
        from vta.compiler.host_ops import element_type

        self.model = model if not isinstance(model, (str, Path)) else artifact.load(Path(model))
        self.executor = Executor(self.model, backend, **backend_options)
        self.backend = backend
        self.last_result = None

        def info(entry):
            value = self.model.values[entry["value"]]
            return TensorInfo(entry["onnx_name"], tuple(value["shape"]),
                              np.dtype(element_type(value["onnx_dtype"])))

        self._inputs = [info(entry) for entry in self.model.inputs]
        self._outputs = [info(entry) for entry in self.model.outputs]

    def get_inputs(self) -> list[TensorInfo]:
        return list(self._inputs)

    def get_outputs(self) -> list[TensorInfo]:
        return list(self._outputs)

    def run(self, output_names: Sequence[str] | None, input_feed: Mapping[str, np.ndarray],
            run_options=None) -> list[np.ndarray]:
        """One inference: the outputs named (None: all, in the model's order) for the inputs
        by name. Names, shapes and dtypes are checked as onnxruntime does (no casting)."""
        known = {tensor.name: tensor for tensor in self._inputs}
        unknown = sorted(set(input_feed) - set(known))
        if unknown:
            raise VtaError(f"{unknown[0]!r} is not an input of the model (its inputs: "
                           f"{', '.join(known)})")
        for tensor in self._inputs:
            if tensor.name not in input_feed:
                raise VtaError(f"input {tensor.name!r} is missing ({tensor.type} of shape "
                               f"{tensor.shape})")
            array = input_feed[tensor.name]
            if not isinstance(array, np.ndarray):
                raise VtaError(f"input {tensor.name!r} must be a numpy array, not "
                               f"{type(array).__name__}")
            if array.dtype != tensor.dtype:
                raise VtaError(f"input {tensor.name!r} must be {tensor.type} "
                               f"({tensor.dtype}), not {array.dtype}")
            if tuple(array.shape) != tensor.shape:
                raise VtaError(f"input {tensor.name!r} must have shape {tensor.shape}, not "
                               f"{tuple(array.shape)}")
        outputs = [tensor.name for tensor in self._outputs]
        names = outputs if output_names is None else list(output_names)
        missing = [name for name in names if name not in outputs]
        if missing:
            raise VtaError(f"{missing[0]!r} is not an output of the model (its outputs: "
                           f"{', '.join(outputs)})")
        self.last_result = self.executor.run(dict(input_feed))
        return [self.last_result.outputs[name] for name in names]
