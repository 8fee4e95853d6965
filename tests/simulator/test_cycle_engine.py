"""The compiled cycle engine (`vta.simulator.cycle.engine`, docs/cycle-model.md "The engine")
against the Python model: the same cycles, module counters, bus beats, instruction timeline and
DeadlockError on the corpus (positive and negative cases) on several configs and machines, on
long streaming and repeated loads, random programs, deadlocking programs and compiler-emitted
layer programs; and its build, cache and fallback."""

import json
import logging
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpus import corpus_cases
from vta.cli import main
from vta.isa import INSN_BYTES, Config, DeadlockError, Finish, Load, MemoryType, VtaError, encode
from vta.isa.assembler import assemble
from vta.isa.image import ProgramImage
from vta.isa.program import DecodedInstruction, program_of
from vta.simulator.cycle import CycleModel, engine

from program_strategies import programs
from test_cycle_fast_forward import CONFIGS as LOOP_CONFIGS, repeating_program, streaming_program
from test_cycle_model import MACHINES, crossed_pushes

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "compiler"))
from backend_graphs import chained_graph, conv_graph  # noqa: E402

PYNQ = Config.preset("pynq")
#: Latencies and machines for the corpus: both presets' defaults (compute overlap on), short
#: latencies, and the non-default machines of test_cycle_model (one without the overlap).
CORPUS_SETTINGS = {"32/16": ((32, 16), {}), "8/4": ((8, 4), {}),
                   **{name: (latency, machine) for name, (machine, latency) in MACHINES.items()}}


def outcome(run):
    """A report's figures, or the DeadlockError's message."""
    try:
        report = run()
    except DeadlockError as error:
        return "deadlock", str(error)
    return report.cycles, report.modules, report.bus, report.timeline


def assert_same(image: ProgramImage, program: list | None = None) -> None:
    """The engine times `program` (default: the image's) as the Python model does."""
    args = image.program if program is None else program, image.insn_addr, image.dram
    python = outcome(lambda: CycleModel(image.config, engine=False).run(*args))

    def compiled():
        report = engine.run(image.config, raw_of(args[0]), *args[1:])
        assert report is not None, "the engine did not time the program"
        return report

    assert outcome(compiled) == python


def raw_of(program: list) -> bytes:
    return b"".join(insn.raw for insn in program)


def decodable(case: Path) -> ProgramImage | None:
    image = ProgramImage.load(case)
    try:
        image.program
    except VtaError:
        return None
    return image


@pytest.mark.parametrize("setting", CORPUS_SETTINGS)
def test_engine_times_the_corpus_like_the_python_model(setting):
    (read, write), machine = CORPUS_SETTINGS[setting]
    deadlocks = 0
    for case in corpus_cases():
        image = decodable(case)
        if image is None:
            continue
        config = image.config.replace(MEM_READ_LATENCY=read, MEM_WRITE_LATENCY=write,
                                      MACHINE=machine)
        image = ProgramImage(config, image.dram, image.insn_addr, image.insn_count)
        assert_same(image)
        deadlocks += outcome(lambda: CycleModel(config).run(
            image.program, image.insn_addr, image.dram))[0] == "deadlock"
    assert deadlocks > 0


@pytest.mark.parametrize("name", sorted(LOOP_CONFIGS))
def test_engine_times_streaming_and_repeated_loads_like_the_python_model(name):
    rng = np.random.default_rng(200 + sorted(LOOP_CONFIGS).index(name))
    for _ in range(4):
        assert_same(streaming_program(LOOP_CONFIGS[name], rng))
        assert_same(repeating_program(LOOP_CONFIGS[name], rng))


RANDOM_CONFIGS = {
    "1x16": PYNQ,
    "1x32-8/4": PYNQ.replace(LOG_BLOCK=5, MEM_READ_LATENCY=8, MEM_WRITE_LATENCY=4),
    "one-unit-fetch": PYNQ.replace(MEM_READ_LATENCY=1, MEM_WRITE_LATENCY=1,
                                   MACHINE=MACHINES["fetch"][0]),
    "2-tokens-bursts": PYNQ.replace(MACHINE={"token_queue_depth": 2, "max_burst_beats": 4,
                                             "burst_boundary_bytes": 256,
                                             "command_queue_depth": 4}),
}


@pytest.mark.parametrize("name", RANDOM_CONFIGS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_engine_times_random_programs_like_the_python_model(name, data):
    image = data.draw(programs(RANDOM_CONFIGS[name]))
    assert_same(image)
    # without its FINISH (never reaches it), and without its first instruction (a token may
    # never be pushed)
    for keep in (slice(0, -1), slice(1, None)):
        assert_same(image, image.program[keep])


def image_of(source: list[str], config: Config) -> ProgramImage:
    code = np.frombuffer(assemble("\n".join(source), config), dtype=np.uint8)
    dram = np.zeros(4096, dtype=np.uint8)
    dram[:code.size] = code
    return ProgramImage(config, dram, 0, code.size // INSN_BYTES)


@pytest.mark.parametrize("overlap", [64, 0], ids=["overlap", "one-unit"])
def test_engine_times_waits_and_deadlocks_like_the_python_model(overlap):
    config = PYNQ.replace(MACHINE={"token_queue_depth": 2, "overlap_kernels": overlap})
    assert_same(crossed_pushes(config))
    load = "sram_base=0 dram_base=0 y_size=1 x_size=1 x_stride=1"
    waits_for_ever = [f"LOAD WGT {load} pop_next_dep", f"LOAD ACC {load}", "FINISH"]
    finish_waits = [f"LOAD INP {load}", "FINISH pop_prev_dep"]
    for source in (waits_for_ever, finish_waits, [f"LOAD INP {load}"]):
        assert_same(image_of(source, config))
    empty = ProgramImage(config, np.zeros(64, dtype=np.uint8), 0, 0)
    assert_same(empty)
    with pytest.raises(DeadlockError, match="compute waits for a L2G token never pushed"):
        CycleModel(config).run(image_of(finish_waits, config).program, 0,
                               image_of(finish_waits, config).dram)


def test_engine_times_compiled_layers_like_the_python_model():
    from vta.compiler import schedule
    from vta.compiler.partition import partition

    graphs = [chained_graph(np.random.default_rng(3)),
              conv_graph(np.random.default_rng(5), c=16, o=16, h=8, w=8, groups=16)]
    for graph in graphs:
        for layer in partition(graph, PYNQ).layers.values():
            for plan, _ in schedule.ranked(layer, PYNQ)[:2]:
                assert_same(schedule.scratch_image(PYNQ, layer, plan.tiling))
                # the search's way: the engine reads the instructions from the image's DRAM
                image = schedule.scratch_image(PYNQ, layer, plan.tiling, decoded=False)
                assert CycleModel(PYNQ).run_image(image) == CycleModel(PYNQ, engine=False).run(
                    image.program, image.insn_addr, image.dram)


def test_micro_ops_past_the_end_of_dram_read_as_zeros():
    source = ["LOAD UOP sram_base=0 dram_base=1000 y_size=1 x_size=40 x_stride=1",
              "ALU MIN uop_bgn=0 uop_end=40 iter_out=3 iter_in=2 dst_factor_out=1 "
              "dst_factor_in=0 src_factor_out=0 src_factor_in=1", "FINISH"]
    assert_same(image_of(source, PYNQ))


def test_a_program_the_engine_cannot_time_is_timed_in_python():
    """Instructions no decoded program holds (an invalid opcode; a LOAD OUT, found while the
    processes run) are not timed by the engine (no crash): `CycleModel` gives the Python
    model's answer."""
    image = image_of(["FINISH"], PYNQ)
    (finish,) = image.program
    word = int.from_bytes(finish.raw, "little") | 0b111
    invalid = finish._replace(raw=word.to_bytes(INSN_BYTES, "little"))
    assert isinstance(invalid, DecodedInstruction)
    assert engine.run(PYNQ, raw_of([invalid]), 0, image.dram) is None
    assert CycleModel(PYNQ).run([invalid], 0, image.dram) == \
        CycleModel(PYNQ, engine=False).run([invalid], 0, image.dram)
    insns = [Load(memory_type=MemoryType.OUT, y_size=1, x_size=1, x_stride=1), Finish()]
    program = program_of(insns, [encode(insn, PYNQ) for insn in insns])
    assert engine.run(PYNQ, raw_of(program), 0, image.dram) is None
    with pytest.raises(KeyError):
        CycleModel(PYNQ).run(program, 0, image.dram)


def test_engine_is_built_once_into_the_cache(tmp_path, monkeypatch, capsys):
    """Built once (no temporary file left), listed and removed by `vta cache`."""
    monkeypatch.setenv("VTA_CACHE_DIR", str(tmp_path))
    path = engine.build()
    assert path.parent == tmp_path / engine.KIND and path.suffix == ".so"
    built = path.stat().st_mtime_ns
    assert engine.build() == path and path.stat().st_mtime_ns == built
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    assert main(["cache", "info", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["kinds"][engine.KIND]["entries"] == 1
    assert main(["cache", "clean", "--kind", engine.KIND]) == 0
    assert not path.exists()


def test_without_a_compiler_the_python_model_runs_after_one_warning(monkeypatch, caplog):
    monkeypatch.setattr(engine, "COMPILER", "no-such-compiler")
    monkeypatch.setenv("VTA_CACHE_DIR", "/nonexistent")
    engine.library.cache_clear()
    try:
        image = image_of(["FINISH"], PYNQ)
        with caplog.at_level(logging.WARNING, logger=engine.__name__):
            for _ in range(2):
                assert CycleModel(PYNQ).run(image.program, 0, image.dram).cycles > 0
        assert len(caplog.records) == 1 and "cannot be built" in caplog.records[0].message
    finally:
        monkeypatch.undo()
        engine.library.cache_clear()
    assert engine.library() is not None
