from __future__ import annotations

import random
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siyu.models import AccountStatus, RoutingStrategy
from siyu.pool import rules
from siyu.pool.rules import AccountSnapshot, Rule

# 2026-11-11 10:30 in Shanghai.
NOW = datetime(2026, 11, 11, 2, 30, tzinfo=UTC)
TODAY = date(2026, 11, 11)


def account(account_id: int, **values: object) -> AccountSnapshot:
    return AccountSnapshot(id=account_id, **values)  # type: ignore[arg-type]


class TestParseRule:
    def test_empty_rule_filters_nothing(self) -> None:
        assert rules.parse_rule({}) == Rule()

    def test_round_trip(self) -> None:
        raw = {
            "account_ids": [3, 1],
            "city_codes": ["110100"],
            "product_lines": ["美妆"],
            "owner_promoter_id": None,
            "working_from_minute": 540,
            "working_until_minute": 1320,
            "weights": {"1": 3},
        }
        parsed = rules.parse_rule(raw)
        assert parsed.account_ids == frozenset({1, 3})
        assert parsed.filters_owner is True
        assert parsed.owner_promoter_id is None
        assert parsed.weights == {1: 3}
        assert rules.parse_rule(parsed.as_json()) == parsed
        assert parsed.as_json()["account_ids"] == [1, 3]

    @pytest.mark.parametrize(
        "raw",
        [
            {"unknown": 1},
            {"account_ids": "1,2"},
            {"account_ids": [True]},
            {"account_ids": ["1"]},
            {"city_codes": ["1101"]},
            {"city_codes": ["11010a"]},
            {"owner_promoter_id": "x"},
            {"working_from_minute": 1441},
            {"working_until_minute": -1},
            {"weights": {"a": 1}},
            {"weights": {"1": -1}},
            {"weights": [1]},
            {"account_ids": list(range(1001))},
        ],
    )
    def test_refuses_malformed(self, raw: dict[str, object]) -> None:
        with pytest.raises((rules.RuleInvalid, rules.WorkingHoursInvalid)):
            rules.parse_rule(raw)


class TestWindow:
    @pytest.mark.parametrize(
        ("minute", "start", "until", "expected"),
        [
            (0, 0, 1440, True),
            (1439, 0, 1440, True),
            (539, 540, 1320, False),
            (540, 540, 1320, True),
            (1319, 540, 1320, True),
            (1320, 540, 1320, False),
            (1200, 1200, 120, True),
            (60, 1200, 120, True),
            (120, 1200, 120, False),
            (600, 1200, 120, False),
            (600, 600, 600, False),
        ],
    )
    def test_window(self, minute: int, start: int, until: int, expected: bool) -> None:
        assert rules.in_window(minute, start, until) is expected

    def test_minute_of_day_is_shanghai(self) -> None:
        assert rules.minute_of_day(NOW) == 10 * 60 + 30


class TestRefusal:
    @pytest.mark.parametrize(
        ("values", "reason"),
        [
            ({}, None),
            ({"deleted": True}, "deleted"),
            ({"status": AccountStatus.RESTING}, "status:resting"),
            ({"status": AccountStatus.BANNED}, "status:banned"),
            ({"restricted": True}, "unhealthy"),
            ({"recent_failures": 5}, "unhealthy"),
            ({"recent_failures": 4}, None),
            ({"friends_used": 10, "max_friends": 10}, "friends_full"),
            ({"friends_used": 9, "max_friends": 10}, None),
            ({"adds_day": TODAY, "passive_adds_today": 200}, "daily_adds_full"),
            ({"adds_day": TODAY, "passive_adds_today": 199}, None),
            # Yesterday's counter does not count today.
            ({"adds_day": date(2026, 11, 10), "passive_adds_today": 200}, None),
            ({"passive_adds_per_day": 0}, "daily_adds_full"),
            ({"working_from_minute": 660}, "outside_working_hours"),
            ({"working_until_minute": 630}, "outside_working_hours"),
            ({"working_until_minute": 631}, None),
        ],
    )
    def test_reasons(self, values: dict[str, object], reason: str | None) -> None:
        assert rules.refusal(account(1, **values), NOW) == reason

    def test_shanghai_day_boundary(self) -> None:
        # 16:00 UTC is midnight in Shanghai: a new day's counters.
        late = datetime(2026, 11, 11, 16, 0, tzinfo=UTC)
        full_yesterday = account(1, adds_day=TODAY, passive_adds_today=200)
        assert rules.refusal(full_yesterday, late) is None


class TestMatches:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ({}, True),
            ({"account_ids": [1]}, True),
            ({"account_ids": [2]}, False),
            ({"persona_ids": [7]}, True),
            ({"persona_ids": [8]}, False),
            ({"province_codes": ["110000"]}, True),
            ({"city_codes": ["310100"]}, False),
            ({"district_codes": ["110105"]}, True),
            ({"product_lines": ["美妆", "箱包"]}, True),
            ({"product_lines": ["生鲜"]}, False),
            ({"owner_promoter_id": None}, True),
            ({"owner_promoter_id": 4}, False),
        ],
    )
    def test_filters(self, raw: dict[str, object], expected: bool) -> None:
        snapshot = account(
            1,
            persona_id=7,
            province_code="110000",
            city_code="110100",
            district_code="110105",
            product_lines=frozenset({"箱包"}),
        )
        assert rules.matches(rules.parse_rule(raw), snapshot) is expected


class TestOrder:
    def test_least_loaded_first(self) -> None:
        accounts = [
            account(1, friends_used=50, max_friends=100),
            account(2, friends_used=10, max_friends=100),
            account(3, friends_used=30, max_friends=100),
        ]
        order = rules.order_candidates(accounts, RoutingStrategy.LEAST_LOADED, random.Random(1))
        assert order == [2, 3, 1]

    def test_least_loaded_uses_share_not_count(self) -> None:
        accounts = [account(1, friends_used=50, max_friends=1000), account(2, friends_used=40)]
        accounts[1] = account(2, friends_used=40, max_friends=100)
        order = rules.order_candidates(accounts, RoutingStrategy.LEAST_LOADED, random.Random(1))
        assert order == [1, 2]

    def test_least_loaded_ties_spread(self) -> None:
        accounts = [account(i) for i in range(1, 11)]
        firsts = {
            rules.order_candidates(accounts, RoutingStrategy.LEAST_LOADED, random.Random(s))[0]
            for s in range(50)
        }
        assert len(firsts) > 3

    def test_round_robin_starts_after_cursor_and_wraps(self) -> None:
        accounts = [account(i) for i in (5, 1, 3)]
        rng = random.Random(0)
        assert rules.order_candidates(accounts, RoutingStrategy.ROUND_ROBIN, rng, 3) == [5, 1, 3]
        assert rules.order_candidates(accounts, RoutingStrategy.ROUND_ROBIN, rng, 5) == [1, 3, 5]
        assert rules.order_candidates(accounts, RoutingStrategy.ROUND_ROBIN, rng, 0) == [1, 3, 5]

    def test_weighted_zero_weight_last(self) -> None:
        accounts = [account(1, weight=0), account(2, weight=1)]
        for seed in range(20):
            order = rules.order_candidates(accounts, RoutingStrategy.WEIGHTED, random.Random(seed))
            assert order == [2, 1]

    def test_weighted_follows_weights(self) -> None:
        accounts = [account(1, weight=1), account(2, weight=3)]
        rng = random.Random(42)
        firsts = [
            rules.order_candidates(accounts, RoutingStrategy.WEIGHTED, rng)[0] for _ in range(4000)
        ]
        share = firsts.count(2) / len(firsts)
        assert 0.70 < share < 0.80

    def test_rule_weights_override(self) -> None:
        accounts = [account(1, weight=1), account(2, weight=1)]
        for seed in range(20):
            order = rules.order_candidates(
                accounts, RoutingStrategy.WEIGHTED, random.Random(seed), weights={1: 0}
            )
            assert order == [2, 1]


class TestRoute:
    def test_full_accounts_skipped_spare_used(self) -> None:
        accounts = [account(1, friends_used=10, max_friends=10), account(2)]
        spares = [account(9), account(2)]
        plan = rules.route(
            Rule(), RoutingStrategy.LEAST_LOADED, accounts, spares, NOW, random.Random(0)
        )
        assert plan.ordered == (2,)
        assert plan.spares == (9,)
        assert plan.candidates_count == 1

    def test_no_candidates_reason(self) -> None:
        plan = rules.route(
            rules.parse_rule({"account_ids": [5]}),
            RoutingStrategy.LEAST_LOADED,
            [account(1)],
            [],
            NOW,
            random.Random(0),
        )
        assert (plan.ordered, plan.spares, plan.reason) == ((), (), "no_candidates")

    def test_all_full_reason(self) -> None:
        plan = rules.route(
            Rule(),
            RoutingStrategy.LEAST_LOADED,
            [account(1, max_friends=0)],
            [],
            NOW,
            random.Random(0),
        )
        assert plan.reason == "all_full"

    def test_code_hours(self) -> None:
        rule = rules.parse_rule({"working_from_minute": 1200, "working_until_minute": 1320})
        plan = rules.route(
            rule, RoutingStrategy.LEAST_LOADED, [account(1)], [account(2)], NOW, random.Random(0)
        )
        assert (plan.ordered, plan.spares, plan.reason) == ((), (), "outside_code_hours")

    def test_full_spare_not_offered(self) -> None:
        plan = rules.route(
            Rule(),
            RoutingStrategy.LEAST_LOADED,
            [],
            [account(9, status=AccountStatus.BANNED)],
            NOW,
            random.Random(0),
        )
        assert plan.spares == ()

    @settings(max_examples=200, deadline=None)
    @given(
        st.lists(
            st.tuples(
                st.integers(0, 12),
                st.integers(0, 12),
                st.integers(0, 5),
                st.integers(0, 5),
                st.sampled_from(list(AccountStatus)),
                st.integers(0, 6),
                st.booleans(),
            ),
            max_size=12,
        ),
        st.sampled_from(list(RoutingStrategy)),
        st.integers(0, 1000),
    )
    def test_plan_only_offers_eligible_accounts(
        self,
        specs: list[tuple[int, int, int, int, AccountStatus, int, bool]],
        strategy: RoutingStrategy,
        seed: int,
    ) -> None:
        accounts = [
            account(
                index + 1,
                friends_used=used,
                max_friends=cap,
                adds_day=TODAY,
                passive_adds_today=adds,
                passive_adds_per_day=adds_cap,
                status=status,
                recent_failures=failures,
                deleted=deleted,
            )
            for index, (used, cap, adds, adds_cap, status, failures, deleted) in enumerate(specs)
        ]
        plan = rules.route(Rule(), strategy, accounts, [], NOW, random.Random(seed))
        eligible = {a.id for a in accounts if rules.refusal(a, NOW) is None}
        assert set(plan.ordered) == eligible
        assert len(plan.ordered) == len(eligible)
        for account_id in plan.ordered:
            chosen = accounts[account_id - 1]
            assert chosen.friends_used < chosen.max_friends
            assert chosen.passive_adds_today < chosen.passive_adds_per_day
            assert chosen.status == AccountStatus.ACTIVE
            assert not chosen.deleted


class TestState:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            (None, None),
            ("", None),
            ("  ", None),
            ("abc-DEF_123", "abc-DEF_123"),
            (" abc ", "abc"),
            ("a" * 33, None),
            ("abc;drop", None),
            ("中文", None),
            ("<script>", None),
        ],
    )
    def test_parse_state(self, raw: str | None, expected: str | None) -> None:
        assert rules.parse_state(raw) == expected

    @given(st.text(max_size=80))
    def test_never_raises(self, raw: str) -> None:
        result = rules.parse_state(raw)
        assert result is None or (len(result) <= 32 and result.isascii())


class TestGroups:
    def test_capacity(self) -> None:
        assert rules.group_capacity(False) == 500
        assert rules.group_capacity(True) == 200

    def test_name(self) -> None:
        assert rules.group_name("双十一内购优惠券群{n}", 3) == "双十一内购优惠券群3"
        assert rules.group_name("福利群", 2) == "福利群2"
