"""Extension points other domains fill in (tags, segments, campaigns). Handlers run inside the
caller's transaction, must not commit, and must be idempotent (an event may be replayed).

segs registers its tag handler at import time of its service, e.g.::

    from siyu.pool import hooks
    hooks.register_contact_confirmed(apply_code_tags)   # (session, contact, tag_names) -> None
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from siyu.models import Contact

ContactHandler = Callable[[Session, Contact, Sequence[str]], None]

GroupLeftHandler = Callable[[Session, int, int], None]  # (session, group id, consumer id)

_confirmed: list[ContactHandler] = []
_removed: list[ContactHandler] = []
_group_left: list[GroupLeftHandler] = []
_group_joined: list[GroupLeftHandler] = []


def register_contact_confirmed(handler: ContactHandler) -> None:
    if handler not in _confirmed:
        _confirmed.append(handler)


def register_contact_removed(handler: ContactHandler) -> None:
    if handler not in _removed:
        _removed.append(handler)


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


def on_group_left(session: Session, group_id: int, consumer_id: int) -> None:
    """A member left (or was removed from) a group; their seat is already released."""
    for handler in list(_group_left):
        handler(session, group_id, consumer_id)


def on_group_joined(session: Session, group_id: int, consumer_id: int) -> None:
    """A member took a seat in a group (group code scan or channel event)."""
    for handler in list(_group_joined):
        handler(session, group_id, consumer_id)
