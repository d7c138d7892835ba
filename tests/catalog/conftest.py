"""Catalog fixtures: committed merchants, products, coupons and the users who own them."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from PIL import Image

from siyu.auth.principal import Principal
from siyu.catalog import service
from siyu.catalog.schemas import CouponBatchCreate, MerchantCreate, ProductCreate
from siyu.db import Database
from siyu.kit.ids import readable_code
from siyu.models import Promoter, PromoterGrade, PromoterKind, Role

VALID_FROM = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
VALID_UNTIL = VALID_FROM + timedelta(days=11)


def product_fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "title": "拉杆箱 20 寸",
        "category": "箱包",
        "product_line": "出行",
        "description": "万向轮，静音",
        "list_price_fen": 19900,
        "promo_price_fen": 5990,
        "stock": 100,
        "commission_rate_bp": 500,
    }
    fields.update(overrides)
    return fields


def coupon_fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "name": "满 99 减 20",
        "face_value_fen": 2000,
        "threshold_fen": 9900,
        "total_quantity": 1000,
        "per_user_limit": 1,
        "valid_from": VALID_FROM,
        "valid_until": VALID_UNTIL,
    }
    fields.update(overrides)
    return fields


def image_bytes(image_format: str = "PNG", size: tuple[int, int] = (8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 22, 29)).save(buffer, format=image_format)
    return buffer.getvalue()


@dataclass
class Catalog:
    """Builds committed catalog objects through the service, as the system (actor None)."""

    database: Database

    def merchant(self, name: str, phone: str | None = None) -> int:
        with self.database.sessions() as session:
            merchant = service.create_merchant(
                session, None, MerchantCreate(name=name, contact_phone=phone)
            )
            session.commit()
            return merchant.id

    def product(self, merchant_id: int, **overrides: Any) -> int:
        with self.database.sessions() as session:
            product = service.create_product(
                session,
                None,
                ProductCreate(merchant_id=merchant_id, **product_fields(**overrides)),
            )
            session.commit()
            return product.id

    def approved(self, merchant_id: int, rank_weight: int = 0, **overrides: Any) -> int:
        product_id = self.product(merchant_id, **overrides)
        with self.database.sessions() as session:
            service.approve_product(session, None, product_id, rank_weight=rank_weight)
            session.commit()
        return product_id

    def reject(self, product_id: int, reason: str = "图片不清晰") -> None:
        with self.database.sessions() as session:
            service.reject_product(session, None, product_id, reason)
            session.commit()

    def coupon(self, merchant_id: int, **overrides: Any) -> int:
        with self.database.sessions() as session:
            coupon_batch = service.create_coupon_batch(
                session,
                None,
                CouponBatchCreate(merchant_id=merchant_id, **coupon_fields(**overrides)),
            )
            session.commit()
            return coupon_batch.id

    def promoter(self) -> int:
        with self.database.sessions() as session:
            grade = PromoterGrade(code=f"g{readable_code(4)}", name="普通", level=0)
            session.add(grade)
            session.flush()
            promoter = Promoter(
                name="小王",
                kind=PromoterKind.INDIVIDUAL,
                phone_encrypted="x",
                phone_index=readable_code(16),
                invite_code=readable_code(8),
                grade_id=grade.id,
            )
            session.add(promoter)
            session.commit()
            return promoter.id


@pytest.fixture
def catalog(database: Database) -> Catalog:
    return Catalog(database)


@pytest.fixture
def shop_a(catalog: Catalog) -> int:
    return catalog.merchant("甲品牌旗舰店")


@pytest.fixture
def shop_b(catalog: Catalog) -> int:
    return catalog.merchant("乙品牌旗舰店")


@pytest.fixture
def merchant_a(make_user: Any, shop_a: int) -> Principal:
    principal: Principal = make_user(Role.MERCHANT, "shop-a", merchant_id=shop_a)
    return principal


@pytest.fixture
def merchant_b(make_user: Any, shop_b: int) -> Principal:
    principal: Principal = make_user(Role.MERCHANT, "shop-b", merchant_id=shop_b)
    return principal


@pytest.fixture
def operator(make_user: Any) -> Principal:
    principal: Principal = make_user(Role.OPERATOR, "ops")
    return principal


@pytest.fixture
def promoter_user(make_user: Any, catalog: Catalog) -> Principal:
    principal: Principal = make_user(Role.PROMOTER, "kol", promoter_id=catalog.promoter())
    return principal
