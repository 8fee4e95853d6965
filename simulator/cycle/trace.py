"""Perfetto / Chrome trace-event JSON of a cycle-model run: one track per module, one slice
per instruction (from issue to done), a "wait" slice while it waits for tokens; 1 µs = 1
cycle in the viewer."""

from __future__ import annotations

import json
from pathlib import Path

from vta.simulator.cycle.model import CycleReport

TRACKS = {"fetch": 0, "load": 1, "compute": 2, "store": 3}


def trace_events(report: CycleReport) -> dict:
    events = [{"ph": "M", "name": "thread_name", "pid": 0, "tid": tid, "args": {"name": name}}
              for name, tid in TRACKS.items()]
    for module, index, opcode, waited, start, done in report.timeline:
        tid = TRACKS[module]
        if start > waited:
            events.append({"ph": "X", "name": "wait", "pid": 0, "tid": tid, "ts": waited,
                           "dur": start - waited, "args": {"insn": index}})
        events.append({"ph": "X", "name": opcode, "pid": 0, "tid": tid, "ts": start,
                       "dur": done - start + 1, "args": {"insn": index}})
    events.append({"ph": "X", "name": "fetch", "pid": 0, "tid": TRACKS["fetch"], "ts": 1,
                   "dur": report.modules["fetch"]["busy"]})
    return {"traceEvents": events, "displayTimeUnit": "ns",
            "otherData": {"cycles": report.cycles, "modules": report.modules, "bus": report.bus}}


def write_trace(report: CycleReport, path: str | Path) -> None:
    Path(path).write_text(json.dumps(trace_events(report)))
