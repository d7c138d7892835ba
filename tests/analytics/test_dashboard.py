"""The dashboards' figures, on a hand-built week of facts: orders in every channel (one order
split across two), a refund, a cancelled order, orders just inside and outside the range across
Shanghai midnights, ledger commissions with a refund, a settlement, a cancellation and an
unrelated withdrawal, first contacts in every consumer channel, bindings and accounts.

Each headline figure is checked twice: against the hand count, and against an independent
recount in Python over every row (no shared code with the repository)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.analytics import dashboard
from siyu.analytics.dashboard_rules import (
    LOWER_TIERS,
    Channel,
    DashboardChannelInvalid,
    DashboardDateInvalid,
    DashboardRangeInvalid,
    DateRange,
    consumer_channel,
    order_channel,
)
from siyu.auth.principal import Principal
from siyu.db import Database
from siyu.errors import PermissionDenied
from siyu.kit.time import SHANGHAI, travel_to
from siyu.ledger import rules as ledger_rules
from siyu.ledger import service as ledger
from siyu.models import (
    ChannelCode,
    Consumer,
    Contact,
    LinkPosition,
    LinkTargetKind,
    Order,
    OrderLine,
    Role,
    TrackedLink,
)
from siyu.models.ledger import LedgerAccount, LedgerEntry, LedgerOwnerType, LedgerTransaction
from siyu.models.orders import AttributionSource, OrderSource, OrderStatus
from siyu.models.pool import AccountStatus, ContactSourceKind, ContactState, OperatorAccount
from siyu.pool import service as pool
from siyu.regions import service as regions
from tests.catalog.conftest import Catalog, catalog  # noqa: F401  (fixture)
from tests.pool.conftest import make_account, make_code
from tests.promoters.conftest import MadePromoter, make_promoter  # noqa: F401  (fixture)

RANGE = DateRange(date(2026, 11, 1), date(2026, 11, 7))  # Shanghai days; 11-02 is a Monday
START, END = "2026-11-01", "2026-11-07"
NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)


def utc(month: int, day: int, hour: int = 2, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


@dataclass
class Scene:
    merchant_1: int
    merchant_2: int
    promoter_a: MadePromoter
    promoter_b: MadePromoter
    promoter_c: MadePromoter
    account_ids: dict[str, int] = field(default_factory=dict)
    consumer_ids: dict[str, int] = field(default_factory=dict)


def _order(
    session: Session,
    consumer: Consumer,
    paid_at: datetime,
    lines: list[dict[str, Any]],
    status: OrderStatus = OrderStatus.PAID,
) -> Order:
    number = session.scalar(select(Order.id).order_by(Order.id.desc()).limit(1)) or 0
    order = Order(
        order_no=f"T{number + 1:06d}{consumer.id}",
        source=OrderSource.H5,
        consumer_id=consumer.id,
        status=status,
        items_fen=sum(line["paid_fen"] for line in lines),
        paid_fen=sum(line["paid_fen"] for line in lines),
        paid_at=paid_at,
        cancelled_at=paid_at + timedelta(hours=1) if status == OrderStatus.CANCELLED else None,
    )
    session.add(order)
    session.flush()
    for values in lines:
        session.add(
            OrderLine(
                order_id=order.id,
                title="商品",
                quantity=1,
                unit_price_fen=values["paid_fen"],
                refunded_fen=values.pop("refunded_fen", 0),
                **values,
            )
        )
    session.flush()
    return order


def _line_id(session: Session, order: Order, merchant_id: int) -> int:
    value = session.scalar(
        select(OrderLine.id).where(
            OrderLine.order_id == order.id, OrderLine.merchant_id == merchant_id
        )
    )
    assert value is not None
    return value


def build(session: Session, shop: Catalog, new_promoter: Callable[..., MadePromoter]) -> Scene:
    m1 = shop.merchant("行者箱包")
    m2 = shop.merchant("鲜丰果园")
    p1 = shop.approved(m1)
    p2 = shop.approved(m2)
    a = new_promoter("甲推手", 1)
    b = new_promoter("乙推手", 2, inviter=a)
    c = new_promoter("丙推手", 3)
    scene = Scene(m1, m2, a, b, c)

    def consumer(name: str, **values: Any) -> Consumer:
        row = Consumer(nickname=name, union_id=f"union-{name}", **values)
        session.add(row)
        session.flush()
        scene.consumer_ids[name] = row.id
        return row

    # Buyers; bindings: c1 → 甲 (in range), c2 → 乙 (in range), c4 → 甲 (before the range).
    c1 = consumer("c1", bound_promoter_id=a.id, bound_at=utc(11, 2))
    c2 = consumer("c2", bound_promoter_id=b.id, bound_at=utc(11, 3))
    c3 = consumer("c3")
    c4 = consumer("c4", bound_promoter_id=a.id, bound_at=utc(10, 20))
    c5 = consumer("c5")

    def link(promoter_id: int, sub_id: str) -> int:
        row = TrackedLink(
            promoter_id=promoter_id,
            target_kind=LinkTargetKind.PRODUCT,
            product_id=p1,
            position=LinkPosition.GROUP,
            sub_id=sub_id,
            short_code=f"s{promoter_id}{len(sub_id)}x",
            expires_at=utc(12, 30),
        )
        session.add(row)
        session.flush()
        return row.id

    broadcast_link = link(a.id, "群发#5")
    plain_link = link(b.id, "朋友圈")

    def line(merchant: int, product: int, paid: int, **values: Any) -> dict[str, Any]:
        return {"merchant_id": merchant, "product_id": product, "paid_fen": paid, **values}

    click = AttributionSource.CLICK
    o1 = _order(
        session,
        c1,
        utc(11, 2),  # 11-02 10:00 Shanghai
        [
            line(
                m1,
                p1,
                10000,
                refunded_fen=2000,
                attribution_source=click,
                link_id=broadcast_link,
                l1_promoter_id=a.id,
            )
        ],
    )
    o2 = _order(
        session,
        c2,
        utc(11, 2, 15, 59, 59),  # 11-02 23:59:59 Shanghai
        [
            line(
                m1,
                p1,
                5000,
                attribution_source=click,
                link_id=plain_link,
                l1_promoter_id=b.id,
                l2_promoter_id=a.id,
            ),
            line(m2, p2, 3000, attribution_source=AttributionSource.BINDING, l1_promoter_id=a.id),
        ],
    )
    _order(session, c1, utc(11, 2, 16), [line(m2, p2, 4000)])  # 11-03 00:00 Shanghai, natural
    o4 = _order(
        session,
        c3,
        utc(11, 3),
        [line(m1, p1, 9999, attribution_source=click, l1_promoter_id=c.id)],
        OrderStatus.CANCELLED,
    )
    o5 = _order(
        session, c4, utc(10, 25), [line(m1, p1, 100, attribution_source=click, l1_promoter_id=a.id)]
    )
    _order(session, c2, utc(11, 17), [line(m2, p2, 1000)])  # c2 again, cohort week 2
    _order(session, c1, utc(11, 9), [line(m1, p1, 700)])  # c1 again, cohort week 1
    _order(session, c5, utc(11, 7, 15, 59), [line(m1, p1, 2000)])  # 11-07 23:59 Shanghai
    _order(session, c5, utc(11, 7, 16), [line(m1, p1, 2500)])  # 11-08 00:00, outside

    # Ledger: what the commissions service would post (kinds and correlation keys alike).
    mp = ledger_rules.merchant_payable
    pending, hold = ledger_rules.promoter_pending, ledger_rules.promoter_on_hold
    available, revenue = ledger_rules.promoter_available, ledger_rules.platform_revenue()

    def post(kind: str, line_id: int, key: str, legs: list[tuple[Any, int]]) -> None:
        ledger.post(session, kind, key, f"order_line:{line_id}", legs)

    o1_line = _line_id(session, o1, m1)
    estimate = [(mp(m1), -1000), (pending(a.id), 800), (revenue, 200)]
    post("commission.estimated", o1_line, "e1", estimate)
    refund = [(mp(m1), 200), (pending(a.id), -160), (revenue, -40)]
    post("commission.refunded", o1_line, "r1", refund)
    o2a, o2b = _line_id(session, o2, m1), _line_id(session, o2, m2)
    post(
        "commission.estimated",
        o2a,
        "e2a",
        [(mp(m1), -500), (pending(b.id), 400), (pending(a.id), 50), (revenue, 50)],
    )
    post("commission.settled", o2a, "s2a", [(pending(b.id), -400), (available(b.id), 400)])
    post("commission.estimated", o2b, "e2b", [(mp(m2), -300), (hold(a.id), 240), (revenue, 60)])
    o4_line = _line_id(session, o4, m1)
    post("commission.estimated", o4_line, "e4", [(mp(m1), -999), (pending(c.id), 999)])
    post("commission.cancelled", o4_line, "x4", [(mp(m1), 999), (pending(c.id), -999)])
    o5_line = _line_id(session, o5, m1)
    post("commission.estimated", o5_line, "e5", [(mp(m1), -100), (pending(a.id), 100)])
    ledger.post(
        session,
        "withdrawal.requested",
        "w1",
        "withdrawal:1",
        [(available(a.id), -50), (ledger_rules.promoter_withdrawing(a.id), 50)],
    )

    # First contacts, one per consumer channel, on both sides of Shanghai midnights.
    account_1 = make_account(session, "一号")
    account_2 = make_account(session, "二号", max_friends=10)
    account_3 = make_account(session, "三号")
    account_3.status = AccountStatus.RESTRICTED
    scene.account_ids = {"一号": account_1.id, "二号": account_2.id, "三号": account_3.id}
    entry = make_code(session, name="入口码")
    plain = make_code(session, name="普通活码")
    personal = pool.create_personal_code(session, None, entry.id, referrer_consumer_id=c1.id)

    def contact(
        name: str,
        kind: ContactSourceKind,
        at: datetime | None,
        source_id: int | None = None,
        account: OperatorAccount = account_1,
        state: ContactState = ContactState.CONFIRMED,
        **values: Any,
    ) -> None:
        person = scene.consumer_ids.get(name)
        if person is None:
            person = consumer(name).id
        session.add(
            Contact(
                consumer_id=person,
                account_id=account.id,
                source_kind=kind,
                source_id=source_id,
                state=state,
                added_at=at or utc(11, 4),
                confirmed_at=at,
                **values,
            )
        )
        session.flush()

    code = ContactSourceKind.CODE
    contact("n1", ContactSourceKind.CAMPAIGN, utc(11, 2, 3), 1, district_code="360702")
    contact("n1", code, utc(11, 4), plain.id, account_2)  # a later contact: not new again
    contact("n2", code, utc(11, 2, 15, 59, 59), personal.id, district_code="330106")
    contact("n3", code, utc(11, 2, 16), plain.id, account_2, city_code="360700")
    contact("n4", ContactSourceKind.COURIER, utc(11, 3))
    contact("n5", code, utc(11, 4), plain.id, referrer_consumer_id=c2.id, district_code="360781")
    contact("n6", ContactSourceKind.IMPORT, utc(10, 20))  # first contact before the range
    contact("n6", code, utc(11, 4), plain.id, account_2)
    contact("n7", code, None, plain.id, state=ContactState.PENDING)  # never confirmed
    contact("n8", ContactSourceKind.IMPORT, utc(11, 5), district_code="110105")
    contact("n10", code, utc(11, 7, 16), plain.id)  # 11-08 Shanghai: outside
    contact(
        "n11",
        ContactSourceKind.PROMOTER,
        utc(11, 6),
        account=account_3,
        state=ContactState.REMOVED,
        removed_at=utc(11, 7),
    )
    session.flush()
    return scene


@pytest.fixture
def scene(
    database: Database,
    catalog: Catalog,  # noqa: F811
    make_promoter: Callable[..., MadePromoter],  # noqa: F811
) -> Scene:
    with database.sessions() as session:
        built = build(session, catalog, make_promoter)
        session.commit()
    return built


@pytest.fixture
def staff(make_user: Any) -> Principal:
    principal: Principal = make_user(Role.OPERATOR, "ops")
    return principal


def wanted(actor: Principal, **values: Any) -> dashboard.Filters:
    with travel_to(NOW):
        return dashboard.filters(actor, START, END, **values)


# --- independent recounts (plain Python over every row) ------------------------------------


def shanghai(value: datetime) -> date:
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(SHANGHAI).date()


def recount_sales(session: Session, merchant_id: int | None = None) -> dict[str, Any]:
    orders = {order.id: order for order in session.scalars(select(Order))}
    links = {link.id: link for link in session.scalars(select(TrackedLink))}
    gmv: dict[str, int] = {}
    ids: dict[str, set[int]] = {}
    merchants: dict[int, int] = {}
    for line in session.scalars(select(OrderLine)):
        order = orders[line.order_id]
        if order.status == OrderStatus.CANCELLED:
            continue
        if not RANGE.start <= shanghai(order.paid_at) <= RANGE.end:
            continue
        if merchant_id is not None and line.merchant_id != merchant_id:
            continue
        link = links.get(line.link_id) if line.link_id else None
        if link is not None and link.sub_id.startswith("群发#"):
            channel = "broadcast"
        elif link is not None or line.attribution_source == AttributionSource.CLICK:
            channel = "promoter_link"
        elif line.attribution_source == AttributionSource.BINDING:
            channel = "binding"
        else:
            channel = "natural"
        amount = line.paid_fen - line.refunded_fen
        gmv[channel] = gmv.get(channel, 0) + amount
        ids.setdefault(channel, set()).add(order.id)
        merchants[line.merchant_id] = merchants.get(line.merchant_id, 0) + amount
    # Commission: entries on merchant_payable accounts of commission.* transactions whose line's
    # order was paid in the range.
    in_range = {
        f"order_line:{line.id}"
        for line in session.scalars(select(OrderLine))
        if RANGE.start <= shanghai(orders[line.order_id].paid_at) <= RANGE.end
    }
    accounts = {account.id: account for account in session.scalars(select(LedgerAccount))}
    transactions = {tx.id: tx for tx in session.scalars(select(LedgerTransaction))}
    cost: dict[int, int] = {}
    promoters: dict[int, int] = {}
    for entry in session.scalars(select(LedgerEntry)):
        tx = transactions[entry.transaction_id]
        if not tx.kind.startswith("commission.") or tx.correlation_key not in in_range:
            continue
        account = accounts[entry.account_id]
        if account.owner_type == LedgerOwnerType.MERCHANT and (
            merchant_id is None or account.owner_id == merchant_id
        ):
            cost[account.owner_id] = cost.get(account.owner_id, 0) - entry.amount_fen
        if account.owner_type == LedgerOwnerType.PROMOTER:
            promoters[account.owner_id] = promoters.get(account.owner_id, 0) + entry.amount_fen
    return {
        "gmv": gmv,
        "orders": {channel: len(values) for channel, values in ids.items()},
        "total_orders": len(set().union(*ids.values())) if ids else 0,
        "merchants": merchants,
        "cost": {key: value for key, value in cost.items() if merchant_id is None or value},
        "promoters": promoters,
    }


def recount_new_consumers(session: Session) -> dict[str, Any]:
    codes = {code.id: code for code in session.scalars(select(ChannelCode))}
    first: dict[int, Contact] = {}
    for row in session.scalars(select(Contact).where(Contact.confirmed_at.is_not(None))):
        best = first.get(row.consumer_id)
        if best is None or (row.confirmed_at, row.id) < (best.confirmed_at, best.id):
            first[row.consumer_id] = row
    channels: dict[str, int] = {}
    tiers: dict[str, int] = {}
    lower = 0
    for row in first.values():
        assert row.confirmed_at is not None
        if not RANGE.start <= shanghai(row.confirmed_at) <= RANGE.end:
            continue
        code = codes.get(row.source_id or 0) if row.source_kind == ContactSourceKind.CODE else None
        referred = row.referrer_consumer_id is not None or row.referrer_promoter_id is not None
        channels_key = {
            ContactSourceKind.CAMPAIGN: "fission",
            ContactSourceKind.COURIER: "courier",
            ContactSourceKind.PROMOTER: "promoter",
            ContactSourceKind.IMPORT: "import",
        }.get(row.source_kind)
        if channels_key is None:
            fission = (code is not None and code.parent_id is not None) or referred
            channels_key = "fission" if fission else "code"
        channels[channels_key] = channels.get(channels_key, 0) + 1
        where = row.district_code or row.city_code
        tier = regions.tier_of(session, where) if where else None
        label = tier.value if tier else "unknown"
        tiers[label] = tiers.get(label, 0) + 1
        lower += tier in LOWER_TIERS
    return {"channels": channels, "tiers": tiers, "lower": lower, "total": sum(channels.values())}


# --- the sales board --------------------------------------------------------------------------


class TestSales:
    def test_headline_figures(self, session: Session, staff: Principal, scene: Scene) -> None:
        board = dashboard.sales(session, staff, wanted(staff))
        assert (board.total.gmv_fen, board.total.orders, board.total.new_consumers) == (
            22000,
            4,
            7,
        )
        assert board.commission_fen == 1600
        assert board.cost_share.percent() == "7.3%"
        assert board.lower_share is not None
        assert board.lower_share.percent() == "42.9%"
        by_channel = {row.channel: row.figures for row in board.channels}
        assert {c: (f.gmv_fen, f.orders) for c, f in by_channel.items() if f.orders} == {
            Channel.BROADCAST: (8000, 1),
            Channel.PROMOTER_LINK: (5000, 1),
            Channel.BINDING: (3000, 1),
            Channel.NATURAL: (6000, 2),
        }
        assert {c: f.new_consumers for c, f in by_channel.items() if f.new_consumers} == {
            Channel.FISSION: 3,
            Channel.CODE: 1,
            Channel.COURIER: 1,
            Channel.PROMOTER: 1,
            Channel.IMPORT: 1,
        }

    def test_recount_matches(self, session: Session, staff: Principal, scene: Scene) -> None:
        board = dashboard.sales(session, staff, wanted(staff))
        expected = recount_sales(session)
        by_channel = {row.channel.value: row.figures for row in board.channels}
        assert {c: f.gmv_fen for c, f in by_channel.items() if f.orders} == expected["gmv"]
        assert {c: f.orders for c, f in by_channel.items() if f.orders} == expected["orders"]
        assert board.total.orders == expected["total_orders"]
        assert {row.merchant_id: row.gmv_fen for row in board.merchants} == expected["merchants"]
        assert {row.merchant_id: row.commission_fen for row in board.merchants} == expected["cost"]
        consumers = recount_new_consumers(session)
        assert {c: f.new_consumers for c, f in by_channel.items() if f.new_consumers} == consumers[
            "channels"
        ]
        assert board.tiers is not None
        assert (board.tiers.lower, board.tiers.total) == (consumers["lower"], consumers["total"])

    def test_days_in_shanghai(self, session: Session, staff: Principal, scene: Scene) -> None:
        board = dashboard.sales(session, staff, wanted(staff))
        assert [row.day for row in board.days] == RANGE.days
        figures = {
            row.day.isoformat(): (row.total.gmv_fen, row.total.orders, row.total.new_consumers)
            for row in board.days
        }
        assert figures == {
            "2026-11-01": (0, 0, 0),
            "2026-11-02": (16000, 2, 2),
            "2026-11-03": (4000, 1, 2),
            "2026-11-04": (0, 0, 1),
            "2026-11-05": (0, 0, 1),
            "2026-11-06": (0, 0, 1),
            "2026-11-07": (2000, 1, 0),
        }
        second = board.days[1].by_channel
        assert (second[Channel.BROADCAST].gmv_fen, second[Channel.BINDING].orders) == (8000, 1)

    def test_tiers(self, session: Session, staff: Principal, scene: Scene) -> None:
        board = dashboard.sales(session, staff, wanted(staff))
        assert board.tiers is not None
        assert board.tiers.counts == {
            "一线": 1,
            "新一线": 1,
            "二线": 0,
            "三线": 2,
            "四线": 0,
            "五线": 0,
            "六线": 1,
            "未知": 2,
        }
        assert (board.tiers.lower, board.tiers.known, board.tiers.total) == (3, 5, 7)

    def test_merchants(self, session: Session, staff: Principal, scene: Scene) -> None:
        board = dashboard.sales(session, staff, wanted(staff))
        assert [(r.name, r.gmv_fen, r.orders, r.commission_fen) for r in board.merchants] == [
            ("行者箱包", 15000, 3, 1300),
            ("鲜丰果园", 7000, 2, 300),
        ]
        assert board.merchants[0].cost_share.percent() == "8.7%"

    def test_channel_filter(self, session: Session, staff: Principal, scene: Scene) -> None:
        board = dashboard.sales(session, staff, wanted(staff, channel="群发"))
        assert (board.total.gmv_fen, board.total.orders) == (8000, 1)
        # The commission of the broadcast line only (o1: 1000 estimated, 200 refunded).
        assert [(r.merchant_id, r.gmv_fen, r.commission_fen) for r in board.merchants] == [
            (scene.merchant_1, 8000, 800)
        ]
        binding = dashboard.sales(session, staff, wanted(staff, channel="binding"))
        assert [(r.merchant_id, r.commission_fen) for r in binding.merchants] == [
            (scene.merchant_2, 300)
        ]
        assert [row.channel for row in board.channels] == [
            Channel.BROADCAST,
            *dashboard.rules.CONSUMER_CHANNELS,
        ]
        assert board.total.new_consumers == 7  # a sales channel does not filter consumers
        fission = dashboard.sales(session, staff, wanted(staff, channel="fission"))
        assert (fission.total.gmv_fen, fission.total.new_consumers) == (22000, 3)

    def test_merchant_filter(self, session: Session, staff: Principal, scene: Scene) -> None:
        board = dashboard.sales(session, staff, wanted(staff, merchant_id=scene.merchant_2))
        expected = recount_sales(session, scene.merchant_2)
        assert (board.total.gmv_fen, board.total.orders) == (7000, 2)
        assert [(r.merchant_id, r.commission_fen) for r in board.merchants] == [
            (scene.merchant_2, 300)
        ]
        assert {r.merchant_id: r.commission_fen for r in board.merchants} == expected["cost"]

    def test_merchant_sees_only_itself(
        self, session: Session, make_user: Any, scene: Scene
    ) -> None:
        merchant: Principal = make_user(Role.MERCHANT, "shop", merchant_id=scene.merchant_1)
        board = dashboard.sales(session, merchant, wanted(merchant, merchant_id=scene.merchant_2))
        assert board.filters.merchant_id == scene.merchant_1
        assert (board.total.gmv_fen, board.commission_fen) == (15000, 1300)
        assert board.tiers is None  # contacts belong to no merchant
        assert board.total.new_consumers == 0
        assert [row.merchant_id for row in board.merchants] == [scene.merchant_1]
        assert [row.channel for row in board.channels] == list(dashboard.rules.ORDER_CHANNELS)

    def test_promoter_refused(self, session: Session, scene: Scene) -> None:
        with pytest.raises(PermissionDenied):
            dashboard.sales(session, scene.promoter_a.principal, wanted(scene.promoter_a.principal))

    def test_empty_range(self, session: Session, staff: Principal, scene: Scene) -> None:
        with travel_to(NOW):
            empty = dashboard.filters(staff, "2025-01-01", "2025-01-03")
        board = dashboard.sales(session, staff, empty)
        assert (board.total.gmv_fen, board.total.orders, board.total.new_consumers) == (0, 0, 0)
        assert board.cost_share.percent() == "—"
        assert len(board.days) == 3
        assert board.merchants == []


class TestFilters:
    def test_default_is_last_30_days_in_shanghai(self, staff: Principal) -> None:
        with travel_to(datetime(2026, 11, 30, 16, 30, tzinfo=UTC)):  # 12-01 00:30 Shanghai
            value = dashboard.filters(staff)
        assert (value.days.start, value.days.end) == (date(2026, 11, 2), date(2026, 12, 1))

    @pytest.mark.parametrize(
        ("start", "end", "error"),
        [
            ("2026-13-01", None, DashboardDateInvalid),
            ("yesterday", "2026-11-02", DashboardDateInvalid),
            (None, "2026/11/02", DashboardDateInvalid),
            ("2026-11-05", "2026-11-04", DashboardRangeInvalid),
            ("2025-01-01", "2026-11-04", DashboardRangeInvalid),
        ],
    )
    def test_bad_dates(self, staff: Principal, start: Any, end: Any, error: type) -> None:
        with pytest.raises(error) as raised:
            dashboard.filters(staff, start, end)
        assert raised.value.status == 422

    def test_bad_channel(self, staff: Principal) -> None:
        with pytest.raises(DashboardChannelInvalid):
            dashboard.filters(staff, channel="tv")


# --- promoters ------------------------------------------------------------------------------


class TestPromoters:
    def test_leaderboard(self, session: Session, staff: Principal, scene: Scene) -> None:
        board = dashboard.promoters(session, staff, wanted(staff))
        rows = [
            (
                r.name,
                (r.own.gmv_fen, r.own.orders, r.own.commission_fen, r.own.bound),
                (r.team.gmv_fen, r.team.orders, r.team.commission_fen, r.team.bound),
                r.team.members,
            )
            for r in board.rows
        ]
        assert rows == [
            ("甲推手", (11000, 2, 930, 1), (16000, 2, 1330, 2), 2),
            ("乙推手", (5000, 1, 400, 1), (5000, 1, 400, 1), 1),
        ]

    def test_recount_matches(self, session: Session, staff: Principal, scene: Scene) -> None:
        board = dashboard.promoters(session, staff, wanted(staff))
        expected = recount_sales(session)["promoters"]
        assert {r.promoter_id: r.own.commission_fen for r in board.rows} == {
            key: value for key, value in expected.items() if value
        }
        bound = {
            consumer.bound_promoter_id: 0
            for consumer in session.scalars(select(Consumer))
            if consumer.bound_promoter_id
        }
        for consumer in session.scalars(select(Consumer)):
            if consumer.bound_at and RANGE.start <= shanghai(consumer.bound_at) <= RANGE.end:
                bound[consumer.bound_promoter_id] += 1
        assert {r.promoter_id: r.own.bound for r in board.rows} == bound

    def test_promoter_sees_self_and_team(self, session: Session, scene: Scene) -> None:
        me = scene.promoter_b.principal
        board = dashboard.promoters(session, me, wanted(me))
        assert [r.promoter_id for r in board.rows] == [scene.promoter_b.id]
        leader = scene.promoter_a.principal
        board = dashboard.promoters(session, leader, wanted(leader))
        assert [r.promoter_id for r in board.rows] == [scene.promoter_a.id, scene.promoter_b.id]
        alone = scene.promoter_c.principal
        rows = dashboard.promoters(session, alone, wanted(alone)).rows
        assert [(r.promoter_id, r.own.gmv_fen, r.own.commission_fen) for r in rows] == [
            (scene.promoter_c.id, 0, 0)
        ]

    def test_merchant_refused(self, session: Session, make_user: Any, scene: Scene) -> None:
        merchant: Principal = make_user(Role.MERCHANT, "shop", merchant_id=scene.merchant_1)
        with pytest.raises(PermissionDenied):
            dashboard.promoters(session, merchant, wanted(merchant))


# --- cohorts --------------------------------------------------------------------------------


class TestCohorts:
    def test_weeks(self, session: Session, staff: Principal, scene: Scene) -> None:
        with travel_to(NOW):
            board = dashboard.cohorts(session, staff, wanted(staff))
        # c1 (11-02, again 11-03 same week, 11-09 week 1), c2 (11-02, 11-17 week 2),
        # c5 (11-07, 11-08 same week); c3 only cancelled; c4 first ordered before the range.
        assert [(c.week, c.consumers, c.returned) for c in board.cohorts] == [
            (date(2026, 11, 2), 3, [1, 1, 0, 0, 0, 0, 0, 0])
        ]

    def test_merchant_scope(self, session: Session, make_user: Any, scene: Scene) -> None:
        merchant: Principal = make_user(Role.MERCHANT, "fruit", merchant_id=scene.merchant_2)
        with travel_to(NOW):
            board = dashboard.cohorts(session, merchant, wanted(merchant))
        # 鲜丰果园's buyers: c2 (11-02, 11-17) and c1 (11-03 only).
        assert [(c.week, c.consumers, c.returned) for c in board.cohorts] == [
            (date(2026, 11, 2), 2, [0, 1, 0, 0, 0, 0, 0, 0])
        ]


# --- fleet ----------------------------------------------------------------------------------


class TestFleet:
    def test_health(self, session: Session, staff: Principal, scene: Scene) -> None:
        with travel_to(utc(11, 4, 8)):
            board = dashboard.fleet(session, staff)
        rows = {r.name: (r.status, r.friends, r.max_friends, r.adds_today) for r in board.accounts}
        # 一号: n1, n2, n4, n5, n6, n8, n10 confirmed (n7 pending); added on 11-04: n5, n7.
        # 二号: the second contacts of n1 and n6 (added 11-04) and n3.
        assert rows["一号"][1:] == (7, rows["一号"][2], 2)
        assert rows["二号"] == (AccountStatus.ACTIVE, 3, 10, 2)
        assert rows["三号"][:2] == (AccountStatus.RESTRICTED, 0)
        assert board.by_status[AccountStatus.ACTIVE] == 2
        assert board.by_status[AccountStatus.RESTRICTED] == 1
        assert board.friends == 10
        assert (board.adds_today, board.capacity) == (4, (rows["一号"][2] - 7) + 7)
        recount = {
            account.id: sum(
                1
                for contact in session.scalars(select(Contact))
                if contact.account_id == account.id and contact.state == ContactState.CONFIRMED
            )
            for account in session.scalars(select(OperatorAccount))
        }
        assert {r.id: r.friends for r in board.accounts} == recount

    def test_promoter_sees_own_accounts(self, session: Session, scene: Scene) -> None:
        board = dashboard.fleet(session, scene.promoter_a.principal)
        assert board.accounts == []

    def test_merchant_refused(self, session: Session, make_user: Any, scene: Scene) -> None:
        merchant: Principal = make_user(Role.MERCHANT, "shop", merchant_id=scene.merchant_1)
        with pytest.raises(PermissionDenied):
            dashboard.fleet(session, merchant)


class TestRulesOnScene:
    """The classification the recounts reimplement agrees with the rules module."""

    def test_same_answers(self) -> None:
        assert order_channel("click", True, "群发#5") == Channel.BROADCAST
        assert consumer_channel("code", True, False) == Channel.FISSION
