"""Tags, segments (saved rules over the pool's contacts), their snapshots and contact releases.

A segment's ``rule`` is JSON validated by ``siyu.segments.schemas.SegmentRule``; it compiles to
one SQL query over ``contact`` (see docs/segments.md). The indexes at the bottom are the ones
segment counts use; they sit here, next to the queries that need them, not in the pool's models.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from siyu.models.base import Base, BigId, IdMixin, TimestampMixin, UTCDateTime, str_enum
from siyu.models.orders import Order
from siyu.models.pool import Contact


class TagKind(enum.StrEnum):
    MANUAL = "manual"  # put on by a person
    RULE = "rule"  # put on contacts matching a segment rule, on each refresh
    EVENT = "event"  # put on when an event happens (a confirmed add, an order)


TAG_KIND_LABELS = {
    TagKind.MANUAL: "手动标签",
    TagKind.RULE: "规则标签",
    TagKind.EVENT: "事件标签",
}


class Tag(IdMixin, TimestampMixin, Base):
    """A label on contacts. ``owner_key`` = the owning promoter's id, 0 for the platform (a
    NULL would let two platform tags share a name: NULLs never collide in a unique index)."""

    __tablename__ = "tag"
    __table_args__ = (UniqueConstraint("owner_key", "name"),)

    name: Mapped[str] = mapped_column(String(32))
    kind: Mapped[TagKind] = mapped_column(str_enum(TagKind, 16), default=TagKind.MANUAL)
    owner_promoter_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("promoter.id"))
    owner_key: Mapped[int] = mapped_column(BigInteger, default=0)
    color: Mapped[str] = mapped_column(String(16), default="secondary")
    description: Mapped[str] = mapped_column(String(200), default="")
    contacts_count: Mapped[int] = mapped_column(Integer, default=0, doc="refreshed on change")
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TagRuleTrigger(enum.StrEnum):
    SEGMENT = "segment"  # rule tags: contacts matching ``rule`` (a SegmentRule)
    CONTACT_CONFIRMED = "contact_confirmed"  # event tags: an add confirmed (filter: source kinds)
    ORDER_PLACED = "order_placed"  # event tags: the contact's consumer paid an order
    ORDER_RECEIVED = "order_received"


class TagRule(IdMixin, TimestampMixin, Base):
    """How a rule or event tag is applied. ``rule``: a SegmentRule for ``segment``; for events
    ``{"source_kinds": [...], "min_paid_fen": int}`` filters (all optional)."""

    __tablename__ = "tag_rule"

    tag_id: Mapped[int] = mapped_column(BigId, ForeignKey("tag.id"), index=True)
    trigger: Mapped[TagRuleTrigger] = mapped_column(str_enum(TagRuleTrigger, 24))
    rule: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_matched: Mapped[int] = mapped_column(Integer, default=0)


class ContactTag(IdMixin, Base):
    """A tag on a contact. (tag_id, contact_id) is unique: the segment query's index."""

    __tablename__ = "contact_tag"
    __table_args__ = (
        UniqueConstraint("tag_id", "contact_id"),
        Index("ix_contact_tag_contact_id", "contact_id"),
    )

    contact_id: Mapped[int] = mapped_column(BigId, ForeignKey("contact.id"))
    tag_id: Mapped[int] = mapped_column(BigId, ForeignKey("tag.id"))
    source: Mapped[str] = mapped_column(String(16), doc="manual / rule / event / code / import")
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime())
    applied_by_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("user.id"))


class Segment(IdMixin, TimestampMixin, Base):
    """A saved rule over contacts. ``owner_promoter_id`` NULL = the platform's; a segment only
    ever covers its owner's contacts, unless ``all_owners`` (platform admins only, audited)."""

    __tablename__ = "segment"
    __table_args__ = (Index("ix_segment_owner_promoter_id_id", "owner_promoter_id", "id"),)

    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(500), default="")
    owner_promoter_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("promoter.id"))
    all_owners: Mapped[bool] = mapped_column(Boolean, default=False)
    rule: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("user.id"))
    last_count: Mapped[int | None] = mapped_column(Integer)
    last_counted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SegmentSnapshot(IdMixin, TimestampMixin, Base):
    """A segment materialised at one moment (for a broadcast or an export): the rule as it was
    and the member list, so later edits of the segment never change who was sent to."""

    __tablename__ = "segment_snapshot"

    segment_id: Mapped[int] = mapped_column(BigId, ForeignKey("segment.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(16), doc="broadcast / export / manual")
    rule: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    member_count: Mapped[int] = mapped_column(
        Integer, default=0, doc="matching contacts that are confirmed and not opted out"
    )
    created_by_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("user.id"))


class SegmentSnapshotMember(Base):
    __tablename__ = "segment_snapshot_member"

    snapshot_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("segment_snapshot.id"), primary_key=True
    )
    contact_id: Mapped[int] = mapped_column(BigId, ForeignKey("contact.id"), primary_key=True)


class ReleaseMode(enum.StrEnum):
    DIRECT = "direct"  # the channel removes the friend (WeCom, simulator)
    ASSISTED = "assisted"  # a person deletes the friend: an assisted task


class ReleaseStatus(enum.StrEnum):
    DONE = "done"
    PENDING = "pending"  # an assisted task is open


class ReleaseRule(IdMixin, TimestampMixin, Base):
    """A filtering rule (the seed's 拉黑删除 step): contacts matching ``rule`` (a SegmentRule,
    typically "no reply within N hours of the campaign start") are released from their account."""

    __tablename__ = "release_rule"

    name: Mapped[str] = mapped_column(String(64))
    owner_promoter_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("promoter.id"))
    rule: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    max_per_run: Mapped[int] = mapped_column(Integer, default=1000)
    created_by_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("user.id"))
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_released: Mapped[int] = mapped_column(Integer, default=0)


class ContactRelease(IdMixin, Base):
    """Log of every contact released from an account (append-only). A released contact is
    ``removed``, so no rule matches it again until it is re-added."""

    __tablename__ = "contact_release"
    __table_args__ = (
        Index("ix_contact_release_account_id_released_at", "account_id", "released_at"),
        Index("ix_contact_release_contact_id", "contact_id"),
    )

    contact_id: Mapped[int] = mapped_column(BigId, ForeignKey("contact.id"))
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("operator_account.id"))
    consumer_id: Mapped[int] = mapped_column(BigId, ForeignKey("consumer.id"))
    release_rule_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("release_rule.id"))
    mode: Mapped[ReleaseMode] = mapped_column(str_enum(ReleaseMode, 16))
    status: Mapped[ReleaseStatus] = mapped_column(str_enum(ReleaseStatus, 16))
    reason: Mapped[str] = mapped_column(String(200), default="")
    assisted_task_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("assisted_task.id"))
    actor_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("user.id"))
    released_at: Mapped[datetime] = mapped_column(UTCDateTime())
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# --- indexes the segment queries use (on the pool's and the orders' tables) -----------------------

Index(
    "ix_contact_owner_promoter_id_lifecycle_stage",
    Contact.owner_promoter_id,
    Contact.lifecycle_stage,
)
Index("ix_contact_city_code", Contact.city_code)
Index("ix_contact_district_code", Contact.district_code)
Index("ix_contact_province_code", Contact.province_code)
Index("ix_contact_last_message_at", Contact.last_message_at)
# Spend and last-order conditions aggregate one consumer's orders from the index alone.
Index(
    "ix_sales_order_consumer_id_status_paid",
    Order.consumer_id,
    Order.status,
    Order.paid_at,
    Order.paid_fen,
)
