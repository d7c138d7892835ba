"""Follow-ups (1:1 跟进): rules that turn what a consumer did (or stopped doing) into one message
or operator task each, and the follow-ups they created. See docs/followups.md."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from siyu.models.base import Base, BigId, IdMixin, TimestampMixin, UTCDateTime, str_enum


class FollowupKind(enum.StrEnum):
    CLICK_NO_BUY = "click_no_buy"  # clicked a tracked link, no order within N hours
    FIRST_ORDER = "first_order"  # first order received → thank-you + referral invitation
    INACTIVE = "inactive"  # no message and no order for N days → win-back
    VIP_GROUP = "vip_group"  # top customers → invitation to a VIP small group


FOLLOWUP_KIND_LABELS = {
    FollowupKind.CLICK_NO_BUY: "点击未下单",
    FollowupKind.FIRST_ORDER: "首单感谢",
    FollowupKind.INACTIVE: "沉默唤醒",
    FollowupKind.VIP_GROUP: "VIP 小群邀请",
}


class FollowupRule(IdMixin, TimestampMixin, Base):
    """``delay_hours``: click_no_buy — hours without an order after the click; first_order —
    hours after receipt; inactive — hours of silence (720 = 30 days). vip_group: a consumer with
    at least ``vip_min_orders`` orders or ``vip_min_spend_fen`` spent is invited to
    ``group_code_id``'s groups."""

    __tablename__ = "followup_rule"

    name: Mapped[str] = mapped_column(String(60))
    kind: Mapped[FollowupKind] = mapped_column(str_enum(FollowupKind, 20))
    delay_hours: Mapped[int] = mapped_column(Integer, default=24)
    script: Mapped[str] = mapped_column(Text, doc="{昵称} and {链接} are filled per person")
    link_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("tracked_link.id"))
    group_code_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("group_code.id"))
    vip_min_orders: Mapped[int] = mapped_column(Integer, default=3)
    vip_min_spend_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    override_reason: Mapped[str | None] = mapped_column(String(500))
    created_by_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("user.id"))


class FollowupStatus(enum.StrEnum):
    PLANNED = "planned"
    SENT = "sent"
    QUEUED_TASK = "queued_task"  # an operator task (assisted account)
    SKIPPED = "skipped"
    FAILED = "failed"


FOLLOWUP_STATUS_LABELS = {
    FollowupStatus.PLANNED: "待发送",
    FollowupStatus.SENT: "已发送",
    FollowupStatus.QUEUED_TASK: "已交运营",
    FollowupStatus.SKIPPED: "已跳过",
    FollowupStatus.FAILED: "失败",
}


class Followup(IdMixin, TimestampMixin, Base):
    """One follow-up for one trigger: UNIQUE (rule, trigger_key) — a trigger fires once."""

    __tablename__ = "followup"
    __table_args__ = (
        UniqueConstraint("rule_id", "trigger_key"),
        Index("ix_followup_status_due_at", "status", "due_at"),
    )

    rule_id: Mapped[int] = mapped_column(BigId, ForeignKey("followup_rule.id"))
    trigger_key: Mapped[str] = mapped_column(String(80), doc="click:<id>, order:<id>, …")
    consumer_id: Mapped[int] = mapped_column(BigId, ForeignKey("consumer.id"), index=True)
    contact_id: Mapped[int] = mapped_column(BigId, ForeignKey("contact.id"))
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("operator_account.id"))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[FollowupStatus] = mapped_column(
        str_enum(FollowupStatus, 16), default=FollowupStatus.PLANNED
    )
    reason: Mapped[str] = mapped_column(String(64), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    message_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("channel_message.id"))
    task_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("assisted_task.id"))
