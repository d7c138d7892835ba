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

_confirmed: list[ContactHandler] = []
_removed: list[ContactHandler] = []
_event_kinds: dict[str, EventHandler] = {}
_task_closed: list[TaskHandler] = []


def register_contact_confirmed(handler: ContactHandler) -> None:
    if handler not in _confirmed:
        _confirmed.append(handler)


def register_contact_removed(handler: ContactHandler) -> None:
    if handler not in _removed:
        _removed.append(handler)


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
