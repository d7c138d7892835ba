"""Focused regressions for bugs the money-loop state machine and concurrency runs found."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, select

from siyu.commissions import service as commissions
from siyu.config import Settings
from siyu.db import Database
from siyu.kit.time import ensure_aware, utc_now
from siyu.ledger import service as ledger
from siyu.links import service as links
from siyu.links.schemas import LinkCreate
from siyu.models import AfterSaleStatus, Commission, CommissionState, LinkPosition, OrderLine
from siyu.orders import service as orders
from siyu.orders.rules import OrderTransitionInvalid
from siyu.orders.schemas import DraftLine, OrderDraft
from tests.money.world import build_loop_world


class TestOrdersFreezeTheConfiguredPolicy:
    """orders.current_policy used to pass only the take and binding mode, so every new line was
    frozen with the default hold (7 days), L2 share (10 %) and self-purchase flag (off)."""

    def test_line_snapshot_and_hold_follow_the_settings(
        self, database: Database, settings: Settings
    ) -> None:
        settings.hold_days = 14
        settings.l2_share_bp = 500
        settings.self_purchase_commission = True
        world = build_loop_world(database)
        leaf = world.earners[2]  # invited by the middle promoter: an active L2
        product = world.products[0]
        with database.sessions() as session:
            link = links.create_link(
                session,
                None,
                LinkCreate(product_id=product.id, position=LinkPosition.GROUP),
                promoter_id=leaf,
            )
            token = links.record_click(session, link)
            order = orders.place_order(
                session,
                OrderDraft(
                    lines=(DraftLine(product_id=product.id, quantity=1),),
                    phone=world.buyers[0],
                    click_token=token,
                ),
            )
            orders.confirm_receipt(session, world.admin, order.id)
            session.commit()
            line = session.scalars(select(OrderLine).where(OrderLine.order_id == order.id)).one()
            assert (line.hold_days, line.l2_share_bp, line.self_purchase_commission) == (
                14,
                500,
                True,
            )
            shares = {
                row.level: (row.amount_fen, row.settles_at)
                for row in session.scalars(
                    select(Commission).where(Commission.order_line_id == line.id)
                )
            }
            received_at = ensure_aware(order.received_at)  # type: ignore[arg-type]
            due = received_at + timedelta(days=14)
            # 54.00 × 5% = 270; take 10% = 27; L1 243; L2 = 5% of 243 = 12, paid from the take.
            assert {level: amount for level, (amount, _at) in shares.items()} == {1: 243, 2: 12}
            assert {ensure_aware(at) for _amount, at in shares.values() if at} == {due}
            assert commissions.settle_due(session, due - timedelta(seconds=1)) == 0
            assert commissions.settle_due(session, due) == 2


class TestSettlementNeverWritesAOneLeggedTransaction:
    """settle_due once created the promoters' accounts for the commissions due at its first
    statement, then marked every commission due at its second. On PostgreSQL (read committed) a
    decision committed in between (an after-sale closed, a hold released) made one more commission
    due, whose promoter had no available account yet: its settle transaction got only the pending
    leg and the ledger no longer balanced. Settlement now marks first and derives the accounts,
    transactions and entries from the marked batch alone; a decision committed after the marking
    waits for the next run."""

    def test_a_commission_made_due_mid_run_waits_for_the_next_run(
        self, database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        if database.url.startswith("sqlite"):
            pytest.skip(
                "SQLite serialises writers (BEGIN IMMEDIATE): this interleaving cannot occur"
            )
        settings.hold_days = 0
        world = build_loop_world(database)
        product = world.products[0]
        with database.sessions() as session:
            link = links.create_link(
                session,
                None,
                LinkCreate(product_id=product.id, position=LinkPosition.GROUP),
                promoter_id=world.earners[2],
            )
            order = orders.place_order(
                session,
                OrderDraft(
                    lines=(DraftLine(product_id=product.id, quantity=1),),
                    phone=world.buyers[0],
                    click_token=links.record_click(session, link),
                ),
            )
            orders.confirm_receipt(session, world.admin, order.id)
            after_sale = orders.request_after_sale(session, world.admin, order.lines[0].id, 100)
            session.commit()
            after_sale_id = after_sale.id
            line_id = order.lines[0].id

        decided: list[bool] = []

        def a_decision_commits_right_after_marking(
            _connection: object, _cursor: object, statement: str, *_args: object
        ) -> None:
            # The settling transaction has just run its first statement (mark the due rows);
            # another connection now commits a decision that makes one more line due.
            if decided or not statement.lstrip().startswith("UPDATE commission SET state"):
                return
            decided.append(True)
            with database.sessions() as other:
                orders.decide_after_sale(
                    other, world.admin, after_sale_id, approve=False, reason="不符合"
                )
                other.commit()

        hook = a_decision_commits_right_after_marking
        event.listen(database.engine, "after_cursor_execute", hook)
        at = utc_now() + timedelta(hours=1)
        try:
            with database.sessions() as session:
                settled = commissions.settle_due(session, at)
                session.commit()
        finally:
            event.remove(database.engine, "after_cursor_execute", hook)
        assert decided == [True]
        with database.sessions() as session:
            assert ledger.check_balanced(session) == []
            assert settled == 0
            assert commissions.settle_due(session, at) == 2
            session.commit()
            assert ledger.check_balanced(session) == []
            states = session.scalars(
                select(Commission.state).where(Commission.order_line_id == line_id)
            ).all()
            assert states == [CommissionState.SETTLED, CommissionState.SETTLED]


class TestNoRefundOnACancelledOrder:
    """An after-sale requested on a paid order could still be approved after the order was
    cancelled: the line's refunded amount grew although the cancellation had returned the whole
    payment (the buyer was refunded twice)."""

    def test_approval_is_refused_and_changes_nothing_then_rejection_closes_it(
        self, database: Database, settings: Settings
    ) -> None:
        world = build_loop_world(database)
        product = world.products[0]
        with database.sessions() as session:
            order = orders.place_order(
                session,
                OrderDraft(
                    lines=(DraftLine(product_id=product.id, quantity=1),),
                    phone=world.buyers[0],
                ),
            )
            line_id = order.lines[0].id
            after_sale = orders.request_after_sale(session, world.admin, line_id, 1000)
            orders.cancel_order(session, world.admin, order.id)
            session.commit()
            after_sale_id = after_sale.id
        with database.sessions() as session, pytest.raises(OrderTransitionInvalid):
            orders.decide_after_sale(session, world.admin, after_sale_id, approve=True)
        with database.sessions() as session:
            line = session.get(OrderLine, line_id)
            assert line is not None
            assert (line.refunded_fen, line.open_aftersales) == (0, 1)
            rejected = orders.decide_after_sale(
                session, world.admin, after_sale_id, approve=False, reason="订单已取消"
            )
            session.commit()
            assert rejected.status == AfterSaleStatus.REJECTED
            assert (line.refunded_fen, line.open_aftersales) == (0, 0)
