"""The cycle model's closed-form count of ACC bank conflicts against an execution-by-execution
walk of the loop nest (the rule of docs/hardware.md: an execution reads both tiles in one cycle
unless they share a bank, and one repeating the previous execution's source reads only its
destination). Whether the hardware follows the rule is the cycle model's exactness against the
RTL (tests/simulator/test_cycle_model.py)."""

from types import SimpleNamespace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vta.isa import Config, layouts
from vta.simulator.cycle.bank_conflicts import UopBanks

CONFIG = Config.preset("pynq").replace(LOG_ACC_BUFF_SIZE=10, LOG_UOP_BUFF_SIZE=8)  # 16 ACC tiles


def walk(uops, insn, depth):
    conflicts, previous = 0, None
    for i in range(insn.iter_out):
        for j in range(insn.iter_in):
            for dst, src in uops[insn.uop_bgn:insn.uop_end]:
                dst = (dst + i * insn.dst_factor_out + j * insn.dst_factor_in) % depth
                src = (src + i * insn.src_factor_out + j * insn.src_factor_in) % depth
                conflicts += src != previous and dst % 2 == src % 2
                previous = src
    return conflicts


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_closed_form_counts_what_the_walk_counts(data):
    depth = CONFIG.acc_depth
    small = st.integers(0, depth - 1)
    uops = data.draw(st.lists(st.tuples(small, st.integers(0, 3) | small), min_size=1, max_size=6))
    layout = layouts(CONFIG).uop
    words = np.array([layout.pack({"dst_idx": dst, "src_idx": src}) for dst, src in uops],
                     dtype="<u4")
    banks = UopBanks(CONFIG, words.view(np.uint8))
    banks.load(SimpleNamespace(dram_base=0, sram_base=0, x_size=len(uops)))
    begin = data.draw(st.integers(0, len(uops) - 1))
    factors = st.integers(0, depth + 3)
    insn = SimpleNamespace(uop_bgn=begin, uop_end=data.draw(st.integers(begin, len(uops))),
                           iter_out=data.draw(st.integers(0, 5)),
                           iter_in=data.draw(st.integers(0, 5)),
                           dst_factor_out=data.draw(factors), dst_factor_in=data.draw(factors),
                           src_factor_out=data.draw(factors | st.just(0)),
                           src_factor_in=data.draw(factors | st.just(0)))
    assert banks.conflicts(insn) == walk(uops, insn, depth)
