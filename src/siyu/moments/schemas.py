"""API shapes for moments."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from siyu.models.moments import (
    InteractionKind,
    MomentColumnStatus,
    MomentPostStatus,
    PublicationStatus,
)


class ColumnIn(BaseModel):
    name: str = Field(max_length=40)
    slot: str = Field(description="HH:MM, Asia/Shanghai", examples=["08:00"])
    weekdays: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 7])
    persona_id: int | None = None
    account_ids: list[int] = Field(default_factory=list)
    color: str = Field(default="primary", pattern=r"^(primary|success|warning|danger|info)$")


class ColumnOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    slot_minute: int
    weekdays: list[int]
    persona_id: int | None
    account_ids: list[int]
    status: MomentColumnStatus


class ColumnStatusIn(BaseModel):
    status: MomentColumnStatus


class PostIn(BaseModel):
    column_id: int
    publish_on: date
    text: str = Field(max_length=4000)
    image_urls: list[str] = Field(default_factory=list)
    link_url: str = Field(default="", max_length=500)
    override_reason: str | None = None


class PostOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    column_id: int
    publish_on: date
    publish_at: datetime
    text: str
    image_urls: list[str]
    link_url: str
    status: MomentPostStatus


class PublicationOut(BaseModel):
    id: int
    account_id: int
    due_at: datetime
    status: PublicationStatus
    published_at: datetime | None
    task_id: int | None
    error: str
    likes: int
    comments: int


class InteractionIn(BaseModel):
    contact_id: int
    kind: InteractionKind
    text: str = Field(default="", max_length=500)


class InteractionPlanOut(BaseModel):
    account_id: int
    likes: int
    comments: int
