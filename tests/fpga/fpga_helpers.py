"""Helpers of the FPGA tests: the core's Verilog (through the rtl backend's disk cache) and a
Tcl interpreter that runs a Vivado script with every Vivado command recorded, not executed."""

from __future__ import annotations

import inspect
import tkinter
from dataclasses import dataclass
from pathlib import Path

from vta.isa import Config

#: Tcl stubs: Vivado commands are recorded by `unknown` and return their last argument (so
#: ``[get_bd_pins a/b]`` is ``a/b``); the few whose value the script inspects are defined.
STUBS = r"""
set ::vivado_calls {}
proc unknown {args} { lappend ::vivado_calls $args; return [lindex $args end] }
proc get_property {name object} {
    lappend ::vivado_calls [list get_property $name $object]
    switch -glob -- $name {
        PROGRESS {return 100%}
        STATS.WNS {return $::stub_wns}
        DIRECTORY {return /stub/impl_1}
        CONFIG.*ACT* {return $::stub_reached_mhz}
        default {return ""}
    }
}
rename file _tcl_file
proc file {sub args} {
    if {$sub in {copy mkdir delete}} { lappend ::vivado_calls [list file $sub {*}$args]; return }
    return [_tcl_file $sub {*}$args]
}
proc glob {args} { return [list /stub/project/gen/sources_1/bd/vta/hw_handoff/vta.hwh] }
"""


def core_verilog(config: Config) -> str:
    """`vta.hardware.verilog.generate_verilog(config)` with its default options (what
    `vta fpga` synthesizes), cached on disk across test runs."""
    from vta.hardware.verilog import generate_verilog
    from vta.runtime.backends.rtl.verilog import core_verilog as cached

    return cached(config, sv=inspect.signature(generate_verilog).parameters["sv"].default)


@dataclass
class Call:
    command: str
    args: list[str]

    def option(self, name: str) -> str:
        return self.args[self.args.index(name) + 1]


def run_vivado_script(script: Path, *, reached_mhz: float, wns: float = 0.5) -> list[Call]:
    """Source `script` in a Tcl interpreter with Vivado stubbed; the Vivado calls it made."""
    tcl = tkinter.Tcl()
    tcl.eval(STUBS)
    tcl.eval(f"set ::stub_reached_mhz {reached_mhz}; set ::stub_wns {wns}")
    tcl.eval(f"source {{{script}}}")
    calls = []
    for call in tcl.splitlist(tcl.eval("set ::vivado_calls")):
        words = list(tcl.splitlist(call))
        calls.append(Call(words[0], words[1:]))
    return calls


def calls_of(calls: list[Call], command: str) -> list[Call]:
    return [call for call in calls if call.command == command]


def property_dict(tcl_list: str) -> dict[str, str]:
    """A ``set_property -dict`` list as a dict."""
    words = tkinter.Tcl().splitlist(tcl_list)
    return dict(zip(words[::2], words[1::2]))
