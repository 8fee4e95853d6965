"""The machine description: every microarchitecture parameter of the core beyond the ISA keys.

The hardware generator (`vta.hardware`), the cycle model (`vta.simulator.cycle`), the memory
models of the RTL harnesses and the compiler's cost model all read these numbers from
``config.machine``; none keeps a copy. A config's ``MACHINE`` key overrides any of them (a JSON
object in a config file, a dict or a `Machine` in Python); the rest keep their defaults, those
of the pynq build. Values are checked at once. The description is part of
`Config.fingerprint`, not of `Config.isa_fingerprint`: a program runs unchanged on every
machine of its ISA (docs/machine.md).

To add a parameter: a field here with its default, its check in `_LIMITS` (or a rule in
`Machine.__post_init__`), then the hardware and the cycle model read it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from vta.isa.errors import ConfigError

#: Smallest and largest value of each parameter (inclusive).
_LIMITS = {
    "command_queue_depth": (2, 1 << 16),
    "token_queue_depth": (1, 1 << 16),
    "fetch_buffer_depth": (2, 1024),
    "max_burst_beats": (1, 256),
    "burst_boundary_bytes": (16, 1 << 20),
    "max_outstanding_reads": (1, 256),
    "max_outstanding_writes": (1, 256),
    "store_prefetch_tiles": (2, 64),
    "gemm_initiation_interval": (1, 64),
    "alu_initiation_interval": (1, 64),
    "overlap_kernels": (0, 64),
}

#: Cycles from the last micro-op execution a GEMM/ALU issues to the pipeline being empty: the
#: five stages after the micro-op read (docs/hardware.md). Fixed by the pipeline's structure.
UOP_PIPELINE_DRAIN = 6
#: ACC is two banks by address parity (the low bit of a tile's address): a vector ALU execution
#: reads both its tiles in one cycle when they lie in different banks, and stalls the pipeline
#: this many cycles more when they share one (a bank conflict).
ALU_BANK_CONFLICT_CYCLES = 1
#: The AXI master's read clients, in its round-robin order: fetch, LOAD UOP, and the INP, WGT
#: and ACC tensor loads. Fixed by the core's structure (docs/hardware.md).
READ_CLIENTS = ("fetch", "uop", "inp", "wgt", "acc")


@dataclass(frozen=True)
class Machine:
    """Microarchitecture parameters of one core (docs/machine.md).

    Attributes
    ----------
    command_queue_depth : int
        Instructions each module's command queue holds (the original's 512).
    token_queue_depth : int
        Tokens each dependency queue holds.
    fetch_buffer_depth : int
        Instructions fetch buffers; it asks memory for half of it at a time.
    max_burst_beats : int
        Longest AXI burst the core issues and the memory accepts (16: the Zynq-7000's AXI3
        ports).
    burst_boundary_bytes : int
        No burst crosses a multiple of this many bytes (a power of two, AXI's 4 KiB).
    max_outstanding_reads : int
        Read bursts in flight at once.
    max_outstanding_writes : int
        Write bursts whose address may go out ahead of their data.
    store_prefetch_tiles : int
        OUT tiles the store module reads ahead of the bus.
    gemm_initiation_interval : int
        Cycles between two GEMM micro-op executions.
    alu_initiation_interval : int
        Cycles between two ALU micro-op executions (vector or immediate; a vector execution
        whose two ACC tiles share a bank adds `ALU_BANK_CONFLICT_CYCLES`).
    pack_multiplier_pairs : bool
        Compute the products of two neighbouring output channels with one multiplier (halves
        the DSPs, docs/hardware.md); no effect on timing.
    overlap_kernels : int
        0: the compute module runs one GEMM or ALU instruction at a time (the original's
        behaviour). N > 0: it has a GEMM unit and an ALU unit, and starts an instruction on
        one while the other still runs when their ACC footprints lie in different halves of
        ACC; footprints come from the micro-op bounds of the last N micro-kernels LOAD UOP
        wrote (docs/hardware.md, compute overlap).
    """

    command_queue_depth: int = 512
    token_queue_depth: int = 64
    fetch_buffer_depth: int = 32
    max_burst_beats: int = 16
    burst_boundary_bytes: int = 4096
    max_outstanding_reads: int = 8
    max_outstanding_writes: int = 4
    store_prefetch_tiles: int = 4
    gemm_initiation_interval: int = 1
    alu_initiation_interval: int = 1
    pack_multiplier_pairs: bool = True
    overlap_kernels: int = 64

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.type == "bool":
                if not isinstance(value, bool):
                    raise ConfigError(f"machine parameter {field.name} = {value!r} is not a boolean")
                continue
            low, high = _LIMITS[field.name]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"machine parameter {field.name} = {value!r} is not an "
                                  f"integer in {low}..{high}")
        boundary = self.burst_boundary_bytes
        if boundary & (boundary - 1):
            raise ConfigError(f"machine parameter burst_boundary_bytes = {boundary} is not a "
                              f"power of two")
        if self.fetch_buffer_depth % 2:
            raise ConfigError(f"machine parameter fetch_buffer_depth = {self.fetch_buffer_depth} "
                              f"is odd (fetch asks for half of it at a time)")

    @classmethod
    def from_overrides(cls, overrides) -> Machine:
        """A `Machine` from a `Machine` or a dict of parameters (unknown names are an error)."""
        if isinstance(overrides, Machine):
            return overrides
        if not isinstance(overrides, dict):
            raise ConfigError(f"config key MACHINE must be an object of machine parameters, "
                              f"not {overrides!r}")
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigError(f"unknown machine parameter {unknown[0]} "
                              f"(known: {', '.join(sorted(known))})")
        return cls(**overrides)

    def overrides(self) -> dict:
        """The parameters that differ from the defaults."""
        default = Machine()
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)
                if getattr(self, field.name) != getattr(default, field.name)}

    def replace(self, **changes) -> Machine:
        return Machine.from_overrides(dataclasses.asdict(self) | changes)

    @property
    def fetch_request_instructions(self) -> int:
        """Instructions fetch asks memory for at a time (half its buffer)."""
        return self.fetch_buffer_depth // 2

    def loop_interval(self, *, gemm: bool) -> int:
        """Cycles between two micro-op executions of a GEMM (`gemm`) or an ALU instruction,
        bank conflicts aside (`ALU_BANK_CONFLICT_CYCLES`)."""
        return self.gemm_initiation_interval if gemm else self.alu_initiation_interval
