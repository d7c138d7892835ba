"""The dashboards' pure rules: channels of consumers and order lines (every input combination),
date ranges, city-tier buckets, repurchase cohorts and export cells."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siyu.analytics import dashboard_rules as rules
from siyu.analytics.dashboard_rules import (
    Channel,
    DashboardChannelInvalid,
    DashboardDateInvalid,
    DashboardRangeInvalid,
    DateRange,
)
from siyu.models.orders import AttributionSource
from siyu.models.pool import ContactSourceKind
from siyu.regions.rules import CityTier

TODAY = date(2026, 11, 11)


# (parent, referrer): (F, F), (F, T), (T, F), (T, T)
CONSUMER_EXPECTED: dict[ContactSourceKind, tuple[Channel, ...]] = {
    ContactSourceKind.CAMPAIGN: (Channel.FISSION,) * 4,
    ContactSourceKind.CODE: (Channel.CODE, Channel.FISSION, Channel.FISSION, Channel.FISSION),
    ContactSourceKind.GROUP_CODE: (
        Channel.CODE,
        Channel.FISSION,
        Channel.FISSION,
        Channel.FISSION,
    ),
    ContactSourceKind.COURIER: (Channel.COURIER,) * 4,
    ContactSourceKind.PROMOTER: (Channel.PROMOTER,) * 4,
    ContactSourceKind.IMPORT: (Channel.IMPORT,) * 4,
    ContactSourceKind.CHANNEL: (Channel.OTHER,) * 4,
}


class TestConsumerChannel:
    def test_every_combination(self) -> None:
        assert set(CONSUMER_EXPECTED) == set(ContactSourceKind)
        for kind, answers in CONSUMER_EXPECTED.items():
            flags = list(itertools.product((False, True), repeat=2))
            got = tuple(rules.consumer_channel(kind, parent, ref) for parent, ref in flags)
            assert got == answers, kind

    def test_accepts_plain_strings(self) -> None:
        assert rules.consumer_channel("courier", False, False) == Channel.COURIER

    def test_unknown_kind_refused(self) -> None:
        with pytest.raises(ValueError, match="tv"):
            rules.consumer_channel("tv", False, False)

    def test_results_are_consumer_channels(self) -> None:
        for kind in ContactSourceKind:
            for parent, ref in itertools.product((False, True), repeat=2):
                assert rules.consumer_channel(kind, parent, ref) in rules.CONSUMER_CHANNELS


class TestOrderChannel:
    @pytest.mark.parametrize(
        ("attribution", "has_link", "sub_id", "expected"),
        [
            (AttributionSource.CLICK, True, "群发#12", Channel.BROADCAST),
            (AttributionSource.BINDING, True, "群发#12", Channel.BROADCAST),
            (AttributionSource.NONE, True, "群发#12", Channel.BROADCAST),
            (AttributionSource.CLICK, True, "朋友圈", Channel.PROMOTER_LINK),
            (AttributionSource.CLICK, True, "", Channel.PROMOTER_LINK),
            (AttributionSource.CLICK, True, None, Channel.PROMOTER_LINK),
            (AttributionSource.CLICK, True, "x群发#1", Channel.PROMOTER_LINK),
            (AttributionSource.CLICK, False, None, Channel.PROMOTER_LINK),
            (AttributionSource.CLICK, False, "群发#1", Channel.PROMOTER_LINK),
            (AttributionSource.BINDING, True, "", Channel.PROMOTER_LINK),
            (AttributionSource.BINDING, False, None, Channel.BINDING),
            (AttributionSource.BINDING, False, "群发#1", Channel.BINDING),
            (AttributionSource.NONE, True, "", Channel.PROMOTER_LINK),
            (AttributionSource.NONE, False, None, Channel.NATURAL),
            (AttributionSource.NONE, False, "群发#1", Channel.NATURAL),
        ],
    )
    def test_table(
        self, attribution: AttributionSource, has_link: bool, sub_id: str | None, expected: Channel
    ) -> None:
        assert rules.order_channel(attribution, has_link, sub_id) == expected

    @given(
        st.sampled_from(list(AttributionSource)),
        st.booleans(),
        st.one_of(st.none(), st.text(max_size=12)),
    )
    def test_always_an_order_channel(
        self, attribution: AttributionSource, has_link: bool, sub_id: str | None
    ) -> None:
        channel = rules.order_channel(attribution, has_link, sub_id)
        assert channel in rules.ORDER_CHANNELS
        # Only a link makes a broadcast; without any attribution and link it is natural.
        assert (channel == Channel.BROADCAST) == (has_link and (sub_id or "").startswith("群发#"))
        if not has_link and attribution == AttributionSource.NONE:
            assert channel == Channel.NATURAL


class TestParseChannel:
    def test_by_value_or_label(self) -> None:
        assert rules.parse_channel("broadcast") == Channel.BROADCAST
        assert rules.parse_channel("裂变") == Channel.FISSION
        assert rules.parse_channel(" 自然 ") == Channel.NATURAL

    def test_empty_is_all(self) -> None:
        assert rules.parse_channel(None) is None
        assert rules.parse_channel("  ") is None

    def test_unknown(self) -> None:
        with pytest.raises(DashboardChannelInvalid) as raised:
            rules.parse_channel("电视")
        assert raised.value.code == "dashboard_channel_invalid"
        assert raised.value.zh == "未知的渠道：电视。"

    def test_labels_cover_channels(self) -> None:
        assert set(rules.CHANNEL_LABELS) == set(Channel)
        assert set(rules.CONSUMER_CHANNELS) | set(rules.ORDER_CHANNELS) == set(Channel)
        assert not set(rules.CONSUMER_CHANNELS) & set(rules.ORDER_CHANNELS)


class TestDateRange:
    def test_default_last_30_days(self) -> None:
        value = rules.date_range(None, None, TODAY)
        assert (value.start, value.end) == (date(2026, 10, 13), TODAY)
        assert len(value.days) == 30

    def test_start_only(self) -> None:
        value = rules.date_range("2026-11-01", "", TODAY)
        assert (value.start, value.end) == (date(2026, 11, 1), TODAY)

    def test_end_only(self) -> None:
        value = rules.date_range(None, "2026-10-31", TODAY)
        assert (value.start, value.end) == (date(2026, 10, 2), date(2026, 10, 31))

    def test_single_day(self) -> None:
        value = rules.date_range("2026-11-11", "2026-11-11", TODAY)
        assert value.days == [TODAY]

    def test_longest(self) -> None:
        start = TODAY - timedelta(days=rules.MAX_DAYS - 1)
        assert len(rules.date_range(start.isoformat(), TODAY.isoformat(), TODAY).days) == 366
        with pytest.raises(DashboardRangeInvalid):
            rules.date_range((start - timedelta(days=1)).isoformat(), TODAY.isoformat(), TODAY)

    def test_reversed(self) -> None:
        with pytest.raises(DashboardRangeInvalid) as raised:
            rules.date_range("2026-11-12", "2026-11-11", TODAY)
        assert raised.value.en == (
            "The date range must start on or before its end and span at most 366 days."
        )
        assert raised.value.zh == "日期范围有误：开始日期不能晚于结束日期，且最长 366 天。"

    @pytest.mark.parametrize("text", ["2026-02-30", "11/11/2026", "明天", "2026-1-1x"])
    def test_bad_start(self, text: str) -> None:
        with pytest.raises(DashboardDateInvalid) as raised:
            rules.date_range(text, None, TODAY)
        assert raised.value.code == "dashboard_date_invalid"
        assert raised.value.zh == "开始日期格式不对，请填写如 2026-11-11 的日期。"
        assert raised.value.en.startswith("start must be a date like 2026-11-11")

    def test_bad_end(self) -> None:
        with pytest.raises(DashboardDateInvalid) as raised:
            rules.date_range(None, "nope", TODAY)
        assert raised.value.zh.startswith("结束日期格式不对")

    def test_week_start(self) -> None:
        assert rules.week_start(date(2026, 11, 8)) == date(2026, 11, 2)  # Sunday
        assert rules.week_start(date(2026, 11, 2)) == date(2026, 11, 2)  # Monday
        assert rules.week_start(date(2026, 11, 9)) == date(2026, 11, 9)


class TestTierShare:
    def test_buckets(self) -> None:
        share = rules.tier_share(
            [
                (CityTier.TIER_1, 1),
                (CityTier.TIER_3, 2),
                (CityTier.TIER_6, 4),
                (None, 3),
                (CityTier.TIER_3, 1),
            ]
        )
        assert share.counts == {
            "一线": 1,
            "新一线": 0,
            "二线": 0,
            "三线": 3,
            "四线": 0,
            "五线": 0,
            "六线": 4,
            "未知": 3,
        }
        assert (share.lower, share.known, share.total) == (7, 8, 11)

    def test_empty(self) -> None:
        share = rules.tier_share([])
        assert (share.lower, share.known, share.total) == (0, 0, 0)
        assert list(share.counts) == list(rules.TIER_ORDER)

    @given(
        st.lists(
            st.tuples(st.one_of(st.none(), st.sampled_from(list(CityTier))), st.integers(0, 50))
        )
    )
    def test_totals(self, rows: list[tuple[CityTier | None, int]]) -> None:
        share = rules.tier_share(rows)
        assert sum(share.counts.values()) == share.total == sum(n for _, n in rows)
        assert share.lower <= share.known <= share.total
        assert share.total - share.known == share.counts["未知"]


class TestCohorts:
    def test_weeks_after_the_first(self) -> None:
        mon = date(2026, 11, 2)
        result = rules.cohorts(
            {
                1: [mon, mon + timedelta(days=6), mon + timedelta(days=7)],  # same week, week 1
                2: [mon + timedelta(days=3), mon + timedelta(days=15), mon + timedelta(days=16)],
                3: [mon + timedelta(days=9)],  # next cohort
                4: [mon + timedelta(days=9), mon + timedelta(days=9 + 7 * 8)],  # week 8
                5: [mon, mon + timedelta(days=7 * 9)],  # week 9: past N
                6: [],
            },
            weeks=8,
        )
        assert [(c.week, c.consumers, c.returned) for c in result] == [
            (mon, 3, [1, 1, 0, 0, 0, 0, 0, 0]),
            (mon + timedelta(days=7), 2, [0, 0, 0, 0, 0, 0, 0, 1]),
        ]

    def test_within(self) -> None:
        mon = date(2026, 11, 2)
        result = rules.cohorts(
            {1: [mon], 2: [mon - timedelta(days=1), mon + timedelta(days=7)]},
            weeks=2,
            within=DateRange(mon, mon + timedelta(days=6)),
        )
        assert [(c.consumers, c.returned) for c in result] == [(1, [0, 0])]

    def test_order_of_days_does_not_matter(self) -> None:
        mon = date(2026, 11, 2)
        a = rules.cohorts({1: [mon + timedelta(days=8), mon]}, weeks=2)
        assert [(c.week, c.returned) for c in a] == [(mon, [1, 0])]

    @given(
        st.dictionaries(
            st.integers(1, 30),
            st.lists(st.dates(date(2026, 1, 1), date(2026, 12, 31)), min_size=1, max_size=6),
            max_size=15,
        )
    )
    def test_bounds(self, data: dict[int, list[date]]) -> None:
        result = rules.cohorts(data, weeks=4)
        assert sum(c.consumers for c in result) == len(data)
        for cohort in result:
            assert cohort.week.weekday() == 0
            assert len(cohort.returned) == 4
            assert all(0 <= n <= cohort.consumers for n in cohort.returned)


class TestSafeCell:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [("=1+1", "'=1+1"), ("+86", "'+86"), ("-1", "'-1"), ("@x", "'@x"), ("甲", "甲"), ("", "")],
    )
    def test_formula_guard(self, value: str, expected: str) -> None:
        assert rules.safe_cell(value) == expected
