"""The commission state machine (explicit table) and when a pending commission settles."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siyu.commissions.rules import (
    COMMISSION_EVENT_LABELS,
    COMMISSION_STATE_LABELS,
    TERMINAL_STATES,
    TRANSITIONS,
    CommissionEvent,
    CommissionPolicyInvalid,
    CommissionState,
    CommissionTransitionInvalid,
    paid_out_prefix,
    settle_due,
    settles_at,
    transition,
)
from siyu.errors import AppError, Conflict
from siyu.kit.time import SHANGHAI

S = CommissionState
E = CommissionEvent

# The whole table, written out again by hand: every pair not listed here must raise.
EXPECTED = {
    (S.ESTIMATED, E.RECEIVE): S.PENDING,
    (S.ESTIMATED, E.CANCEL): S.INVALID,
    (S.ESTIMATED, E.PARTIAL_REFUND): S.ESTIMATED,
    (S.ESTIMATED, E.FULL_REFUND): S.INVALID,
    (S.ESTIMATED, E.HOLD): S.ON_HOLD,
    (S.PENDING, E.SETTLE): S.SETTLED,
    (S.PENDING, E.CANCEL): S.INVALID,
    (S.PENDING, E.PARTIAL_REFUND): S.PENDING,
    (S.PENDING, E.FULL_REFUND): S.INVALID,
    (S.PENDING, E.HOLD): S.ON_HOLD,
    (S.ON_HOLD, E.RECEIVE): S.ON_HOLD,
    (S.ON_HOLD, E.CANCEL): S.INVALID,
    (S.ON_HOLD, E.PARTIAL_REFUND): S.ON_HOLD,
    (S.ON_HOLD, E.FULL_REFUND): S.INVALID,
    (S.ON_HOLD, E.RELEASE): S.ESTIMATED,
    (S.ON_HOLD, E.REJECT): S.INVALID,
    (S.SETTLED, E.PAY_OUT): S.PAID_OUT,
    (S.SETTLED, E.PARTIAL_REFUND): S.SETTLED,
    (S.SETTLED, E.FULL_REFUND): S.REVERSED,
    (S.PAID_OUT, E.PARTIAL_REFUND): S.PAID_OUT,
    (S.PAID_OUT, E.FULL_REFUND): S.REVERSED,
}
ALL_PAIRS = list(itertools.product(CommissionState, CommissionEvent))


class TestTransitionTable:
    def test_table_is_exactly_the_expected_one(self) -> None:
        assert dict(TRANSITIONS) == EXPECTED

    @pytest.mark.parametrize(("state", "event"), list(EXPECTED))
    def test_legal(self, state: CommissionState, event: CommissionEvent) -> None:
        assert transition(state, event) == EXPECTED[(state, event)]

    @pytest.mark.parametrize(
        ("state", "event"), [pair for pair in ALL_PAIRS if pair not in EXPECTED]
    )
    def test_illegal_raises_409(self, state: CommissionState, event: CommissionEvent) -> None:
        with pytest.raises(CommissionTransitionInvalid) as raised:
            transition(state, event)
        error = raised.value
        assert error.status == 409
        assert error.code == "commission_transition_invalid"
        assert state.value in error.en
        assert event.value in error.en
        assert COMMISSION_STATE_LABELS[state] in error.zh
        assert COMMISSION_EVENT_LABELS[event] in error.zh

    def test_error_is_an_app_conflict(self) -> None:
        assert issubclass(CommissionTransitionInvalid, Conflict)
        assert issubclass(CommissionTransitionInvalid, AppError)

    def test_labels_cover_every_value(self) -> None:
        assert set(COMMISSION_STATE_LABELS) == set(CommissionState)
        assert set(COMMISSION_EVENT_LABELS) == set(CommissionEvent)

    @pytest.mark.parametrize("state", sorted(TERMINAL_STATES))
    def test_terminal_states_have_no_exit(self, state: CommissionState) -> None:
        assert not [pair for pair in TRANSITIONS if pair[0] == state]

    def test_only_pending_settles_and_only_settled_pays_out(self) -> None:
        settles = [state for (state, event) in TRANSITIONS if event == E.SETTLE]
        pays = [state for (state, event) in TRANSITIONS if event == E.PAY_OUT]
        assert (settles, pays) == ([S.PENDING], [S.SETTLED])

    def test_happy_path(self) -> None:
        state = S.ESTIMATED
        for event in (E.RECEIVE, E.SETTLE, E.PAY_OUT):
            state = transition(state, event)
        assert state == S.PAID_OUT

    def test_hold_and_release_then_received_again(self) -> None:
        state = transition(S.PENDING, E.HOLD)
        state = transition(state, E.RECEIVE)  # the order's receipt while under review
        state = transition(state, E.RELEASE)
        assert state == S.ESTIMATED
        assert transition(state, E.RECEIVE) == S.PENDING

    @given(st.lists(st.sampled_from(list(CommissionEvent)), max_size=30))
    def test_held_money_never_reaches_a_payout_without_release(
        self, events: list[CommissionEvent]
    ) -> None:
        state = S.ESTIMATED
        held = False
        for event in events:
            try:
                following = transition(state, event)
            except CommissionTransitionInvalid:
                continue
            if state == S.ON_HOLD:
                assert following in (S.ON_HOLD, S.ESTIMATED, S.INVALID)
            if following == S.ON_HOLD:
                held = True
            if event == E.RELEASE:
                held = False
            if held:
                assert following not in (S.SETTLED, S.PAID_OUT)
            state = following


NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


class TestSettleDue:
    @pytest.mark.parametrize(
        ("received_offset", "hold_days", "aftersale_open", "expected"),
        [
            (timedelta(days=7), 7, False, True),  # exactly at the end of the hold: due
            (timedelta(days=7, seconds=-1), 7, False, False),  # one second early
            (timedelta(days=8), 7, False, True),
            (timedelta(days=8), 7, True, False),  # open after-sale blocks settlement
            (timedelta(0), 0, False, True),  # hold 0: due at receipt
            (timedelta(0), 0, True, False),
            (timedelta(days=13), 14, False, False),
            (timedelta(days=14), 14, False, True),
            (timedelta(days=90), 90, False, True),
            (timedelta(days=89, hours=23), 90, False, False),
            (timedelta(days=-1), 0, False, False),  # received in the future (clock skew)
        ],
    )
    def test_table(
        self, received_offset: timedelta, hold_days: int, aftersale_open: bool, expected: bool
    ) -> None:
        assert settle_due(NOW - received_offset, hold_days, NOW, aftersale_open) is expected

    def test_not_received_never_settles(self) -> None:
        assert settle_due(None, 0, NOW, False) is False

    @pytest.mark.parametrize("hold_days", [1, 3, 100, -7])
    def test_hold_days_must_be_allowed(self, hold_days: int) -> None:
        with pytest.raises(CommissionPolicyInvalid):
            settle_due(NOW, hold_days, NOW, False)

    @pytest.mark.parametrize(
        ("received", "now"),
        [(datetime(2026, 11, 1), NOW), (NOW, datetime(2026, 11, 20))],
    )
    def test_naive_times_refused(self, received: datetime, now: datetime) -> None:
        with pytest.raises(ValueError, match="naive"):
            settle_due(received, 7, now, False)

    def test_other_time_zones_compare_as_instants(self) -> None:
        received = (NOW - timedelta(days=7)).astimezone(SHANGHAI)
        assert settle_due(received, 7, NOW, False) is True
        assert settles_at(received, 7) == NOW
        assert settles_at(received, 7).tzinfo == UTC

    @given(
        received=st.datetimes(
            min_value=datetime(2020, 1, 1),
            max_value=datetime(2030, 1, 1),
            timezones=st.just(UTC),
        ),
        hold_days=st.sampled_from([0, 7, 14, 30, 60, 90]),
        elapsed=st.integers(0, 100 * 86400),
    )
    def test_due_exactly_when_the_hold_has_elapsed(
        self, received: datetime, hold_days: int, elapsed: int
    ) -> None:
        now = received + timedelta(seconds=elapsed)
        assert settle_due(received, hold_days, now, False) is (elapsed >= hold_days * 86400)
        assert settle_due(received, hold_days, now, True) is False


class TestPaidOutPrefix:
    @pytest.mark.parametrize(
        ("amounts", "budget", "expected"),
        [
            ([], 10_000, 0),
            ([4500, 4500], 0, 0),
            ([4500, 4500], -300, 0),
            ([4500, 4500], 4499, 0),
            ([4500, 4500], 4500, 1),
            ([4500, 4500], 8999, 1),
            ([4500, 4500], 9000, 2),
            ([4500, 4500], 50_000, 2),
            ([1, 2, 3], 3, 2),
            ([0, 243, 0], 243, 3),
            ([500, 100], 550, 1),  # oldest first: never skips ahead to a smaller later one
        ],
    )
    def test_longest_covered_prefix(self, amounts: list[int], budget: int, expected: int) -> None:
        assert paid_out_prefix(amounts, budget) == expected

    def test_negative_amount_refused(self) -> None:
        with pytest.raises(ValueError, match="negative"):
            paid_out_prefix([100, -1], 1000)

    @given(
        amounts=st.lists(st.integers(0, 1_000_000), max_size=30),
        budget=st.integers(-1000, 10_000_000),
    )
    def test_prefix_is_within_budget_and_maximal(self, amounts: list[int], budget: int) -> None:
        count = paid_out_prefix(amounts, budget)
        assert 0 <= count <= len(amounts)
        if count:
            assert sum(amounts[:count]) <= budget
        if count < len(amounts):
            assert budget <= 0 or sum(amounts[: count + 1]) > budget
