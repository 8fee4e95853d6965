"""`vta verilog`: bad configurations give one line, exit status 1 and no output file."""

import pytest
from cli_helpers import assert_one_line_error, run_main


@pytest.mark.parametrize("config_text, fragments", [
    (None, ["unknown preset 'nope'"]),
    ('{"LOG_BLOCK": 9}', ["LOG_BLOCK"]),
    ('{"LOG_BUS_WIDTH": 8}', ["LOG_BUS_WIDTH = 8 is outside 5..7"]),
    ('{"LOG_BLOK": 4}', ["unknown config key LOG_BLOK"]),
    ("{not json", ["invalid JSON"]),
])
def test_bad_config_is_one_line(config_text, fragments, capsys, tmp_path):
    output = tmp_path / "vta.v"
    if config_text is None:
        options = ["--preset", "nope"]
    else:
        (tmp_path / "config.json").write_text(config_text)
        options = ["--config", tmp_path / "config.json"]
    result = run_main(capsys, "verilog", *options, "-o", output)
    assert_one_line_error(result, "verilog", 1, *fragments)
    assert not output.exists()
