"""The B2K2C split of one line: pool, platform take, L1, L2 from the take, exclusions."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siyu.commissions.rules import (
    CommissionChainInvalid,
    CommissionOutcome,
    CommissionPolicy,
    CommissionSnapshot,
    LineQuantityInvalid,
    Party,
    Payout,
    RefundExceedsPaid,
    commission_pool_fen,
    freeze_snapshot,
    split_commission,
)
from siyu.errors import MoneyInvalid, RateInvalid
from siyu.kit.money import apply_bp
from tests.commissions.strategies import L1, L2, snapshots


def snapshot(**overrides: Any) -> CommissionSnapshot:
    values: dict[str, Any] = {
        "paid_fen": 5400,
        "quantity": 1,
        "commission_rate_bp": 500,
        "fixed_commission_fen": None,
        "platform_take_bp": 1000,
        "l2_share_bp": 1000,
        "l1_promoter_id": L1,
        "l2_promoter_id": None,
    }
    values.update(overrides)
    return CommissionSnapshot(**values)


class TestPool:
    @pytest.mark.parametrize(
        ("paid", "quantity", "rate", "fixed", "base", "expected"),
        [
            (5400, 1, 500, None, 5400, 270),
            (5400, 1, 500, None, 3600, 180),
            (19, 1, 500, None, 19, 0),  # 0.95 → 0
            (10000, 1, 10000, None, 10000, 10000),  # 100% commission is allowed
            (8470, 3, 500, 150, 8470, 450),  # fixed replaces the rate
            (8470, 3, 0, 150, 8470, 450),
            (600, 1, 500, 800, 600, 600),  # capped at the base
            (1799, 1, 500, 300, 1199, 199),  # floor(300 × 1199 / 1799)
            (1799, 1, 500, 300, 0, 0),
            (0, 1, 500, 300, 0, 0),  # fully discounted line: nothing to pay on
            (900, 3, 500, 0, 900, 0),  # fixed 0 means no commission, not the rate
        ],
    )
    def test_table(
        self, paid: int, quantity: int, rate: int, fixed: int | None, base: int, expected: int
    ) -> None:
        line = snapshot(
            paid_fen=paid, quantity=quantity, commission_rate_bp=rate, fixed_commission_fen=fixed
        )
        assert commission_pool_fen(line, base) == expected


class TestSplitTable:
    @pytest.mark.parametrize(
        ("overrides", "expected"),
        [
            # (pool, take, L1, L2, kept)
            ({}, (270, 27, 243, 0, 27)),
            ({"l2_promoter_id": L2}, (270, 27, 243, 24, 3)),
            ({"l2_promoter_id": L2, "l2_active": False}, (270, 27, 243, 0, 27)),
            ({"l2_promoter_id": L2, "l2_share_bp": 0}, (270, 27, 243, 0, 27)),
            # L2 share 100% of L1 = 243 but capped by the take, 27.
            ({"l2_promoter_id": L2, "l2_share_bp": 10000}, (270, 27, 243, 27, 0)),
            ({"platform_take_bp": 0, "l2_promoter_id": L2}, (270, 0, 270, 0, 0)),
            ({"platform_take_bp": 10000, "l2_promoter_id": L2}, (270, 270, 0, 0, 270)),
            ({"paid_fen": 20}, (1, 0, 1, 0, 0)),
            ({"paid_fen": 200, "l2_promoter_id": L2}, (10, 1, 9, 0, 1)),
            # 2000 × 5% = 100, take 10, L1 90, L2 9, kept 1.
            ({"paid_fen": 2000, "l2_promoter_id": L2}, (100, 10, 90, 9, 1)),
        ],
    )
    def test_table(self, overrides: dict[str, Any], expected: tuple[int, ...]) -> None:
        split = split_commission(snapshot(**overrides))
        assert split.outcome == CommissionOutcome.EARNED
        actual = (split.pool_fen, split.take_fen, split.l1_fen, split.l2_fen)
        assert (*actual, split.platform_kept_fen) == expected


class TestNobodyEarns:
    def test_no_attribution_charges_the_merchant_nothing(self) -> None:
        split = split_commission(snapshot(l1_promoter_id=None))
        assert split.outcome == CommissionOutcome.NOT_ATTRIBUTED
        assert (split.base_fen, split.pool_fen, split.take_fen) == (5400, 0, 0)
        assert split.payouts() == ()

    def test_self_purchase_without_the_flag_charges_nothing(self) -> None:
        split = split_commission(snapshot(self_purchase=True, l2_promoter_id=L2))
        assert split.outcome == CommissionOutcome.SELF_PURCHASE
        assert (split.pool_fen, split.l1_fen, split.l2_fen, split.platform_kept_fen) == (0, 0, 0, 0)
        assert split.payouts() == ()

    def test_self_purchase_with_the_flag_pays_normally(self) -> None:
        split = split_commission(
            snapshot(self_purchase=True, self_purchase_commission=True, l2_promoter_id=L2)
        )
        assert split.outcome == CommissionOutcome.EARNED
        assert (split.l1_fen, split.l2_fen, split.platform_kept_fen) == (243, 24, 3)

    def test_under_one_fen_creates_no_record(self) -> None:
        split = split_commission(snapshot(paid_fen=19))
        assert split.outcome == CommissionOutcome.ZERO_POOL
        assert split.pool_fen == 0
        assert split.payouts() == ()

    def test_fully_refunded_is_zero_pool(self) -> None:
        split = split_commission(snapshot(), refunded_fen=5400)
        assert (split.outcome, split.base_fen, split.pool_fen) == (
            CommissionOutcome.ZERO_POOL,
            0,
            0,
        )


class TestPayouts:
    def test_all_three_parties_in_order(self) -> None:
        split = split_commission(snapshot(l2_promoter_id=L2))
        assert split.payouts() == (
            Payout(Party.L1, L1, 243),
            Payout(Party.L2, L2, 24),
            Payout(Party.PLATFORM, None, 3),
        )

    def test_zero_shares_are_omitted(self) -> None:
        # pool 1: take 0, L1 1, L2 0 → only L1 gets a record.
        split = split_commission(snapshot(paid_fen=20, l2_promoter_id=L2))
        assert split.payouts() == (Payout(Party.L1, L1, 1),)

    def test_frozen_l2_is_not_named(self) -> None:
        split = split_commission(snapshot(l2_promoter_id=L2, l2_active=False))
        assert split.l2_promoter_id is None
        assert [payout.party for payout in split.payouts()] == [Party.L1, Party.PLATFORM]


class TestSnapshotValidation:
    def test_l2_without_l1_refused(self) -> None:
        with pytest.raises(CommissionChainInvalid):
            snapshot(l1_promoter_id=None, l2_promoter_id=L2)

    def test_l2_equal_to_l1_refused(self) -> None:
        with pytest.raises(CommissionChainInvalid):
            snapshot(l2_promoter_id=L1)

    @pytest.mark.parametrize(
        ("field", "value", "error"),
        [
            ("paid_fen", -1, MoneyInvalid),
            ("paid_fen", 1.5, MoneyInvalid),
            ("fixed_commission_fen", -1, MoneyInvalid),
            ("commission_rate_bp", 10001, RateInvalid),
            ("platform_take_bp", -1, RateInvalid),
            ("l2_share_bp", 10001, RateInvalid),
            ("quantity", 0, LineQuantityInvalid),
        ],
    )
    def test_bad_values_refused(self, field: str, value: Any, error: type[Exception]) -> None:
        with pytest.raises(error):
            snapshot(**{field: value})

    def test_refund_above_paid_refused(self) -> None:
        with pytest.raises(RefundExceedsPaid):
            split_commission(snapshot(), refunded_fen=5401)


class TestFreezeSnapshot:
    def test_takes_policy_values(self) -> None:
        policy = CommissionPolicy(l2_share_bp=2000, self_purchase_commission=True)
        frozen = freeze_snapshot(
            policy,
            paid_fen=5400,
            quantity=1,
            commission_rate_bp=500,
            fixed_commission_fen=None,
            l1_promoter_id=L1,
            l2_promoter_id=L2,
        )
        assert frozen == snapshot(
            l2_promoter_id=L2, l2_share_bp=2000, self_purchase_commission=True
        )

    def test_product_take_overrides_the_policy(self) -> None:
        frozen = freeze_snapshot(
            CommissionPolicy(),
            paid_fen=5400,
            quantity=1,
            commission_rate_bp=500,
            fixed_commission_fen=None,
            l1_promoter_id=L1,
            platform_take_bp=1500,
        )
        assert frozen.platform_take_bp == 1500

    def test_one_level_policy_drops_l2(self) -> None:
        frozen = freeze_snapshot(
            CommissionPolicy(max_levels=1),
            paid_fen=5400,
            quantity=1,
            commission_rate_bp=500,
            fixed_commission_fen=None,
            l1_promoter_id=L1,
            l2_promoter_id=L2,
        )
        assert (frozen.l2_promoter_id, frozen.l2_active) == (None, False)
        assert split_commission(frozen).platform_kept_fen == 27

    def test_no_l1_drops_l2(self) -> None:
        frozen = freeze_snapshot(
            CommissionPolicy(),
            paid_fen=5400,
            quantity=1,
            commission_rate_bp=500,
            fixed_commission_fen=None,
            l1_promoter_id=None,
            l2_promoter_id=L2,
        )
        assert frozen.l2_promoter_id is None

    def test_later_policy_changes_do_not_touch_a_frozen_line(self) -> None:
        frozen = freeze_snapshot(
            CommissionPolicy(),
            paid_fen=5400,
            quantity=1,
            commission_rate_bp=500,
            fixed_commission_fen=None,
            l1_promoter_id=L1,
        )
        CommissionPolicy(platform_take_bp=5000)
        assert split_commission(frozen).l1_fen == 243


class TestSplitProperties:
    @given(line=snapshots(), data=st.data())
    def test_splits_add_up_and_are_never_negative(
        self, line: CommissionSnapshot, data: st.DataObject
    ) -> None:
        split = split_commission(line, data.draw(st.integers(0, line.paid_fen)))
        assert split.pool_fen == split.l1_fen + split.l2_fen + split.platform_kept_fen
        assert split.take_fen == split.l2_fen + split.platform_kept_fen
        for amount in (split.pool_fen, split.l1_fen, split.l2_fen, split.platform_kept_fen):
            assert amount >= 0
        assert split.pool_fen <= split.base_fen
        assert split.l2_fen <= split.take_fen
        assert sum(payout.amount_fen for payout in split.payouts()) == split.pool_fen
        assert all(payout.amount_fen >= 1 for payout in split.payouts())

    @given(line=snapshots())
    def test_l1_is_pool_minus_take_whatever_the_upline(self, line: CommissionSnapshot) -> None:
        split = split_commission(line)
        if split.outcome == CommissionOutcome.EARNED:
            assert split.take_fen == apply_bp(split.pool_fen, line.platform_take_bp)
            assert split.l1_fen == split.pool_fen - split.take_fen
            alone = split_commission(
                CommissionSnapshot(
                    paid_fen=line.paid_fen,
                    quantity=line.quantity,
                    commission_rate_bp=line.commission_rate_bp,
                    fixed_commission_fen=line.fixed_commission_fen,
                    platform_take_bp=line.platform_take_bp,
                    l2_share_bp=line.l2_share_bp,
                    l1_promoter_id=line.l1_promoter_id,
                    self_purchase=line.self_purchase,
                    self_purchase_commission=line.self_purchase_commission,
                )
            )
            assert alone.l1_fen == split.l1_fen
        else:
            assert split.pool_fen == 0

    @given(line=snapshots())
    def test_l2_is_its_share_of_l1_capped_by_the_take(self, line: CommissionSnapshot) -> None:
        split = split_commission(line)
        if split.l2_promoter_id is not None:
            assert split.l2_fen == min(apply_bp(split.l1_fen, line.l2_share_bp), split.take_fen)
        else:
            assert split.l2_fen == 0
