"""Assisted backend: personal WeChat accounts run by people. Nothing is sent automatically;
every outbound step becomes an ``AssistedTask`` in the operator inbox with copy-ready text. The
operator marks it done or failed (``siyu.pool.inbox.complete_task``), which reports the outcome
through the event inbox like any other backend."""

from __future__ import annotations

from sqlalchemy.orm import Session

from siyu.channels.base import (
    ChannelBackend,
    MomentContent,
    OutgoingMessage,
    SendResult,
    check_target,
)
from siyu.kit.time import utc_now
from siyu.models import AssistedTaskKind, Contact, OperatorAccount, WechatGroup
from siyu.pool import inbox


class AssistedBackend(ChannelBackend):
    name = "assisted"
    automated = False

    def send(
        self,
        session: Session,
        account: OperatorAccount,
        message: OutgoingMessage,
        contact: Contact | None = None,
        group: WechatGroup | None = None,
    ) -> SendResult:
        check_target(contact, group)
        kind = AssistedTaskKind.SEND_MESSAGE if contact else AssistedTaskKind.SEND_TO_GROUP
        task = inbox.create_task(
            session,
            account,
            kind,
            script_text=message.copy_text(),
            due_at=utc_now(),
            contact=contact,
            group=group,
            payload={"message": {"kind": message.kind.value, **message.body()}},
        )
        return SendResult("queued", task_id=task.id)

    def expect_add(
        self, session: Session, account: OperatorAccount, contact: Contact, welcome_script: str
    ) -> None:
        inbox.create_task(
            session,
            account,
            AssistedTaskKind.ACCEPT_FRIEND,
            script_text=welcome_script,
            due_at=utc_now(),
            contact=contact,
            idempotency_key=f"accept:{contact.id}:{contact.added_at.isoformat()}",
        )

    def request_remove(
        self, session: Session, account: OperatorAccount, contact: Contact, reason: str
    ) -> None:
        inbox.create_task(
            session,
            account,
            AssistedTaskKind.REMOVE_CONTACT,
            script_text="",
            due_at=utc_now(),
            contact=contact,
            payload={"reason": reason},
        )

    def post_moment(
        self, session: Session, account: OperatorAccount, content: MomentContent
    ) -> SendResult:
        task = inbox.create_task(
            session,
            account,
            AssistedTaskKind.POST_MOMENT,
            script_text=content.copy_text(),
            due_at=utc_now(),
            title="发布朋友圈",
            payload={"images": list(content.image_urls), "link_url": content.link_url},
            idempotency_key=f"moment:{content.publication_id}",
            source_kind="moment_publication",
            source_id=content.publication_id,
        )
        return SendResult("queued", task_id=task.id)

    def interact_moment(
        self, session: Session, account: OperatorAccount, contact: Contact, comment: str, key: str
    ) -> SendResult:
        task = inbox.create_task(
            session,
            account,
            AssistedTaskKind.INTERACT_MOMENT,
            script_text=comment,
            due_at=utc_now(),
            contact=contact,
            title="给好友的朋友圈点赞" + ("并评论" if comment else ""),
            payload={"comment": comment},
            idempotency_key=key,
            source_kind="moment_interaction",
        )
        return SendResult("queued", task_id=task.id)


def build() -> ChannelBackend:
    return AssistedBackend()
