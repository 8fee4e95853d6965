"""The cycle model against the RTL co-simulation (the ground truth it predicts).

A handful of conformance cases of both configs, at the default and at a short memory latency,
plus random programs, and the same test on three non-default machine descriptions (every
parameter that changes timing differs from its default in one of them): the total cycle count
must equal the RTL's CYCLES register and every module busy/stall counter must be within 5 %
(scripts/cycle_vs_rtl.py runs the whole corpus, `--machine` for a non-default machine)."""

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpus import case_id
from vta.isa import INSN_BYTES, Config
from vta.isa.assembler import assemble
from vta.isa.machine import Machine
from vta.isa.image import ProgramImage
from vta.runtime.backends import get_backend
from vta.simulator.cycle import CycleModel
from vta.simulator.cycle.read_port import burst_sizes

from program_strategies import programs

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from cycle_vs_rtl import MODULE_TOLERANCE, module_error  # noqa: E402

CASES = ["vta-1x16/p_blocked_gemm_32_128_32_comp_vt2", "vta-1x16/e_long_stream_2k",
         "vta-1x16/e_acc_pad15_all", "vta-1x16/r_multiphase_029", "vta-1x16/p_alu_max_vv",
         "vta-1x32/p_blocked_gemm_64_128_64_comp_vt2", "vta-1x32/e_inp_pad15_all",
         "vta-1x32/r_multiphase_005"]
LATENCIES = [(32, 16), (8, 4)]
_RTL = {}


def rtl_backend(config: Config):
    key = (config.fingerprint, config.MEM_READ_LATENCY, config.MEM_WRITE_LATENCY)
    if key not in _RTL:
        _RTL[key] = get_backend("rtl", config)
    return _RTL[key]


def assert_agrees(image: ProgramImage) -> None:
    rtl = rtl_backend(image.config).run(dataclasses.replace(image, dram=image.dram.copy()))
    model = CycleModel(image.config).run(image.program, image.insn_addr, image.dram)
    assert model.cycles == rtl.cycles
    for name, counters in rtl.modules.items():
        for kind, value in counters.items():
            error = module_error(model.modules[name][kind], value, rtl.cycles)
            assert error <= MODULE_TOLERANCE, f"{name}.{kind}: model {model.modules[name][kind]}, rtl {value}"


@pytest.mark.parametrize("latency", LATENCIES, ids=lambda pair: f"{pair[0]}-{pair[1]}")
@pytest.mark.parametrize("name", CASES)
def test_corpus_case_agrees_with_rtl(corpus, name, latency):
    image = ProgramImage.load(corpus / name)
    config = image.config.replace(MEM_READ_LATENCY=latency[0], MEM_WRITE_LATENCY=latency[1])
    assert_agrees(dataclasses.replace(image, config=config))


#: Non-default machines (docs/machine.md) with a memory latency each, and the corpus cases they
#: run: full command queues (fetch waits for room); short bursts that split at 256-byte
#: boundaries, one write burst at a time and loads held four tokens ahead (e_deep_prefetch runs
#: eight ahead), at a longer latency; a small fetch buffer, one read burst in flight (at the
#: shortest latency) and slower GEMM/ALU loops, one at a time (no compute overlap). (Both 8-entry command queues and 4-token queues
#: deadlock e_deep_prefetch, on the RTL as in the model.)
MACHINES = {
    "queues": ({"command_queue_depth": 8}, (32, 16)),
    "bursts": ({"max_burst_beats": 4, "burst_boundary_bytes": 256, "max_outstanding_writes": 1,
                "token_queue_depth": 4}, (64, 32)),
    "fetch": ({"fetch_buffer_depth": 8, "max_outstanding_reads": 1, "overlap_kernels": 0,
               "gemm_initiation_interval": 2, "alu_initiation_interval": 3}, (1, 1)),
}
MACHINE_CASES = ["vta-1x16/p_blocked_gemm_32_128_32_comp_vt2", "vta-1x16/e_deep_prefetch",
                 "vta-1x16/e_acc_pad15_all", "vta-1x16/r_multiphase_029", "vta-1x16/p_alu_max_vv"]


@pytest.mark.parametrize("machine", MACHINES)
@pytest.mark.parametrize("name", MACHINE_CASES)
def test_corpus_case_agrees_with_rtl_on_other_machines(corpus, name, machine):
    overrides, (read, write) = MACHINES[machine]
    image = ProgramImage.load(corpus / name)
    config = image.config.replace(MEM_READ_LATENCY=read, MEM_WRITE_LATENCY=write,
                                  MACHINE=overrides)
    assert_agrees(dataclasses.replace(image, config=config))


def test_other_machines_change_every_timed_parameter():
    changed = set().union(*(overrides for overrides, _ in MACHINES.values()))
    untimed = {"store_prefetch_tiles", "pack_multiplier_pairs"}   # docs/machine.md
    assert changed == {field.name for field in dataclasses.fields(Machine)} - untimed


def crossed_pushes(config: Config) -> ProgramImage:
    """NOPs that fill the g2l queue (compute) and l2g but one (load); then a GEMM that pops l2g
    and pushes g2l: it waits in PUSH for load to pop g2l, which load does only after pushing
    its last l2g token into the room the GEMM's pop made."""
    depth = config.machine.token_queue_depth
    nop = "sram_base=0 dram_base=0 y_size=0 x_size=0 x_stride=0"
    source = [f"LOAD ACC {nop} push_prev_dep"] * depth
    source += [f"LOAD INP {nop} push_next_dep"] * (depth + 1)
    source += ["GEMM uop_bgn=0 uop_end=0 iter_out=1 iter_in=1 pop_prev_dep push_prev_dep"]
    source += [f"LOAD INP {nop} pop_next_dep"] * depth
    source += [f"LOAD INP {nop} pop_next_dep push_next_dep"]
    source += ["FINISH pop_prev_dep"]
    code = np.frombuffer(assemble("\n".join(source), config), dtype=np.uint8)
    dram = np.zeros(4096, dtype=np.uint8)
    dram[:code.size] = code
    return ProgramImage(config, dram, 0, code.size // INSN_BYTES)


@pytest.mark.parametrize("overlap", [64, 0], ids=["overlap", "one-unit"])
def test_a_compute_waiting_to_push_has_taken_its_tokens(overlap):
    # The model deadlocked here with the compute overlap: it let the GEMM take its l2g token
    # only once its own push was accepted.
    config = Config.preset("pynq").replace(MACHINE={"token_queue_depth": 2,
                                                    "overlap_kernels": overlap})
    assert_agrees(crossed_pushes(config))


PYNQ = Config.preset("pynq")


@pytest.mark.parametrize("config", [PYNQ, PYNQ.replace(LOG_BLOCK=5, MEM_READ_LATENCY=8,
                                                       MEM_WRITE_LATENCY=4)], ids=["1x16", "1x32"])
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_program_agrees_with_rtl(config, data):
    assert_agrees(data.draw(programs(config)))


def test_cycle_backend_gives_data_counters_and_time(corpus):
    case = corpus / "vta-1x16/p_blocked_gemm_32_128_32_comp_vt2"
    meta = json.loads((case / "case.json").read_text())
    image = ProgramImage.load(case)
    report = get_backend("cycle", image.config).run(image)
    assert (image.dram == np.fromfile(case / "expected.bin", dtype=np.uint8)).all()
    assert report.counters == meta["counters"]
    rtl = rtl_backend(image.config).run(ProgramImage.load(case))
    assert report.to_json()["cycles"] == rtl.cycles
    assert set(report.modules) == set(rtl.modules), case_id(case)


def test_bursts_never_cross_4k_and_have_at_most_16_beats():
    # 8-byte bus: 4 words before the 4 KiB boundary at 0x1000, then 16-beat bursts.
    assert list(burst_sizes(0x1000 - 32, 40, 8, Machine())) == [4, 16, 16, 4]
    assert list(burst_sizes(0, 16, 16, Machine())) == [16]
    assert list(burst_sizes(0x1000 - 16, 3, 16, Machine())) == [1, 2]


def test_trace_has_every_instruction_once_on_its_module_or_unit_track(corpus, tmp_path):
    """Each instruction once, on its module's track (GEMM and ALU on their compute unit's own
    track); the slices of one track never overlap."""
    image = ProgramImage.load(corpus / "vta-1x16/r_multiphase_029")
    path = tmp_path / "trace.json"
    get_backend("cycle", image.config, trace=str(path)).run(image)
    events = json.loads(path.read_text())["traceEvents"]
    names = {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M"}
    slices = [e for e in events if e["ph"] == "X" and e["name"] not in ("wait", "fetch")]
    expected = sorted((insn.module.name.lower(), insn.opcode.name) for insn in image.instructions())
    assert sorted((names[e["tid"]].split()[0], e["name"]) for e in slices) == expected
    assert all(names[e["tid"]] == f"compute {e['name']}" for e in slices
               if e["name"] in ("GEMM", "ALU"))
    for tid in names:
        track = sorted((e["ts"], e["ts"] + e["dur"]) for e in slices if e["tid"] == tid)
        assert all(end <= start for (_, end), (start, _) in zip(track, track[1:]))


def test_roofline_counts_the_program_traffic_and_macs(corpus):
    from vta.runtime.backends import RunReport
    from vta.runtime.roofline import format_report, roofline
    from vta.simulator.functional import FunctionalSimulator

    image = ProgramImage.load(corpus / "vta-1x16/p_blocked_gemm_64_256_64_nocomp_vt2")
    config = image.config
    report = CycleModel(config).run(image.program, image.insn_addr, image.dram)
    counters = FunctionalSimulator(config).run(image.dram, image.insn_addr, image.insn_count)
    loaded = sum(counters[f"{kind}_load_nbytes"] for kind in ("inp", "wgt", "acc", "uop"))
    assert report.bus["read_beats"] * config.bus_bytes == loaded + image.insn_count * 16
    assert report.bus["write_beats"] * config.bus_bytes == counters["out_store_nbytes"]
    figures = roofline(config, RunReport("cycle", report.cycles, counters, report.modules))
    expected = json.loads((corpus / "vta-1x16/p_blocked_gemm_64_256_64_nocomp_vt2/case.json"
                           ).read_text())["counters"]["gemm_counter"]
    assert figures["macs"] == expected * 16 * 16  # a 1x16x16 tile product per execution
    assert figures["dram_bytes"] == loaded + counters["out_store_nbytes"]
    assert figures["bound"] == "memory"
    assert "memory-bound" in format_report(figures)


def test_cycle_backend_reports_a_deadlock_with_exit_status_3(corpus):
    from vta.isa import DeadlockError

    image = ProgramImage.load(corpus / "vta-1x16/n_deadlock_circular")
    with pytest.raises(DeadlockError) as error:
        get_backend("cycle", image.config).run(image)
    assert error.value.exit_status == 3


def test_a_module_waiting_for_ever_does_not_stop_finish():
    """A load that waits for a token no instruction pushes stays waiting, and the run ends
    when FINISH retires, as on the RTL and the functional simulator (the model raised a
    deadlock, exit status 3, where both others ran to FINISH)."""
    source = ["LOAD WGT sram_base=0 dram_base=0 y_size=1 x_size=1 x_stride=1 pop_next_dep",
              "LOAD ACC sram_base=0 dram_base=0 y_size=1 x_size=1 x_stride=1", "FINISH"]
    code = np.frombuffer(assemble("\n".join(source), PYNQ), dtype=np.uint8)
    dram = np.zeros(4096, dtype=np.uint8)
    dram[:code.size] = code
    image = ProgramImage(PYNQ, dram, 0, len(source))
    report = get_backend("cycle", PYNQ).run(dataclasses.replace(image, dram=dram.copy()))
    assert report.cycles > 0
    assert report.counters == get_backend("functional", PYNQ).run(image).counters
    assert_agrees(image)


def test_model_alone_detects_a_program_that_never_finishes(corpus):
    from vta.isa import DeadlockError

    image = ProgramImage.load(corpus / "vta-1x16/n_deadlock_g2l")
    with pytest.raises(DeadlockError):
        CycleModel(image.config).run(image.program, image.insn_addr, image.dram)
