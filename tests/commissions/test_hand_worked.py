"""Hand-worked orders checked to the 分 (issue 3). Each row shows its arithmetic.

Defaults unless a row says otherwise: platform take 10% (1000 bp), L2 share 10% of L1 (1000 bp),
L1 = promoter 1, L2 (when present) = promoter 2. ``apply_bp`` floors: floor(base × bp / 10000).
Coupon allocation: floor(coupon × line / total), leftover fen by largest remainder, ties to the
later line. Refunds run through ``adjust_for_refund`` one by one; "after settlement" means the
commission is SETTLED when each refund arrives.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from siyu.commissions.rules import (
    AdjustmentKind,
    CommissionOutcome,
    CommissionPolicy,
    CommissionSplit,
    CommissionState,
    adjust_for_refund,
    allocate_coupon,
    freeze_snapshot,
    line_paid_fen,
    split_commission,
)

L1 = 1
L2 = 2


@dataclass(frozen=True)
class E:
    """Expected amounts of one line, in fen."""

    base: int
    pool: int
    take: int
    l1: int
    l2: int
    kept: int


@dataclass(frozen=True)
class D:
    """Expected cumulative delta per party after all the line's refunds."""

    pool: int
    l1: int
    l2: int
    kept: int


@dataclass(frozen=True)
class Line:
    unit_fen: int
    expect: E
    quantity: int = 1
    rate_bp: int = 500
    fixed_fen: int | None = None
    virtual_fen: int = 0
    coupon: int = 0
    """Expected share of the order's coupon."""
    refunds: tuple[int, ...] = ()
    final: E | None = None
    delta: D | None = None


@dataclass(frozen=True)
class Case:
    name: str
    lines: tuple[Line, ...]
    coupon_fen: int = 0
    l1: int | None = L1
    l2: int | None = None
    l2_active: bool = True
    self_purchase: bool = False
    self_purchase_commission: bool = False
    take_bp: int = 1000
    settled: bool = False


CASES = [
    # JD's vector: 5400 × 5% = 270; take floor(270 × 10%) = 27; L1 = 270 − 27 = 243 (2.43 元).
    # No L2: the platform keeps the whole take, 27.
    Case("jd_vector", (Line(5400, E(5400, 270, 27, 243, 0, 27)),)),
    # Same with an active L2: L2 = min(floor(243 × 10%) = 24, take 27) = 24; kept 27 − 24 = 3.
    # L1 still earns 243: the upline is paid from the take.
    Case("jd_vector_l2_active", (Line(5400, E(5400, 270, 27, 243, 24, 3)),), l2=L2),
    # L2 frozen when the order was made: earns 0, its share stays with the platform (27), not L1.
    Case(
        "jd_vector_l2_frozen",
        (Line(5400, E(5400, 270, 27, 243, 0, 27)),),
        l2=L2,
        l2_active=False,
    ),
    # Three lines, coupon 1000 on a 10000 order:
    #   A 3000 × 2 = 6000 → 1000 × 6000 / 10000 = 600 exactly
    #   B 2999        → 299.9 → 299 (remainder .9)   C 1001 → 100.1 → 100 (remainder .1)
    #   leftover 1000 − 999 = 1 → B (largest remainder) → (600, 300, 100).
    # A: base 5400, 5%  → pool 270, take 27, L1 243, L2 min(24, 27) = 24, kept 3
    # B: base 2699, 10% → pool floor(269.9) = 269, take floor(26.9) = 26, L1 243,
    #    L2 min(floor(24.3) = 24, 26) = 24, kept 2
    # C: base 901, 3%   → pool floor(27.03) = 27, take floor(2.7) = 2, L1 25,
    #    L2 min(floor(2.5) = 2, 2) = 2, kept 0
    Case(
        "three_lines_coupon_l2",
        (
            Line(3000, E(5400, 270, 27, 243, 24, 3), quantity=2, coupon=600),
            Line(2999, E(2699, 269, 26, 243, 24, 2), rate_bp=1000, coupon=300),
            Line(1001, E(901, 27, 2, 25, 2, 0), rate_bp=300, coupon=100),
        ),
        coupon_fen=1000,
        l2=L2,
    ),
    # Three equal lines of 100, coupon 100: 33 each, remainder 1/3 each, the tie goes to the last
    # line → (33, 33, 34). Bases 67, 67, 66 at 10% → pools 6 (6.7), 6 (6.7), 6 (6.6);
    # take floor(0.6) = 0 → L1 6 each.
    Case(
        "equal_lines_tie_to_last",
        (
            Line(100, E(67, 6, 0, 6, 0, 0), rate_bp=1000, coupon=33),
            Line(100, E(67, 6, 0, 6, 0, 0), rate_bp=1000, coupon=33),
            Line(100, E(66, 6, 0, 6, 0, 0), rate_bp=1000, coupon=34),
        ),
        coupon_fen=100,
    ),
    # Tiny amounts: 19 × 5% = 0.95 → pool 0, no record at all (merchant pays nothing).
    # 20 × 5% = 1 → take floor(0.1) = 0, L1 1; L2 min(floor(0.1) = 0, 0) = 0.
    Case(
        "under_one_fen",
        (Line(19, E(19, 0, 0, 0, 0, 0)), Line(20, E(20, 1, 0, 1, 0, 0))),
        l2=L2,
    ),
    # Fixed 150 per unit × 3 = 450 replaces the rate; coupon 500 → base 8970 − 500 = 8470;
    # pool min(450, 8470) = 450, take 45, L1 405, L2 min(40, 45) = 40, kept 5.
    Case(
        "fixed_per_unit",
        (Line(2990, E(8470, 450, 45, 405, 40, 5), quantity=3, fixed_fen=150, coupon=500),),
        coupon_fen=500,
        l2=L2,
    ),
    # Fixed 800 capped at the base: 1000 − coupon 300 − points 100 = 600 → pool 600,
    # take 60, L1 540, kept 60.
    Case(
        "fixed_capped_at_base",
        (Line(1000, E(600, 600, 60, 540, 0, 60), fixed_fen=800, virtual_fen=100, coupon=300),),
        coupon_fen=300,
    ),
    # Self-purchase, flag off: no promoter commission and the merchant is not charged.
    Case(
        "self_purchase_off",
        (Line(5400, E(5400, 0, 0, 0, 0, 0)),),
        l2=L2,
        self_purchase=True,
    ),
    # Self-purchase, flag on (自购省钱): paid like any order, L2 included (as jd_vector_l2_active).
    Case(
        "self_purchase_on",
        (Line(5400, E(5400, 270, 27, 243, 24, 3)),),
        l2=L2,
        self_purchase=True,
        self_purchase_commission=True,
    ),
    # No attribution (no click in 15 days, no binding): nobody earns, the merchant pays nothing.
    Case("not_attributed", (Line(5400, E(5400, 0, 0, 0, 0, 0)),), l1=None),
    # Product take 20%: pool 270, take 54, L1 216, L2 min(floor(21.6) = 21, 54) = 21, kept 33.
    Case("product_take_20", (Line(5400, E(5400, 270, 54, 216, 21, 33)),), l2=L2, take_bp=2000),
    # L2 capped by the take: 10000 × 10% = 1000; take 5% = 50; L1 950;
    # L2 = min(floor(95), 50) = 50; kept 0.
    Case(
        "l2_capped_by_take",
        (Line(10000, E(10000, 1000, 50, 950, 50, 0), rate_bp=1000),),
        l2=L2,
        take_bp=500,
    ),
    # Partial refund before settlement, recomputed at the frozen 5%: 5400 − 1800 = 3600 →
    # pool 180, take 18, L1 162, L2 min(16, 18) = 16, kept 2.
    # Delta from (270, 243, 24, 3): pool −90, L1 −81, L2 −8, kept −1.
    Case(
        "partial_refund_before_settlement",
        (
            Line(
                5400,
                E(5400, 270, 27, 243, 24, 3),
                refunds=(1800,),
                final=E(3600, 180, 18, 162, 16, 2),
                delta=D(-90, -81, -8, -1),
            ),
        ),
        l2=L2,
    ),
    # Two refunds after settlement on 2 × 2700 at 5%:
    #   1st 2700 → base 2700: pool 135, take 13, L1 122, L2 min(12, 13) = 12, kept 1
    #             reversal (−135, −121, −12, −2)
    #   2nd 2700 → base 0: all 0; reversal (−135, −122, −12, −1)
    # Sum (−270, −243, −24, −3) = −original: a full refund nets every party to 0.
    Case(
        "refunds_after_settlement_to_zero",
        (
            Line(
                2700,
                E(5400, 270, 27, 243, 24, 3),
                quantity=2,
                refunds=(2700, 2700),
                final=E(0, 0, 0, 0, 0, 0),
                delta=D(-270, -243, -24, -3),
            ),
        ),
        l2=L2,
        settled=True,
    ),
    # Two lines, coupon 500 on 5000: A 1999 → 199.9 → 199 (rem .9); B 3001 → 300.1 → 300 (rem .1);
    # leftover 1 → A → (200, 300). A fixed 300: base 1799, pool 300, take 30, L1 270, kept 30.
    # B 8%: base 2701, pool floor(216.08) = 216, take floor(21.6) = 21, L1 195, kept 21.
    # After settlement A refunds 600 → base 1199; fixed scales pro rata:
    # pool floor(300 × 1199 / 1799) = floor(199.94) = 199, take 19, L1 180, kept 19.
    # Reversal (−101, −90, 0, −11).
    Case(
        "fixed_and_rate_lines_refund_after_settlement",
        (
            Line(
                1999,
                E(1799, 300, 30, 270, 0, 30),
                fixed_fen=300,
                coupon=200,
                refunds=(600,),
                final=E(1199, 199, 19, 180, 0, 19),
                delta=D(-101, -90, 0, -11),
            ),
            Line(3001, E(2701, 216, 21, 195, 0, 21), rate_bp=800, coupon=300),
        ),
        coupon_fen=500,
        settled=True,
    ),
    # Rounding can move the platform's kept share up by a fen on a refund: 4980 × 5% = 249,
    # take 24, L1 225, L2 min(22, 24) = 22, kept 2. Refund 180 → 4800: pool 240, take 24,
    # L1 216, L2 21, kept 3. Delta (−9, −9, −1, +1): the merchant still gets back exactly
    # what the parties give up (−9 = −9 − 1 + 1).
    Case(
        "kept_share_rounds_up",
        (
            Line(
                4980,
                E(4980, 249, 24, 225, 22, 2),
                refunds=(180,),
                final=E(4800, 240, 24, 216, 21, 3),
                delta=D(-9, -9, -1, 1),
            ),
        ),
        l2=L2,
    ),
]


def amounts(split: CommissionSplit) -> E:
    return E(
        split.base_fen,
        split.pool_fen,
        split.take_fen,
        split.l1_fen,
        split.l2_fen,
        split.platform_kept_fen,
    )


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hand_worked_case(case: Case) -> None:
    policy = CommissionPolicy(
        platform_take_bp=case.take_bp, self_purchase_commission=case.self_purchase_commission
    )
    allocation = allocate_coupon(
        case.coupon_fen, [line.unit_fen * line.quantity for line in case.lines]
    )
    assert allocation == tuple(line.coupon for line in case.lines)
    for line, coupon in zip(case.lines, allocation, strict=True):
        snapshot = freeze_snapshot(
            policy,
            paid_fen=line_paid_fen(
                unit_price_fen=line.unit_fen,
                quantity=line.quantity,
                coupon_discount_fen=coupon,
                virtual_asset_fen=line.virtual_fen,
            ),
            quantity=line.quantity,
            commission_rate_bp=line.rate_bp,
            fixed_commission_fen=line.fixed_fen,
            l1_promoter_id=case.l1,
            self_purchase=case.self_purchase,
            l2_promoter_id=case.l2,
            l2_active=case.l2_active,
        )
        original = split_commission(snapshot)
        assert amounts(original) == line.expect
        assert original.pool_fen == original.l1_fen + original.l2_fen + original.platform_kept_fen

        state = CommissionState.SETTLED if case.settled else CommissionState.PENDING
        refunded = 0
        total = D(0, 0, 0, 0)
        for refund in line.refunds:
            adjustment = adjust_for_refund(
                snapshot, state=state, refunded_before_fen=refunded, refund_fen=refund
            )
            expected_kind = AdjustmentKind.REVERSAL if case.settled else AdjustmentKind.RECOMPUTE
            assert adjustment.kind == expected_kind
            refunded += refund
            state = adjustment.state
            step = adjustment.delta
            total = D(
                total.pool + step.pool_fen,
                total.l1 + step.l1_fen,
                total.l2 + step.l2_fen,
                total.kept + step.platform_kept_fen,
            )
            final = adjustment.after
        if line.refunds:
            assert amounts(final) == line.final
            assert total == line.delta


def test_jd_vector_outcome_and_payouts() -> None:
    snapshot = freeze_snapshot(
        CommissionPolicy(),
        paid_fen=5400,
        quantity=1,
        commission_rate_bp=500,
        fixed_commission_fen=None,
        l1_promoter_id=L1,
    )
    split = split_commission(snapshot)
    assert split.outcome == CommissionOutcome.EARNED
    assert [
        (payout.party.value, payout.promoter_id, payout.amount_fen) for payout in split.payouts()
    ] == [
        ("l1", L1, 243),
        ("platform", None, 27),
    ]


def test_full_refund_after_settlement_reverses_and_before_invalidates() -> None:
    snapshot = freeze_snapshot(
        CommissionPolicy(),
        paid_fen=5400,
        quantity=1,
        commission_rate_bp=500,
        fixed_commission_fen=None,
        l1_promoter_id=L1,
    )
    after = adjust_for_refund(
        snapshot, state=CommissionState.SETTLED, refunded_before_fen=0, refund_fen=5400
    )
    before = adjust_for_refund(
        snapshot, state=CommissionState.PENDING, refunded_before_fen=0, refund_fen=5400
    )
    assert (after.kind, after.state) == (AdjustmentKind.REVERSAL, CommissionState.REVERSED)
    assert (before.kind, before.state) == (AdjustmentKind.RECOMPUTE, CommissionState.INVALID)
