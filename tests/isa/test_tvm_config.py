"""TVM's vta_config.json files load as they are: every key TVM's pkg_config knew, TARGET picking
the bus width and clock that pkg_config gave that target, derived keys checked."""

import json

import pytest

from vta.cli import main
from vta.isa import ISA_KEYS, Config, ConfigError

ISA = {"LOG_INP_WIDTH": 3, "LOG_WGT_WIDTH": 3, "LOG_ACC_WIDTH": 5, "LOG_BATCH": 0,
       "LOG_BLOCK": 4, "LOG_UOP_BUFF_SIZE": 15, "LOG_INP_BUFF_SIZE": 15,
       "LOG_WGT_BUFF_SIZE": 18, "LOG_ACC_BUFF_SIZE": 17}

#: The files TVM shipped (tvm-vta config/*.json, in TVM's own key order), and the bus width
#: (fpga_log_axi_bus_width) and clock (fpga_freq) TVM's pkg_config.py gave each TARGET; any
#: TARGET it did not name got the pynq values.
TVM_FILES = {
    "vta_config.json": ({"TARGET": "sim", "HW_VER": "0.0.2", **ISA, "ACC_DEP_DISTANCE": 3},
                        6, 100),
    "pynq_sample.json": ({"TARGET": "pynq", "HW_VER": "0.0.2", **ISA}, 6, 100),
    "ultra96_sample.json": ({"TARGET": "ultra96", "HW_VER": "0.0.1", **ISA}, 7, 333),
    "zcu104_sample.json": ({"TARGET": "zcu104", "HW_VER": "0.0.1", **ISA}, 7, 333),
    "de10nano_sample.json": ({"TARGET": "de10nano", "HW_VER": "0.0.2", **ISA}, 6, 100),
    "intelfocl_sample.json": ({"TARGET": "intelfocl", "HW_VER": "0.0.1", **ISA}, 6, 100),
    "tsim_sample.json": ({"TARGET": "tsim", "HW_VER": "0.0.1", **ISA}, 6, 100),
    # pkg_config's --cfg-json dump: the keys it derived are written back
    "cfg-json dump": ({"TARGET": "ultra96", "HW_VER": "0.0.1", **ISA, "LOG_BLOCK_IN": 4,
                       "LOG_BLOCK_OUT": 4, "LOG_OUT_WIDTH": 3, "LOG_OUT_BUFF_SIZE": 15}, 7, 333),
    # TVM 0.5 (2018): separate block sizes, the clock as HW_FREQ, HLS's clock target
    "2018 vta_config.json": ({"TARGET": "pynq", "HW_FREQ": 100, "HW_CLK_TARGET": 7,
                              "HW_VER": "0.0.0", "LOG_INP_WIDTH": 3, "LOG_WGT_WIDTH": 3,
                              "LOG_ACC_WIDTH": 5, "LOG_OUT_WIDTH": 3, "LOG_BATCH": 0,
                              "LOG_BLOCK_IN": 4, "LOG_BLOCK_OUT": 4, "LOG_UOP_BUFF_SIZE": 15,
                              "LOG_INP_BUFF_SIZE": 15, "LOG_WGT_BUFF_SIZE": 18,
                              "LOG_ACC_BUFF_SIZE": 17, "LOG_OUT_BUFF_SIZE": 15}, 6, 100),
}


def write(tmp_path, keys: dict):
    path = tmp_path / "vta_config.json"
    path.write_text(json.dumps(keys, indent=2))
    return path


@pytest.mark.parametrize("name", TVM_FILES)
def test_tvm_files_load_unchanged(name, tmp_path):
    keys, log_bus_width, clock_mhz = TVM_FILES[name]
    config = Config.from_file(write(tmp_path, keys))
    block = ISA["LOG_BLOCK"]
    expected = {key: value for key, value in ISA.items() if key != "LOG_BLOCK"}
    assert {key: getattr(config, key) for key in ISA_KEYS} == {
        **expected, "LOG_BLOCK_IN": block, "LOG_BLOCK_OUT": block}
    assert config.TARGET == keys["TARGET"] and config.HW_VER == keys["HW_VER"]
    assert (config.LOG_BUS_WIDTH, config.CLOCK_MHZ) == (log_bus_width, clock_mhz)
    # TVM's bitstream name: TARGET + "_" + pkg_config's bitstream string
    assert config.model_string == f"{keys['TARGET']}_1x16_i8w8a32_15_15_18_17"


def test_keys_the_file_gives_win_over_its_target(tmp_path):
    keys = {"TARGET": "ultra96", **ISA, "LOG_BUS_WIDTH": 6, "CLOCK_MHZ": 250.0}
    config = Config.from_file(write(tmp_path, keys))
    assert (config.LOG_BUS_WIDTH, config.CLOCK_MHZ) == (6, 250.0)
    assert config.MEM_READ_LATENCY == Config.preset("ultra96").MEM_READ_LATENCY


def test_target_of_a_preset_beats_the_callers_base(tmp_path):
    config = Config.from_file(write(tmp_path, {"TARGET": "zcu104"}), base=Config.preset("pynq"))
    assert config.bus_bits == 128 and config.CLOCK_MHZ == 333


def test_a_tvm_config_other_than_the_default(tmp_path):
    keys = {"TARGET": "sim", "HW_VER": "0.0.2", **ISA, "LOG_BLOCK": 5, "LOG_BATCH": 1}
    config = Config.from_file(write(tmp_path, keys))
    assert config.config_string == "2x32_i8w8a32_15_15_18_17"


@pytest.mark.parametrize("change, fragment", [
    ({"LOG_BLOCK_OUT": 5}, "LOG_BLOCK_OUT = 5 must equal LOG_BLOCK = 4"),
    ({"LOG_BLOCK_IN": 3}, "LOG_BLOCK_IN = 3 must equal LOG_BLOCK = 4"),
    ({"LOG_OUT_WIDTH": 5}, "LOG_OUT_WIDTH = 5 must equal LOG_INP_WIDTH = 3"),
    ({"LOG_OUT_BUFF_SIZE": 17}, "LOG_OUT_BUFF_SIZE = 17 must equal LOG_ACC_BUFF_SIZE + "
                                "LOG_OUT_WIDTH - LOG_ACC_WIDTH = 15"),
    ({"HW_FREQ": 100, "CLOCK_MHZ": 200.0}, "HW_FREQ = 100 and CLOCK_MHZ = 200.0 disagree"),
    ({"LOG_BLOK": 4}, "unknown config key LOG_BLOK"),
])
def test_inconsistent_tvm_keys_are_one_line_errors(change, fragment, tmp_path):
    path = write(tmp_path, {"TARGET": "pynq", **ISA, **change})
    with pytest.raises(ConfigError, match=f"^{path}: .*{fragment.replace('+', '[+]')}"):
        Config.from_file(path)


def test_vta_config_reads_a_tvm_file(tmp_path, capsys):
    path = write(tmp_path, TVM_FILES["ultra96_sample.json"][0])
    assert main(["config", "--config", str(path), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["keys"]["TARGET"] == "ultra96" and document["derived"]["bus_bits"] == 128


@pytest.mark.parametrize("blocks, buffers", [
    ((4, 3), {"LOG_WGT_BUFF_SIZE": 17, "LOG_ACC_BUFF_SIZE": 16}),
    ((3, 4), {"LOG_INP_BUFF_SIZE": 14, "LOG_WGT_BUFF_SIZE": 17}),
    ((5, 4), {})])
def test_separate_block_keys_load_and_round_trip(blocks, buffers, tmp_path):
    """A file without LOG_BLOCK gives BLOCK_IN and BLOCK_OUT apart (TVM 0.5's keys, and what
    `Config.to_dict` writes): the tile need not be square."""
    log_in, log_out = blocks
    keys = {key: value for key, value in ISA.items() if key != "LOG_BLOCK"} | buffers
    config = Config.from_file(write(tmp_path, {"TARGET": "pynq", **keys, "LOG_BLOCK_IN": log_in,
                                               "LOG_BLOCK_OUT": log_out}))
    assert (config.block_in, config.block_out) == (1 << log_in, 1 << log_out)
    assert config.config_string.startswith(f"1x{1 << log_in}x{1 << log_out}_i8w8a32")
    written = write(tmp_path, config.to_dict())
    assert Config.from_file(written) == config
    assert Config.from_file(written).fingerprint == config.fingerprint


def test_one_block_key_without_log_block_makes_a_square_tile(tmp_path):
    keys = {key: value for key, value in ISA.items() if key != "LOG_BLOCK"}
    config = Config.from_file(write(tmp_path, {**keys, "LOG_BLOCK_OUT": 5}))
    assert config.block_in == config.block_out == 32
