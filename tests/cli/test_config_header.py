"""`vta config` and `vta header`."""

import json

from cli_helpers import run_main

from vta.isa import Config
from vta.isa.c_header import c_header


def test_config_prints_every_key_and_every_derived_parameter(capsys):
    result = run_main(capsys, "config")
    assert result.status == 0 and result.err == ""
    printed = dict((name.strip(), value) for name, value in
                   (line.split(" = ", 1) for line in result.out.splitlines() if " = " in line))
    config = Config.preset()
    expected = config.to_dict() | config.derived()
    assert printed == {name: str(value) for name, value in expected.items()}
    assert printed["LOG_BLOCK_IN"] == printed["LOG_BLOCK_OUT"] == "4" and printed["wgt_depth"] == "1024"  # isa-reference §1
    titles = [line for line in result.out.splitlines() if line.startswith("#")]
    assert titles == ["# keys", "# derived"]


def test_config_json_of_a_preset(capsys):
    result = run_main(capsys, "config", "--preset", "ultra96", "--json")
    assert result.status == 0
    printed = json.loads(result.out)
    assert printed["keys"]["TARGET"] == "ultra96" and printed["keys"]["LOG_BUS_WIDTH"] == 7
    assert printed["derived"]["bus_bits"] == 128
    assert printed["derived"]["config_string"] == "1x16_i8w8a32_15_15_18_17"
    assert printed == {"keys": Config.preset("ultra96").to_dict(),
                       "derived": Config.preset("ultra96").derived()}


def test_config_file_gives_some_keys_the_rest_from_pynq(capsys, tmp_path):
    (tmp_path / "1x32.json").write_text(json.dumps({"LOG_BLOCK": 5}))
    result = run_main(capsys, "config", "--config", tmp_path / "1x32.json", "--json")
    derived = json.loads(result.out)["derived"]
    # tests/conformance/corpus/README.md §5: the 1x32 tile sizes and buffer depths
    elem_bytes = [derived[f"{kind}_elem_bytes"] for kind in ("inp", "acc", "wgt")]
    assert elem_bytes == [32, 128, 1024]
    depths = [derived[f"{kind}_depth"] for kind in ("inp", "wgt", "acc", "uop")]
    assert depths == [1024, 256, 1024, 8192]
    assert json.loads(result.out)["keys"]["TARGET"] == "pynq"


def test_header_to_stdout_and_to_a_file(capsys, tmp_path):
    result = run_main(capsys, "header", "--preset", "ultra96")
    assert result.status == 0 and result.out == c_header(Config.preset("ultra96"))
    assert "#define VTA_LOG_BUS_WIDTH 7" in result.out
    assert run_main(capsys, "header", "-o", tmp_path / "hw_spec.h").status == 0
    assert (tmp_path / "hw_spec.h").read_text() == c_header(Config.preset())
    assert sorted(path.name for path in tmp_path.iterdir()) == ["hw_spec.h"]
