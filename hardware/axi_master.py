"""The core's single AXI4 master: read arbitration between several clients and one writer.

A *read client* sends commands ``{addr, words}`` (a byte address aligned to the bus and a count
of bus words) and receives exactly ``words`` bus words back, in order. The master grants one
command at a time (round robin between clients), splits it into INCR bursts of at most the
machine's `max_burst_beats` that never cross a multiple of its `burst_boundary_bytes`, keeps up
to `max_outstanding_reads` bursts in flight and routes
each returned beat to the client that asked for it. Clients must keep accepting the data they
asked for (they may pause, never refuse for good), so one slow client cannot deadlock another.

The *write client* sends commands ``{addr, words}`` and then the words themselves; ``idle`` is
high when every accepted command has been written and acknowledged (B channel).
"""

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2, exact_log2

from vta.hardware.axi import BURST_INCR, Axi4Signature
from vta.isa import Config
from vta.isa.machine import Machine

ADDR_BITS = 32
#: Width of a word count: enough for the largest 2-D row (65535 tiles of the widest element).
WORDS_BITS = 28


def transfer_layout() -> data.StructLayout:
    return data.StructLayout({"addr": ADDR_BITS, "words": WORDS_BITS})


class ReadClientSignature(wiring.Signature):
    """Client view: ``cmd`` out, ``data`` (bus words) in."""

    def __init__(self, config: Config):
        super().__init__({"cmd": Out(stream.Signature(transfer_layout())),
                          "data": In(stream.Signature(config.bus_bits))})


class WriteClientSignature(wiring.Signature):
    """Client view: ``cmd`` and ``data`` out, ``idle`` in."""

    def __init__(self, config: Config):
        super().__init__({"cmd": Out(stream.Signature(transfer_layout())),
                          "data": Out(stream.Signature(config.bus_bits)),
                          "idle": In(1)})


def burst_beats(m: Module, addr, remaining, bus_bytes: int, machine: Machine):
    """Beats of the next burst: at most `max_burst_beats`, at most `remaining`, not crossing a
    multiple of `burst_boundary_bytes`."""
    boundary, longest = machine.burst_boundary_bytes, machine.max_burst_beats
    to_boundary = Signal(range(boundary // bus_bytes + 1))
    beats = Signal(range(longest + 1))
    m.d.comb += to_boundary.eq((boundary - addr[:exact_log2(boundary)]) >> exact_log2(bus_bytes))
    cap = Mux(to_boundary < longest, to_boundary, longest)
    m.d.comb += beats.eq(Mux(remaining < cap, remaining, cap))
    return beats


def round_robin(m: Module, requests: list, last) -> Signal:
    """Index of the requesting client that follows `last` in circular order."""
    count = len(requests)
    pick = Signal(range(count), name="rr_pick")
    with m.Switch(last):
        for previous in range(count):
            with m.Case(previous):
                order = [(previous + 1 + offset) % count for offset in range(count)]
                for index in reversed(order):
                    with m.If(requests[index]):
                        m.d.comb += pick.eq(index)
    return pick


class AxiMaster(wiring.Component):
    """AXI4 master shared by the read clients `read_clients` (names) and one write client.

    Ports
    -----
    axi : ``Out(Axi4Signature(addr_width=32, data_width=config.bus_bits))``
    rd_<name> : ``In(ReadClientSignature(config))`` for each read client
    wr : ``In(WriteClientSignature(config))``
    """

    def __init__(self, *, config: Config, read_clients: tuple[str, ...]):
        if not read_clients:
            raise ValueError("the AXI master needs at least one read client")
        self.config, self.read_clients = config, read_clients
        members = {"axi": Out(Axi4Signature(addr_width=ADDR_BITS, data_width=config.bus_bits)),
                   "wr": In(WriteClientSignature(config))}
        members |= {f"rd_{name}": In(ReadClientSignature(config)) for name in read_clients}
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        self._elaborate_read(m)
        self._elaborate_write(m)
        return m

    def _elaborate_read(self, m: Module):
        axi, bus_bytes = self.axi, self.config.bus_bytes
        clients = [getattr(self, f"rd_{name}") for name in self.read_clients]
        m.submodules.read_inflight = inflight = fifo.SyncFIFOBuffered(
            width=ceil_log2(len(clients)) or 1, depth=self.config.machine.max_outstanding_reads)

        active = Signal()
        grant = Signal(range(len(clients)))
        addr = Signal(ADDR_BITS)
        remaining = Signal(WORDS_BITS)
        beats = burst_beats(m, addr, remaining, bus_bytes, self.config.machine)

        pick = round_robin(m, [client.cmd.valid for client in clients], grant)
        with m.If(~active):
            with m.Switch(pick):
                for index, client in enumerate(clients):
                    with m.Case(index):
                        m.d.comb += client.cmd.ready.eq(1)
                        with m.If(client.cmd.valid):
                            m.d.sync += [grant.eq(index), addr.eq(client.cmd.payload.addr),
                                         remaining.eq(client.cmd.payload.words),
                                         active.eq(client.cmd.payload.words != 0)]

        m.d.comb += [axi.araddr.eq(addr), axi.arlen.eq(beats - 1),
                     axi.arsize.eq(exact_log2(bus_bytes)), axi.arburst.eq(BURST_INCR),
                     axi.arvalid.eq(active & inflight.w_rdy),
                     inflight.w_data.eq(grant)]
        with m.If(axi.arvalid & axi.arready):
            m.d.comb += inflight.w_en.eq(1)
            m.d.sync += [addr.eq(addr + beats * bus_bytes), remaining.eq(remaining - beats)]
            with m.If(remaining == beats):
                m.d.sync += active.eq(0)

        owner_ready = Signal()
        for index, client in enumerate(clients):
            selected = inflight.r_rdy & (inflight.r_data == index)
            m.d.comb += [client.data.payload.eq(axi.rdata),
                         client.data.valid.eq(axi.rvalid & selected)]
            with m.If(selected):
                m.d.comb += owner_ready.eq(client.data.ready)
        m.d.comb += axi.rready.eq(inflight.r_rdy & owner_ready)
        m.d.comb += inflight.r_en.eq(axi.rvalid & axi.rready & axi.rlast)

    def _elaborate_write(self, m: Module):
        axi, wr, bus_bytes, machine = self.axi, self.wr, self.config.bus_bytes, self.config.machine
        m.submodules.write_bursts = bursts = fifo.SyncFIFOBuffered(
            width=ceil_log2(machine.max_burst_beats + 1), depth=machine.max_outstanding_writes)

        active = Signal()
        addr = Signal(ADDR_BITS)
        remaining = Signal(WORDS_BITS)
        beats = burst_beats(m, addr, remaining, bus_bytes, machine)
        m.d.comb += wr.cmd.ready.eq(~active)
        with m.If(wr.cmd.valid & wr.cmd.ready):
            m.d.sync += [addr.eq(wr.cmd.payload.addr), remaining.eq(wr.cmd.payload.words),
                         active.eq(wr.cmd.payload.words != 0)]

        m.d.comb += [axi.awaddr.eq(addr), axi.awlen.eq(beats - 1),
                     axi.awsize.eq(exact_log2(bus_bytes)), axi.awburst.eq(BURST_INCR),
                     axi.awvalid.eq(active & bursts.w_rdy), bursts.w_data.eq(beats)]
        aw_done = axi.awvalid & axi.awready
        with m.If(aw_done):
            m.d.comb += bursts.w_en.eq(1)
            m.d.sync += [addr.eq(addr + beats * bus_bytes), remaining.eq(remaining - beats)]
            with m.If(remaining == beats):
                m.d.sync += active.eq(0)

        beat = Signal(range(machine.max_burst_beats + 1))
        last = bursts.r_rdy & (beat + 1 == bursts.r_data)
        m.d.comb += [axi.wdata.eq(wr.data.payload), axi.wstrb.eq(Const(-1, bus_bytes)),
                     axi.wlast.eq(last), axi.wvalid.eq(bursts.r_rdy & wr.data.valid),
                     wr.data.ready.eq(bursts.r_rdy & axi.wready)]
        with m.If(axi.wvalid & axi.wready):
            m.d.sync += beat.eq(Mux(last, 0, beat + 1))
            m.d.comb += bursts.r_en.eq(last)

        outstanding = Signal(range(1024))
        m.d.comb += axi.bready.eq(1)
        b_done = axi.bvalid & axi.bready
        with m.If(aw_done & ~b_done):
            m.d.sync += outstanding.eq(outstanding + 1)
        with m.Elif(b_done & ~aw_done):
            m.d.sync += outstanding.eq(outstanding - 1)
        m.d.comb += wr.idle.eq(~active & (outstanding == 0) & ~(wr.cmd.valid & wr.cmd.ready))
