"""A small money world built straight through the ORM (the orders service may not exist yet):
one merchant and product, promoters L1 and L2, a consumer, and orders with frozen snapshots."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import count

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.auth.security import hash_password
from siyu.db import Database
from siyu.kit.crypto import blind_index, encrypt
from siyu.ledger import rules as ledger_rules
from siyu.ledger import service as ledger
from siyu.models import (
    AttributionSource,
    Consumer,
    Merchant,
    Order,
    OrderLine,
    OrderSource,
    OrderStatus,
    Product,
    Promoter,
    PromoterGrade,
    PromoterKind,
    Role,
    User,
)

# Every world's promoter logs in with tests.conftest.PASSWORD (hashed once: hashing is slow).
PASSWORD_HASH = hash_password("correct-horse-42")
PAID_AT = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
_numbers = count(1)


@dataclass(frozen=True)
class World:
    merchant_id: int
    product_id: int
    l1_id: int
    l2_id: int
    consumer_id: int
    l1_user_id: int
    l2_user_id: int

    @property
    def l1(self) -> Principal:
        return promoter_principal(self.l1_id, self.l1_user_id)

    @property
    def l2(self) -> Principal:
        return promoter_principal(self.l2_id, self.l2_user_id)

    def username(self, promoter_id: int) -> str:
        return f"promoter-{promoter_id}"


def _promoter(session: Session, grade_id: int, name: str, inviter_id: int | None) -> Promoter:
    number = next(_numbers)
    promoter = Promoter(
        name=name,
        kind=PromoterKind.INDIVIDUAL,
        phone_encrypted=encrypt(f"139{number:08d}"),
        phone_index=blind_index(f"139{number:08d}"),
        invite_code=f"I{number:06d}{name[:2]}",
        inviter_id=inviter_id,
        grade_id=grade_id,
    )
    session.add(promoter)
    session.flush()
    return promoter


def build_world(database: Database) -> World:
    with database.sessions() as session:
        grade = session.scalar(select(PromoterGrade).order_by(PromoterGrade.level).limit(1))
        if grade is None:
            grade = PromoterGrade(code="entry", name="推手", level=0)
            session.add(grade)
            session.flush()
        merchant = Merchant(name=f"京东商家{next(_numbers)}")
        session.add(merchant)
        session.flush()
        product = Product(
            merchant_id=merchant.id,
            title="酸奶",
            category="food",
            list_price_fen=6000,
            promo_price_fen=5400,
            stock=100,
            commission_rate_bp=500,
            platform_take_bp=1000,
        )
        session.add(product)
        l2 = _promoter(session, grade.id, "upline", None)
        l1 = _promoter(session, grade.id, "direct", l2.id)
        consumer = Consumer(nickname="买家", phone_index=f"buyer-{next(_numbers)}")
        session.add(consumer)
        session.flush()
        users = [
            User(
                username=f"promoter-{promoter.id}",
                display_name=promoter.name,
                password_hash=PASSWORD_HASH,
                role=Role.PROMOTER,
                promoter_id=promoter.id,
            )
            for promoter in (l1, l2)
        ]
        session.add_all(users)
        session.flush()
        world = World(merchant.id, product.id, l1.id, l2.id, consumer.id, users[0].id, users[1].id)
        session.commit()
        return world


def place(
    session: Session,
    world: World,
    *,
    paid_fen: int = 5400,
    quantity: int = 1,
    rate_bp: int = 500,
    fixed_fen: int | None = None,
    take_bp: int = 1000,
    l2_share_bp: int = 1000,
    with_l2: bool = True,
    l1: bool = True,
    self_purchase: bool = False,
    self_purchase_commission: bool = False,
    hold_days: int = 7,
    paid_at: datetime = PAID_AT,
    device_hash: str | None = None,
    address_hash: str | None = None,
    consumer_id: int | None = None,
) -> Order:
    """One paid order with one line and its frozen snapshot (not yet passed to the hooks)."""
    number = next(_numbers)
    order = Order(
        order_no=f"T{number:010d}",
        source=OrderSource.H5,
        consumer_id=consumer_id or world.consumer_id,
        status=OrderStatus.PAID,
        items_fen=paid_fen,
        paid_fen=paid_fen,
        paid_at=paid_at,
        buyer_device_hash=device_hash,
        address_hash=address_hash,
    )
    session.add(order)
    session.flush()
    line = OrderLine(
        order_id=order.id,
        product_id=world.product_id,
        merchant_id=world.merchant_id,
        title="酸奶",
        quantity=quantity,
        unit_price_fen=paid_fen // quantity,
        paid_fen=paid_fen,
        attribution_source=AttributionSource.CLICK if l1 else AttributionSource.NONE,
        l1_promoter_id=world.l1_id if l1 else None,
        l2_promoter_id=world.l2_id if (l1 and with_l2) else None,
        l2_active=with_l2,
        commission_rate_bp=rate_bp,
        fixed_commission_fen=fixed_fen,
        platform_take_bp=take_bp,
        l2_share_bp=l2_share_bp,
        self_purchase=self_purchase,
        self_purchase_commission=self_purchase_commission,
        hold_days=hold_days,
    )
    session.add(line)
    session.flush()
    session.refresh(order, ["lines"])
    return order


def balances(session: Session, world: World) -> dict[str, int]:
    """Every account the world touches, by a short name."""
    keys = {
        "merchant": ledger_rules.merchant_payable(world.merchant_id),
        "platform": ledger_rules.platform_revenue(),
        "l1_pending": ledger_rules.promoter_pending(world.l1_id),
        "l1_available": ledger_rules.promoter_available(world.l1_id),
        "l1_on_hold": ledger_rules.promoter_on_hold(world.l1_id),
        "l1_withdrawing": ledger_rules.promoter_withdrawing(world.l1_id),
        "l2_pending": ledger_rules.promoter_pending(world.l2_id),
        "l2_available": ledger_rules.promoter_available(world.l2_id),
        "l2_on_hold": ledger_rules.promoter_on_hold(world.l2_id),
        "clearing": ledger_rules.payout_clearing(),
    }
    return {name: ledger.balance(session, key) for name, key in keys.items()}


def staff(user_id: int = 1) -> Principal:
    return Principal(user_id=user_id, username="ops", display_name="运营", role=Role.ADMIN)


def promoter_principal(promoter_id: int, user_id: int = 2) -> Principal:
    return Principal(
        user_id=user_id,
        username=f"promoter-{promoter_id}",
        display_name="推手",
        role=Role.PROMOTER,
        promoter_id=promoter_id,
    )
