"""`harnesses.registers_updated_in_place`: which of yosys's next-state blocks become one
``always_ff`` block, on hand-written text in yosys's form. (That the rewritten core runs
cycle for cycle as before: the cocotb harness, which simulates the text as generated, against
the fast harness in test_rtl_backend.py.)"""

from vta.runtime.backends.rtl.harnesses import registers_updated_in_place

MODULE = r"""module m(clk, rst, en, d, q, p);
  reg [7:0] \$1 ;
  reg [7:0] \$2 ;
  reg [7:0] \$3 ;
  reg [7:0] q = 8'h00;
  reg [7:0] p = 8'h00;
  reg [7:0] r = 8'h00;
  always_ff @(posedge clk)
    q <= \$1 ;
  always_ff @(posedge clk)
    p <= \$2 ;
  always_ff @(posedge clk)
    r <= \$3 ;
  always_comb begin
    \$1  = q;
    if (en) begin
      \$1 [3:0] = d[3:0];
    end
    if (rst) begin
      \$1  = 8'h00;
    end
  end
  always_comb begin
    \$2  = p;
    if (en) begin
      \$2  = \$2  + 8'h01;
    end
  end
  always_comb begin
    \$3  = r;
    if (en) begin
      \$3  = d;
    end
  end
  assign x = \$3 ;
endmodule
"""


def test_a_register_kept_unless_a_condition_says_otherwise_becomes_one_always_ff_block():
    text = registers_updated_in_place(MODULE)
    assert "    q <= \\$1 ;" not in text
    assert ("  always_ff @(posedge clk) begin\n    if (en) begin\n      q[3:0] <= d[3:0];\n"
            "    end\n    if (rst) begin\n      q <= 8'h00;\n    end\n  end\n") in text


def test_a_next_state_that_is_read_is_left_as_it_is():
    text = registers_updated_in_place(MODULE)
    # $2 is read by its own block, $3 by an assign: both keep yosys's form.
    assert "    p <= \\$2 ;" in text and "      \\$2  = \\$2  + 8'h01;" in text
    assert "    r <= \\$3 ;" in text and "      \\$3  = d;" in text
    assert registers_updated_in_place(text) == text
