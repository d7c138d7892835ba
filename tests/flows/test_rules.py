"""Pure rules: placeholders, reply matching, the editor's rule syntax, definitions, timers and
reply limits (pure: these run once, without a database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siyu.flows import rules
from siyu.flows.rules import MatchRule, ReplyPolicy

T0 = datetime(2026, 11, 11, 8, 0, tzinfo=UTC)


class TestPlaceholders:
    def test_found_in_first_use_order(self) -> None:
        assert rules.placeholders("{昵称}您好，{区县}还有{剩余名额}个，{昵称}") == [
            "昵称",
            "区县",
            "剩余名额",
        ]

    def test_render_fills_and_reports_missing(self) -> None:
        assert rules.render("{昵称}，{区县}，{链接}", {"昵称": "小王", "区县": "章贡区"}) == (
            "小王，章贡区，{链接}",
            ["链接"],
        )

    def test_braces_with_spaces_are_not_placeholders(self) -> None:
        assert rules.render("{ 不是 } {}", {}) == ("{ 不是 } {}", [])

    def test_params_rendered_one_level(self) -> None:
        assert rules.render_params({"district": "{区县}", "n": 3}, {"区县": "南康区"}) == {
            "district": "南康区",
            "n": 3,
        }

    @given(st.dictionaries(st.sampled_from(["昵称", "区县", "款式"]), st.text(max_size=10)))
    def test_render_without_placeholders_is_identity_and_complete_is_missing_free(
        self, values: dict[str, str]
    ) -> None:
        body = "".join(f"[{{{name}}}]" for name in values)
        text, missing = rules.render(body, values)
        assert missing == []
        assert text == "".join(f"[{value}]" for value in values.values())


class TestNumbers:
    @pytest.mark.parametrize(
        ("text", "number"),
        [
            ("3", 3),
            ("３", 3),
            (" 3号 ", 3),
            ("第3款", 3),
            ("我要 12", 12),
            ("三", 3),
            ("要三号", 3),
            ("两个", 2),
            ("十", 10),
            ("十二", 12),
            ("二十", 20),
            ("三十五号", 35),
            ("1和2", None),
            ("好的", None),
            ("", None),
            ("三四", None),
            ("1234567890", None),
        ],
    )
    def test_parse(self, text: str, number: int | None) -> None:
        assert rules.parse_number(text) == number

    @given(st.integers(min_value=0, max_value=10**9 - 1))
    def test_any_written_number_parses(self, number: int) -> None:
        assert rules.parse_number(str(number)) == number
        assert rules.parse_number(f"第{number}款") == number


class TestMatching:
    RULES = (
        MatchRule("number", "styles", minimum=1, maximum=5),
        MatchRule("keyword", "human", words=("人工", "客服")),
        MatchRule("pattern", "phone", pattern=r"1\d{10}"),
        MatchRule("any", "other"),
    )

    @pytest.mark.parametrize(
        ("text", "rule_index", "value"),
        [
            ("3", 0, "3"),
            ("５号", 0, "5"),
            ("9", 3, "9"),  # out of range: falls to "any"
            ("转人工", 1, "人工"),
            ("找客服", 1, "客服"),
            ("我的手机 13812345678", 2, "13812345678"),  # a number, but above 5: the pattern
            ("随便", 3, "随便"),
        ],
    )
    def test_first_matching_rule_wins(self, text: str, rule_index: int, value: str) -> None:
        match = rules.match_reply(self.RULES, text)
        assert match is not None
        assert (match.rule_index, match.value) == (rule_index, value)

    def test_pattern_takes_the_matched_part(self) -> None:
        rule = MatchRule("pattern", "x", pattern=r"1\d{10}")
        assert rules.match_rule(rule, "号码是 13812345678 哦") == "13812345678"
        assert rules.match_rule(rule, "12345") is None

    def test_blank_reply_matches_nothing(self) -> None:
        assert rules.match_reply(self.RULES, "   ") is None

    def test_keyword_is_case_and_width_insensitive(self) -> None:
        assert rules.match_rule(MatchRule("keyword", words=("OK",)), "ｏｋ啦") == "OK"

    def test_out_of_range_without_catch_all_is_no_match(self) -> None:
        assert rules.match_reply(self.RULES[:1], "6") is None
        assert rules.match_reply(self.RULES[:1], "0") is None

    @given(
        st.integers(min_value=0, max_value=50),
        st.integers(min_value=0, max_value=50),
        st.integers(min_value=0, max_value=60),
    )
    def test_number_rule_matches_exactly_inside_its_range(
        self, low: int, high: int, number: int
    ) -> None:
        rule = MatchRule("number", minimum=low, maximum=high)
        expected = str(number) if low <= number <= high else None
        assert rules.match_rule(rule, f"{number}号") == expected

    @given(st.text(max_size=40))
    def test_any_matches_every_non_blank_reply(self, text: str) -> None:
        value = rules.match_rule(MatchRule("any"), text)
        assert (value is None) == (rules.normalise(text) == "")


class TestEditorSyntax:
    def test_parse_every_kind(self) -> None:
        parsed = rules.parse_match_rules("1-5 -> styles\n#0 → zero；有,要 => yes\n/^\\d+$/ -> d\n*")
        assert parsed == [
            MatchRule("number", "styles", minimum=1, maximum=5),
            MatchRule("number", "zero", minimum=0, maximum=0),
            MatchRule("keyword", "yes", words=("有", "要")),
            MatchRule("pattern", "d", pattern="^\\d+$"),
            MatchRule("any", ""),
        ]

    def test_reversed_range_and_bad_pattern_are_errors(self) -> None:
        with pytest.raises(rules.RuleSyntaxError, match="reversed"):
            rules.parse_match_rules("5-1 -> x")
        with pytest.raises(rules.RuleSyntaxError, match="invalid pattern"):
            rules.parse_match_rules("/(/ -> x")

    @given(
        st.lists(
            st.one_of(
                st.builds(
                    lambda low, span, target: MatchRule(
                        "number", target, minimum=low, maximum=low + span
                    ),
                    st.integers(0, 999),
                    st.integers(0, 999),
                    st.sampled_from(["a", "b_1", "c-2"]),
                ),
                st.builds(
                    lambda words, target: MatchRule("keyword", target, words=tuple(words)),
                    st.lists(st.sampled_from(["有", "要", "好的", "yes"]), min_size=1, max_size=3),
                    st.sampled_from(["a", "b"]),
                ),
                st.builds(lambda target: MatchRule("any", target), st.sampled_from(["a", ""])),
                st.builds(
                    lambda target: MatchRule("pattern", target, pattern=r"^\d{11}$"),
                    st.sampled_from(["p"]),
                ),
            ),
            max_size=6,
        )
    )
    def test_format_then_parse_round_trips(self, parsed: list[MatchRule]) -> None:
        assert rules.parse_match_rules(rules.format_match_rules(parsed)) == parsed

    def test_outcomes(self) -> None:
        assert rules.parse_outcomes("available -> styles, sold_out → sorry") == {
            "available": "styles",
            "sold_out": "sorry",
        }
        with pytest.raises(rules.RuleSyntaxError):
            rules.parse_outcomes("available")
        assert rules.parse_outcomes(rules.format_outcomes({"a": "b", "c": "d"})) == {
            "a": "b",
            "c": "d",
        }

    def test_branches_round_trip(self) -> None:
        text = (
            "款式 = 1 -> one\n区县 in 章贡区,南康区 -> near\n链接 empty -> nolink\n款式 != 2 -> x"
        )
        parsed = rules.parse_branches(text)
        assert parsed == [
            {"var": "款式", "op": "eq", "value": "1", "next": "one"},
            {"var": "区县", "op": "in", "value": ["章贡区", "南康区"], "next": "near"},
            {"var": "链接", "op": "empty", "next": "nolink"},
            {"var": "款式", "op": "ne", "value": "2", "next": "x"},
        ]
        assert rules.parse_branches(rules.format_branches(parsed)) == parsed


class TestBranches:
    STEP: ClassVar[dict[str, Any]] = {
        "id": "b",
        "type": "branch",
        "branches": [
            {"var": "款式", "op": "eq", "value": "1", "next": "one"},
            {"var": "区县", "op": "in", "value": ["章贡区", "南康区"], "next": "near"},
            {"var": "链接", "op": "present", "next": "linked"},
        ],
        "next": "fallback",
    }

    @pytest.mark.parametrize(
        ("variables", "target"),
        [
            ({"款式": "1", "区县": "章贡区"}, "one"),
            ({"款式": "2", "区县": "南康区"}, "near"),
            ({"区县": "瑞金市", "链接": "http://x"}, "linked"),
            ({"区县": "瑞金市", "链接": ""}, "fallback"),
            ({}, "fallback"),
        ],
    )
    def test_first_true_branch_or_next(self, variables: dict[str, str], target: str) -> None:
        assert rules.choose_branch(self.STEP, variables) == target

    def test_ne_and_empty(self) -> None:
        assert rules.condition_holds({"var": "a", "op": "ne", "value": "1"}, {"a": "2"})
        assert not rules.condition_holds({"var": "a", "op": "ne", "value": "1"}, {"a": "1"})
        assert rules.condition_holds({"var": "a", "op": "empty"}, {})
        assert rules.condition_holds({"var": "a", "op": "in", "value": "x, y"}, {"a": "y"})


class TestDefinition:
    def test_a_valid_flow_has_no_problems(self) -> None:
        definition = {
            "steps": [
                {"id": "a", "type": "send", "text": "hi"},
                {"id": "b", "type": "wait", "match": [{"kind": "any", "next": "c"}]},
                {"id": "c", "type": "action", "action": "x.y", "on": {"ok": "d"}},
                {"id": "d", "type": "end"},
            ]
        }
        assert rules.problems(definition) == []
        assert rules.actions_used(definition) == ["x.y"]
        assert rules.unknown_actions(definition, ["x.y"]) == []
        assert rules.unknown_actions(definition, []) == ["x.y"]

    def test_every_problem_is_reported(self) -> None:
        definition = {
            "steps": [
                {"id": "a", "type": "send"},
                {"id": "a", "type": "wait", "match": [], "timeout_minutes": -1},
                {"id": "bad id", "type": "jump"},
                {"id": "c", "type": "action", "on": {"ok": "ghost"}},
                {"id": "d", "type": "wait", "match": [{"kind": "pattern", "pattern": "("}]},
                {"id": "e", "type": "branch", "branches": [{"op": "eq", "next": "a"}]},
            ]
        }
        assert rules.problems(definition) == [
            "step id 'bad id' must be 1-40 letters, digits, '-' or '_'",
            "step id 'a' is used twice",
            "step 'a': a send step needs a script or a text",
            "step 'a': a wait step needs at least one match rule",
            "step 'a': timeout_minutes must be a whole number ≥ 0",
            "step 'bad id': unknown type 'jump'",
            "step 'c' goes to unknown step 'ghost'",
            "step 'c': an action step needs an action name",
            "step 'd': invalid pattern /(/: missing ), unterminated subpattern at position 0",
            "step 'e': a branch needs a variable and an operator",
        ]

    def test_retry_targets_are_checked(self) -> None:
        definition = {
            "steps": [
                {
                    "id": "w",
                    "type": "wait",
                    "match": [{"kind": "any"}],
                    "on_retries_exhausted": "gone",
                }
            ],
            "settings": {"on_retries_exhausted": "away"},
        }
        assert rules.problems(definition) == [
            "settings: on_retries_exhausted goes to unknown step 'away'",
            "step 'w' goes to unknown step 'gone'",
        ]

    def test_empty_flow(self) -> None:
        assert rules.problems({"steps": []}) == ["a flow needs at least one step"]

    def test_script_ids(self) -> None:
        definition = {
            "steps": [
                {"id": "a", "type": "send", "script_id": 3},
                {"id": "b", "type": "wait", "reminder_script_id": 1, "retry_script_id": 3},
            ],
            "settings": {"retry_script_id": 2},
        }
        assert rules.script_ids_used(definition) == [1, 2, 3]


class TestTimers:
    def test_reminders_then_timeout(self) -> None:
        step = {"reminder_minutes": 30, "max_reminders": 2, "timeout_minutes": 100}
        assert rules.next_timer(step, T0, 0) == (T0 + timedelta(minutes=30), "reminder")
        assert rules.next_timer(step, T0, 1) == (T0 + timedelta(minutes=60), "reminder")
        assert rules.next_timer(step, T0, 2) == (T0 + timedelta(minutes=100), "timeout")

    def test_a_reminder_at_or_after_the_timeout_is_skipped(self) -> None:
        step = {"reminder_minutes": 60, "max_reminders": 5, "timeout_minutes": 120}
        assert rules.next_timer(step, T0, 1) == (T0 + timedelta(minutes=120), "timeout")

    def test_no_timer(self) -> None:
        assert rules.next_timer({}, T0, 0) == (None, "")
        assert rules.next_timer({"reminder_minutes": 10}, T0, 0) == (
            T0 + timedelta(minutes=10),
            "reminder",
        )
        assert rules.next_timer({"reminder_minutes": 10}, T0, 1) == (None, "")

    @given(
        st.integers(0, 500),
        st.integers(0, 5),
        st.one_of(st.none(), st.integers(1, 2000)),
        st.integers(0, 6),
    )
    def test_timers_never_go_backwards_and_end_at_the_timeout(
        self, reminder: int, limit: int, timeout: int | None, sent: int
    ) -> None:
        step = {"reminder_minutes": reminder, "max_reminders": limit, "timeout_minutes": timeout}
        at, kind = rules.next_timer(step, T0, sent)
        later, _ = rules.next_timer(step, T0, sent + 1)
        if at is not None and later is not None:
            assert later >= at
        if kind == "reminder":
            assert sent < limit
            assert reminder > 0
            assert timeout is None or at < T0 + timedelta(minutes=timeout)  # type: ignore[operator]
        if kind == "timeout":
            assert at == T0 + timedelta(minutes=timeout or 0)


class TestReplyLimits:
    def test_unlimited(self) -> None:
        assert rules.reply_allowed(rules.UNLIMITED, None, 10**6, T0)

    def test_wecom_five_within_48_hours(self) -> None:
        policy = rules.WECOM_KEFU
        assert not rules.reply_allowed(policy, None, 0, T0)  # never written: no window
        assert rules.reply_allowed(policy, T0, 4, T0 + timedelta(hours=47))
        assert not rules.reply_allowed(policy, T0, 5, T0 + timedelta(hours=1))
        assert not rules.reply_allowed(policy, T0, 0, T0 + timedelta(hours=48))

    @given(
        st.one_of(st.none(), st.integers(0, 10)),
        st.one_of(st.none(), st.integers(1, 100)),
        st.integers(0, 12),
        st.integers(0, 200),
    )
    def test_allowed_exactly_inside_count_and_window(
        self, max_replies: int | None, hours: int | None, sent: int, elapsed: int
    ) -> None:
        window = timedelta(hours=hours) if hours is not None else None
        policy = ReplyPolicy(max_replies, window)
        allowed = rules.reply_allowed(policy, T0, sent, T0 + timedelta(hours=elapsed))
        in_window = window is None or timedelta(hours=elapsed) < window
        under_count = max_replies is None or sent < max_replies
        assert allowed == (in_window and under_count)
