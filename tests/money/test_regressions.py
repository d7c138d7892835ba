"""Focused regressions for bugs the money-loop state machine and concurrency runs found."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from siyu.commissions import service as commissions
from siyu.config import Settings
from siyu.db import Database
from siyu.kit.time import ensure_aware
from siyu.links import service as links
from siyu.links.schemas import LinkCreate
from siyu.models import Commission, LinkPosition, OrderLine
from siyu.orders import service as orders
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
