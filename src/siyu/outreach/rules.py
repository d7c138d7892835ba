"""Outreach rules: quiet hours, send windows, quota windows and presets, pacing with jitter.
Pure; no I/O.

Everything about the clock is in Asia/Shanghai minutes of the day (0–1440, ``until`` exclusive,
``until < from`` = overnight), like the pool's working hours. Shanghai has no daylight saving,
so a day is always 86,400 s and the planner can do its pacing with integer arithmetic in SQL;
``due_epoch`` below is the same arithmetic in Python (tests compare the two).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final

from siyu.kit.time import SHANGHAI, to_shanghai
from siyu.models.pool import MINUTES_PER_DAY

SECONDS_PER_DAY: Final = 86_400
MS_PER_MINUTE: Final = 60_000
# WeCom: at most 20,000 recipients in one mass-send task (product.md §3); one account's batch is
# one task.
MAX_RECIPIENTS_PER_TASK: Final = 20_000
MAX_MESSAGES_PER_MINUTE: Final = 60
MAX_JITTER_SECONDS: Final = 600
# Jitter hash: a fixed integer mix of the row key and the seed, identical in SQL and here.
JITTER_MODULUS: Final = 1_000_003
JITTER_KEY_FACTOR: Final = 7_919
JITTER_SEED_FACTOR: Final = 104_729

QUOTA_PRESETS: Final = ("month_days", "week_7", "day_1")
QUOTA_PRESET_LABELS: Final = {
    "month_days": "每位客户每月不超过当月天数（企业微信规则）",
    "week_7": "每位客户每周不超过 7 条",
    "day_1": "每位客户每天不超过 1 条",
}

NEVER_REASON_LABELS: Final = {
    "not_friend": "不是好友（待通过或已删除）",
    "opted_out": "已退订营销消息",
    "no_consent": "未同意接收营销消息",
    "account_unavailable": "运营号不可用（休息、受限、封号或已删除）",
    "no_send_window": "运营号工作时间全在免打扰时段内",
    "quota_day": "今日已达上限",
    "quota_week": "本周已达上限",
    "quota_month": "本月已达上限",
    "quota_member_day": "该运营号今天已给他发过",
    "duplicate_person": "同一个人在多个运营号，只发一次",
    "task_limit": "超过单个群发任务 20,000 人上限",
    "group_archived": "群已归档",
}
LATER_REASON_LABELS: Final = {
    "scheduled": "定时发送",
    "quiet_hours": "免打扰时段，时段结束后发送",
    "working_hours": "运营号不在工作时间，上班后发送",
    "pacing": "按频率分批，稍后发送",
}
SKIP_REASON_LABELS: Final = {
    **NEVER_REASON_LABELS,
    "broadcast_cancelled": "群发已取消",
    "contact_missing": "联系人不存在",
    "group_missing": "群不存在",
}


# --- windows of the day ---------------------------------------------------------------------------


def in_window(minute: int, start: int, until: int) -> bool:
    """Whether a minute of the day lies in [start, until); ``until < start`` wraps midnight;
    ``start == until`` is an empty window except 0–1440 (all day)."""
    if start <= until:
        return start <= minute < until
    return minute >= start or minute < until


def _pieces(start: int, until: int) -> list[tuple[int, int]]:
    """A window of the day as non-wrapping [start, end) pieces of [0, 1440)."""
    if start == until:
        return []
    if start < until:
        return [(start, until)]
    return [piece for piece in ((0, until), (start, MINUTES_PER_DAY)) if piece[0] < piece[1]]


def send_pieces(
    working_from: int, working_until: int, quiet_from: int, quiet_until: int
) -> list[tuple[int, int]]:
    """Minutes of the day in which an account may send: its working hours minus quiet hours,
    as sorted, disjoint [start, end) pieces. Quiet hours ``from == until`` = none."""
    working = _pieces(working_from, working_until)
    if working_from == 0 and working_until == MINUTES_PER_DAY:
        working = [(0, MINUTES_PER_DAY)]
    allowed = _pieces(quiet_until, quiet_from) if quiet_from != quiet_until else [(0, 1440)]
    result: list[tuple[int, int]] = []
    for a_start, a_end in working:
        for b_start, b_end in allowed:
            start, end = max(a_start, b_start), min(a_end, b_end)
            if start < end:
                result.append((start, end))
    result.sort()
    merged: list[tuple[int, int]] = []
    for start, end in result:
        if merged and merged[-1][1] >= start:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def minute_of_day(moment: datetime) -> int:
    local = to_shanghai(moment)
    return local.hour * 60 + local.minute


def is_quiet(moment: datetime, quiet_from: int, quiet_until: int) -> bool:
    return quiet_from != quiet_until and in_window(minute_of_day(moment), quiet_from, quiet_until)


def may_send_at(moment: datetime, pieces: Sequence[tuple[int, int]]) -> bool:
    minute = minute_of_day(moment)
    return any(start <= minute < end for start, end in pieces)


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI).astimezone(UTC)


def next_allowed(moment: datetime, pieces: Sequence[tuple[int, int]]) -> datetime | None:
    """The earliest instant at or after ``moment`` inside a piece (None: no pieces)."""
    if not pieces:
        return None
    local = to_shanghai(moment)
    day = local.date()
    second = local.hour * 3600 + local.minute * 60 + local.second
    for offset in range(2):
        for start, end in pieces:
            if offset == 0 and second >= end * 60:
                continue
            base = _day_start(day + timedelta(days=offset))
            begin = base + timedelta(minutes=start)
            if offset == 0 and second >= start * 60:
                return moment
            return begin
    raise AssertionError("unreachable: pieces repeat every day")  # pragma: no cover


# --- quotas ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuotaPolicy:
    """Caps per person (across accounts); ``None`` = not capped on that window.
    ``month_is_days`` = the WeCom rule: the month's cap is its number of days."""

    per_day: int | None = None
    per_week: int | None = None
    per_month: int | None = None
    month_is_days: bool = False
    member_per_day: int = 1

    def month_cap(self, day: date) -> int | None:
        if self.month_is_days:
            return calendar.monthrange(day.year, day.month)[1]
        return self.per_month


def preset(name: str, member_per_day: int = 1) -> QuotaPolicy:
    if name == "month_days":
        return QuotaPolicy(month_is_days=True, member_per_day=member_per_day)
    if name == "week_7":
        return QuotaPolicy(per_week=7, member_per_day=member_per_day)
    if name == "day_1":
        return QuotaPolicy(per_day=1, member_per_day=member_per_day)
    raise ValueError(f"unknown quota preset {name!r}")


@dataclass(frozen=True)
class Windows:
    day: date
    week: date
    month: date


def windows(moment: datetime) -> Windows:
    """The Asia/Shanghai day, week (its Monday) and month (its 1st) of an instant."""
    day = to_shanghai(moment).date()
    return Windows(day, day - timedelta(days=day.weekday()), day.replace(day=1))


@dataclass(frozen=True)
class Counters:
    day_on: date | None = None
    day_count: int = 0
    week_on: date | None = None
    week_count: int = 0
    month_on: date | None = None
    month_count: int = 0

    def counts(self, current: Windows) -> tuple[int, int, int]:
        """The counts that still apply in these windows (a passed window counts 0)."""
        return (
            self.day_count if self.day_on == current.day else 0,
            self.week_count if self.week_on == current.week else 0,
            self.month_count if self.month_on == current.month else 0,
        )

    def taken(self, current: Windows) -> Counters:
        day, week, month = self.counts(current)
        return Counters(current.day, day + 1, current.week, week + 1, current.month, month + 1)


# Stands for "no cap" in SQL comparisons.
NO_CAP: Final = 2**31 - 1


def caps(policy: QuotaPolicy, current: Windows) -> tuple[int, int, int]:
    month = policy.month_cap(current.day)
    return (
        NO_CAP if policy.per_day is None else policy.per_day,
        NO_CAP if policy.per_week is None else policy.per_week,
        NO_CAP if month is None else month,
    )


def person_blocker(counters: Counters, policy: QuotaPolicy, moment: datetime) -> str | None:
    """Why one more message to this person now would break the policy (None = it would not)."""
    current = windows(moment)
    day, week, month = counters.counts(current)
    day_cap, week_cap, month_cap = caps(policy, current)
    if day >= day_cap:
        return "quota_day"
    if week >= week_cap:
        return "quota_week"
    if month >= month_cap:
        return "quota_month"
    return None


def member_blocker(counters: Counters, policy: QuotaPolicy, moment: datetime) -> str | None:
    day, _week, _month = counters.counts(windows(moment))
    return "quota_member_day" if day >= policy.member_per_day else None


# --- pacing ---------------------------------------------------------------------------------------


def interval_ms(messages_per_minute: int) -> int:
    return MS_PER_MINUTE // messages_per_minute


def jitter_seconds(seed: int, key: int, jitter: int) -> int:
    """Deterministic jitter in [0, jitter] for a row key (contact or group id) and a seed."""
    return ((key * JITTER_KEY_FACTOR + seed * JITTER_SEED_FACTOR) % JITTER_MODULUS) % (jitter + 1)


@dataclass(frozen=True)
class AccountPlan:
    """How one account's slots map to send times: ``day0_epoch`` is the UTC epoch of the
    Shanghai midnight of the first send day, ``pieces`` the send windows in seconds of the day
    (shortened by the jitter so a jittered send never leaves its window), ``offset0_ms`` the
    window time already gone on day 0 before the first slot."""

    account_id: int
    day0_epoch: int
    pieces_s: tuple[tuple[int, int], ...]
    offset0_ms: int
    interval_ms: int
    now_slots: int
    later_reason: str

    @property
    def daily_ms(self) -> int:
        return sum(end - start for start, end in self.pieces_s) * 1000


def plan_account(
    account_id: int,
    start: datetime,
    now: datetime,
    pieces: Sequence[tuple[int, int]],
    messages_per_minute: int,
    jitter: int,
    quiet_from: int,
    quiet_until: int,
) -> AccountPlan | None:
    """The slot → time mapping of one account, or None when it has no usable send window."""
    pieces_s = tuple(
        (start_m * 60, end_m * 60 - jitter)
        for start_m, end_m in pieces
        if end_m * 60 - jitter - start_m * 60 >= 1
    )
    if not pieces_s:
        return None
    minute_pieces = [(start_s // 60, -(-(end_s + jitter) // 60)) for start_s, end_s in pieces_s]
    first = next_allowed(start, minute_pieces)
    assert first is not None
    local = to_shanghai(first)
    day0 = _day_start(local.date())
    second = local.hour * 3600 + local.minute * 60 + local.second
    offset0_ms = 0
    current_end_ms: int | None = None
    elapsed = 0
    for start_s, end_s in pieces_s:
        if second >= end_s:
            elapsed += end_s - start_s
            continue
        offset0_ms = (elapsed + max(0, second - start_s)) * 1000
        if second >= start_s:
            current_end_ms = (elapsed + end_s - start_s) * 1000
        break
    else:
        # Past the last (jitter-shortened) piece of the day: start with tomorrow's first.
        day0 = day0 + timedelta(days=1)
        offset0_ms = 0
    step = interval_ms(messages_per_minute)
    immediate = start <= now + timedelta(minutes=1)
    now_slots = 0
    if immediate and current_end_ms is not None and first == start:
        # Slots whose time is still inside the window the start falls in.
        now_slots = -(-(current_end_ms - offset0_ms) // step)
    if not immediate:
        later_reason = "scheduled"
    elif now_slots > 0:
        later_reason = "pacing"
    elif is_quiet(start, quiet_from, quiet_until):
        later_reason = "quiet_hours"
    else:
        later_reason = "working_hours"
    return AccountPlan(
        account_id=account_id,
        day0_epoch=int(day0.timestamp()),
        pieces_s=pieces_s,
        offset0_ms=offset0_ms,
        interval_ms=step,
        now_slots=max(0, now_slots),
        later_reason=later_reason,
    )


def due_epoch(plan: AccountPlan, slot: int, seed: int, key: int, jitter: int) -> int:
    """UTC epoch second of a slot (the planner's SQL computes exactly this)."""
    position = slot * plan.interval_ms + plan.offset0_ms
    day, rest = divmod(position, plan.daily_ms)
    cumulative = 0
    for start_s, end_s in plan.pieces_s:
        length = (end_s - start_s) * 1000
        if rest < cumulative + length:
            return (
                plan.day0_epoch
                + day * SECONDS_PER_DAY
                + start_s
                + (rest - cumulative) // 1000
                + jitter_seconds(seed, key, jitter)
            )
        cumulative += length
    raise AssertionError("unreachable: rest < daily_ms")  # pragma: no cover


def bucket_counts(plan: AccountPlan, planned: int) -> tuple[int, int]:
    """(now, later) among an account's first ``planned`` slots."""
    now = min(planned, plan.now_slots)
    return now, planned - now


# --- variables ------------------------------------------------------------------------------------

VARIABLES: Final = {"{昵称}": "nickname"}
_VARIABLE = re.compile(r"\{昵称\}")
DEFAULT_NICKNAME: Final = "朋友"


def render(text: str, values: Mapping[str, str]) -> str:
    """Fill the per-recipient variables; an empty nickname reads 朋友."""
    nickname = (values.get("nickname") or "").strip() or DEFAULT_NICKNAME
    return _VARIABLE.sub(lambda _match: nickname, text)
