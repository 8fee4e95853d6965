"""Write the synthesizable Verilog of the VTA core (module vta_core, AXI4 master m_axi_*,
AXI4-Lite control slave s_axi_control_*) for a configuration. The output is deterministic; it is
generated once per config and design and then read from the cache (`vta cache info`)."""

from pathlib import Path

from vta.cli.common import add_config_options, check_outputs, config_from, write_atomically
from vta.cli.output import add_output_options

NAME = "verilog"
HELP = "generate the core's Verilog for a configuration"


def add_arguments(parser):
    add_config_options(parser)
    parser.add_argument("-o", "--output", metavar="FILE", type=Path, required=True,
                        help="write the Verilog to FILE (e.g. vta.v)")
    parser.add_argument("--sv", action="store_true",
                        help="SystemVerilog always_comb form (default: plain Verilog-2005)")
    add_output_options(parser, json=False)


def run(args) -> int:
    from vta.runtime.backends.rtl.verilog import core_verilog

    check_outputs([args.output], [args.config])
    config = config_from(args)
    write_atomically(args.output, core_verilog(config, sv=args.sv).encode())
    return 0
