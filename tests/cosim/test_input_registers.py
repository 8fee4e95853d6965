"""The fast harness's wrapper (`harnesses.input_registers`): which inputs go through registers,
with which initial values, and the error for Verilog without the top module."""

import re

import pytest

from vta.isa import VtaError
from vta.runtime.backends.rtl.harnesses import input_registers

CORE = """module other(a);
  input a;
endmodule
module vta_core(clk, rst, m_axi_rdata, m_axi_arready, m_axi_arvalid, s_axi_control_awvalid);
  input clk;
  input rst;
  input [63:0] m_axi_rdata;
  input m_axi_arready;
  output m_axi_arvalid;
  input s_axi_control_awvalid;
  wire x;
endmodule
"""


def test_reset_and_memory_inputs_are_registered_with_the_harness_initial_values():
    wrapper = input_registers(CORE)
    assert wrapper.startswith("module vta_fast_top(clk, rst, m_axi_rdata, m_axi_arready, "
                              "m_axi_arvalid, s_axi_control_awvalid);")
    registers = dict(re.findall(r"reg (?:\[\d+:\d+\] )?(\w+)_q = (\d);", wrapper))
    assert registers == {"rst": "1", "m_axi_rdata": "0", "m_axi_arready": "1"}
    assert "input [63:0] m_axi_rdata;" in wrapper and "reg [63:0] m_axi_rdata_q = 0;" in wrapper
    for port in registers:
        assert f"always @(posedge clk) {port}_q <= {port};" in wrapper
        assert f".{port}({port}_q)" in wrapper
    for port in ("clk", "m_axi_arvalid", "s_axi_control_awvalid"):  # wired through
        assert f".{port}({port})" in wrapper
    assert "  vta_core core (" in wrapper and "other" not in wrapper


def test_verilog_without_the_top_module_is_an_error():
    with pytest.raises(VtaError, match="no module vta_core"):
        input_registers(CORE.replace("vta_core", "vta_other"))
