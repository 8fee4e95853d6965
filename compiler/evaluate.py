"""Whole-model checks shared by the end-to-end tests and `scripts/model_accuracy.py`: compile a
model, run inputs through VTA, compare every value with the reference executor, measure
accuracy against labels and onnxruntime."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vta.compiler import ir, reference
from vta.compiler.build import compile_graph
from vta.compiler.compare import onnxruntime_session
from vta.compiler.model import CompiledModel
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
    graph = import_onnx(onnx_path, alu_mul=config.ALU_MUL,
                        widths=(config.inp_width, config.wgt_width))
    started = time.perf_counter()
    model = compile_graph(graph, config)
    seconds = time.perf_counter() - started
    return Evaluation(graph, model, Executor(model, backend), seconds)


def run_one(evaluation: Evaluation, x: np.ndarray, *, check_all: bool = True) -> np.ndarray:
    """Run one input (of the model's first graph input) through the executor; check the output
    (and with `check_all` every value it computed, in device memory or on the host) bit-exact
    against the reference; returns the first output."""
    graph, executor = evaluation.graph, evaluation.executor
    feeds = {graph.inputs[0]: x}
    started = time.perf_counter()
    result = executor.run(feeds)
    evaluation.run_seconds.append(time.perf_counter() - started)
    expected = reference.run(graph, feeds)
    values = [name for name, info in evaluation.model.values.items()
              if name in graph.values and (info["addr"] is not None
                                           or name in executor.host_values)]
    for value in values if check_all else graph.outputs:
        if not np.array_equal(executor.read(value), expected[value]):
            evaluation.mismatched_values.append(value)
    return result.outputs[graph.outputs[0]]


def onnxruntime_outputs(onnx_path: Path, inputs: np.ndarray) -> np.ndarray:
    """The int8 model's float output under onnxruntime, one sample at a time."""
    session = onnxruntime_session(str(onnx_path), threads=1)
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: x[None]})[0] for x in inputs])
