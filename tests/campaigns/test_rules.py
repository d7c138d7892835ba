"""Pure campaign rules: tiers and stock, risk, progress, claims, referrals, style replies and
the signed participant token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siyu.campaigns import rules
from siyu.campaigns.rules import (
    ClaimOutcome,
    Problem,
    TermsProblem,
    TierTerms,
    TierView,
)
from siyu.models.campaigns import (
    CampaignRisk,
    CampaignStatus,
    CampaignTrigger,
    ParticipantStatus,
    ReferralStatus,
    RewardKind,
)

NOW = datetime(2026, 11, 11, 12, 0, tzinfo=UTC)


def tier(**values: object) -> TierTerms:
    fields: dict[str, object] = {
        "name": "拉杆箱",
        "threshold": 3,
        "kind": RewardKind.PHYSICAL,
        "coupon_batch_id": None,
        "unit_cost_fen": 0,
        "is_bonus": False,
        "total": 10,
        "districts": (("360702", 5),),
    }
    fields.update(values)
    return TierTerms(**fields)  # type: ignore[arg-type]


class TestCheckTiers:
    def test_fine(self) -> None:
        assert rules.check_tiers([tier(), tier(name="加赠", threshold=6, is_bonus=True)]) == []

    def test_none(self) -> None:
        assert rules.check_tiers([]) == [Problem(TermsProblem.NO_TIERS)]

    @pytest.mark.parametrize(
        ("values", "expected"),
        [
            ({"name": " "}, [Problem(TermsProblem.TIER_NAME, 1)]),
            ({"threshold": 0}, [Problem(TermsProblem.THRESHOLD, 1)]),
            ({"threshold": True}, [Problem(TermsProblem.THRESHOLD, 1)]),
            ({"kind": RewardKind.COUPON}, [Problem(TermsProblem.COUPON_BATCH, 1)]),
            ({"coupon_batch_id": 3}, [Problem(TermsProblem.COUPON_BATCH, 1)]),
            ({"unit_cost_fen": -1}, [Problem(TermsProblem.COST, 1)]),
            ({"total": -1}, [Problem(TermsProblem.STOCK, 1)]),
            ({"districts": (("3607", 1),)}, [Problem(TermsProblem.DISTRICT_CODE, 1, "3607")]),
            ({"districts": (("360700", 1),)}, [Problem(TermsProblem.DISTRICT_CODE, 1, "360700")]),
            (
                {"districts": (("360702", 1), ("360702", 1))},
                [Problem(TermsProblem.DISTRICT_DUPLICATE, 1, "360702")],
            ),
            ({"districts": (("360702", 11),)}, [Problem(TermsProblem.DISTRICTS_OVER_TOTAL, 1)]),
        ],
    )
    def test_problem(self, values: dict[str, object], expected: list[Problem]) -> None:
        assert rules.check_tiers([tier(**values)]) == expected

    def test_thresholds_must_increase(self) -> None:
        assert rules.check_tiers([tier(threshold=5), tier(threshold=5)]) == [
            Problem(TermsProblem.THRESHOLD_ORDER, 2)
        ]

    def test_too_many(self) -> None:
        many = [tier(threshold=index) for index in range(1, rules.MAX_TIERS + 2)]
        assert rules.check_tiers(many) == [Problem(TermsProblem.TOO_MANY_TIERS)]

    @given(st.lists(st.integers(min_value=0, max_value=50), max_size=6), st.integers(0, 200))
    def test_district_sum_never_over_total(self, stocks: list[int], total: int) -> None:
        districts = tuple((f"3607{index + 10:02d}", stock) for index, stock in enumerate(stocks))
        problems = rules.check_tiers([tier(total=total, districts=districts)])
        over = Problem(TermsProblem.DISTRICTS_OVER_TOTAL, 1) in problems
        assert over == (sum(stocks) > total)


class TestRisk:
    def test_structural(self) -> None:
        assessed = rules.assess_risk(CampaignTrigger.SHARE_PROOF, [])
        assert assessed == rules.RiskAssessment(CampaignRisk.HIGH, (rules.SHARE_PROOF_RULE,))

    def test_text_rule(self) -> None:
        findings = [
            ("collect_likes", "induced_sharing", True),
            ("superlative", "absolute_terms", True),
        ]
        assessed = rules.assess_risk(CampaignTrigger.FRIEND_ADD, findings)
        assert assessed == rules.RiskAssessment(CampaignRisk.HIGH, ("collect_likes",))

    def test_warning_is_not_high_risk(self) -> None:
        findings = [("invite_for_reward", "induced_sharing", False)]
        assert rules.assess_risk(CampaignTrigger.FRIEND_ADD, findings).risk == CampaignRisk.LOW

    def test_ack_covers_rules(self) -> None:
        high = CampaignRisk.HIGH
        assert rules.acknowledgement_needed(high, ["a"], None) is True
        assert rules.acknowledgement_needed(high, ["a"], ["a", "b"]) is False
        assert rules.acknowledgement_needed(high, ["a", "c"], ["a"]) is True
        assert rules.acknowledgement_needed(CampaignRisk.LOW, ["a"], None) is False


TIERS = (TierView(1, 3, False), TierView(2, 6, True))
STYLES = ("1号款 黑色", "2号款 银色", "3号款 玫瑰金")


class TestProgress:
    @pytest.mark.parametrize(
        ("count", "reached", "next_threshold", "remaining"),
        [
            (0, (), 3, 3),
            (3, (1,), 6, 3),
            (5, (1,), 6, 1),
            (6, (1, 2), None, 0),
            (9, (1, 2), None, 0),
        ],
    )
    def test_progress(
        self, count: int, reached: tuple[int, ...], next_threshold: int | None, remaining: int
    ) -> None:
        found = rules.progress(count, TIERS)
        assert (found.reached, found.next_threshold, found.remaining) == (
            reached,
            next_threshold,
            remaining,
        )

    def test_best_claimable(self) -> None:
        assert rules.best_claimable(6, TIERS, []) == TIERS[0]
        assert rules.best_claimable(6, TIERS, [1]) == TIERS[1]
        assert rules.best_claimable(6, TIERS, [1, 2]) is None
        assert rules.best_claimable(2, TIERS, []) is None

    @given(st.integers(0, 1000), st.lists(st.integers(1, 100), min_size=1, max_size=5, unique=True))
    def test_remaining_is_exact(self, count: int, thresholds: list[int]) -> None:
        views = [TierView(index, value, False) for index, value in enumerate(sorted(thresholds))]
        found = rules.progress(count, views)
        assert len(found.reached) == sum(1 for value in thresholds if count >= value)
        if found.next_threshold is not None:
            assert found.remaining == found.next_threshold - count > 0


CLAIM_BASE: dict[str, object] = {
    "running": True,
    "participant_status": ParticipantStatus.ACTIVE,
    "count": 3,
    "threshold": 3,
    "already_issued": False,
    "tier_districts": ["360702"],
    "district_code": "360702",
}


class TestClaimDecision:
    @pytest.mark.parametrize(
        ("change", "expected"),
        [
            ({}, None),
            ({"already_issued": True, "running": False}, ClaimOutcome.ALREADY),
            ({"participant_status": ParticipantStatus.DISQUALIFIED}, ClaimOutcome.DISQUALIFIED),
            ({"running": False}, ClaimOutcome.NOT_RUNNING),
            ({"count": 2}, ClaimOutcome.NOT_ELIGIBLE),
            ({"district_code": "411602"}, ClaimOutcome.DISTRICT_NOT_IN_CAMPAIGN),
            ({"district_code": ""}, ClaimOutcome.DISTRICT_NOT_IN_CAMPAIGN),
            ({"tier_districts": [], "district_code": ""}, None),
        ],
    )
    def test_decision(self, change: dict[str, object], expected: ClaimOutcome | None) -> None:
        assert rules.claim_decision(**{**CLAIM_BASE, **change}) == expected  # type: ignore[arg-type]

    def test_window(self) -> None:
        running = CampaignStatus.RUNNING
        assert rules.is_running(running, NOW - timedelta(hours=1), NOW + timedelta(hours=1), NOW)
        assert not rules.is_running(running, NOW + timedelta(hours=1), None, NOW)
        assert not rules.is_running(running, None, NOW, NOW)
        assert not rules.is_running(CampaignStatus.PAUSED, None, None, NOW)


REFERRAL_BASE: dict[str, object] = {
    "inviter_consumer_id": 1,
    "invitee_consumer_id": 2,
    "invitee_is_participant_before": False,
    "invitee_had_contact_before": False,
    "device_invites": 0,
    "max_invites_per_device": 3,
    "needs_purchase": False,
}


class TestReferralDecision:
    @pytest.mark.parametrize(
        ("change", "status", "reason"),
        [
            ({}, ReferralStatus.VERIFIED, ""),
            ({"invitee_consumer_id": 1}, ReferralStatus.REJECTED, "self_invite"),
            ({"invitee_is_participant_before": True}, ReferralStatus.REJECTED, "not_new"),
            ({"invitee_had_contact_before": True}, ReferralStatus.REJECTED, "not_new"),
            ({"device_invites": 3}, ReferralStatus.REJECTED, "device_cap"),
            ({"device_invites": 2}, ReferralStatus.VERIFIED, ""),
            ({"needs_purchase": True}, ReferralStatus.PENDING, "waiting_first_purchase"),
        ],
    )
    def test_decision(self, change: dict[str, object], status: ReferralStatus, reason: str) -> None:
        decided = rules.referral_decision(**{**REFERRAL_BASE, **change})  # type: ignore[arg-type]
        assert (decided.status, decided.reason) == (status, reason)

    @given(st.integers(0, 50), st.integers(1, 20))
    def test_device_cap_counts_at_most_cap(self, invites: int, cap: int) -> None:
        counted = 0
        for already in range(invites):
            decided = rules.referral_decision(
                **{**REFERRAL_BASE, "device_invites": counted, "max_invites_per_device": cap}  # type: ignore[arg-type]
            )
            if decided.status == ReferralStatus.VERIFIED:
                counted += 1
            del already
        assert counted == min(invites, cap)

    def test_invalidation_window(self) -> None:
        verified = NOW - timedelta(days=2)
        assert rules.invalidates(verified, NOW, 3) is True
        assert rules.invalidates(verified, NOW, 1) is False
        assert rules.invalidates(verified, NOW, None) is False
        assert rules.invalidates(None, NOW, 3) is False


class TestStyles:
    @pytest.mark.parametrize(
        ("reply", "expected"),
        [
            ("1", 1),
            ("１号", 1),
            ("2号款", 2),
            ("我要3号", 3),
            ("三号", 3),
            ("2号款 银色", 2),
            ("4", None),
            ("0", None),
            ("1和2", None),
            ("还有名额吗", None),
            ("", None),
        ],
    )
    def test_reply(self, reply: str, expected: int | None) -> None:
        assert rules.choose_style(STYLES, reply) == expected

    @given(st.text(max_size=20))
    def test_never_out_of_range(self, reply: str) -> None:
        found = rules.choose_style(STYLES, reply)
        assert found is None or 1 <= found <= len(STYLES)


class TestToken:
    def test_round_trip(self) -> None:
        token = rules.participant_token("secret", 7, 42)
        assert rules.read_token("secret", 7, token) == 42

    @pytest.mark.parametrize("token", ["", "42", "42.", "x.y", "43." + "0" * 32, "9" * 30 + ".aa"])
    def test_forged(self, token: str) -> None:
        assert rules.read_token("secret", 7, token) is None

    def test_other_campaign_or_secret(self) -> None:
        token = rules.participant_token("secret", 7, 42)
        assert rules.read_token("secret", 8, token) is None
        assert rules.read_token("other", 7, token) is None
