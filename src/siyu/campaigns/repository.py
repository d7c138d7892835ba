"""Every campaign query. Stock is taken by conditional UPDATEs, never read-then-write."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from siyu.kit.pagination import Page, PageRequest
from siyu.models import ChannelCode, Consumer, Contact, CouponBatch, GroupCode, GroupMember
from siyu.models.campaigns import (
    ALL_DISTRICTS,
    Campaign,
    CampaignInventory,
    CampaignParticipant,
    CampaignProof,
    CampaignReferral,
    CampaignReward,
    CampaignRewardTier,
    CampaignStatus,
    ProofStatus,
    ReferralKind,
    ReferralStatus,
    RewardFulfilment,
)
from siyu.models.segments import ReleaseRule

T = TypeVar("T")


def _paginate(session: Session, statement: Select[Any], page: PageRequest) -> Page[Any]:
    counted = statement.order_by(None).subquery()
    total = session.scalar(select(func.count()).select_from(counted)) or 0
    items = session.scalars(statement.offset(page.offset).limit(page.size)).all()
    return Page(list(items), total, page)


class CampaignRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: T) -> T:
        self.session.add(row)
        self.session.flush()
        return row

    # --- campaigns ---------------------------------------------------------------------------

    def get(self, campaign_id: int) -> Campaign | None:
        return self.session.get(Campaign, campaign_id)

    def get_for_update(self, campaign_id: int) -> Campaign | None:
        return self.session.scalar(
            select(Campaign)
            .where(Campaign.id == campaign_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    def listing(self, page: PageRequest, sponsor_merchant_id: int | None) -> Page[Campaign]:
        statement = select(Campaign)
        if sponsor_merchant_id is not None:
            statement = statement.where(Campaign.sponsor_merchant_id == sponsor_merchant_id)
        return _paginate(self.session, statement.order_by(Campaign.id.desc()), page)

    def live_by_entry_code(self, code_id: int) -> Sequence[Campaign]:
        """Campaigns (running or paused) whose entry code is this routing code."""
        return self.session.scalars(
            select(Campaign)
            .where(
                Campaign.entry_code_id == code_id,
                Campaign.status.in_([CampaignStatus.RUNNING, CampaignStatus.PAUSED]),
            )
            .order_by(Campaign.id)
        ).all()

    def builder_choices(
        self,
    ) -> tuple[
        Sequence[ChannelCode], Sequence[GroupCode], Sequence[ReleaseRule], Sequence[CouponBatch]
    ]:
        """What the builder's selects offer: routing codes (not personal codes), group codes,
        the platform's release rules and active coupon batches."""
        codes = self.session.scalars(
            select(ChannelCode).where(ChannelCode.parent_id.is_(None)).order_by(ChannelCode.id)
        ).all()
        group_codes = self.session.scalars(select(GroupCode).order_by(GroupCode.id)).all()
        release_rules = self.session.scalars(
            select(ReleaseRule)
            .where(ReleaseRule.owner_promoter_id.is_(None))
            .order_by(ReleaseRule.id)
        ).all()
        batches = self.session.scalars(
            select(CouponBatch).where(CouponBatch.is_active.is_(True)).order_by(CouponBatch.id)
        ).all()
        return codes, group_codes, release_rules, batches

    def participations_without_first_order(self, consumer_id: int) -> Sequence[CampaignParticipant]:
        return self.session.scalars(
            select(CampaignParticipant).where(
                CampaignParticipant.consumer_id == consumer_id,
                CampaignParticipant.first_order_at.is_(None),
            )
        ).all()

    # --- tiers and stock ---------------------------------------------------------------------

    def tiers(self, campaign_id: int) -> Sequence[CampaignRewardTier]:
        return self.session.scalars(
            select(CampaignRewardTier)
            .where(CampaignRewardTier.campaign_id == campaign_id)
            .order_by(CampaignRewardTier.position)
        ).all()

    def tier(self, tier_id: int) -> CampaignRewardTier | None:
        return self.session.get(CampaignRewardTier, tier_id)

    def delete_tiers(self, campaign_id: int) -> None:
        for row in self.inventory(campaign_id):
            self.session.delete(row)
        self.session.flush()
        for tier in self.tiers(campaign_id):
            self.session.delete(tier)
        self.session.flush()

    def inventory(self, campaign_id: int) -> Sequence[CampaignInventory]:
        return self.session.scalars(
            select(CampaignInventory)
            .where(CampaignInventory.campaign_id == campaign_id)
            .order_by(CampaignInventory.tier_id, CampaignInventory.district_code)
        ).all()

    def tier_districts(self, tier_id: int) -> list[str]:
        return list(
            self.session.scalars(
                select(CampaignInventory.district_code)
                .where(
                    CampaignInventory.tier_id == tier_id,
                    CampaignInventory.district_code != ALL_DISTRICTS,
                )
                .order_by(CampaignInventory.district_code)
            ).all()
        )

    def stock_row(self, tier_id: int, district_code: str) -> CampaignInventory | None:
        return self.session.scalar(
            select(CampaignInventory).where(
                CampaignInventory.tier_id == tier_id,
                CampaignInventory.district_code == district_code,
            )
        )

    def take_stock(self, tier_id: int, district_code: str) -> bool:
        """One more issued while some are left (``issued < total``). False: nothing changed."""
        result = self.session.execute(
            update(CampaignInventory)
            .where(
                CampaignInventory.tier_id == tier_id,
                CampaignInventory.district_code == district_code,
                CampaignInventory.issued < CampaignInventory.total,
            )
            .values(issued=CampaignInventory.issued + 1)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    # --- participants ------------------------------------------------------------------------

    def participant(self, participant_id: int) -> CampaignParticipant | None:
        return self.session.get(CampaignParticipant, participant_id)

    def participant_for_update(self, participant_id: int) -> CampaignParticipant | None:
        return self.session.scalar(
            select(CampaignParticipant)
            .where(CampaignParticipant.id == participant_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    def participant_of(self, campaign_id: int, consumer_id: int) -> CampaignParticipant | None:
        return self.session.scalar(
            select(CampaignParticipant).where(
                CampaignParticipant.campaign_id == campaign_id,
                CampaignParticipant.consumer_id == consumer_id,
            )
        )

    def participants(self, campaign_id: int, page: PageRequest) -> Page[CampaignParticipant]:
        statement = select(CampaignParticipant).where(
            CampaignParticipant.campaign_id == campaign_id
        )
        return _paginate(self.session, statement.order_by(CampaignParticipant.id), page)

    def participant_ids_to_invite(self, campaign_id: int, limit: int) -> list[int]:
        return list(
            self.session.scalars(
                select(CampaignParticipant.id)
                .where(
                    CampaignParticipant.campaign_id == campaign_id,
                    CampaignParticipant.group_invited_at.is_(None),
                    CampaignParticipant.contact_id.is_not(None),
                )
                .order_by(CampaignParticipant.id)
                .limit(limit)
            ).all()
        )

    def participants_awaiting_group(
        self, consumer_id: int, group_code_id: int
    ) -> Sequence[CampaignParticipant]:
        """This consumer's participations in campaigns using this coupon-group code, not yet
        marked as joined."""
        return self.session.scalars(
            select(CampaignParticipant)
            .join(Campaign, Campaign.id == CampaignParticipant.campaign_id)
            .where(
                CampaignParticipant.consumer_id == consumer_id,
                CampaignParticipant.group_joined_at.is_(None),
                Campaign.group_code_id == group_code_id,
            )
            .order_by(CampaignParticipant.id)
        ).all()

    def participants_count(self, campaign_id: int) -> int:
        return int(
            self.session.scalar(
                select(func.count())
                .select_from(CampaignParticipant)
                .where(CampaignParticipant.campaign_id == campaign_id)
            )
            or 0
        )

    def nicknames(self, consumer_ids: Iterable[int]) -> dict[int, str]:
        ids = sorted(set(consumer_ids))
        if not ids:
            return {}
        rows = self.session.execute(
            select(Consumer.id, Consumer.nickname).where(Consumer.id.in_(ids))
        ).all()
        return {row[0]: row[1] for row in rows}

    # --- referrals ---------------------------------------------------------------------------

    def referral_of(self, campaign_id: int, invitee_consumer_id: int) -> CampaignReferral | None:
        return self.session.scalar(
            select(CampaignReferral).where(
                CampaignReferral.campaign_id == campaign_id,
                CampaignReferral.invitee_consumer_id == invitee_consumer_id,
            )
        )

    def referrals_by_inviter(self, participant_id: int) -> Sequence[CampaignReferral]:
        return self.session.scalars(
            select(CampaignReferral)
            .where(CampaignReferral.inviter_participant_id == participant_id)
            .order_by(CampaignReferral.id)
        ).all()

    def referrals_by_inviters(self, participant_ids: Sequence[int]) -> Sequence[CampaignReferral]:
        if not participant_ids:
            return []
        return self.session.scalars(
            select(CampaignReferral)
            .where(CampaignReferral.inviter_participant_id.in_(participant_ids))
            .order_by(CampaignReferral.id)
        ).all()

    def verified_count(self, participant_id: int, kind: ReferralKind) -> int:
        return int(
            self.session.scalar(
                select(func.count())
                .select_from(CampaignReferral)
                .where(
                    CampaignReferral.inviter_participant_id == participant_id,
                    CampaignReferral.status == ReferralStatus.VERIFIED,
                    CampaignReferral.kind == kind,
                )
            )
            or 0
        )

    def device_invites(self, participant_id: int, device_hash: str, before_id: int) -> int:
        """The inviter's live invites from this device recorded before ``before_id``."""
        return int(
            self.session.scalar(
                select(func.count())
                .select_from(CampaignReferral)
                .where(
                    CampaignReferral.inviter_participant_id == participant_id,
                    CampaignReferral.device_hash == device_hash,
                    CampaignReferral.id < before_id,
                    CampaignReferral.status.in_([ReferralStatus.PENDING, ReferralStatus.VERIFIED]),
                )
            )
            or 0
        )

    def live_referrals_of_invitee(
        self, invitee_consumer_id: int, statuses: Sequence[ReferralStatus]
    ) -> Sequence[CampaignReferral]:
        return self.session.scalars(
            select(CampaignReferral)
            .where(
                CampaignReferral.invitee_consumer_id == invitee_consumer_id,
                CampaignReferral.status.in_(list(statuses)),
            )
            .order_by(CampaignReferral.id)
        ).all()

    def had_contact_before(self, consumer_id: int, contact_id: int, before: datetime) -> bool:
        """Another friendship of this person (any account, any state) older than ``before``."""
        found = self.session.scalar(
            select(Contact.id)
            .where(
                Contact.consumer_id == consumer_id,
                Contact.id != contact_id,
                Contact.added_at < before,
            )
            .limit(1)
        )
        return found is not None

    def in_any_group(self, consumer_id: int) -> bool:
        found = self.session.scalar(
            select(GroupMember.id)
            .where(GroupMember.consumer_id == consumer_id, GroupMember.left_at.is_(None))
            .limit(1)
        )
        return found is not None

    # --- proofs ------------------------------------------------------------------------------

    def proof(self, proof_id: int) -> CampaignProof | None:
        return self.session.get(CampaignProof, proof_id)

    def proof_for_update(self, proof_id: int) -> CampaignProof | None:
        return self.session.scalar(
            select(CampaignProof)
            .where(CampaignProof.id == proof_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    def proofs(
        self, campaign_id: int, status: ProofStatus | None, page: PageRequest
    ) -> Page[CampaignProof]:
        statement = select(CampaignProof).where(CampaignProof.campaign_id == campaign_id)
        if status is not None:
            statement = statement.where(CampaignProof.status == status)
        return _paginate(self.session, statement.order_by(CampaignProof.id), page)

    def proofs_of(self, participant_id: int) -> Sequence[CampaignProof]:
        return self.session.scalars(
            select(CampaignProof)
            .where(CampaignProof.participant_id == participant_id)
            .order_by(CampaignProof.id)
        ).all()

    def proof_with_hash(self, campaign_id: int, sha256: str) -> CampaignProof | None:
        return self.session.scalar(
            select(CampaignProof)
            .where(
                CampaignProof.campaign_id == campaign_id,
                CampaignProof.sha256 == sha256,
                CampaignProof.status != ProofStatus.REJECTED,
            )
            .limit(1)
        )

    def approved_proofs(self, participant_id: int) -> int:
        return int(
            self.session.scalar(
                select(func.count())
                .select_from(CampaignProof)
                .where(
                    CampaignProof.participant_id == participant_id,
                    CampaignProof.status == ProofStatus.APPROVED,
                )
            )
            or 0
        )

    def pending_proofs(self, participant_id: int) -> int:
        return int(
            self.session.scalar(
                select(func.count())
                .select_from(CampaignProof)
                .where(
                    CampaignProof.participant_id == participant_id,
                    CampaignProof.status == ProofStatus.PENDING,
                )
            )
            or 0
        )

    # --- rewards -----------------------------------------------------------------------------

    def reward_of(self, participant_id: int, tier_id: int) -> CampaignReward | None:
        return self.session.scalar(
            select(CampaignReward).where(
                CampaignReward.participant_id == participant_id,
                CampaignReward.tier_id == tier_id,
            )
        )

    def rewards_of(self, participant_id: int) -> Sequence[CampaignReward]:
        return self.session.scalars(
            select(CampaignReward)
            .where(CampaignReward.participant_id == participant_id)
            .order_by(CampaignReward.id)
        ).all()

    def rewards(self, campaign_id: int, page: PageRequest) -> Page[CampaignReward]:
        statement = select(CampaignReward).where(CampaignReward.campaign_id == campaign_id)
        return _paginate(self.session, statement.order_by(CampaignReward.id), page)

    def reward(self, reward_id: int) -> CampaignReward | None:
        return self.session.get(CampaignReward, reward_id)

    def fulfilment_of(self, reward_id: int) -> RewardFulfilment | None:
        return self.session.scalar(
            select(RewardFulfilment).where(RewardFulfilment.reward_id == reward_id)
        )

    def fulfilments(self, reward_ids: Sequence[int]) -> dict[int, RewardFulfilment]:
        if not reward_ids:
            return {}
        rows = self.session.scalars(
            select(RewardFulfilment).where(RewardFulfilment.reward_id.in_(list(reward_ids)))
        ).all()
        return {row.reward_id: row for row in rows}

    def fulfilment(self, fulfilment_id: int) -> RewardFulfilment | None:
        return self.session.get(RewardFulfilment, fulfilment_id)
