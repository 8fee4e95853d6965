"""Tiling choice: the cycles the compiler's cycle-model timing records for each layer (on a
scratch device) are the cycles the layer takes when the compiled model runs on the cycle
backend, and the RTL agrees with the cycle backend (docs/cycle-model.md)."""

import numpy as np
import pytest

from backend_graphs import chained_graph, conv_graph, random_feeds, run_both
from vta.compiler.build import compile_graph
from vta.compiler.models.digits import build_digits
from vta.compiler.onnx_import import import_onnx
from vta.isa import Config


def test_recorded_cycles_are_the_cycle_backends():
    graph = chained_graph(np.random.default_rng(3))
    got, expected, model, result = run_both(graph, random_feeds(np.random.default_rng(4), graph),
                                            backend="cycle")
    for name in graph.outputs:
        np.testing.assert_array_equal(got[name], expected[name])
    recorded = {node["name"]: node["estimated_cycles"] for node in model.nodes
                if node["placement"] == "vta"}
    assert recorded == {name: report.cycles for name, report in result.reports}



def test_fused_pool_stored_with_a_halo_larger_than_the_convolution_output():
    """A 2×2 stride-1 max pool fused into its convolution stores 7×7 pooled rows and columns
    into a buffer with the next convolution's padding around them (9×9), larger than the
    convolution's own output (8×8): the layer is timed with that buffer (it once overran the
    scratch device's), bit-exact, in the cycles the cycle backend counts."""
    graph = chained_graph(np.random.default_rng(3), pool_stride=1)
    got, expected, model, result = run_both(graph, random_feeds(np.random.default_rng(4), graph),
                                            backend="cycle")
    np.testing.assert_array_equal(got["z"], expected["z"])
    assert [node["placement"] for node in model.nodes] == ["vta", "fused", "vta"]
    assert model.values["p"]["shape"] == [1, 20, 7, 7]
    recorded = {node["name"]: node["estimated_cycles"] for node in model.nodes
                if node["placement"] == "vta"}
    assert recorded == {name: report.cycles for name, report in result.reports}


def test_parallel_timing_equals_serial_timing():
    """A layer big enough to be timed by the process pool gets the same cycles as timed here."""
    from vta.compiler.partition import partition
    from vta.compiler.schedule import PARALLEL_CYCLES, CycleCost, ranked, time_tiling
    from vta.isa import Config
    config = Config.preset("pynq")
    graph = conv_graph(np.random.default_rng(0), c=64, o=64, h=40, w=40, k=3, pad=1)
    (layer,) = partition(graph, config).layers.values()
    best = ranked(layer, config)[:3]
    tilings = [plan.tiling for plan, _ in best]
    assert min(estimate for _, estimate in best) >= PARALLEL_CYCLES
    with CycleCost(config, workers=2) as cost:
        parallel = cost.times(layer, tilings)
        assert cost._pool is not None
    assert parallel == [time_tiling(config, layer, tiling) for tiling in tilings]


def test_a_layer_queued_behind_another_is_timed_here_with_the_pools_cycles(monkeypatch):
    """Timings asked for while the pool has another layer's tilings to do before them (a
    round for each worker or more) are taken back from the pool and timed in this process
    (`CycleCost._stolen`), last first, with the cycles they have there; the pool's order and
    the other layer's timings are unchanged."""
    from vta.compiler import schedule
    from vta.compiler.partition import partition
    config = Config.preset("pynq")
    first, second = (next(iter(partition(conv_graph(np.random.default_rng(0), c=64, o=64, h=h,
                                                                w=h, k=3, pad=1), config)
                                     .layers.values())) for h in (40, 32))
    here = []
    timed_here = schedule.time_tiling
    monkeypatch.setattr(schedule, "time_tiling",
                        lambda config, layer, tiling: here.append(layer) or timed_here(
                            config, layer, tiling))
    with schedule.CycleCost(config, workers=2) as cost:
        cost.prefetch([first, second])
        queued = [key[1] for key in cost._pending if key[0] == schedule.timing_key(second)]
        tilings = [plan.tiling for plan, _ in cost.ranking(second)]
        assert len(queued) == len(tilings) > 2
        got = cost.times(second, tilings)
        assert 0 < len(here) and here == [second] * len(here)
        others = cost.times(first, [plan.tiling for plan, _ in cost.ranking(first)])
    assert got == [timed_here(config, second, tiling) for tiling in tilings]
    assert others == [timed_here(config, first, plan.tiling)
                      for plan, _ in schedule.shortlisted(first, config)]


def test_rankings_from_the_pool_equal_rankings_here(monkeypatch):
    """Layers ranked by the process pool get the plans and estimates ranked here, bound to
    the asking process's layers."""
    from vta.compiler import schedule
    from vta.compiler.partition import partition
    from vta.isa import Config
    config = Config.preset("pynq")
    graph = chained_graph(np.random.default_rng(3))
    layers = list(partition(graph, config).layers.values())
    assert len(layers) >= 2
    monkeypatch.setattr(schedule, "PARALLEL_TILINGS", 0)
    with schedule.CycleCost(config, workers=2) as cost:
        cost.start()                        # workers start before any work is sent
        assert cost._pool is not None
        cost._rank(layers)
        for layer in layers:
            pooled = cost.ranking(layer)
            assert [plan.layer for plan, _ in pooled] == [layer] * len(pooled)
            assert pooled == schedule.shortlisted(layer, config)


def test_timed_programs_are_the_programs_decoded_from_dram():
    """The schedule search times the instructions as built (`CommandStream.build(decoded=
    True)`): the same program, field for field, as decoding the image's DRAM gives."""
    from vta.compiler import schedule
    from vta.compiler.partition import partition
    from vta.isa import Config
    from vta.isa.program import decode_program
    config = Config.preset("pynq")
    graph = chained_graph(np.random.default_rng(3))
    for layer in partition(graph, config).layers.values():
        for plan, _ in schedule.ranked(layer, config)[:2]:
            image = schedule.scratch_image(config, layer, plan.tiling)
            built = image.program
            decoded = decode_program(config, image.dram, image.insn_addr, image.insn_count)
            assert len(built) == len(decoded) > 0
            for ours, theirs in zip(built, decoded):
                assert ours == theirs and list(ours.fields) == list(theirs.fields)


@pytest.mark.parametrize("length", [8, 3])
def test_shortlist_holds_the_best_of_both_rankings(length):
    """The timed shortlist: the analytic model's `length` best plans (`SHORTLIST` by default),
    then the `length` best with each tile's store counted on top of its compute where the tile
    after next waits for it (two threads, two ACC slots) that are not among them; the two
    differ here."""
    from vta.compiler import schedule
    from vta.compiler.cost_model import estimates
    from vta.compiler.partition import partition
    from vta.isa import Config
    config = Config.preset("pynq")
    graph = conv_graph(np.random.default_rng(0), c=64, o=64, h=40, w=40, k=3, pad=1)
    (layer,) = partition(graph, config).layers.values()
    usual = schedule.ranked(layer, config)
    first = [plan.tiling for plan, _ in usual[:length]]

    def with_store_waited(item):
        plan, value = item
        waited = estimates(plan, config)[1]
        if plan.tiling.threads == 1:
            assert waited == value
        else:
            assert waited > value
        return waited if plan.tiling.threads == 2 and plan.acc_slots == 2 else value

    second = [plan.tiling for plan, _ in sorted(usual, key=with_store_waited)]
    second = [tiling for tiling in second[:length] if tiling not in first]
    assert second
    shortlisted = schedule.shortlisted(layer, config, length)
    if length == schedule.SHORTLIST:
        assert shortlisted == schedule.shortlisted(layer, config)
    assert [plan.tiling for plan, _ in shortlisted] == first + second
    assert [value for _, value in shortlisted] == [estimates(plan, config)[0]
                                                   for plan, _ in shortlisted]


def test_a_shorter_shortlist_times_fewer_tilings_and_finds_no_faster_one():
    """`CycleCost(shortlist=N)` times the N best of each ranking, no more; the tiling it
    chooses is one of the default shortlist's, never faster than the default's choice."""
    from vta.compiler import schedule
    from vta.compiler.partition import partition
    from vta.isa import Config, VtaError
    config = Config.preset("pynq")
    graph = conv_graph(np.random.default_rng(0), c=64, o=64, h=40, w=40, k=3, pad=1)
    (layer,) = partition(graph, config).layers.values()
    with schedule.CycleCost(config, workers=1) as wide, \
            schedule.CycleCost(config, workers=1, shortlist=2) as narrow:
        plan, cycles = schedule.choose(layer, config, wide)
        short_plan, short_cycles = schedule.choose(layer, config, narrow)
        assert 2 < len(narrow.cycles) <= 4 < len(wide.cycles)
        assert short_plan.tiling in [tiling for _, tiling in wide.cycles]
        assert short_cycles == wide.cycles[(schedule.timing_key(layer), short_plan.tiling)]
        assert short_cycles >= cycles
    with pytest.raises(VtaError, match="shortlist 0"):
        schedule.CycleCost(config, shortlist=0)


def test_a_shortlist_longer_than_any_ranking_times_them_all():
    """A shortlist beyond sys.maxsize (`vta compile --shortlist 99999999999999999999`, a
    ValueError traceback from islice before) times every tiling, as a long enough one does."""
    from vta.compiler import schedule
    from vta.compiler.partition import partition
    from vta.isa import Config
    config = Config.preset("pynq")
    graph = conv_graph(np.random.default_rng(0), c=16, o=16, h=6, w=6, k=1, pad=0)
    (layer,) = partition(graph, config).layers.values()
    with schedule.CycleCost(config, workers=1, shortlist=10**20) as endless, \
            schedule.CycleCost(config, workers=1, shortlist=10**4) as long:
        assert schedule.choose(layer, config, endless) == schedule.choose(layer, config, long)
        assert endless.cycles == long.cycles


@pytest.mark.parametrize("graph", [
    conv_graph(np.random.default_rng(1), c=20, o=40, h=9, w=9, k=3, stride=2),
    conv_graph(np.random.default_rng(2), c=3, o=16, h=12, w=12, k=7, stride=2, pad=3),
    conv_graph(np.random.default_rng(3), c=40, o=24, h=6, w=6, k=1, pad=0, relu=True),
], ids=["3x3-stride-2", "im2col-stem", "1x1"])
def test_cycle_floor_lies_under_every_tiling(graph):
    """`fusion.cycle_floor`, which spares timing the layers apart where a fused layer beats it,
    lies under the layer's timed cycles with every tiling that fits (and is no zero)."""
    from vta.compiler.fusion import cycle_floor
    from vta.compiler.partition import partition
    from vta.compiler.schedule import time_tiling
    from vta.compiler.sram_plan import fitting_plans
    from vta.isa import Config
    config = Config.preset("pynq")
    (layer,) = partition(graph, config).layers.values()
    floor = cycle_floor(layer, config)
    timed = [time_tiling(config, layer, plan.tiling) for plan in fitting_plans(layer, config)]
    assert floor >= len(layer.epilogue) and min(timed) >= floor


def test_layers_differing_in_their_immediates_time_alike():
    """Two layers that differ only in the immediates of their ALU steps share a timing key,
    and the cycle model times each tiling of both alike (each emitted and run on its own)."""
    import dataclasses

    from vta.compiler.layers import Imm, Step
    from vta.compiler.partition import partition
    from vta.compiler.schedule import ranked, time_tiling, timing_key
    from vta.isa import Config
    config = Config.preset("pynq")
    graph = conv_graph(np.random.default_rng(5), c=32, o=32, h=12, w=12, k=3, pad=1)
    (layer,) = partition(graph, config).layers.values()
    shifted = [Step(step.op, Imm(step.operand.value - 1 if step.operand.value > 0
                                 else step.operand.value + 1), step.register)
               if isinstance(step.operand, Imm) else step for step in layer.epilogue]
    assert shifted != list(layer.epilogue)
    other = dataclasses.replace(layer, name="other", epilogue=shifted)
    assert timing_key(other) == timing_key(layer)
    for plan, _ in ranked(layer, config)[:3]:
        assert time_tiling(config, other, plan.tiling) == time_tiling(config, layer, plan.tiling)


@pytest.mark.parametrize("latency, outstanding", [(200, 2), (1000, 4)])
def test_the_estimate_reads_at_the_rate_the_outstanding_reads_sustain(latency, outstanding):
    """With a long read latency and few outstanding reads the bus words come slower than one
    per cycle: the analytic estimate of the digits CNN stays within a quarter of the cycles the
    cycle model times (it was a quarter of them when it read a word per cycle)."""
    config = Config.preset("pynq").replace(MEM_READ_LATENCY=latency,
                                           MACHINE={"max_outstanding_reads": outstanding})
    graph = import_onnx(build_digits()[1], alu_mul=config.ALU_MUL)
    cycles = {timed: sum(node.get("estimated_cycles", 0) for node in compile_graph(
        graph, config, timed=timed, workers=1).nodes) for timed in (False, True)}
    assert 0.8 < cycles[False] / cycles[True] < 1.25
