"""Outreach: broadcasts (群发), the send queue (one row per planned recipient or group), the
per-person quota counters and each account's pacing cursor. See docs/outreach.md.

A broadcast is planned set-based: one ``INSERT … SELECT`` writes its ``broadcast_send`` rows with
their due times (pacing computed in SQL). Workers then drain due rows one at a time (PostgreSQL:
``FOR UPDATE SKIP LOCKED``; SQLite: a conditional UPDATE claim), re-check eligibility and record
sent / failed / skipped with a reason. Quotas are taken by a conditional UPDATE on
``outreach_quota`` (the day / week / month counters of one person reset themselves in the same
statement when a new Asia/Shanghai window starts), so concurrent workers never pass a quota.

Moments (朋友圈) and follow-ups live in their own domains (docs/moments.md, docs/followups.md);
follow-ups take their quota units here.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from siyu.models.base import Base, BigId, IdMixin, TimestampMixin, UTCDateTime, str_enum


class BroadcastStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    DONE = "done"
    CANCELLED = "cancelled"


BROADCAST_STATUS_LABELS = {
    BroadcastStatus.DRAFT: "草稿",
    BroadcastStatus.SCHEDULED: "发送中",
    BroadcastStatus.DONE: "已完成",
    BroadcastStatus.CANCELLED: "已取消",
}


class AudienceKind(enum.StrEnum):
    SEGMENT = "segment"
    TAGS = "tags"
    GROUPS = "groups"
    GROUP_PURPOSE = "group_purpose"


AUDIENCE_KIND_LABELS = {
    AudienceKind.SEGMENT: "人群",
    AudienceKind.TAGS: "标签",
    AudienceKind.GROUPS: "指定群",
    AudienceKind.GROUP_PURPOSE: "按群用途",
}


class ContentKind(enum.StrEnum):
    TEXT = "text"
    LINK = "link"
    IMAGE = "image"
    COUPON = "coupon"
    PRODUCT = "product"


CONTENT_KIND_LABELS = {
    ContentKind.TEXT: "文字",
    ContentKind.LINK: "推广链接卡片",
    ContentKind.IMAGE: "图片",
    ContentKind.COUPON: "优惠券",
    ContentKind.PRODUCT: "商品卡片",
}


class SendStatus(enum.StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    QUEUED_TASK = "queued_task"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


SEND_STATUS_LABELS = {
    SendStatus.QUEUED: "待发送",
    SendStatus.SENT: "已发送",
    SendStatus.QUEUED_TASK: "已派给运营",
    SendStatus.FAILED: "失败",
    SendStatus.SKIPPED: "已跳过",
    SendStatus.CANCELLED: "已取消",
}


class Broadcast(IdMixin, TimestampMixin, Base):
    """One 群发: an audience, one message (with per-recipient variables), pacing and a plan.

    ``audience`` (JSON): ``{"kind": "segment", "segment_id": int}`` | ``{"kind": "tags",
    "tag_ids": [..], "match": "any"|"all"}`` | ``{"kind": "groups", "group_ids": [..]}`` |
    ``{"kind": "group_purpose", "purpose": "coupon", "group_code_ids": [..]}`` (empty list = all
    groups of that purpose in scope). ``owner_promoter_id`` NULL = the platform's broadcast.
    ``link_id`` is the tracked link made for this broadcast (a copy of ``source_link_id``'s
    target and promoter, sub-id ``群发#<id>``), so clicks and orders count per broadcast.
    ``plan`` is the preview written when it was scheduled: counts now / later / never with
    reasons.
    """

    __tablename__ = "broadcast"
    __table_args__ = (
        CheckConstraint(
            "messages_per_minute >= 1 AND messages_per_minute <= 60", name="pace_range"
        ),
        CheckConstraint("jitter_seconds >= 0 AND jitter_seconds <= 600", name="jitter_range"),
        Index("ix_broadcast_owner_promoter_id_id", "owner_promoter_id", "id"),
    )

    name: Mapped[str] = mapped_column(String(64))
    owner_promoter_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("promoter.id"))
    created_by_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("user.id"))
    status: Mapped[BroadcastStatus] = mapped_column(
        str_enum(BroadcastStatus, 16), default=BroadcastStatus.DRAFT
    )
    audience: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    content_kind: Mapped[ContentKind] = mapped_column(str_enum(ContentKind, 16))
    text: Mapped[str] = mapped_column(Text, default="", doc="may contain {昵称}")
    title: Mapped[str] = mapped_column(String(120), default="", doc="link / product card title")
    image_url: Mapped[str] = mapped_column(String(500), default="")
    source_link_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("tracked_link.id"))
    link_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("tracked_link.id"), index=True, doc="this broadcast's own tracked link"
    )
    start_at: Mapped[datetime] = mapped_column(UTCDateTime())
    messages_per_minute: Mapped[int] = mapped_column(Integer, default=10, doc="per account")
    jitter_seconds: Mapped[int] = mapped_column(Integer, default=20)
    seed: Mapped[int] = mapped_column(Integer, default=0, doc="jitter is deterministic by seed")
    override_reason: Mapped[str] = mapped_column(
        String(500), default="", doc="an admin's reason to send despite blocking lint findings"
    )
    plan: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class BroadcastBatch(Base):
    """One account's share of a broadcast (one mass-send task): the pacing parameters the
    planner used and the plan's counts.

    Send windows are up to four pieces of the day, ``p<k>_start`` in seconds of the Asia/Shanghai
    day; ``end<k>_ms`` is the window time (ms) up to the end of piece k, counted from the day's
    first piece (unused pieces: ``daily_ms``). Slot s is sent at window position
    ``s × interval_ms + offset0_ms`` from ``day0_epoch`` (the first send day's midnight).
    """

    __tablename__ = "broadcast_batch"

    broadcast_id: Mapped[int] = mapped_column(BigId, ForeignKey("broadcast.id"), primary_key=True)
    account_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("operator_account.id"), primary_key=True
    )
    has_window: Mapped[bool] = mapped_column(Boolean, default=True)
    day0_epoch: Mapped[int] = mapped_column(BigInteger, default=0)
    p0_start: Mapped[int] = mapped_column(Integer, default=0)
    p1_start: Mapped[int] = mapped_column(Integer, default=0)
    p2_start: Mapped[int] = mapped_column(Integer, default=0)
    p3_start: Mapped[int] = mapped_column(Integer, default=0)
    c1_ms: Mapped[int] = mapped_column(BigInteger, default=0, doc="end of piece 0")
    c2_ms: Mapped[int] = mapped_column(BigInteger, default=0, doc="end of piece 1")
    c3_ms: Mapped[int] = mapped_column(BigInteger, default=0, doc="end of piece 2")
    daily_ms: Mapped[int] = mapped_column(BigInteger, default=1)
    offset0_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    interval_ms: Mapped[int] = mapped_column(Integer, default=6000)
    now_slots: Mapped[int] = mapped_column(Integer, default=0)
    later_reason: Mapped[str] = mapped_column(String(16), default="")
    planned: Mapped[int] = mapped_column(Integer, default=0)
    now_count: Mapped[int] = mapped_column(Integer, default=0)
    later_count: Mapped[int] = mapped_column(Integer, default=0)
    over_limit: Mapped[int] = mapped_column(Integer, default=0, doc="beyond 20,000 per task")


class BroadcastSend(IdMixin, Base):
    """One planned send: to one contact (``contact_id``) or into one group (``group_id``).

    ``queued`` rows are the queue (partial index on ``due_at``). ``reason`` says why a row was
    skipped, failed or deferred. A row leaves ``queued`` exactly once, in the transaction that
    sends it, so a planned send is executed at most once.
    """

    __tablename__ = "broadcast_send"
    __table_args__ = (
        Index(
            "ix_broadcast_send_due",
            "due_at",
            "id",
            sqlite_where=text("status = 'queued'"),
            postgresql_where=text("status = 'queued'"),
        ),
        Index(
            "ix_broadcast_send_broadcast_id_account_id_status",
            "broadcast_id",
            "account_id",
            "status",
        ),
    )

    broadcast_id: Mapped[int] = mapped_column(BigId, ForeignKey("broadcast.id"))
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("operator_account.id"))
    contact_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("contact.id"))
    consumer_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("consumer.id"))
    group_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("wechat_group.id"))
    slot: Mapped[int] = mapped_column(Integer, default=0, doc="0-based rank within its account")
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[SendStatus] = mapped_column(str_enum(SendStatus, 16), default=SendStatus.QUEUED)
    reason: Mapped[str] = mapped_column(String(64), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    message_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("channel_message.id"))
    task_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("assisted_task.id"))


class OutreachQuota(Base):
    """One person's marketing-message counters for the current Asia/Shanghai day, week (from
    Monday) and month. ``subject_kind`` ``consumer`` = the person across accounts; ``contact`` =
    one member → one customer. A send takes a unit with one conditional UPDATE that also resets
    a counter whose window has passed."""

    __tablename__ = "outreach_quota"

    subject_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    subject_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    day_on: Mapped[date | None] = mapped_column(Date)
    day_count: Mapped[int] = mapped_column(Integer, default=0)
    week_on: Mapped[date | None] = mapped_column(Date, doc="the Monday of the counted week")
    week_count: Mapped[int] = mapped_column(Integer, default=0)
    month_on: Mapped[date | None] = mapped_column(Date, doc="the 1st of the counted month")
    month_count: Mapped[int] = mapped_column(Integer, default=0)


class AccountPace(Base):
    """When an account may send its next broadcast message (across broadcasts): a send moves it
    forward by one interval with one conditional UPDATE, so two workers never send from one
    account faster than its pace."""

    __tablename__ = "account_pace"

    account_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("operator_account.id"), primary_key=True
    )
    next_at: Mapped[datetime] = mapped_column(UTCDateTime())
