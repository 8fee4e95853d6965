"""`vta asm` and `vta disasm`: corpus streams through text and back, raw files and images."""

import json

import numpy as np
import pytest
from cli_helpers import case, run_main

from vta.isa.image import ProgramImage

CASES = ["vta-1x16/p_save_load_out", "vta-1x16/r_multiphase_000", "vta-1x16/e_long_pingpong_4k",
         "vta-1x32/p_gemm_default", "vta-1x32/e_nop_tokens_junk_fields"]


@pytest.mark.parametrize("name", CASES)
def test_disasm_of_an_image_assembles_back_to_its_stream(name, capsys, tmp_path):
    folder = case(name)
    meta = json.loads((folder / "case.json").read_text())
    dram = np.fromfile(folder / "dram.bin", np.uint8)
    stream = dram[meta["insn_addr"]:meta["insn_addr"] + 16 * meta["insn_count"]].tobytes()

    result = run_main(capsys, "disasm", folder)
    assert result.status == 0 and result.err == ""
    lines = result.out.splitlines()
    assert lines[0].startswith(f"# {folder}: config ")
    indices = [line.split(":")[0].strip() for line in lines[1:]]
    assert indices == [str(index) for index in range(meta["insn_count"])]
    assert lines[-1].split(":", 1)[1].strip() == "FINISH"

    (tmp_path / "program.s").write_text(result.out)
    (tmp_path / "config.json").write_text(json.dumps(meta["config"]))
    result = run_main(capsys, "asm", tmp_path / "program.s", "--config", tmp_path / "config.json",
                      "-o", tmp_path / "program.bin")
    assert result.status == 0 and result.err == ""
    assert (tmp_path / "program.bin").read_bytes() == stream


def test_disasm_of_a_raw_file_with_offset_and_count(capsys):
    folder = case("vta-1x16/p_save_load_out")
    image = ProgramImage.load(folder)
    from_image = run_main(capsys, "disasm", folder).out.splitlines()[1:]
    raw = run_main(capsys, "disasm", folder / "dram.bin", "--offset", hex(image.insn_addr),
                   "--count", image.insn_count)
    assert raw.status == 0 and raw.out.splitlines() == from_image
    two = run_main(capsys, "disasm", folder / "dram.bin", "--offset", image.insn_addr + 16,
                   "--count", 2, "--no-index")
    assert two.out.splitlines() == [line.split(": ", 1)[1] for line in from_image[1:3]]


def test_asm_writes_the_documented_encoding(capsys, tmp_path):
    (tmp_path / "tiny.s").write_text("LOAD INP dram_base=0x40 x_size=4  # comment\n\nFINISH\n")
    assert run_main(capsys, "asm", tmp_path / "tiny.s").status == 0  # default output: tiny.bin
    data = (tmp_path / "tiny.bin").read_bytes()
    # isa-reference §3: opcode [2:0], memory_type [9:7] (INP = 2), dram_base [57:26], x_size [95:80]
    low, high = int.from_bytes(data[:8], "little"), int.from_bytes(data[8:16], "little")
    assert low == (2 << 7) | (0x40 << 26) and high == 4 << 16
    assert data[16:] == bytes([3]) + bytes(15)
