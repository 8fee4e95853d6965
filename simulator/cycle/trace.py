"""Perfetto / Chrome trace-event JSON of a cycle-model run: one track per module (the compute
module's GEMM and ALU units on tracks of their own, since they may run side by side), one slice
per instruction (from issue to done), a "wait" slice while it waits for tokens; 1 µs = 1 cycle
in the viewer."""

from __future__ import annotations

import json
from pathlib import Path

from vta.isa.files import write_atomically
from vta.simulator.cycle.model import CycleReport

TRACKS = {"fetch": 0, "load": 1, "compute": 2, "compute GEMM": 3, "compute ALU": 4, "store": 5}


def instruction_events(timeline: list, *, pid: int = 0, start: float = 0.0,
                       per_cycle: float = 1.0) -> list[dict]:
    """Slices of a run's instructions (`CycleReport.timeline`) on the module tracks of process
    `pid`: cycle ``c`` at ``start + c * per_cycle`` µs."""
    events = []
    for module, index, opcode, waited, issued, done in timeline:
        tid = TRACKS.get(f"{module} {opcode}", TRACKS[module])     # a compute unit's own track
        if issued > waited:
            events.append({"ph": "X", "name": "wait", "pid": pid, "tid": tid,
                           "ts": start + waited * per_cycle,
                           "dur": (issued - waited) * per_cycle, "args": {"insn": index}})
        events.append({"ph": "X", "name": opcode, "pid": pid, "tid": tid,
                       "ts": start + issued * per_cycle, "dur": (done - issued + 1) * per_cycle,
                       "args": {"insn": index}})
    return events


def track_names(pid: int = 0) -> list[dict]:
    """The metadata events naming the module tracks of process `pid`."""
    return [{"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": name}}
            for name, tid in TRACKS.items()]


def trace_events(report: CycleReport) -> dict:
    events = [*track_names(), *instruction_events(report.timeline)]
    events.append({"ph": "X", "name": "fetch", "pid": 0, "tid": TRACKS["fetch"], "ts": 1,
                   "dur": report.modules["fetch"]["busy"]})
    return {"traceEvents": events, "displayTimeUnit": "ns",
            "otherData": {"cycles": report.cycles, "modules": report.modules, "bus": report.bus}}


def write_trace(report: CycleReport, path: str | Path) -> None:
    """Write the trace through a temporary file and a rename (never a half-written file)."""
    write_atomically(path, json.dumps(trace_events(report)).encode())
