"""place_order: stock, coupons, attribution, the frozen snapshot, binding."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from siyu.db import Database
from siyu.kit.time import utc_now
from siyu.models import (
    AttributionSource,
    Consumer,
    CouponGrant,
    Order,
    OrderLine,
    OrderSource,
    OrderStatus,
)
from siyu.orders import service
from siyu.orders.schemas import DraftLine
from tests.catalog.conftest import Catalog
from tests.conftest import count_rows
from tests.orders.conftest import (
    Shop,
    consumer_by_nickname,
    h5_draft,
    issued_of,
    live_coupon,
    stock_of,
)
from tests.promoters.conftest import MadePromoter


class TestPlainCheckout:
    def test_creates_a_paid_order_and_takes_stock(
        self, session: Session, database: Database, shop: Shop
    ) -> None:
        order = service.place_order(session, h5_draft(shop.product_id, 3, freight_fen=800))
        session.commit()
        assert re.fullmatch(r"SY\d{8}[2-9A-HJKMNP-Z]{8}", order.order_no)
        assert order.status == OrderStatus.PAID
        assert order.source == OrderSource.H5
        assert (order.items_fen, order.coupon_discount_fen, order.freight_fen) == (16200, 0, 800)
        assert order.paid_fen == 17000
        assert order.auto_confirm_at == order.paid_at + timedelta(days=10)
        [line] = order.lines
        assert (line.quantity, line.unit_price_fen, line.paid_fen) == (3, 5400, 16200)
        assert line.attribution_source == AttributionSource.NONE
        assert line.l1_promoter_id is None
        assert (line.commission_rate_bp, line.platform_take_bp, line.hold_days) == (500, 1000, 7)
        assert stock_of(database, shop.product_id) == 7

    def test_out_of_stock_writes_nothing(
        self, session: Session, database: Database, shop: Shop
    ) -> None:
        with pytest.raises(service.ProductOutOfStock) as caught:
            service.place_order(session, h5_draft(shop.product_id, 11))
        session.commit()
        assert caught.value.status == 409
        assert "库存不足" in caught.value.zh
        assert stock_of(database, shop.product_id) == 10
        assert count_rows(database, Order) == 0
        assert count_rows(database, Consumer) == 0

    def test_second_line_out_of_stock_rolls_back_the_first(
        self, session: Session, database: Database, shop: Shop, catalog: Catalog
    ) -> None:
        other = catalog.approved(shop.merchant_id, stock=1)
        draft = h5_draft(
            shop.product_id,
            lines=(
                DraftLine(product_id=shop.product_id, quantity=2),
                DraftLine(product_id=other, quantity=2),
            ),
        )
        with pytest.raises(service.ProductOutOfStock):
            service.place_order(session, draft)
        session.commit()
        assert stock_of(database, shop.product_id) == 10
        assert stock_of(database, other) == 1
        assert count_rows(database, OrderLine) == 0

    def test_product_outside_the_pool_is_refused_for_h5(
        self, session: Session, database: Database, shop: Shop, catalog: Catalog
    ) -> None:
        pending = catalog.product(shop.merchant_id)
        with pytest.raises(service.ProductNotAvailable):
            service.place_order(session, h5_draft(pending))
        session.close()
        assert count_rows(database, Order) == 0

    def test_same_phone_is_one_consumer(
        self, session: Session, database: Database, shop: Shop
    ) -> None:
        first = service.place_order(session, h5_draft(shop.product_id))
        second = service.place_order(session, h5_draft(shop.product_id, phone="139 0000 0001"))
        session.commit()
        assert first.consumer_id == second.consumer_id
        assert count_rows(database, Consumer) == 1
        consumer = consumer_by_nickname(database, "买家")
        assert consumer.phone_encrypted is not None
        assert "13900000001" not in consumer.phone_encrypted


class TestCoupons:
    def test_coupon_is_allocated_and_counted(
        self, session: Session, database: Database, shop: Shop, catalog: Catalog
    ) -> None:
        other = catalog.approved(shop.merchant_id, promo_price_fen=2000, list_price_fen=3000)
        batch = live_coupon(catalog, shop.merchant_id, face_value_fen=1001, threshold_fen=7000)
        draft = h5_draft(
            shop.product_id,
            lines=(
                DraftLine(product_id=shop.product_id, quantity=1),
                DraftLine(product_id=other, quantity=1),
            ),
            coupon_batch_id=batch,
        )
        order = service.place_order(session, draft)
        session.commit()
        assert order.coupon_discount_fen == 1001
        assert [line.coupon_discount_fen for line in order.lines] == [730, 271]
        assert [line.paid_fen for line in order.lines] == [4670, 1729]
        assert order.paid_fen == 7400 - 1001
        assert issued_of(database, batch) == 1
        assert count_rows(database, CouponGrant) == 1

    def test_product_scoped_coupon_discounts_only_its_product(
        self, session: Session, shop: Shop, catalog: Catalog
    ) -> None:
        other = catalog.approved(shop.merchant_id, promo_price_fen=9000, list_price_fen=9900)
        batch = live_coupon(catalog, shop.merchant_id, product_id=shop.product_id)
        draft = h5_draft(
            shop.product_id,
            lines=(
                DraftLine(product_id=shop.product_id, quantity=1),
                DraftLine(product_id=other, quantity=1),
            ),
            coupon_batch_id=batch,
        )
        order = service.place_order(session, draft)
        assert [line.coupon_discount_fen for line in order.lines] == [1000, 0]

    def test_per_user_limit(
        self, session: Session, database: Database, shop: Shop, catalog: Catalog
    ) -> None:
        batch = live_coupon(catalog, shop.merchant_id)
        service.place_order(session, h5_draft(shop.product_id, coupon_batch_id=batch))
        session.commit()
        with pytest.raises(service.CouponLimitReached) as caught:
            service.place_order(session, h5_draft(shop.product_id, coupon_batch_id=batch))
        session.commit()
        assert caught.value.status == 409
        assert issued_of(database, batch) == 1
        assert stock_of(database, shop.product_id) == 9
        assert count_rows(database, Order) == 1

    def test_sold_out_batch(
        self, session: Session, database: Database, shop: Shop, catalog: Catalog
    ) -> None:
        batch = live_coupon(catalog, shop.merchant_id, total_quantity=1)
        service.place_order(session, h5_draft(shop.product_id, coupon_batch_id=batch))
        session.commit()
        with pytest.raises(service.CouponSoldOut):
            service.place_order(
                session, h5_draft(shop.product_id, coupon_batch_id=batch, phone="13900000002")
            )
        session.commit()
        assert issued_of(database, batch) == 1
        assert stock_of(database, shop.product_id) == 9

    def test_threshold_not_reached(self, session: Session, shop: Shop, catalog: Catalog) -> None:
        batch = live_coupon(catalog, shop.merchant_id, threshold_fen=10000)
        with pytest.raises(service.CouponNotApplicable) as caught:
            service.place_order(session, h5_draft(shop.product_id, coupon_batch_id=batch))
        assert "门槛" in caught.value.zh

    def test_outside_validity_window(self, session: Session, shop: Shop, catalog: Catalog) -> None:
        now = utc_now()
        batch = live_coupon(
            catalog,
            shop.merchant_id,
            valid_from=now + timedelta(days=1),
            valid_until=now + timedelta(days=2),
        )
        with pytest.raises(service.CouponNotApplicable) as caught:
            service.place_order(session, h5_draft(shop.product_id, coupon_batch_id=batch))
        assert "有效期" in caught.value.zh

    def test_other_merchants_coupon(self, session: Session, shop: Shop, catalog: Catalog) -> None:
        batch = live_coupon(catalog, catalog.merchant("别家"))
        with pytest.raises(service.CouponNotApplicable):
            service.place_order(session, h5_draft(shop.product_id, coupon_batch_id=batch))


class TestAttribution:
    def test_click_attributes_and_freezes_the_chain(
        self,
        session: Session,
        database: Database,
        shop: Shop,
        make_promoter: Callable[..., MadePromoter],
        make_click: Callable[..., str],
    ) -> None:
        upline = make_promoter("上级", 1)
        promoter = make_promoter("推手", 2, inviter=upline)
        click = make_click(promoter.id, shop.product_id)
        order = service.place_order(session, h5_draft(shop.product_id, click_token=click))
        session.commit()
        [line] = order.lines
        assert line.attribution_source == AttributionSource.CLICK
        assert (line.l1_promoter_id, line.l2_promoter_id, line.l2_active) == (
            promoter.id,
            upline.id,
            True,
        )
        assert line.link_id is not None
        assert line.click_id is not None
        assert (line.l2_share_bp, line.self_purchase) == (1000, False)
        assert order.click_token == click
        assert consumer_by_nickname(database, "买家").bound_promoter_id == promoter.id

    def test_binding_attributes_a_later_order_without_click(
        self,
        session: Session,
        shop: Shop,
        make_promoter: Callable[..., MadePromoter],
        make_click: Callable[..., str],
    ) -> None:
        promoter = make_promoter("推手", 2)
        service.place_order(
            session, h5_draft(shop.product_id, click_token=make_click(promoter.id, shop.product_id))
        )
        session.commit()
        order = service.place_order(session, h5_draft(shop.product_id))
        [line] = order.lines
        assert line.attribution_source == AttributionSource.BINDING
        assert line.l1_promoter_id == promoter.id
        assert line.link_id is None

    def test_click_older_than_window_is_ignored(
        self,
        session: Session,
        shop: Shop,
        make_promoter: Callable[..., MadePromoter],
        make_click: Callable[..., str],
    ) -> None:
        promoter = make_promoter("推手", 2)
        old = make_click(promoter.id, shop.product_id, at=utc_now() - timedelta(days=16))
        order = service.place_order(session, h5_draft(shop.product_id, click_token=old))
        assert order.lines[0].attribution_source == AttributionSource.NONE

    def test_buying_through_own_link_is_flagged_self_purchase(
        self,
        session: Session,
        shop: Shop,
        make_promoter: Callable[..., MadePromoter],
        make_click: Callable[..., str],
    ) -> None:
        promoter = make_promoter("推手", 2)
        click = make_click(promoter.id, shop.product_id)
        order = service.place_order(
            session, h5_draft(shop.product_id, click_token=click, phone=promoter.phone)
        )
        [line] = order.lines
        assert (line.l1_promoter_id, line.self_purchase) == (promoter.id, True)
        # No self-binding.
        consumer = session.get(Consumer, order.consumer_id)
        assert consumer is not None
        assert consumer.bound_promoter_id is None


class TestExternalOrders:
    def test_any_approved_product_of_the_merchant_with_external_price(
        self, session: Session, shop: Shop, catalog: Catalog
    ) -> None:
        off_shelf = catalog.approved(shop.merchant_id)
        draft = h5_draft(
            off_shelf,
            lines=(
                DraftLine(
                    product_id=off_shelf, quantity=2, unit_price_fen=4500, external_line_id="L1"
                ),
            ),
            source=OrderSource.WEBHOOK,
            external_order_id="EXT-1",
            merchant_id=shop.merchant_id,
        )
        order = service.place_order(session, draft)
        again = service.place_order(session, draft)
        assert again.id == order.id
        assert order.lines[0].paid_fen == 9000
        assert order.lines[0].external_key == "webhook:EXT-1:L1"

    def test_other_merchants_product_is_refused(
        self, session: Session, shop: Shop, catalog: Catalog
    ) -> None:
        draft = h5_draft(
            shop.product_id,
            source=OrderSource.WEBHOOK,
            external_order_id="EXT-2",
            merchant_id=catalog.merchant("别家"),
        )
        with pytest.raises(service.ProductNotAvailable):
            service.place_order(session, draft)
