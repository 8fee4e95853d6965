"""Fuzz campaigns: batches of programs run on backends and compared, on Dask workers.

A campaign is a list of `Batch`es (a config, the backends to compare, a range of program
indices, how many of them to make invalid). `run_batch` is the unit of work, a plain function
of plain data, so it runs in any Dask worker: program ``i`` of a batch is
``generate(config, (seed, i))``, the same whoever runs it. A divergence is shrunk where it was
found (`shrink`) and comes back as a `Finding` holding the small program; `Campaign.run`
saves each as a program-image folder (the regression cases the test suite replays).

Batches run on ``dask.distributed``: a `LocalCluster` of worker processes by default, or the
cluster of a running scheduler (``scheduler="tcp://host:8786"``). The design-space exploration
uses the same engine to verify each hardware point (`verify_config`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vta.fuzz.compare import Divergence, Outcome, compare, run
from vta.fuzz.generator import generate
from vta.fuzz.invalid import VERDICTS, make_invalid
from vta.fuzz.program import FuzzProgram
from vta.fuzz.shrink import shrink
from vta.isa import Config, VtaError


@dataclass(frozen=True)
class Batch:
    """Programs ``start … start + count − 1`` of campaign `seed` for one config."""

    name: str
    config: dict
    backends: tuple[str, ...]
    seed: int
    start: int
    count: int
    #: One program in `invalid_every` becomes an invalid one (0: none).
    invalid_every: int = 0
    shrink_budget: int = 300
    backend_options: dict = field(default_factory=dict)


@dataclass
class Finding:
    """A program on which backends disagree (or give another verdict than documented)."""

    name: str
    seed: int
    index: int
    divergences: list[str]
    signature: tuple
    program: FuzzProgram
    original_instructions: int
    shrink_tries: int


@dataclass
class BatchResult:
    name: str
    programs: int = 0
    invalid: dict = field(default_factory=dict)        # defect class -> programs
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0


def program_of(batch: Batch, index: int) -> tuple[str | None, FuzzProgram]:
    """Program `index` of `batch` and its defect class (None for a valid program)."""
    config = Config(**batch.config)
    program = generate(config, (batch.seed, index))
    if batch.invalid_every and index % batch.invalid_every == batch.invalid_every - 1:
        rng = np.random.default_rng((batch.seed, index, 1))
        for _ in range(8):
            damaged = make_invalid(program, rng)
            if damaged is not None:
                return damaged
    return None, program


def outcomes(program: FuzzProgram, backends, options: dict) -> list[Outcome]:
    image = program.image()
    return [run(image, name, **options.get(name, {})) for name in backends]


def check(program: FuzzProgram, defect: str | None, backends, options: dict) -> list[Divergence]:
    """Divergences between the backends, plus any verdict other than the defect's."""
    results = outcomes(program, backends, options)
    found = compare(results)
    expected = VERDICTS.get(defect, 0)
    for outcome in results:
        if outcome.status != expected or not documented_message(defect, outcome.message):
            found.append(Divergence("verdict", outcome.backend, defect or "valid",
                                    f"{outcome.backend} status {outcome.status} "
                                    f"({outcome.message[:160]}), documented {expected}"))
    return found


def documented_message(defect: str | None, message: str) -> bool:
    """Whether an error message has the documented form (docs/semantics.md): one line naming
    the instruction, saying 'deadlock' for a deadlock and 'outside' for a bounds error."""
    if defect is None:
        return message == ""
    words = {"deadlock": "deadlock", "bounds": "outside", "decode": ""}[defect]
    return message.startswith("instruction ") and words in message and "\n" not in message


def run_batch(batch: Batch) -> BatchResult:
    """Run and compare every program of `batch`; shrink what diverges."""
    started = time.perf_counter()
    result = BatchResult(batch.name)
    for index in range(batch.start, batch.start + batch.count):
        defect, program = program_of(batch, index)
        result.programs += 1
        if defect:
            result.invalid[defect] = result.invalid.get(defect, 0) + 1
        found = check(program, defect, batch.backends, batch.backend_options)
        if found:
            result.findings.append(_shrunk(batch, index, defect, program, found))
    result.seconds = time.perf_counter() - started
    return result


def _shrunk(batch: Batch, index: int, defect, program: FuzzProgram, found) -> Finding:
    signature = found[0].signature
    backends = [b for b in batch.backends if b in signature[1:]] or list(batch.backends)

    def fails(candidate: FuzzProgram) -> bool:
        return any(d.signature == signature for d in
                   check(candidate, defect, backends, batch.backend_options))

    small, tries = (program, 0) if defect else shrink(program, fails, batch.shrink_budget)
    return Finding(batch.name, batch.seed, index, [d.detail for d in found], signature,
                   small, len(program.instructions), tries)


def batches(configs: dict[str, Config], programs: int, seed: int, backends: tuple[str, ...],
            batch_size: int = 25, invalid_every: int = 0, **options) -> list[Batch]:
    """`programs` programs per config, cut into batches of `batch_size`, the configs taking
    turns: workers start on different configs, so their first batches build different RTL
    cores side by side rather than wait for one another's build."""
    result = []
    for start in range(0, programs, batch_size):
        for name, config in configs.items():
            result.append(Batch(name, config.to_dict(), tuple(backends), seed, start,
                                min(batch_size, programs - start), invalid_every, **options))
    return result


class Campaign:
    """Runs batches on a Dask cluster and collects results; `progress(result)` after each.

    Used as a context manager, it keeps its cluster (and the workers' built RTL backends)
    across several `run` calls, as a design-space exploration verifying point after point
    does; otherwise each `run` starts and closes a cluster of its own.
    """

    def __init__(self, scheduler: str | None = None, workers: int | None = None):
        self.scheduler, self.workers = scheduler, workers
        self._session = None

    def __enter__(self) -> Campaign:
        self._session = _client(self.scheduler, self.workers)
        self._session.__enter__()
        return self

    def __exit__(self, *exc):
        session, self._session = self._session, None
        session.__exit__(*exc)

    def run(self, work: list[Batch],
            progress: Callable[[BatchResult], None] | None = None) -> list[BatchResult]:
        results = []
        for result in self.results(work):
            results.append(result)
            if progress:
                progress(result)
        return results

    def results(self, work: list[Batch]) -> Iterator[BatchResult]:
        if self._session is None:
            with self:
                yield from self.results(work)
            return
        from dask.distributed import as_completed

        client = self._session.client
        futures = client.map(run_batch, work, pure=False)
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            client.cancel(futures)


def connect(address: str):
    """A Dask client of the scheduler at `address` (e.g. tcp://host:8786); a one-line VtaError
    naming it when the address is malformed or nothing answers there."""
    from dask.distributed import Client

    try:
        return Client(address)
    except (OSError, ValueError, TypeError) as error:   # TimeoutError is an OSError
        reason = " ".join(str(error).split()) or type(error).__name__
        raise VtaError(f"scheduler {address!r}: {reason}") from None


class _client:
    """A Dask client: of the scheduler at `address`, or of a new local cluster of worker
    processes (closed, with its workers, on exit)."""

    def __init__(self, address: str | None, workers: int | None):
        self.address, self.workers = address, workers

    def __enter__(self):
        import logging

        from dask.distributed import Client, LocalCluster

        if self.address:
            self.cluster = None
            self.client = connect(self.address)
        else:
            import os
            self.cluster = LocalCluster(n_workers=self.workers or os.cpu_count() or 1,
                                        threads_per_worker=1, processes=True,
                                        dashboard_address=":0", silence_logs=logging.ERROR)
            self.client = Client(self.cluster)
        return self.client

    def __exit__(self, *exc):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def save_finding(finding: Finding, folder: Path) -> Path:
    """Write a finding as a program-image folder named after its config, seed and index."""
    target = folder / f"{finding.name}-{finding.seed}-{finding.index}"
    finding.program.save(target, {
        "expect": "ok", "description": "; ".join(finding.divergences)[:2000],
        "fuzz": {"config": finding.name, "seed": finding.seed, "index": finding.index,
                 "signature": list(finding.signature),
                 "instructions": [finding.original_instructions,
                                  len(finding.program.instructions)],
                 "shrink_tries": finding.shrink_tries}})
    return target


def verify_config(config: Config, programs: int, seed: int = 0,
                  backends: tuple[str, ...] = ("functional", "cycle"),
                  campaign: Campaign | None = None) -> list[Finding]:
    """Fuzz one config (one design point): the findings, empty when every backend agrees.
    Pass an open `Campaign` to reuse its cluster from one point to the next."""
    work = batches({config.config_string: config}, programs, seed, backends)
    return [f for result in (campaign or Campaign()).run(work) for f in result.findings]


def summary(results: list[BatchResult]) -> dict:
    """Totals by config: programs, invalid programs by class, findings, seconds."""
    totals = {}
    for result in results:
        entry = totals.setdefault(result.name, {"programs": 0, "invalid": {}, "findings": 0,
                                                "seconds": 0.0})
        entry["programs"] += result.programs
        entry["findings"] += len(result.findings)
        entry["seconds"] += result.seconds
        for kind, count in result.invalid.items():
            entry["invalid"][kind] = entry["invalid"].get(kind, 0) + count
    return totals


