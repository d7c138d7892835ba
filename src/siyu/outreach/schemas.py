"""Broadcast input and output (the JSON API and the console form both build ``BroadcastIn``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from siyu.models.outreach import AudienceKind, ContentKind
from siyu.outreach import rules


class AudienceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: AudienceKind
    segment_id: int | None = None
    tag_ids: list[int] = Field(default_factory=list, max_length=50)
    match: str = Field(default="any", pattern="^(any|all)$")
    group_ids: list[int] = Field(default_factory=list, max_length=1000)
    purpose: str | None = None
    group_code_ids: list[int] = Field(default_factory=list, max_length=100)


class BroadcastIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    audience: AudienceIn
    content_kind: ContentKind = ContentKind.TEXT
    text: str = Field(default="", max_length=2000)
    title: str = Field(default="", max_length=120)
    image_url: str = Field(default="", max_length=500)
    link_id: int | None = Field(default=None, description="a tracked link (promoter's own)")
    start_at: AwareDatetime | None = None
    messages_per_minute: int = Field(default=10, ge=1, le=rules.MAX_MESSAGES_PER_MINUTE)
    jitter_seconds: int = Field(default=20, ge=0, le=rules.MAX_JITTER_SECONDS)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    override_reason: str | None = Field(default=None, max_length=500)


class PlanOut(BaseModel):
    audience: int
    now: int
    later: int
    never: int
    later_reasons: dict[str, int]
    never_reasons: dict[str, int]
    accounts: int
    first_due_at: datetime | None = None
    last_due_at: datetime | None = None


class BroadcastOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    status: str
    owner_promoter_id: int | None
    audience: dict[str, Any]
    content_kind: str
    text: str
    title: str
    image_url: str
    link_id: int | None
    source_link_id: int | None
    start_at: datetime
    messages_per_minute: int
    jitter_seconds: int
    seed: int
    plan: dict[str, Any]
    scheduled_at: datetime | None
    finished_at: datetime | None
    cancelled_at: datetime | None
    created_at: datetime


class ResultsOut(BaseModel):
    broadcast_id: int
    planned: int
    queued: int
    sent: int
    handed_to_operators: int
    failed: int
    skipped: int
    cancelled: int
    skipped_reasons: dict[str, int]
    failed_reasons: dict[str, int]
    clicks: int
    orders: int
    gmv_fen: int


class RecipientOut(BaseModel):
    send_id: int
    account_id: int
    contact_id: int | None
    group_id: int | None
    nickname: str
    status: str
    reason: str
    due_at: datetime
    sent_at: datetime | None


class LintOut(BaseModel):
    rule_id: str
    severity: str
    category: str
    excerpt: str
    message_zh: str
    suggestion_zh: str
    blocking: bool
