"""The C header of a config (``vta header``): the original ``hw_spec_const.h`` constants and
``hw_spec.h`` structs, generated from `Config` and `layouts` — nothing here restates a width.

Struct fields sit at the positions `layouts` computes; holes are explicit unnamed bit-fields
and every struct is padded to its full width, so the layout does not depend on the compiler's
bit-field straddling rule (the original header relied on it).
"""

from __future__ import annotations

from vta.isa.config import INSN_BITS, ISA_KEYS, LOOP_ITER_BITS, UOP_BITS, Config
from vta.isa.layout import Layout, layouts
from vta.isa.opcodes import AluOp, MemoryType, Opcode

#: The original struct names of the instruction formats, in `IsaLayouts` attribute order.
INSN_STRUCTS = {"memory": "VTAMemInsn", "gemm": "VTAGemInsn", "alu": "VTAAluInsn"}
UOP_STRUCT = "VTAUop"
GENERIC_STRUCT = "VTAGenericInsn"
#: The members of ``union VTAInsn`` and the struct each one has.
UNION_MEMBERS = {"generic": GENERIC_STRUCT, "mem": "VTAMemInsn", "gemm": "VTAGemInsn",
                 "alu": "VTAAluInsn"}


def _log2(value: int) -> int:
    return value.bit_length() - 1


def _bits(lsb: int, width: int) -> str:
    return f"bit {lsb}" if width == 1 else f"bits [{lsb + width - 1}:{lsb}]"


def _define(name: str, value, comment: str = "") -> str:
    line = f"#define {name} {value}"
    return f"{line:<48} /* {comment} */" if comment else line


def constants(config: Config) -> list[tuple[str, int | str, str]]:
    """(macro name, value, comment) for every ``hw_spec_const.h`` constant of `config`."""
    isa = layouts(config)
    memory, alu = isa.memory, isa.alu
    defined = [(f"VTA_{key}", getattr(config, key), "config key") for key in ISA_KEYS]
    defined += [
        ("VTA_LOG_BUS_WIDTH", config.LOG_BUS_WIDTH, "config key: DRAM data bus"),
        ("VTA_ALU_MUL", int(config.ALU_MUL), "config key: ALU opcode MUL is decoded"),
        ("VTA_LOG_OUT_WIDTH", _log2(config.out_width), "OUT elements are INP-wide"),
        ("VTA_LOG_OUT_BUFF_SIZE", _log2((config.out_depth * config.out_elem_bits) // 8), ""),
        ("VTA_BUS_WIDTH", config.bus_bits, "bits"),
        ("VTA_LOG_INS_WIDTH", _log2(INSN_BITS), ""), ("VTA_INS_WIDTH", INSN_BITS, "bits"),
        ("VTA_LOG_UOP_WIDTH", _log2(UOP_BITS), ""), ("VTA_UOP_WIDTH", UOP_BITS, "bits"),
        ("VTA_WGT_WIDTH", config.wgt_width, "bits"), ("VTA_INP_WIDTH", config.inp_width, "bits"),
        ("VTA_OUT_WIDTH", config.out_width, "bits"), ("VTA_ACC_WIDTH", config.acc_width, "bits"),
        ("VTA_BATCH", config.batch, ""), ("VTA_BLOCK_IN", config.block_in, ""),
        ("VTA_BLOCK_OUT", config.block_out, ""),
    ]
    for kind in ("UOP", "WGT", "INP", "ACC"):
        defined.append((f"VTA_{kind}_BUFF_SIZE", 1 << getattr(config, f"LOG_{kind}_BUFF_SIZE"),
                        "bytes"))
    elem_bits = {"INP": config.inp_elem_bits, "WGT": config.wgt_elem_bits,
                 "ACC": config.acc_elem_bits, "OUT": config.out_elem_bits}
    defined += [(f"VTA_{kind}_MATRIX_WIDTH", bits, "bits") for kind, bits in elem_bits.items()]
    defined += [(f"{kind}_MAT_AXI_RATIO", bits // config.bus_bits, "elements / bus width")
                for kind, bits in elem_bits.items()]
    defined.append(("VTA_INS_ELEM_BYTES", INSN_BITS // 8, ""))
    defined += [(f"VTA_{kind.name}_ELEM_BYTES", config.elem_bytes(kind), "")
                for kind in (MemoryType.UOP, MemoryType.INP, MemoryType.WGT, MemoryType.ACC,
                             MemoryType.OUT)]
    for kind in (MemoryType.UOP, MemoryType.WGT, MemoryType.INP, MemoryType.ACC, MemoryType.OUT):
        depth = config.depth(kind)
        defined += [(f"VTA_{kind.name}_BUFF_DEPTH", depth, "elements"),
                    (f"VTA_LOG_{kind.name}_BUFF_DEPTH", _log2(depth), "")]
    defined += [
        ("VTA_OPCODE_BIT_WIDTH", memory["opcode"].width, ""),
        ("VTA_ALU_OPCODE_BIT_WIDTH", alu["alu_opcode"].width, ""),
    ]
    defined += [(f"VTA_OPCODE_{op.name}", int(op), "") for op in Opcode]
    defined += [(f"VTA_ALU_OPCODE_{op.name}", int(op), "") for op in AluOp]
    defined += [
        ("VTA_MEMOP_ID_BIT_WIDTH", memory["memory_type"].width, ""),
        ("VTA_MEMOP_SRAM_ADDR_BIT_WIDTH", memory["sram_base"].width, ""),
        ("VTA_MEMOP_DRAM_ADDR_BIT_WIDTH", memory["dram_base"].width, ""),
        ("VTA_MEMOP_SIZE_BIT_WIDTH", memory["x_size"].width, ""),
        ("VTA_MEMOP_STRIDE_BIT_WIDTH", memory["x_stride"].width, ""),
        ("VTA_MEMOP_PAD_BIT_WIDTH", memory["x_pad_0"].width, ""),
        ("VTA_LOOP_ITER_WIDTH", LOOP_ITER_BITS, ""),
        ("VTA_ALUOP_IMM_BIT_WIDTH", alu["imm"].width, ""),
        ("VTA_SHR_ARG_BIT_WIDTH", config.LOG_ACC_WIDTH, "SHR uses the low LOG_ACC_WIDTH bits"),
    ]
    defined += [(f"VTA_MEM_ID_{kind.name}", int(kind), "") for kind in MemoryType]
    uop = isa.uop
    for number, name in enumerate(("dst_idx", "src_idx", "wgt_idx")):
        field = uop[name]
        for prefix in ("VTA_UOP_GEM", "VTA_UOP_ALU"):
            if prefix == "VTA_UOP_ALU" and name == "wgt_idx":
                continue
            defined += [(f"{prefix}_{number}_0", field.lsb, f"{name} first bit"),
                        (f"{prefix}_{number}_1", field.lsb + field.width - 1, f"{name} last bit")]
    return defined


def _struct(name: str, layout: Layout, unit: str) -> list[str]:
    """A typedef'd struct of `layout`'s fields over `unit` words, holes as unnamed padding."""
    unit_bits = int(unit.removeprefix("uint").removesuffix("_t"))
    lines, position = [f"typedef struct {{  /* {layout.name}: {layout.bits} bits */"], 0

    def pad_to(target: int) -> None:
        nonlocal position
        while position < target:  # one padding member per unit word, never straddling
            width = min(target, (position // unit_bits + 1) * unit_bits) - position
            lines.append(f"  {unit:<8} {'':<14} : {width:>2};  "
                         f"/* unused, {_bits(position, width)} */")
            position += width

    for field in layout.fields:
        pad_to(field.lsb)
        base = unit.replace("uint", "int") if field.signed else unit
        lines.append(f"  {base:<8} {field.name:<14} : {field.width:>2};  /* "
                     f"{_bits(field.lsb, field.width)} */")
        position = field.lsb + field.width
    pad_to(layout.bits)
    lines.append(f"}} {name};")
    return lines


def c_header(config: Config) -> str:
    """The complete header text for `config`."""
    isa = layouts(config)
    lines = [
        f"/* VTA hardware specification for config {config.config_string} "
        f"(target {config.TARGET}).",
        " * Generated by `vta header` from vta.isa; do not edit. */",
        "#ifndef VTA_HW_SPEC_H_", "#define VTA_HW_SPEC_H_", "",
        "#include <stdint.h>", "",
        "#ifdef __cplusplus", 'extern "C" {', "#define VTA_STATIC_ASSERT static_assert", "#else",
        "#define VTA_STATIC_ASSERT _Static_assert", "#endif", "",
    ]
    lines += [_define(name, value, comment) for name, value, comment in constants(config)]
    lines.append("")
    lines += _struct(GENERIC_STRUCT, isa.finish, "uint64_t") + [""]  # the common header
    for attribute, struct in INSN_STRUCTS.items():
        lines += _struct(struct, getattr(isa, attribute), "uint64_t") + [""]
    lines.append("union VTAInsn {")
    lines += [f"  {struct} {member};" for member, struct in UNION_MEMBERS.items()]
    lines += ["};", ""]
    lines += _struct(UOP_STRUCT, isa.uop, "uint32_t") + [""]
    for struct, bits in [(s, INSN_BITS) for s in UNION_MEMBERS.values()] + [(UOP_STRUCT, UOP_BITS)]:
        lines.append(f'VTA_STATIC_ASSERT(sizeof({struct}) * 8 == {bits}, "{struct} size");')
    lines += ["", "#ifdef __cplusplus", "}", "#endif", "#endif  /* VTA_HW_SPEC_H_ */", ""]
    return "\n".join(lines)
