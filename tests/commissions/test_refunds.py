"""Refunds: recompute at the frozen rates before settlement, reversals after it."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siyu.commissions.rules import (
    SETTLED_STATES,
    AdjustmentKind,
    CommissionDelta,
    CommissionEvent,
    CommissionSnapshot,
    CommissionState,
    CommissionTransitionInvalid,
    RefundAmountInvalid,
    RefundExceedsPaid,
    adjust_for_refund,
    split_commission,
)
from tests.commissions.strategies import L1, L2, refund_sequences, snapshots

JD_LINE = CommissionSnapshot(
    paid_fen=5400,
    quantity=1,
    commission_rate_bp=500,
    fixed_commission_fen=None,
    platform_take_bp=1000,
    l2_share_bp=1000,
    l1_promoter_id=L1,
    l2_promoter_id=L2,
)
REFUNDABLE = [
    CommissionState.ESTIMATED,
    CommissionState.PENDING,
    CommissionState.ON_HOLD,
    CommissionState.SETTLED,
    CommissionState.PAID_OUT,
]


def delta_tuple(delta: CommissionDelta) -> tuple[int, int, int, int]:
    return (delta.pool_fen, delta.l1_fen, delta.l2_fen, delta.platform_kept_fen)


class TestAdjustment:
    @pytest.mark.parametrize(
        ("state", "kind", "partial_state", "full_state"),
        [
            (
                CommissionState.ESTIMATED,
                AdjustmentKind.RECOMPUTE,
                CommissionState.ESTIMATED,
                CommissionState.INVALID,
            ),
            (
                CommissionState.PENDING,
                AdjustmentKind.RECOMPUTE,
                CommissionState.PENDING,
                CommissionState.INVALID,
            ),
            (
                CommissionState.ON_HOLD,
                AdjustmentKind.RECOMPUTE,
                CommissionState.ON_HOLD,
                CommissionState.INVALID,
            ),
            (
                CommissionState.SETTLED,
                AdjustmentKind.REVERSAL,
                CommissionState.SETTLED,
                CommissionState.REVERSED,
            ),
            (
                CommissionState.PAID_OUT,
                AdjustmentKind.REVERSAL,
                CommissionState.PAID_OUT,
                CommissionState.REVERSED,
            ),
        ],
    )
    def test_kind_and_state_by_when_the_refund_arrives(
        self,
        state: CommissionState,
        kind: AdjustmentKind,
        partial_state: CommissionState,
        full_state: CommissionState,
    ) -> None:
        partial = adjust_for_refund(JD_LINE, state=state, refunded_before_fen=0, refund_fen=1800)
        assert (partial.kind, partial.event, partial.state) == (
            kind,
            CommissionEvent.PARTIAL_REFUND,
            partial_state,
        )
        assert delta_tuple(partial.delta) == (-90, -81, -8, -1)
        full = adjust_for_refund(JD_LINE, state=state, refunded_before_fen=1800, refund_fen=3600)
        assert (full.kind, full.event, full.state) == (
            kind,
            CommissionEvent.FULL_REFUND,
            full_state,
        )
        assert delta_tuple(full.delta) == (-180, -162, -16, -2)

    def test_before_and_after_are_the_splits(self) -> None:
        adjustment = adjust_for_refund(
            JD_LINE, state=CommissionState.PENDING, refunded_before_fen=400, refund_fen=1400
        )
        assert adjustment.before == split_commission(JD_LINE, 400)
        assert adjustment.after == split_commission(JD_LINE, 1800)

    @pytest.mark.parametrize("state", [CommissionState.INVALID, CommissionState.REVERSED])
    def test_terminal_states_refuse_refunds(self, state: CommissionState) -> None:
        with pytest.raises(CommissionTransitionInvalid):
            adjust_for_refund(JD_LINE, state=state, refunded_before_fen=0, refund_fen=100)

    @pytest.mark.parametrize("refund", [0, -1, True, 1.0])
    def test_refund_must_be_at_least_one_fen(self, refund: Any) -> None:
        with pytest.raises(RefundAmountInvalid):
            adjust_for_refund(
                JD_LINE, state=CommissionState.PENDING, refunded_before_fen=0, refund_fen=refund
            )

    @pytest.mark.parametrize(("before", "refund"), [(0, 5401), (5000, 401), (5401, 1)])
    def test_refunds_above_paid_refused(self, before: int, refund: int) -> None:
        with pytest.raises(RefundExceedsPaid):
            adjust_for_refund(
                JD_LINE,
                state=CommissionState.PENDING,
                refunded_before_fen=before,
                refund_fen=refund,
            )

    def test_unattributed_line_adjusts_by_nothing(self) -> None:
        line = CommissionSnapshot(
            paid_fen=5400,
            quantity=1,
            commission_rate_bp=500,
            fixed_commission_fen=None,
            platform_take_bp=1000,
            l2_share_bp=1000,
            l1_promoter_id=None,
        )
        adjustment = adjust_for_refund(
            line, state=CommissionState.ESTIMATED, refunded_before_fen=0, refund_fen=5400
        )
        assert delta_tuple(adjustment.delta) == (0, 0, 0, 0)


class TestRefundProperties:
    @given(data=st.data(), line=snapshots(), state=st.sampled_from(REFUNDABLE))
    def test_any_refund_sequence_sums_to_the_final_recompute(
        self, data: st.DataObject, line: CommissionSnapshot, state: CommissionState
    ) -> None:
        refunds = data.draw(refund_sequences(line.paid_fen))
        original = split_commission(line)
        totals = [0, 0, 0, 0]
        refunded = 0
        current = state
        for refund in refunds:
            adjustment = adjust_for_refund(
                line, state=current, refunded_before_fen=refunded, refund_fen=refund
            )
            expected_kind = (
                AdjustmentKind.REVERSAL if current in SETTLED_STATES else AdjustmentKind.RECOMPUTE
            )
            assert adjustment.kind == expected_kind
            refunded += refund
            current = adjustment.state
            after = adjustment.after
            # pool == L1 + L2 + platform_kept, at every step.
            assert after.pool_fen == after.l1_fen + after.l2_fen + after.platform_kept_fen
            for amount in (after.pool_fen, after.l1_fen, after.l2_fen, after.platform_kept_fen):
                assert amount >= 0
            step = adjustment.delta
            # The merchant, L1 and L2 never gain from a refund; the pool delta is the parties'.
            assert step.pool_fen <= 0
            assert step.l1_fen <= 0
            assert step.l2_fen <= 0
            assert step.pool_fen == step.l1_fen + step.l2_fen + step.platform_kept_fen
            for index, value in enumerate(delta_tuple(step)):
                totals[index] += value
        final = split_commission(line, refunded)
        assert [
            original.pool_fen + totals[0],
            original.l1_fen + totals[1],
            original.l2_fen + totals[2],
            original.platform_kept_fen + totals[3],
        ] == [final.pool_fen, final.l1_fen, final.l2_fen, final.platform_kept_fen]
        if refunded == line.paid_fen and refunds:
            # A full refund nets every party to exactly 0.
            assert (final.pool_fen, final.l1_fen, final.l2_fen, final.platform_kept_fen) == (
                0,
                0,
                0,
                0,
            )
            settled = state in SETTLED_STATES
            assert current == (CommissionState.REVERSED if settled else CommissionState.INVALID)
        else:
            assert current == state
