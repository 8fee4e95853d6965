"""AXI4 (full, master view) and AXI4-Lite (master view) signatures.

A master uses ``Out(Axi4Signature(...))``, a slave ``In(...)``. Member names are the AXI
channel signal names without the interface prefix (``awaddr``, ``rdata``, ...).
"""

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

BURST_INCR = 0b01


class Axi4Signature(wiring.Signature):
    """AXI4 master interface (no ID, lock, cache, prot, qos, region or user signals)."""

    def __init__(self, *, addr_width: int, data_width: int):
        if data_width % 8 or data_width < 8:
            raise ValueError(f"AXI data width must be a positive multiple of 8, not {data_width}")
        self.addr_width, self.data_width = addr_width, data_width
        super().__init__({
            "awaddr": Out(addr_width), "awlen": Out(8), "awsize": Out(3), "awburst": Out(2),
            "awvalid": Out(1), "awready": In(1),
            "wdata": Out(data_width), "wstrb": Out(data_width // 8), "wlast": Out(1),
            "wvalid": Out(1), "wready": In(1),
            "bresp": In(2), "bvalid": In(1), "bready": Out(1),
            "araddr": Out(addr_width), "arlen": Out(8), "arsize": Out(3), "arburst": Out(2),
            "arvalid": Out(1), "arready": In(1),
            "rdata": In(data_width), "rresp": In(2), "rlast": In(1), "rvalid": In(1),
            "rready": Out(1),
        })


class AxiLiteSignature(wiring.Signature):
    """AXI4-Lite master interface with 32-bit data (no prot signals)."""

    def __init__(self, *, addr_width: int):
        self.addr_width = addr_width
        super().__init__({
            "awaddr": Out(addr_width), "awvalid": Out(1), "awready": In(1),
            "wdata": Out(32), "wstrb": Out(4), "wvalid": Out(1), "wready": In(1),
            "bresp": In(2), "bvalid": In(1), "bready": Out(1),
            "araddr": Out(addr_width), "arvalid": Out(1), "arready": In(1),
            "rdata": In(32), "rresp": In(2), "rvalid": In(1), "rready": Out(1),
        })
