"""The demo's money loop: two weeks of links, clicks, orders, refunds, settlement and payouts.

Runs through the public services only, on the simulated clock (``travel_to``), inside the
caller's unit of work. Deterministic for a given seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.commissions import service as commissions
from siyu.commissions.rules import NetworkKind
from siyu.kit.time import travel_to, utc_now
from siyu.ledger import rules as ledger_rules
from siyu.ledger import service as ledger
from siyu.links import service as links
from siyu.links.schemas import LinkCreate
from siyu.models import (
    AfterSaleKind,
    CommissionState,
    Order,
    OrderStatus,
    Product,
    Promoter,
    PromoterStatus,
    ReviewStatus,
    TrackedLink,
    User,
)
from siyu.models.links import LinkPosition
from siyu.orders import service as orders
from siyu.orders.schemas import DraftLine, OrderDraft
from siyu.withdrawals import service as withdrawals

DAYS = 14
SHARERS = 14
POSITIONS = [LinkPosition.GROUP, LinkPosition.MOMENTS, LinkPosition.FRIEND, LinkPosition.POSTER]


@dataclass
class MoneySummary:
    links: int = 0
    clicks: int = 0
    orders: int = 0
    gmv_fen: int = 0
    refunds: int = 0
    settled: int = 0
    withdrawals: int = 0
    cancelled: int = 0
    held: int = 0
    reversed: int = 0


def _principal_of_promoter(session: Session, promoter: Promoter) -> Principal:
    user = session.scalar(select(User).where(User.promoter_id == promoter.id))
    assert user is not None
    return Principal.of(user)


def run_money_loop(session: Session, admin: Principal, seed: int) -> MoneySummary:
    rng = random.Random(seed)
    summary = MoneySummary()
    start = utc_now() - timedelta(days=DAYS + 2)
    pool = list(
        session.scalars(
            select(Product)
            .where(Product.review_status == ReviewStatus.APPROVED, Product.on_shelf.is_(True))
            .order_by(Product.rank_weight.desc(), Product.id)
        )
    )
    sharers = list(
        session.scalars(
            select(Promoter)
            .where(Promoter.status == PromoterStatus.ACTIVE)
            .order_by(Promoter.id)
            .limit(SHARERS)
        )
    )
    shared: dict[int, list[TrackedLink]] = {}
    with travel_to(start):
        for promoter in sharers:
            owner = _principal_of_promoter(session, promoter)
            for product in rng.sample(pool, k=3):
                link = links.create_link(
                    session,
                    owner,
                    LinkCreate(product_id=product.id, position=rng.choice(POSITIONS)),
                )
                shared.setdefault(promoter.id, []).append(link)
                summary.links += 1

    buyers = [f"1391{index:07d}" for index in range(1, 160)]
    placed: list[tuple[int, int]] = []  # (order id, day placed)
    for day in range(DAYS):
        with travel_to(start + timedelta(days=day, hours=rng.randint(9, 21))):
            for promoter_links in shared.values():
                for _ in range(rng.choice([0, 1, 1, 2, 3])):
                    link = rng.choice(promoter_links)
                    token = links.record_click(session, link)
                    summary.clicks += 1
                    if rng.random() < 0.45:
                        order = orders.place_order(
                            session,
                            OrderDraft(
                                lines=(
                                    DraftLine(
                                        product_id=_product_id(link), quantity=rng.choice([1, 1, 2])
                                    ),
                                ),
                                phone=rng.choice(buyers),
                                click_token=token,
                            ),
                        )
                        placed.append((order.id, day))
                        summary.orders += 1
                        summary.gmv_fen += order.paid_fen
            _advance_orders(session, admin, placed, day, rng, summary)
            summary.settled += commissions.settle_due(session, utc_now())
    with travel_to(start + timedelta(days=DAYS + 1, hours=10)):
        for order_id, placed_day in placed:
            pending = session.get(Order, order_id)
            assert pending is not None
            if pending.status in (OrderStatus.PAID, OrderStatus.SHIPPED) and placed_day < DAYS - 3:
                orders.confirm_receipt(session, admin, order_id)
        summary.settled += commissions.settle_due(session, utc_now())
        summary.reversed = _refund_after_settlement(session, admin, placed)
        summary.held = _shared_phone_orders(session, sharers, pool)
        summary.withdrawals = _withdraw(session, admin, sharers)
    return summary


def _refund_after_settlement(
    session: Session, admin: Principal, placed: list[tuple[int, int]]
) -> int:
    """Two settled orders come back late (the merchant accepts a return after the hold): the
    commission is reversed by new entries and may take the promoter's balance below zero."""
    reversed_count = 0
    for order_id, _day in placed:
        order = session.get(Order, order_id)
        assert order is not None
        line = order.lines[0]
        states = commissions.states_of_line(session, line.id)
        if set(states) != {CommissionState.SETTLED} or line.refunded_fen or line.open_aftersales:
            continue
        after_sale = orders.request_after_sale(
            session, admin, line.id, line.paid_fen, AfterSaleKind.RETURN, "质量问题，售后退货"
        )
        orders.decide_after_sale(session, admin, after_sale.id, approve=True)
        reversed_count += 1
        if reversed_count == 2:
            break
    return reversed_count


def _shared_phone_orders(session: Session, sharers: list[Promoter], pool: list[Product]) -> int:
    """A promoter "buys" through its own link on its own phone: the shared device puts the
    commission on hold for the platform's fraud review (风控审核)."""
    promoter = sharers[-1]
    link = session.scalar(
        select(TrackedLink).where(TrackedLink.promoter_id == promoter.id).limit(1)
    )
    if link is None:
        return 0
    device = f"demo-device-{promoter.id}"
    commissions.note_promoter_seen(session, promoter.id, None, device)
    token = links.record_click(session, link)
    orders.place_order(
        session,
        OrderDraft(
            lines=(DraftLine(product_id=_product_id(link), quantity=1),),
            phone="13912340000",
            nickname="自己人",
            click_token=token,
            buyer_device_hash=commissions.network_hash(NetworkKind.DEVICE, device),
        ),
    )
    return 1


def _product_id(link: TrackedLink) -> int:
    assert link.product_id is not None
    return link.product_id


def _advance_orders(
    session: Session,
    admin: Principal,
    placed: list[tuple[int, int]],
    today: int,
    rng: random.Random,
    summary: MoneySummary,
) -> None:
    for order_id, day in placed:
        order = session.get(Order, order_id)
        assert order is not None
        age = today - day
        if order.status == OrderStatus.PAID and age >= 1:
            if rng.random() < 0.05:  # the buyer changed their mind before shipping
                orders.cancel_order(session, admin, order_id)
                summary.cancelled += 1
            else:
                orders.ship_order(session, admin, order_id)
        elif order.status == OrderStatus.SHIPPED and age >= 3:
            orders.confirm_receipt(session, admin, order_id)
            line = order.lines[0]
            roll = rng.random()
            if roll < 0.12:
                # About one in eight comes back: a partial refund, a full return, or a request
                # still open at the end (which keeps its commission from settling).
                full = roll < 0.04
                after_sale = orders.request_after_sale(
                    session,
                    admin,
                    line.id,
                    line.paid_fen if full else max(1, line.paid_fen // 2),
                    AfterSaleKind.RETURN if full else AfterSaleKind.REFUND,
                    "七天无理由退货" if full else "商品与描述不符，协商部分退款",
                )
                if roll < 0.10:
                    orders.decide_after_sale(session, admin, after_sale.id, approve=True)
                    summary.refunds += 1


def _withdraw(session: Session, admin: Principal, sharers: list[Promoter]) -> int:
    requested = 0
    for index, promoter in enumerate(sharers):
        available = ledger.balance(session, ledger_rules.promoter_available(promoter.id))
        if available < 1000:
            continue
        owner = _principal_of_promoter(session, promoter)
        amount = (available // 100) * 100
        withdrawal = withdrawals.request_withdrawal(
            session, owner, amount, f"demo-withdrawal-{promoter.id}"
        )
        requested += 1
        # Some are paid out, one waits for review, the rest approved and exported.
        if index % 3 == 0:
            withdrawals.approve(session, admin, withdrawal.id)
            withdrawals.mark_paid(session, admin, withdrawal.id)
        elif index % 3 == 1:
            withdrawals.approve(session, admin, withdrawal.id)
    return requested
