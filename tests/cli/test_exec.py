"""`vta exec`: runs of corpus images, the JSON report, the DRAM output file."""

import json

import pytest
from cli_helpers import assert_one_line_error, case, run_main, run_module

SMALL_CASES = [case("vta-1x16/p_save_load_out"), case("vta-1x32/p_gemm_default")]


@pytest.mark.parametrize("folder", SMALL_CASES, ids=lambda folder: f"{folder.parent.name}/{folder.name}")
def test_exec_json_and_output_image(folder, capsys, tmp_path):
    meta = json.loads((folder / "case.json").read_text())
    result = run_main(capsys, "exec", folder, "--backend", "functional", "--json",
                      "-o", tmp_path / "out.bin")
    assert result.status == 0 and result.err == ""
    report = json.loads(result.out)
    assert report["backend"] == "functional" and report["cycles"] is None
    assert report["counters"] == meta["counters"]
    assert set(report) == {"backend", "cycles", "counters", "modules"}
    assert (tmp_path / "out.bin").read_bytes() == (folder / "expected.bin").read_bytes()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out.bin"]


def test_exec_summary(capsys):
    folder = case("vta-1x16/p_save_load_out")
    meta = json.loads((folder / "case.json").read_text())
    result = run_main(capsys, "exec", folder)
    assert result.status == 0
    assert "functional" in result.out and f"{meta['insn_count']} instructions" in result.out
    assert f"alu_counter {meta['counters']['alu_counter']}" in result.out


@pytest.mark.parametrize("prefix, status", [("n_deadlock", 3), ("n_bounds", 2)])
def test_exec_negative_cases(prefix, status, capsys, tmp_path):
    for folder in sorted(p for p in case("vta-1x16").iterdir() if p.name.startswith(prefix)):
        result = run_main(capsys, "exec", folder, "-o", tmp_path / "out.bin")
        assert_one_line_error(result, "exec", status, f"vta exec: {folder}: ")
        assert result.out == "" and list(tmp_path.iterdir()) == []


def test_exec_through_python_m_vta(tmp_path):
    folder = case("vta-1x16/p_save_load_out")
    result = run_module("exec", folder, "--json")
    assert result.status == 0, result.err
    expected = json.loads((folder / "case.json").read_text())["counters"]
    assert json.loads(result.out)["counters"] == expected
    deadlock = case("vta-1x16/n_deadlock_circular")
    assert_one_line_error(run_module("exec", deadlock, "-o", tmp_path / "out.bin"), "exec", 3)
    assert list(tmp_path.iterdir()) == []
