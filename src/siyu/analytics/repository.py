"""Campaign analytics queries: every figure is counted from the fact tables (channel_scan,
contact, campaign_participant, campaign_referral, campaign_reward), grouped in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Date, and_, case, cast, distinct, func, select
from sqlalchemy.orm import Session, aliased

from siyu.models import ChannelCode, ChannelScan, Contact, CouponBatch, CouponGrant
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
from siyu.models.pool import ContactSourceKind, OperatorAccount

# Group keys: None = the whole campaign.
Grouping = str | None  # "district" | "account" | None


@dataclass
class GroupFigures:
    """Counts for one group (a district, an account, or the whole campaign)."""

    scans: int = 0
    scanners: int = 0
    added: int = 0
    participants: int = 0
    replied: int = 0
    qualified: int = 0
    rewarded: int = 0
    group_joined: int = 0
    ordered: int = 0
    invites: int = 0
    verified: int = 0
    reward_cost_fen: int = 0


class AnalyticsRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # --- campaigns ----------------------------------------------------------------------------

    def campaign(self, campaign_id: int) -> Campaign | None:
        return self.session.get(Campaign, campaign_id)

    def campaigns(self, sponsor_merchant_id: int | None, only_sponsor: bool) -> Sequence[Campaign]:
        query = select(Campaign).order_by(Campaign.id.desc()).limit(200)
        if only_sponsor:
            query = query.where(Campaign.sponsor_merchant_id == sponsor_merchant_id)
        return self.session.scalars(query).all()

    def code_ids(self, entry_code_id: int | None) -> list[int]:
        """The campaign's entry code and its personal child codes."""
        if entry_code_id is None:
            return []
        children = self.session.scalars(
            select(ChannelCode.id).where(ChannelCode.parent_id == entry_code_id)
        ).all()
        return [entry_code_id, *children]

    def account_names(self, account_ids: Sequence[int]) -> dict[int, str]:
        if not account_ids:
            return {}
        rows = self.session.execute(
            select(OperatorAccount.id, OperatorAccount.name).where(
                OperatorAccount.id.in_(list(account_ids))
            )
        ).all()
        return {row[0]: row[1] for row in rows}

    # --- facts --------------------------------------------------------------------------------

    def _grouped(self, query: Any, key: Any, grouping: Grouping) -> list[tuple[Any, ...]]:
        if grouping is None:
            return [(None, *row) for row in self.session.execute(query).all()]
        grouped = query.add_columns(key.label("group_key")).group_by(key)
        return [(row[-1], *row[:-1]) for row in self.session.execute(grouped).all()]

    def scans(self, code_ids: list[int], grouping: Grouping) -> dict[Any, tuple[int, int]]:
        """(scan rows, distinct scanners) per group. A scan of a personal code is stored with
        its parent's ``code_id`` (and the personal code in ``personal_code_id``), so
        ``code_id IN (entry, personal codes…)`` finds them all through the (code_id,
        scanned_at) index. Scans carry no district: by district the whole campaign's figure is
        under the key None."""
        if not code_ids:
            return {}
        query = select(func.count(), func.count(distinct(ChannelScan.consumer_id))).where(
            ChannelScan.code_id.in_(code_ids)
        )
        if grouping == "district":
            grouping = None
        rows = self._grouped(query, ChannelScan.account_id, grouping)
        return {row[0]: (int(row[1]), int(row[2])) for row in rows}

    def added(self, campaign_id: int, code_ids: list[int], grouping: Grouping) -> dict[Any, int]:
        """Confirmed contacts the campaign brought: made by a scan of its codes (reached through
        the scans, whose code index is small, and still sourced from those codes) plus those
        added for the campaign directly (source ``campaign``). The two sets are disjoint by
        ``source_kind``. By district: the participant's district when the contact took part,
        else the district the contact gave."""
        participant = aliased(CampaignParticipant)

        def count(query: Any) -> dict[Any, int]:
            query = query.outerjoin(
                participant,
                and_(
                    participant.campaign_id == campaign_id,
                    participant.consumer_id == Contact.consumer_id,
                ),
            ).where(Contact.confirmed_at.is_not(None))
            key: Any = None
            if grouping == "district":
                key = func.coalesce(participant.district_code, Contact.district_code)
            elif grouping == "account":
                key = Contact.account_id
            return {row[0]: int(row[1]) for row in self._grouped(query, key, grouping)}

        direct = count(
            select(func.count(Contact.id))
            .select_from(Contact)
            .where(
                Contact.source_kind == ContactSourceKind.CAMPAIGN,
                Contact.source_id == campaign_id,
            )
        )
        if not code_ids:
            return direct
        scanned = (
            select(ChannelScan.contact_id)
            .where(ChannelScan.code_id.in_(code_ids), ChannelScan.contact_id.is_not(None))
            .distinct()
            .subquery()
        )
        by_scan = count(
            select(func.count(Contact.id))
            .select_from(scanned)
            .join(Contact, Contact.id == scanned.c.contact_id)
            .where(Contact.source_kind == ContactSourceKind.CODE, Contact.source_id.in_(code_ids))
        )
        for key, value in direct.items():
            by_scan[key] = by_scan.get(key, 0) + value
        return by_scan

    def participants(self, campaign_id: int, grouping: Grouping) -> dict[Any, tuple[int, ...]]:
        """(participants, replied, qualified, rewarded, joined group, ordered) per group."""
        p = CampaignParticipant
        query = select(
            func.count(),
            func.count(p.replied_at),
            func.count(p.qualified_at),
            func.count(p.rewarded_at),
            func.count(p.group_joined_at),
            func.count(p.first_order_at),
        ).where(p.campaign_id == campaign_id)
        key = _participant_key(p, grouping)
        return {
            row[0]: tuple(int(v) for v in row[1:]) for row in self._grouped(query, key, grouping)
        }

    def referrals(self, campaign_id: int, grouping: Grouping) -> dict[Any, tuple[int, int]]:
        """(invites, verified invites) per group of the inviting participant."""
        p = aliased(CampaignParticipant)
        verified = func.count(case((CampaignReferral.status == ReferralStatus.VERIFIED, 1)))
        query = (
            select(func.count(), verified)
            .select_from(CampaignReferral)
            .join(p, p.id == CampaignReferral.inviter_participant_id)
            .where(CampaignReferral.campaign_id == campaign_id)
        )
        key = _participant_key(p, grouping)
        return {row[0]: (int(row[1]), int(row[2])) for row in self._grouped(query, key, grouping)}

    def reward_costs(self, campaign_id: int, grouping: Grouping) -> dict[Any, int]:
        """Σ cost of the campaign's rewards (cancelled ones excluded): ``cost_fen`` plus the
        coupon's face value for coupon rewards (the granted coupon's batch, else the tier's)."""
        p = aliased(CampaignParticipant)
        granted_batch = aliased(CouponBatch)
        tier_batch = aliased(CouponBatch)
        face = case(
            (
                CampaignRewardTier.kind == RewardKind.COUPON,
                func.coalesce(granted_batch.face_value_fen, tier_batch.face_value_fen, 0),
            ),
            else_=0,
        )
        query = (
            select(func.coalesce(func.sum(CampaignReward.cost_fen + face), 0))
            .select_from(CampaignReward)
            .join(CampaignRewardTier, CampaignRewardTier.id == CampaignReward.tier_id)
            .join(p, p.id == CampaignReward.participant_id)
            .outerjoin(CouponGrant, CouponGrant.id == CampaignReward.coupon_grant_id)
            .outerjoin(granted_batch, granted_batch.id == CouponGrant.coupon_batch_id)
            .outerjoin(tier_batch, tier_batch.id == CampaignRewardTier.coupon_batch_id)
            .where(
                CampaignReward.campaign_id == campaign_id,
                CampaignReward.status != RewardStatus.CANCELLED,
            )
        )
        key: Any = None
        if grouping == "district":
            key = CampaignReward.district_code
        elif grouping == "account":
            key = p.account_id
        return {row[0]: int(row[1]) for row in self._grouped(query, key, grouping)}


DAILY_METRICS = ("scans", "added", "participants", "verified", "rewards")


class DailyRepository:
    """Per Asia/Shanghai day counts of one campaign's facts (the trend chart)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect.name

    def _day(self, column: Any) -> Any:
        """The Asia/Shanghai calendar day of a UTC timestamp column, in SQL. China has had no
        daylight saving since 1991, so SQLite's fixed +8 hours is exact."""
        if self.dialect == "sqlite":
            return func.date(column, "+8 hours")
        return cast(func.timezone("Asia/Shanghai", column), Date)

    def _counts(self, query: Any, column: Any) -> dict[str, int]:
        day = self._day(column)
        rows = self.session.execute(
            query.add_columns(day.label("day")).where(column.is_not(None)).group_by(day)
        ).all()
        return {str(row[-1]): int(row[0]) for row in rows}

    def daily(self, campaign_id: int, code_ids: list[int]) -> dict[str, dict[str, int]]:
        """{metric: {"YYYY-MM-DD": count}} for ``DAILY_METRICS``: scans (scanned_at), added
        contacts (confirmed_at, the same set as the funnel's), participants (joined), verified
        referrals (verified_at), rewards issued (issued_at, cancelled ones excluded)."""
        result: dict[str, dict[str, int]] = {metric: {} for metric in DAILY_METRICS}
        if code_ids:
            result["scans"] = self._counts(
                select(func.count()).where(ChannelScan.code_id.in_(code_ids)),
                ChannelScan.scanned_at,
            )
            scanned = (
                select(ChannelScan.contact_id)
                .where(ChannelScan.code_id.in_(code_ids), ChannelScan.contact_id.is_not(None))
                .distinct()
                .subquery()
            )
            result["added"] = self._counts(
                select(func.count(Contact.id))
                .select_from(scanned)
                .join(Contact, Contact.id == scanned.c.contact_id)
                .where(
                    Contact.source_kind == ContactSourceKind.CODE,
                    Contact.source_id.in_(code_ids),
                ),
                Contact.confirmed_at,
            )
        direct = self._counts(
            select(func.count(Contact.id)).where(
                Contact.source_kind == ContactSourceKind.CAMPAIGN,
                Contact.source_id == campaign_id,
            ),
            Contact.confirmed_at,
        )
        for day, count in direct.items():
            result["added"][day] = result["added"].get(day, 0) + count
        result["participants"] = self._counts(
            select(func.count()).where(CampaignParticipant.campaign_id == campaign_id),
            CampaignParticipant.created_at,
        )
        result["verified"] = self._counts(
            select(func.count()).where(
                CampaignReferral.campaign_id == campaign_id,
                CampaignReferral.status == ReferralStatus.VERIFIED,
            ),
            CampaignReferral.verified_at,
        )
        result["rewards"] = self._counts(
            select(func.count()).where(
                CampaignReward.campaign_id == campaign_id,
                CampaignReward.status != RewardStatus.CANCELLED,
            ),
            CampaignReward.issued_at,
        )
        return result


def _participant_key(participant: Any, grouping: Grouping) -> Any:
    if grouping == "district":
        return participant.district_code
    if grouping == "account":
        return participant.account_id
    return None
