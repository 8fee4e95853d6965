"""Whole-model checks shared by the end-to-end tests and `scripts/model_accuracy.py`: compile a
model, run inputs through VTA, compare every value with the reference executor, measure
accuracy against labels and onnxruntime."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vta.compiler import ir, reference
from vta.compiler.build import CompiledModel, compile_graph
from vta.compiler.executor import Executor
from vta.compiler.onnx_import import import_onnx
from vta.compiler.report import shares
from vta.isa import Config


@dataclass
class Evaluation:
    graph: ir.Graph
    model: CompiledModel
    executor: Executor
    compile_seconds: float
    run_seconds: list[float] = field(default_factory=list)
    mismatched_values: list[str] = field(default_factory=list)

    @property
    def shares(self) -> dict:
        return shares(self.model.nodes)


def prepare(onnx_path: Path, config: Config, backend: str = "functional") -> Evaluation:
    graph = import_onnx(onnx_path, alu_mul=config.ALU_MUL)
    started = time.perf_counter()
    model = compile_graph(graph, config)
    seconds = time.perf_counter() - started
    return Evaluation(graph, model, Executor(model, backend), seconds)


def run_one(evaluation: Evaluation, x: np.ndarray, *, check_all: bool = True) -> np.ndarray:
    """Run one float input on VTA; check the output (and with `check_all` every value stored in
    device memory) bit-exact against the reference; returns the int8 output."""
    graph, executor = evaluation.graph, evaluation.executor
    name = graph.inputs[0]
    started = time.perf_counter()
    executor.run({graph.float_inputs[name]: x})
    evaluation.run_seconds.append(time.perf_counter() - started)
    expected = reference.run(graph, {name: graph.values[name].quant.quantize(x)})
    stored = [name for name in graph.values if evaluation.model.values[name]["addr"] is not None]
    values = stored if check_all else list(graph.outputs)
    for value in values:
        if not np.array_equal(executor.read(value), expected[value]):
            evaluation.mismatched_values.append(value)
    return executor.read(graph.outputs[0])


def onnxruntime_outputs(onnx_path: Path, inputs: np.ndarray) -> np.ndarray:
    """The int8 model's float output under onnxruntime, one sample at a time."""
    import onnxruntime
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(onnx_path), options,
                                           providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: x[None]})[0] for x in inputs])
