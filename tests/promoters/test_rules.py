"""Pure rules: binding decisions (every combination), ancestor chains, grade upgrades."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siyu.models import BindingMode
from siyu.promoters.rules import (
    BindingRefusal,
    GradeRule,
    TeamStats,
    ancestor_chain,
    binding_refusal,
    grade_upgrade,
    meets,
)

PROMOTER = 1
CANDIDATE = 2
OTHER = 3


def decide(
    *,
    promoter_id: int | None = PROMOTER,
    current: int | None = None,
    candidate: int = CANDIDATE,
    ancestors: tuple[int, ...] = (),
    active: bool = True,
    is_new: bool = False,
    mode: BindingMode = BindingMode.FIRST_BIND_WINS,
) -> BindingRefusal | None:
    return binding_refusal(
        promoter_id=promoter_id,
        current_inviter_id=current,
        candidate_inviter_id=candidate,
        candidate_ancestor_ids=ancestors,
        candidate_is_active=active,
        is_new=is_new,
        mode=mode,
    )


class TestBindingScenarios:
    @pytest.mark.parametrize(
        ("mode", "is_new", "current", "expected"),
        [
            (BindingMode.FIRST_BIND_WINS, True, None, None),
            (BindingMode.FIRST_BIND_WINS, False, None, None),
            (BindingMode.FIRST_BIND_WINS, False, OTHER, BindingRefusal.ALREADY_BOUND),
            (BindingMode.NEW_USERS_ONLY, True, None, None),
            (BindingMode.NEW_USERS_ONLY, False, None, BindingRefusal.NOT_NEW),
            (BindingMode.NEW_USERS_ONLY, False, OTHER, BindingRefusal.NOT_NEW),
            (BindingMode.NEW_USERS_ONLY, True, OTHER, BindingRefusal.ALREADY_BOUND),
            (BindingMode.OVERRIDE, True, None, None),
            (BindingMode.OVERRIDE, False, None, None),
            (BindingMode.OVERRIDE, False, OTHER, None),
        ],
    )
    def test_mode_decides_a_valid_candidate(
        self, mode: BindingMode, is_new: bool, current: int | None, expected: BindingRefusal | None
    ) -> None:
        assert decide(mode=mode, is_new=is_new, current=current) == expected

    @pytest.mark.parametrize("mode", list(BindingMode))
    def test_self_binding_is_refused_in_every_mode(self, mode: BindingMode) -> None:
        assert decide(candidate=PROMOTER, mode=mode, is_new=True) == BindingRefusal.SELF_BINDING

    @pytest.mark.parametrize("mode", list(BindingMode))
    def test_candidate_descending_from_promoter_is_a_cycle(self, mode: BindingMode) -> None:
        # PROMOTER recruited OTHER, OTHER recruited CANDIDATE: CANDIDATE's chain holds PROMOTER.
        refusal = decide(ancestors=(OTHER, PROMOTER), mode=mode, is_new=True)
        assert refusal == BindingRefusal.CYCLE

    @pytest.mark.parametrize("mode", list(BindingMode))
    def test_frozen_candidate_cannot_recruit(self, mode: BindingMode) -> None:
        assert decide(active=False, mode=mode, is_new=True) == BindingRefusal.INVITER_FROZEN

    @pytest.mark.parametrize("mode", list(BindingMode))
    def test_binding_again_to_current_inviter_is_refused(self, mode: BindingMode) -> None:
        refusal = decide(current=CANDIDATE, mode=mode)
        assert refusal == BindingRefusal.ALREADY_BOUND_TO_INVITER

    @pytest.mark.parametrize("mode", list(BindingMode))
    def test_promoter_being_created_may_bind_to_any_active_promoter(
        self, mode: BindingMode
    ) -> None:
        assert decide(promoter_id=None, ancestors=(5, 6), is_new=True, mode=mode) is None

    def test_unrelated_ancestors_are_no_cycle(self) -> None:
        assert decide(ancestors=(OTHER, 7, 8), mode=BindingMode.OVERRIDE) is None

    def test_explanation_order_self_before_frozen_before_mode(self) -> None:
        assert decide(candidate=PROMOTER, active=False, current=OTHER) == (
            BindingRefusal.SELF_BINDING
        )
        assert decide(active=False, current=OTHER) == BindingRefusal.INVITER_FROZEN
        assert decide(current=OTHER, ancestors=(PROMOTER,)) == BindingRefusal.ALREADY_BOUND


class TestBindingTruthTable:
    """Every combination of the inputs, checked against the rule stated in product terms."""

    def test_every_combination(self) -> None:
        combinations = itertools.product(
            list(BindingMode),
            [True, False],  # is_new
            [None, CANDIDATE, OTHER],  # current inviter
            [CANDIDATE, PROMOTER],  # candidate (PROMOTER = self)
            [True, False],  # candidate active
            [(), (OTHER,), (OTHER, PROMOTER)],  # candidate's ancestors
        )
        checked = 0
        for mode, is_new, current, candidate, active, ancestors in combinations:
            if candidate == PROMOTER and (current == PROMOTER or PROMOTER in ancestors):
                continue  # a promoter that is its own inviter or ancestor cannot exist
            refusal = decide(
                current=current,
                candidate=candidate,
                ancestors=ancestors,
                active=active,
                is_new=is_new,
                mode=mode,
            )
            is_self = candidate == PROMOTER
            is_cycle = PROMOTER in ancestors
            is_same = current == candidate
            basic_ok = not is_self and not is_cycle and active and not is_same
            if mode == BindingMode.OVERRIDE:
                expected_allowed = basic_ok
            elif mode == BindingMode.FIRST_BIND_WINS:
                expected_allowed = basic_ok and current is None
            else:
                expected_allowed = basic_ok and current is None and is_new
            assert (refusal is None) == expected_allowed, (mode, is_new, current, candidate)
            if is_self:
                assert refusal == BindingRefusal.SELF_BINDING
            checked += 1
        assert checked == 108 + 72  # all candidates, plus self-candidates in possible states


class TestBindingNeverCreatesCycles:
    @settings(max_examples=300, deadline=None)
    @given(
        steps=st.lists(
            st.tuples(
                st.integers(min_value=0, max_value=7),  # promoter (0 = sign up a new one)
                st.integers(min_value=1, max_value=7),  # candidate inviter
                st.sampled_from(list(BindingMode)),
                st.booleans(),  # candidate frozen
            ),
            max_size=60,
        )
    )
    def test_no_sequence_of_bindings_creates_a_cycle_or_self_binding(
        self, steps: list[tuple[int, int, BindingMode, bool]]
    ) -> None:
        inviter: dict[int, int | None] = {number: None for number in range(1, 8)}
        frozen: set[int] = set()
        next_id = 8
        for promoter, candidate, mode, freeze in steps:
            if freeze:
                frozen.add(candidate)
            else:
                frozen.discard(candidate)
            if candidate not in inviter:
                continue
            is_new = promoter == 0
            promoter_id = None if is_new else promoter
            refusal = binding_refusal(
                promoter_id=promoter_id,
                current_inviter_id=None if promoter_id is None else inviter[promoter_id],
                candidate_inviter_id=candidate,
                candidate_ancestor_ids=ancestor_chain(inviter, candidate),
                candidate_is_active=candidate not in frozen,
                is_new=is_new,
                mode=mode,
            )
            if refusal is None:
                if promoter_id is None:
                    promoter_id = next_id
                    next_id += 1
                inviter[promoter_id] = candidate
            for start in inviter:
                # Walk the raw mapping: it must end at None without revisiting anybody.
                seen = {start}
                current = inviter[start]
                assert current != start
                while current is not None:
                    assert current not in seen, f"cycle through {start}"
                    seen.add(current)
                    current = inviter[current]


class TestAncestorChain:
    def test_nearest_first_and_excludes_the_promoter(self) -> None:
        assert ancestor_chain({4: 3, 3: 2, 2: 1, 1: None}, 4) == [3, 2, 1]

    def test_root_has_no_ancestors(self) -> None:
        assert ancestor_chain({1: None}, 1) == []

    def test_unknown_promoter_has_no_ancestors(self) -> None:
        assert ancestor_chain({}, 9) == []

    def test_corrupt_cycle_terminates(self) -> None:
        assert ancestor_chain({1: 2, 2: 3, 3: 1}, 1) == [2, 3]

    def test_limit_caps_the_walk(self) -> None:
        chain = {number: number - 1 for number in range(1, 50)}
        assert ancestor_chain(chain, 49, limit=5) == [48, 47, 46, 45, 44]


NORMAL = GradeRule(grade_id=1, level=0, min_direct_recruits=0, min_team_size=0, min_gmv_fen=0)
SILVER = GradeRule(grade_id=2, level=1, min_direct_recruits=5, min_team_size=10, min_gmv_fen=0)
GOLD = GradeRule(grade_id=3, level=2, min_direct_recruits=20, min_team_size=50, min_gmv_fen=0)
LADDER = [NORMAL, SILVER, GOLD]


class TestGradeConditions:
    def test_meets_needs_every_condition(self) -> None:
        assert meets(SILVER, TeamStats(direct_recruits=5, team_size=10, gmv_fen=0))
        assert not meets(SILVER, TeamStats(direct_recruits=4, team_size=10, gmv_fen=0))
        assert not meets(SILVER, TeamStats(direct_recruits=5, team_size=9, gmv_fen=0))

    def test_gmv_condition_is_checked(self) -> None:
        rule = GradeRule(
            grade_id=9, level=3, min_direct_recruits=0, min_team_size=0, min_gmv_fen=100_00
        )
        assert not meets(rule, TeamStats(direct_recruits=99, team_size=99, gmv_fen=99_99))
        assert meets(rule, TeamStats(direct_recruits=0, team_size=0, gmv_fen=100_00))


class TestGradeUpgrade:
    def test_exactly_at_threshold_upgrades(self) -> None:
        stats = TeamStats(direct_recruits=5, team_size=10, gmv_fen=0)
        assert grade_upgrade(0, LADDER, stats) == SILVER

    def test_below_threshold_stays(self) -> None:
        stats = TeamStats(direct_recruits=4, team_size=40, gmv_fen=0)
        assert grade_upgrade(0, LADDER, stats) is None

    def test_skips_to_the_highest_qualifying_grade(self) -> None:
        stats = TeamStats(direct_recruits=20, team_size=50, gmv_fen=0)
        assert grade_upgrade(0, LADDER, stats) == GOLD

    def test_never_downgrades(self) -> None:
        empty = TeamStats(direct_recruits=0, team_size=0, gmv_fen=0)
        assert grade_upgrade(2, LADDER, empty) is None
        assert grade_upgrade(1, LADDER, empty) is None

    def test_already_at_qualifying_grade_is_no_change(self) -> None:
        stats = TeamStats(direct_recruits=6, team_size=12, gmv_fen=0)
        assert grade_upgrade(1, LADDER, stats) is None

    def test_no_grades_no_upgrade(self) -> None:
        assert grade_upgrade(0, [], TeamStats(direct_recruits=9, team_size=9, gmv_fen=0)) is None

    @settings(max_examples=200, deadline=None)
    @given(
        level=st.integers(min_value=0, max_value=3),
        direct=st.integers(min_value=0, max_value=100),
        second=st.integers(min_value=0, max_value=100),
    )
    def test_result_is_always_higher_and_met(self, level: int, direct: int, second: int) -> None:
        stats = TeamStats(direct_recruits=direct, team_size=direct + second, gmv_fen=0)
        result = grade_upgrade(level, LADDER, stats)
        if result is not None:
            assert result.level > level
            assert meets(result, stats)
            assert not any(meets(rule, stats) and rule.level > result.level for rule in LADDER)
