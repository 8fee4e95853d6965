"""The top-level ports of a Verilog module, read from its text (Yosys' output, ANSI or not)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from vta.isa import VtaError

_MODULE = re.compile(r"\bmodule\s+(\\?\S+?)\s*(?:#\s*\(.*?\)\s*)?\((.*?)\)\s*;(.*?)\bendmodule\b",
                     re.S)
_DECLARATION = re.compile(
    r"\b(input|output|inout)\b\s*(?:wire|reg|logic)?\s*(?:signed)?\s*"
    r"(?:\[\s*(-?\d+)\s*:\s*(-?\d+)\s*\])?\s*"
    r"([A-Za-z_\\][\w$\\.]*(?:\s*,\s*(?!(?:input|output|inout)\b)[A-Za-z_\\][\w$\\.]*)*)")


@dataclass(frozen=True)
class Port:
    name: str
    direction: str  # "input", "output" or "inout"
    width: int


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"\(\*.*?\*\)", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def module_ports(verilog: str, top: str) -> list[Port]:
    """Ports of module `top` in header order, with direction and width."""
    for match in _MODULE.finditer(_strip_comments(verilog)):
        if match.group(1).lstrip("\\") != top:
            continue
        header, body = match.group(2), match.group(3)
        declared: dict[str, Port] = {}
        for source in (header, body):
            for direction, msb, lsb, names in _DECLARATION.findall(source):
                width = abs(int(msb) - int(lsb)) + 1 if msb else 1
                for name in re.split(r"\s*,\s*", names.strip()):
                    declared[name.lstrip("\\")] = Port(name.lstrip("\\"), direction, width)
        order = [re.split(r"\s+", item.strip())[-1].lstrip("\\")
                 for item in header.split(",") if item.strip()]
        missing = [name for name in order if name not in declared]
        if missing:
            raise VtaError(f"module {top}: port {missing[0]} has no direction declaration")
        return [declared[name] for name in order]
    raise VtaError(f"no module {top} in the Verilog text")
