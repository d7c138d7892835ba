"""Campaign analytics: every figure of the funnel, K-factor and costs, overall, by district and
by account — checked against hand-counted values and recomputed independently from the rows."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.analytics import campaigns
from siyu.analytics.repository import GroupFigures
from siyu.auth.principal import SYSTEM, Principal
from siyu.db import Database
from siyu.kit.time import to_shanghai
from siyu.models import (
    ChannelCode,
    ChannelScan,
    Contact,
    CouponBatch,
    CouponGrant,
    PersonalDataAccess,
    Role,
)
from siyu.models.campaigns import (
    Campaign,
    CampaignParticipant,
    CampaignReferral,
    CampaignReward,
    CampaignRewardTier,
    ReferralStatus,
    RewardKind,
    RewardStatus,
)
from siyu.models.pool import ContactSourceKind
from tests.analytics.conftest import XIHU, ZHANGGONG, Scene


def recompute(session: Session, campaign_id: int) -> dict[str, Any]:
    """The figures counted in Python from every row, without the analytics queries."""
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    codes = {campaign.entry_code_id} | {
        code.id
        for code in session.scalars(select(ChannelCode))
        if code.parent_id == campaign.entry_code_id
    }
    scans = [
        s
        for s in session.scalars(select(ChannelScan))
        if s.code_id in codes or s.personal_code_id in codes
    ]
    participants = [
        p for p in session.scalars(select(CampaignParticipant)) if p.campaign_id == campaign_id
    ]
    by_consumer = {p.consumer_id: p for p in participants}
    added = [
        c
        for c in session.scalars(select(Contact))
        if c.confirmed_at is not None
        and (
            (c.source_kind == ContactSourceKind.CODE and c.source_id in codes)
            or (c.source_kind == ContactSourceKind.CAMPAIGN and c.source_id == campaign_id)
        )
    ]
    referrals = [
        r for r in session.scalars(select(CampaignReferral)) if r.campaign_id == campaign_id
    ]
    inviters = {p.id: p for p in participants}
    tiers = {t.id: t for t in session.scalars(select(CampaignRewardTier))}
    batches = {b.id: b for b in session.scalars(select(CouponBatch))}
    grants = {g.id: g for g in session.scalars(select(CouponGrant))}
    rewards = [
        r
        for r in session.scalars(select(CampaignReward))
        if r.campaign_id == campaign_id and r.status != RewardStatus.CANCELLED
    ]

    def cost(reward: CampaignReward) -> int:
        tier = tiers[reward.tier_id]
        if tier.kind != RewardKind.COUPON:
            return reward.cost_fen
        batch_id = (
            grants[reward.coupon_grant_id].coupon_batch_id
            if reward.coupon_grant_id
            else tier.coupon_batch_id
        )
        return reward.cost_fen + (batches[batch_id].face_value_fen if batch_id else 0)

    def group(
        key_of_participant: Any, key_of_contact: Any, key_of_reward: Any
    ) -> dict[Any, GroupFigures]:
        groups: dict[Any, GroupFigures] = defaultdict(GroupFigures)
        for p in participants:
            g = groups[key_of_participant(p)]
            g.participants += 1
            g.replied += p.replied_at is not None
            g.qualified += p.qualified_at is not None
            g.rewarded += p.rewarded_at is not None
            g.group_joined += p.group_joined_at is not None
            g.ordered += p.first_order_at is not None
        for c in added:
            groups[key_of_contact(c)].added += 1
        for r in referrals:
            g = groups[key_of_participant(inviters[r.inviter_participant_id])]
            g.invites += 1
            g.verified += r.status == ReferralStatus.VERIFIED
        for r in rewards:
            groups[key_of_reward(r)].reward_cost_fen += cost(r)
        return dict(groups)

    def contact_district(c: Contact) -> str:
        p = by_consumer.get(c.consumer_id)
        return p.district_code if p else c.district_code

    districts = group(lambda p: p.district_code, contact_district, lambda r: r.district_code)
    accounts = group(
        lambda p: p.account_id,
        lambda c: c.account_id,
        lambda r: inviters[r.participant_id].account_id,
    )
    for s in scans:
        accounts.setdefault(s.account_id, GroupFigures()).scans += 1
    for account_id in accounts:
        accounts[account_id].scanners = len(
            {s.consumer_id for s in scans if s.account_id == account_id and s.consumer_id}
        )
    days: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for s in scans:
        days[to_shanghai(s.scanned_at).date()]["scans"] += 1
    for c in added:
        assert c.confirmed_at is not None
        days[to_shanghai(c.confirmed_at).date()]["added"] += 1
    for p in participants:
        days[to_shanghai(p.created_at).date()]["participants"] += 1
    for r in referrals:
        if r.status == ReferralStatus.VERIFIED and r.verified_at is not None:
            days[to_shanghai(r.verified_at).date()]["verified"] += 1
    for reward in rewards:
        days[to_shanghai(reward.issued_at).date()]["rewards"] += 1
    return {
        "days": {day: dict(counts) for day, counts in days.items()},
        "scans": len(scans),
        "scanners": len({s.consumer_id for s in scans if s.consumer_id is not None}),
        "added": len(added),
        "participants": len(participants),
        "cost": sum(cost(r) for r in rewards),
        "invites": len(referrals),
        "verified": sum(r.status == ReferralStatus.VERIFIED for r in referrals),
        "districts": districts,
        "accounts": accounts,
    }


@pytest.fixture
def funnel(session: Session, scene: Scene) -> campaigns.CampaignFunnel:
    return campaigns.campaign_funnel(session, SYSTEM, scene.campaign_id)


class TestFunnel:
    def test_steps(self, funnel: campaigns.CampaignFunnel) -> None:
        assert [(s.label, s.count) for s in funnel.steps] == [
            ("扫码", 9),
            ("添加好友", 7),
            ("参与活动", 4),
            ("回复", 3),
            ("达标", 2),
            ("获得奖励", 1),
            ("进群", 1),
            ("下单", 1),
        ]
        assert funnel.totals.scans == 11
        assert [s.of_previous.percent() for s in funnel.steps] == [
            "100.0%", "77.8%", "57.1%", "75.0%", "66.7%", "50.0%", "100.0%", "100.0%",
        ]  # fmt: skip
        assert funnel.steps[-1].of_first.percent() == "11.1%"

    def test_k_factor(self, funnel: campaigns.CampaignFunnel) -> None:
        k = funnel.k
        assert (k.participants, k.invites, k.verified) == (4, 5, 3)
        assert k.invites_per_participant.decimal() == "1.25"
        assert k.invite_conversion.percent() == "60.0%"
        assert k.k.decimal() == "0.75"

    def test_cost(self, funnel: campaigns.CampaignFunnel) -> None:
        # 50.00 bag + 10.00 granted coupon + 10.00 coupon of the tier's batch; cancelled excluded.
        assert funnel.totals.reward_cost_fen == 7000
        assert funnel.cost_per_contact_fen == 1000

    def test_matches_an_independent_recount(
        self, session: Session, funnel: campaigns.CampaignFunnel, scene: Scene
    ) -> None:
        expected = recompute(session, scene.campaign_id)
        totals = funnel.totals
        assert (totals.scans, totals.scanners, totals.added, totals.participants) == (
            expected["scans"],
            expected["scanners"],
            expected["added"],
            expected["participants"],
        )
        assert (totals.invites, totals.verified, totals.reward_cost_fen) == (
            expected["invites"],
            expected["verified"],
            expected["cost"],
        )
        districts = {row.key: row.figures for row in funnel.districts}
        assert districts == {key: value for key, value in expected["districts"].items()}
        accounts = {(int(row.key) if row.key else None): row.figures for row in funnel.accounts}
        assert accounts == expected["accounts"]

    def test_other_campaigns_are_not_counted(self, session: Session, scene: Scene) -> None:
        other = campaigns.campaign_funnel(session, SYSTEM, scene.other_campaign_id)
        # It has no entry code (no scans); its one contact was added for it directly.
        assert [s.count for s in other.steps] == [0, 1, 1, 1, 1, 1, 1, 1]
        assert (other.k.invites, other.k.verified, other.totals.reward_cost_fen) == (1, 1, 9900)
        assert other.cost_per_contact_fen == 9900

    def test_an_empty_campaign(self, session: Session, scene: Scene) -> None:
        empty = campaigns.campaign_funnel(session, SYSTEM, scene.empty_campaign_id)
        assert [s.count for s in empty.steps] == [0] * 8
        assert empty.k.k.decimal() is None
        assert empty.cost_per_contact_fen is None  # no contacts: no cost per contact
        assert empty.k.invite_conversion.percent() == "—"
        assert (empty.districts, empty.accounts) == ([], [])


def day_counts(*values: int) -> dict[str, int]:
    return dict(zip(("scans", "added", "participants", "verified", "rewards"), values, strict=True))


class TestDaily:
    def test_days_in_shanghai_time_with_empty_days(self, funnel: campaigns.CampaignFunnel) -> None:
        assert [(row.day.isoformat(), row.counts) for row in funnel.days] == [
            ("2026-11-10", day_counts(1, 0, 0, 0, 0)),  # 23:59:59 Shanghai
            ("2026-11-11", day_counts(9, 6, 4, 3, 3)),  # from 00:00 Shanghai = 16:00 UTC
            ("2026-11-12", day_counts(0, 0, 0, 0, 0)),
            ("2026-11-13", day_counts(1, 1, 0, 0, 0)),
        ]

    def test_matches_an_independent_recount(
        self, session: Session, funnel: campaigns.CampaignFunnel, scene: Scene
    ) -> None:
        expected = recompute(session, scene.campaign_id)["days"]
        got = {
            row.day: {key: value for key, value in row.counts.items() if value}
            for row in funnel.days
        }
        assert {day: counts for day, counts in got.items() if counts} == expected

    def test_sums_match_the_funnel(self, funnel: campaigns.CampaignFunnel) -> None:
        assert sum(row.counts["scans"] for row in funnel.days) == funnel.totals.scans
        assert sum(row.counts["added"] for row in funnel.days) == funnel.totals.added
        assert sum(row.counts["verified"] for row in funnel.days) == funnel.totals.verified

    def test_only_the_last_days_are_kept(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(campaigns, "MAX_DAYS", 2)
        rows = campaigns._days({"scans": {"2026-11-01": 1, "2026-11-05": 2}, **EMPTY_METRICS})
        assert [(row.day.isoformat(), row.counts["scans"]) for row in rows] == [
            ("2026-11-04", 0),
            ("2026-11-05", 2),
        ]

    def test_csv(self, funnel: campaigns.CampaignFunnel) -> None:
        lines = campaigns.export_csv(funnel, "days").splitlines()
        assert lines[0] == "\ufeff日期,扫码次数,新增好友,新参与,有效邀请,发放奖励"
        assert lines[2] == "2026-11-11,9,6,4,3,3"


EMPTY_METRICS: dict[str, dict[str, int]] = {
    "added": {},
    "participants": {},
    "verified": {},
    "rewards": {},
}


class TestByDistrict:
    def test_rows(self, funnel: campaigns.CampaignFunnel) -> None:
        rows = {row.key: row for row in funnel.districts}
        assert [row.key for row in funnel.districts] == [ZHANGGONG, "", XIHU]
        zhanggong = rows[ZHANGGONG]
        assert zhanggong.label == "江西省赣州市章贡区"
        f = zhanggong.figures
        assert (f.participants, f.replied, f.qualified, f.rewarded, f.ordered) == (2, 2, 2, 1, 1)
        assert (f.added, f.invites, f.verified, f.reward_cost_fen) == (3, 4, 2, 6000)
        assert zhanggong.k.k.decimal() == "1.00"
        assert zhanggong.k.invite_conversion.percent() == "50.0%"
        assert zhanggong.cost_per_contact_fen == 2000
        xihu = rows[XIHU]
        assert xihu.label == "浙江省杭州市西湖区"
        assert (xihu.figures.added, xihu.figures.reward_cost_fen, xihu.cost_per_contact_fen) == (
            2,
            1000,
            500,
        )
        unknown = rows[""]
        assert unknown.label == "未填写"
        assert (unknown.figures.participants, unknown.figures.added) == (1, 2)
        assert unknown.k.k.decimal() == "0.00"
        assert unknown.k.invite_conversion.decimal() is None
        assert unknown.cost_per_contact_fen == 0


class TestByAccount:
    def test_rows(self, funnel: campaigns.CampaignFunnel, scene: Scene) -> None:
        rows = {row.label: row for row in funnel.accounts}
        assert set(rows) == {"活动号1", "活动号2", "未分配"}
        first = rows["活动号1"].figures
        assert (first.scans, first.scanners, first.added, first.participants) == (6, 5, 4, 2)
        assert (first.invites, first.verified, first.reward_cost_fen) == (4, 2, 6000)
        assert rows["活动号1"].cost_per_contact_fen == 1500
        second = rows["活动号2"]
        assert (second.figures.scans, second.figures.scanners, second.figures.added) == (3, 3, 3)
        assert second.cost_per_contact_fen == 333  # 10.00 / 3, half up
        assert rows["活动号1"].key == str(scene.account_ids["活动号1"])
        unassigned = rows["未分配"].figures
        assert (unassigned.scans, unassigned.scanners, unassigned.participants) == (2, 1, 0)


class TestAccess:
    def test_sponsor_sees_its_campaign(
        self, session: Session, scene: Scene, make_user: Any
    ) -> None:
        brand: Principal = make_user(Role.MERCHANT, "brand", merchant_id=scene.sponsor_id)
        assert campaigns.campaign_funnel(session, brand, scene.campaign_id).totals.added == 7
        assert [c.id for c in campaigns.list_campaigns(session, brand)] == [
            scene.empty_campaign_id,
            scene.campaign_id,
        ]

    def test_another_merchant_does_not(
        self, session: Session, scene: Scene, make_user: Any
    ) -> None:
        other: Principal = make_user(Role.MERCHANT, "other", merchant_id=scene.other_merchant_id)
        with pytest.raises(campaigns.CampaignNotFound):
            campaigns.campaign_funnel(session, other, scene.campaign_id)
        assert [c.id for c in campaigns.list_campaigns(session, other)] == [scene.other_campaign_id]

    def test_promoter_does_not(self, session: Session, scene: Scene, make_promoter: Any) -> None:
        kol = make_promoter("甲", 1)
        with pytest.raises(campaigns.CampaignNotFound):
            campaigns.campaign_funnel(session, kol.principal, scene.campaign_id)
        assert campaigns.list_campaigns(session, kol.principal) == []

    def test_unknown_campaign(self, session: Session, scene: Scene) -> None:
        with pytest.raises(campaigns.CampaignNotFound):
            campaigns.campaign_funnel(session, SYSTEM, 999_999)

    def test_no_personal_data_is_read(
        self, session: Session, database: Database, funnel: campaigns.CampaignFunnel
    ) -> None:
        assert session.scalars(select(PersonalDataAccess)).all() == []


class TestCsv:
    def test_funnel(self, funnel: campaigns.CampaignFunnel) -> None:
        text = campaigns.export_csv(funnel, "funnel")
        assert text.startswith("\ufeff环节,人数,占上一步,占扫码\r\n扫码,9,100.0%,100.0%\r\n")
        assert "下单,1,100.0%,11.1%\r\n" in text

    def test_districts(self, funnel: campaigns.CampaignFunnel) -> None:
        lines = campaigns.export_csv(funnel, "districts").splitlines()
        assert lines[0].startswith("\ufeff区县代码,区县,参与人数,")
        assert lines[1] == "360702,江西省赣州市章贡区,2,2,2,1,1,1,3,4,2,2.00,50.0%,1.00,60.00,20.00"

    def test_accounts(self, funnel: campaigns.CampaignFunnel, scene: Scene) -> None:
        lines = campaigns.export_csv(funnel, "accounts").splitlines()
        first = scene.account_ids["活动号1"]
        assert f"{first},活动号1,6,5,2,2,2,1,1,1,4,4,2,2.00,50.0%,1.00,60.00,15.00" in lines

    def test_unknown_table(self, funnel: campaigns.CampaignFunnel) -> None:
        with pytest.raises(campaigns.AnalyticsTableUnknown):
            campaigns.export_csv(funnel, "people")

    def test_formula_cells_are_defused(self) -> None:
        assert campaigns._csv([["=cmd()", "+1", "ok"]]) == "\ufeff'=cmd(),'+1,ok\r\n"
