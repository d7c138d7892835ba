"""Aware UTC in storage; Asia/Shanghai only at the edges."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")

# The simulated clock (demo loader, simulations, tests): an offset added to the real time, so
# time still moves while a simulation runs. Production never sets it.
_offset: list[timedelta] = [timedelta(0)]


def utc_now() -> datetime:
    """The one clock. Every 'now' in siyu comes from here."""
    return datetime.now(UTC) + _offset[0]


@contextmanager
def travel_to(moment: datetime) -> Iterator[None]:
    """Run the block as if the current time were ``moment`` (then keep ticking from there)."""
    previous = _offset[0]
    _offset[0] = ensure_aware(moment) - datetime.now(UTC)
    try:
        yield
    finally:
        _offset[0] = previous


def ensure_aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime: siyu stores aware UTC datetimes only")
    return value.astimezone(UTC)


def to_shanghai(value: datetime) -> datetime:
    return ensure_aware(value).astimezone(SHANGHAI)


def shanghai_day(value: datetime) -> date:
    return to_shanghai(value).date()


def format_shanghai(value: datetime | None, with_seconds: bool = False) -> str:
    if value is None:
        return "—"
    pattern = "%Y-%m-%d %H:%M:%S" if with_seconds else "%Y-%m-%d %H:%M"
    return to_shanghai(value).strftime(pattern)


def parse_shanghai_local(text: str) -> datetime:
    """'2026-11-11T20:00' from an <input type=datetime-local> -> aware UTC."""
    naive = datetime.fromisoformat(text.strip())
    if naive.tzinfo is None:
        naive = naive.replace(tzinfo=SHANGHAI)
    return naive.astimezone(UTC)
