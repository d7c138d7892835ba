"""The channel interface every backend implements (simulator, assisted, wecom).

A backend is how siyu reaches WeChat for one operator account. Outbound: send a text, a link
card or an image to a contact or a group; be told that a scan reserved a seat (``expect_add``),
that a contact should be removed (``request_remove``). Inbound: every backend reports what
happened (friend added/removed, group joined/left, message) through the one inbox,
``siyu.pool.events.receive``, de-duplicated by (backend, external event id).

Domains never import a backend module; they ask ``siyu.channels.registry.backend_for(account)``.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sqlalchemy.orm import Session

from siyu.errors import AppError
from siyu.models import Contact, OperatorAccount, WechatGroup


class EventKind(enum.StrEnum):
    FRIEND_ADDED = "friend_added"
    FRIEND_REMOVED = "friend_removed"
    GROUP_JOINED = "group_joined"
    GROUP_LEFT = "group_left"
    MESSAGE = "message"
    MOMENT_INTERACTION = "moment_interaction"  # a contact liked / commented on a moment post


@dataclass(frozen=True)
class MomentContent:
    """A moment post as one account publishes it (``publication_id`` identifies it)."""

    publication_id: int
    text: str
    image_urls: tuple[str, ...] = ()
    link_url: str = ""

    def copy_text(self) -> str:
        return "\n".join(part for part in (self.text, self.link_url) if part)


class MessageKind(enum.StrEnum):
    TEXT = "text"
    LINK = "link"
    IMAGE = "image"


@dataclass(frozen=True)
class OutgoingMessage:
    kind: MessageKind
    text: str = ""
    title: str = ""
    url: str = ""
    image_url: str = ""

    def body(self) -> dict[str, Any]:
        values = {
            "text": self.text,
            "title": self.title,
            "url": self.url,
            "image_url": self.image_url,
        }
        return {key: value for key, value in values.items() if value}

    def copy_text(self) -> str:
        """What an operator pastes (assisted mode)."""
        if self.kind == MessageKind.LINK:
            return "\n".join(part for part in (self.text, self.title, self.url) if part)
        if self.kind == MessageKind.IMAGE:
            return "\n".join(part for part in (self.text, self.image_url) if part)
        return self.text


@dataclass(frozen=True)
class SendResult:
    """``sent`` = delivered by the backend; ``queued`` = an operator task was created."""

    status: str
    message_id: int | None = None
    task_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class ChannelNotConfigured(AppError):
    status = 503
    code = "channel_not_configured"
    message_en = "The {backend} channel is not configured."
    message_zh = "渠道“{backend}”尚未配置，请联系平台管理员。"


class ChannelUnknown(AppError):
    status = 422
    code = "channel_unknown"
    message_en = "Unknown channel backend {backend!r}."
    message_zh = "不支持的渠道“{backend}”。"


class ChannelBackend(ABC):
    name: ClassVar[str]
    automated: ClassVar[bool]

    @abstractmethod
    def send(
        self,
        session: Session,
        account: OperatorAccount,
        message: OutgoingMessage,
        contact: Contact | None = None,
        group: WechatGroup | None = None,
    ) -> SendResult:
        """Send to exactly one of ``contact`` / ``group``."""

    @abstractmethod
    def expect_add(
        self, session: Session, account: OperatorAccount, contact: Contact, welcome_script: str
    ) -> None:
        """A scan reserved a seat on ``account`` for ``contact`` (pending)."""

    @abstractmethod
    def request_remove(
        self, session: Session, account: OperatorAccount, contact: Contact, reason: str
    ) -> None:
        """Remove the friendship (a release rule, an opt-out, an operator)."""

    @abstractmethod
    def post_moment(
        self, session: Session, account: OperatorAccount, content: MomentContent
    ) -> SendResult:
        """Publish a moment (朋友圈) on ``account``: ``sent`` = out, ``queued`` = an operator task.

        Likes and comments on it come back as ``moment_interaction`` events."""

    @abstractmethod
    def interact_moment(
        self,
        session: Session,
        account: OperatorAccount,
        contact: Contact,
        comment: str,
        key: str,
    ) -> SendResult:
        """Like (and, when ``comment`` is given, comment on) the contact's latest moment.

        ``key`` makes it idempotent (one per account, contact and day)."""


def check_target(contact: Contact | None, group: WechatGroup | None) -> None:
    if (contact is None) == (group is None):
        raise ValueError("send needs exactly one of contact or group")
