from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from siyu.models.links import LinkPosition, LinkTargetKind


class LinkCreate(BaseModel):
    """One of ``product_id``, ``coupon_batch_id``, ``activity_url``, matching ``target_kind``.

    ``sub_id`` is checked by the service (≤ 80 characters) so the caller gets a message that
    says what to fix; the schema only bounds what is read.
    """

    model_config = ConfigDict(extra="forbid")

    target_kind: LinkTargetKind = LinkTargetKind.PRODUCT
    product_id: int | None = Field(default=None, ge=1)
    coupon_batch_id: int | None = Field(default=None, ge=1)
    activity_url: str | None = Field(default=None, max_length=2000)
    position: LinkPosition
    sub_id: str = Field(default="", max_length=2000)


class LinkOut(BaseModel):
    id: int
    promoter_id: int
    promoter_name: str
    target_kind: LinkTargetKind
    product_id: int | None
    coupon_batch_id: int | None
    activity_url: str | None
    target_title: str
    position: LinkPosition
    position_label: str
    sub_id: str
    short_code: str
    short_url: str
    long_url: str
    qr_url: str
    expires_at: datetime
    is_expired: bool
    is_active: bool
    disabled_at: datetime | None
    click_count: int
    created_at: datetime


class LinkPageOut(BaseModel):
    items: list[LinkOut]
    total: int
    page: int
    pages: int


class PositionClicksOut(BaseModel):
    position: LinkPosition
    label: str
    link_count: int
    click_count: int


class LinkStatsOut(BaseModel):
    promoter_id: int | None
    total_clicks: int
    by_position: list[PositionClicksOut]
