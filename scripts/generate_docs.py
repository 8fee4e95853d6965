#!/usr/bin/env python3
"""Regenerate the parts of docs/ that come from code: the register table of docs/registers.md
(from `vta.isa.registers.REGISTERS`). With --check, exit 1 when a page is out of date instead.

    .venv/bin/python scripts/generate_docs.py [--check]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from vta.isa.registers import markdown_table

REPO = Path(__file__).resolve().parent.parent
MARKER = "<!-- generated from vta.isa.registers by scripts/generate_docs.py: do not edit -->\n"


def registers_page(text: str) -> str:
    """docs/registers.md with its generated table replaced by the current one."""
    pattern = re.compile(re.escape(MARKER) + r"(?:TABLE\n?|(?:\|[^\n]*\n)+)")
    if not pattern.search(text):
        raise SystemExit("docs/registers.md has no generated-table marker")
    return pattern.sub(lambda _: MARKER + markdown_table(), text, count=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    path = REPO / "docs" / "registers.md"
    current = path.read_text()
    wanted = registers_page(current)
    if args.check:
        if wanted != current:
            print(f"{path}: out of date (run scripts/generate_docs.py)", file=sys.stderr)
            return 1
        return 0
    path.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
