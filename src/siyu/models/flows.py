"""Scripts (话术库) and conversation flows (SOP): script versions, flow versions, per-contact
conversation state and the turns that advanced it. See docs/flows.md.

Script versions and flow versions are immutable once written: an edit is a new version, and a
running conversation keeps the flow version (and so the script versions) it started on.

Exactly once: an inbound message is a ``channel_event`` (de-duplicated by the pool). The engine
locks the conversation row and writes a ``conversation_turn`` unique per (conversation, event),
so a replayed event or a second worker never advances a conversation twice.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.models.base import Base, BigId, IdMixin, TimestampMixin, UTCDateTime, str_enum


class Script(IdMixin, TimestampMixin, Base):
    """One entry of the script library; its text lives in ``script_version`` rows."""

    __tablename__ = "script"
    __table_args__ = (Index("ix_script_category_name", "category", "name"),)

    name: Mapped[str] = mapped_column(String(80))
    category: Mapped[str] = mapped_column(String(32), default="通用")
    persona_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("persona.id"), doc="the persona the script is spoken as"
    )
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    template_key: Mapped[str] = mapped_column(
        String(64), default="", doc="set on scripts installed by a flow template"
    )
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("user.id"))


class ScriptVersion(IdMixin, Base):
    """One immutable text of a script. ``variables``: the {placeholders} it uses."""

    __tablename__ = "script_version"
    __table_args__ = (UniqueConstraint("script_id", "version"),)

    script_id: Mapped[int] = mapped_column(BigId, ForeignKey("script.id"))
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    variables: Mapped[list[str]] = mapped_column(JSON, default=list)
    finding_rule_ids: Mapped[list[str]] = mapped_column(
        JSON, default=list, doc="compliance findings (warnings, or overridden blockers) on save"
    )
    override_reason: Mapped[str] = mapped_column(String(500), default="")
    created_by_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FlowStatus(enum.StrEnum):
    DRAFT = "draft"  # never published
    PUBLISHED = "published"
    ARCHIVED = "archived"


FLOW_STATUS_LABELS = {
    FlowStatus.DRAFT: "草稿",
    FlowStatus.PUBLISHED: "已发布",
    FlowStatus.ARCHIVED: "已归档",
}


class Flow(IdMixin, TimestampMixin, Base):
    """A conversation flow. ``draft`` is what the editor changes (``{"steps": [...],
    "settings": {...}}``, see siyu.flows.rules); publishing freezes it into a ``flow_version``."""

    __tablename__ = "flow"

    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[FlowStatus] = mapped_column(str_enum(FlowStatus, 16), default=FlowStatus.DRAFT)
    draft: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    current_version_id: Mapped[int | None] = mapped_column(BigId, doc="the version new starts use")
    versions_count: Mapped[int] = mapped_column(Integer, default=0)
    template_key: Mapped[str] = mapped_column(String(32), default="")
    created_by_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("user.id"))


class FlowVersion(IdMixin, Base):
    """A published, immutable definition. ``definition``: the draft with every send/reminder/
    retry script pinned to a script version id (``script_version_id``) and its text."""

    __tablename__ = "flow_version"
    __table_args__ = (UniqueConstraint("flow_id", "version"),)

    flow_id: Mapped[int] = mapped_column(BigId, ForeignKey("flow.id"))
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    published_by_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("user.id"))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ConversationStatus(enum.StrEnum):
    RUNNING = "running"  # between steps (only inside a transaction, or after a crash)
    WAITING = "waiting"  # waiting for a reply (or its timer)
    HANDOVER = "handover"  # parked for a person
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


OPEN_CONVERSATION_STATUSES = (
    ConversationStatus.RUNNING,
    ConversationStatus.WAITING,
    ConversationStatus.HANDOVER,
)

CONVERSATION_STATUS_LABELS = {
    ConversationStatus.RUNNING: "进行中",
    ConversationStatus.WAITING: "等待回复",
    ConversationStatus.HANDOVER: "已转人工",
    ConversationStatus.COMPLETED: "已完成",
    ConversationStatus.FAILED: "失败",
    ConversationStatus.CANCELLED: "已取消",
}


class Conversation(IdMixin, TimestampMixin, Base):
    """One contact's run through one flow version.

    ``open_key`` = ``"<flow id>:<contact id>"`` while open, NULL once closed: its unique
    constraint keeps one open conversation per (flow, contact). ``due_at`` is the next timer
    (a reminder or the wait's timeout). ``replies_in_window`` counts messages sent since the
    contact's last message (per-backend reply limits); ``held`` keeps texts a limit held back.
    """

    __tablename__ = "conversation"
    __table_args__ = (
        Index("ix_conversation_contact_id_status", "contact_id", "status"),
        Index("ix_conversation_due_at", "due_at"),
        Index("ix_conversation_flow_id_id", "flow_id", "id"),
    )

    flow_id: Mapped[int] = mapped_column(BigId, ForeignKey("flow.id"))
    flow_version_id: Mapped[int] = mapped_column(BigId, ForeignKey("flow_version.id"))
    contact_id: Mapped[int] = mapped_column(BigId, ForeignKey("contact.id"))
    consumer_id: Mapped[int] = mapped_column(BigId, ForeignKey("consumer.id"))
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("operator_account.id"))
    campaign_id: Mapped[int | None] = mapped_column(
        BigId, doc="siyu.campaigns, when started by one"
    )
    open_key: Mapped[str | None] = mapped_column(String(48), unique=True)
    status: Mapped[ConversationStatus] = mapped_column(
        str_enum(ConversationStatus, 16), default=ConversationStatus.RUNNING
    )
    step_id: Mapped[str] = mapped_column(String(40), default="")
    variables: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    retries: Mapped[int] = mapped_column(Integer, default=0, doc="unmatched replies at this wait")
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0, doc="at this wait")
    waiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_event_id: Mapped[int | None] = mapped_column(
        BigId, doc="the channel_event that last advanced it"
    )
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_message_text: Mapped[str] = mapped_column(String(200), default="")
    replies_in_window: Mapped[int] = mapped_column(Integer, default=0)
    held: Mapped[list[str]] = mapped_column(JSON, default=list)
    error: Mapped[str] = mapped_column(String(500), default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ConversationTurn(IdMixin, Base):
    """What happened in a conversation, in order: a reply taken (``event_id`` set, unique per
    conversation: the exactly-once guard), a message sent or held, an action's outcome, a timer.
    """

    __tablename__ = "conversation_turn"
    __table_args__ = (
        UniqueConstraint("conversation_id", "event_id"),
        Index("ix_conversation_turn_conversation_id_id", "conversation_id", "id"),
    )

    conversation_id: Mapped[int] = mapped_column(BigId, ForeignKey("conversation.id"))
    event_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("channel_event.id"))
    step_id: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(
        String(16), doc="inbound / sent / held / action / timer / handover / end / error"
    )
    text: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
