"""`vta roofline` and `vta exec --report`: figures from the corpus counters and the run's cycles."""

import json

from cli_helpers import assert_one_line_error, case, run_main

IMAGES = ("vta-1x16/p_blocked_gemm_64_256_64_nocomp_vt2", "vta-1x16/p_gemm_default")


def cycles_of(capsys, name: str) -> int:
    result = run_main(capsys, "exec", case(name), "--backend", "cycle", "--json")
    return json.loads(result.out)["cycles"]


def expected_utilization(capsys, name: str) -> float:
    """MACs (the corpus's gemm_counter × a 16×16 tile) per cycle against 256 MACs/cycle."""
    gemms = json.loads((case(name) / "case.json").read_text())["counters"]["gemm_counter"]
    return gemms / cycles_of(capsys, name)


def test_roofline_plots_each_image_with_its_utilization(capsys, tmp_path):
    expected = {name: expected_utilization(capsys, name) for name in IMAGES}
    plot = tmp_path / "roofline.png"
    result = run_main(capsys, "roofline", *(case(name) for name in IMAGES), "-o", plot)
    assert result.status == 0, result.err
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = result.out.splitlines()
    for name, utilization in expected.items():
        line = next(line for line in lines if line.startswith(case(name).name + ":"))
        assert f"({utilization * 100:.1f} % utilization)" in line


def test_exec_report_needs_a_backend_that_counts_cycles(capsys):
    result = run_main(capsys, "exec", case(IMAGES[1]), "--report")
    assert_one_line_error(result, "exec", 1, "--report needs a backend that counts cycles")


def test_exec_report_gives_traffic_and_utilization(capsys):
    name = IMAGES[0]
    counters = json.loads((case(name) / "case.json").read_text())["counters"]
    traffic = sum(value for key, value in counters.items() if key.endswith("nbytes"))
    result = run_main(capsys, "exec", case(name), "--backend", "cycle", "--report")
    assert result.status == 0, result.err
    assert f"DRAM {traffic:,} bytes" in result.out
    assert f"({expected_utilization(capsys, name) * 100:.1f} % utilization)" in result.out


def test_roofline_refuses_an_unknown_format(capsys, tmp_path):
    result = run_main(capsys, "roofline", case(IMAGES[1]), "-o", tmp_path / "plot.txt")
    assert_one_line_error(result, "roofline", 1, ".png, .svg or .pdf")
    assert not (tmp_path / "plot.txt").exists()
