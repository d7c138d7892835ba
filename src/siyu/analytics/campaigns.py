"""Campaign analytics: the live funnel, K-factor and cost per acquired contact of one fission
campaign, overall, by district and by operator account. Never commits; never reads counters
(every figure is counted from the fact tables, see repository.py and docs/analytics.md).

Who sees what: platform staff every campaign; a merchant only the campaigns it sponsors
(``campaign.sponsor_merchant_id``); everyone else nothing. Only aggregates are shown, so no
personal-data access rows are written.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

from sqlalchemy.orm import Session

from siyu.analytics import rules
from siyu.analytics.repository import (
    AnalyticsRepository,
    DailyRepository,
    GroupFigures,
    Grouping,
)
from siyu.auth.principal import Principal
from siyu.errors import AppError, NotFound, ValidationFailed
from siyu.kit.money import format_yuan
from siyu.models import Role
from siyu.models.campaigns import Campaign

FUNNEL_STEPS: tuple[tuple[str, str], ...] = (
    ("scanners", "扫码"),
    ("added", "添加好友"),
    ("participants", "参与活动"),
    ("replied", "回复"),
    ("qualified", "达标"),
    ("rewarded", "获得奖励"),
    ("group_joined", "进群"),
    ("ordered", "下单"),
)
Table = Literal["funnel", "districts", "accounts", "days"]
TABLES: tuple[Table, ...] = ("funnel", "districts", "accounts", "days")
DAILY_LABELS = {
    "scans": "扫码次数",
    "added": "新增好友",
    "participants": "新参与",
    "verified": "有效邀请",
    "rewards": "发放奖励",
}
# The trend shows at most this many days (the most recent ones).
MAX_DAYS = 92


class CampaignNotFound(NotFound):
    code = "campaign_not_found"
    message_en = "Campaign not found."
    message_zh = "找不到该活动，它可能已被删除，或您没有查看权限。"


class AnalyticsTableUnknown(ValidationFailed):
    code = "analytics_table_unknown"
    message_en = "Unknown table {table!r}: use funnel, districts, accounts or days."
    message_zh = "没有这张表：{table}。"


@dataclass(frozen=True)
class FunnelStep:
    key: str
    label: str
    count: int
    of_previous: rules.Ratio
    of_first: rules.Ratio


@dataclass(frozen=True)
class GroupRow:
    key: str  # district code or account id as text; "" = not given
    label: str
    figures: GroupFigures
    k: rules.KFactor
    cost_per_contact_fen: int | None


@dataclass(frozen=True)
class DayRow:
    day: date  # Asia/Shanghai
    counts: dict[str, int]  # DAILY_LABELS keys


@dataclass(frozen=True)
class CampaignFunnel:
    campaign: Campaign
    totals: GroupFigures
    steps: list[FunnelStep]
    k: rules.KFactor
    cost_per_contact_fen: int | None
    districts: list[GroupRow] = field(default_factory=list)
    accounts: list[GroupRow] = field(default_factory=list)
    days: list[DayRow] = field(default_factory=list)


def _visible(actor: Principal, campaign: Campaign) -> bool:
    if actor.is_platform:
        return True
    return (
        actor.role == Role.MERCHANT
        and actor.merchant_id is not None
        and campaign.sponsor_merchant_id == actor.merchant_id
    )


def get_campaign(session: Session, actor: Principal, campaign_id: int) -> Campaign:
    campaign = AnalyticsRepository(session).campaign(campaign_id)
    if campaign is None or not _visible(actor, campaign):
        raise CampaignNotFound()
    return campaign


def list_campaigns(session: Session, actor: Principal) -> list[Campaign]:
    if not actor.is_platform and actor.role != Role.MERCHANT:
        return []
    repository = AnalyticsRepository(session)
    if actor.is_platform:
        return list(repository.campaigns(None, only_sponsor=False))
    return list(repository.campaigns(actor.merchant_id, only_sponsor=True))


def _figures(
    repository: AnalyticsRepository, campaign: Campaign, code_ids: list[int], grouping: Grouping
) -> dict[Any, GroupFigures]:
    groups: dict[Any, GroupFigures] = {}

    def of(key: Any) -> GroupFigures:
        return groups.setdefault(key, GroupFigures())

    if grouping != "district":
        for key, (scans, scanners) in repository.scans(code_ids, grouping).items():
            of(key).scans, of(key).scanners = scans, scanners
    for key, added in repository.added(campaign.id, code_ids, grouping).items():
        of(key).added = added
    for key, counts in repository.participants(campaign.id, grouping).items():
        item = of(key)
        (
            item.participants,
            item.replied,
            item.qualified,
            item.rewarded,
            item.group_joined,
            item.ordered,
        ) = counts
    for key, (invites, verified) in repository.referrals(campaign.id, grouping).items():
        of(key).invites, of(key).verified = invites, verified
    for key, cost in repository.reward_costs(campaign.id, grouping).items():
        of(key).reward_cost_fen = cost
    return groups


def _k(figures: GroupFigures) -> rules.KFactor:
    return rules.KFactor(figures.participants, figures.invites, figures.verified)


def _rows(groups: dict[Any, GroupFigures], label: Callable[[Any], str]) -> list[GroupRow]:
    rows = [
        GroupRow(
            key="" if key is None else str(key),
            label=label(key),
            figures=figures,
            k=_k(figures),
            cost_per_contact_fen=rules.cost_per_contact_fen(figures.reward_cost_fen, figures.added),
        )
        for key, figures in groups.items()
    ]
    rows.sort(key=lambda row: (-row.figures.participants, -row.figures.added, row.key))
    return rows


def _district_label(code: Any) -> str:
    if not code:
        return "未填写"
    from siyu.regions import service as regions

    try:
        return regions.full_name(str(code)) or str(code)
    except AppError:  # an unknown or malformed code: show what is stored
        return str(code)


def _days(counts: dict[str, dict[str, int]]) -> list[DayRow]:
    """Every day from the first with a fact to the last (zeros included), the last MAX_DAYS."""
    seen = sorted({date.fromisoformat(day) for per_day in counts.values() for day in per_day})
    if not seen:
        return []
    first = max(seen[0], seen[-1] - timedelta(days=MAX_DAYS - 1))
    rows = []
    day = first
    while day <= seen[-1]:
        text = day.isoformat()
        rows.append(DayRow(day, {metric: counts[metric].get(text, 0) for metric in DAILY_LABELS}))
        day += timedelta(days=1)
    return rows


def campaign_funnel(session: Session, actor: Principal, campaign_id: int) -> CampaignFunnel:
    campaign = get_campaign(session, actor, campaign_id)
    repository = AnalyticsRepository(session)
    code_ids = repository.code_ids(campaign.entry_code_id)
    totals = _figures(repository, campaign, code_ids, None).get(None, GroupFigures())
    counts = [getattr(totals, key) for key, _label in FUNNEL_STEPS]
    first = counts[0]
    steps = [
        FunnelStep(key, label, count, ratio, rules.Ratio(count, first))
        for (key, label), count, ratio in zip(
            FUNNEL_STEPS, counts, rules.step_conversion(counts), strict=True
        )
    ]
    by_account = _figures(repository, campaign, code_ids, "account")
    names = repository.account_names([key for key in by_account if key is not None])
    return CampaignFunnel(
        campaign=campaign,
        totals=totals,
        steps=steps,
        k=_k(totals),
        cost_per_contact_fen=rules.cost_per_contact_fen(totals.reward_cost_fen, totals.added),
        districts=_rows(_figures(repository, campaign, code_ids, "district"), _district_label),
        accounts=_rows(
            by_account,
            lambda key: "未分配" if key is None else names.get(int(key), f"运营号 {key}"),
        ),
        days=_days(DailyRepository(session).daily(campaign.id, code_ids)),
    )


# --- CSV ----------------------------------------------------------------------------------------

GROUP_HEADER = [
    "参与人数",
    "回复",
    "达标",
    "获得奖励",
    "进群",
    "下单",
    "新增好友",
    "邀请人数",
    "有效邀请",
    "人均邀请",
    "邀请转化率",
    "K 值",
    "奖励成本（元）",
    "获客成本（元/人）",
]


def _yuan(fen: int | None) -> str:
    return "" if fen is None else format_yuan(fen).replace(",", "")


def _group_cells(row: GroupRow) -> list[str]:
    f = row.figures
    return [
        str(f.participants),
        str(f.replied),
        str(f.qualified),
        str(f.rewarded),
        str(f.group_joined),
        str(f.ordered),
        str(f.added),
        str(f.invites),
        str(f.verified),
        row.k.invites_per_participant.decimal() or "",
        row.k.invite_conversion.percent(),
        row.k.k.decimal() or "",
        _yuan(f.reward_cost_fen),
        _yuan(row.cost_per_contact_fen),
    ]


def _csv(rows: Iterable[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        # A cell starting with = + - @ would run as a formula in a spreadsheet.
        writer.writerow([f"'{cell}" if cell[:1] in ("=", "+", "-", "@") else cell for cell in row])
    # Excel needs the BOM to read UTF-8 Chinese correctly.
    return "\ufeff" + buffer.getvalue()


def export_csv(funnel: CampaignFunnel, table: str) -> str:
    if table == "funnel":
        return _csv(
            [
                ["环节", "人数", "占上一步", "占扫码"],
                *(
                    [
                        step.label,
                        str(step.count),
                        step.of_previous.percent(),
                        step.of_first.percent(),
                    ]
                    for step in funnel.steps
                ),
            ]
        )
    if table == "districts":
        return _csv(
            [
                ["区县代码", "区县", *GROUP_HEADER],
                *([row.key, row.label, *_group_cells(row)] for row in funnel.districts),
            ]
        )
    if table == "accounts":
        return _csv(
            [
                ["运营号编号", "运营号", "扫码次数", "扫码人数", *GROUP_HEADER],
                *(
                    [
                        row.key,
                        row.label,
                        str(row.figures.scans),
                        str(row.figures.scanners),
                        *_group_cells(row),
                    ]
                    for row in funnel.accounts
                ),
            ]
        )
    if table == "days":
        return _csv(
            [
                ["日期", *DAILY_LABELS.values()],
                *(
                    [row.day.isoformat(), *(str(row.counts[key]) for key in DAILY_LABELS)]
                    for row in funnel.days
                ),
            ]
        )
    raise AnalyticsTableUnknown(table=table[:40])
