"""Fission campaigns (裂变活动): campaign, reward tiers, inventory by district, participants, the
referral tree, screenshot proofs, rewards and their fulfilment. See docs/campaigns.md.

Inventory is taken by conditional UPDATEs (``issued < total``) on the district row and on the
tier's total row in one transaction, so concurrent claims can never oversell. A reward is unique
per (participant, tier): issued exactly once. A referral is unique per (campaign, invitee): a new
person counts once, for the first participant who brought them.

Table and column names here are stable (other branches build on them); add, do not rename.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from siyu.models.base import Base, BigId, IdMixin, TimestampMixin, UTCDateTime, str_enum

# Where a campaign's total (not district) inventory row keeps its district code.
ALL_DISTRICTS = ""


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    ENDED = "ended"
    ARCHIVED = "archived"


CAMPAIGN_STATUS_LABELS = {
    CampaignStatus.DRAFT: "草稿",
    CampaignStatus.RUNNING: "进行中",
    CampaignStatus.PAUSED: "已暂停",
    CampaignStatus.ENDED: "已结束",
    CampaignStatus.ARCHIVED: "已归档",
}


class CampaignTrigger(enum.StrEnum):
    """What earns a participant progress towards a reward tier."""

    FRIEND_ADD = "friend_add"  # verified new friend adds through the personal code (default)
    FIRST_PURCHASE = "first_purchase"  # verified first purchases by invited consumers
    SHARE_PROOF = "share_proof"  # the seed's share + screenshot (high risk: needs an audited ack)


CAMPAIGN_TRIGGER_LABELS = {
    CampaignTrigger.FRIEND_ADD: "邀请好友添加（已验证）",
    CampaignTrigger.FIRST_PURCHASE: "邀请好友首单（已验证）",
    CampaignTrigger.SHARE_PROOF: "分享截图（高风险）",
}


class CampaignRisk(enum.StrEnum):
    LOW = "low"
    HIGH = "high"


class Campaign(IdMixin, TimestampMixin, Base):
    """One fission campaign.

    ``poster``: the poster template, JSON
    ``{"width": 1080, "height": 1920, "background": "<upload url or #rrggbb>", "title": str,
    "text": str, "qr": {"x", "y", "size"}, "nickname": {"x", "y", "size", "color"},
    "title_box": {...}, "text_box": {...}}`` (see siyu.posters).
    ``risk_rules``: the ids of the compliance rules the campaign matched on its last check.
    """

    __tablename__ = "campaign"

    name: Mapped[str] = mapped_column(String(80))
    status: Mapped[CampaignStatus] = mapped_column(
        str_enum(CampaignStatus, 16), default=CampaignStatus.DRAFT
    )
    trigger: Mapped[CampaignTrigger] = mapped_column(
        str_enum(CampaignTrigger, 20), default=CampaignTrigger.FRIEND_ADD
    )
    sponsor_merchant_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("merchant.id"))
    entry_code_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("channel_code.id"))
    group_code_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("group_code.id"), doc="the coupon groups participants are invited to"
    )
    flow_id: Mapped[int | None] = mapped_column(
        BigId, doc="the conversation flow new contacts of the entry code start (siyu.flows)"
    )
    poster: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    rules_text: Mapped[str] = mapped_column(Text, default="", doc="活动规则 shown to people")
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    invalidation_days: Mapped[int | None] = mapped_column(
        Integer, doc="an invite is invalidated if the invitee leaves within N days (None = never)"
    )
    max_invites_per_device: Mapped[int] = mapped_column(Integer, default=3)
    risk: Mapped[CampaignRisk] = mapped_column(str_enum(CampaignRisk, 8), default=CampaignRisk.LOW)
    risk_rules: Mapped[list[str]] = mapped_column(JSON, default=list)
    risk_acknowledged_by_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("user.id"))
    risk_acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    risk_acknowledgement: Mapped[str] = mapped_column(String(500), default="")
    risk_acknowledged_rules: Mapped[list[str]] = mapped_column(
        JSON,
        default=list,
        doc="rule ids the acknowledgement covered (a new match needs a new one)",
    )
    created_by_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("user.id"))
    launched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    styles: Mapped[list[str]] = mapped_column(
        JSON, default=list, doc="the numbered styles people choose from (1号款, 2号款…)"
    )
    release_rule_id: Mapped[int | None] = mapped_column(
        BigId,
        ForeignKey("release_rule.id"),
        doc="the filtering rule run on non-participants when the campaign ends (siyu.segments)",
    )
    group_invite_text: Mapped[str] = mapped_column(
        String(500), default="", doc="the message inviting participants into the coupon groups"
    )


class RewardKind(enum.StrEnum):
    PHYSICAL = "physical"  # a gift shipped from sponsor inventory (拉杆箱)
    COUPON = "coupon"  # a coupon from a coupon batch


class CampaignRewardTier(IdMixin, TimestampMixin, Base):
    """≥ ``threshold`` verified invites (or approved proofs) → this reward; ``is_bonus`` marks the
    seed's extra gift (≥150)."""

    __tablename__ = "campaign_reward_tier"
    __table_args__ = (
        UniqueConstraint("campaign_id", "position"),
        CheckConstraint("threshold >= 0", name="threshold_not_negative"),
        CheckConstraint("unit_cost_fen >= 0", name="unit_cost_not_negative"),
    )

    campaign_id: Mapped[int] = mapped_column(BigId, ForeignKey("campaign.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(80))
    threshold: Mapped[int] = mapped_column(Integer)
    kind: Mapped[RewardKind] = mapped_column(str_enum(RewardKind, 16))
    coupon_batch_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("coupon_batch.id"))
    unit_cost_fen: Mapped[int] = mapped_column(BigInteger, default=0, doc="for cost per contact")
    is_bonus: Mapped[bool] = mapped_column(Boolean, default=False)


class CampaignInventory(IdMixin, Base):
    """Reward stock (名额) of one tier: ``district_code`` = '' is the tier's total, other rows are
    a district's share. Claiming takes one from both in one transaction."""

    __tablename__ = "campaign_inventory"
    __table_args__ = (
        UniqueConstraint("tier_id", "district_code"),
        CheckConstraint("total >= 0", name="total_not_negative"),
        CheckConstraint("issued >= 0 AND issued <= total", name="issued_in_range"),
    )

    campaign_id: Mapped[int] = mapped_column(BigId, ForeignKey("campaign.id"), index=True)
    tier_id: Mapped[int] = mapped_column(BigId, ForeignKey("campaign_reward_tier.id"))
    district_code: Mapped[str] = mapped_column(String(6), default=ALL_DISTRICTS)
    total: Mapped[int] = mapped_column(BigInteger)
    issued: Mapped[int] = mapped_column(BigInteger, default=0)


class ParticipantStatus(enum.StrEnum):
    ACTIVE = "active"
    DISQUALIFIED = "disqualified"


class CampaignParticipant(IdMixin, TimestampMixin, Base):
    """One consumer taking part. The milestone timestamps are facts set once, when they happen;
    the funnel counts them (scans and adds come from channel_scan / contact)."""

    __tablename__ = "campaign_participant"
    __table_args__ = (UniqueConstraint("campaign_id", "consumer_id"),)

    campaign_id: Mapped[int] = mapped_column(BigId, ForeignKey("campaign.id"))
    consumer_id: Mapped[int] = mapped_column(BigId, ForeignKey("consumer.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("contact.id"))
    account_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("operator_account.id"))
    personal_code_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("channel_code.id"))
    invited_by_participant_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("campaign_participant.id")
    )
    district_code: Mapped[str] = mapped_column(String(6), default="")
    choice: Mapped[str] = mapped_column(String(64), default="", doc="the style number chosen")
    status: Mapped[ParticipantStatus] = mapped_column(
        str_enum(ParticipantStatus, 16), default=ParticipantStatus.ACTIVE
    )
    status_reason: Mapped[str] = mapped_column(String(200), default="")
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    qualified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rewarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    group_joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    group_invited_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), doc="when the end-of-campaign job sent the coupon-group invitation"
    )
    first_order_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ReferralKind(enum.StrEnum):
    FRIEND_ADD = "friend_add"
    FIRST_PURCHASE = "first_purchase"


class ReferralStatus(enum.StrEnum):
    PENDING = "pending"  # added, not yet verified (e.g. waiting for the first purchase)
    VERIFIED = "verified"
    INVALIDATED = "invalidated"  # invitee removed the account / left all groups within N days
    REJECTED = "rejected"  # self-invite, same device over the cap, not new


class CampaignReferral(IdMixin, TimestampMixin, Base):
    """Who invited whom. One row per (campaign, invitee): a new person counts once."""

    __tablename__ = "campaign_referral"
    __table_args__ = (
        UniqueConstraint("campaign_id", "invitee_consumer_id"),
        Index("ix_campaign_referral_inviter_status", "inviter_participant_id", "status"),
    )

    campaign_id: Mapped[int] = mapped_column(BigId, ForeignKey("campaign.id"))
    inviter_participant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("campaign_participant.id")
    )
    invitee_consumer_id: Mapped[int] = mapped_column(BigId, ForeignKey("consumer.id"))
    contact_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("contact.id"))
    kind: Mapped[ReferralKind] = mapped_column(str_enum(ReferralKind, 16))
    status: Mapped[ReferralStatus] = mapped_column(str_enum(ReferralStatus, 16))
    reason: Mapped[str] = mapped_column(String(200), default="")
    device_hash: Mapped[str | None] = mapped_column(String(64))
    order_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("sales_order.id"))
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    invalidated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ProofStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


PROOF_STATUS_LABELS = {
    ProofStatus.PENDING: "待审核",
    ProofStatus.APPROVED: "已通过",
    ProofStatus.REJECTED: "已驳回",
}


class CampaignProof(IdMixin, TimestampMixin, Base):
    """A screenshot a participant uploaded (share_proof campaigns), and its review.

    ``ocr_suggestion``: ``{"verdict": "approve"|"reject"|"unsure", "reason": str, "text": str}``
    from the optional OCR assist; a person always decides.
    """

    __tablename__ = "campaign_proof"
    __table_args__ = (Index("ix_campaign_proof_campaign_id_status", "campaign_id", "status"),)

    campaign_id: Mapped[int] = mapped_column(BigId, ForeignKey("campaign.id"))
    participant_id: Mapped[int] = mapped_column(BigId, ForeignKey("campaign_participant.id"))
    image_url: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[ProofStatus] = mapped_column(
        str_enum(ProofStatus, 16), default=ProofStatus.PENDING
    )
    reason: Mapped[str] = mapped_column(String(200), default="")
    ocr_suggestion: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reviewed_by_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("user.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RewardStatus(enum.StrEnum):
    ISSUED = "issued"
    FULFILLED = "fulfilled"  # physical gift shipped / delivered
    CANCELLED = "cancelled"


class CampaignReward(IdMixin, TimestampMixin, Base):
    """A reward given to a participant for a tier: exactly once per (participant, tier)."""

    __tablename__ = "campaign_reward"
    __table_args__ = (
        UniqueConstraint("participant_id", "tier_id"),
        Index("ix_campaign_reward_campaign_id_district_code", "campaign_id", "district_code"),
    )

    campaign_id: Mapped[int] = mapped_column(BigId, ForeignKey("campaign.id"))
    participant_id: Mapped[int] = mapped_column(BigId, ForeignKey("campaign_participant.id"))
    tier_id: Mapped[int] = mapped_column(BigId, ForeignKey("campaign_reward_tier.id"))
    district_code: Mapped[str] = mapped_column(String(6), default="")
    status: Mapped[RewardStatus] = mapped_column(
        str_enum(RewardStatus, 16), default=RewardStatus.ISSUED
    )
    coupon_grant_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("coupon_grant.id"))
    cost_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FulfilmentStatus(enum.StrEnum):
    PENDING = "pending"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class RewardFulfilment(IdMixin, TimestampMixin, Base):
    """Shipping a physical reward. The consignee phone is encrypted like every phone."""

    __tablename__ = "reward_fulfilment"

    reward_id: Mapped[int] = mapped_column(BigId, ForeignKey("campaign_reward.id"), unique=True)
    consignee_name: Mapped[str] = mapped_column(String(40), default="")
    consignee_phone_encrypted: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[FulfilmentStatus] = mapped_column(
        str_enum(FulfilmentStatus, 16), default=FulfilmentStatus.PENDING
    )
    carrier: Mapped[str] = mapped_column(String(40), default="")
    tracking_no: Mapped[str] = mapped_column(String(64), default="")
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
