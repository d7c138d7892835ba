"""The one inbox for channel events from any backend. Never commits.

``receive`` stores an event once per (backend, external event id) — a duplicate delivery returns
the stored row and queues nothing — and queues ``pool.process_event``. ``process`` locks the row,
skips it when already processed, applies the effect and marks it processed in the same
transaction: a replayed job or a redelivered event has exactly one effect.

Payloads (all ids optional where an alternative is given):
- ``friend_added``: ``contact_id``, or ``union_id``/``phone`` (+ ``nickname``) with the event's
  ``account_id``; ``external_contact_id``.
- ``friend_removed``: ``contact_id``, or ``union_id``/``phone`` with ``account_id``.
- ``group_joined`` / ``group_left``: ``group_id`` and ``consumer_id`` or ``union_id``/``phone``.
- ``message``: ``contact_id`` and ``text``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.config import current_settings
from siyu.consumers import service as consumers
from siyu.consumers.service import ConsumerIdentity
from siyu.errors import AppError
from siyu.jobs import enqueue
from siyu.kit.time import utc_now
from siyu.models import (
    ChannelCode,
    ChannelEvent,
    ChannelMessage,
    Contact,
    ContactSourceKind,
    ContactState,
    GroupMember,
    LifecycleStage,
)
from siyu.pool import hooks
from siyu.pool.repository import (
    AccountRepository,
    ContactRepository,
    EventRepository,
    GroupRepository,
)
from siyu.pool.schemas import EventIn

logger = logging.getLogger("siyu.pool.events")

EVENT_KINDS = ("friend_added", "friend_removed", "group_joined", "group_left", "message")


def opt_out_keywords() -> frozenset[str]:
    """``SIYU_OPT_OUT_KEYWORDS`` (default 退订, TD), case-folded: a reply that is exactly one of
    them opts the contact out of marketing messages before the next send."""
    raw = current_settings().opt_out_keywords
    return frozenset(part.strip().casefold() for part in raw.split(",") if part.strip())


def receive(session: Session, data: EventIn) -> tuple[ChannelEvent, bool]:
    """Store the event (or find the stored one); ``True`` when it is new."""
    repository = EventRepository(session)
    existing = repository.by_external(data.backend, data.external_event_id)
    if existing is not None:
        logger.info("duplicate event %s/%s ignored", data.backend, data.external_event_id)
        return existing, False
    event = ChannelEvent(
        backend=data.backend,
        external_event_id=data.external_event_id,
        kind=data.kind,
        account_id=data.account_id,
        payload=data.payload,
        received_at=utc_now(),
        outcome="",
        attempts=0,
    )
    try:
        with session.begin_nested():
            repository.add(event)
    except IntegrityError:
        found = repository.by_external(data.backend, data.external_event_id)
        if found is None:
            raise
        return found, False
    from siyu.pool import tasks

    enqueue(session, tasks.process_event, event.id)
    return event, True


def process(session: Session, event_id: int) -> str:
    """Apply one stored event exactly once; returns the outcome written on the row."""
    event = EventRepository(session).get_for_update(event_id)
    if event is None:
        return "missing"
    return _process_locked(session, event, None)


def process_many(session: Session, event_ids: Sequence[int]) -> dict[int, str]:
    """Apply many stored events in one transaction (a backlog drain, the load path): the event
    rows are locked in id order in one statement, the message events' contacts in one more, and
    the message hooks may prefetch for the whole batch; each event still gets its own savepoint
    and exactly one effect, as with ``process``."""
    ids = sorted(set(event_ids))
    found = {event.id: event for event in EventRepository(session).many_for_update(ids)}
    pending = [found[i] for i in ids if i in found and found[i].processed_at is None]
    contact_ids = sorted(
        {
            int(event.payload["contact_id"])
            for event in pending
            if event.kind == "message" and isinstance((event.payload or {}).get("contact_id"), int)
        }
    )
    contacts = {
        contact.id: contact for contact in ContactRepository(session).many_for_update(contact_ids)
    }
    pairs = [
        (int(event.payload["contact_id"]), event.id)
        for event in pending
        if event.kind == "message" and int((event.payload or {}).get("contact_id") or 0) in contacts
    ]
    finishers = hooks.on_messages_prefetch(session, pairs) if pairs else []
    outcomes: dict[int, str] = {}
    completed = False
    try:
        for event_id in ids:
            event = found.get(event_id)
            if event is None:
                outcomes[event_id] = "missing"
            elif event.processed_at is not None:
                outcomes[event_id] = "already processed"
            else:
                outcomes[event_id] = _apply_in_savepoint(session, event, contacts)
        completed = True
    finally:
        for done in finishers:
            done(completed)
    # The rows are locked until the commit, so marking them together (one statement at the
    # flush) is as exactly-once as marking each right after its effect.
    now = utc_now()
    for event in pending:
        _mark(event, outcomes[event.id], now)
    return {event_id: outcome[:200] for event_id, outcome in outcomes.items()}


def _process_locked(
    session: Session, event: ChannelEvent, contacts: dict[int, Contact] | None
) -> str:
    if event.processed_at is not None:
        return "already processed"
    outcome = _apply_in_savepoint(session, event, contacts)
    _mark(event, outcome, utc_now())
    session.flush()
    return event.outcome


def _apply_in_savepoint(
    session: Session, event: ChannelEvent, contacts: dict[int, Contact] | None
) -> str:
    try:
        with session.begin_nested():
            outcome = _apply(session, event, contacts)
    except AppError as error:
        outcome = f"refused: {error.code}"
    if outcome.startswith(("ignored", "refused")):
        logger.warning("event %s (%s) %s", event.id, event.kind, outcome)
    return outcome


def _mark(event: ChannelEvent, outcome: str, now: datetime) -> None:
    event.attempts += 1
    event.outcome = outcome[:200]
    event.processed_at = now


def _apply(
    session: Session, event: ChannelEvent, contacts: dict[int, Contact] | None = None
) -> str:
    payload: dict[str, Any] = event.payload or {}
    if event.kind == "friend_added":
        return _friend_added(session, event, payload)
    if event.kind == "friend_removed":
        return _friend_removed(session, event, payload)
    if event.kind == "group_joined":
        return _group_joined(session, payload)
    if event.kind == "group_left":
        return _group_left(session, payload)
    if event.kind == "message":
        return _message(session, event, payload, contacts)
    handler = hooks.event_handler(event.kind)
    if handler is not None:
        return handler(session, event)
    return f"ignored: unknown kind {event.kind!r}"


def _identity(payload: dict[str, Any]) -> ConsumerIdentity | None:
    union_id = payload.get("union_id")
    phone = payload.get("phone")
    if not union_id and not phone:
        return None
    return ConsumerIdentity(
        phone=str(phone) if phone else None,
        union_id=str(union_id) if union_id else None,
        nickname=str(payload.get("nickname") or ""),
    )


def _find_contact(session: Session, event: ChannelEvent, payload: dict[str, Any]) -> Contact | None:
    contacts = ContactRepository(session)
    contact_id = payload.get("contact_id")
    if isinstance(contact_id, int):
        contact = contacts.get_for_update(contact_id)
        if contact is not None and (event.account_id in (None, contact.account_id)):
            return contact
        return None
    identity = _identity(payload)
    if identity is None or event.account_id is None:
        return None
    consumer = consumers.find_or_create(session, identity)
    found = contacts.find(consumer.id, event.account_id)
    return contacts.get_for_update(found.id) if found else None


def _tag_names(session: Session, contact: Contact) -> list[str]:
    if contact.source_kind == ContactSourceKind.CODE and contact.source_id is not None:
        code = session.get(ChannelCode, contact.source_id)
        if code is not None:
            return list(code.tag_names or [])
    return []


def _friend_added(session: Session, event: ChannelEvent, payload: dict[str, Any]) -> str:
    contact = _find_contact(session, event, payload)
    now = utc_now()
    if contact is None:
        identity = _identity(payload)
        account = AccountRepository(session).get(event.account_id) if event.account_id else None
        if identity is None or account is None:
            return "ignored: no contact or account in payload"
        # Added outside a code (the person found the account themselves): a fact to record.
        consumer = consumers.find_or_create(session, identity)
        AccountRepository(session).take_seat_unconditionally(account.id)
        contact = Contact(
            consumer_id=consumer.id,
            account_id=account.id,
            owner_promoter_id=account.owner_promoter_id,
            source_kind=ContactSourceKind.CHANNEL,
            state=ContactState.CONFIRMED,
            lifecycle_stage=LifecycleStage.NEW,
            consent=False,
            marketing_opt_out=False,
            notes="",
            added_at=now,
            confirmed_at=now,
            external_id=str(payload.get("external_contact_id") or "") or None,
        )
        ContactRepository(session).add(contact)
        hooks.on_contact_confirmed(session, contact, [])
        return "contact created"
    if contact.state == ContactState.CONFIRMED:
        return "ignored: already confirmed"
    if contact.state == ContactState.REMOVED:
        # The pending seat expired, but the person added anyway: the friendship is real.
        AccountRepository(session).take_seat_unconditionally(contact.account_id)
    contact.state = ContactState.CONFIRMED
    contact.confirmed_at = now
    contact.removed_at = None
    if payload.get("external_contact_id"):
        contact.external_id = str(payload["external_contact_id"])[:64]
    session.flush()
    hooks.on_contact_confirmed(session, contact, _tag_names(session, contact))
    _welcome(session, contact)
    return "confirmed"


def _welcome(session: Session, contact: Contact) -> None:
    """Automated backends send the code's welcome script (assisted ones had it in the task)."""
    from siyu.channels.base import MessageKind, OutgoingMessage
    from siyu.channels.registry import backend_for

    if contact.source_kind != ContactSourceKind.CODE or contact.source_id is None:
        return
    code = session.get(ChannelCode, contact.source_id)
    account = AccountRepository(session).get(contact.account_id)
    if code is None or account is None or not code.welcome_script:
        return
    if hooks.welcome_replaced(session, contact):
        return  # a campaign's conversation flow greets this contact instead
    backend = backend_for(account)
    if backend.automated:
        backend.send(
            session, account, OutgoingMessage(MessageKind.TEXT, text=code.welcome_script), contact
        )


def _friend_removed(session: Session, event: ChannelEvent, payload: dict[str, Any]) -> str:
    contact = _find_contact(session, event, payload)
    if contact is None:
        return "ignored: unknown contact"
    if contact.state == ContactState.REMOVED:
        return "ignored: already removed"
    contact.state = ContactState.REMOVED
    contact.lifecycle_stage = LifecycleStage.REMOVED
    contact.removed_at = utc_now()
    AccountRepository(session).release_seat(contact.account_id)
    session.flush()
    hooks.on_contact_removed(session, contact)
    return "removed"


def _group_consumer_id(session: Session, payload: dict[str, Any]) -> int | None:
    consumer_id = payload.get("consumer_id")
    if isinstance(consumer_id, int):
        return consumer_id
    identity = _identity(payload)
    return consumers.find_or_create(session, identity).id if identity else None


def _group_joined(session: Session, payload: dict[str, Any]) -> str:
    groups = GroupRepository(session)
    group_id = payload.get("group_id")
    group = groups.get(group_id) if isinstance(group_id, int) else None
    consumer_id = _group_consumer_id(session, payload)
    if group is None or consumer_id is None:
        return "ignored: unknown group or member"
    if groups.present_member(group.id, consumer_id) is not None:
        return "ignored: already a member"
    if not groups.take_seat(group.id):
        return "refused: group full"
    groups.add_member(
        GroupMember(
            group_id=group.id,
            consumer_id=consumer_id,
            source_kind=ContactSourceKind.CHANNEL,
            joined_at=utc_now(),
            leave_reason="",
        )
    )
    hooks.on_group_joined(session, group.id, consumer_id)
    return "joined"


def _group_left(session: Session, payload: dict[str, Any]) -> str:
    groups = GroupRepository(session)
    group_id = payload.get("group_id")
    consumer_id = _group_consumer_id(session, payload)
    if not isinstance(group_id, int) or consumer_id is None:
        return "ignored: unknown group or member"
    member = groups.present_member(group_id, consumer_id)
    if member is None:
        return "ignored: not a member"
    member.left_at = utc_now()
    member.leave_reason = str(payload.get("reason") or "left")[:64]
    groups.release_seat(group_id)
    session.flush()
    hooks.on_group_left(session, group_id, consumer_id)
    return "left"


def _message(
    session: Session,
    event: ChannelEvent,
    payload: dict[str, Any],
    contacts: dict[int, Contact] | None = None,
) -> str:
    locked = contacts.get(payload.get("contact_id") or 0) if contacts is not None else None
    if locked is not None and event.account_id in (None, locked.account_id):
        contact: Contact | None = locked  # locked by process_many
    else:
        contact = _find_contact(session, event, payload)
    if contact is None:
        return "ignored: unknown contact"
    text = str(payload.get("text") or "")
    now = utc_now()
    session.add(
        ChannelMessage(
            backend=event.backend,
            account_id=contact.account_id,
            contact_id=contact.id,
            direction="in",
            kind="text",
            body={"text": text[:5000]},
            sent_at=now,
            external_id=event.external_event_id,
        )
    )
    contact.last_message_at = now
    if contact.lifecycle_stage == LifecycleStage.NEW:
        contact.lifecycle_stage = LifecycleStage.ENGAGED
    opts_out = text.strip().casefold() in opt_out_keywords()
    if opts_out:
        contact.marketing_opt_out = True
    # Before the flush: what the hook writes goes out in the same flush (the load path).
    hooks.on_message_received(session, contact, event.id, text)
    session.flush()
    return "opted out" if opts_out else "recorded"


BACKLOG_AGE = timedelta(seconds=30)
BACKLOG_BATCH = 100


def backlog(session: Session, now: datetime | None = None) -> list[int]:
    """Events their own ``pool.process_event`` job has not handled within ``BACKLOG_AGE`` (a
    worker was down, a burst of replies): the next batch for ``drain_backlog``."""
    cutoff = (now or utc_now()) - BACKLOG_AGE
    return EventRepository(session).unprocessed_ids(BACKLOG_BATCH, received_before=cutoff)
