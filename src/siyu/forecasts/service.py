"""Campaign forecasting: a saved Monte Carlo of the campaign behaviour model
(``siyu.market.campaign_model``) on a synthetic market, and its comparison with what the
campaign then did (the analytics figures, counted from the fact tables). Never commits.

Who sees what: as the campaign analytics (platform staff every campaign; a merchant only the
campaigns it sponsors). See docs/forecasting.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

from siyu.analytics import campaigns as campaign_analytics
from siyu.auth.principal import Principal
from siyu.campaigns import service as campaigns
from siyu.errors import AppError, NotFound, ValidationFailed
from siyu.forecasts import rules
from siyu.forecasts.repository import ForecastRepository
from siyu.kit.time import ensure_aware, to_shanghai, utc_now
from siyu.market.campaign_model import (
    ALL_DISTRICTS,
    AccountDraft,
    CampaignDraft,
    TierDraft,
    place_mask,
)
from siyu.market.generator import Market, MarketConfig, generate
from siyu.models import Role
from siyu.models.campaigns import Campaign
from siyu.models.forecasts import CampaignForecast

DEFAULT_REACH = 1_000
DEFAULT_DAYS = 14
DEFAULT_RUNS = 200
DEFAULT_SEED = 20191111
DEFAULT_MARKET_SIZE = 20_000


class ForecastNotFound(NotFound):
    code = "forecast_not_found"
    message_en = "Forecast not found."
    message_zh = "找不到该预测，它可能已被删除，或您没有查看权限。"


class ForecastReachInvalid(ValidationFailed):
    code = "forecast_reach_invalid"
    message_en = "Reach must be a whole number of people above 0, got {value}."
    message_zh = "曝光人数必须是大于 0 的整数，您输入的是“{value}”。"


class ForecastRunsInvalid(ValidationFailed):
    code = "forecast_runs_invalid"
    message_en = "Runs must be between 1 and 1000, got {value}."
    message_zh = "模拟次数必须在 1 到 1000 之间，您输入的是“{value}”。"


class ForecastDaysInvalid(ValidationFailed):
    code = "forecast_days_invalid"
    message_en = "Days must be between 1 and 60, got {value}."
    message_zh = "预测天数必须在 1 到 60 之间，您输入的是“{value}”。"


class ForecastMarketSizeInvalid(ValidationFailed):
    code = "forecast_market_size_invalid"
    message_en = "Market size must be between 100 and 200000 people, got {value}."
    message_zh = "市场人数必须在 100 到 200000 之间，您输入的是“{value}”。"


class ForecastCampaignEmpty(ValidationFailed):
    code = "forecast_campaign_empty"
    message_en = "The campaign has no entry code account to add people: nothing to forecast."
    message_zh = "该活动的入口活码没有可用的运营号，无法预测。请先为活码配置运营号。"


@dataclass(frozen=True)
class ForecastParams:
    reach: int = DEFAULT_REACH
    days: int | None = None  # None = the campaign's start → end (else 14)
    runs: int = DEFAULT_RUNS
    seed: int = DEFAULT_SEED
    market_size: int = DEFAULT_MARKET_SIZE
    reach_is_total: bool = False
    # The first forecast day starts here (aligns it with a simulated run); None = the
    # campaign's start, else now.
    starts_at: datetime | None = None


def check_params(params: ForecastParams) -> None:
    if not isinstance(params.reach, int) or params.reach <= 0:
        raise ForecastReachInvalid(value=params.reach)
    if not rules.MIN_RUNS <= params.runs <= rules.MAX_RUNS:
        raise ForecastRunsInvalid(value=params.runs)
    if params.days is not None and not rules.MIN_DAYS <= params.days <= rules.MAX_DAYS:
        raise ForecastDaysInvalid(value=params.days)
    if not rules.MIN_MARKET <= params.market_size <= rules.MAX_MARKET:
        raise ForecastMarketSizeInvalid(value=params.market_size)


def _visible(actor: Principal, campaign: Campaign) -> bool:
    if actor.is_platform:
        return True
    return (
        actor.role == Role.MERCHANT
        and actor.merchant_id is not None
        and campaign.sponsor_merchant_id == actor.merchant_id
    )


def campaign_days(campaign: Campaign) -> int:
    """The campaign's start → end in whole days (rounded up), 14 without both ends."""
    if campaign.starts_at is None or campaign.ends_at is None:
        return DEFAULT_DAYS
    seconds = (ensure_aware(campaign.ends_at) - ensure_aware(campaign.starts_at)).total_seconds()
    return max(rules.MIN_DAYS, min(rules.MAX_DAYS, math.ceil(seconds / 86_400)))


def draft_from_campaign(
    session: Session,
    campaign: Campaign,
    reach: int,
    days: int | None = None,
    reach_is_total: bool = False,
) -> CampaignDraft:
    """The campaign as the model sees it: its tiers with the stock left (total and per
    district), the entry code's accounts with today's adds and the seats they have left, its
    districts (where the poster is shown; without district stock, the regions the entry code
    routes; none = everywhere), duration and invalidation."""
    lines = campaigns.inventory_of(session, campaign)
    tiers = []
    for tier in campaigns.tiers_of(session, campaign):
        mine = [line for line in lines if line.tier.id == tier.id]
        total = sum(line.left for line in mine if line.district_code == ALL_DISTRICTS)
        districts = {
            line.district_code: line.left for line in mine if line.district_code != ALL_DISTRICTS
        }
        tiers.append(
            TierDraft(tier.name, tier.threshold, int(tier.unit_cost_fen), total, districts)
        )
    today = to_shanghai(utc_now()).date()
    accounts = []
    for account in ForecastRepository(session).entry_accounts(campaign.entry_code_id):
        used = account.passive_adds_today if account.adds_day == today else 0
        accounts.append(
            AccountDraft(
                account.name,
                account.passive_adds_per_day,
                max(0, account.max_friends - account.friends_used),
                max(0, account.passive_adds_per_day - used),
            )
        )
    return CampaignDraft(
        trigger=campaign.trigger,
        reach=reach,
        reach_is_total=reach_is_total,
        days=days or campaign_days(campaign),
        tiers=tuple(tiers),
        accounts=tuple(accounts),
        places=tuple(campaigns.campaign_districts(session, campaign))
        or ForecastRepository(session).entry_places(campaign.entry_code_id),
        invalidation_days=campaign.invalidation_days,
    )


@lru_cache(maxsize=4)
def _market(places: tuple[str, ...], size: int, seed: int) -> Market:
    # Keyed by values (place codes, size, seed), never by row ids: safe across test databases.
    national = generate(MarketConfig(consumers=1, seed=seed))
    if not places:
        return generate(MarketConfig(consumers=size, seed=seed))
    mask = place_mask(national, places)
    if not mask.any():
        return generate(MarketConfig(consumers=size, seed=seed))
    return generate(
        MarketConfig(consumers=size, seed=seed), rules.places_subset(national.places, mask)
    )


def market_for(draft: CampaignDraft, size: int, seed: int) -> Market:
    """``size`` people living where the poster is shown (the whole country without places)."""
    return _market(draft.places, size, seed)


def _start_of(campaign: Campaign) -> datetime:
    return ensure_aware(campaign.starts_at) if campaign.starts_at else utc_now()


def create_forecast(
    session: Session,
    actor: Principal,
    campaign_id: int,
    params: ForecastParams | None = None,
) -> CampaignForecast:
    """Run the Monte Carlo and save it. Nothing is written when the input is refused."""
    params = params or ForecastParams()
    check_params(params)
    campaign = campaign_analytics.get_campaign(session, actor, campaign_id)
    draft = draft_from_campaign(session, campaign, params.reach, params.days, params.reach_is_total)
    if not draft.accounts:
        raise ForecastCampaignEmpty()
    market = market_for(draft, params.market_size, params.seed)
    runs = rules.monte_carlo(market, draft, params.runs, params.seed)
    return ForecastRepository(session).add(
        CampaignForecast(
            campaign_id=campaign.id,
            created_by_user_id=actor.user_id if actor.user_id > 0 else None,
            reach=params.reach,
            reach_is_total=params.reach_is_total,
            days=draft.days,
            runs=params.runs,
            seed=params.seed,
            market_size=params.market_size,
            starts_at=ensure_aware(params.starts_at) if params.starts_at else _start_of(campaign),
            draft=rules.draft_as_json(draft),
            results=rules.results_of(draft, runs),
        )
    )


def get_forecast(session: Session, actor: Principal, forecast_id: int) -> CampaignForecast:
    forecast = ForecastRepository(session).get(forecast_id)
    if forecast is None:
        raise ForecastNotFound()
    campaign = campaigns.get_campaign(session, None, forecast.campaign_id)
    if not _visible(actor, campaign):
        raise ForecastNotFound()
    return forecast


def list_forecasts(
    session: Session, actor: Principal, campaign_id: int | None = None
) -> Sequence[CampaignForecast]:
    if campaign_id is not None:
        campaign = campaign_analytics.get_campaign(session, actor, campaign_id)
        return ForecastRepository(session).of_campaigns([campaign.id])
    if actor.is_platform:
        return ForecastRepository(session).of_campaigns(None)
    visible = [c.id for c in campaign_analytics.list_campaigns(session, actor)]
    return ForecastRepository(session).of_campaigns(visible) if visible else []


def warning_texts(forecast: CampaignForecast) -> list[str]:
    """The forecast's warnings in Chinese, districts by their names."""
    from siyu.regions import service as regions

    warnings = forecast.results.get("warnings", [])
    names: dict[str, str] = {}
    for code in {str(w.get("district") or "") for w in warnings} - {""}:
        try:
            names[code] = regions.full_name(code) or code
        except AppError:  # an unknown or malformed code: show what is stored
            names[code] = code
    return [rules.warning_zh(w, names) for w in warnings]


# --- forecast vs actual -------------------------------------------------------------------------


@dataclass(frozen=True)
class DayComparison:
    day: int  # 0-based forecast day
    date: date  # Asia/Shanghai
    rows: list[rules.Comparison]  # cumulative, ACTUAL_METRICS order; only days that have begun


@dataclass(frozen=True)
class ForecastComparison:
    forecast: CampaignForecast
    campaign: Campaign
    has_data: bool
    days: list[DayComparison] = field(default_factory=list)
    totals: list[rules.Comparison] = field(default_factory=list)


def _actual_totals(funnel: campaign_analytics.CampaignFunnel, rewards: int) -> dict[str, int]:
    t = funnel.totals
    return {
        "scans": t.scans,
        "adds": t.added,
        "participants": t.participants,
        "qualified": t.qualified,
        "invites": t.invites,
        "verified": t.verified,
        "rewards": rewards,
        "cost_fen": t.reward_cost_fen,
        "k_hundredths": funnel.k.k.hundredths() or 0,
        "cost_per_contact_fen": funnel.cost_per_contact_fen or 0,
    }


def forecast_vs_actual(session: Session, actor: Principal, forecast_id: int) -> ForecastComparison:
    """Per forecast day (those that have begun or have facts): the cumulative band vs the
    cumulative actual;
    and the totals vs the actual totals, each flagged inside the P10–P90 band or not."""
    forecast = get_forecast(session, actor, forecast_id)
    funnel = campaign_analytics.campaign_funnel(session, actor, forecast.campaign_id)
    results: dict[str, Any] = forecast.results
    first = to_shanghai(ensure_aware(forecast.starts_at)).date()
    by_day = {row.day: row.counts for row in funnel.days}
    # Days that have begun, or that have facts (a simulated run may be ahead of the clock).
    today = max([to_shanghai(utc_now()).date(), *by_day])
    metric_key = {"adds": "added"}
    running = dict.fromkeys(rules.ACTUAL_METRICS, 0)
    # Facts before the first forecast day count towards day 0.
    for day, counts in by_day.items():
        if day < first:
            for metric in rules.ACTUAL_METRICS:
                running[metric] += counts.get(metric_key.get(metric, metric), 0)
    days: list[DayComparison] = []
    for entry in results.get("days", []):
        when = first + timedelta(days=int(entry["day"]))
        if when > today:
            break
        counts = by_day.get(when, {})
        rows = []
        for metric in rules.ACTUAL_METRICS:
            running[metric] += counts.get(metric_key.get(metric, metric), 0)
            rows.append(rules.Comparison(metric, list(entry[metric]), running[metric]))
        days.append(DayComparison(int(entry["day"]), when, rows))
    rewards_total = sum(row.counts.get("rewards", 0) for row in funnel.days)
    actual = _actual_totals(funnel, rewards_total)
    totals = [
        rules.Comparison(metric, list(results["totals"][metric]), actual[metric])
        for metric in rules.TOTAL_METRICS
        if metric in actual and metric in results.get("totals", {})
    ]
    has_data = funnel.totals.scans > 0 or funnel.totals.participants > 0
    return ForecastComparison(forecast, funnel.campaign, has_data, days, totals)


# --- CSV ----------------------------------------------------------------------------------------

TABLES: tuple[str, ...] = ("days", "totals", "tiers", "warnings")


class ForecastTableUnknown(ValidationFailed):
    code = "forecast_table_unknown"
    message_en = "Unknown table {table!r}: use days, totals, tiers or warnings."
    message_zh = "没有这张表：{table}。"


def _csv(rows: list[list[str]]) -> str:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        # A cell starting with = + - @ would run as a formula in a spreadsheet.
        writer.writerow([f"'{cell}" if cell[:1] in ("=", "+", "-", "@") else cell for cell in row])
    return "\ufeff" + buffer.getvalue()  # Excel needs the BOM to read UTF-8 Chinese


def export_csv(comparison: ForecastComparison, table: str) -> str:
    """The result page's tables as CSV (money in yuan, K as a decimal)."""
    results: dict[str, Any] = comparison.forecast.results
    label = rules.METRIC_LABELS
    if table == "days":
        actual = {day.day: {row.metric: row.actual for row in day.rows} for day in comparison.days}
        header = ["第几天", "日期"]
        for metric in rules.DAY_METRICS:
            header += [f"{label.get(metric, metric)} {p}" for p in ("P10", "中位数", "P90")]
            if metric in rules.ACTUAL_METRICS:
                header.append(f"{label[metric]} 实际")
        first = to_shanghai(ensure_aware(comparison.forecast.starts_at)).date()
        rows = [header]
        for entry in results["days"]:
            day = int(entry["day"])
            row = [str(day + 1), (first + timedelta(days=day)).isoformat()]
            for metric in rules.DAY_METRICS:
                row += [rules.format_value(metric, v) for v in entry[metric]]
                if metric in rules.ACTUAL_METRICS:
                    value = actual.get(day, {}).get(metric)
                    row.append("" if value is None else str(value))
            rows.append(row)
        return _csv(rows)
    if table == "totals":
        compared = {row.metric: row for row in comparison.totals}
        rows = [["指标", "P10", "中位数", "P90", "实际", "在区间内"]]
        for metric, figures in results["totals"].items():
            row = [label.get(metric, metric), *(rules.format_value(metric, v) for v in figures)]
            found = compared.get(metric) if comparison.has_data else None
            row += (
                [rules.format_value(metric, found.actual), "是" if found.inside else "否"]
                if found
                else ["", ""]
            )
            rows.append(row)
        return _csv(rows)
    if table == "tiers":
        return _csv(
            [
                ["奖励", "门槛", "单位成本（元）", "库存", "发放 P10", "发放中位数", "发放 P90"],
                *(
                    [
                        str(t["name"]),
                        str(t["threshold"]),
                        rules.format_value("cost_fen", int(t["unit_cost_fen"])),
                        str(t["stock"]),
                        *(str(v) for v in t["issued"]),
                    ]
                    for t in results["tiers"]
                ),
            ]
        )
    if table == "warnings":
        texts = warning_texts(comparison.forecast)
        return _csv(
            [
                ["预警", "发生的模拟占比", "中位数天（第几天）"],
                *(
                    [text, f"{int(w['share_bp']) / 100:.1f}%", str(int(w["median_day"]) + 1)]
                    for text, w in zip(texts, results["warnings"], strict=True)
                ),
            ]
        )
    raise ForecastTableUnknown(table=table[:40])


__all__ = [
    "DEFAULT_DAYS",
    "DEFAULT_MARKET_SIZE",
    "DEFAULT_REACH",
    "DEFAULT_RUNS",
    "DEFAULT_SEED",
    "TABLES",
    "DayComparison",
    "ForecastCampaignEmpty",
    "ForecastComparison",
    "ForecastDaysInvalid",
    "ForecastMarketSizeInvalid",
    "ForecastNotFound",
    "ForecastParams",
    "ForecastReachInvalid",
    "ForecastRunsInvalid",
    "ForecastTableUnknown",
    "check_params",
    "create_forecast",
    "draft_from_campaign",
    "export_csv",
    "forecast_vs_actual",
    "get_forecast",
    "list_forecasts",
    "market_for",
    "warning_texts",
]
