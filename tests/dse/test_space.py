"""Space files: what they accept, and a bad one is one line naming the key."""

import pytest

from vta.cli import main
from vta.dse.space import SpaceError, load


def test_a_space_enumerates_its_buildable_points(write_space, tmp_path):
    space = load(write_space(tmp_path, """
base = "pynq"
[parameters]
LOG_BLOCK = [3, 4]
LOG_BUS_WIDTH = {from = 5, to = 7}
"MACHINE.gemm_initiation_interval" = [1, 2]
"""))
    assert space.size == 12
    kept, rejected = space.valid_points()
    # 1x8 tiles are 64 bits (no 128-bit bus); the pynq buffers with a 1x8 block need 36-bit
    # micro-ops: every 1x8 point is refused, with the reason
    assert {config.block_in for _, config in kept} == {16}
    assert len(kept) == 6 and sum(rejected.values()) == 6
    assert {c.machine.gemm_initiation_interval for _, c in kept} == {1, 2}


@pytest.mark.parametrize("text, named", [
    ("[parameters]\nLOG_BLOK = [3]\n", "parameters.LOG_BLOK: unknown key"),
    ("bsae = 'pynq'\n[parameters]\nLOG_BLOCK = [3]\n", "bsae: unknown key"),
    ("[parameters]\nLOG_BLOCK = []\n", "parameters.LOG_BLOCK: empty range"),
    ("[parameters]\nLOG_BLOCK = {from = 5, to = 4}\n", "parameters.LOG_BLOCK: empty range"),
    ("[parameters]\nLOG_BLOCK = [4, 9]\n", "parameters.LOG_BLOCK: config key LOG_BLOCK = 9"),
    ("[parameters]\n'MACHINE.fetch_buffer_depth' = [7]\n", "parameters.MACHINE.fetch_buffer_depth"),
    ("[parameters]\nLOG_BLOCK = [4]\n[constraints]\nfits = ['pynq-z9']\n",
     "constraints.fits: unknown board 'pynq-z9'"),
    ("[parameters]\nLOG_BLOCK = [4]\n[constraints]\nfitz = ['pynq-z1']\n",
     "constraints.fitz: unknown key"),
    # a 64 x 64 GEMM block needs thousands of DSPs: nothing fits the XC7Z020
    ("[parameters]\nLOG_BLOCK = [6]\nLOG_INP_BUFF_SIZE = [16]\nLOG_WGT_BUFF_SIZE = [18]\n"
     "LOG_ACC_BUFF_SIZE = [18]\n[constraints]\nfits = 'pynq-z1'\n", "constraints.fits: no point"),
    ("[parameters]\nLOG_BLOCK = [4]\n[search]\nmethod = 'random'\n", "search.method"),
    # NSGA-II breeds from two parents (optuna refuses a population of one)
    ("[parameters]\nLOG_BLOCK = [4]\n[search]\nmethod = 'nsga2'\npopulation = 1\n",
     "search.population: an integer of at least 2"),
    ("[parameters]\nLOG_BLOCK = [4]\n[search]\nseed = -1\n",
     "search.seed: an integer of at least 0"),
    # optuna seeds numpy's 32-bit generator (a ValueError traceback once the search began)
    ("[parameters]\nLOG_BLOCK = [3, 4]\n[search]\nmethod = 'nsga2'\nseed = 4294967296\n",
     "search.seed: an integer of at least 0 and at most 4294967295"),
    # a range is counted before it is listed (a MemoryError, or an OverflowError past 2**63)
    ("[parameters]\nLOG_BLOCK = {from = 0, to = 1000000000000}\n",
     "parameters.LOG_BLOCK: a range of 1,000,000,000,001 values, more than the 2,000,000"),
    ("[parameters]\nLOG_BLOCK = {from = 0, to = 100000000000000000000}\n",
     "parameters.LOG_BLOCK: a range of 100,000,000,000,000,000,001 values"),
    # lists and tables in a list of values (TypeError: unhashable type)
    ("[parameters]\nLOG_BLOCK = [[3], [4]]\n",
     "parameters.LOG_BLOCK: a value, a list of values or a range {from, to}"),
    ("[parameters]\nLOG_BLOCK = [{from = 3, to = 4}]\n", "a list holds numbers, true/false"),
    ("[parameters]\nLOG_WIDTH = [3, 4]\n", "parameters.LOG_WIDTH: config key LOG_INP_WIDTH = 4"),
    ("[parameters]\nLOG_WIDTH = [3]\nLOG_WGT_WIDTH = [2]\n",
     "parameters.LOG_WIDTH: sets LOG_WGT_WIDTH, which is given too"),
])
def test_a_bad_space_file_is_one_line_naming_the_key(write_space, tmp_path, capsys, text,
                                                    named):
    path = write_space(tmp_path, text)
    with pytest.raises(SpaceError) as error:
        load(path).check_feasible()
    assert named in str(error.value) and "\n" not in str(error.value)
    status = main(["dse", str(path), "--models", "digits", "-o", str(tmp_path / "out"),
                   "--synchronous"])
    captured = capsys.readouterr()
    assert status == 1 and captured.out == ""
    assert captured.err.count("\n") == 1 and named in captured.err
    assert not (tmp_path / "out").exists()


def test_log_width_sets_input_and_weight_widths(write_space, tmp_path):
    space = load(write_space(tmp_path, """
base = "pynq"
[parameters]
LOG_WIDTH = [3, 2]
LOG_INP_BUFF_SIZE = [14]
LOG_WGT_BUFF_SIZE = [17]
"""))
    kept, _ = space.valid_points()
    assert sorted((c.inp_width, c.wgt_width) for _, c in kept) == [(4, 4), (8, 8)]


@pytest.mark.parametrize("where", [["--synchronous", "--scheduler", "tcp://127.0.0.1:1"],
                                   ["--workers", "2", "--synchronous"]])
def test_where_evaluations_run_is_said_once(where, write_space, tmp_path, capsys):
    """--workers, --scheduler and --synchronous exclude each other (--synchronous with a
    scheduler connected to it, or waited for it, in silence)."""
    path = write_space(tmp_path, "[parameters]\nLOG_BLOCK = [4]\n")
    status = main(["dse", str(path), "--models", "digits", "-o", str(tmp_path / "out"), *where])
    captured = capsys.readouterr()
    assert status == 1 and captured.out == "" and captured.err.count("\n") == 1
    assert "not allowed with argument" in captured.err
    assert not (tmp_path / "out").exists()


def test_json_null_is_no_value_of_a_space(tmp_path):
    """null (JSON only) is refused like a list or table, not taken for the base's value."""
    path = tmp_path / "space.json"
    path.write_text('{"parameters": {"LOG_BLOCK": [4, null]}}')
    with pytest.raises(SpaceError, match="parameters.LOG_BLOCK: a value, a list of values"):
        load(path)


def test_json_space_files_are_read_too(write_space, tmp_path):
    space = load(write_space(tmp_path, '{"parameters": {"LOG_BATCH": [0, 1]}}', "s.json"))
    assert space.size == 2 and space.method == "exhaustive"
