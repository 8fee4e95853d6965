"""Backends: what runs a program image (docs/contracts.md §4), chosen by name from a registry.

Every backend runs `vta.simulator.check_program` on the image before executing it, leaves the
final DRAM contents in ``image.dram`` and returns a `RunReport`. Other layers add backends with
`register_backend`; the registry maps a name to ``"module:attribute"`` so that a backend's
dependencies (Amaranth, cocotb, a board connection) are only imported when it is used.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from vta.isa import Config, VtaError
from vta.isa.image import ProgramImage
from vta.isa.program import PROFILE_COUNTERS

#: The seven profiler counters of the original functional simulator, in corpus order.
COUNTER_NAMES = PROFILE_COUNTERS


@dataclass
class RunReport:
    """What one run of a program image reports.

    `cycles` is None for backends without a notion of time (the functional simulator);
    `modules` holds per-module busy/stall cycles where the backend knows them; `timeline`
    every instruction's ``(module, index, opcode, waited from, issue, done)`` cycles where the
    backend was asked to keep them (the cycle backend's ``timeline=True``).
    """

    backend: str
    cycles: int | None
    counters: dict[str, int]
    modules: dict = field(default_factory=dict)
    timeline: list = field(default_factory=list)

    def __post_init__(self):
        missing = [name for name in COUNTER_NAMES if name not in self.counters]
        if missing:
            raise VtaError(f"backend {self.backend} reported no counter {missing[0]}")
        self.counters = {name: int(self.counters[name]) for name in COUNTER_NAMES}

    def to_json(self) -> dict:
        """The JSON object of `vta exec --json`."""
        return {"backend": self.backend, "cycles": self.cycles,
                "counters": dict(self.counters), "modules": dict(self.modules)}


class Backend(ABC):
    """Base of every backend: `run` checks the image statically, then calls `execute`."""

    name: str = ""
    #: Whether its reports give `cycles` (and per-module busy/stall figures).
    counts_cycles: bool = True

    def __init__(self, config: Config, **options):
        if options:
            raise VtaError(f"backend {self.name} has no option {sorted(options)[0]!r}")
        self.config = config

    def run(self, image: ProgramImage) -> RunReport:
        from vta.simulator import check_program

        if image.config.isa_fingerprint != self.config.isa_fingerprint:
            raise VtaError(f"backend {self.name} is set up for config {self.config.config_string}, "
                           f"the image is for {image.config.config_string}")
        check_program(image)
        return self.execute(image)

    @abstractmethod
    def execute(self, image: ProgramImage) -> RunReport:
        """Run a checked image in place on ``image.dram``."""


_REGISTRY: dict[str, str] = {
    "functional": "vta.runtime.backends.functional:FunctionalBackend",
    # RTL co-simulation of vta_core; options simulator=, harness=, max_cycles= (docs/cosim.md)
    "rtl": "vta.runtime.backends.rtl.backend:RtlBackend",
    # The cycle model of the RTL core: functional data, RTL cycle counts (docs/cycle-model.md)
    "cycle": "vta.runtime.backends.cycle:CycleBackend",
    # The board driver on PYNQ, or on the RTL co-simulation with binding="cosim" or
    # VTA_BOARD_BINDING=cosim; options binding=, bitstream=, simulator= (docs/fpga.md)
    "board": "vta.runtime.backends.board:BoardBackend",
}


def register_backend(name: str, target: str) -> None:
    """Make ``get_backend(name, ...)`` build ``target`` (``"package.module:ClassName"``)."""
    if ":" not in target:
        raise VtaError(f"backend target {target!r} is not of the form 'module:attribute'")
    _REGISTRY[name] = target


def backend_names() -> list[str]:
    """Names of every registered backend, in registration order."""
    return list(_REGISTRY)


def get_backend(name: str, config: Config, **options) -> Backend:
    """A ready backend `name` for `config`; options are backend-specific keywords."""
    try:
        target = _REGISTRY[name]
    except KeyError:
        raise VtaError(f"unknown backend {name!r} (known: {', '.join(_REGISTRY)})") from None
    module_name, attribute = target.split(":")
    backend_class = getattr(importlib.import_module(module_name), attribute)
    return backend_class(config, **options)


__all__ = ["COUNTER_NAMES", "Backend", "RunReport", "backend_names", "get_backend",
           "register_backend"]
