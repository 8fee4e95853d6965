"""Program images (DESIGN.md contract 4): a DRAM image plus where its instruction stream is."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vta.isa.config import ISA_KEYS, Config
from vta.isa.errors import ConfigError, ImageError
from vta.isa.instructions import INSN_BYTES, Instruction, decode

DRAM_FILE = "dram.bin"
META_FILE = "case.json"


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
            metadata = json.loads(meta_path.read_text())
            dram = np.fromfile(dram_path, dtype=np.uint8)
        except FileNotFoundError as error:
            raise ImageError(f"{error.filename}: no such file") from None
        except NotADirectoryError:
            raise ImageError(f"{directory}: not a program-image folder") from None
        except UnicodeDecodeError:
            raise ImageError(f"{meta_path}: not a JSON text file") from None
        except json.JSONDecodeError as error:
            raise ImageError(f"{meta_path}: invalid JSON at line {error.lineno}: {error.msg}") from None
        if not isinstance(metadata, dict):
            raise ImageError(f"{meta_path}: expected one JSON object")
        try:
            config = (base or Config.preset()).replace(**metadata.get("config", {}))
            insn_addr, insn_count = int(metadata["insn_addr"]), int(metadata["insn_count"])
        except KeyError as error:
            raise ImageError(f"{meta_path}: missing key {error.args[0]}") from None
        except (TypeError, ValueError) as error:
            raise ImageError(f"{meta_path}: {error}") from None
        except ConfigError as error:
            raise ImageError(f"{meta_path}: {error}") from None
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

    def instructions(self) -> list[Instruction]:
        return [decode(row.tobytes(), self.config, f"instruction {index}: ")
                for index, row in enumerate(self.instruction_bytes)]
