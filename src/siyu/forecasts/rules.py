"""Pure forecast arithmetic: the Monte Carlo over the campaign behaviour model, bands
(P10/P50/P90), warnings and the comparison with what happened. No I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from siyu.analytics.rules import KFactor, cost_per_contact_fen
from siyu.market.campaign_model import (
    ALL_DISTRICTS,
    DAILY_ADDS,
    FRIEND_SEATS,
    AccountDraft,
    CampaignDraft,
    Context,
    TierDraft,
    new_state,
    step,
)
from siyu.market.generator import Market, Places, build_places
from siyu.models.campaigns import CampaignTrigger

# Cumulative per-day metrics: the first five are the analytics' per-day figures.
DAY_METRICS: Final = (
    "scans",
    "adds",
    "participants",
    "verified",
    "rewards",
    "qualified",
    "cost_fen",
)
ACTUAL_METRICS: Final = ("scans", "adds", "participants", "verified", "rewards")
TOTAL_METRICS: Final = (
    "reach",
    "scans",
    "adds",
    "participants",
    "qualified",
    "invites",
    "verified",
    "rewards",
    "cost_fen",
    "k_hundredths",
    "cost_per_contact_fen",
)
STOCK: Final = "stock"
PERCENTILES: Final = (10, 50, 90)
MIN_RUNS, MAX_RUNS = 1, 1000
MIN_DAYS, MAX_DAYS = 1, 60
MIN_MARKET, MAX_MARKET = 100, 200_000

Band = list[int]  # [p10, p50, p90]


def band(values: npt.ArrayLike) -> Band:
    """P10, P50, P90 of the runs' values, each one of the values (no interpolation)."""
    array = np.asarray(values, dtype=np.int64)
    if array.size == 0:
        return [0, 0, 0]
    return [int(v) for v in np.percentile(array, PERCENTILES, method="nearest")]


def inside(value: int, figures: Band) -> bool:
    return figures[0] <= value <= figures[2]


def places_subset(places: Places, mask: npt.NDArray[np.bool_]) -> Places:
    """The places a poster is shown in, as a market of their own (cities renumbered)."""
    keep = np.flatnonzero(mask)
    cities = places.city[keep]
    _, renumbered = np.unique(cities, return_inverse=True)
    return Places(
        codes=tuple(places.codes[i] for i in keep),
        city_codes=tuple(places.city_codes[i] for i in keep),
        tier=places.tier[keep],
        city=renumbered.astype(np.int32),
    )


@dataclass(frozen=True)
class Runs:
    """Per run and day cumulative figures ``days[metric]`` (runs × days) and run totals."""

    days: dict[str, npt.NDArray[np.int64]]
    totals: dict[str, npt.NDArray[np.int64]]
    issued: npt.NDArray[np.int64]  # runs × tiers
    cap_day: dict[str, npt.NDArray[np.int64]]  # kind → per run first day (-1 never)
    stock_day: dict[tuple[int, str], npt.NDArray[np.int64]]


def monte_carlo(market: Market, draft: CampaignDraft, runs: int, seed: int) -> Runs:
    """``runs`` independent runs of the behaviour model (generator ``[seed, run]`` each)."""
    context = Context.of(market, draft)
    days = {metric: np.zeros((runs, draft.days), dtype=np.int64) for metric in DAY_METRICS}
    totals = {metric: np.zeros(runs, dtype=np.int64) for metric in TOTAL_METRICS}
    issued = np.zeros((runs, len(draft.tiers)), dtype=np.int64)
    cap_day = {kind: np.full(runs, -1, dtype=np.int64) for kind in (DAILY_ADDS, FRIEND_SEATS)}
    lines = draft.stock_lines()
    stock_day = {line: np.full(runs, -1, dtype=np.int64) for line in lines}
    for run in range(runs):
        state = new_state(market, draft, context)
        rng = np.random.default_rng([seed, run])
        for day in range(draft.days):
            step(market, draft, state, day, rng)
            for metric in DAY_METRICS:
                days[metric][run, day] = state.totals[metric]
        figures = state.totals
        for metric in TOTAL_METRICS[:-2]:
            totals[metric][run] = (
                figures["seen"] + figures["reached"] if metric == "reach" else (figures[metric])
            )
        k = KFactor(figures["participants"], figures["invites"], figures["verified"]).k
        totals["k_hundredths"][run] = k.hundredths() or 0
        per_contact = cost_per_contact_fen(figures["cost_fen"], figures["adds"])
        totals["cost_per_contact_fen"][run] = per_contact or 0
        issued[run] = state.issued.sum(axis=0)
        for kind, first in state.cap_day.items():
            cap_day[kind][run] = first
        for line, first in state.stock_day.items():
            stock_day[line][run] = first
    return Runs(days=days, totals=totals, issued=issued, cap_day=cap_day, stock_day=stock_day)


def warnings_of(draft: CampaignDraft, runs: Runs) -> list[dict[str, Any]]:
    """What runs out, in how many runs and on which day (median over the runs where it does),
    earliest first."""
    total = next(iter(runs.totals.values())).shape[0]
    found: list[dict[str, Any]] = []

    def add(kind: str, days: npt.NDArray[np.int64], tier: str = "", district: str = "") -> None:
        happened = days[days >= 0]
        if happened.size == 0:
            return
        found.append(
            {
                "kind": kind,
                "tier": tier,
                "district": district,
                "share_bp": int(happened.size * 10_000 // total),
                "median_day": int(np.percentile(happened, 50, method="nearest")),
            }
        )

    for kind, days in runs.cap_day.items():
        add(kind, days)
    for (tier, district), days in runs.stock_day.items():
        add(STOCK, days, draft.tiers[tier].name, district)
    found.sort(key=lambda item: (item["median_day"], -item["share_bp"], item["kind"]))
    return found


def results_of(draft: CampaignDraft, runs: Runs) -> dict[str, Any]:
    return {
        "days": [
            {"day": day, **{m: band(runs.days[m][:, day]) for m in DAY_METRICS}}
            for day in range(draft.days)
        ],
        "totals": {metric: band(values) for metric, values in runs.totals.items()},
        "tiers": [
            {
                "name": tier.name,
                "threshold": tier.threshold,
                "unit_cost_fen": tier.unit_cost_fen,
                "stock": tier.total,
                "issued": band(runs.issued[:, index]),
            }
            for index, tier in enumerate(draft.tiers)
        ],
        "warnings": warnings_of(draft, runs),
    }


# --- drafts as JSON (saved with the forecast) ---------------------------------------------------


def draft_as_json(draft: CampaignDraft) -> dict[str, Any]:
    return {
        "trigger": draft.trigger.value,
        "reach": draft.reach,
        "reach_is_total": draft.reach_is_total,
        "days": draft.days,
        "places": list(draft.places),
        "invalidation_days": draft.invalidation_days,
        "tiers": [
            {
                "name": t.name,
                "threshold": t.threshold,
                "unit_cost_fen": t.unit_cost_fen,
                "total": t.total,
                "districts": dict(sorted(t.districts.items())),
            }
            for t in draft.tiers
        ],
        "accounts": [
            {
                "name": a.name,
                "adds_per_day": a.adds_per_day,
                "seats_left": a.seats_left,
                "adds_left_today": a.adds_left_today,
            }
            for a in draft.accounts
        ],
    }


def draft_from_json(data: Mapping[str, Any]) -> CampaignDraft:
    return CampaignDraft(
        trigger=CampaignTrigger(data["trigger"]),
        reach=int(data["reach"]),
        reach_is_total=bool(data.get("reach_is_total", False)),
        days=int(data["days"]),
        places=tuple(data.get("places", ())),
        invalidation_days=data.get("invalidation_days"),
        tiers=tuple(
            TierDraft(
                t["name"],
                int(t["threshold"]),
                int(t["unit_cost_fen"]),
                int(t["total"]),
                {str(k): int(v) for k, v in t.get("districts", {}).items()},
            )
            for t in data.get("tiers", ())
        ),
        accounts=tuple(
            AccountDraft(
                a["name"], int(a["adds_per_day"]), int(a["seats_left"]), a.get("adds_left_today")
            )
            for a in data.get("accounts", ())
        ),
    )


# --- forecast vs actual -------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    metric: str
    forecast: Band
    actual: int

    @property
    def inside(self) -> bool:
        return inside(self.actual, self.forecast)


def cumulative(per_day: Sequence[int]) -> list[int]:
    return [int(value) for value in np.cumsum(np.asarray(per_day, dtype=np.int64))]


__all__ = [
    "ACTUAL_METRICS",
    "ALL_DISTRICTS",
    "DAY_METRICS",
    "TOTAL_METRICS",
    "Comparison",
    "Runs",
    "band",
    "build_places",
    "cumulative",
    "draft_as_json",
    "draft_from_json",
    "inside",
    "monte_carlo",
    "places_subset",
    "results_of",
    "warnings_of",
]


# --- labels (Chinese, for the console and the CLI) ----------------------------------------------

METRIC_LABELS: Final = {
    "reach": "曝光人数",
    "scans": "扫码次数",
    "adds": "新增好友",
    "participants": "参与人数",
    "qualified": "达标人数",
    "invites": "邀请人数",
    "verified": "有效邀请",
    "rewards": "发放奖励",
    "cost_fen": "奖励成本（元）",
    "k_hundredths": "K 值",
    "cost_per_contact_fen": "获客成本（元/人）",
}


def format_value(metric: str, value: int) -> str:
    """Money in yuan (from 分), K from hundredths, counts as they are."""
    if metric in ("cost_fen", "cost_per_contact_fen", "k_hundredths"):
        whole, rest = divmod(int(value), 100)
        return f"{whole}.{rest:02d}"
    return str(int(value))


def warning_zh(warning: Mapping[str, Any], district_names: Mapping[str, str] | None = None) -> str:
    """'预计第 3 天运营号每日加好友上限用尽（82% 的模拟）' — days are shown from 1; a district
    by its name when ``district_names`` has it, else its code."""
    day = int(warning["median_day"]) + 1
    share = int(warning["share_bp"])
    percent = f"{share // 100}%" if share % 100 == 0 else f"{share / 100:.1f}%"
    kind = warning["kind"]
    if kind == DAILY_ADDS:
        what = "运营号每日加好友上限用尽"
    elif kind == FRIEND_SEATS:
        what = "运营号好友名额用尽"
    else:
        code = str(warning.get("district") or "")
        place = f"（{(district_names or {}).get(code, code)}）" if code else ""
        what = f"奖励“{warning['tier']}”{place}库存发完"
    return f"预计第 {day} 天{what}（{percent} 的模拟）"
