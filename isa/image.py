"""Program images (docs/contracts.md §4): a DRAM image plus where its instruction stream is."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from vta.isa import schema
from vta.isa.config import ISA_KEYS, Config
from vta.isa.errors import ConfigError, ImageError
from vta.isa.instructions import INSN_BYTES, Instruction
from vta.isa.program import DecodedInstruction, decode_program

DRAM_FILE = "dram.bin"
META_FILE = "case.json"
#: Largest DRAM image a program-image folder may hold (the 32-bit physical address space).
MAX_DRAM_BYTES = 1 << 32

#: What ``case.json`` holds (`vta.isa.schema`): the ISA keys (checked by `Config`), where the
#: instruction stream is, and optional corpus metadata; other keys are free-form notes.
CASE_SCHEMA = schema.record(
    {"insn_addr": schema.integer(0, MAX_DRAM_BYTES - INSN_BYTES) | {"multipleOf": INSN_BYTES},
     "insn_count": schema.integer(0, MAX_DRAM_BYTES // INSN_BYTES)},
    {"config": {"type": "object", "maxProperties": 64},
     "expect": schema.one_of("ok", "bounds", "deadlock", "error"),
     "counters": {"anyOf": [{"type": "null"},
                            {"type": "object", "additionalProperties": schema.integer()}]},
     "description": schema.text()},
    extra=True)


@dataclass
class ProgramImage:
    """Everything the hardware sees for one run: DRAM (byte offset = physical address), the
    address of the first instruction and the instruction count."""

    config: Config
    dram: np.ndarray
    insn_addr: int
    insn_count: int
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        end = self.insn_addr + INSN_BYTES * self.insn_count
        if self.insn_addr < 0 or self.insn_count < 0 or end > self.dram.size:
            raise ImageError(f"instruction stream [{self.insn_addr:#x}, {end:#x}) lies outside "
                             f"the DRAM image of {self.dram.size} bytes")
        if self.insn_addr % INSN_BYTES:
            raise ImageError(f"insn_addr {self.insn_addr:#x} is not a multiple of {INSN_BYTES}")

    @classmethod
    def load(cls, directory: str | Path, base: Config | None = None) -> ProgramImage:
        """Read an image folder (``dram.bin`` + ``case.json``, the conformance corpus format).
        ISA keys come from ``case.json``; the rest from `base` (default: the `pynq` preset)."""
        directory = Path(directory)
        meta_path, dram_path = directory / META_FILE, directory / DRAM_FILE
        try:
            text = meta_path.read_bytes()
            if dram_path.stat().st_size > MAX_DRAM_BYTES:
                raise ImageError(f"{dram_path}: larger than the {MAX_DRAM_BYTES >> 30} GiB "
                                 f"address space")
            dram = np.fromfile(dram_path, dtype=np.uint8)
        except FileNotFoundError as error:
            raise ImageError(f"{error.filename}: no such file") from None
        except NotADirectoryError:
            raise ImageError(f"{directory}: not a program-image folder") from None
        except IsADirectoryError as error:
            raise ImageError(f"{error.filename}: a folder, not a file") from None
        except OSError as error:
            raise ImageError(f"{error.filename or directory}: cannot read: {error.strerror}") from None
        metadata = schema.parse_json(text, str(meta_path), ImageError)
        schema.validate(metadata, CASE_SCHEMA, str(meta_path), ImageError)
        try:
            config = (base or Config.preset()).replace(**metadata.get("config", {}))
        except ConfigError as error:
            raise ImageError(f"{meta_path}: {error}") from None
        insn_addr, insn_count = metadata["insn_addr"], metadata["insn_count"]
        try:
            return cls(config, dram, insn_addr, insn_count, metadata)
        except ImageError as error:
            raise ImageError(f"{directory}: {error}") from None

    def save(self, directory: str | Path) -> None:
        """Write the image folder; ``case.json`` keeps the metadata and gives the ISA keys."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        metadata = dict(self.metadata)
        metadata["config"] = {key: getattr(self.config, key) for key in ISA_KEYS}
        metadata["insn_addr"], metadata["insn_count"] = self.insn_addr, self.insn_count
        self.dram.tofile(directory / DRAM_FILE)
        (directory / META_FILE).write_text(json.dumps(metadata, indent=1) + "\n")

    @property
    def instruction_bytes(self) -> np.ndarray:
        """The stream as an (insn_count, 16) uint8 view into DRAM."""
        stream = self.dram[self.insn_addr:self.insn_addr + INSN_BYTES * self.insn_count]
        return stream.reshape(self.insn_count, INSN_BYTES)

    @cached_property
    def program(self) -> list[DecodedInstruction]:
        """The stream decoded and validated once (`vta.isa.program`), as every backend, the
        static check and the tools take it; DecodeError names the first invalid instruction.
        Decoded at first use: the instructions as they are before a run changes DRAM."""
        return decode_program(self.config, self.dram, self.insn_addr, self.insn_count)

    def instructions(self) -> list[Instruction]:
        """The stream as `Instruction` values (for the assembler and encoders)."""
        return [insn.instruction() for insn in self.program]
