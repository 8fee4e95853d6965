"""Control slave: the register map of vta.isa.registers over AXI4-Lite, counters, and the
register documentation."""

import re
from pathlib import Path

from amaranth.sim import Simulator

from vta.hardware.control import EVENT_REGISTERS, ControlSlave
from vta.runtime.backends.rtl.amaranth_simulation import axil_read, axil_write
from vta.isa.registers import CONTROL_START, STATUS_BUSY, STATUS_DONE, Register

DOCS = Path(__file__).resolve().parents[2] / "docs" / "registers.md"


def test_registers_run_state_and_counters():
    dut = ControlSlave()
    seen = {}

    async def testbench(ctx):
        bus = dut.s_axi
        await axil_write(ctx, bus, Register.INSN_ADDR, 0x1230)
        await axil_write(ctx, bus, Register.INSN_COUNT, 77)
        seen["addr"] = await axil_read(ctx, bus, Register.INSN_ADDR)
        seen["count"] = await axil_read(ctx, bus, Register.INSN_COUNT)
        assert (ctx.get(dut.insn_addr), ctx.get(dut.insn_count)) == (0x1230, 77)
        ctx.set(dut.load_busy, 1)
        ctx.set(dut.store_stall, 1)
        await axil_write(ctx, bus, Register.CONTROL, CONTROL_START)
        seen["status_running"] = await axil_read(ctx, bus, Register.STATUS)
        ctx.set(dut.store_stall, 0)
        await ctx.tick().repeat(10)
        ctx.set(dut.finish, 1)
        await ctx.tick()
        ctx.set(dut.finish, 0)
        ctx.set(dut.load_busy, 0)
        await ctx.tick().repeat(5)
        seen["status_done"] = await axil_read(ctx, bus, Register.STATUS)
        for register in Register:
            seen[register.name] = await axil_read(ctx, bus, register)
        seen["unmapped"] = await axil_read(ctx, bus, 0xFC)

    async def start_watch(ctx):
        starts = 0
        async for _, _, start in ctx.tick().sample(dut.start):
            starts += start
            seen["starts"] = starts

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.add_testbench(start_watch, background=True)
    sim.run()
    assert (seen["addr"], seen["count"]) == (0x1230, 77)
    assert seen["starts"] == 1
    assert seen["status_running"] == STATUS_BUSY
    assert seen["status_done"] == STATUS_DONE
    cycles = seen["CYCLES"]
    assert 12 <= cycles <= 30            # the STATUS read, 10 idle cycles and the finish cycle
    assert seen["LOAD_BUSY"] == cycles   # high during the whole run
    assert 0 < seen["STORE_STALL"] < cycles
    assert seen["COMPUTE_BUSY"] == 0 and seen["CONTROL"] == 0 and seen["unmapped"] == 0


def test_every_register_is_documented():
    text = DOCS.read_text()
    for register in Register:
        assert re.search(rf"\| 0x{register.value:02X} \| `{register.name}` \|", text), register.name
    assert set(EVENT_REGISTERS.values()) <= set(Register)
