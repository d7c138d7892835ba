"""API shapes of campaigns (input is strict: integers are integers, unknown fields refused)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt

from siyu.models.campaigns import CampaignTrigger, RewardKind


class DistrictStockIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    district_code: str = Field(min_length=6, max_length=6)
    total: StrictInt


class TierIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=80)
    threshold: StrictInt
    kind: RewardKind = RewardKind.PHYSICAL
    coupon_batch_id: StrictInt | None = None
    unit_cost_fen: StrictInt = 0
    is_bonus: StrictBool = False
    total: StrictInt
    districts: list[DistrictStockIn] = Field(default_factory=list)


class CampaignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=80)
    trigger: CampaignTrigger = CampaignTrigger.FRIEND_ADD
    sponsor_merchant_id: StrictInt | None = None
    entry_code_id: StrictInt | None = None
    group_code_id: StrictInt | None = None
    flow_id: StrictInt | None = None
    release_rule_id: StrictInt | None = None
    poster: dict[str, Any] = Field(default_factory=dict)
    rules_text: str = Field(default="", max_length=4000)
    group_invite_text: str = Field(default="", max_length=500)
    styles: list[str] = Field(default_factory=list, max_length=20)
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    invalidation_days: StrictInt | None = None
    max_invites_per_device: StrictInt = 3
    tiers: list[TierIn] = Field(default_factory=list)


class AcknowledgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=500)


class FindingOut(BaseModel):
    rule_id: str
    category: str
    severity: str
    message_zh: str
    excerpt: str


class RiskOut(BaseModel):
    risk: str
    rules: list[str]
    findings: list[FindingOut]
    acknowledgement_needed: bool


class InventoryOut(BaseModel):
    tier_id: int
    district_code: str
    total: int
    issued: int


class TierOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    position: int
    name: str
    threshold: int
    kind: RewardKind
    coupon_batch_id: int | None
    unit_cost_fen: int
    is_bonus: bool


class CampaignOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    status: str
    trigger: str
    sponsor_merchant_id: int | None
    entry_code_id: int | None
    group_code_id: int | None
    flow_id: int | None
    release_rule_id: int | None
    poster: dict[str, Any]
    rules_text: str
    styles: list[str]
    starts_at: datetime | None
    ends_at: datetime | None
    invalidation_days: int | None
    max_invites_per_device: int
    risk: str
    risk_rules: list[str]
    risk_acknowledged_by_user_id: int | None
    risk_acknowledgement: str
    launched_at: datetime | None
    ended_at: datetime | None


class CampaignDetailOut(CampaignOut):
    tiers: list[TierOut]
    inventory: list[InventoryOut]


class JoinIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    consumer_id: StrictInt
    contact_id: StrictInt | None = None
    district_code: str = Field(default="", max_length=6)


class ParticipantOut(BaseModel):
    id: int
    campaign_id: int
    consumer_id: int
    nickname: str
    district_code: str
    choice: str
    status: str
    status_reason: str
    personal_code: str | None
    invites_verified: int
    progress_count: int
    next_threshold: int | None
    link: str


class ReferralOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    inviter_participant_id: int
    invitee_consumer_id: int
    kind: str
    status: str
    reason: str
    verified_at: datetime | None
    invalidated_at: datetime | None


class TreeNodeOut(BaseModel):
    participant_id: int | None
    consumer_id: int
    nickname: str
    status: str
    reason: str
    children: list[TreeNodeOut] = Field(default_factory=list)


class ProofOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    campaign_id: int
    participant_id: int
    content_type: str
    size_bytes: int
    status: str
    reason: str
    ocr_suggestion: dict[str, Any]
    reviewed_by_user_id: int | None
    reviewed_at: datetime | None
    created_at: datetime


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approve: StrictBool
    reason: str = Field(default="", max_length=200)


class ClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tier_id: StrictInt | None = None
    consignee_name: str = Field(default="", max_length=40)
    consignee_phone: str = Field(default="", max_length=20)
    address: str = Field(default="", max_length=200)


class RewardOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    campaign_id: int
    participant_id: int
    tier_id: int
    district_code: str
    status: str
    coupon_grant_id: int | None
    cost_fen: int
    issued_at: datetime


class ClaimOut(BaseModel):
    outcome: str
    reward: RewardOut | None


class FulfilmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    reward_id: int
    consignee_name: str
    address: str
    status: str
    carrier: str
    tracking_no: str
    shipped_at: datetime | None


class ShipIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    carrier: str = Field(max_length=40)
    tracking_no: str = Field(max_length=64)


class EndOut(BaseModel):
    campaign: CampaignOut
    invitations_queued: bool
    release_rule_queued: bool


class DisqualifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=200)
