"""Attribution (last click within the window, else the binding) and consumer binding decisions."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siyu.commissions.attribution import (
    ATTRIBUTION_SOURCE_LABELS,
    Attribution,
    AttributionSource,
    Click,
    attribute,
    consumer_binding,
    last_click_within,
)
from siyu.commissions.rules import CommissionPolicyInvalid
from siyu.kit.time import SHANGHAI
from siyu.models.promoters import BindingMode

ORDERED_AT = datetime(2026, 11, 11, 0, 30, tzinfo=UTC)
DAY = timedelta(days=1)
ALICE = 11
BOB = 12
CAROL = 13


def click(ago: timedelta, promoter_id: int, link_id: int = 100) -> Click:
    return Click(clicked_at=ORDERED_AT - ago, link_id=link_id, promoter_id=promoter_id)


class TestAttributionTable:
    @pytest.mark.parametrize(
        ("clicks", "binding", "source", "promoter", "link"),
        [
            # Nothing at all: nobody.
            ([], None, AttributionSource.NONE, None, None),
            # Binding only.
            ([], BOB, AttributionSource.BINDING, BOB, None),
            # A click beats the binding.
            ([click(DAY, ALICE, 1)], BOB, AttributionSource.CLICK, ALICE, 1),
            # The last click wins, whatever order they are given in.
            (
                [click(DAY, ALICE, 1), click(2 * DAY, CAROL, 2)],
                None,
                AttributionSource.CLICK,
                ALICE,
                1,
            ),
            (
                [click(2 * DAY, CAROL, 2), click(DAY, ALICE, 1)],
                None,
                AttributionSource.CLICK,
                ALICE,
                1,
            ),
            # Exactly 15 days before the order: still inside (inclusive).
            ([click(15 * DAY, ALICE, 1)], BOB, AttributionSource.CLICK, ALICE, 1),
            # One second more: outside; the binding takes over.
            (
                [click(15 * DAY + timedelta(seconds=1), ALICE, 1)],
                BOB,
                AttributionSource.BINDING,
                BOB,
                None,
            ),
            ([click(16 * DAY, ALICE, 1)], None, AttributionSource.NONE, None, None),
            # A click at the order instant counts; a click after the order never does.
            ([click(timedelta(0), ALICE, 1)], BOB, AttributionSource.CLICK, ALICE, 1),
            ([click(-timedelta(seconds=1), ALICE, 1)], BOB, AttributionSource.BINDING, BOB, None),
            (
                [click(3 * DAY, CAROL, 2), click(-timedelta(minutes=5), ALICE, 1)],
                BOB,
                AttributionSource.CLICK,
                CAROL,
                2,
            ),
            # Same instant: the later one in the sequence (recorded later) wins.
            ([click(DAY, ALICE, 1), click(DAY, CAROL, 2)], None, AttributionSource.CLICK, CAROL, 2),
        ],
    )
    def test_table(
        self,
        clicks: list[Click],
        binding: int | None,
        source: AttributionSource,
        promoter: int | None,
        link: int | None,
    ) -> None:
        result = attribute(ordered_at=ORDERED_AT, clicks=clicks, bound_promoter_id=binding)
        assert (result.source, result.promoter_id, result.link_id) == (source, promoter, link)
        assert result.self_purchase is False

    def test_click_result_carries_the_click_time(self) -> None:
        result = attribute(
            ordered_at=ORDERED_AT, clicks=[click(DAY, ALICE, 7)], bound_promoter_id=None
        )
        assert result == Attribution(
            source=AttributionSource.CLICK,
            promoter_id=ALICE,
            link_id=7,
            clicked_at=ORDERED_AT - DAY,
        )

    @pytest.mark.parametrize(("window", "inside"), [(1, False), (2, True), (7, True)])
    def test_window_is_configurable(self, window: int, inside: bool) -> None:
        clicks = [click(2 * DAY, ALICE)]
        result = attribute(
            ordered_at=ORDERED_AT, clicks=clicks, bound_promoter_id=None, window_days=window
        )
        assert (result.promoter_id == ALICE) is inside

    @pytest.mark.parametrize("window", [0, -1, 91, True])
    def test_bad_window_refused(self, window: Any) -> None:
        with pytest.raises(CommissionPolicyInvalid):
            attribute(ordered_at=ORDERED_AT, clicks=[], bound_promoter_id=None, window_days=window)

    def test_time_zones_compare_as_instants(self) -> None:
        # 15 days before, written in Shanghai time: still the inclusive boundary.
        local = Click(
            clicked_at=(ORDERED_AT - 15 * DAY).astimezone(SHANGHAI), link_id=1, promoter_id=ALICE
        )
        result = attribute(
            ordered_at=ORDERED_AT.astimezone(SHANGHAI), clicks=[local], bound_promoter_id=None
        )
        assert result.promoter_id == ALICE
        assert result.clicked_at == ORDERED_AT - 15 * DAY

    def test_naive_times_refused(self) -> None:
        naive = Click(clicked_at=datetime(2026, 11, 10), link_id=1, promoter_id=ALICE)
        with pytest.raises(ValueError, match="naive"):
            attribute(ordered_at=ORDERED_AT, clicks=[naive], bound_promoter_id=None)

    def test_labels_cover_every_source(self) -> None:
        assert set(ATTRIBUTION_SOURCE_LABELS) == set(AttributionSource)


class TestSelfPurchaseFlag:
    @pytest.mark.parametrize(
        ("clicks", "binding", "buyer", "expected"),
        [
            ([click(DAY, ALICE)], None, ALICE, True),
            ([click(DAY, ALICE)], None, BOB, False),
            ([click(DAY, ALICE)], ALICE, None, False),
            ([], ALICE, ALICE, True),
            ([], BOB, ALICE, False),
            ([], None, ALICE, False),
            # The buyer's own older click does not matter: Carol's later click wins.
            ([click(2 * DAY, ALICE), click(DAY, CAROL)], None, ALICE, False),
        ],
    )
    def test_flag(
        self, clicks: list[Click], binding: int | None, buyer: int | None, expected: bool
    ) -> None:
        result = attribute(
            ordered_at=ORDERED_AT, clicks=clicks, bound_promoter_id=binding, buyer_promoter_id=buyer
        )
        assert result.self_purchase is expected

    def test_self_purchase_keeps_the_attribution(self) -> None:
        result = attribute(
            ordered_at=ORDERED_AT,
            clicks=[click(DAY, ALICE)],
            bound_promoter_id=BOB,
            buyer_promoter_id=ALICE,
        )
        assert (result.promoter_id, result.self_purchase) == (ALICE, True)


class TestAttributionProperty:
    @given(
        offsets=st.lists(st.integers(-5 * 86400, 30 * 86400), max_size=12),
        binding=st.none() | st.just(BOB),
    )
    def test_winner_is_the_latest_click_in_the_window(
        self, offsets: list[int], binding: int | None
    ) -> None:
        clicks = [
            click(timedelta(seconds=offset), promoter_id=1000 + index, link_id=index)
            for index, offset in enumerate(offsets)
        ]
        result = attribute(ordered_at=ORDERED_AT, clicks=clicks, bound_promoter_id=binding)
        eligible = [c for c in clicks if ORDERED_AT - 15 * DAY <= c.clicked_at <= ORDERED_AT]
        if eligible:
            latest = max(c.clicked_at for c in eligible)
            winner = [c for c in eligible if c.clicked_at == latest][-1]
            assert (result.source, result.link_id) == (AttributionSource.CLICK, winner.link_id)
            assert last_click_within(ORDERED_AT, clicks) == winner
        elif binding is not None:
            assert (result.source, result.promoter_id) == (AttributionSource.BINDING, BOB)
        else:
            assert (result.source, result.promoter_id) == (AttributionSource.NONE, None)


class TestConsumerBinding:
    @pytest.mark.parametrize(
        ("mode", "current", "is_new", "expected"),
        [
            (BindingMode.FIRST_BIND_WINS, None, True, ALICE),
            (BindingMode.FIRST_BIND_WINS, None, False, ALICE),
            (BindingMode.FIRST_BIND_WINS, BOB, True, None),
            (BindingMode.FIRST_BIND_WINS, BOB, False, None),
            (BindingMode.NEW_USERS_ONLY, None, True, ALICE),
            (BindingMode.NEW_USERS_ONLY, None, False, None),
            (BindingMode.NEW_USERS_ONLY, BOB, True, None),
            (BindingMode.NEW_USERS_ONLY, BOB, False, None),
            (BindingMode.OVERRIDE, None, True, ALICE),
            (BindingMode.OVERRIDE, None, False, ALICE),
            (BindingMode.OVERRIDE, BOB, True, ALICE),
            (BindingMode.OVERRIDE, BOB, False, ALICE),
        ],
    )
    def test_modes(
        self, mode: BindingMode, current: int | None, is_new: bool, expected: int | None
    ) -> None:
        decision = consumer_binding(
            mode=mode, current_promoter_id=current, candidate_promoter_id=ALICE, is_new=is_new
        )
        assert decision == expected

    @pytest.mark.parametrize(
        ("mode", "current", "is_new"),
        list(itertools.product(BindingMode, [None, BOB], [True, False])),
    )
    def test_never_self_binding(self, mode: BindingMode, current: int | None, is_new: bool) -> None:
        decision = consumer_binding(
            mode=mode,
            current_promoter_id=current,
            candidate_promoter_id=ALICE,
            is_new=is_new,
            buyer_promoter_id=ALICE,
        )
        assert decision is None

    @pytest.mark.parametrize(
        ("mode", "is_new"), list(itertools.product(BindingMode, [True, False]))
    )
    def test_same_promoter_is_no_change(self, mode: BindingMode, is_new: bool) -> None:
        decision = consumer_binding(
            mode=mode, current_promoter_id=ALICE, candidate_promoter_id=ALICE, is_new=is_new
        )
        assert decision is None

    @pytest.mark.parametrize("mode", list(BindingMode))
    def test_frozen_candidate_never_binds(self, mode: BindingMode) -> None:
        decision = consumer_binding(
            mode=mode,
            current_promoter_id=None,
            candidate_promoter_id=ALICE,
            is_new=True,
            candidate_is_active=False,
        )
        assert decision is None

    @pytest.mark.parametrize("mode", list(BindingMode))
    def test_no_candidate_no_change(self, mode: BindingMode) -> None:
        decision = consumer_binding(
            mode=mode, current_promoter_id=BOB, candidate_promoter_id=None, is_new=True
        )
        assert decision is None

    def test_a_promoter_buying_may_bind_to_someone_else(self) -> None:
        decision = consumer_binding(
            mode=BindingMode.FIRST_BIND_WINS,
            current_promoter_id=None,
            candidate_promoter_id=ALICE,
            is_new=True,
            buyer_promoter_id=BOB,
        )
        assert decision == ALICE
