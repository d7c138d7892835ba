"""Moments (朋友圈, 栏目化): columns with fixed daily slots, posts, one publication per account
and post, and the likes/comments recorded on both sides. See docs/moments.md."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from siyu.models.base import Base, BigId, IdMixin, TimestampMixin, UTCDateTime, str_enum


class MomentColumnStatus(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


class MomentColumn(IdMixin, TimestampMixin, Base):
    """A fixed daily slot (08:00 问候, 12:00 好物, 20:00 福利) on a group of accounts.

    Accounts: ``account_ids`` when given, else every live account of ``persona_id``.
    ``weekdays``: ISO weekdays it runs on (1 = Monday … 7 = Sunday).
    """

    __tablename__ = "moment_column"

    name: Mapped[str] = mapped_column(String(40))
    slot_minute: Mapped[int] = mapped_column(Integer, doc="Asia/Shanghai minute of the day")
    weekdays: Mapped[list[int]] = mapped_column(JSON, default=lambda: [1, 2, 3, 4, 5, 6, 7])
    persona_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("persona.id"))
    account_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    status: Mapped[MomentColumnStatus] = mapped_column(
        str_enum(MomentColumnStatus, 16), default=MomentColumnStatus.ACTIVE
    )
    color: Mapped[str] = mapped_column(String(16), default="primary")


class MomentPostStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    PUBLISHED = "published"  # every publication is out (or closed)
    CANCELLED = "cancelled"


MOMENT_POST_STATUS_LABELS = {
    MomentPostStatus.SCHEDULED: "待发布",
    MomentPostStatus.PUBLISHED: "已发布",
    MomentPostStatus.CANCELLED: "已取消",
}


class MomentPost(IdMixin, TimestampMixin, Base):
    """One post for one day of a column: the same copy on every account of the column."""

    __tablename__ = "moment_post"
    __table_args__ = (Index("ix_moment_post_publish_on", "publish_on"),)

    column_id: Mapped[int] = mapped_column(BigId, ForeignKey("moment_column.id"), index=True)
    publish_on: Mapped[date] = mapped_column(Date, doc="Asia/Shanghai day")
    publish_at: Mapped[datetime] = mapped_column(UTCDateTime())
    text: Mapped[str] = mapped_column(Text)
    image_urls: Mapped[list[str]] = mapped_column(JSON, default=list)
    link_url: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[MomentPostStatus] = mapped_column(
        str_enum(MomentPostStatus, 16), default=MomentPostStatus.SCHEDULED
    )
    created_by_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("user.id"))

    column: Mapped[MomentColumn] = relationship(lazy="joined")


class PublicationStatus(enum.StrEnum):
    PENDING = "pending"  # not yet due
    QUEUED = "queued"  # an operator task was created (assisted)
    PUBLISHED = "published"
    FAILED = "failed"
    CANCELLED = "cancelled"


PUBLICATION_STATUS_LABELS = {
    PublicationStatus.PENDING: "待发布",
    PublicationStatus.QUEUED: "待运营发布",
    PublicationStatus.PUBLISHED: "已发布",
    PublicationStatus.FAILED: "失败",
    PublicationStatus.CANCELLED: "已取消",
}


class MomentPublication(IdMixin, TimestampMixin, Base):
    """A post on one account: at most one per (post, account)."""

    __tablename__ = "moment_publication"
    __table_args__ = (
        UniqueConstraint("post_id", "account_id"),
        Index("ix_moment_publication_status_due_at", "status", "due_at"),
    )

    post_id: Mapped[int] = mapped_column(BigId, ForeignKey("moment_post.id"))
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("operator_account.id"), index=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[PublicationStatus] = mapped_column(
        str_enum(PublicationStatus, 16), default=PublicationStatus.PENDING
    )
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    task_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("assisted_task.id"))
    external_id: Mapped[str | None] = mapped_column(String(128))
    error: Mapped[str] = mapped_column(String(200), default="")


class InteractionKind(enum.StrEnum):
    LIKE = "like"
    COMMENT = "comment"


class InteractionDirection(enum.StrEnum):
    IN = "in"  # a contact liked / commented on our post
    OUT = "out"  # the account liked / commented on a contact's moment (seed 002's habit)


class MomentInteraction(IdMixin, Base):
    """A like or comment, either way. Inbound ones arrive through the channel event inbox."""

    __tablename__ = "moment_interaction"
    __table_args__ = (
        Index("ix_moment_interaction_publication_id", "publication_id"),
        Index("ix_moment_interaction_account_id_occurred_at", "account_id", "occurred_at"),
        UniqueConstraint("source_key"),
    )

    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("operator_account.id"))
    publication_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("moment_publication.id"))
    contact_id: Mapped[int] = mapped_column(BigId, ForeignKey("contact.id"))
    direction: Mapped[InteractionDirection] = mapped_column(str_enum(InteractionDirection, 8))
    kind: Mapped[InteractionKind] = mapped_column(str_enum(InteractionKind, 16))
    text: Mapped[str] = mapped_column(String(500), default="")
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source_key: Mapped[str] = mapped_column(String(160), doc="event or task that recorded it")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
