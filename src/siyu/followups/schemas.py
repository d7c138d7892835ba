"""API shapes for follow-ups."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from siyu.models.followups import FollowupKind, FollowupStatus


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=60)
    kind: FollowupKind
    delay_hours: int = 24
    script: str = Field(max_length=2000)
    link_id: int | None = None
    group_code_id: int | None = None
    vip_min_orders: int = Field(default=3, ge=0, le=10_000)
    vip_min_spend_fen: int = Field(default=0, ge=0)
    override_reason: str | None = None


class RuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: FollowupKind
    delay_hours: int
    script: str
    link_id: int | None
    group_code_id: int | None
    vip_min_orders: int
    vip_min_spend_fen: int
    is_active: bool


class RuleActiveIn(BaseModel):
    active: bool


class FollowupOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    rule_id: int
    trigger_key: str
    consumer_id: int
    contact_id: int
    account_id: int
    due_at: datetime
    status: FollowupStatus
    reason: str
    sent_at: datetime | None
