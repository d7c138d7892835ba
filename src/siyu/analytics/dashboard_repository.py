"""Dashboard queries. Every figure is read from the fact tables (sales_order/order_line, contact,
consumer bindings, the ledger, operator_account) at request time and grouped in SQL by the
inputs of the rules in dashboard_rules.py; never from running counters (except the account's
own failure counter, which has no event table yet — see docs/dashboards.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Date, String, and_, cast, func, literal, or_, select
from sqlalchemy.orm import Session

from siyu.analytics.dashboard_rules import DateRange
from siyu.kit.time import SHANGHAI
from siyu.models import (
    ChannelCode,
    Consumer,
    Contact,
    Merchant,
    Order,
    OrderLine,
    Promoter,
    TrackedLink,
)
from siyu.models.ledger import LedgerAccount, LedgerEntry, LedgerTransaction
from siyu.models.orders import OrderStatus
from siyu.models.pool import ContactSourceKind, ContactState, OperatorAccount

COMMISSION_KIND_PATTERN = "commission.%"
CORRELATION_PREFIX = "order_line:"  # siyu.commissions.service.correlation_key


def utc_bounds(days: DateRange) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the Shanghai days, for range filters that use the time indexes."""
    start = datetime.combine(days.start, time(0), tzinfo=SHANGHAI)
    end = datetime.combine(days.end + timedelta(days=1), time(0), tzinfo=SHANGHAI)
    return start, end


class LineFact(NamedTuple):
    """One order line of a non-cancelled order, with its channel inputs.

    A tuple, not a dataclass: there is one per order in the range, and it is built faster."""

    day: date
    order_id: int
    consumer_id: int
    merchant_id: int
    attribution: str
    has_link: bool
    sub_id: str | None
    l1_promoter_id: int | None
    gmv_fen: int


class CommissionFact(NamedTuple):
    """Net commission entries on one ledger account for lines with the same channel inputs."""

    account_kind: str
    owner_type: str
    owner_id: int
    attribution: str
    has_link: bool
    sub_id: str | None
    amount_fen: int


@dataclass(frozen=True)
class ConsumerFact:
    day: date
    source_kind: str
    code_has_parent: bool
    has_referrer: bool
    region_code: str
    consumers: int


@dataclass(frozen=True)
class AccountFact:
    id: int
    name: str
    kind: str
    status: str
    owner_promoter_id: int | None
    max_friends: int
    passive_cap: int
    active_cap: int
    recent_failures: int
    last_failure_at: datetime | None
    friends: int
    adds_today: int


def _as_date(value: Any, seen: dict[Any, date] | None = None) -> date:
    """A SQL day (a date on PostgreSQL, 'YYYY-MM-DD' on SQLite); ``seen`` memoises the few
    distinct days of a large result."""
    if isinstance(value, date):
        return value
    if seen is None:
        return date.fromisoformat(str(value))
    day = seen.get(value)
    if day is None:
        day = seen[value] = date.fromisoformat(str(value))
    return day


class DashboardRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect.name

    def _day(self, column: Any) -> Any:
        """The Asia/Shanghai day of a UTC timestamp in SQL (as in analytics.repository)."""
        if self.dialect == "sqlite":
            return func.date(column, "+8 hours")
        return cast(func.timezone("Asia/Shanghai", column), Date)

    # --- orders -------------------------------------------------------------------------------

    def line_facts(self, days: DateRange, merchant_id: int | None) -> list[LineFact]:
        """One row per line of a non-cancelled order paid in the range, with its channel
        inputs. Not grouped in SQL: lines are nearly one per order, so a GROUP BY would only
        add a sort; the service sums them (it needs the order ids for distinct counts)."""
        start, end = utc_bounds(days)
        # Read as plain text: enum result processing per row costs more than the rule.
        attribution = cast(OrderLine.attribution_source, String)
        query = (
            select(
                self._day(Order.paid_at),
                Order.id,
                Order.consumer_id,
                OrderLine.merchant_id,
                attribution,
                OrderLine.link_id.is_not(None),
                TrackedLink.sub_id,
                OrderLine.l1_promoter_id,
                OrderLine.paid_fen - OrderLine.refunded_fen,
            )
            .join(Order, Order.id == OrderLine.order_id)
            .outerjoin(TrackedLink, TrackedLink.id == OrderLine.link_id)
            .where(
                Order.paid_at >= start,
                Order.paid_at < end,
                Order.status != OrderStatus.CANCELLED,
            )
        )
        if merchant_id is not None:
            query = query.where(OrderLine.merchant_id == merchant_id)
        seen: dict[Any, date] = {}
        return [
            LineFact(
                _as_date(row[0], seen),
                row[1],
                row[2],
                row[3],
                row[4],
                bool(row[5]),
                row[6],
                row[7],
                int(row[8] or 0),
            )
            for row in self.session.execute(query)
        ]

    def commission_facts(self, days: DateRange, merchant_id: int | None) -> list[CommissionFact]:
        """Σ ledger entries of ``commission.*`` transactions correlated to the lines of orders
        paid in the range (``correlation_key = 'order_line:<id>'``), by account and by the
        line's channel inputs (so a channel filter applies to commission too). A cancelled or
        refunded line's reversals are included, so its net is what it finally cost."""
        start, end = utc_bounds(days)
        key = literal(CORRELATION_PREFIX, String).concat(cast(OrderLine.id, String))
        attribution = cast(OrderLine.attribution_source, String)
        has_link = OrderLine.link_id.is_not(None)
        query = (
            select(
                LedgerAccount.kind,
                LedgerAccount.owner_type,
                LedgerAccount.owner_id,
                attribution,
                has_link,
                TrackedLink.sub_id,
                func.sum(LedgerEntry.amount_fen),
            )
            .select_from(OrderLine)
            .join(Order, Order.id == OrderLine.order_id)
            .outerjoin(TrackedLink, TrackedLink.id == OrderLine.link_id)
            .join(
                LedgerTransaction,
                and_(
                    LedgerTransaction.correlation_key == key,
                    LedgerTransaction.kind.like(COMMISSION_KIND_PATTERN),
                ),
            )
            .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
            .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
            .where(Order.paid_at >= start, Order.paid_at < end)
            .group_by(
                LedgerAccount.kind,
                LedgerAccount.owner_type,
                LedgerAccount.owner_id,
                attribution,
                has_link,
                TrackedLink.sub_id,
            )
        )
        if merchant_id is not None:
            query = query.where(OrderLine.merchant_id == merchant_id)
        return [
            CommissionFact(
                str(row[0]), str(row[1]), int(row[2]), row[3], bool(row[4]), row[5], int(row[6])
            )
            for row in self.session.execute(query)
        ]

    def merchant_names(self, ids: Sequence[int] | None = None) -> dict[int, str]:
        query = select(Merchant.id, Merchant.name).order_by(Merchant.id)
        if ids is not None:
            query = query.where(Merchant.id.in_(list(ids)))
        return {int(row[0]): str(row[1]) for row in self.session.execute(query)}

    # --- consumers ------------------------------------------------------------------------------

    def new_consumer_facts(self, days: DateRange) -> list[ConsumerFact]:
        """Consumers whose first confirmed contact (earliest ``confirmed_at``, then id) was
        confirmed in the range, grouped by that contact's channel inputs and region."""
        start, end = utc_bounds(days)
        rank = (
            func.row_number()
            .over(partition_by=Contact.consumer_id, order_by=(Contact.confirmed_at, Contact.id))
            .label("rank")
        )
        first = (
            select(
                Contact.id.label("id"),
                Contact.confirmed_at.label("confirmed_at"),
                Contact.source_kind.label("source_kind"),
                Contact.source_id.label("source_id"),
                Contact.referrer_promoter_id.label("referrer_promoter_id"),
                Contact.referrer_consumer_id.label("referrer_consumer_id"),
                Contact.district_code.label("district_code"),
                Contact.city_code.label("city_code"),
                rank,
            )
            .where(Contact.confirmed_at.is_not(None))
            .subquery()
        )
        day = self._day(first.c.confirmed_at)
        has_parent = ChannelCode.parent_id.is_not(None)
        has_referrer = or_(
            first.c.referrer_promoter_id.is_not(None), first.c.referrer_consumer_id.is_not(None)
        )
        region = func.coalesce(
            func.nullif(first.c.district_code, ""), func.nullif(first.c.city_code, ""), ""
        )
        query = (
            select(
                day,
                first.c.source_kind,
                has_parent,
                has_referrer,
                region,
                func.count(),
            )
            .select_from(first)
            .outerjoin(
                ChannelCode,
                and_(
                    first.c.source_kind == ContactSourceKind.CODE.value,
                    ChannelCode.id == first.c.source_id,
                ),
            )
            .where(first.c.rank == 1, first.c.confirmed_at >= start, first.c.confirmed_at < end)
            .group_by(day, first.c.source_kind, has_parent, has_referrer, region)
        )
        return [
            ConsumerFact(
                _as_date(row[0]), str(row[1]), bool(row[2]), bool(row[3]), str(row[4]), int(row[5])
            )
            for row in self.session.execute(query)
        ]

    def bound_by_promoter(self, days: DateRange) -> dict[int, int]:
        """Consumers bound to each promoter with ``bound_at`` in the range."""
        start, end = utc_bounds(days)
        query = (
            select(Consumer.bound_promoter_id, func.count())
            .where(
                Consumer.bound_promoter_id.is_not(None),
                Consumer.bound_at >= start,
                Consumer.bound_at < end,
            )
            .group_by(Consumer.bound_promoter_id)
        )
        return {int(row[0] or 0): int(row[1]) for row in self.session.execute(query)}

    def promoters(self, ids: Sequence[int] | None = None) -> list[tuple[int, str, int | None]]:
        """(id, name, inviter id) of the promoters (all, or ``ids`` and their direct recruits)."""
        query = select(Promoter.id, Promoter.name, Promoter.inviter_id).order_by(Promoter.id)
        if ids is not None:
            query = query.where(or_(Promoter.id.in_(list(ids)), Promoter.inviter_id.in_(list(ids))))
        return [(int(row[0]), str(row[1]), row[2]) for row in self.session.execute(query)]

    # --- cohorts --------------------------------------------------------------------------------

    def order_days(
        self, days: DateRange, merchant_id: int | None, until: datetime
    ) -> dict[int, list[date]]:
        """Per consumer whose first non-cancelled order is in the range: every day (Shanghai)
        they placed a non-cancelled order, up to ``until``. With a merchant, only orders with a
        line of that merchant count."""
        start, end = utc_bounds(days)
        conditions: list[Any] = [Order.status != OrderStatus.CANCELLED]
        if merchant_id is not None:
            conditions.append(
                Order.id.in_(select(OrderLine.order_id).where(OrderLine.merchant_id == merchant_id))
            )
        cohort = (
            select(Order.consumer_id)
            .where(*conditions)
            .group_by(Order.consumer_id)
            .having(and_(func.min(Order.paid_at) >= start, func.min(Order.paid_at) < end))
        )
        day = self._day(Order.paid_at)
        query = (
            select(Order.consumer_id, day)
            .where(*conditions, Order.paid_at < until, Order.consumer_id.in_(cohort))
            .group_by(Order.consumer_id, day)
        )
        result: dict[int, list[date]] = {}
        for consumer_id, value in self.session.execute(query):
            result.setdefault(int(consumer_id), []).append(_as_date(value))
        return result

    # --- fleet ----------------------------------------------------------------------------------

    def accounts(self, today: date, owner_promoter_id: int | None) -> list[AccountFact]:
        """Every live account with its friends (confirmed contacts) and today's adds (contacts
        reserved today, Shanghai) counted from the contact table."""
        start, end = utc_bounds(DateRange(today, today))
        friends = (
            select(Contact.account_id, func.count().label("n"))
            .where(Contact.state == ContactState.CONFIRMED)
            .group_by(Contact.account_id)
            .subquery()
        )
        adds = (
            select(Contact.account_id, func.count().label("n"))
            .where(Contact.added_at >= start, Contact.added_at < end)
            .group_by(Contact.account_id)
            .subquery()
        )
        query = (
            select(
                OperatorAccount,
                func.coalesce(friends.c.n, 0),
                func.coalesce(adds.c.n, 0),
            )
            .outerjoin(friends, friends.c.account_id == OperatorAccount.id)
            .outerjoin(adds, adds.c.account_id == OperatorAccount.id)
            .where(OperatorAccount.deleted_at.is_(None))
            .order_by(OperatorAccount.id)
        )
        if owner_promoter_id is not None:
            query = query.where(OperatorAccount.owner_promoter_id == owner_promoter_id)
        return [
            AccountFact(
                id=account.id,
                name=account.name,
                kind=str(account.kind),
                status=str(account.status),
                owner_promoter_id=account.owner_promoter_id,
                max_friends=account.max_friends,
                passive_cap=account.passive_adds_per_day,
                active_cap=account.active_adds_per_day,
                recent_failures=account.recent_failures,
                last_failure_at=account.last_failure_at,
                friends=int(friend_count),
                adds_today=int(add_count),
            )
            for account, friend_count, add_count in self.session.execute(query)
        ]
