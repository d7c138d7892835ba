"""Extension points other domains fill in (tags, segments, campaigns). Handlers run inside the
caller's transaction, must not commit, and must be idempotent (an event may be replayed).

segs registers its tag handler at import time of its service, e.g.::

    from siyu.pool import hooks
    hooks.register_contact_confirmed(apply_code_tags)   # (session, contact, tag_names) -> None
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from siyu.models import AssistedTask, ChannelEvent, Contact

ContactHandler = Callable[[Session, Contact, Sequence[str]], None]
# An event kind the pool does not handle itself (e.g. ``moment_interaction``): returns the
# event's outcome text. Runs inside the event's savepoint, once per event.
EventHandler = Callable[[Session, ChannelEvent], str]
# An assisted task was closed (done / failed / cancelled) by a person.
TaskHandler = Callable[[Session, AssistedTask], None]

# (session, contact, channel_event id, text): a processed inbound message (siyu.flows drives the
# contact's conversation). Runs once per event, after the message row is written.
MessageHandler = Callable[[Session, Contact, int, str], None]

# (session, [(contact id, event id), …]) before a batch of message events is applied: lets a
# handler read (and lock, in id order) what it needs for all of them at once. It may return a
# callable ``done(completed)``, called when the batch is over: ``True`` after every event was
# applied (write what was buffered), ``False`` when the batch failed (drop it).
MessagesPrefetch = Callable[[Session, Sequence[tuple[int, int]]], Callable[[bool], None] | None]

GroupLeftHandler = Callable[[Session, int, int], None]  # (session, group id, consumer id)

_confirmed: list[ContactHandler] = []
_removed: list[ContactHandler] = []
_event_kinds: dict[str, EventHandler] = {}
_task_closed: list[TaskHandler] = []
_message_received: list[MessageHandler] = []
_messages_prefetch: list[MessagesPrefetch] = []
_group_left: list[GroupLeftHandler] = []
_group_joined: list[GroupLeftHandler] = []


def register_contact_confirmed(handler: ContactHandler) -> None:
    if handler not in _confirmed:
        _confirmed.append(handler)


def register_contact_removed(handler: ContactHandler) -> None:
    if handler not in _removed:
        _removed.append(handler)


def register_message_received(handler: MessageHandler) -> None:
    if handler not in _message_received:
        _message_received.append(handler)


def register_messages_prefetch(handler: MessagesPrefetch) -> None:
    if handler not in _messages_prefetch:
        _messages_prefetch.append(handler)


def on_messages_prefetch(
    session: Session, pairs: Sequence[tuple[int, int]]
) -> list[Callable[[bool], None]]:
    finishers = []
    for handler in list(_messages_prefetch):
        done = handler(session, pairs)
        if done is not None:
            finishers.append(done)
    return finishers


def on_message_received(session: Session, contact: Contact, event_id: int, text: str) -> None:
    for handler in list(_message_received):
        handler(session, contact, event_id, text)


def register_group_left(handler: GroupLeftHandler) -> None:
    if handler not in _group_left:
        _group_left.append(handler)


def register_group_joined(handler: GroupLeftHandler) -> None:
    if handler not in _group_joined:
        _group_joined.append(handler)


def on_contact_confirmed(session: Session, contact: Contact, tag_names: Sequence[str]) -> None:
    """A channel confirmed the add; ``tag_names`` come from the code that routed the contact."""
    for handler in list(_confirmed):
        handler(session, contact, tag_names)


def on_contact_removed(session: Session, contact: Contact) -> None:
    for handler in list(_removed):
        handler(session, contact, ())


def register_event_kind(kind: str, handler: EventHandler) -> None:
    existing = _event_kinds.get(kind)
    if existing is not None and existing is not handler:
        raise ValueError(f"channel event kind {kind!r} already has a handler")
    _event_kinds[kind] = handler


def event_handler(kind: str) -> EventHandler | None:
    return _event_kinds.get(kind)


def register_task_closed(handler: TaskHandler) -> None:
    if handler not in _task_closed:
        _task_closed.append(handler)


def on_task_closed(session: Session, task: AssistedTask) -> None:
    for handler in list(_task_closed):
        handler(session, task)


def on_group_left(session: Session, group_id: int, consumer_id: int) -> None:
    """A member left (or was removed from) a group; their seat is already released."""
    for handler in list(_group_left):
        handler(session, group_id, consumer_id)


def on_group_joined(session: Session, group_id: int, consumer_id: int) -> None:
    """A member took a seat in a group (group code scan or channel event)."""
    for handler in list(_group_joined):
        handler(session, group_id, consumer_id)
