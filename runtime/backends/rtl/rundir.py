"""The run folder: how Python hands an image to a harness and gets the result back.

In: ``dram.bin`` (the DRAM image) and ``run.txt`` (``key value`` lines, `REQUEST_KEYS`).
Out: ``dram_out.bin`` (the final DRAM image) and ``result.json`` (``status`` ok / deadlock /
error, ``message``, ``edges`` simulated, ``started_at`` edge of the start command,
``registers`` {name: value} read from the control slave). Both harnesses use this format.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vta.isa.registers import Register

REQUEST_KEYS = ("insn_addr", "insn_count", "bus_bytes", "read_latency", "write_latency",
                "max_cycles")
DRAM_IN, DRAM_OUT, REQUEST, RESULT = "dram.bin", "dram_out.bin", "run.txt", "result.json"


def write_request(folder: Path, dram: np.ndarray, **request: int) -> None:
    if sorted(request) != sorted(REQUEST_KEYS):
        raise ValueError(f"run request needs exactly the keys {', '.join(REQUEST_KEYS)}")
    folder.mkdir(parents=True, exist_ok=True)
    for name in (DRAM_OUT, RESULT):
        (folder / name).unlink(missing_ok=True)
    np.ascontiguousarray(dram, dtype=np.uint8).tofile(folder / DRAM_IN)
    (folder / REQUEST).write_text("".join(f"{key} {int(request[key])}\n" for key in REQUEST_KEYS))


def read_request(folder: Path) -> dict[str, int]:
    pairs = (line.split() for line in (folder / REQUEST).read_text().splitlines() if line.strip())
    return {key: int(value) for key, value in pairs}


def read_dram(folder: Path) -> bytes:
    return (folder / DRAM_IN).read_bytes()


def write_result(folder: Path, dram: bytearray, *, status: str, message: str, edges: int,
                 started_at: int, registers: dict[Register, int]) -> None:
    (folder / DRAM_OUT).write_bytes(bytes(dram))
    result = {"status": status, "message": message, "edges": edges, "started_at": started_at,
              "registers": {register.name: value for register, value in registers.items()}}
    (folder / RESULT).write_text(json.dumps(result) + "\n")


def read_result(folder: Path) -> tuple[dict, np.ndarray | None]:
    """The result object and the final DRAM image (None if the harness wrote none)."""
    result = json.loads((folder / RESULT).read_text())
    out = folder / DRAM_OUT
    return result, (np.fromfile(out, dtype=np.uint8) if out.exists() else None)
