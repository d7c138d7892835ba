"""Pure moment rules: slots, weekdays, schedule checks, interaction picking, simulated audience."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siyu.moments import rules


class TestSlots:
    @pytest.mark.parametrize(("text", "minute"), [("08:00", 480), ("00:00", 0), ("23:59", 1439)])
    def test_parse(self, text, minute):
        assert rules.parse_slot(text) == minute
        assert rules.slot_label(minute) == text

    @pytest.mark.parametrize("text", ["24:00", "8", "08:60", "ab:cd", "", "08:00:00", "-1:00"])
    def test_parse_refuses(self, text):
        with pytest.raises(ValueError, match="HH:MM"):
            rules.parse_slot(text)

    def test_slot_at_is_shanghai_time(self):
        # 08:00 in Shanghai is 00:00 UTC the same day; 06:00 is 22:00 UTC the day before.
        assert rules.slot_at(date(2026, 11, 11), 480) == datetime(2026, 11, 11, 0, 0, tzinfo=UTC)
        assert rules.slot_at(date(2026, 11, 11), 360) == datetime(2026, 11, 10, 22, tzinfo=UTC)

    @pytest.mark.parametrize("minute", [-1, 1440])
    def test_slot_minute_range(self, minute):
        with pytest.raises(ValueError, match=r"0\.\.1439"):
            rules.validate_slot_minute(minute)

    @given(st.integers(0, 1439), st.dates(date(2020, 1, 1), date(2035, 12, 31)))
    def test_slot_round_trip(self, minute, day):
        at = rules.slot_at(day, minute)
        local = at.astimezone(rules.SHANGHAI)
        assert local.date() == day
        assert local.hour * 60 + local.minute == minute


class TestWeekdays:
    def test_normalise(self):
        assert rules.normalise_weekdays([7, 1, 1, 3]) == [1, 3, 7]

    @pytest.mark.parametrize(("days", "message"), [([], "at least one"), ([0], "1 \\(Monday\\)")])
    def test_refuses(self, days, message):
        with pytest.raises(ValueError, match=message):
            rules.normalise_weekdays(days)

    def test_runs_on_and_week(self):
        wednesday = date(2026, 12, 2)
        assert rules.runs_on([3], wednesday)
        assert not rules.runs_on([1, 2, 4, 5, 6, 7], wednesday)
        week = rules.week_of(wednesday)
        assert week[0] == date(2026, 11, 30)  # Monday
        assert week[-1] == date(2026, 12, 6)
        assert [day.isoweekday() for day in week] == [1, 2, 3, 4, 5, 6, 7]
        assert rules.WEEKDAY_LABELS[1] == "周一"
        assert rules.WEEKDAY_LABELS[7] == "周日"


class TestCheckSchedule:
    now = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 Shanghai, Tuesday

    def test_later_today(self):
        assert rules.check_schedule([2], 720, date(2026, 12, 1), self.now) == datetime(
            2026, 12, 1, 4, 0, tzinfo=UTC
        )

    @pytest.mark.parametrize(
        ("weekdays", "minute", "day", "reason"),
        [
            ([2], 480, date(2026, 12, 1), "slot_passed"),  # 08:00 today is over
            ([2], 600, date(2026, 12, 1), "slot_passed"),  # exactly now
            ([1], 720, date(2026, 12, 1), "not_a_column_day"),
            ([1, 2, 3, 4, 5, 6, 7], 720, date(2027, 2, 1), "too_far_ahead"),
            ([1, 2, 3, 4, 5, 6, 7], 720, date(2026, 11, 30), "slot_passed"),
        ],
    )
    def test_refused(self, weekdays, minute, day, reason):
        with pytest.raises(rules.ScheduleRefused) as refused:
            rules.check_schedule(weekdays, minute, day, self.now)
        assert refused.value.reason == reason

    def test_sixty_days_is_allowed(self):
        day = date(2026, 12, 1) + timedelta(days=rules.MAX_DAYS_AHEAD)
        assert rules.check_schedule(list(rules.WEEKDAYS), 720, day, self.now) > self.now


class TestInteractionTargets:
    now = datetime(2026, 12, 1, 2, tzinfo=UTC)

    def candidate(self, contact_id, messaged_days_ago=None, interacted_days_ago=None):
        def ago(days):
            return None if days is None else self.now - timedelta(days=days)

        return rules.Candidate(contact_id, ago(messaged_days_ago), ago(interacted_days_ago))

    def test_rests_recent_and_prefers_active(self):
        candidates = [
            self.candidate(1, messaged_days_ago=10),
            self.candidate(2, messaged_days_ago=1),
            self.candidate(3, messaged_days_ago=0, interacted_days_ago=1),  # resting
            self.candidate(4),
            self.candidate(5, messaged_days_ago=2, interacted_days_ago=5),  # rested enough
        ]
        assert rules.pick_interaction_targets(candidates, 3, self.now, 3, "s") == [2, 5, 1]

    def test_cap(self):
        candidates = [self.candidate(i, messaged_days_ago=i) for i in range(10)]
        assert len(rules.pick_interaction_targets(candidates, 4, self.now, 3, "s")) == 4
        assert rules.pick_interaction_targets(candidates, 0, self.now, 3, "s") == []

    @given(st.lists(st.integers(0, 30), max_size=40), st.integers(0, 50))
    def test_never_over_cap_never_resting(self, days, cap):
        candidates = [
            self.candidate(i, messaged_days_ago=d % 7, interacted_days_ago=d if d % 2 else None)
            for i, d in enumerate(days)
        ]
        chosen = rules.pick_interaction_targets(candidates, cap, self.now, 3, "seed")
        assert len(chosen) <= cap
        assert len(set(chosen)) == len(chosen)
        by_id = {c.contact_id: c for c in candidates}
        cutoff = self.now - timedelta(days=3)
        for contact_id in chosen:
            last = by_id[contact_id].last_interaction_at
            assert last is None or last < cutoff

    def test_remaining(self):
        assert rules.remaining(30, 12) == 18
        assert rules.remaining(30, 31) == 0


class TestSimulatedAudience:
    def test_reproducible_and_rates(self):
        contacts = list(range(1, 20_001))
        first = rules.simulated_reactions(contacts, 800, 150, "seed")
        assert first == rules.simulated_reactions(contacts, 800, 150, "seed")
        likes = sum(1 for r in first if r.kind == "like")
        comments = [r for r in first if r.kind == "comment"]
        assert 1_450 <= likes <= 1_750  # 8% of 20,000
        assert 230 <= len(comments) <= 370  # 1.5%
        assert all(r.text in rules.COMMENT_TEMPLATES for r in comments)
        assert rules.simulated_reactions(contacts, 0, 0, "seed") == []
        assert len(rules.simulated_reactions(contacts[:50], 10_000, 0, "x")) == 50
