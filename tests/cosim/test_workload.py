"""The rtl backend's static counters against the counters the original models reported."""

import json

import pytest
from corpus import case_id, corpus_cases

from vta.isa.image import ProgramImage
from vta.runtime.backends.rtl.workload import static_counters

POSITIVE = [case for case in corpus_cases()
            if json.loads((case / "case.json").read_text())["expect"] == "ok"]


@pytest.mark.parametrize("case", POSITIVE, ids=case_id)
def test_static_counters_match_the_corpus(case):
    expected = json.loads((case / "case.json").read_text())["counters"]
    image = ProgramImage.load(case)
    assert static_counters(image) == expected
