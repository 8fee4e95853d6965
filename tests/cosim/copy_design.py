"""A small AXI test design with the ports and control registers of ``vta_core``.

On start it copies ``16 · INSN_COUNT`` bytes from ``INSN_ADDR`` to the bytes right after them,
one burst of at most 16 beats at a time: AR, the R beats into a buffer, then the W beats
*before* their AW (so the memory model's W buffering is exercised), AW, B. It holds RREADY and
BREADY low one cycle in four, so held beats and held responses are exercised too. CYCLES counts
the cycles from the start command to done; LOAD_BUSY counts R beats, STORE_BUSY W beats.
"""

from amaranth import Array, Cat, Module, Signal
from amaranth.back import verilog
from amaranth.hdl import ClockDomain

from vta.hardware.verilog import system_verilog
from vta.isa.registers import CONTROL_ADDR_BITS, Register

MAX_BEATS = 16


def copy_design_verilog(bus_bits: int) -> str:
    bus_bytes = bus_bits // 8
    if not 4 <= bus_bytes <= 16:
        raise ValueError(f"bus width {bus_bits} not supported by the copy design")
    m = Module()
    ports = {}

    def port(name, width):
        ports[name] = Signal(width, name=name)
        return ports[name]

    for name in ("awaddr", "araddr"):
        port(f"m_axi_{name}", 32)
    for name in ("awlen", "arlen"):
        port(f"m_axi_{name}", 8)
    for name in ("awsize", "arsize"):
        port(f"m_axi_{name}", 3)
    for name in ("awburst", "arburst", "bresp", "rresp"):
        port(f"m_axi_{name}", 2)
    for name in ("awvalid", "awready", "wlast", "wvalid", "wready", "bvalid", "bready",
                 "arvalid", "arready", "rlast", "rvalid", "rready"):
        port(f"m_axi_{name}", 1)
    port("m_axi_wdata", bus_bits), port("m_axi_rdata", bus_bits), port("m_axi_wstrb", bus_bytes)
    lite = {name: port(f"s_axi_control_{name}", width) for name, width in (
        ("awaddr", CONTROL_ADDR_BITS), ("awvalid", 1), ("awready", 1), ("wdata", 32), ("wstrb", 4),
        ("wvalid", 1), ("wready", 1), ("bresp", 2), ("bvalid", 1), ("bready", 1),
        ("araddr", CONTROL_ADDR_BITS), ("arvalid", 1), ("arready", 1), ("rdata", 32), ("rresp", 2),
        ("rvalid", 1), ("rready", 1))}
    axi = {name[len("m_axi_"):]: signal for name, signal in ports.items() if name.startswith("m_axi_")}
    rst = Signal(name="rst")

    insn_addr, insn_count = Signal(32), Signal(32)
    cycles, read_beats, write_beats = Signal(32), Signal(32), Signal(32)
    done, busy, start = Signal(), Signal(), Signal()
    src, dst, remaining = Signal(32), Signal(32), Signal(32)
    burst, index, phase = Signal(5), Signal(5), Signal(2)
    buffer = Array(Signal(bus_bits, name=f"beat{i}") for i in range(MAX_BEATS))

    # Control slave: a write is taken when address and data are both valid.
    m.d.comb += [lite["awready"].eq(lite["awvalid"] & lite["wvalid"] & ~lite["bvalid"]),
                 lite["wready"].eq(lite["awready"]), lite["arready"].eq(~lite["rvalid"]),
                 lite["bresp"].eq(0), lite["rresp"].eq(0)]
    m.d.comb += start.eq(0)
    with m.If(lite["awready"]):
        m.d.sync += lite["bvalid"].eq(1)
        with m.Switch(lite["awaddr"]):
            with m.Case(Register.INSN_ADDR):
                m.d.sync += insn_addr.eq(lite["wdata"])
            with m.Case(Register.INSN_COUNT):
                m.d.sync += insn_count.eq(lite["wdata"])
            with m.Case(Register.CONTROL):
                m.d.comb += start.eq(lite["wdata"][0])
    with m.Elif(lite["bvalid"] & lite["bready"]):
        m.d.sync += lite["bvalid"].eq(0)
    readable = {Register.STATUS: Cat(done, busy), Register.INSN_ADDR: insn_addr,
                Register.INSN_COUNT: insn_count, Register.CYCLES: cycles,
                Register.LOAD_BUSY: read_beats, Register.STORE_BUSY: write_beats}
    with m.If(lite["arvalid"] & lite["arready"]):
        m.d.sync += lite["rvalid"].eq(1)
        with m.Switch(lite["araddr"]):
            for register, value in readable.items():
                with m.Case(register):
                    m.d.sync += lite["rdata"].eq(value)
            with m.Default():
                m.d.sync += lite["rdata"].eq(0)
    with m.Elif(lite["rvalid"] & lite["rready"]):
        m.d.sync += lite["rvalid"].eq(0)

    m.d.sync += phase.eq(phase + 1)
    m.d.comb += [axi["arsize"].eq(bus_bytes.bit_length() - 1), axi["awsize"].eq(axi["arsize"]),
                 axi["arburst"].eq(1), axi["awburst"].eq(1), axi["wstrb"].eq(-1),
                 axi["araddr"].eq(src), axi["awaddr"].eq(dst),
                 axi["arlen"].eq(burst - 1), axi["awlen"].eq(burst - 1),
                 axi["wdata"].eq(buffer[index]), axi["wlast"].eq(index == burst - 1)]
    with m.If(busy):
        m.d.sync += cycles.eq(cycles + 1)
    with m.FSM():
        with m.State("IDLE"):
            with m.If(start):
                m.d.sync += [busy.eq(1), done.eq(0), cycles.eq(1), src.eq(insn_addr),
                             dst.eq(insn_addr + insn_count * 16), remaining.eq(insn_count * (16 // bus_bytes)),
                             read_beats.eq(0), write_beats.eq(0)]
                m.next = "NEXT"
        with m.State("NEXT"):
            with m.If(remaining == 0):
                m.d.sync += [busy.eq(0), done.eq(1)]
                m.next = "IDLE"
            with m.Else():
                m.d.sync += [burst.eq(MAX_BEATS), index.eq(0)]
                with m.If(remaining < MAX_BEATS):
                    m.d.sync += burst.eq(remaining)
                m.next = "AR"
        with m.State("AR"):
            m.d.comb += axi["arvalid"].eq(1)
            with m.If(axi["arready"]):
                m.next = "R"
        with m.State("R"):
            m.d.comb += axi["rready"].eq(phase != 3)
            with m.If(axi["rvalid"] & axi["rready"]):
                m.d.sync += [buffer[index].eq(axi["rdata"]), index.eq(index + 1),
                             read_beats.eq(read_beats + 1)]
                with m.If(axi["rlast"]):
                    m.d.sync += index.eq(0)
                    m.next = "W"
        with m.State("W"):
            m.d.comb += axi["wvalid"].eq(1)
            with m.If(axi["wready"]):
                m.d.sync += [index.eq(index + 1), write_beats.eq(write_beats + 1)]
                with m.If(axi["wlast"]):
                    m.next = "AW"
        with m.State("AW"):
            m.d.comb += axi["awvalid"].eq(1)
            with m.If(axi["awready"]):
                m.next = "B"
        with m.State("B"):
            m.d.comb += axi["bready"].eq(phase != 3)
            with m.If(axi["bvalid"] & axi["bready"]):
                m.d.sync += [src.eq(src + burst * bus_bytes), dst.eq(dst + burst * bus_bytes),
                             remaining.eq(remaining - burst)]
                m.next = "NEXT"

    m.domains.sync = sync = ClockDomain("sync")
    clk = Signal(name="clk")
    m.d.comb += [sync.clk.eq(clk), sync.rst.eq(rst)]
    # SystemVerilog ``always_comb``, as vta.hardware.verilog writes it (docs/cosim.md).
    return system_verilog(verilog.convert(m, name="vta_core", ports=[clk, rst, *ports.values()],
                                          emit_src=False, strip_internal_attrs=True))
