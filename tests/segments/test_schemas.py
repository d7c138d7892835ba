"""The rule language refuses what cannot be compiled, with one clear error (pure: no database)."""

from __future__ import annotations

from typing import Any

import pytest

from siyu.regions.rules import RegionUnknown
from siyu.segments import service
from siyu.segments.schemas import MAX_CONDITIONS, SegmentRule


def rule_with(condition: dict[str, Any]) -> dict[str, Any]:
    return {"op": "and", "conditions": [condition]}


class TestValidRules:
    def test_empty_rule(self) -> None:
        assert service.parse_rule({}).conditions == []

    def test_region_codes_are_deduplicated_and_sorted(self) -> None:
        rule = service.parse_rule(
            rule_with({"kind": "region", "codes": ["330106", " 110000", "330106"]})
        )
        assert rule.as_json()["conditions"][0]["codes"] == ["110000", "330106"]

    def test_round_trip_through_json(self) -> None:
        data = {
            "op": "or",
            "conditions": [
                {"kind": "tier", "tiers": ["tier_3"]},
                {"op": "and", "conditions": [{"kind": "spend", "min_fen": 100}]},
            ],
        }
        rule = service.parse_rule(data)
        assert service.parse_rule(rule.as_json()) == rule

    def test_conditions_of_finds_nested_ones(self) -> None:
        rule = service.parse_rule(
            {
                "conditions": [
                    {"kind": "tag", "tag_ids": [1]},
                    {"op": "or", "conditions": [{"kind": "tag", "tag_ids": [2, 3]}]},
                ]
            }
        )
        assert [item.tag_ids for item in rule.conditions_of("tag")] == [[1], [2, 3]]


class TestInvalidRules:
    @pytest.mark.parametrize(
        ("condition", "fragment"),
        [
            ({"kind": "planet"}, "does not match any of the expected tags"),
            ({"kind": "tag", "tag_ids": []}, "at least 1 item"),
            ({"kind": "tag", "tag_ids": [1], "match": "some"}, "'any', 'all' or 'none'"),
            ({"kind": "tier", "tiers": ["tier_7"]}, "tier_1"),
            ({"kind": "spend"}, "spend needs min_fen or max_fen"),
            ({"kind": "spend", "min_fen": 9.9}, "valid integer"),
            ({"kind": "spend", "min_fen": "100"}, "valid integer"),
            ({"kind": "spend", "min_fen": 500, "max_fen": 100}, "min_fen is above max_fen"),
            ({"kind": "last_order", "op": "within"}, "last_order within needs days"),
            ({"kind": "last_order", "op": "never", "days": 3}, "takes no days"),
            ({"kind": "activity", "op": "active_within", "days": 0}, "greater than or equal to 1"),
            ({"kind": "reply", "since": "2026-11-11T12:00:00", "within_hours": 24}, "timezone"),
            ({"kind": "added"}, "added needs after or before"),
            ({"kind": "lifecycle", "stages": ["vip"]}, "'new'"),
            ({"kind": "tag", "tag_ids": [1], "extra": True}, "Extra inputs are not permitted"),
        ],
    )
    def test_condition_errors(self, condition: dict[str, Any], fragment: str) -> None:
        with pytest.raises(service.SegmentRuleInvalid) as error:
            service.parse_rule(rule_with(condition))
        assert fragment in error.value.en

    def test_unknown_region_is_a_region_error(self) -> None:
        with pytest.raises(RegionUnknown):
            service.parse_rule(rule_with({"kind": "region", "codes": ["999999"]}))

    def test_too_many_conditions(self) -> None:
        conditions = [{"kind": "state", "states": ["confirmed"]}] * (MAX_CONDITIONS + 1)
        with pytest.raises(service.SegmentRuleInvalid) as error:
            service.parse_rule({"conditions": conditions})
        assert f"at most {MAX_CONDITIONS} conditions, got {MAX_CONDITIONS + 1}" in error.value.en

    def test_too_deep(self) -> None:
        leaf = {"kind": "state", "states": ["confirmed"]}
        deep = {"conditions": [{"conditions": [{"conditions": [{"conditions": [leaf]}]}]}]}
        with pytest.raises(service.SegmentRuleInvalid) as error:
            service.parse_rule(deep)
        assert "groups nest at most 3 deep" in error.value.en

    def test_empty_nested_group(self) -> None:
        with pytest.raises(service.SegmentRuleInvalid) as error:
            service.parse_rule({"conditions": [{"op": "or", "conditions": []}]})
        assert "a nested group needs at least one condition" in error.value.en

    def test_chinese_message(self) -> None:
        with pytest.raises(service.SegmentRuleInvalid) as error:
            service.parse_rule({"op": "xor"})
        assert error.value.zh.startswith("人群规则有误：op: ")

    def test_a_parsed_rule_passes_through(self) -> None:
        rule = SegmentRule()
        assert service.parse_rule(rule) is rule
