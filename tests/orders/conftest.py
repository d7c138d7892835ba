"""Order fixtures: a shop with a pooled product, promoters (with an upline), clicks, drafts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from siyu.config import Settings
from siyu.db import Database
from siyu.kit.ids import readable_code, token
from siyu.kit.time import utc_now
from siyu.models import (
    Click,
    Consumer,
    CouponBatch,
    LinkPosition,
    LinkTargetKind,
    Order,
    Product,
    TrackedLink,
)
from siyu.orders.schemas import DraftLine, OrderDraft
from tests.catalog.conftest import Catalog, catalog  # noqa: F401  (fixture)
from tests.promoters.conftest import MadePromoter, make_promoter  # noqa: F401  (fixture)

WEBHOOK_SECRET = "whsec-test-secret"
BUYER_PHONE = "13900000001"


@dataclass(frozen=True)
class Shop:
    merchant_id: int
    product_id: int


@pytest.fixture
def shop(catalog: Catalog) -> Shop:  # noqa: F811
    merchant_id = catalog.merchant("好物小店")
    product_id = catalog.approved(merchant_id, stock=10, promo_price_fen=5400, list_price_fen=9900)
    return Shop(merchant_id, product_id)


@pytest.fixture
def webhook_secret(settings: Settings) -> str:
    settings.order_webhook_secret = WEBHOOK_SECRET
    return WEBHOOK_SECRET


def h5_draft(product_id: int, quantity: int = 1, **overrides: Any) -> OrderDraft:
    fields: dict[str, Any] = {
        "lines": (DraftLine(product_id=product_id, quantity=quantity),),
        "phone": BUYER_PHONE,
        "nickname": "买家",
    }
    fields.update(overrides)
    return OrderDraft(**fields)


def live_coupon(catalog: Catalog, merchant_id: int, **overrides: Any) -> int:  # noqa: F811
    now = utc_now()
    fields: dict[str, Any] = {
        "valid_from": now - timedelta(days=1),
        "valid_until": now + timedelta(days=10),
        "face_value_fen": 1000,
        "threshold_fen": 5000,
    }
    fields.update(overrides)
    return catalog.coupon(merchant_id, **fields)


@pytest.fixture
def make_click(database: Database) -> Callable[..., str]:
    """make_click(promoter_id, product_id, at=None, consumer_id=None) -> the click token."""

    def factory(
        promoter_id: int,
        product_id: int,
        at: datetime | None = None,
        consumer_id: int | None = None,
    ) -> str:
        value = token(12)[:32]
        with database.sessions() as session:
            link = TrackedLink(
                promoter_id=promoter_id,
                target_kind=LinkTargetKind.PRODUCT,
                product_id=product_id,
                position=LinkPosition.GROUP,
                short_code=readable_code(10),
                expires_at=utc_now() + timedelta(days=60),
            )
            session.add(link)
            session.flush()
            session.add(
                Click(
                    token=value,
                    link_id=link.id,
                    promoter_id=promoter_id,
                    clicked_at=at or utc_now() - timedelta(minutes=5),
                    ip_hash="0" * 64,
                    consumer_id=consumer_id,
                )
            )
            session.commit()
        return value

    return factory


def load_order(database: Database, order_id: int) -> Order:
    with database.sessions() as session:
        order = session.get(Order, order_id)
        assert order is not None
        _ = order.lines
        session.expunge_all()
        return order


def stock_of(database: Database, product_id: int) -> int:
    with database.sessions() as session:
        product = session.get(Product, product_id)
        assert product is not None
        return product.stock


def issued_of(database: Database, batch_id: int) -> int:
    with database.sessions() as session:
        batch = session.get(CouponBatch, batch_id)
        assert batch is not None
        return batch.issued_quantity


def consumer_by_nickname(database: Database, nickname: str) -> Consumer:
    with database.sessions() as session:
        consumer = session.scalar(select(Consumer).where(Consumer.nickname == nickname))
        assert consumer is not None
        session.expunge(consumer)
        return consumer


__all__ = ["MadePromoter"]
