"""Aware UTC in storage; Asia/Shanghai (UTC+8, no DST) only at the edges."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siyu.kit.time import (
    SHANGHAI,
    ensure_aware,
    format_shanghai,
    parse_shanghai_local,
    shanghai_day,
    to_shanghai,
    utc_now,
)

aware = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


class TestUtcNow:
    def test_is_aware_utc_and_current(self) -> None:
        before = datetime.now(UTC)
        now = utc_now()
        assert now.tzinfo is UTC
        assert before <= now <= datetime.now(UTC)


class TestEnsureAware:
    def test_refuses_naive(self) -> None:
        with pytest.raises(ValueError, match="naive datetime"):
            ensure_aware(datetime(2026, 11, 11, 12, 0))

    def test_converts_other_zones_to_utc(self) -> None:
        value = datetime(2026, 11, 11, 20, 0, tzinfo=SHANGHAI)
        assert ensure_aware(value) == datetime(2026, 11, 11, 12, 0, tzinfo=UTC)
        assert ensure_aware(value).utcoffset() == timedelta(0)


class TestShanghaiEdges:
    @pytest.mark.parametrize(
        ("moment", "day"),
        [
            (datetime(2026, 11, 10, 15, 59, 59, tzinfo=UTC), date(2026, 11, 10)),
            (datetime(2026, 11, 10, 16, 0, 0, tzinfo=UTC), date(2026, 11, 11)),  # 11.11 00:00
            (datetime(2026, 12, 31, 16, 0, 0, tzinfo=UTC), date(2027, 1, 1)),
        ],
    )
    def test_day_bucket_turns_at_shanghai_midnight(self, moment: datetime, day: date) -> None:
        assert shanghai_day(moment) == day

    @given(aware)
    def test_shanghai_is_utc_plus_eight_all_year(self, moment: datetime) -> None:
        local = to_shanghai(moment)
        assert local.utcoffset() == timedelta(hours=8)
        assert local == moment

    def test_to_shanghai_refuses_naive(self) -> None:
        with pytest.raises(ValueError, match="naive"):
            to_shanghai(datetime(2026, 11, 11))

    def test_format(self) -> None:
        moment = datetime(2026, 11, 10, 16, 0, 5, tzinfo=UTC)
        assert format_shanghai(moment) == "2026-11-11 00:00"
        assert format_shanghai(moment, with_seconds=True) == "2026-11-11 00:00:05"
        assert format_shanghai(None) == "—"

    def test_parse_local_input_as_shanghai(self) -> None:
        parsed = parse_shanghai_local("2026-11-11T20:00")
        assert parsed == datetime(2026, 11, 11, 12, 0, tzinfo=UTC)
        assert parsed.tzinfo is UTC

    def test_parse_keeps_an_explicit_offset(self) -> None:
        parsed = parse_shanghai_local(" 2026-11-11T20:00+00:00 ")
        assert parsed == datetime(2026, 11, 11, 20, 0, tzinfo=UTC)

    def test_parse_refuses_garbage(self) -> None:
        with pytest.raises(ValueError, match="Invalid isoformat"):
            parse_shanghai_local("11/11 8pm")

    @given(aware)
    def test_format_then_parse_round_trips_to_the_minute(self, moment: datetime) -> None:
        local = format_shanghai(moment).replace(" ", "T")
        assert parse_shanghai_local(local) == moment.replace(second=0, microsecond=0)

    def test_other_fixed_offsets_convert(self) -> None:
        tokyo = timezone(timedelta(hours=9))
        assert shanghai_day(datetime(2026, 11, 11, 0, 30, tzinfo=tokyo)) == date(2026, 11, 10)


class TestTravelTo:
    def test_moves_the_clock_and_restores_it(self) -> None:
        from datetime import UTC, datetime, timedelta

        from siyu.kit.time import travel_to, utc_now

        target = datetime(2026, 11, 11, 12, 0, tzinfo=UTC)
        with travel_to(target):
            inside = utc_now()
            assert target <= inside < target + timedelta(seconds=5)
        assert abs(utc_now() - datetime.now(UTC)) < timedelta(seconds=1)

    def test_refuses_naive_moments(self) -> None:
        from datetime import datetime

        import pytest

        from siyu.kit.time import travel_to

        with pytest.raises(ValueError, match="naive"), travel_to(datetime(2026, 1, 1)):
            pass
