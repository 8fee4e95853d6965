"""Requantization with the ALU multiply: ``y = clamp(round(acc · M) + zero_point, lo, hi)`` to
within `ERROR_BUDGET` of an output step, at the fewest ALU cycles.

One 32-bit register cannot hold acc · M precisely enough: the multiplier is a 16-bit operand,
so a single ``MUL m`` gets M to about 15 bits, and the pre-shift that keeps the product inside
32 bits drops low bits of the accumulator; both move results that lie near a rounding tie by
one step (a few per thousand outputs, which random-weight networks amplify to several steps).
The plans here compute, with T the total shift and μ = M · 2^T:

    X = acc · m1 + ⌊⌊acc / 2^k⌋ · m0 / 2^j⌋,   m1 = round(μ),   m0 / 2^(k+j) ≈ μ − m1,

the *main* product in register 0 and the *correction* (the remainder of μ below m1's last bit,
to about 15 more bits) in a scratch register 1, added back before the rounding shift
``y = ⌊(X + 2^(T−1)) / 2^T⌋ + zero_point``. Where μ is an integer (or a product of two 16-bit
factors) for every lane, the correction is dropped. The accumulator is first clamped to the
range whose outputs are not saturated ([c_lo, c_hi]: outside it every result is lo or hi), so
that T can be as large as the int32 range of X allows (about 22 bits below the output step);
a side whose clamp bound lies beyond the accumulators' reach needs no clamp, and a side left
unclamped may instead saturate the result at the end.

Error, in units of 2^−T (all exact integer facts, checked in tests/compiler/test_requantize.py):
with ρ = acc mod 2^k and σ the fraction dropped by the last floor,
X − acc·μ = acc·η − ρ·m0/2^(k+j) − σ, η = m0/2^(k+j) − (μ − m1), so |X − acc·μ| ≤
L·|η| + (2^k − 1)·|m0|/2^(k+j) + 1 − 2^−j over |acc| ≤ L; divided by 2^T it bounds how far
the result may round from exact rounding (`Plan.error`). Where the accumulators' range is
small (`ENUMERATE`), the plan is instead run on every one of them and its actual error taken.

A cheaper candidate needs no scratch register: the *chain* ``X = ⌊acc·a / 2^s⌋·b`` (`_chain`:
MUL, SHR, MUL, then one ADD of the rounding constant, which also centres the truncation, and
the shifts), 3–4 ALU steps fewer. Its error is larger (about 10⁻⁴ step on a convolution's
accumulators, whose range is wide), so it is chosen where it is within the budget: mostly
int8 → int8 rescales and products of two activations, whose accumulators are measured one by
one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vta.compiler.alu_program import (ACC_LIMIT, IMM_MAX, INT32_MAX, MAX_SHIFT, AluStep, Register,
                                      alu_cycles, monotone, rounding_shift, run_steps, shifts)
from vta.isa import AluOp, VtaError

#: The largest error, in output steps beyond exact rounding, a plan may have: near ties the
#: result may be one step off on about this share of outputs (2^-16 keeps the zoo's networks
#: within a step of onnxruntime; 2^-10 already moves them by three).
ERROR_BUDGET = 2.0 ** -16
#: Accumulator ranges up to this many values (over all lanes) are checked value by value.
ENUMERATE = 1 << 20
#: X (register 0 before the rounding shift) stays below this magnitude.
X_LIMIT = ACC_LIMIT
#: How many accumulators beyond its exact saturation point a clamp bound may move.
CLAMP_SLACK = 2
#: The largest second factor b of a chain ⌊acc·a / 2^s⌋·b (its truncation error grows with b).
CHAIN_FACTOR = 512
#: Lanes `_chain` works on at once (its arrays are lanes × CHAIN_FACTOR floats).
CHAIN_LANES = 256


@dataclass(frozen=True)
class Plan:
    """A requantization program and its proven error bound (output steps)."""

    steps: tuple[AluStep, ...]
    error: float

    @property
    def cycles(self) -> int:
        return alu_cycles(self.steps)


def plan_multiply(multiplier: np.ndarray, acc_bound: np.ndarray, zero_point: int, lo: int,
                  hi: int) -> Plan:
    """The cheapest plan within ERROR_BUDGET (else the most accurate) of ``clamp(round(acc·M) +
    zero_point, lo, hi)`` for every |acc| ≤ acc_bound (arrays broadcast like M)."""
    bounds = _saturation_bounds(multiplier, zero_point, lo, hi)
    reaches = (bounds[0] > -acc_bound, bounds[1] < acc_bound)
    enumerable = acc_bound.size * (2 * int(acc_bound.max()) + 1) <= ENUMERATE
    # the cheapest valid plan within the budget (without the chains whose error bound cannot
    # be within it, unless each plan's error is measured); else the most accurate valid one
    for within in (True, False):
        candidates = _candidates(multiplier, acc_bound, zero_point, bounds, reaches,
                                 ERROR_BUDGET if within and not enumerable else None)
        order = (lambda c: c[:2]) if within else (lambda c: (c[1], c[0]))
        for _, error, shape, clamped in sorted(candidates, key=order):
            if within and error > ERROR_BUDGET and not enumerable:
                continue
            plan = _assemble(shape, clamped, bounds, reaches, acc_bound, multiplier, zero_point,
                             lo, hi, enumerable)
            if plan is not None and (plan.error <= ERROR_BUDGET or not within):
                return plan
    raise VtaError("requantization: no ALU program computes this multiplier")


def _candidates(multiplier: np.ndarray, acc_bound: np.ndarray, zero_point: int, bounds,
                reaches, budget: float | None) -> list[tuple]:
    """(ALU cycles, error bound, shape, clamped sides) of every plan: each clamping's shapes
    (`_shapes`; without chains over `budget`, where given)."""
    candidates = []
    known: dict[tuple, list[_Shape]] = {}   # the shapes of each reach (most clampings share it)
    # a side is clamped only where the accumulators reach beyond its saturation bound
    for clamp_low in {False, bool(np.any(reaches[0]))}:
        for clamp_high in {False, bool(np.any(reaches[1]))}:
            clamped = (clamp_low, clamp_high)
            low = np.where(clamp_low & reaches[0], bounds[0] - CLAMP_SLACK, -acc_bound)
            high = np.where(clamp_high & reaches[1], bounds[1] + CLAMP_SLACK, acc_bound)
            reach = np.maximum(-np.maximum(low, -acc_bound), np.minimum(high, acc_bound))
            seen = (reach.shape, reach.dtype.str, reach.tobytes())
            if seen not in known:
                known[seen] = _shapes(multiplier, reach, zero_point, budget)
            for shape in known[seen]:
                # an unclamped side that reaches saturation saturates at the end
                estimate = alu_cycles(_arithmetic(shape, zero_point)) + sum(
                    2 if clamped[side] else int(np.any(reaches[side])) for side in (0, 1))
                error = float(np.max(shape.error_units * 2.0 ** -shape.total))
                candidates.append((estimate, error, shape, clamped))
    return candidates


def _saturation_bounds(multiplier: np.ndarray, zero_point: int, lo: int, hi: int):
    """Per lane, the largest accumulator whose exact result is ≤ lo and the smallest whose
    result is ≥ hi (exact rational arithmetic: M is a binary fraction)."""
    low = np.empty(multiplier.shape, dtype=np.int64)
    high = np.empty(multiplier.shape, dtype=np.int64)
    # round half up: floor(acc·M + zp + 1/2) ≤ lo  ⇔  acc < (lo + 1/2 − zp) / M; with M = n/d,
    # (lo + 1/2 − zp) / M = (2·(lo − zp) + 1)·d / 2n, and ⌈p/q⌉ = −(−p // q) in integers
    below, above = 2 * (lo - zero_point) + 1, 2 * (hi - zero_point) - 1
    bounds = {}                                  # lanes mostly share their multiplier
    for index, m in np.ndenumerate(multiplier):
        if m not in bounds:
            n, d = float(m).as_integer_ratio()
            bounds[m] = -(-below * d // (2 * n)) - 1, -(-above * d // (2 * n))
        low[index], high[index] = bounds[m]
    return low, high


@dataclass(frozen=True)
class _Shape:
    """The constants of one plan: total shift T, main multiplier m1 (one or two factors),
    correction pre-shift k, multiplier m0 and post-shift j (m0 = 0: no correction)."""

    total: int
    factors: tuple[np.ndarray, ...]
    pre: int
    correction: np.ndarray
    post: int
    error_units: np.ndarray     # bound on |X − acc·μ| in units of 2^−T, per lane
    #: a chain ⌊acc·a / 2^s⌋·b in register 0 instead (factors = (a, b), no correction): the
    #: shift s per lane and the constant that centres its truncation, in units of 2^−T
    chain: np.ndarray | None = None
    centre: np.ndarray | int = 0


def _shapes(multiplier: np.ndarray, reach: np.ndarray, zero_point: int,
            budget: float | None = None) -> list[_Shape]:
    """Candidate constants for accumulators |acc| ≤ reach: for the largest total shifts T that
    keep X inside int32 and the main multiplier a 16-bit operand, the main product alone and
    with the best corrections; for the largest T with μ a product of two such operands, that
    product alone; the T, if any, where μ is an integer for every lane (exact alone); and the
    chains (`_chain`) of the two largest T that keep X inside int32 (only those that may be
    within `budget`, where given)."""
    top = int(np.floor(np.log2(X_LIMIT / (np.max(reach * multiplier) + 1))))
    largest = multiplier.max()
    one = min(top, int(np.floor(np.log2((IMM_MAX + 0.5) / largest))))
    two = min(top, int(np.floor(np.log2((IMM_MAX * IMM_MAX) / largest))))
    shapes = []
    for total in dict.fromkeys([one, one - 1, *_exact_totals(multiplier, one)]):
        if total < 0:
            continue
        mu = multiplier * 2.0 ** total
        main = np.round(mu).astype(np.int64)
        if main.min() < 1 or np.any(reach * (main + 1) + 2 >= X_LIMIT):
            continue
        remainder = mu - main
        shapes.append(_Shape(total, (main,), 0, np.zeros_like(main), 0, reach * np.abs(remainder)))
        shapes += [_Shape(total, (main,), *correction)
                   for correction in _corrections(remainder, reach, main)]
    if two > max(one, -1):                      # T ≥ 0: the rounding shift shifts right
        mu = multiplier * 2.0 ** two
        factors = _two_factors(mu)
        product = factors[0] * factors[1]
        if not np.any(reach * (product + 1) + 2 >= X_LIMIT):
            remainder = mu - product
            shapes.append(_Shape(two, factors, 0, np.zeros_like(product), 0,
                                 reach * np.abs(remainder)))
            shapes += [_Shape(two, factors, *correction)
                       for correction in _corrections(remainder, reach, product)]
    for total in dict.fromkeys([top, top - 1]) if top > 0 else ():
        chain = _chain(multiplier, reach, total, zero_point, budget)
        if chain is not None:
            shapes.append(chain)
    return shapes


def _exact_totals(multiplier: np.ndarray, top: int) -> list[int]:
    """The least T ≤ top with μ = M·2^T an integer for every lane (M with a short mantissa)."""
    exponents = [float(m).as_integer_ratio()[1].bit_length() - 1 for m in multiplier.ravel()]
    total = max(exponents)
    return [total] if total <= top else []


def _corrections(remainder: np.ndarray, reach: np.ndarray, main: np.ndarray):
    """(k, m0, j, error bound in units) of corrections ⌊⌊acc/2^k⌋·m0/2^j⌋ ≈ acc·remainder:
    per pre-shift k, the largest j that keeps m0 a 16-bit operand and the product inside int32;
    returns the best without a pre-shift and the best overall (nothing where the remainder is 0
    everywhere)."""
    if not np.any(remainder):
        return []
    found = []
    for pre in range(0, MAX_SHIFT + 1):
        quotient = (reach >> pre) + 1
        largest = min(IMM_MAX, INT32_MAX // int(quotient.max()))
        post = int(np.floor(np.log2(largest / np.abs(remainder).max()))) - pre
        for post in (post + 1, post):
            if post < 0:
                continue
            m0 = np.round(remainder * 2.0 ** (pre + post)).astype(np.int64)
            if np.abs(m0).max() > IMM_MAX or np.any(quotient * np.abs(m0) >= ACC_LIMIT):
                continue
            # the correction's increments never outweigh the main product's
            if np.any(main < -(-np.abs(m0) >> post)):
                continue
            scale = 2.0 ** -(pre + post)
            error = (reach * np.abs(m0 * scale - remainder)
                     + ((1 << pre) - 1) * np.abs(m0) * scale + 1 - 2.0 ** -post)
            found.append((pre, m0, post, error))
            break
    best = min(found, key=lambda correction: correction[3].max(), default=None)
    unshifted = [correction for correction in found if correction[0] == 0]
    return list({id(c): c for c in unshifted[:1] + ([best] if best else [])}.values())


def _two_factors(mu: np.ndarray):
    """Per lane, 16-bit factors (f, g) whose product is closest to mu (IMM_MAX < mu ≤
    IMM_MAX²), the smallest such f.

    Only f up to √(mu + f₀/2) (f₀ the smallest f) and, where g may be below f₀, the f with
    g = f₀ − 1 are tried: any other f has g < f, and then f' = g, with the nearest g' (or
    IMM_MAX), comes closer or as close and first."""
    first, second = np.empty(mu.shape, np.int64), np.empty(mu.shape, np.int64)
    factors = np.arange(IMM_MAX + 1, dtype=np.float64)
    for index, target in np.ndenumerate(mu):
        smallest = math.ceil(target / IMM_MAX)
        root = math.isqrt(int(target + smallest / 2)) + 2
        tail = max(root, int(target / (smallest - 0.5)) - 1) if smallest > 1 else IMM_MAX + 1
        best = None
        for f in (factors[smallest:root], factors[tail:]):
            if not f.size:
                continue
            # in floats, in place: the factors and their products are exact integers (< 2^31)
            g = np.divide(target, f)
            np.round(g, out=g)
            np.clip(g, 1, IMM_MAX, out=g)
            product = np.multiply(f, g, out=np.empty_like(g))
            product -= target
            np.abs(product, out=product)
            at = int(np.argmin(product))
            if best is None or product[at] < best[0]:
                best = (product[at], f[at], g[at])
        first[index], second[index] = best[1], best[2]
    return first, second


def _chain(multiplier: np.ndarray, reach: np.ndarray, total: int, zero_point: int,
           budget: float | None = None) -> _Shape | None:
    """The single-register chain X = ⌊acc·a / 2^s⌋·b ≈ acc·μ (μ = M·2^T) per lane: the
    (s, b) with the smallest error bound, b ≤ CHAIN_FACTOR and a the 16-bit multiplier
    nearest μ·2^s / b with |acc·a| inside int32.

    With ρ = acc·a mod 2^s, X − acc·μ = acc·η − ρ·b/2^s, η = a·b/2^s − μ: the truncation
    removes between 0 and b·(2^s − 1)/2^s, centred by adding c = round of half that, so
    |X + c − acc·μ| ≤ L·|η| + max(c, b·(2^s − 1)/2^s − c) over |acc| ≤ L.

    None where no chain is valid, or (given a `budget`, in output steps) where a lane's
    `_chain_floor` shows that no chain is within it."""
    if total < 0:
        return None
    # lane by lane (flattened): a lane none of whose b gives a valid a at a shift has none at
    # any larger shift (a grows with it), so each shift works on the lanes still open
    lanes = np.broadcast_shapes(multiplier.shape, reach.shape)
    mu_all = np.broadcast_to(multiplier * 2.0 ** total, lanes).ravel()
    reach_all = np.broadcast_to(reach, lanes).ravel()
    limit_all = np.minimum(IMM_MAX, (X_LIMIT - 1) // (reach_all + 1))
    if budget is not None and np.any(_chain_floor(mu_all, reach_all, limit_all)
                                     > budget * 2.0 ** total):
        return None
    b_all = np.arange(1, CHAIN_FACTOR + 1, dtype=np.int64)
    units = np.full(mu_all.shape, np.inf)
    shift, a_best, b_best = (np.zeros(mu_all.shape, np.int64) for _ in range(3))
    centre_best = np.zeros(mu_all.shape)
    for step in range(0, MAX_SHIFT + 1):
        smallest = np.round(mu_all * 2.0 ** step / CHAIN_FACTOR).astype(np.int64)
        open_lanes = np.flatnonzero(smallest <= limit_all)      # a at the largest b
        if not open_lanes.size:
            break
        # An even b = 2b' at this shift has the a and the reach term of b' at the shift before
        # (μ·2^s / 2b' = μ·2^(s−1) / b') and a larger truncation: never better, so from the
        # second shift on only the odd b are tried.
        b = b_all if step == 0 else b_all[::2]
        dropped = b * ((1 << step) - 1) / 2.0 ** step
        centre = np.round(dropped / 2)
        # A b whose truncation term alone is no better than a lane's best so far cannot
        # improve it (the reach term is ≥ 0): per block of lanes, only the b before the first
        # b from which every larger one is such, for the block's worst lane, are tried (where
        # a lane improves, its first smallest error lies before).
        truncation_all = np.maximum(centre, dropped - centre)
        floor = np.minimum.accumulate(truncation_all[::-1])[::-1]
        for first in range(0, open_lanes.size, CHAIN_LANES):   # a block stays in cache
            lanes_open = open_lanes[first:first + CHAIN_LANES]
            tried = int(np.searchsorted(floor, units[lanes_open].max(), side="left"))
            scaled = mu_all[lanes_open, None] * 2.0 ** step       # μ·2^s
            # nor can a b below μ·2^s / (limit + ½) (its a is over the lane's limit)
            start = max(0, int(np.searchsorted(
                b, np.min(scaled[:, 0] / (limit_all[lanes_open] + 0.5)))) - 1)
            if start >= tried:
                continue
            bs, truncation = b[start:tried], truncation_all[start:tried]
            # a and a·b as floats: exact integers (below 2^53), as the int64 products; the
            # reach term |a·b − μ·2^s| · reach / 2^s (scaled by a power of two: exact)
            a = np.divide(scaled, bs)
            np.round(a, out=a)
            found = a * bs
            found -= scaled
            np.abs(found, out=found)
            found *= reach_all[lanes_open, None] / 2.0 ** step
            found += truncation
            found[(a < 1) | (a > limit_all[lanes_open, None])] = np.inf
            pick = np.argmin(found, axis=-1)
            rows = np.arange(lanes_open.size)
            found = found[rows, pick]
            better = found < units[lanes_open]
            lanes_better = lanes_open[better]
            units[lanes_better] = found[better]
            shift[lanes_better] = step
            a_best[lanes_better] = a[rows[better], pick[better]]
            b_best[lanes_better] = bs[pick[better]]
            centre_best[lanes_better] = centre[start + pick[better]]
    if not np.all(np.isfinite(units)):
        return None
    units, shift, a, b, centre = (values.reshape(lanes) for values in
                                  (units, shift, a_best, b_best, centre_best))
    # X itself and its rounding constant stay inside int32 (X plus it: checked by `monotone`)
    constant = np.abs(centre) + (1 << max(total - 1, 0)) + abs(zero_point) * 2.0 ** total
    if np.any(reach * (a * b / 2.0 ** shift) + b + 2 >= X_LIMIT) or np.any(constant >= X_LIMIT):
        return None
    return _Shape(total, (a.astype(np.int64), b.astype(np.int64)), 0,
                  np.zeros(a.shape, np.int64), 0, units, shift.astype(np.int64),
                  centre.astype(np.int64))


def _chain_floor(mu: np.ndarray, reach: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """Per lane (flattened), a lower bound on the error bound of every chain (units of 2^−T):
    at each shift s, with x = μ·2^s, a·b is an integer (so |a·b − x| is at least x's distance
    to one) and b is at least x / (limit + ½) (a larger a is over the limit), so the error is
    at least reach·dist(x, ℤ)/2^s + b·(1 − 2^−s)/2; a shift where no b is valid has none."""
    shifts = np.arange(MAX_SHIFT + 1, dtype=np.float64)[:, None]
    scaled = mu * 2.0 ** shifts
    first_valid = np.maximum(np.floor(scaled / (limit + 0.5)) - 1, 1)
    bound = reach * np.abs(scaled - np.round(scaled)) / 2.0 ** shifts \
        + first_valid * (1 - 2.0 ** -shifts) / 2
    bound[np.round(scaled / CHAIN_FACTOR) > limit] = np.inf
    return bound.min(axis=0) * (1 - 2.0 ** -40)     # below float rounding of the search's


def _assemble(shape: _Shape, clamped, bounds, reaches, acc_bound, multiplier, zero_point, lo,
              hi, enumerable: bool) -> Plan | None:
    """The program of `shape`: the clamps where `clamped`, the arithmetic, and a final
    saturation where needed; None where it is not valid (wraps, or is not monotone).

    A clamp bound must give exactly lo (hi) — every accumulator beyond it does exactly — or,
    with the final saturation, lo (hi) or beyond. The exact saturation point may miss both
    (a plan's rounding error at a near tie moves it by a step), so up to CLAMP_SLACK further
    accumulators are tried, per lane.
    """
    arithmetic = _arithmetic(shape, zero_point)
    ends, saturated = [], [False, False]
    for side, sign, target in ((0, -1, lo), (1, 1, hi)):
        end = sign * acc_bound
        if clamped[side]:
            options = [np.where(reaches[side], bounds[side] + sign * d, end)
                       for d in range(CLAMP_SLACK + 1)]
            values = [run_steps(arithmetic, option).astype(np.int64) for option in options]
            # a lane clamped beyond its reach only has to stay inside (or be saturated)
            exact = [(value == target) | ~reaches[side] & ((value - target) * sign <= 0)
                     for value in values]
            if not np.all(np.any(exact, axis=0)):
                saturated[side] = True
                exact = [((value - target) * sign >= 0) | ~reaches[side] for value in values]
                if not np.all(np.any(exact, axis=0)):
                    return None
            end = np.choose(np.argmax(exact, axis=0), options)
        else:
            value = run_steps(arithmetic, end).astype(np.int64)
            saturated[side] = bool(np.any((value - target) * sign > 0))
        ends.append(end)
    steps = [AluStep(op, end) for op, end, on in zip((AluOp.MAX, AluOp.MIN), ends, clamped) if on]
    steps += arithmetic
    steps += [AluStep(op, np.int64(target))
              for op, target, on in zip((AluOp.MAX, AluOp.MIN), (lo, hi), saturated) if on]
    if not monotone(steps, -acc_bound, acc_bound):
        return None
    error = float(np.max(shape.error_units * 2.0 ** -shape.total))
    if enumerable:
        error = _measured_error(steps, multiplier, acc_bound, zero_point, lo, hi)
    return Plan(tuple(steps), error)


def _arithmetic(shape: _Shape, zero_point: int) -> list[AluStep]:
    """The main product, the correction (if any) and the rounding shift."""
    if shape.chain is not None:
        a, b = shape.factors
        steps = [AluStep(AluOp.MUL, a)] + shifts(shape.chain) + [AluStep(AluOp.MUL, b)]
        return steps + rounding_shift(shape.total, zero_point, centre=shape.centre)
    steps = []
    corrected = np.any(shape.correction)
    if corrected:
        steps += [AluStep(AluOp.MUL, np.int64(0), 1), AluStep(AluOp.ADD, Register(0), 1)]
    steps += [AluStep(AluOp.MUL, factor) for factor in shape.factors]
    if corrected:
        steps += shifts(shape.pre, 1)
        steps.append(AluStep(AluOp.MUL, shape.correction, 1))
        steps += shifts(shape.post, 1)
        steps.append(AluStep(AluOp.ADD, Register(1)))
    return steps + rounding_shift(shape.total, zero_point)


def _measured_error(steps, multiplier, acc_bound, zero_point, lo, hi) -> float:
    """The plan's largest distance, in output steps, from exact rounding over every
    accumulator |acc| ≤ acc_bound: how far acc·M + zp must move for round-half-up to give the
    plan's result (0 where it agrees, and where both saturate)."""
    reach = int(acc_bound.max())
    accs = np.arange(-reach, reach + 1, dtype=np.int64).reshape((-1,) + (1,) * multiplier.ndim)
    accs = np.broadcast_to(accs, (accs.shape[0],) + multiplier.shape)
    got = run_steps(steps, accs).astype(np.int64)
    exact = accs * multiplier + zero_point
    # acc·M in float64 is within 2^-52 of it relative: that much more, so the bound holds
    slack = 2.0 ** -50 * (np.abs(exact).max() + 1)
    inside = np.abs(accs) <= acc_bound
    need = np.maximum(got - 0.5 - exact, exact - (got + 0.5))
    need = np.where(((got == lo) & (exact < lo)) | ((got == hi) & (exact > hi)), 0, need)
    return float(np.max(np.where(inside, np.maximum(need, 0), 0))) + slack
