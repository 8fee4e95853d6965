"""The compiled cycle engine: `engine.cpp`, the cycle model's processes, event kernel, ports
and micro-op tables ported to C++20 coroutines, giving the Python model's results exactly
(that model is the reference; docs/cycle-model.md, "The engine").

The shared library is built once with the system g++ into the cache (``cycle-engine`` in
`vta.isa.files.cache_home`, one file per hash of the source, the flags and the compiler's
version; built into a temporary file and renamed, so processes building at once are safe) and
loaded with ctypes (only a file and folder of the current user's, writable by no one else).
Every number it needs comes from here: the machine, the config's sizes, the
model's constants and the instruction layouts' field positions (the engine decodes the
instructions' 16 bytes itself). Where it cannot be built, `library` logs one warning and the
Python model runs.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from vta.isa import INSN_BYTES, UOP_BYTES, Config, DeadlockError, MemoryType, Module, Opcode, \
    Queue, layouts
from vta.isa.files import cache_home
from vta.isa.machine import ALU_BANK_CONFLICT_CYCLES, READ_CLIENTS, UOP_PIPELINE_DRAIN
from vta.isa.opcodes import FLAG_QUEUES, POP_FLAGS, PUSH_FLAGS, module_of

from vta.simulator.cycle import events, model, write_port
from vta.simulator.cycle.geometry import geometry
from vta.simulator.cycle.read_port import fifo_latency, read_latency

#: The cache kind (`vta cache`): the folder under `cache_home()`.
KIND = "cycle-engine"
SOURCE = Path(__file__).with_name("engine.cpp")
COMPILER = "g++"
FLAGS = ("-std=c++20", "-O2", "-shared", "-fPIC")
#: The modules in the engine's numbering (timeline entries, counters).
MODULES = ("load", "compute", "store")
_MODULE_INDEX = {module: MODULES.index(module.name.lower()) for module in Module}
_OPCODE_NAMES = {int(opcode): opcode.name for opcode in Opcode}
_WHY_BYTES = 256

log = logging.getLogger(__name__)


def folder() -> Path:
    return cache_home() / KIND


def build() -> Path:
    """The library's path, compiled first unless the cache has it (OSError or
    CalledProcessError when it cannot be built)."""
    compiler = shutil.which(COMPILER)
    if compiler is None:
        raise OSError(f"no {COMPILER} on PATH")
    version = subprocess.run([compiler, "--version"], capture_output=True, check=True).stdout
    digest = hashlib.sha256()
    for part in (SOURCE.read_bytes(), " ".join(FLAGS).encode(), version):
        digest.update(len(part).to_bytes(8, "little") + part)
    target = folder() / f"engine-{digest.hexdigest()[:20]}.so"
    target.parent.mkdir(parents=True, exist_ok=True)
    if not _own(target.parent):
        raise OSError(f"{target.parent}: belongs to someone else or is writable by others")
    if target.is_file() and _own(target):
        return target
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".engine-", suffix=".so")
    os.close(handle)
    try:
        subprocess.run([compiler, *FLAGS, "-o", temporary, str(SOURCE)], capture_output=True,
                       check=True)
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return target


def _own(path: Path) -> bool:
    """Whether `path` belongs to the current user and no one else can write it (a library to
    load from a cache that may be shared, ``VTA_CACHE_DIR``)."""
    info = path.lstat()
    return info.st_uid == os.getuid() and not info.st_mode & 0o022


@functools.cache
def library() -> ctypes.CDLL | None:
    """The engine, built at first use; None (after one logged warning) where it cannot be."""
    try:
        lib = ctypes.CDLL(str(build()))
    except (OSError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", b"") or b""
        log.warning("the cycle engine cannot be built (%s%s); the Python cycle model runs "
                    "instead", error,
                    f": {detail.decode(errors='replace')[:500]}" if detail else "")
        return None
    for name in ("pyvta_engine_parameters", "pyvta_engine_fields", "pyvta_engine_results"):
        getattr(lib, name).restype = ctypes.c_char_p
    lib.pyvta_engine_run.restype = ctypes.c_int
    lib.pyvta_engine_run.argtypes = [ctypes.c_void_p] * 5 + [ctypes.c_int64] * 2 + [
        ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p,
        ctypes.c_int64]
    return lib


def _names(lib: ctypes.CDLL, function: str) -> list[str]:
    return getattr(lib, function)().decode().split()


class _Tables:
    """A config's parameters and decoding tables, as the engine takes them."""

    def __init__(self, lib: ctypes.CDLL, config: Config):
        machine, sizes = config.machine, geometry(config)
        uop_dst, uop_src = sizes.uop_fields
        layout = layouts(config)
        opcode_field = layout.finish["opcode"]
        memory_field = layout.for_opcode(Opcode.LOAD)["memory_type"]
        opcodes, memory_types = 1 << opcode_field.width, 1 << memory_field.width
        values = {
            "bus_bytes": sizes.bus_bytes, "insn_bytes": INSN_BYTES, "uop_bytes": UOP_BYTES,
            "fetch_buffer_depth": machine.fetch_buffer_depth,
            "fetch_request_instructions": machine.fetch_request_instructions,
            "command_queue_depth": machine.command_queue_depth,
            "token_queue_depth": machine.token_queue_depth,
            "overlap_kernels": machine.overlap_kernels,
            "gemm_interval": machine.loop_interval(gemm=True),
            "alu_interval": machine.loop_interval(gemm=False),
            "burst_boundary_bytes": machine.burst_boundary_bytes,
            "max_burst_beats": machine.max_burst_beats,
            "max_outstanding_reads": machine.max_outstanding_reads,
            "max_outstanding_writes": machine.max_outstanding_writes,
            "read_latency": read_latency(config), "write_latency": config.MEM_WRITE_LATENCY,
            "aw_to_w": fifo_latency(machine.max_outstanding_writes),
            "elem_bytes_inp": sizes.elem_bytes[MemoryType.INP],
            "elem_bytes_wgt": sizes.elem_bytes[MemoryType.WGT],
            "elem_bytes_acc": sizes.elem_bytes[MemoryType.ACC],
            "elem_bytes_out": sizes.elem_bytes[MemoryType.OUT],
            "uop_depth": sizes.uop_depth, "acc_depth": sizes.acc_depth,
            "uop_dst_lsb": uop_dst.lsb, "uop_dst_width": uop_dst.width,
            "uop_src_lsb": uop_src.lsb, "uop_src_width": uop_src.width,
            "arrival_to_head": model.ARRIVAL_TO_HEAD, "arrival_to_route": model.ARRIVAL_TO_ROUTE,
            "route_to_room": model.ROUTE_TO_ROOM, "start_to_fetch": model.START_TO_FETCH,
            "finish_to_end": model.FINISH_TO_END, "issue_to_data": write_port.ISSUE_TO_DATA,
            "alu_bank_conflict_cycles": ALU_BANK_CONFLICT_CYCLES,
            "uop_pipeline_drain": UOP_PIPELINE_DRAIN,
            **{f"opcode_{opcode.name.lower()}": int(opcode) for opcode in Opcode},
            **{f"memory_{kind.name.lower()}": int(kind)
               for kind in (MemoryType.UOP, MemoryType.INP, MemoryType.WGT, MemoryType.ACC)},
            **{f"client_{name}": index for index, name in enumerate(READ_CLIENTS)},
            "read_clients": len(READ_CLIENTS), "token_queues": len(Queue),
            "modules": len(MODULES),
            **{f"module_{name}": index for index, name in enumerate(MODULES)},
            "priority_process": events.PROCESS, "priority_arbiter": events.ARBITER,
            "opcode_lsb": opcode_field.lsb, "opcode_width": opcode_field.width,
            "opcodes": opcodes, "memory_types": memory_types,
        }
        self.parameters = np.array(
            [values[name] for name in _names(lib, "pyvta_engine_parameters")], dtype=np.int64)
        fields = _names(lib, "pyvta_engine_fields")
        flags = POP_FLAGS + PUSH_FLAGS
        assert tuple(fields[:len(flags)]) == flags, "the engine reads the flags in this order"
        self.fields = np.zeros((opcodes, len(fields), 3), dtype=np.int64)
        self.routes = np.full((opcodes, memory_types), -1, dtype=np.int64)
        for opcode in Opcode:
            form = layout.for_opcode(opcode)
            for n, name in enumerate(fields):
                if name in form.names:
                    field = form[name]
                    self.fields[opcode, n] = field.lsb, field.width, field.signed
            for kind in range(memory_types):
                self.routes[opcode, kind] = _MODULE_INDEX[module_of(opcode, kind)]
        self.flag_queues = np.full((len(MODULES), len(flags)), -1, dtype=np.int64)
        for module, queues in FLAG_QUEUES.items():
            for n, flag in enumerate(flags):
                if flag in queues:
                    self.flag_queues[_MODULE_INDEX[module], n] = int(queues[flag])
        self.results = _names(lib, "pyvta_engine_results")
        self.timeline_fields = lib.pyvta_engine_timeline_fields()
        self.addresses = tuple(array.ctypes.data for array in (
            self.parameters, self.fields, self.routes, self.flag_queues))


@functools.lru_cache(maxsize=64)
def _tables(config: Config) -> _Tables:
    return _Tables(library(), config)


def run(config: Config, raw: bytes, insn_addr: int, dram: np.ndarray):
    """`CycleModel.run`'s report from the engine, for the instructions whose bytes are `raw`;
    None where the engine is not built or cannot time the program (an instruction the decoded
    program could not hold: the Python model then gives its answer)."""
    lib = library()
    if lib is None:
        return None
    tables = _tables(config)
    count = len(raw) // INSN_BYTES
    dram = np.ascontiguousarray(dram, dtype=np.uint8)
    names = tables.results
    results = np.zeros(len(names) + 2 * len(MODULES), dtype=np.int64)
    timeline = np.empty((count, tables.timeline_fields), dtype=np.int64)
    why = ctypes.create_string_buffer(_WHY_BYTES)
    if lib.pyvta_engine_run(*tables.addresses, raw, count, insn_addr, dram.ctypes.data,
                            dram.size, results.ctypes.data, timeline.ctypes.data, why,
                            _WHY_BYTES):
        log.debug("the cycle engine does not time this program (%s)", why.value.decode())
        return None
    value = dict(zip(names, results.tolist()))
    if value["status"]:
        module, queue = value["blocked_module"], value["blocked_queue"]
        raise DeadlockError("the program never reaches FINISH" if module < 0 else
                            model.never_pushed(MODULES[module], Queue(queue)))
    counters = results[len(names):].tolist()
    modules = {"fetch": {"busy": value["fetch_busy"]}}
    modules |= {name: {"busy": counters[2 * n], "stall": counters[2 * n + 1]}
                for n, name in enumerate(MODULES)}
    return model.CycleReport(value["cycles"], modules,
                             {"read_beats": value["read_beats"],
                              "write_beats": value["write_beats"]},
                             functools.partial(_timeline, timeline[:value["timeline_entries"]]))


def _timeline(rows: np.ndarray) -> list:
    """`CycleReport.timeline` from the engine's rows."""
    module, k, opcode, head, issue, done = rows.T.tolist()
    return list(zip(map(MODULES.__getitem__, module), k, map(_OPCODE_NAMES.__getitem__, opcode),
                    head, issue, done))
