"""Analytics dashboards (issue 7): sales by channel (GMV, orders, new consumers per day), new
consumers by city tier, commission cost vs GMV per merchant, the promoter leaderboard with team
totals, repurchase cohorts and the account fleet's health. Never commits; every figure comes
from the fact tables and the ledger (dashboard_repository.py), classified by the pure rules in
dashboard_rules.py. docs/dashboards.md defines each figure.

Who sees what: platform staff everything (optionally one merchant); a merchant only its own
products' lines (GMV, orders, its commission cost, its buyers' cohorts); a promoter only the
leaderboard rows of themselves and their direct recruits, and their own accounts. Only
aggregates are shown (no consumer's data), so no personal-data access rows are written.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Final

from sqlalchemy.orm import Session

from siyu.analytics import dashboard_rules as rules
from siyu.analytics.dashboard_repository import DashboardRepository
from siyu.analytics.dashboard_rules import Channel, DateRange
from siyu.analytics.rules import Ratio
from siyu.auth.principal import Principal
from siyu.errors import AppError, PermissionDenied
from siyu.kit.time import shanghai_day, utc_now
from siyu.models import Role
from siyu.models.ledger import LedgerAccountKind, LedgerOwnerType
from siyu.models.pool import ACCOUNT_KIND_LABELS, ACCOUNT_STATUS_LABELS, AccountKind, AccountStatus
from siyu.regions import service as regions

BOARDS: Final = ("sales", "promoters", "cohorts", "fleet")
TABLES: Final[dict[str, tuple[str, ...]]] = {
    "sales": ("days", "channels", "tiers", "merchants"),
    "promoters": ("promoters",),
    "cohorts": ("cohorts",),
    "fleet": ("accounts",),
}
FORMATS: Final = ("csv", "xlsx")


class DashboardTableUnknown(AppError):
    status = 404
    code = "dashboard_table_unknown"
    message_en = "Unknown dashboard table {table!r}."
    message_zh = "没有这个数据表：{table}。"


@dataclass(frozen=True)
class Filters:
    days: DateRange
    merchant_id: int | None = None
    channel: Channel | None = None


def filters(
    actor: Principal,
    start: str | None = None,
    end: str | None = None,
    merchant_id: int | None = None,
    channel: str | None = None,
) -> Filters:
    """The filters asked for, scoped to the actor: a merchant always sees only itself."""
    days = rules.date_range(start, end, shanghai_day(utc_now()))
    if actor.role == Role.MERCHANT:
        merchant_id = actor.merchant_id
    return Filters(days, merchant_id, rules.parse_channel(channel))


def _require(actor: Principal, *roles: Role) -> None:
    if actor.role not in (Role.ADMIN, Role.OPERATOR, *roles):
        raise PermissionDenied()
    if actor.role == Role.MERCHANT and actor.merchant_id is None:
        raise PermissionDenied()
    if actor.role == Role.PROMOTER and actor.promoter_id is None:
        raise PermissionDenied()


def merchant_choices(session: Session, actor: Principal) -> dict[int, str]:
    """The merchants the actor may filter by: all for platform staff, none otherwise."""
    if not actor.is_platform:
        return {}
    return DashboardRepository(session).merchant_names()


# --- sales by channel -----------------------------------------------------------------------


@dataclass
class Figures:
    gmv_fen: int = 0
    orders: int = 0
    new_consumers: int = 0


@dataclass
class ChannelRow:
    channel: Channel
    label: str
    figures: Figures


@dataclass
class DayRow:
    day: date
    total: Figures
    by_channel: dict[Channel, Figures]


@dataclass
class MerchantRow:
    merchant_id: int
    name: str
    gmv_fen: int
    orders: int
    commission_fen: int  # what its merchant_payable account funded for these lines

    @property
    def cost_share(self) -> Ratio:
        return Ratio(self.commission_fen, self.gmv_fen)


@dataclass
class SalesBoard:
    filters: Filters
    total: Figures
    channels: list[ChannelRow]
    days: list[DayRow]
    tiers: rules.TierShare | None  # None for a merchant: contacts belong to no merchant
    merchants: list[MerchantRow]
    commission_fen: int

    @property
    def lower_share(self) -> Ratio | None:
        return None if self.tiers is None else Ratio(self.tiers.lower, self.tiers.total)

    @property
    def cost_share(self) -> Ratio:
        return Ratio(self.commission_fen, self.total.gmv_fen)


def _channels_in_view(wanted: Channel | None) -> tuple[list[Channel], list[Channel]]:
    orders = list(rules.ORDER_CHANNELS)
    consumers = list(rules.CONSUMER_CHANNELS)
    if wanted in rules.ORDER_CHANNELS:
        orders = [wanted]
    elif wanted in rules.CONSUMER_CHANNELS:
        consumers = [wanted]
    return orders, consumers


def sales(session: Session, actor: Principal, wanted: Filters) -> SalesBoard:
    _require(actor, Role.MERCHANT)
    repository = DashboardRepository(session)
    order_channels, consumer_channels = _channels_in_view(wanted.channel)
    if actor.role == Role.MERCHANT:
        consumer_channels = []  # contacts belong to no merchant
    shown = [*order_channels, *consumer_channels]
    day_orders: dict[tuple[date, Channel | None], set[int]] = {}
    day_figures: dict[date, dict[Channel | None, Figures]] = {day: {} for day in wanted.days.days}
    merchant_orders: dict[int, set[int]] = {}
    merchant_gmv: dict[int, int] = {}

    def bucket(day: date, channel: Channel | None) -> Figures:
        return day_figures[day].setdefault(channel, Figures())

    classified: dict[tuple[str, bool, str | None], Channel] = {}  # few distinct inputs
    for fact in repository.line_facts(wanted.days, wanted.merchant_id):
        inputs = (fact.attribution, fact.has_link, fact.sub_id)
        channel = classified.get(inputs)
        if channel is None:
            channel = classified[inputs] = rules.order_channel(*inputs)
        if channel not in order_channels:
            continue
        figures = day_figures[fact.day]
        for key in (channel, None):
            if key not in figures:
                figures[key] = Figures()
            figures[key].gmv_fen += fact.gmv_fen
            day_orders.setdefault((fact.day, key), set()).add(fact.order_id)
        merchant_gmv[fact.merchant_id] = merchant_gmv.get(fact.merchant_id, 0) + fact.gmv_fen
        merchant_orders.setdefault(fact.merchant_id, set()).add(fact.order_id)
    for (day, key), day_ids in day_orders.items():
        bucket(day, key).orders = len(day_ids)

    tiers: rules.TierShare | None = None
    if actor.role != Role.MERCHANT:
        by_tier: dict[Any, int] = {}
        tier_of: dict[str, Any] = {}
        for consumer in repository.new_consumer_facts(wanted.days):
            channel = rules.consumer_channel(
                consumer.source_kind, consumer.code_has_parent, consumer.has_referrer
            )
            if channel not in consumer_channels:
                continue
            for key in (channel, None):
                bucket(consumer.day, key).new_consumers += consumer.consumers
            code = consumer.region_code
            if code not in tier_of:  # one lookup per distinct code, not per group row
                tier_of[code] = regions.tier_of(session, code) if code else None
            by_tier[tier_of[code]] = by_tier.get(tier_of[code], 0) + consumer.consumers
        tiers = rules.tier_share(by_tier.items())

    days = [
        DayRow(
            day,
            figures.get(None, Figures()),
            {channel: figures.get(channel, Figures()) for channel in shown},
        )
        for day, figures in sorted(day_figures.items())
    ]
    all_orders = set().union(*(ids for (_, key), ids in day_orders.items() if key is None))
    total = Figures(
        gmv_fen=sum(row.total.gmv_fen for row in days),
        orders=len(all_orders),
        new_consumers=sum(row.total.new_consumers for row in days),
    )
    channels = []
    for channel in shown:
        ids: set[int] = set()
        for (_, key), day_ids in day_orders.items():
            if key == channel:
                ids |= day_ids
        channels.append(
            ChannelRow(
                channel,
                rules.CHANNEL_LABELS[channel],
                Figures(
                    gmv_fen=sum(row.by_channel[channel].gmv_fen for row in days),
                    orders=len(ids),
                    new_consumers=sum(row.by_channel[channel].new_consumers for row in days),
                ),
            )
        )

    cost: dict[int, int] = {}
    for entry in repository.commission_facts(wanted.days, wanted.merchant_id):
        if (
            entry.account_kind != LedgerAccountKind.MERCHANT_PAYABLE
            or entry.owner_type != LedgerOwnerType.MERCHANT
        ):
            continue
        inputs = (entry.attribution, entry.has_link, entry.sub_id)
        channel = classified.get(inputs)
        if channel is None:
            channel = classified[inputs] = rules.order_channel(*inputs)
        if channel in order_channels:
            cost[entry.owner_id] = cost.get(entry.owner_id, 0) - entry.amount_fen
    ids_shown = sorted(set(merchant_gmv) | set(cost))
    names = repository.merchant_names(ids_shown)
    merchants = sorted(
        (
            MerchantRow(
                merchant_id,
                names.get(merchant_id, f"#{merchant_id}"),
                merchant_gmv.get(merchant_id, 0),
                len(merchant_orders.get(merchant_id, ())),
                cost.get(merchant_id, 0),
            )
            for merchant_id in ids_shown
        ),
        key=lambda row: (-row.gmv_fen, row.merchant_id),
    )
    return SalesBoard(
        filters=wanted,
        total=total,
        channels=channels,
        days=days,
        tiers=tiers,
        merchants=merchants,
        commission_fen=sum(row.commission_fen for row in merchants),
    )


# --- promoter leaderboard -------------------------------------------------------------------


@dataclass
class PromoterFigures:
    gmv_fen: int = 0
    orders: int = 0
    commission_fen: int = 0
    bound: int = 0
    members: int = 1


@dataclass
class PromoterRow:
    promoter_id: int
    name: str
    inviter_id: int | None
    own: PromoterFigures
    team: PromoterFigures  # themselves + their direct recruits
    recruits: list[int] = field(default_factory=list)


@dataclass
class PromoterBoard:
    filters: Filters
    rows: list[PromoterRow]


def promoters(session: Session, actor: Principal, wanted: Filters) -> PromoterBoard:
    """Every promoter with any figure (or a team member with one), by team GMV then own GMV.

    GMV and orders: non-cancelled lines whose frozen L1 is the promoter; commission: their
    ledger accounts' net ``commission.*`` entries for lines of orders paid in the range (L1 and
    L2 shares); bound: consumers bound to them in the range.
    """
    _require(actor, Role.PROMOTER)
    repository = DashboardRepository(session)
    scope = [actor.promoter_id] if actor.role == Role.PROMOTER and actor.promoter_id else None
    people = repository.promoters(scope)
    gmv: dict[int, int] = {}
    orders: dict[int, set[int]] = {}
    for fact in repository.line_facts(wanted.days, wanted.merchant_id):
        if fact.l1_promoter_id is None:
            continue
        gmv[fact.l1_promoter_id] = gmv.get(fact.l1_promoter_id, 0) + fact.gmv_fen
        orders.setdefault(fact.l1_promoter_id, set()).add(fact.order_id)
    commission: dict[int, int] = {}
    for entry in repository.commission_facts(wanted.days, wanted.merchant_id):
        if entry.owner_type == LedgerOwnerType.PROMOTER:
            commission[entry.owner_id] = commission.get(entry.owner_id, 0) + entry.amount_fen
    bound = repository.bound_by_promoter(wanted.days) if wanted.merchant_id is None else {}
    recruits: dict[int, list[int]] = {}
    for promoter_id, _, inviter_id in people:
        if inviter_id is not None:
            recruits.setdefault(inviter_id, []).append(promoter_id)

    def own(promoter_id: int) -> PromoterFigures:
        return PromoterFigures(
            gmv.get(promoter_id, 0),
            len(orders.get(promoter_id, ())),
            commission.get(promoter_id, 0),
            bound.get(promoter_id, 0),
        )

    rows = []
    for promoter_id, name, inviter_id in people:
        if scope is not None and promoter_id not in scope and inviter_id not in scope:
            continue
        members = [promoter_id, *recruits.get(promoter_id, [])]
        team_orders: set[int] = set()
        for member in members:
            team_orders |= orders.get(member, set())
        figures = [own(member) for member in members]
        team = PromoterFigures(
            sum(f.gmv_fen for f in figures),
            len(team_orders),
            sum(f.commission_fen for f in figures),
            sum(f.bound for f in figures),
            len(members),
        )
        mine = own(promoter_id)
        if (team.gmv_fen, team.orders, team.commission_fen, team.bound) == (0, 0, 0, 0) and (
            scope is None
        ):
            continue
        rows.append(PromoterRow(promoter_id, name, inviter_id, mine, team, members[1:]))
    rows.sort(key=lambda row: (-row.team.gmv_fen, -row.own.gmv_fen, row.promoter_id))
    return PromoterBoard(wanted, rows)


# --- repurchase cohorts ---------------------------------------------------------------------


@dataclass
class CohortBoard:
    filters: Filters
    weeks: int
    cohorts: list[rules.Cohort]


def cohorts(session: Session, actor: Principal, wanted: Filters) -> CohortBoard:
    _require(actor, Role.MERCHANT)
    repository = DashboardRepository(session)
    order_days = repository.order_days(wanted.days, wanted.merchant_id, utc_now())
    return CohortBoard(
        wanted,
        rules.COHORT_WEEKS,
        rules.cohorts(order_days, rules.COHORT_WEEKS, within=wanted.days),
    )


# --- fleet health ---------------------------------------------------------------------------


@dataclass
class AccountRow:
    id: int
    name: str
    kind: AccountKind
    status: AccountStatus
    friends: int
    max_friends: int
    adds_today: int
    adds_cap: int
    recent_failures: int
    last_failure_at: Any

    @property
    def fill(self) -> Ratio:
        return Ratio(self.friends, self.max_friends)

    @property
    def free(self) -> int:
        return max(self.max_friends - self.friends, 0)


@dataclass
class FleetBoard:
    today: date
    accounts: list[AccountRow]
    by_status: dict[AccountStatus, int]

    @property
    def friends(self) -> int:
        return sum(row.friends for row in self.accounts)

    @property
    def capacity(self) -> int:
        """Seats left on active accounts (what new contacts can still be routed to)."""
        return sum(row.free for row in self.accounts if row.status == AccountStatus.ACTIVE)

    @property
    def adds_today(self) -> int:
        return sum(row.adds_today for row in self.accounts)

    @property
    def adds_cap(self) -> int:
        return sum(row.adds_cap for row in self.accounts if row.status == AccountStatus.ACTIVE)


def fleet(session: Session, actor: Principal) -> FleetBoard:
    _require(actor, Role.PROMOTER)
    today = shanghai_day(utc_now())
    owner = actor.promoter_id if actor.role == Role.PROMOTER else None
    rows = [
        AccountRow(
            id=fact.id,
            name=fact.name,
            kind=AccountKind(fact.kind),
            status=AccountStatus(fact.status),
            friends=fact.friends,
            max_friends=fact.max_friends,
            adds_today=fact.adds_today,
            adds_cap=fact.passive_cap + fact.active_cap,
            recent_failures=fact.recent_failures,
            last_failure_at=fact.last_failure_at,
        )
        for fact in DashboardRepository(session).accounts(today, owner)
    ]
    by_status = dict.fromkeys(AccountStatus, 0)
    for row in rows:
        by_status[row.status] += 1
    return FleetBoard(today, rows, by_status)


# --- tables and export ----------------------------------------------------------------------


@dataclass(frozen=True)
class Yuan:
    """A money cell: yuan in exports (a number in XLSX), from integer fen."""

    fen: int

    def text(self) -> str:
        sign = "-" if self.fen < 0 else ""
        whole, cents = divmod(abs(self.fen), 100)
        return f"{sign}{whole}.{cents:02d}"


Cell = str | int | Yuan | None


@dataclass(frozen=True)
class Table:
    title: str
    headers: list[str]
    rows: list[list[Cell]]


def _pct(ratio: Ratio | None) -> str:
    return "—" if ratio is None else ratio.percent()


def board(session: Session, actor: Principal, name: str, wanted: Filters) -> Any:
    if name == "sales":
        return sales(session, actor, wanted)
    if name == "promoters":
        return promoters(session, actor, wanted)
    if name == "cohorts":
        return cohorts(session, actor, wanted)
    if name == "fleet":
        return fleet(session, actor)
    raise DashboardTableUnknown(table=name[:40])


def table(data: Any, name: str) -> Table:
    """One of the board's tables, as exported (and as listed on the page)."""
    if isinstance(data, SalesBoard):
        return _sales_table(data, name)
    if isinstance(data, PromoterBoard) and name == "promoters":
        return Table(
            "推手排行",
            [
                "推手",
                "上级推手编号",
                "GMV（元）",
                "订单数",
                "佣金（元）",
                "新绑定顾客",
                "团队人数",
                "团队GMV（元）",
                "团队订单数",
                "团队佣金（元）",
                "团队新绑定顾客",
            ],
            [
                [
                    row.name,
                    row.inviter_id,
                    Yuan(row.own.gmv_fen),
                    row.own.orders,
                    Yuan(row.own.commission_fen),
                    row.own.bound,
                    row.team.members,
                    Yuan(row.team.gmv_fen),
                    row.team.orders,
                    Yuan(row.team.commission_fen),
                    row.team.bound,
                ]
                for row in data.rows
            ],
        )
    if isinstance(data, CohortBoard) and name == "cohorts":
        return Table(
            "复购分群",
            ["首单周（周一）", "首单人数", *[f"第{k}周复购率" for k in range(1, data.weeks + 1)]],
            [
                [
                    cohort.week.isoformat(),
                    cohort.consumers,
                    *[Ratio(n, cohort.consumers).percent() for n in cohort.returned],
                ]
                for cohort in data.cohorts
            ],
        )
    if isinstance(data, FleetBoard) and name == "accounts":
        return Table(
            "运营号健康",
            [
                "编号",
                "运营号",
                "类型",
                "状态",
                "好友数",
                "好友上限",
                "占用率",
                "今日新增",
                "今日上限",
                "近期失败",
            ],
            [
                [
                    row.id,
                    row.name,
                    ACCOUNT_KIND_LABELS[row.kind],
                    ACCOUNT_STATUS_LABELS[row.status],
                    row.friends,
                    row.max_friends,
                    row.fill.percent(),
                    row.adds_today,
                    row.adds_cap,
                    row.recent_failures,
                ]
                for row in data.accounts
            ],
        )
    raise DashboardTableUnknown(table=name[:40])


def _channel_cells(row: ChannelRow) -> list[Cell]:
    return [row.label, Yuan(row.figures.gmv_fen), row.figures.orders, row.figures.new_consumers]


def _sales_table(data: SalesBoard, name: str) -> Table:
    if name == "days":
        channels = [row.channel for row in data.channels]
        with_consumers = data.tiers is not None  # a merchant's view has no acquisition
        headers = ["日期", "GMV（元）", "订单数", *(["新增顾客"] if with_consumers else [])]
        for channel in channels:
            label = rules.CHANNEL_LABELS[channel]
            if channel in rules.ORDER_CHANNELS:
                headers += [f"{label}GMV（元）", f"{label}订单数"]
            else:
                headers.append(f"{label}新增顾客")
        rows: list[list[Cell]] = []
        for day in data.days:
            row: list[Cell] = [
                day.day.isoformat(),
                Yuan(day.total.gmv_fen),
                day.total.orders,
                *([day.total.new_consumers] if with_consumers else []),
            ]
            for channel in channels:
                figures = day.by_channel[channel]
                if channel in rules.ORDER_CHANNELS:
                    row += [Yuan(figures.gmv_fen), figures.orders]
                else:
                    row.append(figures.new_consumers)
            rows.append(row)
        return Table("每日趋势", headers, rows)
    if name == "channels":
        if data.tiers is None:
            return Table(
                "渠道汇总",
                ["渠道", "GMV（元）", "订单数"],
                [_channel_cells(row)[:3] for row in data.channels],
            )
        return Table(
            "渠道汇总",
            ["渠道", "GMV（元）", "订单数", "新增顾客"],
            [_channel_cells(row) for row in data.channels],
        )
    if name == "tiers":
        share = data.tiers
        tier_rows: list[list[Cell]] = []
        if share is not None:
            tier_rows = [
                [label, count, Ratio(count, share.total).percent()]
                for label, count in share.counts.items()
            ]
            lower = Ratio(share.lower, share.total).percent()
            tier_rows.append(["三至六线合计", share.lower, lower])
        return Table("新增顾客城市等级", ["城市等级", "新增顾客", "占比"], tier_rows)
    if name == "merchants":
        return Table(
            "商家佣金成本",
            ["商家", "GMV（元）", "订单数", "佣金成本（元）", "佣金/GMV"],
            [
                [
                    row.name,
                    Yuan(row.gmv_fen),
                    row.orders,
                    Yuan(row.commission_fen),
                    row.cost_share.percent(),
                ]
                for row in data.merchants
            ],
        )
    raise DashboardTableUnknown(table=name[:40])


def _text(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, Yuan):
        return cell.text()
    if isinstance(cell, int):
        return str(cell)
    return rules.safe_cell(cell)


def export_csv(data: Table) -> bytes:
    """UTF-8 with a BOM (Excel reads Chinese correctly); text cells guarded against formulas."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([rules.safe_cell(header) for header in data.headers])
    for row in data.rows:
        writer.writerow([_text(cell) for cell in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def export_xlsx(data: Table) -> bytes:
    """One sheet; counts as integers, money as yuan numbers (two decimals), text as text."""
    from openpyxl import Workbook  # imported here: only exports need it

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(data.title[:31])
    sheet.append(list(data.headers))
    for row in data.rows:
        values: list[Any] = []
        for cell in row:
            if isinstance(cell, Yuan):
                values.append(Decimal(cell.fen) / 100)
            elif isinstance(cell, str):
                values.append(rules.safe_cell(cell))
            else:
                values.append(cell)
        sheet.append(values)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def export(data: Any, name: str, fmt: str) -> tuple[bytes, str]:
    """(content, media type) of a board's table in ``fmt`` (csv | xlsx)."""
    if fmt not in FORMATS:
        raise DashboardTableUnknown(table=f"{name}.{fmt}"[:40])
    rendered = table(data, name)
    if fmt == "csv":
        return export_csv(rendered), "text/csv; charset=utf-8"
    return (
        export_xlsx(rendered),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


def tables_of(name: str) -> Sequence[str]:
    if name not in TABLES:
        raise DashboardTableUnknown(table=name[:40])
    return TABLES[name]
