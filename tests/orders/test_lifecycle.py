"""Ship, confirm, auto-confirm, cancel and after-sales; illegal moves change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from siyu.db import Database
from siyu.kit.time import utc_now
from siyu.models import AfterSaleStatus, CouponGrant, CouponGrantStatus, Order, OrderStatus
from siyu.orders import rules, service
from siyu.orders.tasks import auto_confirm
from tests.catalog.conftest import Catalog
from tests.orders.conftest import Shop, h5_draft, issued_of, live_coupon, load_order, stock_of


def _placed(session: Session, shop: Shop, quantity: int = 2, **overrides: object) -> Order:
    order = service.place_order(session, h5_draft(shop.product_id, quantity, **overrides))
    session.commit()
    return order


class TestShipAndConfirm:
    def test_ship_then_confirm(self, session: Session, database: Database, shop: Shop) -> None:
        order = _placed(session, shop)
        service.ship_order(session, None, order.id)
        session.commit()
        shipped = load_order(database, order.id)
        assert shipped.status == OrderStatus.SHIPPED
        assert shipped.shipped_at is not None
        assert shipped.auto_confirm_at == shipped.shipped_at + timedelta(days=10)
        service.confirm_receipt(session, None, order.id)
        session.commit()
        received = load_order(database, order.id)
        assert received.status == OrderStatus.RECEIVED
        assert received.received_at is not None
        assert received.auto_confirm_at is None

    def test_shipping_twice_is_a_conflict(
        self, session: Session, database: Database, shop: Shop
    ) -> None:
        order = _placed(session, shop)
        service.ship_order(session, None, order.id)
        session.commit()
        before = load_order(database, order.id).shipped_at
        with pytest.raises(rules.OrderTransitionInvalid) as caught:
            service.ship_order(session, None, order.id)
        session.close()
        assert caught.value.status == 409
        assert load_order(database, order.id).shipped_at == before

    def test_auto_confirm_confirms_due_orders_once(
        self, session: Session, database: Database, shop: Shop
    ) -> None:
        due = _placed(session, shop)
        later = _placed(session, shop)
        service.ship_order(session, None, later.id)
        session.commit()
        now = load_order(database, due.id).auto_confirm_at
        assert now is not None
        assert service.auto_confirm_due(session, now) == [due.id]
        session.commit()
        assert service.auto_confirm_due(session, now) == []
        session.commit()
        assert load_order(database, due.id).status == OrderStatus.RECEIVED
        assert load_order(database, later.id).status == OrderStatus.SHIPPED

    def test_the_job_runs_in_its_own_unit_of_work(
        self, session: Session, database: Database, shop: Shop
    ) -> None:
        order = _placed(session, shop)
        with database.sessions() as other:
            row = other.get(Order, order.id)
            assert row is not None
            row.auto_confirm_at = utc_now() - timedelta(seconds=1)
            other.commit()
        auto_confirm()
        assert load_order(database, order.id).status == OrderStatus.RECEIVED


class TestCancel:
    def test_cancel_restores_stock_and_coupon(
        self, session: Session, database: Database, shop: Shop, catalog: Catalog
    ) -> None:
        batch = live_coupon(catalog, shop.merchant_id)
        order = _placed(session, shop, coupon_batch_id=batch)
        assert (stock_of(database, shop.product_id), issued_of(database, batch)) == (8, 1)
        service.cancel_order(session, None, order.id)
        session.commit()
        assert load_order(database, order.id).status == OrderStatus.CANCELLED
        assert (stock_of(database, shop.product_id), issued_of(database, batch)) == (10, 0)
        with database.sessions() as check:
            grant = check.get(CouponGrant, order.coupon_grant_id)
            assert grant is not None
            assert grant.status == CouponGrantStatus.RELEASED
        # The coupon may be used again by the same buyer.
        _placed(session, shop, coupon_batch_id=batch)

    def test_cannot_cancel_after_shipping(
        self, session: Session, database: Database, shop: Shop
    ) -> None:
        order = _placed(session, shop)
        service.ship_order(session, None, order.id)
        session.commit()
        with pytest.raises(rules.OrderTransitionInvalid):
            service.cancel_order(session, None, order.id)
        session.close()
        assert load_order(database, order.id).status == OrderStatus.SHIPPED
        assert stock_of(database, shop.product_id) == 8


class TestAfterSales:
    def test_partial_refund_approved(
        self, session: Session, database: Database, shop: Shop
    ) -> None:
        order = _placed(session, shop)
        line_id = order.lines[0].id
        after_sale = service.request_after_sale(session, None, line_id, 3000, reason="少发一件")
        session.commit()
        assert load_order(database, order.id).lines[0].open_aftersales == 1
        decided = service.decide_after_sale(session, None, after_sale.id, approve=True)
        session.commit()
        assert decided.status == AfterSaleStatus.APPROVED
        line = load_order(database, order.id).lines[0]
        assert (line.refunded_fen, line.open_aftersales) == (3000, 0)

    def test_request_cannot_exceed_what_is_left(
        self, session: Session, database: Database, shop: Shop
    ) -> None:
        order = _placed(session, shop)
        line_id = order.lines[0].id
        service.request_after_sale(session, None, line_id, 8000)
        session.commit()
        with pytest.raises(rules.AfterSaleAmountInvalid) as caught:
            service.request_after_sale(session, None, line_id, 2801)
        session.close()
        assert "28.00" in caught.value.zh
        assert load_order(database, order.id).lines[0].open_aftersales == 1
        service.request_after_sale(session, None, line_id, 2800)

    def test_reject_needs_a_reason_and_keeps_money(
        self, session: Session, database: Database, shop: Shop
    ) -> None:
        order = _placed(session, shop)
        after_sale = service.request_after_sale(session, None, order.lines[0].id, 100)
        session.commit()
        with pytest.raises(service.DecisionReasonRequired):
            service.decide_after_sale(session, None, after_sale.id, approve=False)
        session.close()
        service.decide_after_sale(
            session, None, after_sale.id, approve=False, reason="已签收无质量问题"
        )
        session.commit()
        line = load_order(database, order.id).lines[0]
        assert (line.refunded_fen, line.open_aftersales) == (0, 0)
        with pytest.raises(service.AfterSaleAlreadyDecided):
            service.decide_after_sale(session, None, after_sale.id, approve=True)
        session.close()
        assert load_order(database, order.id).lines[0].refunded_fen == 0

    def test_no_after_sale_on_a_cancelled_order(self, session: Session, shop: Shop) -> None:
        order = _placed(session, shop)
        service.cancel_order(session, None, order.id)
        session.commit()
        with pytest.raises(rules.OrderTransitionInvalid):
            service.request_after_sale(session, None, order.lines[0].id, 100)
