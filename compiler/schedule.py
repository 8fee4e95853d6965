"""Choice of a layer's tiling: the analytic model (`cost_model.estimates`) ranks the SRAM plans
of every tiling that fits the buffers (`sram_plan.fitting_plans`) twice — by its estimate, and with
each tile's store waited for where the tile after next needs its ACC slot —, the cycle-level
model of the core (`vta.simulator.cycle`) times the `SHORTLIST` best of each ranking as code
generation emits them (`shortlisted`), and the fastest wins.

The analytic model alone is off by up to 1.5× per layer and often ranks the best tiling tenth
or twentieth; eight timed candidates find within 0.6 % of the best of forty on ResNet-18
(docs/compiler.md). Timing needs no data: the emitted stream runs on a scratch device whose
buffers have the layer's sizes. Layers that differ only in their data (ResNet's repeated
blocks) are timed once.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from itertools import islice

import numpy as np

from vta.compiler.codegen import emit_layer
from vta.compiler.cost_model import estimate, estimates
from vta.compiler.layer_emitter import Buffers
from vta.compiler.layers import AddLayer, ConvLayer, Imm, VtaLayer, WeightMode
from vta.compiler.packing import ActLayout
from vta.compiler.search_cache import SearchCache
from vta.compiler.subtiles import SubTiles
from vta.compiler.sram_plan import SramPlan, candidates, fitting_plans, plan_sram
from vta.compiler.tiling import Tiling
from vta.isa import Config, MemoryType, VtaError
from vta.runtime.device import Device
from vta.runtime.stream import CommandStream
from vta.simulator.cycle import CycleModel

#: Tilings the cycle model times per layer from each of the analytic model's two rankings, by
#: default (`CycleCost`'s `shortlist`; fewer compile faster and choose worse: docs/compiler.md,
#: "Shorter shortlists").
SHORTLIST = 8
#: Estimated cycles (summed over a batch of candidates) from which they are timed in parallel
#: (smaller batches time faster than a process pool starts).
PARALLEL_CYCLES = 100_000
#: Tilings (summed over a batch of layers to rank) from which the layers are ranked in
#: parallel.
PARALLEL_TILINGS = 20_000
#: ONNX models from this many bytes start the process pool before their import (`vta
#: compile`): a small model's compile may be over before the workers are up.
EARLY_POOL_BYTES = 1 << 20
#: Address space of the scratch device a candidate is emitted on (pages are touched lazily).
SCRATCH_MEMORY_BYTES = 1 << 31


def timing_key(layer) -> tuple:
    """What the timing of a layer depends on: everything but its name and its data (the
    immediates of its ALU steps included: an ALU instruction carries its immediate in a field,
    and neither its micro-ops nor its cycles depend on it)."""
    return (type(layer).__name__,) + tuple(
        _shape_of(getattr(layer, item.name)) for item in dataclasses.fields(layer)
        if item.name != "name")


def _shape_of(value):
    if isinstance(value, np.ndarray):
        return value.shape
    if isinstance(value, Imm):
        return Imm
    if isinstance(value, (list, tuple)):
        return tuple(_shape_of(item) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, ActLayout):
        return timing_key(value)
    return value


class CycleCost:
    """Times layers under tilings on the cycle model, the `shortlist` best of each ranking per
    layer; remembers every result (and finds those of earlier compiles in `cache`, a
    `SearchCache`, which `close` saves). Big layers' candidates are timed in parallel, one
    process per core (`close` ends them)."""

    def __init__(self, config: Config, workers: int | None = None,
                 cache: SearchCache | None = None, shortlist: int = SHORTLIST):
        if shortlist < 1:
            raise VtaError(f"shortlist {shortlist}: time at least one tiling per ranking")
        self.config = config
        self.workers = workers or os.cpu_count() or 1
        self.cache = cache
        self.shortlist = min(shortlist, sys.maxsize)    # longer than any ranking: all of it
        #: layer shapes whose shortlist came from `cache`
        self.cached_shapes = 0
        self.cycles: dict[tuple, int] = {}
        #: per `timing_key`: the layer ranked, its shortlist
        self._rankings: dict[tuple, tuple[VtaLayer, list]] = {}
        #: per (timing key, tiling) submitted to the pool: its future, layer and tiling
        self._pending: dict[tuple, tuple] = {}
        self._pool: ProcessPoolExecutor | None = None

    def ranking(self, layer: VtaLayer) -> list[tuple[SramPlan, float]]:
        """`shortlisted(layer)` (all `choose` reads), ranked once per `timing_key` (layers that
        differ only in their data rank alike)."""
        key = timing_key(layer)
        if key not in self._rankings and not self._cached_ranking(key, layer):
            self._rank_here(key, layer, shortlisted(layer, self.config, self.shortlist))
        ranked_layer, head = self._rankings[key]
        if ranked_layer is layer:
            return head
        return [(dataclasses.replace(plan, layer=layer), value) for plan, value in head]

    def _rank(self, layers: list[VtaLayer]) -> None:
        """Rank the layers not ranked yet: in the process pool when their tilings add up to
        `PARALLEL_TILINGS`, unless it has a timing to do for each worker (the ranking would
        wait behind them while this process waits; it ranks them itself then). The pool's
        answers leave out the layer, bound again here."""
        missing = {}
        for layer in layers:
            missing.setdefault(timing_key(layer), layer)
        for key, layer in list(missing.items()):
            if key in self._rankings or self._cached_ranking(key, layer):
                del missing[key]
        busy = sum(not future.done() for future, _, _ in self._pending.values())
        if len(missing) < 2 or self.workers < 2 or busy >= self.workers or sum(
                _tilings(layer) for layer in missing.values()) < PARALLEL_TILINGS:
            return
        heads = self._map(_shortlist_in_worker,
                          [(layer, self.shortlist) for layer in missing.values()])
        if heads is None:
            return
        for (key, layer), head in zip(missing.items(), heads):
            self._rank_here(key, layer, [(dataclasses.replace(plan, layer=layer), value)
                                         for plan, value in head])

    def _rank_here(self, key: tuple, layer: VtaLayer, head: list) -> None:
        self._rankings[key] = (layer, head)
        if self.cache is not None:
            self.cache.keep_shortlist(self.cache.layer_digest(key), self.shortlist,
                                      [(plan.tiling, value) for plan, value in head])

    def _cached_ranking(self, key: tuple, layer: VtaLayer) -> bool:
        """Take the shortlist of `key` from the search cache if it holds it (its plans made
        again from their tilings); whether it did."""
        kept = self.cache.shortlist(self.cache.layer_digest(key), self.shortlist) \
            if self.cache is not None else None
        if kept is None:
            return False
        try:
            head = [(plan_sram(layer, tiling, self.config), value) for tiling, value in kept]
        except (VtaError, ValueError, KeyError, ZeroDivisionError):
            return False                # an entry edited by hand: rank the layer again
        self._rankings[key] = (layer, head)
        self.cached_shapes += 1
        return True

    def times(self, layer: VtaLayer, tilings: list[Tiling]) -> list[int]:
        """The cycles of `layer` under each of `tilings` (waiting for those being timed)."""
        pairs = [(layer, tiling) for tiling in tilings]
        self._time(pairs)
        layer_key = timing_key(layer)
        self._collect([(layer_key, tiling) for tiling in tilings])
        return [self.cycles[(layer_key, tiling)] for tiling in tilings]

    def prefetch(self, layers: list[VtaLayer]) -> None:
        """Rank the shortlists of all `layers` at once and start timing them (`choose` then
        finds them timed, or waits for them): one batch spreads over the cores better than a
        layer at a time, and the caller emits the first layers while the pool times the
        others."""
        self._rank(layers)
        self._time([(layer, plan.tiling, value) for layer in layers
                    for plan, value in self.ranking(layer)])

    def _time(self, pairs: list[tuple]) -> None:
        """Time the (layer, tiling) pairs not timed yet (given as (layer, tiling, analytic
        estimate) where it is known): submitted to the process pool when there are several
        and they add up to `PARALLEL_CYCLES` (`_collect` waits for them), layer after layer in
        the order given (the order the caller will ask for them: a compile emits its layers
        while the pool times the next ones), each layer's longest first; else here."""
        missing = {}
        for layer, tiling, *known in pairs:
            missing.setdefault((timing_key(layer), tiling), (layer, tiling, *known))
        for key in list(missing):
            if key not in self.cycles and self.cache is not None:
                kept = self.cache.cycles(self.cache.layer_digest(key[0]), key[1])
                if kept is not None:
                    self.cycles[key] = kept
            if key in self.cycles or key in self._pending:
                del missing[key]
        if not missing:
            return
        keys = list(missing)
        if len(keys) > 1 and self.workers > 1:
            expected = {key: known[0] if known else estimate(plan_sram(layer, tiling,
                                                                       self.config),
                                                             self.config)
                        for key, (layer, tiling, *known) in missing.items()}
            if sum(expected.values()) >= PARALLEL_CYCLES:
                order = {layer_key: place for place, layer_key in
                         enumerate(dict.fromkeys(key[0] for key in keys))}
                keys.sort(key=lambda key: (order[key[0]], -expected[key]))
                if self._submit(keys, [missing[key][:2] for key in keys]):
                    return
        for key in keys:
            if key not in self.cycles:
                self._keep(key, time_tiling(self.config, *missing[key][:2]))

    def _submit(self, keys: list[tuple], pairs: list[tuple]) -> bool:
        """Submit the timing of each (layer, tiling) of `pairs` to the process pool; whether
        it could (else the pool is closed, and timings run here from now on)."""
        try:
            executor = self._executor()
            for key, (layer, tiling) in zip(keys, pairs):
                self._pending[key] = executor.submit(_time_in_worker, layer, tiling), layer, \
                    tiling
            return True
        except (OSError, BrokenProcessPool):
            self._collect(list(self._pending))      # what was submitted, or else here
            self.close()
            self.workers = 1
            return False

    def _collect(self, keys: list[tuple]) -> None:
        """Wait for the timings of `keys` submitted to the pool; each is timed here instead if
        the pool broke, or if the pool would first time other layers' tilings, a round for
        each worker or more (`_stolen`)."""
        for key in self._stolen(keys):
            _, layer, tiling = self._pending.pop(key)
            self._keep(key, time_tiling(self.config, layer, tiling))
        for key in keys:
            if key in self._pending:
                future, layer, tiling = self._pending.pop(key)
                try:
                    cycles = future.result()
                except BrokenProcessPool:
                    self.workers = 1
                    cycles = time_tiling(self.config, layer, tiling)
                self._keep(key, cycles)

    def _stolen(self, keys: list[tuple]) -> Iterator[tuple]:
        """Those of `keys` the pool has not started and gives up (cancelled, one at a time as
        the caller takes them), where it would first start at least one other tiling per
        worker (submitted before them and not asked for now: the timings of another layer,
        which the caller asks for later, as when deciding a fusion needs the layers apart),
        last first: this process times them rather than wait, while the pool's workers go on
        in their order."""
        wanted, ahead, late = set(keys), 0, []
        for key, (future, _, _) in self._pending.items():
            if future.running() or future.done():
                continue
            if key not in wanted:
                ahead += 1
            elif ahead >= self.workers:
                late.append(key)
        return (key for key in reversed(late) if self._pending[key][0].cancel())

    def _keep(self, key: tuple, cycles: int) -> None:
        self.cycles[key] = cycles
        if self.cache is not None:
            self.cache.keep_cycles(self.cache.layer_digest(key[0]), key[1], cycles)

    def start(self) -> None:
        """Start the process pool now (its workers import the compiler while the caller does
        other work, e.g. imports the model), where there are several workers."""
        if self.workers > 1 and self._pool is None:
            try:
                for _ in range(self.workers):
                    self._executor().submit(_ready)
            except (OSError, BrokenProcessPool):
                self.close()
                self.workers = 1

    def executor(self) -> ProcessPoolExecutor | None:
        """The process pool once `start`ed (None without one): the import computes its
        requantization plans there (`onnx_import.import_onnx`)."""
        return self._pool

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers,
                                             mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_adopt, initargs=(self.config,))
        return self._pool

    def _map(self, function, arguments: list[tuple]) -> list | None:
        """`function(*each)` for each of `arguments` from the process pool, or None (and serial
        from now on) where processes cannot be started here."""
        try:
            return list(self._executor().map(function, *zip(*arguments)))
        except (OSError, BrokenProcessPool):
            self.close()
            self.workers = 1
            return None

    def close(self) -> None:
        """Keep the timings the pool has finished, cancel the others (a compile asks for all
        it needs before; one that failed need not wait for the rest), save the cache, and end
        the pool without waiting for its workers to exit (0.3 s: they end while the caller
        goes on, e.g. writes the .vtab; the interpreter's exit joins them)."""
        for key, (future, _, _) in self._pending.items():
            if future.done() and not future.cancelled() and future.exception() is None:
                self._keep(key, future.result())
        self._pending.clear()
        if self.cache is not None:
            self.cache.save()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> CycleCost:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


#: The config of this process, where it is a worker of the pool (`CycleCost._executor`): its
#: tasks use this one object. (A config sent with every task arrived as a new object each
#: time, and the ISA layer's caches, kept per config object, were built again for every task:
#: 15-20 % of the workers' time.)
_worker_config: Config | None = None


def _adopt(config: Config) -> None:
    """Start a worker of the pool for `config`."""
    global _worker_config
    _worker_config = config


def _ready() -> None:
    """Nothing: a task that starts a worker (`CycleCost.start`)."""


def _time_in_worker(layer: VtaLayer, tiling: Tiling) -> int:
    return time_tiling(_worker_config, layer, tiling)


def _shortlist_in_worker(layer: VtaLayer, length: int) -> list[tuple[SramPlan, float]]:
    """`shortlisted(layer, config, length)` with the layer left out of its plans (the asking
    process holds the layer)."""
    return [(dataclasses.replace(plan, layer=None), value)
            for plan, value in shortlisted(layer, _worker_config, length)]


def _collector_paused(function):
    """`function` with the cyclic garbage collector paused: the schedule search makes many
    objects (plans, instructions, events), and collections triggered by their count walk them
    and everything the process holds (20 % of the search's time). Once it has returned (its
    objects gone but what it returns), the youngest generation alone is collected: it holds
    what became garbage meanwhile (a scratch device and its stream refer to each other), and
    collecting it resets the allocation count, so that no automatic collection follows, nor in
    time one of the older generations (those walk the kernel caches, which grow all search
    long: 13 % of EfficientNet-Lite0's candidate timing went there)."""
    @functools.wraps(function)
    def paused(*args, **kwargs):
        enabled = gc.isenabled()
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            gc.collect(0)
            if enabled:
                gc.enable()
    return paused


@_collector_paused
def time_tiling(config: Config, layer: VtaLayer, tiling: Tiling) -> int:
    """Cycles of `layer` under `tiling` on the cycle model, emitted on a scratch device."""
    return CycleModel(config).run_image(scratch_image(config, layer, tiling, decoded=False,
                                                      replay=True)).cycles


def scratch_image(config: Config, layer: VtaLayer, tiling: Tiling, decoded: bool = True,
                  replay: bool = False):
    """The program image of `layer` under `tiling`, emitted on a scratch device whose buffers
    have the layer's sizes, the output the one it stores (a fused pool's; no data: timing and
    counters need none). `decoded`: its `program` the instructions as built
    (`CommandStream.build`), else decoded from DRAM when first read. `replay`: emitted a
    distinct tile at a time (`tile_replay`), the same image."""
    device = Device(config, "functional", memory_bytes=SCRATCH_MEMORY_BYTES)
    sub = SubTiles.of(config)
    inputs = [layer.a, layer.b] if isinstance(layer, AddLayer) else [layer.input]
    if isinstance(layer, ConvLayer) and layer.residual is not None:
        inputs.append(layer.residual.other)
    weights = constants = bias_weights = shortcut_weights = None
    if isinstance(layer, ConvLayer) and layer.residual is not None \
            and layer.residual.shortcut is not None:
        shortcut_weights = device.alloc(layer.residual.shortcut.weights.nbytes)
    if isinstance(layer, ConvLayer) and layer.mode != WeightMode.IDENTITY:
        weights = device.alloc(layer.weights.nbytes)
    if isinstance(layer, ConvLayer) and layer.bias_tiles is not None:
        bias_weights = device.alloc(layer.bias_tiles.nbytes)
    if layer.constants:
        constants = device.alloc(len(layer.constants) * layer.output.channel_blocks
                                 * config.elem_bytes(MemoryType.ACC) * sub.acc)
    pooled = isinstance(layer, ConvLayer) and layer.pool is not None
    stored = layer.pool.output if pooled else layer.output
    buffers = Buffers([device.alloc(_nbytes(x)) for x in inputs],
                      device.alloc(_nbytes(stored)), weights, constants,
                      device.alloc(config.elem_bytes(MemoryType.WGT) * sub.wgt), bias_weights,
                      device.alloc(config.elem_bytes(MemoryType.INP) * sub.inp), shortcut_weights)
    stream = CommandStream(device)
    emit_layer(stream, plan_sram(layer, tiling, config), buffers, replay)
    return stream.build(decoded=decoded)


def _nbytes(layout: ActLayout) -> int:
    return max(layout.nbytes, 1)


def _tilings(layer: VtaLayer) -> int:
    """How many tilings `ranked` tries for `layer` (its cost)."""
    return sum(1 for _ in candidates(layer))


@_collector_paused
def ranked(layer: VtaLayer, config: Config) -> list[tuple[SramPlan, float]]:
    """The SRAM plans of the tilings that fit, with their analytic estimates, best first."""
    estimated = [(plan, estimate(plan, config)) for plan in fitting_plans(layer, config)]
    return sorted(estimated, key=lambda item: item[1])


@_collector_paused
def shortlisted(layer: VtaLayer, config: Config, length: int = SHORTLIST
                ) -> list[tuple[SramPlan, float]]:
    """The plans the cycle model times (`heads` of the two rankings of the tilings that fit,
    `length` of each), with their analytic estimates."""
    estimated = [(plan, *estimates(plan, config)) for plan in fitting_plans(layer, config)]
    by_estimate = sorted(estimated, key=lambda item: item[1])
    by_wait = sorted(by_estimate, key=lambda item: waited(item[0].acc_slots, *item[1:]))
    return [(plan, value) for plan, value, _ in heads(by_estimate, by_wait, id, length)]


def waited(acc_slots: int, usual: float, store_on_top: float) -> float:
    """A plan's estimate in the ranking by store wait (from its `cost_model.estimates`): the
    store counts on top of the compute where the tile after next waits for it."""
    return store_on_top if acc_slots == 2 else usual


def heads(by_estimate: Iterable, by_wait: Iterable, key: Callable, length: int = SHORTLIST
          ) -> list:
    """The first `length` of `by_estimate` (plans ranked by the analytic estimate), then those
    of the first `length` of `by_wait` (ranked with each tile's store waited for) that are not
    among them (same `key`). The second ranking puts the tilings whose tile after next
    waits for a store further back, and so lets in others that the first ranks too low
    (ResNet-18's stem); neither alone picks the best for every layer (docs/compiler.md, "Two
    rankings")."""
    head = list(islice(by_estimate, length))
    chosen = {key(item) for item in head}
    return head + [item for item in islice(by_wait, length) if key(item) not in chosen]


def choose(layer: VtaLayer, config: Config, cost: CycleCost | None = None
           ) -> tuple[SramPlan, int]:
    """The SRAM plan (tiling) of `layer` and its cycles: timed by `cost` among the analytic
    model's shortlists, or the analytic model's best and its estimate when `cost` is None."""
    plans = ranked(layer, config) if cost is None else cost.ranking(layer)
    if not plans:
        raise VtaError(f"layer {layer.name}: no tiling fits the on-chip buffers")
    if cost is None:
        plan, estimated = plans[0]
        return plan, int(estimated)
    shortlist = [plan for plan, _ in plans]
    timed = zip(cost.times(layer, [plan.tiling for plan in shortlist]), range(len(shortlist)),
                shortlist)
    cycles, _, plan = min(timed)
    return plan, cycles
