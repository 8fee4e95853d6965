"""A model's cycles and program counters on a config, layer by layer, with the work shared
between the points of a space.

`compile_graph` builds a whole `.vtab` (weights packed, every value placed in device memory);
a design point needs only the sum of its VTA layers' cycles and the counters of their programs.
`evaluate_model` makes the compiler's own choices — the same `partition`, the same ranking of
tilings by the analytic cost model, the same shortlist timed on the cycle model, the same
`schedule.choose` — and sums what they give, so its figures are those of `compile_graph` (tests
compare the two on several configs). What it remembers, per worker process, is what does not
depend on a point's buffer sizes or clock:

- a layer's candidate tilings with their slot sizes (they depend on the layer's shape only) and
  each one's analytic estimate (it reads the bus, the machine and the tile sizes, not the
  buffer depths): a point ranks those that fit its buffers;
- a (layer, tiling)'s cycles on the cycle model and its program's counters, per count of ACC
  slots (`sram_plan.acc_slots`, which ACC's depth decides): beyond that count, between buffer
  sizes the program differs only in SRAM entries no timing reads — the bias input tile's (INP's
  last entry) and where in its half of ACC a slot starts (the cycle model's banks are ACC's
  halves and parities).

Layers that differ only in their data (ResNet's repeated blocks) share all of it too.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

from vta.compiler.cost_model import estimates
from vta.compiler.macs import node_macs
from vta.compiler.partition import NO_TILING_FITS, partition
from vta.compiler.placement import Placement
from vta.compiler.schedule import CycleCost, choose, heads, scratch_image, timing_key, waited
from vta.compiler.sram_plan import (Capacity, SramPlan, _fits, _shared, _slots, acc_slots,
                                    candidates)
from vta.compiler.tiling import Tiling
from vta.isa import Config, VtaError
from vta.isa.opcodes import Opcode
from vta.isa.program import count
from vta.simulator.cycle import CycleModel

#: Config keys that decide which tilings fit but not what a tiling's program costs.
BUFFER_KEYS = ("LOG_INP_BUFF_SIZE", "LOG_WGT_BUFF_SIZE", "LOG_ACC_BUFF_SIZE")
COUNTERS = ("inp_load_nbytes", "wgt_load_nbytes", "acc_load_nbytes", "uop_load_nbytes",
            "out_store_nbytes", "gemm_counter", "alu_counter", "alu_vector_counter")

#: Per worker process: a layer shape's candidate tilings with their slots; per (layer shape,
#: cost key) a `_Group`.
_CANDIDATES: dict[tuple, list] = {}
_GROUPS: dict[tuple, _Group] = {}
#: Groups past which the caches are emptied (a group holds its layer's candidates, a few
#: thousand: a long search keeps a worker's memory to a few hundred MB).
CACHE_LIMIT = 1_000


def cost_key(config: Config) -> tuple:
    """What a tiling's estimate, cycles and counters depend on: the config without its clock
    and buffer sizes."""
    keys = config.to_dict()
    for name in ("CLOCK_MHZ", *BUFFER_KEYS):
        keys.pop(name, None)
    return tuple(sorted((name, repr(value)) for name, value in keys.items()))


class _Candidate(NamedTuple):
    """A tiling of a layer shape with its slots and its two analytic estimates."""

    estimate: float
    store_on_top: float
    tiling: Tiling
    full_tile: object
    full_regions: dict
    slots: dict


@dataclasses.dataclass
class _Group:
    """One layer shape under one cost key: every candidate tiling (with its slots) with its
    analytic estimates (`cost_model.estimates`), ordered by the first, the shortlist of each
    set of buffer depths (and shortlist length), and the programs (cycles or None, counters) made so far."""

    ordered: list[_Candidate]
    shortlists: dict = dataclasses.field(default_factory=dict)
    programs: dict = dataclasses.field(default_factory=dict)


class SharedCost(CycleCost):
    """`CycleCost` whose rankings and timings come from the worker's caches: `choose` and
    `partition` use it as they use the compiler's."""

    def __init__(self, config: Config):
        super().__init__(config, workers=1)
        self.key = cost_key(config)
        self.capacity = Capacity.of(config)
        self.depths = tuple(self.capacity.depths.values())

    def _group(self, layer) -> _Group:
        shape = timing_key(layer)
        group = _GROUPS.get((shape, self.key))
        if group is not None:
            return group
        if len(_GROUPS) >= CACHE_LIMIT:
            _GROUPS.clear()
            _CANDIDATES.clear()
        if shape not in _CANDIDATES:
            known, listed = {}, []   # tilings that differ only in threads share their slots
            for tiling in candidates(layer):
                extents = dataclasses.replace(tiling, threads=1)
                if extents not in known:
                    known[extents] = _slots(layer, tiling)
                listed.append((tiling, *known[extents]))
            _CANDIDATES[shape] = listed
        estimated = []
        for tiling, full_tile, full_regions, slots in _CANDIDATES[shape]:
            plan = SramPlan(layer, tiling, slots, _shared(layer, tiling, slots, self.capacity),
                            full_tile, full_regions, self.capacity)
            estimated.append(_Candidate(*estimates(plan, self.config), tiling, full_tile,
                                        full_regions, slots))
        estimated.sort(key=lambda item: item.estimate)      # stable: ties keep the candidates' order
        group = _GROUPS[(shape, self.key)] = _Group(estimated)
        return group

    def ranking(self, layer) -> list[tuple[SramPlan, float]]:
        """The tilings of `layer` that fit the buffers in `schedule.shortlisted`'s order (the
        analytic model's best first), all `choose` reads."""
        group = self._group(layer)
        capacity = self.capacity

        def fitting(ordered):
            for entry in ordered:
                if _fits(entry.tiling.threads, entry.slots,
                         _shared(layer, entry.tiling, entry.slots, capacity), capacity):
                    yield entry

        searched = (self.depths, self.shortlist)
        if searched not in group.shortlists:
            by_wait = sorted(group.ordered, key=lambda entry: waited(
                acc_slots(entry.tiling.threads, entry.slots, capacity), entry.estimate,
                entry.store_on_top))
            group.shortlists[searched] = heads(fitting(group.ordered), fitting(by_wait),
                                               lambda entry: entry.tiling, self.shortlist)
        return [(SramPlan(layer, tiling, slots, _shared(layer, tiling, slots, capacity),
                          full_tile, full_regions, capacity), value)
                for value, _, tiling, full_tile, full_regions, slots
                in group.shortlists[searched]]

    def program(self, layer, tiling, timed: bool = True) -> tuple[int | None, dict]:
        """(cycles on the cycle model, counters) of `layer`'s program under `tiling` (shared
        between buffer depths that give it as many ACC slots); not `timed`: the counters only
        (cycles None, unless timed before)."""
        programs = self._group(layer).programs
        key = (tiling, acc_slots(tiling.threads, _slots(layer, tiling)[2], self.capacity))
        known = programs.get(key)
        if known is None or (timed and known[0] is None):
            image = scratch_image(self.config, layer, tiling)
            cycles = CycleModel(self.config).run(image.program, image.insn_addr,
                                                 image.dram).cycles if timed else None
            known = programs[key] = (cycles, program_counters(image.program, self.config))
        return known

    def _time(self, pairs) -> None:
        for layer, tiling in pairs:
            self.cycles[(timing_key(layer), tiling)] = self.program(layer, tiling)[0]

    def prefetch(self, layers) -> None:
        """Nothing ahead: `times` finds every timing in the caches or makes it."""


def program_counters(program, config: Config) -> dict[str, int]:
    """The seven profiler counters of a decoded program, and ``alu_vector_counter`` (ALU
    executions reading two accumulator tiles)."""
    counters = dict.fromkeys(COUNTERS, 0)
    for insn in program:
        count(counters, insn, config)
        if insn.opcode == Opcode.ALU and not insn.fields["use_imm"]:
            counters["alu_vector_counter"] += insn.executions
    return counters


def evaluate_model(graph, config: Config, timed: bool) -> dict:
    """Cycles of the VTA layers of `graph` on `config` (`timed`: the shortlist timed on the
    cycle model, as `compile_graph(timed=True)`; else the analytic model's best and its
    estimate), the share of the graph's MACs on VTA, and the summed counters of their
    programs; `VtaError` where the compiler refuses."""
    cost = SharedCost(config)
    part = partition(graph, config, cost=cost if timed else None)
    unfit = [name for name, reason in part.reasons.items() if reason == NO_TILING_FITS]
    if unfit:       # on the host its work would not count: the point cannot run the model
        raise VtaError(f"layer {unfit[0]}: no tiling fits the on-chip buffers")
    if not part.layers:
        raise VtaError("nothing of the model runs on VTA (its cycles would be 0 at every point)")
    cycles, counters = 0, dict.fromkeys(COUNTERS, 0)
    macs = {"vta": 0, "all": 0}
    for node in graph.nodes:
        node_count = node_macs(graph, node)
        macs["all"] += node_count
        if part.placement[node.name] == Placement.FUSED:
            macs["vta"] += node_count         # computed in the VTA layer it is fused into
        if part.placement[node.name] != Placement.VTA:
            continue
        layer = part.layers[node.name]
        if timed:
            plan, layer_cycles = choose(layer, config, cost)
        else:
            plans = cost.ranking(layer)
            if not plans:
                raise VtaError(f"layer {layer.name}: no tiling fits the on-chip buffers")
            plan, layer_cycles = plans[0][0], int(plans[0][1])
        cycles += layer_cycles
        macs["vta"] += node_count
        for name, value in cost.program(layer, plan.tiling, timed)[1].items():
            counters[name] += value
    return {"cycles": cycles, "vta_mac_share": macs["vta"] / (macs["all"] or 1),
            "macs": macs["all"], "counters": counters}

