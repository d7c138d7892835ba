"""Concurrent checkouts: stock and coupon counts never go negative, limits hold."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from siyu.db import Database
from siyu.errors import AppError
from siyu.models import CouponGrant, CouponGrantStatus, Order
from siyu.orders import service
from tests.catalog.conftest import Catalog
from tests.conftest import count_rows
from tests.orders.conftest import h5_draft, issued_of, live_coupon, stock_of

CHECKOUTS = 12


def _checkout(database: Database, product_id: int, batch_id: int, phone: str) -> str:
    with database.sessions() as session:
        try:
            service.place_order(
                session, h5_draft(product_id, 1, phone=phone, coupon_batch_id=batch_id)
            )
            session.commit()
            return "ok"
        except AppError as error:
            return error.code


@pytest.mark.parametrize(("stock", "coupons"), [(5, 100), (100, 4)])
def test_concurrent_checkouts(
    database: Database, catalog: Catalog, stock: int, coupons: int
) -> None:
    merchant = catalog.merchant("并发小店")
    product = catalog.approved(merchant, stock=stock, promo_price_fen=6000, list_price_fen=9900)
    batch = live_coupon(catalog, merchant, total_quantity=coupons, per_user_limit=1)
    # Three checkouts per buyer: the per-user limit must hold under concurrency too.
    phones = [f"1390000{index // 3:04d}" for index in range(CHECKOUTS)]
    with ThreadPoolExecutor(max_workers=CHECKOUTS) as pool:
        outcomes = list(pool.map(lambda p: _checkout(database, product, batch, p), phones))
    buyers = len(set(phones))
    expected = min(buyers, stock, coupons)
    assert outcomes.count("ok") == expected
    assert set(outcomes) <= {
        "ok",
        "product_out_of_stock",
        "coupon_sold_out",
        "coupon_limit_reached",
    }
    assert count_rows(database, Order) == expected
    assert stock_of(database, product) == stock - expected
    assert issued_of(database, batch) == expected
    with database.sessions() as session:
        per_buyer = session.execute(
            select(CouponGrant.consumer_id, func.count())
            .where(CouponGrant.status == CouponGrantStatus.USED)
            .group_by(CouponGrant.consumer_id)
        ).all()
    assert all(count == 1 for _consumer, count in per_buyer)


def test_concurrent_checkouts_without_coupon_stop_at_stock(
    database: Database, catalog: Catalog
) -> None:
    merchant = catalog.merchant("并发小店")
    product = catalog.approved(merchant, stock=3)

    def checkout(index: int) -> str:
        with database.sessions() as session:
            try:
                service.place_order(session, h5_draft(product, 1, phone=f"1390001{index:04d}"))
                session.commit()
                return "ok"
            except AppError as error:
                return error.code

    with ThreadPoolExecutor(max_workers=CHECKOUTS) as pool:
        outcomes = list(pool.map(checkout, range(CHECKOUTS)))
    assert outcomes.count("ok") == 3
    assert outcomes.count("product_out_of_stock") == CHECKOUTS - 3
    assert stock_of(database, product) == 0
