"""Running one program on several backends and comparing what they report.

Every pair of backends must agree on the verdict (the exit status of docs/contracts.md §4:
0, 1 invalid, 2 bounds, 3 deadlock) and, for a run that finished, on the final DRAM image and
the seven counters; backends that count cycles (cycle, rtl) must also agree on the cycles and
on every module's busy/stall counters.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

from vta.isa import Config, VtaError
from vta.isa.image import ProgramImage

#: The status of a backend that raised anything but a one-line VtaError.
CRASH = -1
#: Backends a campaign knows, cheapest first.
BACKENDS = ("functional", "cycle", "rtl")


@dataclass(frozen=True)
class Outcome:
    """What one backend reported for one program."""

    backend: str
    status: int
    message: str = ""
    dram: str = ""                       # SHA-256 of the final DRAM image
    counters: tuple = ()
    cycles: int | None = None
    modules: tuple = ()


@dataclass(frozen=True)
class Divergence:
    """Two backends that disagree: `kind` is what differs (status, dram, counters, cycles,
    modules), `detail` a one-line account."""

    kind: str
    first: str
    second: str
    detail: str

    @property
    def signature(self) -> tuple[str, str, str]:
        return (self.kind, self.first, self.second)


_backends: dict[tuple, object] = {}


def backend(name: str, config: Config, **options):
    """A backend object, kept per process (an RTL backend's build is reused)."""
    from vta.runtime.backends import get_backend

    key = (name, config.fingerprint, tuple(sorted(options.items())))
    if key not in _backends:
        _backends[key] = get_backend(name, config, **options)
    return _backends[key]


def run(image: ProgramImage, name: str, **options) -> Outcome:
    """`image` on backend `name` (the image itself is not changed)."""
    copy = dataclasses.replace(image, dram=image.dram.copy())
    try:
        report = backend(name, image.config, **options).run(copy)
    except VtaError as error:
        return Outcome(name, error.exit_status, str(error))
    except Exception as error:                 # a crash of the backend: a finding too
        return Outcome(name, CRASH, f"crash: {type(error).__name__}: {' '.join(str(error).split())}")
    modules = tuple(sorted((module, tuple(sorted(figures.items())))
                           for module, figures in report.modules.items()))
    return Outcome(name, 0, "", hashlib.sha256(copy.dram.tobytes()).hexdigest(),
                   tuple(report.counters.items()), report.cycles, modules)


def compare(outcomes: list[Outcome]) -> list[Divergence]:
    """Every disagreement between the outcomes of one program."""
    found = []
    for i, a in enumerate(outcomes):
        for b in outcomes[i + 1:]:
            def differ(kind, x, y):
                found.append(Divergence(kind, a.backend, b.backend,
                                        f"{a.backend} {x} != {b.backend} {y}"))
            if a.status != b.status:
                differ("status", f"status {a.status} ({a.message[:120]})",
                       f"status {b.status} ({b.message[:120]})")
                continue
            if a.status:
                continue
            if a.dram != b.dram:
                differ("dram", f"DRAM {a.dram[:12]}", f"DRAM {b.dram[:12]}")
            if a.counters != b.counters:
                wrong = [(n, x, y) for (n, x), (_, y) in zip(a.counters, b.counters) if x != y]
                differ("counters", wrong, "")
            if a.cycles is not None and b.cycles is not None:
                if a.cycles != b.cycles:
                    differ("cycles", f"{a.cycles} cycles", f"{b.cycles} cycles")
                if a.modules != b.modules:
                    differ("modules", dict(a.modules), dict(b.modules))
    return found
