"""The tensor ALU: one operation on every ACC lane, result registered one cycle later.

Operations (isa-reference §4.4, docs/contracts.md §1): MIN, MAX (signed), ADD (mod 2³²), SHR with the
shift rule (the low 5 bits of b as a signed amount, negative = left shift, mod 2³²) and, when
``config.ALU_MUL``, MUL (``a × sext16(b)`` mod 2³²). Other opcodes leave a unchanged (the static
check rejects them before a run).
"""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from vta.hardware.layouts import acc_tile
from vta.isa import AluOp, Config
from vta.isa.layout import ALU_IMM_BITS, ALU_OPCODE_BITS

def shift_bits(config: Config) -> int:
    """Bits of the shift amount taken from the operand (LOG_ACC_WIDTH)."""
    return config.LOG_ACC_WIDTH


def alu_lane(m: Module, config: Config, op, a, b):
    """The value of one lane of ``op(a, b)`` (a, b signed 32-bit)."""
    width = config.acc_width
    out = Signal(signed(width))
    amount = b[:shift_bits(config)].as_signed()
    with m.Switch(op):
        with m.Case(AluOp.MIN):
            m.d.comb += out.eq(Mux(a < b, a, b))
        with m.Case(AluOp.MAX):
            m.d.comb += out.eq(Mux(a < b, b, a))
        with m.Case(AluOp.ADD):
            m.d.comb += out.eq((a + b)[:width])
        with m.Case(AluOp.SHR):
            with m.If(amount[-1]):
                m.d.comb += out.eq((a << (-amount).as_unsigned())[:width])
            with m.Else():
                m.d.comb += out.eq(a >> amount.as_unsigned())
        if config.ALU_MUL:
            with m.Case(AluOp.MUL):
                m.d.comb += out.eq((a * b[:ALU_IMM_BITS].as_signed())[:width])
        with m.Default():
            m.d.comb += out.eq(a)
    return out


class TensorAlu(wiring.Component):
    """Lane-parallel ALU datapath.

    Ports
    -----
    op : ``In(ALU_OPCODE_BITS)``
    a, b : ``In(acc_tile(config))``
        Destination value and second operand (the caller broadcasts an immediate).
    result : ``Out(acc_tile(config))``
        ``op(a, b)``, registered (one cycle of latency).
    """

    def __init__(self, *, config: Config):
        self.config = config
        super().__init__({"op": In(ALU_OPCODE_BITS), "a": In(acc_tile(config)),
                          "b": In(acc_tile(config)), "result": Out(acc_tile(config))})

    def elaborate(self, platform):
        m = Module()
        for lane in range(len(self.a)):
            m.d.sync += self.result[lane].eq(alu_lane(m, self.config, self.op, self.a[lane],
                                                      self.b[lane]))
        return m
