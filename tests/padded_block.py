"""The 2-D padded LOAD of isa-reference §4.1 walked tile by tile, for the tests' oracles."""


def padded_block(insn):
    """(SRAM index, DRAM element or None for a pad tile) for every tile a LOAD writes."""
    width = insn.x_pad_0 + insn.x_size + insn.x_pad_1
    index = insn.sram_base
    for row in range(insn.y_pad_0 + insn.y_size + insn.y_pad_1):
        for column in range(width):
            y, x = row - insn.y_pad_0, column - insn.x_pad_0
            inside = 0 <= y < insn.y_size and 0 <= x < insn.x_size
            yield index, (insn.dram_base + y * insn.x_stride + x) if inside else None
            index += 1
