"""The GEMM core: one tile product-accumulate per cycle, two pipeline stages.

``result = acc + inp · wgtᵀ`` per batch row (mod 2³²), or 0 with `reset`. Stage 1 registers the
products, stage 2 the adder trees plus the accumulator.

DSP budget: with the machine's `pack_multiplier_pairs` (the default), the two products of one
input element with the weights of two neighbouring output channels come from a single
multiplication ``P = x · (w_hi · 2¹⁶ + w_lo)`` — an 8 × 25-bit signed product, which fits one
DSP48E1 (25 × 18). A 16 × 16 core then needs 128 multipliers instead of 256 (the XC7Z020 has
220 DSP48E1).

Stage 1 registers each product ``p`` (``product_bits`` wide) in offset binary: the unsigned
``q = p + 2^(product_bits-1)``. Of a packed pair, the low product (in −16256…16384) plus 2¹⁵
stays inside the low 16 bits, so the two are the two halves of ``P + 2³¹ + 2¹⁵`` (one addition;
no correction of the high product by the low one's sign). The adder trees add these unsigned
numbers; a tree of ``block_in = 2^k`` of them exceeds the sum of the products by
``2^(product_bits+k-1)``, its top bit: inverted, and read as signed, the tree is that sum. The
same function, in the same adders, as signed products and signed trees — but written so that
Verilator's C++ of it has no sign extension at every adder, nor a sign bit repeated bit by bit
(the fast RTL harness spends most of its time here: docs/cosim.md, "Figures").
"""

from amaranth.hdl import Cat, Const, Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from vta.hardware.layouts import acc_tile, inp_tile, wgt_tile
from vta.isa import Config



def adder_tree(values: list):
    """Balanced sum of `values`."""
    while len(values) > 1:
        values = [values[i] + values[i + 1] if i + 1 < len(values) else values[i]
                  for i in range(0, len(values), 2)]
    return values[0]


def packed_products(m: Module, x, w_lo, w_hi):
    """The offset-binary products ``(x·w_lo + 2^(shift-1), x·w_hi + 2^(shift-1)) mod 2^shift``
    from one multiplication by ``w_hi · 2^shift + w_lo``, where `shift` is the width of one product
    (16 for int8: an 8 × 25-bit multiplication). ``|x·w_lo| ≤ 2^(shift-2)``, so adding
    ``2^(shift-1)`` keeps the low product's bits inside the low half: the high half of the sum is
    ``x·w_hi`` plus the offset added there."""
    shift = len(x) + len(w_lo)
    product = Signal(signed(len(x) + len(w_hi) + shift + 1))
    offset = Signal(2 * shift)
    # w_hi · 2^shift as a concatenation: a shift of a signed value would be written out as its
    # sign bit repeated, bit by bit, in the Verilog.
    high_weight = Cat(Const(0, shift), w_hi).as_signed()
    m.d.comb += [product.eq(x * (high_weight + w_lo)),
                 offset.eq(product.as_unsigned() + ((1 << (2 * shift - 1)) | (1 << (shift - 1))))]
    return offset[:shift], offset[shift:]


class GemmCore(wiring.Component):
    """Tile multiply-accumulate datapath.

    Ports
    -----
    valid, reset : ``In(1)``
        Operands present this cycle (reset: the result is zero).
    inp : ``In(inp_tile(config))``, wgt : ``In(wgt_tile(config))``, acc : ``In(acc_tile(config))``
    result : ``Out(acc_tile(config))``, result_valid : ``Out(1)``
        Two cycles after the operands.
    """

    def __init__(self, *, config: Config):
        self.config = config
        super().__init__({"valid": In(1), "reset": In(1), "inp": In(inp_tile(config)),
                          "wgt": In(wgt_tile(config)), "acc": In(acc_tile(config)),
                          "result": Out(acc_tile(config)), "result_valid": Out(1)})

    def elaborate(self, platform):
        m = Module()
        config = self.config
        block_in, block_out = config.block_in, config.block_out

        # Stage 1: products, in offset binary (unsigned, p + 2^(product_bits-1)).
        product_bits = config.inp_width + config.wgt_width
        half = 1 << (product_bits - 1)
        products = [[[Signal(product_bits, name=f"p_{b}_{oc}_{ic}", init=half)
                      for ic in range(block_in)]
                     for oc in range(block_out)] for b in range(config.batch)]
        acc_1 = Signal(acc_tile(config))
        valid_1, reset_1 = Signal(), Signal()
        m.d.sync += [acc_1.eq(self.acc), valid_1.eq(self.valid), reset_1.eq(self.reset)]
        for b in range(config.batch):
            for ic in range(block_in):
                x = self.inp[b][ic]
                if config.machine.pack_multiplier_pairs:
                    for oc in range(0, block_out, 2):
                        low, high = packed_products(m, x, self.wgt[oc][ic], self.wgt[oc + 1][ic])
                        m.d.sync += [products[b][oc][ic].eq(low), products[b][oc + 1][ic].eq(high)]
                else:
                    for oc in range(block_out):
                        m.d.sync += products[b][oc][ic].eq(x * self.wgt[oc][ic] + half)

        # Stage 2: adder trees and accumulation (mod 2^32). A tree of block_in = 2^k offset
        # products is product_bits + k wide and exceeds the sum of the products by 2^(its
        # width - 1): its top bit inverted, read as signed, is that sum.
        assert block_in & (block_in - 1) == 0, "block_in is a power of two"
        for b in range(config.batch):
            for oc in range(block_out):
                lane = b * block_out + oc
                tree = Signal(product_bits + block_in.bit_length() - 1, name=f"tree_{b}_{oc}")
                m.d.comb += tree.eq(adder_tree(products[b][oc]))
                total = acc_1[lane] + Cat(tree[:-1], ~tree[-1]).as_signed()
                with m.If(reset_1):
                    m.d.sync += self.result[lane].eq(0)
                with m.Else():
                    m.d.sync += self.result[lane].eq(total[:config.acc_width])
        m.d.sync += self.result_valid.eq(valid_1)
        return m
