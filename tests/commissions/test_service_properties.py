"""Property: after any sequence of refunds (some after settlement), the commission rows, the
ledger and the pure split agree to the 分, and every transaction balances."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from siyu.commissions import rules, service
from siyu.db import Database
from siyu.ledger import service as ledger
from siyu.models import Commission
from tests.withdrawals.world import PAID_AT, balances, build_world, place


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[int, int, int, list[int], int]:
    paid = draw(st.integers(min_value=1, max_value=2_000_000))
    rate = draw(st.integers(min_value=0, max_value=3000))
    take = draw(st.integers(min_value=0, max_value=10000))
    cuts = sorted(draw(st.lists(st.integers(min_value=1, max_value=paid), max_size=4, unique=True)))
    refunds = [b - a for a, b in zip([0, *cuts], cuts, strict=False) if b > a]
    settle_after = draw(st.integers(min_value=0, max_value=len(refunds)))
    return paid, rate, take, refunds, settle_after


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(scenario=scenarios())
def test_rows_ledger_and_split_agree(
    database: Database, scenario: tuple[int, int, int, list[int], int]
) -> None:
    paid, rate, take, refunds, settle_after = scenario
    world = build_world(database)
    with database.sessions() as session:
        order = place(session, world, paid_fen=paid, rate_bp=rate, take_bp=take)
        service.on_order_placed(session, order)
        order.received_at = PAID_AT
        service.on_order_received(session, order)
        line = order.lines[0]
        for number, amount in enumerate(refunds):
            if number == settle_after:
                service.settle_due(session, PAID_AT + timedelta(days=8))
            line.refunded_fen += amount
            service.on_line_refunded(session, line, amount, aftersale_id=10_000 + number)
        expected = rules.split_commission(service.snapshot_of(line), line.refunded_fen)
        rows = session.scalars(select(Commission).where(Commission.order_line_id == line.id)).all()
        by_level = {row.level: row.amount_fen for row in rows}
        assert by_level.get(1, 0) == expected.l1_fen
        assert by_level.get(2, 0) == expected.l2_fen
        money = balances(session, world)
        l1_total = money["l1_pending"] + money["l1_available"] + money["l1_on_hold"]
        l2_total = money["l2_pending"] + money["l2_available"] + money["l2_on_hold"]
        assert (l1_total, l2_total) == (expected.l1_fen, expected.l2_fen)
        assert money["merchant"] == -expected.pool_fen
        assert money["platform"] == expected.platform_kept_fen
        assert ledger.check_balanced(session) == []
        session.rollback()
