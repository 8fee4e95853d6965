"""Bad input to every command: one line on stderr naming what and where, the right exit
status, no traceback, nothing on stdout and no output file left behind."""

import json

import numpy as np
import pytest
from cli_helpers import assert_one_line_error, case, copy_case, run_main, run_module

SMALL_CASE = "vta-1x16/p_save_load_out"


def broken_image(tmp_path, defect: str):
    """A copy of a small corpus case with one defect."""
    folder = copy_case(SMALL_CASE, tmp_path)
    meta_path, dram_path = folder / "case.json", folder / "dram.bin"
    meta = json.loads(meta_path.read_text())
    if defect == "truncated":  # dram.bin ends inside the instruction stream
        end = meta["insn_addr"] + 16 * meta["insn_count"]
        dram_path.write_bytes(dram_path.read_bytes()[:end - 5])
    elif defect == "bad json":
        meta_path.write_text(meta_path.read_text()[:-10])
    elif defect == "unknown key":
        meta["config"]["LOG_BLOCKS"] = 4
        meta_path.write_text(json.dumps(meta))
    elif defect == "invalid opcode":  # instruction 2 gets opcode 7
        dram = np.fromfile(dram_path, np.uint8)
        dram[meta["insn_addr"] + 32] |= 0b111
        dram.tofile(dram_path)
    elif defect == "binary json":
        meta_path.write_bytes(bytes(range(128, 256)))
    elif defect == "no dram":
        dram_path.unlink()
    return folder


def files(path):
    return sorted(p.name for p in path.iterdir())


@pytest.mark.parametrize("defect, fragments", [
    ("truncated", ["lies outside the DRAM image"]),
    ("bad json", ["case.json: invalid JSON"]),
    ("unknown key", ["case.json: unknown config key LOG_BLOCKS"]),
    ("invalid opcode", ["instruction 2: invalid opcode 7"]),
    ("binary json", ["case.json: not a JSON text file"]),
    ("no dram", ["dram.bin: no such file"]),
])
@pytest.mark.parametrize("command", ["exec", "disasm"])
def test_broken_images(command, defect, fragments, capsys, tmp_path):
    folder = broken_image(tmp_path, defect)
    out = tmp_path / "out.bin"
    argv = [command, folder] + (["-o", out] if command == "exec" else [])
    result = run_main(capsys, *argv)
    assert_one_line_error(result, command, 1, str(folder), *fragments)
    assert result.out == ""
    assert files(tmp_path) == [folder.name]


@pytest.mark.parametrize("argv, status, fragments", [
    (["config", "--preset", "nope"], 1, ["unknown preset 'nope' (known: pynq"]),
    (["config", "--preset", ""], 1, ["unknown preset '' (known: pynq"]),
    (["config", "--config", "{tmp}/missing.json"], 1, ["missing.json: cannot read config file"]),
    (["config", "--config", "{tmp}/bad.json"], 1, ["bad.json: invalid JSON at line 1"]),
    (["config", "--config", "{tmp}/unknown.json"], 1, ["unknown.json: unknown config key LOG_BLOK"]),
    (["config", "--config", "{tmp}/invalid.json"], 1, ["invalid.json: config key LOG_BLOCK = 9 is outside 1..6"]),
    (["config", "--preset", "pynq", "--config", "{tmp}/bad.json"], 1, ["not allowed with argument"]),
    (["config", "--config", "{tmp}/binary.json"], 1, ["binary.json: not a JSON text file"]),
    (["asm", "{tmp}/binary.json", "-o", "{tmp}/out.bin"], 1, ["binary.json: not a text file"]),
    (["asm", "{tmp}/missing.s", "-o", "{tmp}/out.bin"], 1, ["missing.s: No such file or directory"]),
    (["asm", "{tmp}/range.s", "-o", "{tmp}/out.bin"], 1,
     ["range.s: line 3: field sram_base = 70000 does not fit its 16 bits (at most 65535)"]),
    (["asm", "{tmp}/mnemonic.s", "-o", "{tmp}/out.bin"], 1, ["mnemonic.s: line 1: unknown mnemonic 'LAOD'"]),
    (["asm", "{tmp}/range.s", "-o", "{tmp}/no/such/dir/out.bin"], 1,
     ["out.bin: cannot write: folder"]),   # refused before the source is read
    (["asm", "{tmp}/good.s", "-o", "{tmp}/no/such/dir/out.bin"], 1, ["out.bin: cannot write"]),
    (["asm", "{tmp}/good.s", "--preset", "nope", "-o", "{tmp}/out.bin"], 1, ["unknown preset"]),
    (["disasm", "{tmp}/missing.bin"], 1, ["missing.bin: No such file or directory"]),
    (["disasm", "{tmp}/odd.bin"], 1, ["odd.bin: 20 bytes after offset 0 are not a whole number"]),
    (["disasm", "{tmp}/odd.bin", "--count", "2"], 1, ["odd.bin: 2 instructions at offset 0 run past the end"]),
    (["disasm", "{tmp}/bad_opcode.bin"], 1, ["bad_opcode.bin: instruction 1: invalid opcode 6"]),
    (["disasm", "{tmp}/bad_opcode.bin", "--offset", "x"], 1, ["argument --offset: invalid"]),
    (["exec", "{tmp}/missing_dir", "-o", "{tmp}/out.bin"], 1, ["missing_dir/case.json: no such file"]),
    (["exec", SMALL_CASE, "--backend", "nope", "-o", "{tmp}/out.bin"], 1, ["unknown backend 'nope'"]),
    (["exec", SMALL_CASE, "--preset", "nope", "-o", "{tmp}/out.bin"], 1, ["unknown preset 'nope'"]),
    (["exec", SMALL_CASE, "--config", "{tmp}/unknown.json"], 1, ["unknown config key LOG_BLOK"]),
    (["exec"], 1, ["the following arguments are required: IMAGE_DIR"]),
    (["header", "--preset", "nope", "-o", "{tmp}/out.h"], 1, ["unknown preset"]),
    (["header", "-o", "{tmp}/no/such/dir/out.h"], 1, ["out.h: cannot write"]),
    (["fpga", "synth", "--board", "pynq-z1", "--timeout", "nan"], 1,
     ["argument --timeout: 'nan' is not a number of seconds above 0"]),
    (["fpga", "timing", "--timeout", "-1"], 1, ["argument --timeout: '-1' is not a number"]),
    (["fpga", "synth", "--board", "pynq-z1", "--timeout", "0"], 1, ["'0' is not a number"]),
    (["nope"], 1, ["invalid choice: 'nope'"]),
    ([], 1, ["give a command: asm, ", "disasm, dse, exec, "]),
])
def test_bad_arguments(argv, status, fragments, capsys, tmp_path):
    (tmp_path / "bad.json").write_text("{LOG_BLOCK: 5}")
    (tmp_path / "binary.json").write_bytes(bytes(range(128, 256)))
    (tmp_path / "unknown.json").write_text('{"LOG_BLOK": 5}')
    (tmp_path / "invalid.json").write_text('{"LOG_BLOCK": 9}')
    (tmp_path / "range.s").write_text("FINISH\n# comment\nLOAD INP sram_base=70000\n")
    (tmp_path / "mnemonic.s").write_text("LAOD INP\n")
    (tmp_path / "good.s").write_text("FINISH\n")
    (tmp_path / "odd.bin").write_bytes(bytes(20))
    (tmp_path / "bad_opcode.bin").write_bytes(bytes([3]) + bytes(15) + bytes([6]) + bytes(15))
    before = files(tmp_path)
    argv = [str(case(arg)) if arg == SMALL_CASE else arg.format(tmp=tmp_path) for arg in argv]
    result = run_main(capsys, *argv)
    command = argv[0] if argv and argv[0] in ("config", "asm", "disasm", "exec", "header",
                                              "fpga") else ""
    assert_one_line_error(result, command, status, *fragments)
    assert result.out == ""
    assert files(tmp_path) == before


def test_errors_through_python_m_vta(tmp_path):
    folder = broken_image(tmp_path, "truncated")
    result = run_module("exec", folder, "-o", tmp_path / "out.bin")
    assert_one_line_error(result, "exec", 1, str(folder), "lies outside the DRAM image")
    (tmp_path / "range.s").write_text("\n\nLOAD INP sram_base=70000\n")
    result = run_module("asm", tmp_path / "range.s", "-o", tmp_path / "out.bin")
    assert_one_line_error(result, "asm", 1, "line 3: field sram_base = 70000 does not fit its 16 bits")
    assert files(tmp_path) == [folder.name, "range.s"]
    assert run_module("--help").status == 0


@pytest.mark.parametrize("argv, fragment", [
    (["exec", "{image}", "--backend", "cycle", "--trace", "{tmp}/t.json", "-o",
      "{tmp}/no/o.bin"], "{tmp}/no/o.bin: cannot write: folder {tmp}/no does not exist"),
    (["exec", "{image}", "-o", "{image}/dram.bin"],
     "{image}/dram.bin: is also an input of the command; write the output elsewhere"),
    (["exec", "{image}", "-o", "{tmp}/o.bin", "--backend", "cycle", "--trace", "{tmp}/o.bin"],
     "{tmp}/o.bin: named for two outputs"),
    (["exec", "{image}", "-o", "{image}"], "{image}: is a folder, not a file name"),
    (["asm", "{tmp}/p.s", "-o", "{tmp}/p.s"], "{tmp}/p.s: is also an input of the command"),
    (["asm", "{tmp}/p.s", "-o", "{tmp}/p.s/out.bin"],
     "{tmp}/p.s/out.bin: cannot write: {tmp}/p.s is not a folder"),
    (["header", "--config", "{tmp}/c.json", "-o", "{tmp}/c.json"],
     "{tmp}/c.json: is also an input of the command"),
])
def test_outputs_are_checked_before_the_work(argv, fragment, capsys, tmp_path):
    """An output that cannot be written, that two options name or that is an input is refused
    before the work: nothing is written (a cycle trace was left when -o failed after the run)
    and no input is replaced (-o IMAGE/dram.bin replaced the image's DRAM by the final one)."""
    image = copy_case(SMALL_CASE, tmp_path)
    (tmp_path / "p.s").write_text("FINISH\n")
    (tmp_path / "c.json").write_text("{}")
    before = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    result = run_main(capsys, *[arg.format(tmp=tmp_path, image=image) for arg in argv])
    assert_one_line_error(result, argv[0], 1, fragment.format(tmp=tmp_path, image=image))
    assert {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()} == before


@pytest.mark.parametrize("text, fragments", [
    ('{"CLOCK_MHZ": NaN}', ["NaN is not a JSON number"]),
    ('{"CLOCK_MHZ": Infinity}', ["Infinity is not a JSON number"]),
    ('{"CLOCK_MHZ": 1e300}', ["CLOCK_MHZ = 1e+300 is outside 0.001..1000"]),
    ('{"CLOCK_MHZ": 1e999}', ["1e999 is not a finite number"]),
    ('{"CLOCK_MHZ": 0}', ["CLOCK_MHZ = 0 is outside"]),
    ('{"MEM_READ_LATENCY": 1099511627776}', ["MEM_READ_LATENCY = 1099511627776 is outside 1..4096"]),
    ('{"MEM_WRITE_LATENCY": 0}', ["MEM_WRITE_LATENCY = 0 is outside 1..4096"]),
    ('{"LOG_BUS_WIDTH": 8}', ["LOG_BUS_WIDTH = 8 is outside 5..7"]),
    ('{"LOG_BATCH": ' + "9" * 5000 + "}", ["an integer of 5000 digits"]),
    ("[" * 10000 + "]" * 10000, ["nested deeper than"]),
    ('{"LOG_BATCH": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}',
     ["nested deeper than"]),
    ('{"TARGET": "' + "x" * 100 + '"}', ["TARGET", "printable name of at most 64"]),
    ('{"LOG_BATCH": 1.5}', ["LOG_BATCH = 1.5 is not of type int"]),
])
def test_config_values_are_range_checked(text, fragments, capsys, tmp_path):
    path = tmp_path / "config.json"
    path.write_text(text)
    result = run_main(capsys, "config", "--config", path)
    assert_one_line_error(result, "config", 1, f"{path}: ", *fragments)
    assert len(result.err) < 400


@pytest.mark.parametrize("change, fragments", [
    ({"insn_count": 12.7}, ["case.json: insn_count: 12.7 is not an integer"]),
    ({"insn_count": True}, ["insn_count: true is not an integer"]),
    ({"insn_count": -1}, ["insn_count: -1 is below the minimum 0"]),
    ({"insn_addr": 8}, ["insn_addr: 8 is not a multiple of 16"]),
    ({"insn_addr": "0x40"}, ['insn_addr: "0x40" is not an integer']),
    ({"config": [1, 2]}, ["case.json: config: [1, 2] is not an object"]),
    ({"config": {"LOG_BATCH": "1"}}, ["LOG_BATCH = \"1\" is not of type int"]),
    ({"expect": "maybe"}, ['expect: "maybe" is not one of']),
    ({"counters": [3]}, ["counters: [3] matches none of the allowed forms"]),
])
def test_case_json_is_validated(change, fragments, capsys, tmp_path):
    folder = copy_case(SMALL_CASE, tmp_path)
    meta = json.loads((folder / "case.json").read_text()) | change
    (folder / "case.json").write_text(json.dumps(meta))
    result = run_main(capsys, "exec", folder)
    assert_one_line_error(result, "exec", 1, str(folder), *fragments)


def test_a_bus_the_core_cannot_have_is_refused_by_the_cycle_backend():
    """A 1x8 config has 64-bit INP tiles: a 128-bit bus cannot move them as whole words, so
    the cycle backend refuses it, as the hardware does; the functional one needs no bus."""
    from vta.isa import Config, ConfigError
    from vta.runtime.backends import get_backend
    config = Config.preset().replace(LOG_BLOCK=3, LOG_INP_BUFF_SIZE=14, LOG_WGT_BUFF_SIZE=16,
                                     LOG_ACC_BUFF_SIZE=16, LOG_BUS_WIDTH=7)
    get_backend("functional", config)
    with pytest.raises(ConfigError, match="INP tiles of 64 bits are not a whole number of 128-bit"):
        get_backend("cycle", config)
