"""Builds small program images for the simulator tests from vta.isa instructions."""

import numpy as np

from vta.isa import INSN_BYTES, Config, MemoryType, encode_stream, encode_uops
from vta.isa.image import ProgramImage


class ImageBuilder:
    """Lays data out in a DRAM image, each region aligned to its element size."""

    def __init__(self, config: Config):
        self.config = config
        self.dram = bytearray()

    def place(self, data, memory_type: MemoryType) -> int:
        """Append `data` (an array; its raw bytes) aligned for `memory_type`; its dram_base."""
        elem = self.config.elem_bytes(memory_type)
        self.dram += bytes(-len(self.dram) % max(elem, INSN_BYTES))
        base = len(self.dram) // elem
        self.dram += np.ascontiguousarray(data).tobytes()
        return base

    def uops(self, uops) -> int:
        return self.place(encode_uops(uops, self.config), MemoryType.UOP)

    def reserve(self, nbytes: int, memory_type: MemoryType, fill: int = 0xA5) -> int:
        return self.place(np.full(nbytes, fill, np.uint8), memory_type)

    def image(self, program) -> ProgramImage:
        """The image with `program` (instructions) appended."""
        self.dram += bytes(-len(self.dram) % INSN_BYTES)
        insn_addr = len(self.dram)
        self.dram += encode_stream(list(program), self.config)
        dram = np.frombuffer(bytes(self.dram), np.uint8).copy()
        return ProgramImage(self.config, dram, insn_addr, len(program))

