"""Outreach rules, exhaustively: windows of the day (incl. overnight), quiet hours, next allowed
instant, quota windows in Asia/Shanghai days / weeks / months, presets, jitter and pacing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siyu.kit.time import SHANGHAI
from siyu.outreach import rules

QUIET = (22 * 60, 8 * 60)


def shanghai(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


class TestInWindow:
    @pytest.mark.parametrize(
        ("start", "until", "inside"),
        [
            (480, 1320, set(range(480, 1320))),
            (1320, 480, set(range(1320, 1440)) | set(range(480))),
            (0, 1440, set(range(1440))),
            (600, 600, set()),
            (0, 1, {0}),
            (1439, 1440, {1439}),
        ],
    )
    def test_every_minute_of_the_day(self, start: int, until: int, inside: set[int]) -> None:
        assert {m for m in range(1440) if rules.in_window(m, start, until)} == inside


class TestSendPieces:
    @pytest.mark.parametrize(
        ("working", "quiet", "pieces"),
        [
            ((0, 1440), QUIET, [(480, 1320)]),
            ((540, 1080), QUIET, [(540, 1080)]),
            ((1200, 120), QUIET, [(1200, 1320)]),  # overnight shift loses its quiet part
            ((1200, 600), QUIET, [(480, 600), (1200, 1320)]),
            ((1380, 420), QUIET, []),  # works only inside quiet hours
            ((0, 1440), (0, 0), [(0, 1440)]),  # no quiet hours
            ((1200, 120), (0, 0), [(0, 120), (1200, 1440)]),
            ((0, 1440), (720, 840), [(0, 720), (840, 1440)]),  # a daytime quiet window
            ((600, 600), QUIET, []),
        ],
    )
    def test_working_hours_minus_quiet_hours(
        self, working: tuple[int, int], quiet: tuple[int, int], pieces: list[tuple[int, int]]
    ) -> None:
        assert rules.send_pieces(*working, *quiet) == pieces

    @given(st.integers(0, 1440), st.integers(0, 1440), st.integers(0, 1440), st.integers(0, 1440))
    @settings(max_examples=300, deadline=None)
    def test_a_minute_is_allowed_exactly_when_working_and_not_quiet(
        self, work_from: int, work_until: int, quiet_from: int, quiet_until: int
    ) -> None:
        pieces = rules.send_pieces(work_from, work_until, quiet_from, quiet_until)
        for minute in range(0, 1440, 7):
            working = (work_from, work_until) == (0, 1440) or rules.in_window(
                minute, work_from, work_until
            )
            quiet = quiet_from != quiet_until and rules.in_window(minute, quiet_from, quiet_until)
            assert any(a <= minute < b for a, b in pieces) == (working and not quiet)


class TestQuietHours:
    def test_default_quiet_hours_every_minute(self) -> None:
        day = shanghai(2026, 12, 1)
        quiet = [m for m in range(1440) if rules.is_quiet(day + timedelta(minutes=m), *QUIET)]
        assert quiet == list(range(480)) + list(range(1320, 1440))

    def test_no_quiet_hours_when_from_equals_until(self) -> None:
        assert not rules.is_quiet(shanghai(2026, 12, 1, 23), 0, 0)


class TestNextAllowed:
    @pytest.mark.parametrize("pieces", [[(480, 1320)], [(480, 600), (1200, 1320)], [(0, 60)]])
    def test_every_minute_goes_to_the_earliest_allowed_instant(
        self, pieces: list[tuple[int, int]]
    ) -> None:
        day = shanghai(2026, 12, 1)
        for minute in range(1440):
            moment = day + timedelta(minutes=minute, seconds=30)
            found = rules.next_allowed(moment, pieces)
            assert found is not None
            assert found >= moment
            assert rules.may_send_at(found, pieces)
            # Nothing allowed in between (checked minute by minute).
            probe = moment
            while probe + timedelta(minutes=1) <= found:
                assert not rules.may_send_at(probe, pieces)
                probe += timedelta(minutes=1)

    def test_no_pieces_is_never(self) -> None:
        assert rules.next_allowed(shanghai(2026, 12, 1), []) is None


class TestQuotaWindows:
    def test_days_weeks_and_months_are_shanghai_ones(self) -> None:
        # 2026-11-30 16:00 UTC is Tuesday 2026-12-01 00:00 in Shanghai.
        before = datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC)
        after = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
        assert rules.windows(before) == rules.Windows(
            date(2026, 11, 30), date(2026, 11, 30), date(2026, 11, 1)
        )
        assert rules.windows(after) == rules.Windows(
            date(2026, 12, 1), date(2026, 11, 30), date(2026, 12, 1)
        )

    def test_every_day_of_three_years(self) -> None:
        day = date(2026, 1, 1)
        while day < date(2029, 1, 1):
            noon = shanghai(day.year, day.month, day.day, 12)
            late = shanghai(day.year, day.month, day.day, 23, 59)
            for moment in (noon, late, shanghai(day.year, day.month, day.day)):
                found = rules.windows(moment)
                assert found.day == day
                assert found.week.weekday() == 0
                assert 0 <= (day - found.week).days <= 6
                assert found.month == day.replace(day=1)
            day += timedelta(days=1)

    @pytest.mark.parametrize(
        ("day", "cap"),
        [
            (date(2026, 2, 10), 28),
            (date(2028, 2, 10), 29),
            (date(2026, 4, 30), 30),
            (date(2026, 12, 31), 31),
        ],
    )
    def test_wecom_preset_caps_a_month_at_its_days(self, day: date, cap: int) -> None:
        assert rules.preset("month_days").month_cap(day) == cap

    def test_presets(self) -> None:
        assert rules.preset("week_7") == rules.QuotaPolicy(per_week=7)
        assert rules.preset("day_1") == rules.QuotaPolicy(per_day=1)
        assert rules.preset("month_days", 2).member_per_day == 2
        with pytest.raises(ValueError, match="unknown quota preset"):
            rules.preset("hourly")


class TestBlockers:
    moment = shanghai(2026, 12, 2, 10)  # a Wednesday

    def test_a_passed_window_counts_zero(self) -> None:
        old = rules.Counters(date(2026, 12, 1), 5, date(2026, 11, 23), 9, date(2026, 11, 1), 40)
        assert rules.person_blocker(old, rules.preset("day_1"), self.moment) is None
        assert rules.person_blocker(old, rules.preset("week_7"), self.moment) is None
        assert rules.person_blocker(old, rules.preset("month_days"), self.moment) is None

    def test_each_window_blocks_at_its_cap(self) -> None:
        today = rules.windows(self.moment)
        full_day = rules.Counters(today.day, 1, today.week, 1, today.month, 1)
        full_week = rules.Counters(today.day, 0, today.week, 7, today.month, 7)
        full_month = rules.Counters(today.day, 0, today.week, 0, today.month, 31)
        assert rules.person_blocker(full_day, rules.preset("day_1"), self.moment) == "quota_day"
        assert rules.person_blocker(full_week, rules.preset("week_7"), self.moment) == "quota_week"
        assert (
            rules.person_blocker(full_month, rules.preset("month_days"), self.moment)
            == "quota_month"
        )
        assert rules.person_blocker(full_day, rules.preset("week_7"), self.moment) is None
        assert rules.member_blocker(full_day, rules.preset("week_7"), self.moment) == (
            "quota_member_day"
        )

    def test_taken_restarts_passed_windows(self) -> None:
        today = rules.windows(self.moment)
        old = rules.Counters(date(2026, 12, 1), 5, today.week, 2, today.month, 3)
        assert old.taken(today) == rules.Counters(today.day, 1, today.week, 3, today.month, 4)


class TestJitter:
    def test_deterministic_and_in_range(self) -> None:
        for jitter in (0, 1, 20, 600):
            values = [rules.jitter_seconds(7, key, jitter) for key in range(2000)]
            assert values == [rules.jitter_seconds(7, key, jitter) for key in range(2000)]
            assert all(0 <= value <= jitter for value in values)
        assert len({rules.jitter_seconds(7, key, 20) for key in range(2000)}) == 21

    def test_the_seed_changes_it(self) -> None:
        first = [rules.jitter_seconds(1, key, 60) for key in range(100)]
        assert first != [rules.jitter_seconds(2, key, 60) for key in range(100)]


class TestPacing:
    @given(
        st.sampled_from([[(480, 1320)], [(480, 600), (1200, 1320)], [(0, 1440)], [(540, 545)]]),
        st.integers(1, 60),
        st.integers(0, 120),
        st.integers(0, 3 * 1440 - 1),
        st.integers(0, 2**20),
    )
    @settings(max_examples=200, deadline=None)
    def test_slots_stay_in_windows_in_order_and_apart(
        self,
        pieces: list[tuple[int, int]],
        per_minute: int,
        jitter: int,
        start_minute: int,
        seed: int,
    ) -> None:
        now = shanghai(2026, 12, 1)
        start = now + timedelta(minutes=start_minute, seconds=seed % 60)
        plan = rules.plan_account(1, start, start, pieces, per_minute, jitter, *QUIET)
        if plan is None:
            assert all((end - begin) * 60 - jitter < 1 for begin, end in pieces)
            return
        step = rules.interval_ms(per_minute)
        previous: int | None = None
        for slot in range(0, 400, 3):
            base = rules.due_epoch(plan, slot, seed, 0, 0)
            due = rules.due_epoch(plan, slot, seed, slot, jitter)
            moment = datetime.fromtimestamp(due, UTC)
            assert rules.may_send_at(moment, pieces)
            assert due >= int(start.timestamp()) - 1
            assert base <= due <= base + jitter
            if previous is not None:
                assert base >= previous + (3 * step) // 1000 - 1
            previous = base
        # "now" = the slots that fall in the window the start is in.
        for slot in range(plan.now_slots):
            due = datetime.fromtimestamp(rules.due_epoch(plan, slot, seed, slot, 0), UTC)
            assert due.date() == start.date() or due - start < timedelta(days=1)
            assert rules.may_send_at(due, pieces)

    def test_quiet_start_waits_for_the_morning(self) -> None:
        start = shanghai(2026, 12, 1, 23)
        plan = rules.plan_account(1, start, start, [(480, 1320)], 10, 0, *QUIET)
        assert plan is not None
        assert plan.now_slots == 0
        assert plan.later_reason == "quiet_hours"
        first = datetime.fromtimestamp(rules.due_epoch(plan, 0, 0, 0, 0), UTC)
        assert first == shanghai(2026, 12, 2, 8)

    def test_slots_past_the_evening_roll_to_the_next_morning(self) -> None:
        start = shanghai(2026, 12, 1, 21, 59)
        plan = rules.plan_account(1, start, start, [(480, 1320)], 1, 0, *QUIET)
        assert plan is not None
        assert plan.now_slots == 1
        assert plan.later_reason == "pacing"
        assert datetime.fromtimestamp(rules.due_epoch(plan, 0, 0, 0, 0), UTC) == start
        assert datetime.fromtimestamp(rules.due_epoch(plan, 1, 0, 0, 0), UTC) == shanghai(
            2026, 12, 2, 8
        )

    def test_a_future_start_is_scheduled(self) -> None:
        now = shanghai(2026, 12, 1, 10)
        plan = rules.plan_account(1, now + timedelta(hours=2), now, [(480, 1320)], 10, 0, *QUIET)
        assert plan is not None
        assert (plan.now_slots, plan.later_reason) == (0, "scheduled")

    def test_off_duty_account_is_working_hours(self) -> None:
        now = shanghai(2026, 12, 1, 10)
        plan = rules.plan_account(1, now, now, [(840, 1080)], 10, 0, *QUIET)
        assert plan is not None
        assert (plan.now_slots, plan.later_reason) == (0, "working_hours")

    def test_bucket_counts(self) -> None:
        now = shanghai(2026, 12, 1, 21, 50)
        plan = rules.plan_account(1, now, now, [(480, 1320)], 1, 0, *QUIET)
        assert plan is not None
        assert rules.bucket_counts(plan, 25) == (10, 15)
        assert rules.bucket_counts(plan, 3) == (3, 0)


class TestVariables:
    def test_nickname(self) -> None:
        assert rules.render("{昵称}您好", {"nickname": "小王"}) == "小王您好"
        assert rules.render("{昵称}您好", {"nickname": "  "}) == "朋友您好"
        assert rules.render("您好", {}) == "您好"
