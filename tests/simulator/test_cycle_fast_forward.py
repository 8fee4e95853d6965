"""The cycle model's fast-forward (docs/cycle-model.md, "Repeating transfers") against stepping
every grant and burst: identical cycles, module counters, bus beats and instruction timeline on
the corpus and on programs of long, padded, page-crossing loads of several clients at once —
which do take both shortcuts (repeated transfers of a command, repeated bursts in a row)."""

import numpy as np
import pytest

from vta.isa import Config, Finish, Load, MemoryType, Store, Uop
from vta.isa.image import ProgramImage
from vta.simulator.cycle import CycleModel
from vta.simulator.cycle import clients, write_port

from corpus import CORPUS
from image_builder import ImageBuilder

PYNQ = Config.preset("pynq")
CONFIGS = {"pynq": PYNQ,
           "1x32-8/4": PYNQ.replace(LOG_BLOCK=5, MEM_READ_LATENCY=8, MEM_WRITE_LATENCY=4),
           "128bit-64/32": PYNQ.replace(LOG_BUS_WIDTH=7, MEM_READ_LATENCY=64, MEM_WRITE_LATENCY=32),
           "latency-200": PYNQ.replace(MEM_READ_LATENCY=200)}


def assert_same_timing(image: ProgramImage, rows: dict | None = None) -> None:
    """Both runs agree; `rows` counts the STORE rows each one timed burst by burst."""
    args = image.program, image.insn_addr, image.dram
    rows = {} if rows is None else rows
    fast = count_store_rows(rows, "fast", lambda: CycleModel(image.config).run(*args))
    step = count_store_rows(rows, "step",
                            lambda: CycleModel(image.config, fast_forward=False).run(*args))
    assert (fast.cycles, fast.modules, fast.bus) == (step.cycles, step.modules, step.bus)
    assert fast.timeline == step.timeline


def count_store_rows(rows: dict, key: str, run):
    burst_sizes = write_port.burst_sizes

    def counted(*args):
        rows[key] = rows.get(key, 0) + 1
        return burst_sizes(*args)

    write_port.burst_sizes = counted
    try:
        return run()
    finally:
        write_port.burst_sizes = burst_sizes


def streaming_program(config: Config, rng: np.random.Generator) -> ProgramImage:
    """Long LOADs of INP and WGT (load module) while the compute module loads ACC and the store
    module stores: random row lengths, strides (crossing 4 KiB pages anywhere), pads and buffer
    offsets; FINISH after the load module's last LOAD and the last STORE."""
    builder = ImageBuilder(config)
    uop_base = builder.uops([Uop(0, 0, 0)])
    data = builder.reserve(1 << 20, MemoryType.INP)
    load, compute = [], [Load(memory_type=MemoryType.UOP, dram_base=uop_base, y_size=1, x_size=1,
                              x_stride=1)]
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
def test_fast_forward_times_streaming_loads_like_stepping(name, monkeypatch):
    taken = {"transfers": 0, "bursts": 0}
    skip, skip_words = clients.TensorLoadClient.skip, clients.TensorLoadClient.skip_words

    def counting(kind, method):
        def wrapped(self, *args):
            taken[kind] += 1
            return method(self, *args)
        return wrapped

    monkeypatch.setattr(clients.TensorLoadClient, "skip", counting("transfers", skip))
    monkeypatch.setattr(clients.TensorLoadClient, "skip_words", counting("bursts", skip_words))
    rng = np.random.default_rng(sorted(CONFIGS).index(name))
    rows = {}
    for _ in range(12):
        assert_same_timing(streaming_program(CONFIGS[name], rng), rows)
    assert rows["fast"] < rows["step"]     # repeated STORE rows were timed at once
    if name != "latency-200":   # latency-bound: bursts never settle into a channel-bound train
        assert taken["bursts"] > 0
    assert taken["transfers"] > 0


@pytest.mark.parametrize("config_dir", ["vta-1x16", "vta-1x32"])
def test_fast_forward_times_the_corpus_like_stepping(config_dir):
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
def test_fast_forward_replays_repeated_loads_like_stepping(name, monkeypatch):
    from vta.simulator.cycle import read_port

    taken = {"replays": 0, "page periods": 0}
    replay, jump = read_port.ReadPort._replay, read_port.ReadPort._jump

    def counted_replay(self, *args):
        taken["replays"] += 1
        return replay(self, *args)

    def counted_jump(self, old, new, commands):
        before = [c.next for c in commands]
        shift = jump(self, old, new, commands)
        row_bytes = [c.words * self.bus_bytes for c in commands]
        if any((c.first + row * c.stride) % self.boundary + size > self.boundary
               for c, first, size in zip(commands, before, row_bytes)
               for row in range(first, c.next)):
            taken["page periods"] += 1     # the rows jumped over cross a page boundary
        return shift

    monkeypatch.setattr(read_port.ReadPort, "_replay", counted_replay)
    monkeypatch.setattr(read_port.ReadPort, "_jump", counted_jump)
    rng = np.random.default_rng(100 + sorted(CONFIGS).index(name))
    for _ in range(8):
        assert_same_timing(repeating_program(CONFIGS[name], rng))
    assert taken["replays"] > 0
    assert taken["page periods"] > 0
