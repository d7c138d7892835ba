"""Hypothesis strategies shared by the commission tests."""

from __future__ import annotations

from hypothesis import strategies as st

from siyu.commissions.rules import CommissionSnapshot

L1 = 1
L2 = 2


@st.composite
def snapshots(draw: st.DrawFn) -> CommissionSnapshot:
    has_l1 = draw(st.integers(0, 3)) > 0  # attributed three times in four
    has_l2 = has_l1 and draw(st.booleans())
    return CommissionSnapshot(
        paid_fen=draw(st.integers(0, 10**9)),
        quantity=draw(st.integers(1, 1000)),
        commission_rate_bp=draw(st.integers(0, 10_000)),
        fixed_commission_fen=draw(st.none() | st.integers(0, 10**6)),
        platform_take_bp=draw(st.integers(0, 10_000)),
        l2_share_bp=draw(st.integers(0, 10_000)),
        l1_promoter_id=L1 if has_l1 else None,
        l2_promoter_id=L2 if has_l2 else None,
        l2_active=draw(st.booleans()),
        self_purchase=draw(st.booleans()),
        self_purchase_commission=draw(st.booleans()),
    )


@st.composite
def refund_sequences(draw: st.DrawFn, paid_fen: int) -> list[int]:
    """Partial refunds (each ≥ 1 fen) whose total never exceeds ``paid_fen``; maybe all of it."""
    refunds: list[int] = []
    remaining = paid_fen
    for _ in range(draw(st.integers(0, 6))):
        if remaining == 0:
            break
        refund = draw(st.integers(1, remaining))
        refunds.append(refund)
        remaining -= refund
    if remaining and draw(st.booleans()):
        refunds.append(remaining)
    return refunds
