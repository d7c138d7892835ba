"""Pure rules of the analytics dashboards: the channel of a new consumer and of an order line,
date ranges in Asia/Shanghai days, city-tier buckets, repurchase cohorts and table export cells.

No database here; docs/dashboards.md defines every rule in words.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Final

from siyu.errors import ValidationFailed
from siyu.models.orders import AttributionSource
from siyu.models.pool import ContactSourceKind
from siyu.regions.rules import CITY_TIER_LABELS, LOWER_TIERS, CityTier

# Broadcasts create a tracked link with this sub-id prefix (siyu.outreach.service.SUB_ID_PREFIX);
# repeated here so the rules stay free of the outreach service.
BROADCAST_SUB_ID_PREFIX: Final = "群发#"

DEFAULT_DAYS: Final = 30
MAX_DAYS: Final = 366
COHORT_WEEKS: Final = 8


class Channel(enum.StrEnum):
    FISSION = "fission"
    CODE = "code"
    COURIER = "courier"
    PROMOTER = "promoter"
    IMPORT = "import"
    OTHER = "other"
    BROADCAST = "broadcast"
    PROMOTER_LINK = "promoter_link"
    BINDING = "binding"
    NATURAL = "natural"


CHANNEL_LABELS: Final[dict[Channel, str]] = {
    Channel.FISSION: "裂变",
    Channel.CODE: "活码",
    Channel.COURIER: "快递员",
    Channel.PROMOTER: "推手添加",
    Channel.IMPORT: "导入",
    Channel.OTHER: "其他渠道",
    Channel.BROADCAST: "群发",
    Channel.PROMOTER_LINK: "推手链接",
    Channel.BINDING: "推手绑定",
    Channel.NATURAL: "自然",
}

# Where new consumers come from (their first contact) and where orders come from (attribution).
CONSUMER_CHANNELS: Final = (
    Channel.FISSION,
    Channel.CODE,
    Channel.COURIER,
    Channel.PROMOTER,
    Channel.IMPORT,
    Channel.OTHER,
)
ORDER_CHANNELS: Final = (
    Channel.BROADCAST,
    Channel.PROMOTER_LINK,
    Channel.BINDING,
    Channel.NATURAL,
)

UNKNOWN_TIER_LABEL: Final = "未知"


class DashboardDateInvalid(ValidationFailed):
    code = "dashboard_date_invalid"
    message_en = "{field} must be a date like 2026-11-11 (got {value!r})."
    message_zh = "{label}格式不对，请填写如 2026-11-11 的日期。"


class DashboardRangeInvalid(ValidationFailed):
    code = "dashboard_range_invalid"
    message_en = "The date range must start on or before its end and span at most {max} days."
    message_zh = "日期范围有误：开始日期不能晚于结束日期，且最长 {max} 天。"


class DashboardChannelInvalid(ValidationFailed):
    code = "dashboard_channel_invalid"
    message_en = "Unknown channel {value!r}."
    message_zh = "未知的渠道：{value}。"


def consumer_channel(
    source_kind: ContactSourceKind | str,
    code_has_parent: bool,
    has_referrer: bool,
) -> Channel:
    """The channel of a new consumer, from their first confirmed contact.

    ``code_has_parent``: the contact's source code is a personal (fission) code
    (``channel_code.parent_id`` set); ``has_referrer``: the contact names a referring promoter
    or consumer.
    """
    kind = ContactSourceKind(source_kind)
    if kind == ContactSourceKind.CAMPAIGN:
        return Channel.FISSION
    if kind in (ContactSourceKind.CODE, ContactSourceKind.GROUP_CODE):
        return Channel.FISSION if code_has_parent or has_referrer else Channel.CODE
    if kind == ContactSourceKind.COURIER:
        return Channel.COURIER
    if kind == ContactSourceKind.PROMOTER:
        return Channel.PROMOTER
    if kind == ContactSourceKind.IMPORT:
        return Channel.IMPORT
    return Channel.OTHER


def order_channel(
    attribution: AttributionSource | str,
    has_link: bool,
    link_sub_id: str | None,
) -> Channel:
    """The channel of an order line, from its frozen attribution.

    A line with a tracked link whose sub-id starts with 群发# came through a broadcast; any other
    link or click attribution is a promoter's link; a binding is the promoter binding; else
    natural.
    """
    source = AttributionSource(attribution)
    if has_link and (link_sub_id or "").startswith(BROADCAST_SUB_ID_PREFIX):
        return Channel.BROADCAST
    if has_link or source == AttributionSource.CLICK:
        return Channel.PROMOTER_LINK
    if source == AttributionSource.BINDING:
        return Channel.BINDING
    return Channel.NATURAL


def parse_channel(value: str | None) -> Channel | None:
    text = (value or "").strip()
    if not text:
        return None
    for channel, label in CHANNEL_LABELS.items():
        if text in (channel.value, label):
            return channel
    raise DashboardChannelInvalid(value=text[:40])


# --- date ranges ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DateRange:
    """Inclusive Asia/Shanghai calendar days."""

    start: date
    end: date

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]


def _parse_day(value: str, name: str, label: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise DashboardDateInvalid(field=name, value=value[:40], label=label) from None


def date_range(start: str | None, end: str | None, today: date) -> DateRange:
    """The range asked for; by default the last ``DEFAULT_DAYS`` days up to ``today``."""
    last = _parse_day(end, "end", "结束日期") if end and end.strip() else today
    if start and start.strip():
        first = _parse_day(start, "start", "开始日期")
    else:
        first = last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last or (last - first).days + 1 > MAX_DAYS:
        raise DashboardRangeInvalid(max=MAX_DAYS)
    return DateRange(first, last)


def week_start(day: date) -> date:
    """The Monday of ``day``'s week."""
    return day - timedelta(days=day.weekday())


# --- city tiers -----------------------------------------------------------------------------


def tier_label(tier: CityTier | None) -> str:
    return UNKNOWN_TIER_LABEL if tier is None else CITY_TIER_LABELS[tier]


TIER_ORDER: Final[tuple[str, ...]] = (*CITY_TIER_LABELS.values(), UNKNOWN_TIER_LABEL)


@dataclass(frozen=True)
class TierShare:
    counts: dict[str, int]  # label → new consumers, in TIER_ORDER, every label present
    lower: int  # tiers 3–6
    known: int  # with a tier
    total: int


def tier_share(tiers: Iterable[tuple[CityTier | None, int]]) -> TierShare:
    counts = dict.fromkeys(TIER_ORDER, 0)
    lower = known = total = 0
    for tier, count in tiers:
        counts[tier_label(tier)] += count
        total += count
        if tier is not None:
            known += count
            if tier in LOWER_TIERS:
                lower += count
    return TierShare(counts, lower, known, total)


# --- repurchase cohorts ---------------------------------------------------------------------


@dataclass(frozen=True)
class Cohort:
    week: date  # Monday of the first-order week
    consumers: int
    returned: list[int] = field(default_factory=list)  # week 1..N: consumers ordering that week


def cohorts(
    order_days: Mapping[int, Sequence[date]],
    weeks: int = COHORT_WEEKS,
    within: DateRange | None = None,
) -> list[Cohort]:
    """Group consumers by the week of their first order; count who ordered again k weeks later.

    ``order_days``: per consumer every day they placed a (non-cancelled) order. Week k of a
    cohort is the k-th Monday-to-Sunday week after the first-order week (k = 1..weeks). With
    ``within``, only consumers whose first order falls inside the range form cohorts.
    """
    sizes: dict[date, int] = {}
    returned: dict[date, list[int]] = {}
    for days in order_days.values():
        if not days:
            continue
        first = min(days)
        if within is not None and not within.start <= first <= within.end:
            continue
        cohort = week_start(first)
        sizes[cohort] = sizes.get(cohort, 0) + 1
        row = returned.setdefault(cohort, [0] * weeks)
        later = {(week_start(day) - cohort).days // 7 for day in days}
        for k in later:
            if 1 <= k <= weeks:
                row[k - 1] += 1
    return [Cohort(week, sizes[week], returned[week]) for week in sorted(sizes)]


# --- export cells ---------------------------------------------------------------------------


def safe_cell(value: str) -> str:
    """A text cell that a spreadsheet will not run as a formula (= + - @ lead)."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@") else value
