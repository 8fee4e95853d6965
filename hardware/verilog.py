"""Verilog generation for the core: module `vta_core` with AXI-convention port names.

Amaranth flattens interface members as ``m_axi__araddr``; the wrapper below exposes plain
signals named ``m_axi_araddr``, ``s_axi_control_awaddr``... plus ``clk`` and ``rst``
(synchronous, active high).
"""

import re

from amaranth.back import verilog
from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.lib import wiring

from vta.hardware.core import VtaCore
from vta.isa import Config, progress

TOP_NAME = "vta_core"
#: Interfaces of the core and the prefix of their ports in the Verilog.
INTERFACES = {"m_axi": "m_axi_", "s_axi_control": "s_axi_control_"}
#: Yosys's time-0 trigger for ``always @*`` blocks (a register and an empty ``if`` per block),
#: which SystemVerilog's ``always_comb`` makes unnecessary.
_TIME_ZERO_TRIGGER = re.compile(
    r"^\s*reg \\\$auto\$verilog_backend\.cc:\d+:dump_module\$\d+\s*=\s*0;\n"
    r"|^\s*if \(\\\$auto\$verilog_backend\.cc:\d+:dump_module\$\d+ \) begin end\n", re.M)


class VtaCoreTop(Elaboratable):
    """`VtaCore` with its interface members as plain, AXI-named signals (``.ports``)."""

    def __init__(self, *, config: Config):
        self.core = VtaCore(config=config)
        self.signals = {}
        for interface, prefix in INTERFACES.items():
            for path, member, value in getattr(self.core, interface).signature.flatten(
                    getattr(self.core, interface)):
                name = prefix + "_".join(str(part) for part in path)
                self.signals[name] = (Signal(member.shape, name=name), value, member.flow)
        self.ports = [signal for signal, _, _ in self.signals.values()]

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = self.core
        for signal, inner, flow in self.signals.values():
            if flow == wiring.Out:
                m.d.comb += signal.eq(inner)
            else:
                m.d.comb += inner.eq(signal)
        return m


def system_verilog(text: str) -> str:
    """Yosys's Verilog-2005 text with its processes written as SystemVerilog ``always_ff`` and
    ``always_comb``: the text yosys's ``write_verilog -sv`` gives (byte for byte on the pynq
    core), through Amaranth's public `verilog.convert` only."""
    text = _TIME_ZERO_TRIGGER.sub("", text)
    text = re.sub(r"^(\s*)always @\(posedge", r"\1always_ff @(posedge", text, flags=re.M)
    return re.sub(r"^(\s*)always @\*", r"\1always_comb", text, flags=re.M)


def generate_verilog(config: Config, *, sv: bool = False) -> str:
    """Synthesisable, deterministic Verilog of the core for `config`.

    By default plain Verilog-2005 (``always @*``; simulate with Icarus ``-g2005``). With `sv`,
    combinational processes are written as SystemVerilog ``always_comb``, which Icarus
    ``-g2012`` evaluates at time 0 — but Icarus 11 includes every bit of a vector in an
    ``always_*`` sensitivity list, and on the full-size core that makes it hang (docs/hardware.md).
    """
    with progress.step(f"generating the Verilog of {config.config_string} (Amaranth, Yosys)"):
        top = VtaCoreTop(config=config)
        text = verilog.convert(top, name=TOP_NAME, ports=top.ports, emit_src=False,
                               strip_internal_attrs=True)
        return system_verilog(text) if sv else text
