"""Reading a module's ports from Verilog text, in the two styles Yosys and we write."""

import pytest

from vta.fpga.ports import Port, module_ports
from vta.isa import VtaError

NON_ANSI = """
/* Generated */
module other(a); input a; endmodule
(* top = 1 *)
module top(clk, data, q,
  r);
  input clk;
  wire clk;
  input [15:0] data; // a comment: output [3:0] fake;
  output reg [0:3] q;
  output signed [31:0] r;
endmodule
"""

ANSI = """
module top (
  (* X_INTERFACE_INFO = "xilinx.com:signal:clock:1.0 clk CLK" *)
  input wire clk,
  input wire [15:0] data,
  output wire [3:0] q, output wire [31:0] r
);
endmodule
"""

EXPECTED = [Port("clk", "input", 1), Port("data", "input", 16), Port("q", "output", 4),
            Port("r", "output", 32)]


@pytest.mark.parametrize("text", [NON_ANSI, ANSI], ids=["non-ansi", "ansi"])
def test_ports_in_header_order(text):
    assert module_ports(text, "top") == EXPECTED


def test_missing_module_and_undeclared_port():
    with pytest.raises(VtaError, match="no module absent"):
        module_ports(NON_ANSI, "absent")
    with pytest.raises(VtaError, match="port b has no direction"):
        module_ports("module m(a, b); input a; endmodule", "m")
