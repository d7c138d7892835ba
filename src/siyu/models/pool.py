"""The traffic pool (私域流量池): operator accounts, channel codes, contacts, groups, channel events
and the assisted operator inbox. See docs/pool.md.

Capacity is reserved by one conditional UPDATE on the account (or group) row — friends and today's
adds in the same statement — so concurrent scans can never push a row over a cap. Today's add
counters live on the account row next to ``adds_day`` (an Asia/Shanghai date): a reservation on a
new day resets them in the same statement.

Table and column names here are stable (other branches build on them); add, do not rename.
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
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from siyu.models.base import Base, BigId, IdMixin, TimestampMixin, UTCDateTime, str_enum

# product.md §3 defaults (configurable per account).
DEFAULT_MAX_FRIENDS_PERSONAL = 10_000
DEFAULT_MAX_FRIENDS_WECOM = 5_000
DEFAULT_PASSIVE_ADDS_PER_DAY = 200
DEFAULT_ACTIVE_ADDS_PER_DAY = 20
GROUP_CAPACITY = 500
GROUP_CAPACITY_USER_CREATED = 200
MINUTES_PER_DAY = 24 * 60


class AccountKind(enum.StrEnum):
    PERSONAL_ASSISTED = "personal_assisted"
    WECOM_MEMBER = "wecom_member"
    COURIER = "courier"


ACCOUNT_KIND_LABELS = {
    AccountKind.PERSONAL_ASSISTED: "个人号（辅助）",
    AccountKind.WECOM_MEMBER: "企业微信成员",
    AccountKind.COURIER: "快递员",
}


class AccountStatus(enum.StrEnum):
    ACTIVE = "active"
    RESTING = "resting"
    RESTRICTED = "restricted"
    BANNED = "banned"
    RETIRED = "retired"


ACCOUNT_STATUS_LABELS = {
    AccountStatus.ACTIVE: "正常",
    AccountStatus.RESTING: "休息中",
    AccountStatus.RESTRICTED: "受限",
    AccountStatus.BANNED: "已封号",
    AccountStatus.RETIRED: "已停用",
}


class Persona(IdMixin, TimestampMixin, Base):
    """What a scanner sees (头像/昵称/签名); many activity accounts share one persona."""

    __tablename__ = "persona"

    name: Mapped[str] = mapped_column(String(64), doc="internal label")
    nickname: Mapped[str] = mapped_column(String(64))
    avatar_url: Mapped[str] = mapped_column(String(500), default="")
    signature: Mapped[str] = mapped_column(String(200), default="")


class OperatorAccount(IdMixin, TimestampMixin, Base):
    """One WeChat personal account or WeCom member that holds friends and groups (运营号).

    ``owner_promoter_id`` NULL = the platform's operations team. ``friends_used`` counts pending
    and confirmed contacts (a pending add holds its seat until the channel confirms or it expires).
    """

    __tablename__ = "operator_account"
    __table_args__ = (
        CheckConstraint("friends_used >= 0", name="friends_used_non_negative"),
        CheckConstraint("max_friends >= 0", name="max_friends_non_negative"),
        CheckConstraint("passive_adds_per_day >= 0", name="passive_cap_non_negative"),
        CheckConstraint("active_adds_per_day >= 0", name="active_cap_non_negative"),
        CheckConstraint(
            "working_from_minute >= 0 AND working_from_minute <= 1440", name="working_from"
        ),
        CheckConstraint(
            "working_until_minute >= 0 AND working_until_minute <= 1440", name="working_until"
        ),
        Index("ix_operator_account_owner_promoter_id_id", "owner_promoter_id", "id"),
        Index("ix_operator_account_city_code", "city_code"),
    )

    name: Mapped[str] = mapped_column(String(64), doc="internal label, e.g. 京东活动推广员-001")
    kind: Mapped[AccountKind] = mapped_column(str_enum(AccountKind, 20))
    owner_promoter_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("promoter.id"))
    persona_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("persona.id"), index=True)
    external_id: Mapped[str | None] = mapped_column(
        String(64), unique=True, doc="wxid / WeCom userid / simulator id"
    )
    channel_backend: Mapped[str] = mapped_column(
        String(16), default="", doc="'' = chosen by kind and settings; else a registered backend"
    )
    province_code: Mapped[str] = mapped_column(String(6), default="")
    city_code: Mapped[str] = mapped_column(String(6), default="")
    district_code: Mapped[str] = mapped_column(String(6), default="")
    product_lines: Mapped[list[str]] = mapped_column(JSON, default=list)
    working_from_minute: Mapped[int] = mapped_column(
        Integer, default=0, doc="Asia/Shanghai minute of day the account starts taking adds"
    )
    working_until_minute: Mapped[int] = mapped_column(
        Integer,
        default=MINUTES_PER_DAY,
        doc="exclusive; until < from means overnight (e.g. 20:00–02:00)",
    )
    weight: Mapped[int] = mapped_column(Integer, default=1, doc="for the weighted strategy")
    max_friends: Mapped[int] = mapped_column(Integer, default=DEFAULT_MAX_FRIENDS_PERSONAL)
    passive_adds_per_day: Mapped[int] = mapped_column(Integer, default=DEFAULT_PASSIVE_ADDS_PER_DAY)
    active_adds_per_day: Mapped[int] = mapped_column(Integer, default=DEFAULT_ACTIVE_ADDS_PER_DAY)
    friends_used: Mapped[int] = mapped_column(Integer, default=0)
    adds_day: Mapped[date | None] = mapped_column(
        Date, doc="Asia/Shanghai day the two counters below belong to"
    )
    passive_adds_today: Mapped[int] = mapped_column(Integer, default=0)
    active_adds_today: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[AccountStatus] = mapped_column(
        str_enum(AccountStatus, 16), default=AccountStatus.ACTIVE
    )
    status_reason: Mapped[str] = mapped_column(String(500), default="")
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Health: routing skips an account whose recent failures reach the limit or that is flagged.
    recent_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    restriction_flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    registered_on: Mapped[date | None] = mapped_column(Date, doc="account age starts here")
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    persona: Mapped[Persona | None] = relationship(lazy="joined")


class RoutingStrategy(enum.StrEnum):
    LEAST_LOADED = "least_loaded"
    ROUND_ROBIN = "round_robin"
    WEIGHTED = "weighted"


ROUTING_STRATEGY_LABELS = {
    RoutingStrategy.LEAST_LOADED: "最少负载",
    RoutingStrategy.ROUND_ROBIN: "轮询",
    RoutingStrategy.WEIGHTED: "按权重",
}


class ChannelCodeStatus(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


class ChannelCode(IdMixin, TimestampMixin, Base):
    """A 活码: one QR / link routing each scanner to one account by ``rule``.

    ``rule`` (JSON, all keys optional; absent = no filter):
    ``{"account_ids": [..], "province_codes": [..], "city_codes": [..], "district_codes": [..],
    "product_lines": [..], "persona_ids": [..], "owner_promoter_id": int|null,
    "working_from_minute": int, "working_until_minute": int, "weights": {"<account id>": int}}``.

    A personal code (one per participant/promoter) has ``parent_id`` = the campaign's code and a
    ``state``: scans of ``/c/<parent>?state=<state>`` or of its own ``/c/<code>`` route by the
    parent's rule and attribute the add to ``referrer_promoter_id`` / ``referrer_consumer_id``.
    """

    __tablename__ = "channel_code"
    __table_args__ = (Index("ix_channel_code_owner_promoter_id_id", "owner_promoter_id", "id"),)

    code: Mapped[str] = mapped_column(String(16), unique=True, doc="the /c/<code> path part")
    name: Mapped[str] = mapped_column(String(64))
    owner_promoter_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("promoter.id"))
    rule: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    strategy: Mapped[RoutingStrategy] = mapped_column(
        str_enum(RoutingStrategy, 16), default=RoutingStrategy.LEAST_LOADED
    )
    spare_account_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    welcome_script: Mapped[str] = mapped_column(Text, default="")
    tag_names: Mapped[list[str]] = mapped_column(JSON, default=list)
    source_label: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[ChannelCodeStatus] = mapped_column(
        str_enum(ChannelCodeStatus, 16), default=ChannelCodeStatus.ACTIVE
    )
    round_robin_cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    parent_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("channel_code.id"), index=True)
    state: Mapped[str | None] = mapped_column(String(32), unique=True)
    referrer_promoter_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("promoter.id"))
    referrer_consumer_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("consumer.id"))

    parent: Mapped[ChannelCode | None] = relationship(remote_side="ChannelCode.id", lazy="select")


class ScanOutcome(enum.StrEnum):
    ROUTED = "routed"
    SPARE = "spare"
    ALREADY_CONTACT = "already_contact"
    FULL = "full"
    CLOSED = "closed"


SCAN_OUTCOME_LABELS = {
    ScanOutcome.ROUTED: "已分配",
    ScanOutcome.SPARE: "备用号",
    ScanOutcome.ALREADY_CONTACT: "已是好友",
    ScanOutcome.FULL: "已满",
    ScanOutcome.CLOSED: "已停用",
}


class ChannelScan(IdMixin, Base):
    """One scan of a channel code and its routing decision (append-only)."""

    __tablename__ = "channel_scan"
    __table_args__ = (
        Index("ix_channel_scan_code_id_scanned_at", "code_id", "scanned_at"),
        Index("ix_channel_scan_account_id", "account_id"),
    )

    code_id: Mapped[int] = mapped_column(BigId, ForeignKey("channel_code.id"))
    personal_code_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("channel_code.id"))
    consumer_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("consumer.id"))
    state_raw: Mapped[str] = mapped_column(String(64), default="", doc="as received, truncated")
    state_valid: Mapped[bool] = mapped_column(Boolean, default=True)
    referrer_promoter_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("promoter.id"))
    referrer_consumer_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("consumer.id"))
    outcome: Mapped[ScanOutcome] = mapped_column(str_enum(ScanOutcome, 16))
    account_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("operator_account.id"))
    contact_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("contact.id"))
    candidates_count: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0, doc="conditional updates tried")
    reason: Mapped[str] = mapped_column(String(200), default="")
    scanned_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ContactState(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REMOVED = "removed"


CONTACT_STATE_LABELS = {
    ContactState.PENDING: "待通过",
    ContactState.CONFIRMED: "已添加",
    ContactState.REMOVED: "已删除",
}


class LifecycleStage(enum.StrEnum):
    NEW = "new"
    ENGAGED = "engaged"
    CUSTOMER = "customer"
    REPEAT = "repeat"
    ADVOCATE = "advocate"
    LOST = "lost"
    REMOVED = "removed"


LIFECYCLE_STAGE_LABELS = {
    LifecycleStage.NEW: "新好友",
    LifecycleStage.ENGAGED: "已互动",
    LifecycleStage.CUSTOMER: "已购买",
    LifecycleStage.REPEAT: "复购",
    LifecycleStage.ADVOCATE: "推荐者",
    LifecycleStage.LOST: "流失",
    LifecycleStage.REMOVED: "已移除",
}


class ContactSourceKind(enum.StrEnum):
    CODE = "code"
    GROUP_CODE = "group_code"
    CAMPAIGN = "campaign"
    COURIER = "courier"
    PROMOTER = "promoter"
    IMPORT = "import"
    CHANNEL = "channel"


CONTACT_SOURCE_LABELS = {
    ContactSourceKind.CODE: "活码",
    ContactSourceKind.GROUP_CODE: "群活码",
    ContactSourceKind.CAMPAIGN: "裂变活动",
    ContactSourceKind.COURIER: "快递员",
    ContactSourceKind.PROMOTER: "推手",
    ContactSourceKind.IMPORT: "导入",
    ContactSourceKind.CHANNEL: "渠道同步",
}


class Contact(IdMixin, TimestampMixin, Base):
    """One consumer's friendship with one operator account.

    ``owner_promoter_id`` copies the account's owner (NULL = platform) so scoped lists and
    segments never join the account. One row per (consumer, account): a re-add after removal
    reuses it.
    """

    __tablename__ = "contact"
    __table_args__ = (
        UniqueConstraint("consumer_id", "account_id"),
        Index("ix_contact_account_id_state", "account_id", "state"),
        Index("ix_contact_owner_promoter_id_id", "owner_promoter_id", "id"),
        Index("ix_contact_referrer_promoter_id", "referrer_promoter_id"),
    )

    consumer_id: Mapped[int] = mapped_column(BigId, ForeignKey("consumer.id"))
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("operator_account.id"))
    owner_promoter_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("promoter.id"))
    external_id: Mapped[str | None] = mapped_column(
        String(64), doc="the channel's id for this friendship (WeCom external_userid, …)"
    )
    source_kind: Mapped[ContactSourceKind] = mapped_column(str_enum(ContactSourceKind, 16))
    source_id: Mapped[int | None] = mapped_column(BigInteger, doc="code / campaign / order id")
    referrer_promoter_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("promoter.id"))
    referrer_consumer_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("consumer.id"))
    state: Mapped[ContactState] = mapped_column(
        str_enum(ContactState, 16), default=ContactState.PENDING
    )
    lifecycle_stage: Mapped[LifecycleStage] = mapped_column(
        str_enum(LifecycleStage, 16), default=LifecycleStage.NEW
    )
    consent: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    marketing_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    notes: Mapped[str] = mapped_column(Text, default="")
    province_code: Mapped[str] = mapped_column(String(6), default="")
    city_code: Mapped[str] = mapped_column(String(6), default="")
    district_code: Mapped[str] = mapped_column(String(6), default="")
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), doc="when the seat was reserved")
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class GroupPurpose(enum.StrEnum):
    COUPON = "coupon"
    VIP = "vip"
    REGION = "region"
    CAMPAIGN = "campaign"
    GENERAL = "general"


GROUP_PURPOSE_LABELS = {
    GroupPurpose.COUPON: "优惠券群",
    GroupPurpose.VIP: "VIP群",
    GroupPurpose.REGION: "地区群",
    GroupPurpose.CAMPAIGN: "活动群",
    GroupPurpose.GENERAL: "普通群",
}


class GroupStatus(enum.StrEnum):
    OPEN = "open"
    FULL = "full"
    ARCHIVED = "archived"


class WechatGroup(IdMixin, TimestampMixin, Base):
    """A WeChat group held by an operator account (``group`` is a reserved SQL word)."""

    __tablename__ = "wechat_group"
    __table_args__ = (
        CheckConstraint("members_count >= 0", name="members_non_negative"),
        CheckConstraint("members_count <= capacity", name="members_within_capacity"),
        Index("ix_wechat_group_group_code_id_sequence", "group_code_id", "sequence"),
    )

    account_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("operator_account.id"), index=True, doc="the owner (群主)"
    )
    owner_promoter_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("promoter.id"))
    name: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    purpose: Mapped[GroupPurpose] = mapped_column(
        str_enum(GroupPurpose, 16), default=GroupPurpose.GENERAL
    )
    created_by_wechat_user: Mapped[bool] = mapped_column(Boolean, default=False)
    capacity: Mapped[int] = mapped_column(Integer, default=GROUP_CAPACITY)
    members_count: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[GroupStatus] = mapped_column(str_enum(GroupStatus, 16), default=GroupStatus.OPEN)
    group_code_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("group_code.id"))
    sequence: Mapped[int] = mapped_column(Integer, default=1, doc="order within its group code")
    province_code: Mapped[str] = mapped_column(String(6), default="")
    city_code: Mapped[str] = mapped_column(String(6), default="")
    district_code: Mapped[str] = mapped_column(String(6), default="")


class GroupMember(IdMixin, Base):
    """One stay of a consumer in a group: a rejoin after leaving is a new row (history)."""

    __tablename__ = "group_member"
    __table_args__ = (
        Index(
            "uq_group_member_present",
            "group_id",
            "consumer_id",
            unique=True,
            sqlite_where=text("left_at IS NULL"),
            postgresql_where=text("left_at IS NULL"),
        ),
        Index("ix_group_member_consumer_id", "consumer_id"),
    )

    group_id: Mapped[int] = mapped_column(BigId, ForeignKey("wechat_group.id"))
    consumer_id: Mapped[int] = mapped_column(BigId, ForeignKey("consumer.id"))
    contact_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("contact.id"))
    source_kind: Mapped[ContactSourceKind] = mapped_column(str_enum(ContactSourceKind, 16))
    source_id: Mapped[int | None] = mapped_column(BigInteger)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime())
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    leave_reason: Mapped[str] = mapped_column(String(64), default="")


class GroupCode(IdMixin, TimestampMixin, Base):
    """A group 活码: fills its groups in ``sequence`` order; when the current group is full it
    opens the next one from the template (``name_template`` with ``{n}``, capacity, purpose)."""

    __tablename__ = "group_code"

    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("operator_account.id"), doc="owns the groups it opens"
    )
    owner_promoter_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("promoter.id"))
    name_template: Mapped[str] = mapped_column(String(64), doc="e.g. 双十一内购优惠券群{n}")
    capacity: Mapped[int] = mapped_column(Integer, default=GROUP_CAPACITY)
    purpose: Mapped[GroupPurpose] = mapped_column(
        str_enum(GroupPurpose, 16), default=GroupPurpose.COUPON
    )
    max_groups: Mapped[int] = mapped_column(Integer, default=100, doc="stop opening after this")
    welcome_script: Mapped[str] = mapped_column(Text, default="")
    tag_names: Mapped[list[str]] = mapped_column(JSON, default=list)
    source_label: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[ChannelCodeStatus] = mapped_column(
        str_enum(ChannelCodeStatus, 16), default=ChannelCodeStatus.ACTIVE
    )
    groups_opened: Mapped[int] = mapped_column(Integer, default=0)


class ChannelEvent(IdMixin, Base):
    """Inbox of events from any channel backend, de-duplicated by (backend, external_event_id).

    Kinds: ``friend_added``, ``friend_removed``, ``group_joined``, ``group_left``, ``message``.
    Written once; the ``pool.process_event`` job sets ``processed_at`` and ``outcome``.
    """

    __tablename__ = "channel_event"
    __table_args__ = (
        UniqueConstraint("backend", "external_event_id"),
        Index(
            "ix_channel_event_unprocessed",
            "id",
            sqlite_where=text("processed_at IS NULL"),
            postgresql_where=text("processed_at IS NULL"),
        ),
    )

    backend: Mapped[str] = mapped_column(String(16))
    external_event_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    account_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("operator_account.id"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str] = mapped_column(String(200), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class ChannelMessage(IdMixin, Base):
    """Every message siyu sent or received on any backend (the simulator's chat log too)."""

    __tablename__ = "channel_message"
    __table_args__ = (
        Index("ix_channel_message_contact_id_sent_at", "contact_id", "sent_at"),
        Index("ix_channel_message_group_id_sent_at", "group_id", "sent_at"),
    )

    backend: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("operator_account.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("contact.id"))
    group_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("wechat_group.id"))
    direction: Mapped[str] = mapped_column(String(8), doc="out / in")
    kind: Mapped[str] = mapped_column(String(16), doc="text / link / image")
    body: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    external_id: Mapped[str | None] = mapped_column(String(128))
    assisted_task_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("assisted_task.id"))


class AssistedTaskKind(enum.StrEnum):
    ADD_FRIEND = "add_friend"
    ACCEPT_FRIEND = "accept_friend"
    SEND_MESSAGE = "send_message"
    SEND_TO_GROUP = "send_to_group"
    INVITE_TO_GROUP = "invite_to_group"
    REMOVE_CONTACT = "remove_contact"
    POST_MOMENT = "post_moment"
    INTERACT_MOMENT = "interact_moment"
    OTHER = "other"


ASSISTED_TASK_KIND_LABELS = {
    AssistedTaskKind.ADD_FRIEND: "添加好友",
    AssistedTaskKind.ACCEPT_FRIEND: "通过好友申请",
    AssistedTaskKind.SEND_MESSAGE: "发送消息",
    AssistedTaskKind.SEND_TO_GROUP: "群内发送",
    AssistedTaskKind.INVITE_TO_GROUP: "邀请进群",
    AssistedTaskKind.REMOVE_CONTACT: "删除好友",
    AssistedTaskKind.POST_MOMENT: "发朋友圈",
    AssistedTaskKind.INTERACT_MOMENT: "朋友圈点赞评论",
    AssistedTaskKind.OTHER: "其他",
}


class AssistedTaskStatus(enum.StrEnum):
    OPEN = "open"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


ASSISTED_TASK_STATUS_LABELS = {
    AssistedTaskStatus.OPEN: "待处理",
    AssistedTaskStatus.DONE: "已完成",
    AssistedTaskStatus.FAILED: "失败",
    AssistedTaskStatus.CANCELLED: "已取消",
}


class AssistedTask(IdMixin, TimestampMixin, Base):
    """One step a person does by hand on a personal account (nothing is sent automatically).

    ``idempotency_key`` (unique when set) lets producers (courier orders, releases) create a task
    at most once, e.g. ``courier-order:<order id>``.
    """

    __tablename__ = "assisted_task"
    __table_args__ = (
        Index("ix_assisted_task_account_id_status_due_at", "account_id", "status", "due_at"),
        Index("ix_assisted_task_owner_promoter_id_status", "owner_promoter_id", "status"),
    )

    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("operator_account.id"))
    owner_promoter_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("promoter.id"))
    kind: Mapped[AssistedTaskKind] = mapped_column(str_enum(AssistedTaskKind, 20))
    contact_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("contact.id"))
    consumer_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("consumer.id"))
    group_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("wechat_group.id"))
    title: Mapped[str] = mapped_column(String(120), default="")
    script_text: Mapped[str] = mapped_column(Text, default="", doc="copy-ready text")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, doc="link card, image")
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[AssistedTaskStatus] = mapped_column(
        str_enum(AssistedTaskStatus, 16), default=AssistedTaskStatus.OPEN
    )
    source_kind: Mapped[str] = mapped_column(String(32), default="")
    source_id: Mapped[int | None] = mapped_column(BigInteger)
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    result_notes: Mapped[str] = mapped_column(String(500), default="")
    reply_text: Mapped[str] = mapped_column(Text, default="")
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_by_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("user.id"))
