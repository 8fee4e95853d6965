"""The cycle model's compiled read and write loops (docs/cycle-model.md, "Compiled loops",
`vta.simulator.cycle.native`, which the Python model uses: `CycleModel(config, engine=False)`)
against the Python code stepping every grant, burst and STORE row
(`CycleModel(config, fast_forward=False)`): identical cycles, module counters, bus beats
and instruction timeline on the corpus and on programs of long, padded, page-crossing loads of
several clients at once, micro-op loads and stores, on several configs and machines — and the
compiled loops did the work (only fetch is granted in Python)."""

import numpy as np
import pytest

from vta.isa import Config, Finish, Load, MemoryType, Store, Uop
from vta.isa.image import ProgramImage
from vta.simulator.cycle import CycleModel
from vta.simulator.cycle import clients, read_port, write_port

from corpus import CORPUS
from image_builder import ImageBuilder

PYNQ = Config.preset("pynq")
CONFIGS = {"pynq": PYNQ,
           "1x32-8/4": PYNQ.replace(LOG_BLOCK=5, MEM_READ_LATENCY=8, MEM_WRITE_LATENCY=4),
           "128bit-64/32": PYNQ.replace(LOG_BUS_WIDTH=7, MEM_READ_LATENCY=64, MEM_WRITE_LATENCY=32),
           "latency-200": PYNQ.replace(MEM_READ_LATENCY=200),
           "short-bursts": PYNQ.replace(MACHINE={"max_burst_beats": 4, "burst_boundary_bytes": 256,
                                                 "max_outstanding_writes": 1}),
           "one-read-burst": PYNQ.replace(MEM_READ_LATENCY=1, MEM_WRITE_LATENCY=1,
                                          MACHINE={"max_outstanding_reads": 1,
                                                   "max_outstanding_writes": 3})}


def assert_same_timing(image: ProgramImage, python: dict | None = None) -> None:
    """Both runs agree; `python` counts the grants and STOREs the compiled run timed in Python
    by their client (``"fetch"``, ``"other"``) and ``"store"``."""
    args = image.program, image.insn_addr, image.dram
    python = {} if python is None else python
    fast = counted(python, lambda: CycleModel(image.config, engine=False).run(*args))
    step = CycleModel(image.config, fast_forward=False).run(*args)
    assert (fast.cycles, fast.modules, fast.bus) == (step.cycles, step.modules, step.bus)
    assert fast.timeline == step.timeline


def counted(python: dict, run):
    grant, store = read_port.ReadPort._grant, write_port.WritePort._store

    def counted_grant(self, command, now):
        kind = "fetch" if isinstance(command.client, clients.FetchClient) else "other"
        python[kind] = python.get(kind, 0) + 1
        return grant(self, command, now)

    def counted_store(self, *args):
        python["store"] = python.get("store", 0) + 1
        return store(self, *args)

    read_port.ReadPort._grant, write_port.WritePort._store = counted_grant, counted_store
    try:
        return run()
    finally:
        read_port.ReadPort._grant, write_port.WritePort._store = grant, store


def streaming_program(config: Config, rng: np.random.Generator) -> ProgramImage:
    """Long LOADs of INP and WGT (load module) while the compute module loads micro-ops and ACC
    and the store module stores: random row lengths, strides (crossing 4 KiB pages anywhere),
    pads and buffer offsets; FINISH after the load module's last LOAD and the last STORE."""
    builder = ImageBuilder(config)
    uop_base = builder.uops([Uop(0, 0, 0)] * 304)
    data = builder.reserve(1 << 20, MemoryType.INP)
    uops = int(rng.integers(1, 300))     # micro-op loads of any length from any word slot
    load, compute = [], [Load(memory_type=MemoryType.UOP, y_size=1, x_size=uops, x_stride=1,
                              dram_base=uop_base + int(rng.integers(0, 4)),
                              sram_base=int(rng.integers(0, 8)))]
    for k in range(int(rng.integers(3, 7))):
        kind = [MemoryType.INP, MemoryType.WGT, MemoryType.ACC][k % 3]
        elem = config.elem_bytes(kind)
        depth = config.depth(kind)
        x_pad = int(rng.integers(0, 3)) if rng.random() < 0.5 else 0
        y_pad = int(rng.integers(0, 2)) if rng.random() < 0.5 else 0
        long_rows = rng.random() < 0.5
        x_size = int(rng.integers(8, 60)) if long_rows else int(rng.integers(1, 6))
        width = x_size + 2 * x_pad
        y_size = max(1, min(int(rng.integers(33, 140)), depth // width - 2 * y_pad))
        stride = x_size + int(rng.integers(0, 400))
        base = data * config.elem_bytes(MemoryType.INP) // elem + int(rng.integers(0, 64))
        if (base + (y_size - 1) * stride + x_size) * elem > (1 << 20):
            stride = x_size
        insn = Load(memory_type=kind, dram_base=base, y_size=y_size, x_size=x_size,
                    x_stride=stride, x_pad_0=x_pad, x_pad_1=x_pad, y_pad_0=y_pad, y_pad_1=y_pad)
        (compute if kind == MemoryType.ACC else load).append(insn)
    load.append(Load(memory_type=MemoryType.INP, push_next_dep=True))
    store, out = [], config.elem_bytes(MemoryType.OUT)
    for _ in range(int(rng.integers(1, 4))):
        x_size = int(rng.integers(1, 40))
        y_size = int(rng.integers(20, config.depth(MemoryType.OUT) // x_size + 1))
        stride = x_size + int(rng.integers(0, 300))
        base = data * config.elem_bytes(MemoryType.INP) // out + int(rng.integers(0, 64))
        if (base + (y_size - 1) * stride + x_size) * out > (1 << 20):
            stride = x_size
        store.append(Store(dram_base=base, y_size=y_size, x_size=x_size, x_stride=stride))
    store[-1] = store[-1].replace(push_prev_dep=True)
    compute.append(Finish(pop_prev_dep=True, pop_next_dep=True))
    return builder.image(load + compute + store)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_compiled_loops_time_streaming_loads_like_stepping(name):
    rng = np.random.default_rng(sorted(CONFIGS).index(name))
    python = {}
    for _ in range(12):
        assert_same_timing(streaming_program(CONFIGS[name], rng), python)
    assert python["fetch"] > 0
    assert "other" not in python and "store" not in python


@pytest.mark.parametrize("config_dir", ["vta-1x16", "vta-1x32"])
def test_compiled_loops_time_the_corpus_like_stepping(config_dir):
    for case in sorted((CORPUS / config_dir).glob("p_*")):
        image = ProgramImage.load(case)
        for latency in ((32, 16), (8, 4)):
            config = image.config.replace(MEM_READ_LATENCY=latency[0], MEM_WRITE_LATENCY=latency[1])
            assert_same_timing(ProgramImage(config, image.dram, image.insn_addr, image.insn_count))


def repeating_program(config: Config, rng: np.random.Generator) -> ProgramImage:
    """LOADs of a few shapes repeated at bases whose page offsets recur (so a later command of
    a shape starts like an earlier one and is replayed), with strides that divide a page so
    that some rows cross its boundary at a fixed period (a whole period of rows repeats)."""
    builder = ImageBuilder(config)
    data = builder.reserve(1 << 20, MemoryType.INP)
    page = config.machine.burst_boundary_bytes
    load = []
    shapes = []
    for k in range(3):
        kind = [MemoryType.INP, MemoryType.WGT, MemoryType.INP][k]
        elem = config.elem_bytes(kind)
        x_size = int(rng.integers(1, 5))
        stride = max(x_size, page // elem // int(rng.choice([4, 8, 16])))
        y_size = min(int(rng.integers(40, 120)), config.depth(kind) // x_size)
        shapes.append((kind, elem, x_size, stride, y_size))
    start = data * config.elem_bytes(MemoryType.INP)
    for _ in range(int(rng.integers(6, 10))):
        kind, elem, x_size, stride, y_size = shapes[int(rng.integers(0, len(shapes)))]
        offset = int(rng.integers(0, 4)) * page + int(rng.choice([0, page - elem, page // 2 - elem]))
        base = (start + offset + elem - 1) // elem
        load.append(Load(memory_type=kind, dram_base=base, y_size=y_size, x_size=x_size,
                         x_stride=stride))
    load.append(Load(memory_type=MemoryType.INP, push_next_dep=True))
    compute = [Finish(pop_prev_dep=True)]
    return builder.image(load + compute)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_compiled_loops_time_repeated_loads_like_stepping(name):
    rng = np.random.default_rng(100 + sorted(CONFIGS).index(name))
    python = {}
    for _ in range(8):
        assert_same_timing(repeating_program(CONFIGS[name], rng), python)
    assert "other" not in python
