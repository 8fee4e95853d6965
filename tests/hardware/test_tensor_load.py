"""2-D strided loads with zero padding (isa-reference §4.1), through the AXI master to a memory
model, against a numpy gold model of the SRAM image."""

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import memory, stream, wiring
from amaranth.sim import Simulator
from padded_block import padded_block
from vta.runtime.backends.rtl.amaranth_simulation import AxiMemory

from vta.hardware.axi_master import AxiMaster
from vta.hardware.layouts import insn_layout
from vta.hardware.tensor_load import TensorLoad
from vta.isa import Config, Load, MemoryType, encode

SMALL = Config.preset("pynq").replace(LOG_BLOCK=2, LOG_UOP_BUFF_SIZE=10, LOG_INP_BUFF_SIZE=8,
                                      LOG_WGT_BUFF_SIZE=10, LOG_ACC_BUFF_SIZE=10, LOG_BUS_WIDTH=5)
PYNQ = Config.preset("pynq")
DRAM_BYTES = 1 << 16


def gold_load(sram: np.ndarray, dram: np.ndarray, insn: Load, elem: int):
    """Writes the padded block of `insn` into `sram` (rows of `elem` bytes)."""
    for index, element in padded_block(insn):
        sram[index] = 0 if element is None else dram[element * elem:(element + 1) * elem]


class LoadHarness(wiring.Component):
    def __init__(self, config, memory_type):
        self.config, self.memory_type = config, memory_type
        self.loader = TensorLoad(config=config, memory_type=memory_type)
        self.master = AxiMaster(config=config, read_clients=("load",))
        self.mem = memory.Memory(shape=config.elem_bytes(memory_type) * 8,
                                 depth=config.depth(memory_type), init=[])
        super().__init__({"cmd": wiring.In(stream.Signature(insn_layout(config))),
                          "busy": wiring.Out(1),
                          "axi": wiring.Out(self.master.axi.signature)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.loader, m.submodules.master, m.submodules.mem = self.loader, self.master, self.mem
        wiring.connect(m, wiring.flipped(self.cmd), self.loader.cmd)
        wiring.connect(m, self.loader.rd, self.master.rd_load)
        wiring.connect(m, self.loader.sram, self.mem.write_port(granularity=self.config.bus_bits))
        wiring.connect(m, wiring.flipped(self.axi), self.master.axi)
        m.d.comb += self.busy.eq(self.loader.busy)
        return m


def run_loads(config, memory_type, insns, stall_period=0):
    elem = config.elem_bytes(memory_type)
    rng = np.random.default_rng(len(insns))
    dram = rng.integers(0, 256, DRAM_BYTES, dtype=np.uint8)
    expected = np.full((config.depth(memory_type), elem), 0x5A, dtype=np.uint8)
    dut = LoadHarness(config, memory_type)
    model = AxiMemory(dut.axi, dram, config=config.replace(MEM_READ_LATENCY=7),
                      stall_period=stall_period)
    sram = np.full_like(expected, 0x5A)

    async def host(ctx):
        for insn in insns:
            word = int.from_bytes(encode(insn, config), "little")
            ctx.set(dut.cmd.payload.as_value(), word)
            ctx.set(dut.cmd.valid, 1)
            await ctx.tick().until(dut.cmd.ready)
            ctx.set(dut.cmd.valid, 0)
            await ctx.tick()
            await ctx.tick().until(~dut.busy)
            gold_load(expected, dram, insn, elem)
        for index in range(len(sram)):
            value = ctx.get(dut.mem.data[index])
            sram[index] = np.frombuffer(int(value).to_bytes(elem, "little"), np.uint8)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(model.run, background=True)

    async def fill(ctx):
        for index in range(len(sram)):
            ctx.set(dut.mem.data[index], int.from_bytes(bytes([0x5A] * elem), "little"))
        await host(ctx)

    sim.add_testbench(fill)
    sim.run()
    np.testing.assert_array_equal(sram, expected)
    return model


LOADS = [
    Load(memory_type=MemoryType.INP, sram_base=3, dram_base=40, y_size=3, x_size=4, x_stride=9,
         y_pad_0=1, y_pad_1=2, x_pad_0=2, x_pad_1=1),
    Load(memory_type=MemoryType.INP, sram_base=0, dram_base=7, y_size=2, x_size=3, x_stride=1),
    Load(memory_type=MemoryType.INP, sram_base=40, dram_base=0, y_size=0, x_size=2,
         x_stride=2, y_pad_0=1, x_pad_0=1),
    Load(memory_type=MemoryType.INP, sram_base=20, dram_base=300, y_size=1, x_size=1,
         x_stride=0, y_pad_0=15, y_pad_1=0, x_pad_0=0, x_pad_1=0),
    Load(memory_type=MemoryType.INP, sram_base=10, dram_base=1000, y_size=2, x_size=10,
         x_stride=0, x_pad_1=15),
]


@pytest.mark.parametrize("stalls", [False, True], ids=["no-stall", "stall"])
def test_inp_loads_with_padding(stalls):
    model = run_loads(SMALL, MemoryType.INP, LOADS, stall_period=3 if stalls else 0)
    assert model.bursts


@pytest.mark.parametrize("memory_type", [MemoryType.WGT, MemoryType.ACC])
def test_wide_tile_loads(memory_type):
    """WGT (32 bus words per tile) and ACC (8) on the pynq config."""
    run_loads(PYNQ, memory_type, [
        Load(memory_type=memory_type, sram_base=5, dram_base=3, y_size=2, x_size=2, x_stride=5,
             y_pad_0=1, x_pad_0=1, x_pad_1=1),
    ])
