"""The conformance corpus (vendored in tests/conformance/corpus): where it is and its cases."""

import json
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "conformance" / "corpus"


def corpus_cases(config_dir: str | None = None) -> list[Path]:
    """Case folders of the corpus (both configs unless one is named), in index order."""
    dirs = [CORPUS / config_dir] if config_dir else sorted(p for p in CORPUS.glob("vta-*") if p.is_dir())
    cases = []
    for directory in dirs:
        index = json.loads((directory / "index.json").read_text())
        cases += [directory / case["name"] for case in index["cases"]]
    return cases


def case_id(case: Path) -> str:
    return f"{case.parent.name}/{case.name}"
