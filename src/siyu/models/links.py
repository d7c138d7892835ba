"""Tracked links (推广链接) and the clicks on them.

A ``TrackedLink`` belongs to one promoter and points at exactly one target: a pooled product, a
coupon batch, or an activity page. ``Click`` rows are written in batches by
``siyu.links.clicks.ClickBuffer``, never one by one on the redirect path, so a click carries
everything attribution needs (link, promoter, time, consumer) without a join on the hot path.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from siyu.models.base import Base, BigId, IdMixin, TimestampMixin, UTCDateTime, str_enum
from siyu.models.catalog import CouponBatch, Product
from siyu.models.promoters import Promoter


class LinkTargetKind(enum.StrEnum):
    PRODUCT = "product"
    COUPON = "coupon"
    ACTIVITY = "activity"


LINK_TARGET_KIND_LABELS = {
    LinkTargetKind.PRODUCT: "商品",
    LinkTargetKind.COUPON: "优惠券",
    LinkTargetKind.ACTIVITY: "活动页",
}


class LinkPosition(enum.StrEnum):
    """Where the promoter posts the link (推广位); clicks are reported per position."""

    GROUP = "group"
    FRIEND = "friend"
    MOMENTS = "moments"
    POSTER = "poster"
    MINI_PROGRAM = "mini_program"
    COURIER = "courier"


LINK_POSITION_LABELS = {
    LinkPosition.GROUP: "微信群",
    LinkPosition.FRIEND: "好友",
    LinkPosition.MOMENTS: "朋友圈",
    LinkPosition.POSTER: "海报",
    LinkPosition.MINI_PROGRAM: "小程序卡片",
    LinkPosition.COURIER: "快递员",
}


class TrackedLink(IdMixin, TimestampMixin, Base):
    __tablename__ = "tracked_link"
    __table_args__ = (
        # target_kind takes one of three values, so these three make exactly one target set.
        CheckConstraint(
            "(target_kind = 'product') = (product_id IS NOT NULL)", name="product_target"
        ),
        CheckConstraint(
            "(target_kind = 'coupon') = (coupon_batch_id IS NOT NULL)", name="coupon_target"
        ),
        CheckConstraint(
            "(target_kind = 'activity') = (activity_url IS NOT NULL)", name="activity_target"
        ),
        Index("ix_tracked_link_promoter_id_id", "promoter_id", "id"),
    )

    promoter_id: Mapped[int] = mapped_column(BigId, ForeignKey("promoter.id"))
    target_kind: Mapped[LinkTargetKind] = mapped_column(str_enum(LinkTargetKind, 16))
    product_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("product.id"), index=True)
    coupon_batch_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("coupon_batch.id"), index=True
    )
    activity_url: Mapped[str | None] = mapped_column(String(500))
    position: Mapped[LinkPosition] = mapped_column(str_enum(LinkPosition, 16))
    sub_id: Mapped[str] = mapped_column(String(80), default="", doc="promoter's own tag, ≤ 80")
    short_code: Mapped[str] = mapped_column(String(16), unique=True)
    expires_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), doc="the short form stops here; the long form never expires"
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    promoter: Mapped[Promoter] = relationship(lazy="joined")
    product: Mapped[Product | None] = relationship(lazy="select")
    coupon_batch: Mapped[CouponBatch | None] = relationship(lazy="select")


class Click(Base):
    """One answered redirect. Append-only; no ``updated_at`` (a click never changes)."""

    __tablename__ = "click"
    __table_args__ = (
        # Serves clicks per link and per position (always asked per promoter, or with the
        # promoters of the links asked about). One index instead of (link) + (promoter, time):
        # every index is paid on each of the hot path's inserts.
        Index("ix_click_promoter_id_link_id", "promoter_id", "link_id"),
        # Most clicks come from people checkout has not met yet (no consumer): leave them out.
        Index(
            "ix_click_consumer_id_clicked_at",
            "consumer_id",
            "clicked_at",
            sqlite_where=text("consumer_id IS NOT NULL"),
            postgresql_where=text("consumer_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token: Mapped[str] = mapped_column(
        String(32), unique=True, doc="random; the landing page carries it as ?click="
    )
    link_id: Mapped[int] = mapped_column(BigId, ForeignKey("tracked_link.id"))
    promoter_id: Mapped[int] = mapped_column(BigId, ForeignKey("promoter.id"))
    clicked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ip_hash: Mapped[str] = mapped_column(String(64), doc="keyed HMAC-SHA256 of the IP, hex")
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    consumer_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("consumer.id"))
