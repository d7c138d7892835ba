"""A fission campaign's facts, built directly with the models: scans of its entry code and
personal codes, contacts, participants with milestones, referrals and rewards, plus a second
campaign and a foreign code whose rows must never be counted."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from siyu.db import Database
from siyu.models import (
    ChannelScan,
    Consumer,
    Contact,
    CouponBatch,
    CouponGrant,
    CouponGrantStatus,
    Merchant,
    MerchantStatus,
)
from siyu.models.campaigns import (
    Campaign,
    CampaignParticipant,
    CampaignReferral,
    CampaignReward,
    CampaignRewardTier,
    CampaignStatus,
    ReferralKind,
    ReferralStatus,
    RewardKind,
    RewardStatus,
)
from siyu.models.pool import ContactSourceKind, ContactState, ScanOutcome
from siyu.pool import service as pool
from tests.pool.conftest import make_account, make_code
from tests.promoters.conftest import make_promoter  # noqa: F401  (fixture re-export)

# 12:00 on 11-11 in Asia/Shanghai; one scan lands just before midnight of 11-10 there, one just
# after, and c7 comes two days later (so the trend has an empty day in between).
NOW = datetime(2026, 11, 11, 4, 0, tzinfo=UTC)
BEFORE_MIDNIGHT = datetime(2026, 11, 10, 15, 59, 59, tzinfo=UTC)  # 11-10 23:59:59 Shanghai
AT_MIDNIGHT = datetime(2026, 11, 10, 16, 0, tzinfo=UTC)  # 11-11 00:00 Shanghai
LATER = NOW + timedelta(days=2)
ZHANGGONG = "360702"  # 江西省赣州市章贡区
XIHU = "330106"  # 浙江省杭州市西湖区


@dataclass
class Scene:
    campaign_id: int
    other_campaign_id: int
    empty_campaign_id: int
    sponsor_id: int
    other_merchant_id: int
    account_ids: dict[str, int] = field(default_factory=dict)
    participant_ids: dict[str, int] = field(default_factory=dict)


def _consumer(session: Session, name: str) -> Consumer:
    consumer = Consumer(nickname=name, union_id=f"union-{name}")
    session.add(consumer)
    session.flush()
    return consumer


def build(session: Session) -> Scene:
    now = NOW
    sponsor = Merchant(name="行者箱包", contact_name="", status=MerchantStatus.ACTIVE)
    other_merchant = Merchant(name="鲜丰果园", contact_name="", status=MerchantStatus.ACTIVE)
    session.add_all([sponsor, other_merchant])
    session.flush()
    account_1 = make_account(session, "活动号1")
    account_2 = make_account(session, "活动号2")
    entry = make_code(session, name="拉杆箱活动码")
    foreign = make_code(session, name="别的活码")
    c = {
        name: _consumer(session, name)
        for name in (["c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c10"])
    }
    personal = pool.create_personal_code(session, None, entry.id, referrer_consumer_id=c["c1"].id)

    campaign = Campaign(
        name="免费领取拉杆箱",
        status=CampaignStatus.RUNNING,
        sponsor_merchant_id=sponsor.id,
        entry_code_id=entry.id,
        poster={},
        risk_rules=[],
    )
    other = Campaign(
        name="别的活动", sponsor_merchant_id=other_merchant.id, poster={}, risk_rules=[]
    )
    empty = Campaign(name="还没开始", sponsor_merchant_id=sponsor.id, poster={}, risk_rules=[])
    session.add_all([campaign, other, empty])
    session.flush()

    contacts: dict[str, int] = {}

    # Contacts: 7 confirmed from the campaign (one removed later still counts as added).
    def contact(
        consumer: str,
        account: Any,
        state: ContactState = ContactState.CONFIRMED,
        district: str = "",
        source_kind: ContactSourceKind = ContactSourceKind.CODE,
        source_id: int = entry.id,
        at: datetime = now,
    ) -> None:
        row = Contact(
            consumer_id=c[consumer].id,
            account_id=account.id,
            source_kind=source_kind,
            source_id=source_id,
            state=state,
            district_code=district,
            added_at=at,
            confirmed_at=None if state == ContactState.PENDING else at,
        )
        session.add(row)
        session.flush()
        contacts[consumer] = row.id

    contact("c1", account_1)
    contact("c2", account_1)
    contact("c3", account_2)
    contact("c4", account_2, ContactState.PENDING)
    contact("c5", account_1, district=ZHANGGONG)
    contact("c6", account_1)
    contact("c7", account_2, ContactState.REMOVED, at=LATER)
    contact("c9", account_2, district=XIHU, source_kind=ContactSourceKind.CAMPAIGN,
            source_id=campaign.id)  # fmt: skip
    contact("c8", account_1, source_id=foreign.id)  # another code: not the campaign's
    contact("c10", account_1, source_kind=ContactSourceKind.CAMPAIGN, source_id=other.id)

    # Scans (as the pool writes them: a personal code's scan carries its parent's code_id):
    # 11 rows of the campaign's codes (9 distinct people), 1 of a foreign code.
    def scan(
        consumer: str | None,
        outcome: ScanOutcome,
        account: int | None,
        personal_code: int | None = None,
        code_id: int = entry.id,
        at: datetime = now,
    ) -> None:
        session.add(
            ChannelScan(
                code_id=code_id,
                personal_code_id=personal_code,
                consumer_id=c[consumer].id if consumer else None,
                outcome=outcome,
                account_id=account,
                contact_id=contacts.get(consumer or "") if account else None,
                scanned_at=at,
            )
        )

    routed = ScanOutcome.ROUTED
    scan("c1", routed, account_1.id, at=BEFORE_MIDNIGHT)
    scan("c2", routed, account_1.id, at=AT_MIDNIGHT)
    scan("c3", routed, account_2.id)
    scan("c4", routed, account_2.id)
    scan("c5", routed, account_1.id, personal.id)
    scan("c6", ScanOutcome.SPARE, account_1.id, personal.id)
    scan("c7", routed, account_2.id, personal.id, at=LATER)
    scan("c1", ScanOutcome.ALREADY_CONTACT, account_1.id)
    scan(None, ScanOutcome.CLOSED, None)
    scan("c10", ScanOutcome.FULL, None)
    scan("c8", routed, account_1.id, code_id=foreign.id)
    # c8 was already a friend through the foreign code: the campaign's scan reached that contact
    # (the pool routes to the existing friendship), which the campaign did not bring.
    scan("c8", routed, account_1.id)

    def participant(
        consumer: str, district: str, account: Any, milestones: int, campaign_id: int = campaign.id
    ) -> CampaignParticipant:
        stamps = [now - timedelta(minutes=n) if n < milestones else None for n in range(5)]
        row = CampaignParticipant(
            campaign_id=campaign_id,
            consumer_id=c[consumer].id,
            account_id=account.id,
            district_code=district,
            personal_code_id=personal.id if consumer == "c1" else None,
            replied_at=stamps[0],
            qualified_at=stamps[1],
            rewarded_at=stamps[2],
            group_joined_at=stamps[3],
            first_order_at=stamps[4],
            created_at=now,
        )
        session.add(row)
        session.flush()
        return row

    p1 = participant("c1", ZHANGGONG, account_1, 5)
    p2 = participant("c2", ZHANGGONG, account_1, 2)
    p3 = participant("c3", XIHU, account_2, 1)
    p4 = participant("c4", "", account_2, 0)
    stranger = participant("c10", XIHU, account_1, 5, campaign_id=other.id)

    def referral(
        inviter: CampaignParticipant,
        invitee: str,
        status: ReferralStatus,
        campaign_id: int = campaign.id,
    ) -> None:
        session.add(
            CampaignReferral(
                campaign_id=campaign_id,
                inviter_participant_id=inviter.id,
                invitee_consumer_id=c[invitee].id,
                kind=ReferralKind.FRIEND_ADD,
                status=status,
                verified_at=now if status == ReferralStatus.VERIFIED else None,
            )
        )

    referral(p1, "c5", ReferralStatus.VERIFIED)
    referral(p1, "c6", ReferralStatus.VERIFIED)
    referral(p1, "c7", ReferralStatus.PENDING)
    referral(p2, "c8", ReferralStatus.REJECTED)
    referral(p3, "c9", ReferralStatus.VERIFIED)
    referral(stranger, "c9", ReferralStatus.VERIFIED, campaign_id=other.id)

    batch = CouponBatch(
        merchant_id=sponsor.id,
        name="满 50 减 10",
        face_value_fen=1000,
        threshold_fen=5000,
        total_quantity=100,
        per_user_limit=1,
        valid_from=now - timedelta(days=1),
        valid_until=now + timedelta(days=30),
    )
    session.add(batch)
    session.flush()
    grant = CouponGrant(
        coupon_batch_id=batch.id, consumer_id=c["c1"].id, status=CouponGrantStatus.ISSUED
    )
    session.add(grant)

    def tier(campaign_id: int, position: int, kind: RewardKind) -> CampaignRewardTier:
        row = CampaignRewardTier(
            campaign_id=campaign_id,
            position=position,
            name="拉杆箱" if kind == RewardKind.PHYSICAL else "优惠券",
            threshold=3,
            kind=kind,
            coupon_batch_id=batch.id if kind == RewardKind.COUPON else None,
            unit_cost_fen=5000 if kind == RewardKind.PHYSICAL else 0,
        )
        session.add(row)
        session.flush()
        return row

    bag = tier(campaign.id, 1, RewardKind.PHYSICAL)
    coupon = tier(campaign.id, 2, RewardKind.COUPON)
    other_bag = tier(other.id, 1, RewardKind.PHYSICAL)
    session.flush()

    def reward(
        row: CampaignParticipant,
        reward_tier: CampaignRewardTier,
        cost: int,
        district: str,
        status: RewardStatus = RewardStatus.ISSUED,
        grant_id: int | None = None,
    ) -> None:
        session.add(
            CampaignReward(
                campaign_id=reward_tier.campaign_id,
                participant_id=row.id,
                tier_id=reward_tier.id,
                district_code=district,
                status=status,
                coupon_grant_id=grant_id,
                cost_fen=cost,
                issued_at=now,
            )
        )

    reward(p1, bag, 5000, ZHANGGONG)
    reward(p1, coupon, 0, ZHANGGONG, grant_id=grant.id)  # + face value 10.00 (granted batch)
    reward(p2, bag, 5000, ZHANGGONG, RewardStatus.CANCELLED)  # not counted
    reward(p3, coupon, 0, XIHU)  # + face value 10.00 (the tier's batch)
    reward(stranger, other_bag, 9900, XIHU)
    session.flush()
    return Scene(
        campaign_id=campaign.id,
        other_campaign_id=other.id,
        empty_campaign_id=empty.id,
        sponsor_id=sponsor.id,
        other_merchant_id=other_merchant.id,
        account_ids={"活动号1": account_1.id, "活动号2": account_2.id},
        participant_ids={"p1": p1.id, "p2": p2.id, "p3": p3.id, "p4": p4.id},
    )


@pytest.fixture
def scene(database: Database) -> Scene:
    with database.sessions() as session:
        built = build(session)
        session.commit()
    return built
