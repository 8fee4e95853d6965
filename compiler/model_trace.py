"""One Perfetto (Chrome trace-event JSON) trace of a whole inference (`vta run --trace`): every
VTA layer and every host step on one timeline, in the order they ran.

Process "VTA" has a ``layers`` track (one slice per layer run) and, where the backend kept the
instructions' cycles (the cycle backend's ``timeline=True``), the fetch/load/compute/store
tracks of `vta.simulator.cycle.trace` under it. Process "host" has one track of host steps
(ONNX operators) and device moves. A layer lasts its cycles at the config's clock where the
backend counts cycles, else the simulation's time on this machine; a host step lasts the time it
took on this machine. 1 µs in the viewer = 1 µs.
"""

from __future__ import annotations

import json

from vta.compiler.executor import Result
from vta.compiler.model import CompiledModel
from vta.simulator.cycle.trace import instruction_events, track_names

VTA, HOST = 0, 1
LAYERS_TRACK = 10


def model_trace(model: CompiledModel, result: Result, backend: str) -> dict:
    """The trace-event document of one inference of `model`."""
    per_cycle = 1 / model.config.CLOCK_MHZ
    events = [
        {"ph": "M", "name": "process_name", "pid": VTA, "args": {"name": "VTA"}},
        {"ph": "M", "name": "process_name", "pid": HOST, "args": {"name": "host"}},
        {"ph": "M", "name": "thread_name", "pid": VTA, "tid": LAYERS_TRACK,
         "args": {"name": "layers"}},
        {"ph": "M", "name": "thread_name", "pid": HOST, "tid": 0, "args": {"name": "steps"}},
        *track_names(VTA),
    ]
    now = 0.0
    for step in result.steps:
        if step.kind == "vta":
            report = step.report
            modelled = report.cycles is not None
            duration = report.cycles * per_cycle if modelled else step.seconds * 1e6
            events.append({"ph": "X", "name": step.name, "cat": "vta", "pid": VTA,
                           "tid": LAYERS_TRACK, "ts": now, "dur": duration,
                           "args": {"cycles": report.cycles, "counters": report.counters,
                                    "time": "modelled" if modelled else "simulation"}})
            events += instruction_events(report.timeline, pid=VTA, start=now,
                                         per_cycle=per_cycle)
        else:
            duration = step.seconds * 1e6
            events.append({"ph": "X", "name": step.name, "cat": step.kind, "pid": HOST,
                           "tid": 0, "ts": now, "dur": duration, "args": {"kind": step.kind}})
        now += duration
    return {"traceEvents": events, "displayTimeUnit": "ns",
            "otherData": {"model": model.name, "backend": backend,
                          "config": model.config.model_string,
                          "clock_mhz": model.config.CLOCK_MHZ, "cycles": result.cycles,
                          "host_seconds": result.host_seconds}}


def trace_text(model: CompiledModel, result: Result, backend: str) -> str:
    return json.dumps(model_trace(model, result, backend))
