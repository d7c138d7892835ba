"""A money-loop world built through the real services: two merchants, three pooled products (a
rate, a fixed per-SKU amount, a custom take), a coupon batch, a promoter tree with and without
an upline (and one frozen upline), an admin, and buyers. Every world has fresh owners, so many
worlds share one database without seeing each other's balances."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from siyu.auth.principal import Principal
from siyu.catalog import service as catalog
from siyu.catalog.schemas import CouponBatchCreate, MerchantCreate, ProductCreate
from siyu.db import Database
from siyu.kit.crypto import blind_index, encrypt
from siyu.kit.time import utc_now
from siyu.models import Promoter, PromoterGrade, PromoterKind, PromoterStatus, Role, User
from tests.withdrawals.world import PASSWORD_HASH

_worlds = itertools.count(1)


@dataclass(frozen=True)
class ProductSpec:
    id: int
    merchant_id: int
    price_fen: int
    rate_bp: int
    fixed_fen: int | None
    take_bp: int


@dataclass(frozen=True)
class PromoterSpec:
    id: int
    user_id: int
    phone: str
    inviter_id: int | None
    active: bool

    @property
    def principal(self) -> Principal:
        return Principal(
            user_id=self.user_id,
            username=f"promoter-{self.id}",
            display_name="推手",
            role=Role.PROMOTER,
            promoter_id=self.id,
        )


@dataclass(frozen=True)
class CouponSpec:
    id: int
    merchant_id: int
    face_fen: int
    threshold_fen: int


@dataclass(frozen=True)
class LoopWorld:
    number: int
    admin: Principal
    merchants: tuple[int, int]
    products: tuple[ProductSpec, ...]
    coupon: CouponSpec
    promoters: dict[int, PromoterSpec]
    earners: tuple[int, ...]
    """Active promoters who share links: no upline, an active upline, a frozen upline."""
    buyers: tuple[str, ...]
    """Buyer phones; the last one is an earner's own phone (self-purchase)."""

    def promoter_of_phone(self, phone: str) -> int | None:
        for promoter in self.promoters.values():
            if promoter.phone == phone:
                return promoter.id
        return None


def _phone(world: int, number: int) -> str:
    return f"136{world % 10000:04d}{number:04d}"


def build_loop_world(database: Database) -> LoopWorld:
    number = next(_worlds)
    now = utc_now()
    with database.sessions() as session:
        admin = User(
            username=f"money-admin-{number}",
            display_name="运营",
            password_hash=PASSWORD_HASH,
            role=Role.ADMIN,
        )
        session.add(admin)
        grade = session.scalar(select(PromoterGrade).order_by(PromoterGrade.level).limit(1))
        if grade is None:
            grade = PromoterGrade(code="entry", name="推手", level=0)
            session.add(grade)
        session.flush()
        merchants = tuple(
            catalog.create_merchant(session, None, MerchantCreate(name=f"商家{number}-{m}")).id
            for m in (1, 2)
        )

        def product(merchant_id: int, price: int, rate: int, fixed: int | None, take: int) -> int:
            created = catalog.create_product(
                session,
                None,
                ProductCreate(
                    merchant_id=merchant_id,
                    title=f"商品{price}",
                    category="日用",
                    list_price_fen=price * 2,
                    promo_price_fen=price,
                    stock=10**6,
                    commission_rate_bp=rate,
                    fixed_commission_fen=fixed,
                ),
            )
            catalog.approve_product(session, None, created.id, platform_take_bp=take)
            return created.id

        specs = (
            ProductSpec(0, merchants[0], 5400, 500, None, 1000),  # JD's 54.00 × 5% × 90%
            ProductSpec(0, merchants[0], 1990, 300, 150, 1500),  # fixed 1.50 per unit
            ProductSpec(0, merchants[1], 39900, 1500, None, 2000),  # earns enough to withdraw
        )
        products = tuple(
            ProductSpec(
                product(s.merchant_id, s.price_fen, s.rate_bp, s.fixed_fen, s.take_bp),
                s.merchant_id,
                s.price_fen,
                s.rate_bp,
                s.fixed_fen,
                s.take_bp,
            )
            for s in specs
        )
        coupon = catalog.create_coupon_batch(
            session,
            None,
            CouponBatchCreate(
                merchant_id=merchants[0],
                name="满 50 减 10",
                face_value_fen=1000,
                threshold_fen=5000,
                total_quantity=10**6,
                per_user_limit=10**6,
                valid_from=now - timedelta(days=1),
                valid_until=now + timedelta(days=3650),
            ),
        )

        promoters: dict[int, PromoterSpec] = {}

        def promoter(index: int, inviter_id: int | None, active: bool = True) -> int:
            phone = _phone(number, index)
            row = Promoter(
                name=f"推手{index}",
                kind=PromoterKind.INDIVIDUAL,
                phone_encrypted=encrypt(phone),
                phone_index=blind_index(phone),
                invite_code=f"M{number:05d}{index:02d}",
                inviter_id=inviter_id,
                grade_id=grade.id,
                status=PromoterStatus.ACTIVE if active else PromoterStatus.FROZEN,
            )
            session.add(row)
            session.flush()
            user = User(
                username=f"promoter-{row.id}",
                display_name=row.name,
                password_hash=PASSWORD_HASH,
                role=Role.PROMOTER,
                promoter_id=row.id,
            )
            session.add(user)
            session.flush()
            promoters[row.id] = PromoterSpec(row.id, user.id, phone, inviter_id, active)
            return row.id

        root = promoter(1, None)
        middle = promoter(2, root)
        leaf = promoter(3, middle)
        frozen = promoter(4, None, active=False)
        under_frozen = promoter(5, frozen)
        session.commit()
        buyers = (*(_phone(number, 100 + b) for b in range(4)), promoters[middle].phone)
        return LoopWorld(
            number=number,
            admin=Principal(
                user_id=admin.id,
                username=admin.username,
                display_name="运营",
                role=Role.ADMIN,
            ),
            merchants=(merchants[0], merchants[1]),
            products=products,
            coupon=CouponSpec(coupon.id, merchants[0], 1000, 5000),
            promoters=promoters,
            earners=(root, middle, leaf, under_frozen),
            buyers=buyers,
        )
