"""Which front points the conformance corpus applies to: those with one of its configs' ISA."""

from vta.dse.verify import corpus_cases
from vta.isa import Config


def test_the_corpus_applies_to_points_with_its_isa_only():
    pynq = Config.preset("pynq")
    cases = corpus_cases(pynq)
    assert cases and all(case.parent.name == "vta-1x16" for case in cases)
    # the bus and the clock are not part of the ISA; a buffer size or a width is
    assert corpus_cases(pynq.replace(LOG_BUS_WIDTH=5, CLOCK_MHZ=150.0)) == cases
    assert corpus_cases(pynq.replace(LOG_INP_BUFF_SIZE=14)) == []
    assert corpus_cases(pynq.replace(LOG_INP_WIDTH=2, LOG_WGT_WIDTH=2,
                                     LOG_INP_BUFF_SIZE=14, LOG_WGT_BUFF_SIZE=17)) == []
