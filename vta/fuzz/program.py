"""A fuzz program: a DRAM image without its instruction stream, and the instructions, so that
the shrinker can edit instructions and rebuild the image."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vta.isa import INSN_BYTES, Config, Instruction, encode_stream
from vta.isa.image import ProgramImage


@dataclass
class FuzzProgram:
    """`data` is the DRAM image up to the instruction stream, which `image()` appends."""

    config: Config
    data: bytes
    instructions: list[Instruction]
    notes: dict = field(default_factory=dict)

    def image(self) -> ProgramImage:
        data = self.data + bytes(-len(self.data) % INSN_BYTES)
        stream = encode_stream(self.instructions, self.config)
        dram = np.frombuffer(data + stream, np.uint8).copy()
        return ProgramImage(self.config, dram, len(data), len(self.instructions),
                            dict(self.notes))

    def replace(self, **changes) -> FuzzProgram:
        values = {"config": self.config, "data": self.data,
                  "instructions": list(self.instructions), "notes": dict(self.notes)}
        return FuzzProgram(**(values | changes))

    def save(self, folder: Path, metadata: dict) -> None:
        """Write a program-image folder (``dram.bin`` + ``case.json``) with `metadata`."""
        image = self.image()
        image.metadata = dict(metadata)
        image.save(folder)
        meta = json.loads((folder / "case.json").read_text())
        meta["config"] = {key: value for key, value in self.config.to_dict().items()
                          if key not in ("CLOCK_MHZ", "TARGET", "HW_VER")}
        (folder / "case.json").write_text(json.dumps(meta, indent=1) + "\n")
