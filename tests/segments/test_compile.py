"""Every condition kind compiled to SQL and run on a real database, against exact contact sets."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from siyu.auth.principal import Principal
from siyu.kit.time import travel_to
from siyu.models import (
    Role,
)
from siyu.segments import service
from siyu.segments.repository import ContactScope
from tests.segments.conftest import NOW, Scene


def one(condition: dict[str, Any]) -> dict[str, Any]:
    return {"op": "and", "conditions": [condition]}


class TestScope:
    def test_empty_rule_matches_the_scope(self, scene: Scene) -> None:
        assert scene.match({}) == {"k1", "k2", "k3", "k4", "k5"}
        assert scene.match({}, ContactScope(scene.promoter_id)) == {"k6"}
        assert scene.match({}, ContactScope(None, all_owners=True)) == {
            "k1",
            "k2",
            "k3",
            "k4",
            "k5",
            "k6",
        }


class TestTags:
    def test_any(self, scene: Scene) -> None:
        rule = one({"kind": "tag", "tag_ids": [scene.tags["vip"]]})
        assert scene.match(rule) == {"k1", "k2"}

    def test_all(self, scene: Scene) -> None:
        ids = [scene.tags["vip"], scene.tags["mum"]]
        assert scene.match(one({"kind": "tag", "tag_ids": ids, "match": "all"})) == {"k2"}

    def test_none(self, scene: Scene) -> None:
        rule = one({"kind": "tag", "tag_ids": [scene.tags["vip"]], "match": "none"})
        assert scene.match(rule) == {"k3", "k4", "k5"}


class TestRegionAndTier:
    @pytest.mark.parametrize(
        ("codes", "expected"),
        [
            (["330106"], {"k1"}),
            (["330100"], {"k1", "k2"}),  # 桐庐县 is in 杭州市
            (["330000"], {"k1", "k2"}),
            (["110105"], {"k4"}),
            (["330106", "360000"], {"k1", "k3"}),
        ],
    )
    def test_region(self, scene: Scene, codes: list[str], expected: set[str]) -> None:
        assert scene.match(one({"kind": "region", "codes": codes})) == expected

    def test_region_negated(self, scene: Scene) -> None:
        rule = one({"kind": "region", "codes": ["330000"], "negate": True})
        assert scene.match(rule) == {"k3", "k4", "k5"}

    @pytest.mark.parametrize(
        ("tiers", "expected"),
        [
            (["tier_1"], {"k4"}),
            (["new_tier_1"], {"k1"}),
            (["tier_5"], {"k3"}),
            (["tier_6"], {"k2"}),
            (["tier_3", "tier_4", "tier_5", "tier_6"], {"k2", "k3"}),
            (["tier_2"], set()),
        ],
    )
    def test_tier(self, scene: Scene, tiers: list[str], expected: set[str]) -> None:
        assert scene.match(one({"kind": "tier", "tiers": tiers})) == expected


class TestContactFields:
    def test_lifecycle(self, scene: Scene) -> None:
        rule = one({"kind": "lifecycle", "stages": ["customer", "repeat"]})
        assert scene.match(rule) == {"k1", "k3"}

    def test_source(self, scene: Scene) -> None:
        rule = one({"kind": "source", "source_kinds": ["campaign", "courier"]})
        assert scene.match(rule) == {"k2", "k3"}
        with_id = one(
            {"kind": "source", "source_kinds": ["campaign", "courier"], "source_ids": [9]}
        )
        assert scene.match(with_id) == {"k3"}

    def test_state(self, scene: Scene) -> None:
        assert scene.match(one({"kind": "state", "states": ["pending"]})) == {"k4"}

    def test_opt_out(self, scene: Scene) -> None:
        assert scene.match(one({"kind": "opt_out", "opted_out": True})) == {"k3"}
        assert scene.match(one({"kind": "opt_out", "opted_out": False})) == {"k1", "k2", "k4", "k5"}

    def test_added(self, scene: Scene) -> None:
        after = (NOW - timedelta(days=30)).isoformat()
        assert scene.match(one({"kind": "added", "after": after})) == {"k1", "k3", "k4", "k5"}
        assert scene.match(one({"kind": "added", "before": after})) == {"k2"}

    def test_account(self, scene: Scene) -> None:
        rule = one({"kind": "account", "account_ids": [scene.accounts["b"]]})
        assert scene.match(rule) == {"k3", "k4"}

    def test_group(self, scene: Scene) -> None:
        member = one({"kind": "group", "group_ids": [scene.group_id]})
        assert scene.match(member) == {"k1"}  # k5 left the group
        outside = one({"kind": "group", "group_ids": [scene.group_id], "member": False})
        assert scene.match(outside) == {"k2", "k3", "k4", "k5"}


class TestOrders:
    @pytest.mark.parametrize(
        ("condition", "expected"),
        [
            ({"op": "within", "days": 7}, {"k1", "k4"}),  # k3's order yesterday was cancelled
            ({"op": "not_within", "days": 7}, {"k3"}),
            ({"op": "ever"}, {"k1", "k3", "k4"}),
            ({"op": "never"}, {"k2", "k5"}),
        ],
    )
    def test_last_order(self, scene: Scene, condition: dict[str, Any], expected: set[str]) -> None:
        with travel_to(NOW):
            assert scene.match(one({"kind": "last_order", **condition})) == expected

    @pytest.mark.parametrize(
        ("condition", "expected"),
        [
            ({"min_fen": 20000}, {"k1", "k4"}),
            ({"max_fen": 10000}, {"k2", "k3", "k5"}),  # no order = spend 0
            ({"min_fen": 1, "max_fen": 60000}, {"k1", "k3"}),
            ({"min_fen": 20000, "max_fen": 20000}, {"k1"}),
            ({"min_fen": 50000, "within_days": 30}, {"k4"}),
            ({"min_fen": 0, "max_fen": 0}, {"k2", "k5"}),
        ],
    )
    def test_spend(self, scene: Scene, condition: dict[str, Any], expected: set[str]) -> None:
        with travel_to(NOW):
            assert scene.match(one({"kind": "spend", **condition})) == expected

    def test_orders_count_for_every_contact_of_the_consumer(self, scene: Scene) -> None:
        with travel_to(NOW):
            rule = one({"kind": "last_order", "op": "within", "days": 7})
            assert scene.match(rule, ContactScope(scene.promoter_id)) == {"k6"}


class TestActivity:
    def test_active_and_inactive(self, scene: Scene) -> None:
        with travel_to(NOW):
            assert scene.match(one({"kind": "activity", "op": "active_within", "days": 7})) == {
                "k1"
            }
            inactive = one({"kind": "activity", "op": "inactive_for", "days": 7})
            assert scene.match(inactive) == {"k2", "k3", "k4", "k5"}

    def test_reply_within_hours_of_a_start(self, scene: Scene) -> None:
        since = (NOW - timedelta(days=25)).isoformat()
        replied = one({"kind": "reply", "since": since, "within_hours": 240, "replied": True})
        assert scene.match(replied) == {"k3"}  # k2's message was outgoing
        silent = one({"kind": "reply", "since": since, "within_hours": 240})
        assert scene.match(silent) == {"k1", "k2", "k4", "k5"}
        too_short = one({"kind": "reply", "since": since, "within_hours": 24, "replied": True})
        assert scene.match(too_short) == set()


class TestCombinations:
    def test_and_of_or(self, scene: Scene) -> None:
        with travel_to(NOW):
            rule = {
                "op": "and",
                "conditions": [
                    {"kind": "tier", "tiers": ["tier_3", "tier_4", "tier_5", "tier_6"]},
                    {
                        "op": "or",
                        "conditions": [
                            {"kind": "tag", "tag_ids": [scene.tags["vip"]]},
                            {"kind": "spend", "min_fen": 1},
                        ],
                    },
                ],
            }
            assert scene.match(rule) == {"k2", "k3"}

    def test_or_at_the_root(self, scene: Scene) -> None:
        rule = {
            "op": "or",
            "conditions": [
                {"kind": "state", "states": ["pending"]},
                {"kind": "region", "codes": ["360000"]},
            ],
        }
        assert scene.match(rule) == {"k3", "k4"}


class TestServiceCount:
    def test_count_and_reachable(self, scene: Scene) -> None:
        ops = Principal(1, "ops", "运营", Role.OPERATOR)
        assert service.count(scene.pool.session, ops, {}) == (5, 2)

    def test_promoter_counts_only_their_own(self, scene: Scene) -> None:
        promoter = Principal(2, "wang", "王团长", Role.PROMOTER, promoter_id=scene.promoter_id)
        rule = one({"kind": "tag", "tag_ids": [scene.tags["own"]]})
        assert service.count(scene.pool.session, promoter, rule) == (1, 1)

    def test_promoter_cannot_use_platform_tags(self, scene: Scene) -> None:
        promoter = Principal(2, "wang", "王团长", Role.PROMOTER, promoter_id=scene.promoter_id)
        rule = one({"kind": "tag", "tag_ids": [scene.tags["vip"], scene.tags["own"]]})
        with pytest.raises(service.SegmentReferenceNotFound) as error:
            service.count(scene.pool.session, promoter, rule)
        assert error.value.params["ids"] == str(scene.tags["vip"])

    def test_promoter_cannot_name_platform_accounts_or_groups(self, scene: Scene) -> None:
        promoter = Principal(2, "wang", "王团长", Role.PROMOTER, promoter_id=scene.promoter_id)
        with pytest.raises(service.SegmentReferenceNotFound):
            service.count(
                scene.pool.session,
                promoter,
                one({"kind": "account", "account_ids": [scene.accounts["a"]]}),
            )
        with pytest.raises(service.SegmentReferenceNotFound):
            service.count(
                scene.pool.session, promoter, one({"kind": "group", "group_ids": [scene.group_id]})
            )

    def test_merchant_sees_no_contacts(self, scene: Scene) -> None:
        merchant = Principal(3, "shop", "商家", Role.MERCHANT, merchant_id=1)
        with pytest.raises(service.PermissionDenied):
            service.count(scene.pool.session, merchant, {})

    def test_only_admins_count_everyone(self, scene: Scene) -> None:
        ops = Principal(1, "ops", "运营", Role.OPERATOR)
        admin = Principal(4, "admin", "管理员", Role.ADMIN)
        with pytest.raises(service.AllOwnersAdminOnly):
            service.count(scene.pool.session, ops, {}, all_owners=True)
        assert service.count(scene.pool.session, admin, {}, all_owners=True) == (6, 3)
