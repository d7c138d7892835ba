"""Simulator backend: a synthetic WeChat in siyu's own tables.

Friendships are the ``contact`` rows, groups ``wechat_group``/``group_member``, the chat log
``channel_message``. Behaviour is seeded (``SIYU_SIMULATOR_SEED``): whether a scanner completes
the add depends only on the seed and the contact, so a demo or test run is reproducible. What
the simulated people do comes back through the same event inbox as a real backend's callbacks.
"""

from __future__ import annotations

import random

from sqlalchemy.orm import Session

from siyu.channels.base import (
    ChannelBackend,
    EventKind,
    MessageKind,
    MomentContent,
    OutgoingMessage,
    SendResult,
    check_target,
)
from siyu.config import current_settings
from siyu.kit.time import utc_now
from siyu.models import ChannelMessage, Contact, OperatorAccount, WechatGroup
from siyu.moments.rules import simulated_reactions
from siyu.pool import events
from siyu.pool.repository import ContactRepository
from siyu.pool.schemas import EventIn

NAME = "simulator"


def _rng(*parts: object) -> random.Random:
    return random.Random(
        ":".join(str(part) for part in (current_settings().simulator_seed, *parts))
    )


class SimulatorBackend(ChannelBackend):
    name = NAME
    automated = True

    def send(
        self,
        session: Session,
        account: OperatorAccount,
        message: OutgoingMessage,
        contact: Contact | None = None,
        group: WechatGroup | None = None,
    ) -> SendResult:
        check_target(contact, group)
        row = ChannelMessage(
            backend=NAME,
            account_id=account.id,
            contact_id=contact.id if contact else None,
            group_id=group.id if group else None,
            direction="out",
            kind=message.kind.value,
            body=message.body(),
            sent_at=utc_now(),
        )
        session.add(row)
        session.flush()
        return SendResult("sent", message_id=row.id)

    def expect_add(
        self, session: Session, account: OperatorAccount, contact: Contact, welcome_script: str
    ) -> None:
        accepts = _rng("add", contact.id).random() * 10_000 < current_settings().simulator_accept_bp
        if not accepts:
            return
        events.receive(
            session,
            EventIn(
                backend=NAME,
                external_event_id=f"add:{contact.id}:{contact.added_at.isoformat()}",
                kind=EventKind.FRIEND_ADDED.value,
                account_id=account.id,
                payload={"contact_id": contact.id},
            ),
        )

    def request_remove(
        self, session: Session, account: OperatorAccount, contact: Contact, reason: str
    ) -> None:
        events.receive(
            session,
            EventIn(
                backend=NAME,
                external_event_id=f"remove:{contact.id}:{utc_now().isoformat()}",
                kind=EventKind.FRIEND_REMOVED.value,
                account_id=account.id,
                payload={"contact_id": contact.id, "reason": reason},
            ),
        )

    def post_moment(
        self, session: Session, account: OperatorAccount, content: MomentContent
    ) -> SendResult:
        """Out at once; the account's most active contacts react (seeded), through the inbox."""
        settings = current_settings()
        audience = ContactRepository(session).recently_active(account.id, MOMENT_AUDIENCE)
        reactions = simulated_reactions(
            [contact.id for contact in audience],
            settings.simulator_moment_like_bp,
            settings.simulator_moment_comment_bp,
            seed=f"{settings.simulator_seed}:moment:{content.publication_id}",
        )
        for reaction in reactions:
            events.receive(
                session,
                EventIn(
                    backend=NAME,
                    external_event_id=(
                        f"moment:{content.publication_id}:{reaction.contact_id}:{reaction.kind}"
                    ),
                    kind=EventKind.MOMENT_INTERACTION.value,
                    account_id=account.id,
                    payload={
                        "publication_id": content.publication_id,
                        "contact_id": reaction.contact_id,
                        "interaction": reaction.kind,
                        "text": reaction.text,
                    },
                ),
            )
        return SendResult("sent", extra={"external_id": f"sim-moment-{content.publication_id}"})

    def interact_moment(
        self, session: Session, account: OperatorAccount, contact: Contact, comment: str, key: str
    ) -> SendResult:
        return SendResult("sent", extra={"external_id": f"sim-{key}"})


# How many of an account's contacts "see" a simulated moment (the most recently active).
MOMENT_AUDIENCE = 300


def reply(session: Session, contact: Contact, text: str, key: str) -> None:
    """A simulated person answers (demo and tests): an incoming message event."""
    events.receive(
        session,
        EventIn(
            backend=NAME,
            external_event_id=f"message:{contact.id}:{key}",
            kind=EventKind.MESSAGE.value,
            account_id=contact.account_id,
            payload={"contact_id": contact.id, "text": text},
        ),
    )


def remove_friend(session: Session, contact: Contact, key: str) -> None:
    """A simulated person deletes the account (删除好友): a friend-removed event, as a real
    backend's callback would report it."""
    events.receive(
        session,
        EventIn(
            backend=NAME,
            external_event_id=f"removed-by-person:{contact.id}:{key}",
            kind=EventKind.FRIEND_REMOVED.value,
            account_id=contact.account_id,
            payload={"contact_id": contact.id, "reason": "deleted_by_person"},
        ),
    )


def build() -> ChannelBackend:
    return SimulatorBackend()


__all__ = ["MessageKind", "SimulatorBackend", "build", "remove_friend", "reply"]
