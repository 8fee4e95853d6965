"""One zoo model through the compiler and both simulator backends, measured against
onnxruntime's reference outputs and judged by issue 11's acceptance."""

from __future__ import annotations

import time
import traceback
from dataclasses import asdict, dataclass, field

import numpy as np
import onnx

from zoo import measure
from zoo.pipeline import BuiltModel

#: Allowed distance from onnxruntime, in output steps, when its two levels agree more closely.
MIN_TOLERANCE_STEPS = 2.0


@dataclass
class Evaluation:
    """What the runner prints for one model (None: not measured, because an earlier stage
    failed)."""

    name: str
    compiled: bool = False
    error: str | None = None           # the one-line reason the model did not compile or run
    steps: float | None = None         # max distance from onnxruntime (nearer level), in steps
    spread: float | None = None        # onnxruntime's own ORT_DISABLE_ALL vs ORT_ENABLE_ALL
    top1: tuple[int, int] | None = None    # (agreeing samples, samples), classifiers only
    backends_agree: bool | None = None     # functional == cycle, every output of every sample
    cycles: int | None = None          # VTA cycles of the first sample (cycle backend)
    rtl_agrees: bool | None = None     # rtl == functional on the first sample (when asked)
    vta_mac_share: float | None = None
    #: (nodes on VTA or folded into a VTA layer, nodes) of the compiled graph (placement report)
    vta_operators: tuple[int, int] | None = None
    min_vta_mac_share: float = 0.0
    compile_seconds: float | None = None
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.compiled and self.error is None and not self.failures

    def to_json(self) -> dict:
        return dict(asdict(self), passed=self.passed)


def evaluate(built: BuiltModel, config, *, samples: int | None = None,
             rtl: bool = False) -> Evaluation:
    """Compile `built`'s int8 model for `config`, run the reference inputs (the first `samples`)
    on the functional and cycle backends (and the first on the RTL backend, with `rtl`) and
    compare with onnxruntime."""
    spec, reference = built.spec, built.reference
    result = Evaluation(spec.name, min_vta_mac_share=spec.min_vta_mac_share)
    feeds = reference.inputs[:samples]
    model_proto = onnx.load(str(built.int8_path))
    steps = measure.output_steps(model_proto)
    enabled, disabled = reference.outputs["enabled"], reference.outputs["disabled"]
    result.spread = max(measure.steps_apart(enabled[n][:len(feeds)], disabled[n][:len(feeds)],
                                            steps[n]) for n in steps)
    started = time.perf_counter()
    try:
        compiled = compile_model(built, config)
    except Exception as error:                      # noqa: BLE001 - reported, one line
        result.error = one_line(error)
        return result
    result.compiled, result.compile_seconds = True, time.perf_counter() - started
    try:
        functional = run(compiled, "functional", feeds)
        cycle = run(compiled, "cycle", feeds)
        if rtl:
            (outputs, _), = run(compiled, "rtl", feeds[:1])
            result.rtl_agrees = all(np.array_equal(outputs[n], functional[0][0][n])
                                    for n in outputs)
    except Exception as error:                      # noqa: BLE001
        result.error = "run: " + one_line(error)
        return result
    result.cycles = cycle[0][1]
    result.backends_agree = all(
        np.array_equal(f[0][n], c[0][n]) for f, c in zip(functional, cycle) for n in f[0])
    ours = {n: np.concatenate([f[0][n] for f in functional]) for n in steps}
    result.steps = max(min(measure.steps_apart(ours[n], enabled[n][:len(feeds)], steps[n]),
                           measure.steps_apart(ours[n], disabled[n][:len(feeds)], steps[n]))
                       for n in steps)
    tolerance = max(MIN_TOLERANCE_STEPS, result.spread)
    if spec.classifier:
        name = next(iter(steps))
        result.top1 = top1_agreement(ours[name], [enabled[name][:len(feeds)],
                                                  disabled[name][:len(feeds)]],
                                     tolerance * steps[name])
    result.vta_mac_share = vta_mac_share(compiled, model_proto, feeds[0])
    result.vta_operators = (sum(node["placement"] in ("vta", "alias", "fused")
                                for node in compiled.nodes), len(compiled.nodes))
    if result.steps > tolerance:
        result.failures.append(f"{result.steps:g} steps from onnxruntime (> {tolerance:g})")
    if result.top1 is not None and result.top1[0] < result.top1[1]:
        result.failures.append(f"top-1 agrees on {result.top1[0]}/{result.top1[1]}")
    if not result.backends_agree:
        result.failures.append("functional and cycle outputs differ")
    if result.rtl_agrees is False:
        result.failures.append("rtl and functional outputs differ")
    if result.vta_mac_share < spec.min_vta_mac_share:
        result.failures.append(f"{100 * result.vta_mac_share:.1f} % of MACs on VTA "
                               f"(< {100 * spec.min_vta_mac_share:g} %)")
    return result


def compile_model(built: BuiltModel, config):
    """The compiler's public Python API, as `vta compile` calls it."""
    from vta.compiler.build import compile_graph
    from vta.compiler.onnx_import import import_onnx
    return compile_graph(import_onnx(built.int8_path, alu_mul=config.ALU_MUL), config)


def run(compiled, backend: str, feeds: list[dict[str, np.ndarray]]
        ) -> list[tuple[dict, int | None]]:
    """(outputs by ONNX name, VTA cycles) of each feed, on one executor of `backend`."""
    from vta.compiler.executor import Executor
    executor = Executor(compiled, backend)
    results = [executor.run(feed) for feed in feeds]
    return [(r.outputs, r.cycles) for r in results]


def top1_agreement(ours: np.ndarray, theirs: list[np.ndarray], tolerance: float
                   ) -> tuple[int, int]:
    """Samples whose top class is onnxruntime's (at either level), or ties with it within
    `tolerance` (a float distance): where onnxruntime's own margin is inside the tolerance, any
    of the tied classes is an answer within it."""
    ours = ours.reshape(len(ours), -1)
    agree = 0
    for index, row in enumerate(ours):
        top = int(np.argmax(row))
        agree += any(level.reshape(len(level), -1)[index, top]
                     >= level.reshape(len(level), -1)[index].max() - tolerance for level in theirs)
    return agree, len(ours)


def vta_mac_share(compiled, model: onnx.ModelProto, feed: dict[str, np.ndarray]) -> float:
    """MACs of the nodes the compiler placed on VTA (or fused into a VTA layer) over all MACs
    of the ONNX graph, both counted from the ONNX graph (by node name; a compiler node that is
    no ONNX node counts its own figure)."""
    macs = measure.node_macs(model, feed)
    total = sum(macs.values())
    if total == 0:
        return 1.0
    on_vta = sum(macs.get(node["name"], node.get("macs", 0)) for node in compiled.nodes
                 if node["placement"] in ("vta", "fused"))
    return min(on_vta / total, 1.0)


def one_line(error: BaseException) -> str:
    """An exception as one line; an unexpected exception type (a crash, not a refusal) names
    its type and where it was raised."""
    from vta.isa import VtaError
    message = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, VtaError):
        return message
    frame = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    where = f" at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}" if frame else ""
    return f"crash: {type(error).__name__}: {message}{where}"
