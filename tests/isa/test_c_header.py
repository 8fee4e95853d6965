"""The generated C header, compiled with gcc: every struct field at the bit position and width
vta.isa computes, the original hw_spec.h declarations (which rely on gcc's uint64_t bit-field
allocation) landing on the same positions, and the constants obeying the original
hw_spec_const.h formulas."""

import shutil
import subprocess

import pytest

from vta.isa import Config, layouts
from vta.isa.c_header import GENERIC_STRUCT, INSN_STRUCTS, UOP_STRUCT, c_header

GCC = shutil.which("gcc")
GXX = shutil.which("g++")
needs_gcc = pytest.mark.skipif(GCC is None,
                               reason="gcc is not installed: cannot compile the header")

CONFIGS = {
    "pynq": Config.preset("pynq"),
    "ultra96": Config.preset("ultra96"),
    "zcu104": Config.preset("zcu104"),
    "de10nano": Config.preset("de10nano"),
    "1x32": Config.preset().replace(LOG_BLOCK=5),
    "2x16": Config.preset().replace(LOG_BATCH=1),
    "2x8": Config.preset().replace(LOG_BATCH=1, LOG_BLOCK=3, LOG_INP_BUFF_SIZE=14,
                                  LOG_WGT_BUFF_SIZE=16, LOG_ACC_BUFF_SIZE=16),
    "buffers_14_16_17_16": Config.preset().replace(LOG_UOP_BUFF_SIZE=14, LOG_INP_BUFF_SIZE=16,
                                                   LOG_WGT_BUFF_SIZE=17, LOG_ACC_BUFF_SIZE=16),
    "small_uop_buffer": Config.preset().replace(LOG_UOP_BUFF_SIZE=10),
    "1x16x8_int4": Config.preset().replace(LOG_BLOCK_OUT=3, LOG_INP_WIDTH=2, LOG_WGT_WIDTH=2,
                                           LOG_INP_BUFF_SIZE=14, LOG_WGT_BUFF_SIZE=16,
                                           LOG_ACC_BUFF_SIZE=16),
}

# The original hw_spec.h declarations, verbatim in shape: fields in order, no padding, so gcc's
# rule for uint64_t bit-fields (a field that would straddle a 64-bit word starts the next one)
# decides the positions. The micro-op's src_idx is max(ACC, INP) depth bits (isa-reference §3.6).
ORIGINAL_STRUCTS = """
#define ORIG_HEADER \\
  uint64_t opcode : VTA_OPCODE_BIT_WIDTH; uint64_t pop_prev_dep : 1; \\
  uint64_t pop_next_dep : 1; uint64_t push_prev_dep : 1; uint64_t push_next_dep : 1;
#define ORIG_LOOP(SRC_DEPTH) \\
  uint64_t reset_reg : 1; uint64_t uop_bgn : VTA_LOG_UOP_BUFF_DEPTH; \\
  uint64_t uop_end : VTA_LOG_UOP_BUFF_DEPTH + 1; uint64_t iter_out : VTA_LOOP_ITER_WIDTH; \\
  uint64_t iter_in : VTA_LOOP_ITER_WIDTH; uint64_t dst_factor_out : VTA_LOG_ACC_BUFF_DEPTH; \\
  uint64_t dst_factor_in : VTA_LOG_ACC_BUFF_DEPTH; uint64_t src_factor_out : SRC_DEPTH; \\
  uint64_t src_factor_in : SRC_DEPTH;
typedef struct { ORIG_HEADER uint64_t pad_0 : 64 - VTA_OPCODE_BIT_WIDTH - 4;
                 uint64_t pad_1 : 64; } OrigGenericInsn;
typedef struct { ORIG_HEADER
  uint64_t memory_type : VTA_MEMOP_ID_BIT_WIDTH; uint64_t sram_base : VTA_MEMOP_SRAM_ADDR_BIT_WIDTH;
  uint64_t dram_base : VTA_MEMOP_DRAM_ADDR_BIT_WIDTH; uint64_t y_size : VTA_MEMOP_SIZE_BIT_WIDTH;
  uint64_t x_size : VTA_MEMOP_SIZE_BIT_WIDTH; uint64_t x_stride : VTA_MEMOP_STRIDE_BIT_WIDTH;
  uint64_t y_pad_0 : VTA_MEMOP_PAD_BIT_WIDTH; uint64_t y_pad_1 : VTA_MEMOP_PAD_BIT_WIDTH;
  uint64_t x_pad_0 : VTA_MEMOP_PAD_BIT_WIDTH; uint64_t x_pad_1 : VTA_MEMOP_PAD_BIT_WIDTH;
} OrigMemInsn;
typedef struct { ORIG_HEADER ORIG_LOOP(VTA_LOG_INP_BUFF_DEPTH)
  uint64_t wgt_factor_out : VTA_LOG_WGT_BUFF_DEPTH; uint64_t wgt_factor_in : VTA_LOG_WGT_BUFF_DEPTH;
} OrigGemInsn;
typedef struct { ORIG_HEADER ORIG_LOOP(VTA_LOG_ACC_BUFF_DEPTH)
  uint64_t alu_opcode : VTA_ALU_OPCODE_BIT_WIDTH; uint64_t use_imm : 1;
  int64_t imm : VTA_ALUOP_IMM_BIT_WIDTH;
} OrigAluInsn;
#define MAX(a, b) ((a) > (b) ? (a) : (b))
typedef struct {
  uint32_t dst_idx : VTA_LOG_ACC_BUFF_DEPTH;
  uint32_t src_idx : MAX(VTA_LOG_ACC_BUFF_DEPTH, VTA_LOG_INP_BUFF_DEPTH);
  uint32_t wgt_idx : VTA_LOG_WGT_BUFF_DEPTH;
} OrigUop;
"""

# The original hw_spec_const.h formulas and fixed values, checked at compile time.
ORIGINAL_FORMULAS = """
VTA_BUS_WIDTH == (1 << VTA_LOG_BUS_WIDTH)
VTA_LOG_INS_WIDTH == 7 && VTA_INS_WIDTH == (1 << VTA_LOG_INS_WIDTH)
VTA_LOG_UOP_WIDTH == 5 && VTA_UOP_WIDTH == (1 << VTA_LOG_UOP_WIDTH)
VTA_WGT_WIDTH == (1 << VTA_LOG_WGT_WIDTH) && VTA_INP_WIDTH == (1 << VTA_LOG_INP_WIDTH)
VTA_OUT_WIDTH == (1 << VTA_LOG_OUT_WIDTH) && VTA_ACC_WIDTH == (1 << VTA_LOG_ACC_WIDTH)
VTA_LOG_OUT_WIDTH == VTA_LOG_INP_WIDTH
VTA_BATCH == (1 << VTA_LOG_BATCH) && VTA_BLOCK_IN == (1 << VTA_LOG_BLOCK_IN)
VTA_BLOCK_OUT == (1 << VTA_LOG_BLOCK_OUT)
VTA_UOP_BUFF_SIZE == (1 << VTA_LOG_UOP_BUFF_SIZE) && VTA_WGT_BUFF_SIZE == (1 << VTA_LOG_WGT_BUFF_SIZE)
VTA_INP_BUFF_SIZE == (1 << VTA_LOG_INP_BUFF_SIZE) && VTA_ACC_BUFF_SIZE == (1 << VTA_LOG_ACC_BUFF_SIZE)
VTA_LOG_OUT_BUFF_SIZE == VTA_LOG_ACC_BUFF_SIZE + VTA_LOG_OUT_WIDTH - VTA_LOG_ACC_WIDTH
VTA_INP_MATRIX_WIDTH == (VTA_INP_WIDTH * VTA_BATCH * VTA_BLOCK_IN)
VTA_WGT_MATRIX_WIDTH == (VTA_WGT_WIDTH * VTA_BLOCK_OUT * VTA_BLOCK_IN)
VTA_ACC_MATRIX_WIDTH == (VTA_ACC_WIDTH * VTA_BATCH * VTA_BLOCK_OUT)
VTA_OUT_MATRIX_WIDTH == (VTA_OUT_WIDTH * VTA_BATCH * VTA_BLOCK_OUT)
INP_MAT_AXI_RATIO == (VTA_INP_MATRIX_WIDTH / VTA_BUS_WIDTH)
WGT_MAT_AXI_RATIO == (VTA_WGT_MATRIX_WIDTH / VTA_BUS_WIDTH)
ACC_MAT_AXI_RATIO == (VTA_ACC_MATRIX_WIDTH / VTA_BUS_WIDTH)
OUT_MAT_AXI_RATIO == (VTA_OUT_MATRIX_WIDTH / VTA_BUS_WIDTH)
VTA_INS_ELEM_BYTES == (VTA_INS_WIDTH / 8) && VTA_UOP_ELEM_BYTES == (VTA_UOP_WIDTH / 8)
VTA_INP_ELEM_BYTES == (VTA_INP_MATRIX_WIDTH / 8) && VTA_WGT_ELEM_BYTES == (VTA_WGT_MATRIX_WIDTH / 8)
VTA_ACC_ELEM_BYTES == (VTA_ACC_MATRIX_WIDTH / 8) && VTA_OUT_ELEM_BYTES == (VTA_OUT_MATRIX_WIDTH / 8)
VTA_UOP_BUFF_DEPTH == (VTA_UOP_BUFF_SIZE / VTA_UOP_ELEM_BYTES)
VTA_LOG_UOP_BUFF_DEPTH == (VTA_LOG_UOP_BUFF_SIZE - VTA_LOG_UOP_WIDTH + 3)
VTA_WGT_BUFF_DEPTH == (VTA_WGT_BUFF_SIZE / VTA_WGT_ELEM_BYTES)
VTA_LOG_WGT_BUFF_DEPTH == (VTA_LOG_WGT_BUFF_SIZE - VTA_LOG_BLOCK_OUT - VTA_LOG_BLOCK_IN - VTA_LOG_WGT_WIDTH + 3)
VTA_INP_BUFF_DEPTH == (VTA_INP_BUFF_SIZE / VTA_INP_ELEM_BYTES)
VTA_LOG_INP_BUFF_DEPTH == (VTA_LOG_INP_BUFF_SIZE - VTA_LOG_BATCH - VTA_LOG_BLOCK_IN - VTA_LOG_INP_WIDTH + 3)
VTA_ACC_BUFF_DEPTH == (VTA_ACC_BUFF_SIZE / VTA_ACC_ELEM_BYTES)
VTA_LOG_ACC_BUFF_DEPTH == (VTA_LOG_ACC_BUFF_SIZE - VTA_LOG_BATCH - VTA_LOG_BLOCK_OUT - VTA_LOG_ACC_WIDTH + 3)
VTA_OUT_BUFF_DEPTH == VTA_ACC_BUFF_DEPTH && VTA_LOG_OUT_BUFF_DEPTH == VTA_LOG_ACC_BUFF_DEPTH
VTA_OPCODE_BIT_WIDTH == 3 && VTA_ALU_OPCODE_BIT_WIDTH == 3
VTA_OPCODE_LOAD == 0 && VTA_OPCODE_STORE == 1 && VTA_OPCODE_GEMM == 2
VTA_OPCODE_FINISH == 3 && VTA_OPCODE_ALU == 4
VTA_ALU_OPCODE_MIN == 0 && VTA_ALU_OPCODE_MAX == 1 && VTA_ALU_OPCODE_ADD == 2
VTA_ALU_OPCODE_SHR == 3 && VTA_ALU_OPCODE_MUL == 4
VTA_MEMOP_ID_BIT_WIDTH == 3 && VTA_MEMOP_SRAM_ADDR_BIT_WIDTH == 16
VTA_MEMOP_DRAM_ADDR_BIT_WIDTH == 32 && VTA_MEMOP_SIZE_BIT_WIDTH == 16
VTA_MEMOP_STRIDE_BIT_WIDTH == 16 && VTA_MEMOP_PAD_BIT_WIDTH == 4
VTA_LOOP_ITER_WIDTH == 14 && VTA_ALUOP_IMM_BIT_WIDTH == 16 && VTA_SHR_ARG_BIT_WIDTH == VTA_LOG_ACC_WIDTH
VTA_MEM_ID_UOP == 0 && VTA_MEM_ID_WGT == 1 && VTA_MEM_ID_INP == 2 && VTA_MEM_ID_ACC == 3
VTA_MEM_ID_OUT == 4 && VTA_MEM_ID_ACC_8BIT == 5
VTA_UOP_GEM_0_0 == 0 && VTA_UOP_GEM_0_1 == (VTA_UOP_GEM_0_0 + VTA_LOG_ACC_BUFF_DEPTH - 1)
VTA_UOP_GEM_1_0 == (VTA_UOP_GEM_0_1 + 1)
VTA_UOP_GEM_1_1 == (VTA_UOP_GEM_1_0 + MAX(VTA_LOG_ACC_BUFF_DEPTH, VTA_LOG_INP_BUFF_DEPTH) - 1)
VTA_UOP_GEM_2_0 == (VTA_UOP_GEM_1_1 + 1) && VTA_UOP_GEM_2_1 == (VTA_UOP_GEM_2_0 + VTA_LOG_WGT_BUFF_DEPTH - 1)
VTA_UOP_ALU_0_0 == VTA_UOP_GEM_0_0 && VTA_UOP_ALU_0_1 == VTA_UOP_GEM_0_1
VTA_UOP_ALU_1_0 == VTA_UOP_GEM_1_0 && VTA_UOP_ALU_1_1 == VTA_UOP_GEM_1_1
sizeof(union VTAInsn) == 16
"""

#: Header macros whose values must equal the config (keys and derived parameters).
def expected_macros(config: Config) -> dict[str, int]:
    keys = ("LOG_INP_WIDTH", "LOG_WGT_WIDTH", "LOG_ACC_WIDTH", "LOG_BATCH", "LOG_BLOCK_IN",
            "LOG_BLOCK_OUT",
            "LOG_UOP_BUFF_SIZE", "LOG_INP_BUFF_SIZE", "LOG_WGT_BUFF_SIZE", "LOG_ACC_BUFF_SIZE",
            "LOG_BUS_WIDTH")
    macros = {f"VTA_{key}": getattr(config, key) for key in keys}
    derived = config.derived()
    for kind in ("uop", "inp", "wgt", "acc", "out"):
        macros[f"VTA_{kind.upper()}_BUFF_DEPTH"] = derived[f"{kind}_depth"]
        macros[f"VTA_{kind.upper()}_ELEM_BYTES"] = derived[f"{kind}_elem_bytes"]
    macros["VTA_ALU_MUL"] = int(config.ALU_MUL)
    return macros


def check_program_source(config: Config) -> str:
    """C source that dumps each field set to all ones, in the generated and original structs."""
    isa = layouts(config)
    structs = [(GENERIC_STRUCT, "OrigGenericInsn", isa.finish), (UOP_STRUCT, "OrigUop", isa.uop)]
    structs += [(name, name.replace("VTA", "Orig"), getattr(isa, attribute))
                for attribute, name in INSN_STRUCTS.items()]
    dumps = [f"  DUMP({struct}, {field.name});" for generated, original, layout in structs
             for struct in (generated, original) for field in layout.fields]
    sizes = [f'  printf("sizeof {struct} %zu\\n", sizeof({struct}));'
             for generated, original, _ in structs for struct in (generated, original)]
    macros = [f'  printf("macro {name} %lld\\n", (long long)({name}));'
              for name in expected_macros(config)]
    asserts = [f'_Static_assert({line}, "{line}");'
               for line in ORIGINAL_FORMULAS.strip().splitlines()]
    return "\n".join([
        "#include <stdio.h>", "#include <string.h>", '#include "vta_hw_spec.h"', ORIGINAL_STRUCTS,
        *asserts,
        "static void dump(const char *type, const char *field, const void *data, size_t size) {",
        '  printf("field %s %s ", type, field);',
        '  for (size_t i = 0; i < size; i++) printf("%02x", ((const unsigned char *)data)[i]);',
        '  printf("\\n");', "}",
        "#define DUMP(T, F) do { T x; memset(&x, 0, sizeof x); x.F = -1; "
        "dump(#T, #F, &x, sizeof x); } while (0)",
        "int main(void) {", *dumps, *sizes, *macros, "  return 0;", "}", "",
    ])


@needs_gcc
@pytest.mark.parametrize("name", CONFIGS)
def test_header_compiles_with_fields_where_vta_isa_puts_them(name, tmp_path):
    config = CONFIGS[name]
    (tmp_path / "vta_hw_spec.h").write_text(c_header(config))
    (tmp_path / "check.c").write_text(check_program_source(config))
    subprocess.run([GCC, "-std=c11", "-Wall", "-Wextra", "-Werror", "-Wno-overflow",
                    "-o", "check", "check.c"], cwd=tmp_path, check=True, capture_output=True)
    output = subprocess.run([tmp_path / "check"], check=True, capture_output=True, text=True).stdout

    isa = layouts(config)
    layout_of = {GENERIC_STRUCT: isa.finish, "OrigGenericInsn": isa.finish, UOP_STRUCT: isa.uop,
                 "OrigUop": isa.uop}
    for attribute, struct in INSN_STRUCTS.items():
        layout_of[struct] = layout_of[struct.replace("VTA", "Orig")] = getattr(isa, attribute)
    seen = set()
    for line in output.splitlines():
        kind, *rest = line.split()
        if kind == "field":
            struct, field_name, hex_bytes = rest
            field = layout_of[struct][field_name]
            assert int.from_bytes(bytes.fromhex(hex_bytes), "little") == \
                ((1 << field.width) - 1) << field.lsb, (name, struct, field_name)
            seen.add((struct, field_name))
        elif kind == "sizeof":
            struct, size = rest
            assert int(size) * 8 == layout_of[struct].bits, (name, struct)
        else:
            macro, value = rest
            assert int(value) == expected_macros(config)[macro], (name, macro)
    assert seen == {(struct, field.name) for struct, layout in layout_of.items()
                    for field in layout.fields}


@pytest.mark.skipif(GXX is None, reason="g++ is not installed: cannot compile the header as C++")
def test_header_compiles_as_cplusplus(tmp_path):
    (tmp_path / "vta_hw_spec.h").write_text(c_header(Config.preset()))
    (tmp_path / "check.cc").write_text('#include "vta_hw_spec.h"\n'
                                       "int main() { VTAInsn insn = {}; insn.alu.imm = -1;\n"
                                       "  return insn.alu.imm == -1 ? 0 : 1; }\n")
    subprocess.run([GXX, "-Wall", "-Werror", "-o", "check", "check.cc"], cwd=tmp_path, check=True,
                   capture_output=True)
    subprocess.run([tmp_path / "check"], check=True)
