"""Pure rules for moments: slots, weekdays, the week grid, interaction caps and the simulated
audience. No database, no clock (``now`` is passed in)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

from siyu.kit.time import SHANGHAI

MINUTES_PER_DAY: Final = 24 * 60
WEEKDAYS: Final = (1, 2, 3, 4, 5, 6, 7)
WEEKDAY_LABELS: Final = {
    1: "周一",
    2: "周二",
    3: "周三",
    4: "周四",
    5: "周五",
    6: "周六",
    7: "周日",
}
MAX_IMAGES: Final = 9  # WeChat moments take up to nine pictures
MAX_TEXT: Final = 2000
# How far ahead a post may be scheduled, and how late (a post for a slot that has passed today
# is refused: it would go out at once, which is not what a calendar means).
MAX_DAYS_AHEAD: Final = 60


def validate_slot_minute(minute: int) -> int:
    if not 0 <= minute < MINUTES_PER_DAY:
        raise ValueError("slot minute must be within 0..1439")
    return minute


def normalise_weekdays(days: Sequence[int]) -> list[int]:
    unique = sorted(set(days))
    if not unique:
        raise ValueError("a column runs on at least one weekday")
    if any(day not in WEEKDAYS for day in unique):
        raise ValueError("weekdays are 1 (Monday) … 7 (Sunday)")
    return unique


def slot_label(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def parse_slot(text: str) -> int:
    """'08:00' → 480."""
    parts = text.strip().split(":")
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        raise ValueError("slot time is HH:MM")
    hours, minutes = int(parts[0]), int(parts[1])
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        raise ValueError("slot time is HH:MM")
    return hours * 60 + minutes


def slot_at(day: date, minute: int) -> datetime:
    """The UTC instant of ``minute`` (Asia/Shanghai) on the Shanghai ``day``."""
    validate_slot_minute(minute)
    local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=SHANGHAI)
    return local.astimezone(UTC)


def runs_on(weekdays: Sequence[int], day: date) -> bool:
    return day.isoweekday() in weekdays


def week_of(day: date) -> list[date]:
    """Monday … Sunday of ``day``'s week."""
    monday = day - timedelta(days=day.isoweekday() - 1)
    return [monday + timedelta(days=offset) for offset in range(7)]


class ScheduleRefused(ValueError):
    """Why a post cannot go on this day (the service turns it into a Chinese message)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_schedule(weekdays: Sequence[int], minute: int, day: date, now: datetime) -> datetime:
    """The publish instant for a post of a column on ``day``, or ``ScheduleRefused``.

    Reasons: ``not_a_column_day`` (the column does not run that weekday), ``slot_passed`` (the
    slot is already over), ``too_far_ahead`` (more than MAX_DAYS_AHEAD days out).
    """
    if not runs_on(weekdays, day):
        raise ScheduleRefused("not_a_column_day")
    at = slot_at(day, minute)
    if at <= now:
        raise ScheduleRefused("slot_passed")
    if (day - now.astimezone(SHANGHAI).date()).days > MAX_DAYS_AHEAD:
        raise ScheduleRefused("too_far_ahead")
    return at


def remaining(cap: int, used: int) -> int:
    return max(0, cap - used)


@dataclass(frozen=True)
class Candidate:
    contact_id: int
    last_message_at: datetime | None
    last_interaction_at: datetime | None


def pick_interaction_targets(
    candidates: Sequence[Candidate], cap: int, now: datetime, rest_days: int, seed: str
) -> list[int]:
    """Whose moments an account likes/comments on today (seed 002: keep in touch, don't spam).

    Skip anyone interacted with within ``rest_days``; prefer the recently active; ties broken by
    a seeded shuffle so two accounts with the same contacts don't behave identically.
    """
    if cap <= 0:
        return []
    cutoff = now - timedelta(days=rest_days)
    eligible = [
        candidate
        for candidate in candidates
        if candidate.last_interaction_at is None or candidate.last_interaction_at < cutoff
    ]
    rng = random.Random(seed)
    rng.shuffle(eligible)
    floor = datetime.min.replace(tzinfo=UTC)
    eligible.sort(key=lambda candidate: candidate.last_message_at or floor, reverse=True)
    return [candidate.contact_id for candidate in eligible[:cap]]


COMMENT_TEMPLATES: Final = (
    "太棒了👍",
    "看起来真不错！",
    "学到了，感谢分享～",
    "好温馨呀",
    "周末愉快！",
)


def suggested_comment(contact_id: int, day: date) -> str:
    return COMMENT_TEMPLATES[(contact_id + day.toordinal()) % len(COMMENT_TEMPLATES)]


@dataclass(frozen=True)
class SimulatedReaction:
    contact_id: int
    kind: str  # like / comment
    text: str = ""


def simulated_reactions(
    contact_ids: Sequence[int], like_bp: int, comment_bp: int, seed: str
) -> list[SimulatedReaction]:
    """The simulator's audience: each contact likes with ``like_bp``/10000 and comments with
    ``comment_bp``/10000, decided by the seed and the contact only (reproducible)."""
    reactions: list[SimulatedReaction] = []
    for contact_id in contact_ids:
        rng = random.Random(f"{seed}:{contact_id}")
        if rng.random() * 10_000 < like_bp:
            reactions.append(SimulatedReaction(contact_id, "like"))
        if rng.random() * 10_000 < comment_bp:
            text = COMMENT_TEMPLATES[rng.randrange(len(COMMENT_TEMPLATES))]
            reactions.append(SimulatedReaction(contact_id, "comment", text))
    return reactions
