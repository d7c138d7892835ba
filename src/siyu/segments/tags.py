"""Tags on contacts: manual, by rule (a segment rule, refreshed), by event (a confirmed add from
a code, an order). Never commits.

Tags belong to an owner like contacts do: a promoter's tags label that promoter's contacts; the
platform's label the platform's. A code's ``tag_names`` become event tags of the code owner when
the channel confirms the add (``siyu.pool.hooks``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.errors import Conflict, NotFound, ValidationFailed
from siyu.kit.time import utc_now
from siyu.models import Base, Contact, ContactSourceKind
from siyu.models.segments import ContactTag, Tag, TagKind, TagRule, TagRuleTrigger
from siyu.segments import service as segments
from siyu.segments.repository import ContactScope

NAME_MAX_LENGTH = 32
COLORS = ("secondary", "primary", "success", "danger", "warning", "info", "dark")
TAG_BATCH_LIMIT = 10_000


class TagNotFound(NotFound):
    code = "tag_not_found"
    message_en = "Tag not found."
    message_zh = "找不到该标签，它可能已被删除，或不属于您的账号。"


class TagNameInvalid(ValidationFailed):
    code = "tag_name_invalid"
    message_en = "A tag name has 1–32 characters."
    message_zh = "标签名称应为 1–32 个字。"


class TagNameTaken(Conflict):
    code = "tag_name_taken"
    message_en = "A tag named {name!r} already exists."
    message_zh = "标签“{name}”已存在。"


class TagContactsNotFound(ValidationFailed):
    code = "tag_contacts_not_found"
    message_en = "Contacts not found or not yours: {ids}."
    message_zh = "联系人（编号 {ids}）不存在或不属于您的账号。"


def _owner_of(scope: ContactScope) -> int | None:
    return scope.owner_promoter_id


def _clean_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned or len(cleaned) > NAME_MAX_LENGTH:
        raise TagNameInvalid()
    return cleaned


def create_tag(
    session: Session,
    actor: Principal | None,
    name: str,
    kind: TagKind = TagKind.MANUAL,
    color: str = "secondary",
    description: str = "",
    rule: Mapping[str, Any] | None = None,
) -> Tag:
    """A rule tag needs ``rule`` (a segment rule); it is applied by ``refresh_rule_tag``."""
    scope = segments.contact_scope(actor)
    cleaned = _clean_name(name)
    owner = _owner_of(scope)
    parsed = None
    if kind == TagKind.RULE:
        parsed = segments.parse_rule(rule or {})
        segments.check_references(session, parsed, ContactScope(owner))
    if _find(session, owner, cleaned) is not None:
        raise TagNameTaken(name=cleaned)
    tag = Tag(
        name=cleaned,
        kind=kind,
        owner_promoter_id=owner,
        owner_key=owner or 0,
        color=color if color in COLORS else "secondary",
        description=description.strip()[:200],
    )
    session.add(tag)
    session.flush()
    if parsed is not None:
        session.add(TagRule(tag_id=tag.id, trigger=TagRuleTrigger.SEGMENT, rule=parsed.as_json()))
        session.flush()
    return tag


def _find(session: Session, owner: int | None, name: str) -> Tag | None:
    return session.scalar(select(Tag).where(Tag.owner_key == (owner or 0), Tag.name == name))


def get_tag(session: Session, actor: Principal | None, tag_id: int) -> Tag:
    tag = session.get(Tag, tag_id)
    if tag is None or tag.archived_at is not None:
        raise TagNotFound()
    if actor is not None:
        scope = segments.contact_scope(actor)
        if tag.owner_promoter_id != scope.owner_promoter_id:
            raise TagNotFound()
    return tag


def list_tags(session: Session, actor: Principal | None) -> Sequence[Tag]:
    scope = segments.contact_scope(actor)
    owner = _owner_of(scope)
    statement = select(Tag).where(Tag.archived_at.is_(None), Tag.owner_key == (owner or 0))
    return session.scalars(statement.order_by(Tag.name)).all()


def tag_contacts(
    session: Session,
    actor: Principal | None,
    tag_id: int,
    contact_ids: Sequence[int],
    source: str = "manual",
) -> int:
    """Put the tag on contacts of its owner; returns how many were newly tagged."""
    tag = get_tag(session, actor, tag_id)
    wanted = sorted(set(contact_ids))[:TAG_BATCH_LIMIT]
    owned = set(
        session.scalars(
            select(Contact.id).where(
                Contact.id.in_(wanted), ContactScope(tag.owner_promoter_id).clause()
            )
        ).all()
    )
    missing = [value for value in wanted if value not in owned]
    if missing:
        raise TagContactsNotFound(ids=", ".join(str(value) for value in missing[:10]))
    already = set(
        session.scalars(
            select(ContactTag.contact_id).where(
                ContactTag.tag_id == tag.id, ContactTag.contact_id.in_(wanted)
            )
        ).all()
    )
    now = utc_now()
    user_id = actor.user_id if actor is not None and actor.user_id else None
    added = 0
    for contact_id in wanted:
        if contact_id in already:
            continue
        session.add(
            ContactTag(
                contact_id=contact_id,
                tag_id=tag.id,
                source=source,
                applied_at=now,
                applied_by_user_id=user_id,
            )
        )
        added += 1
    session.flush()
    _recount(session, tag.id)
    return added


def untag_contacts(
    session: Session, actor: Principal | None, tag_id: int, contact_ids: Sequence[int]
) -> int:
    tag = get_tag(session, actor, tag_id)
    result = session.execute(
        delete(ContactTag).where(
            ContactTag.tag_id == tag.id, ContactTag.contact_id.in_(sorted(set(contact_ids)))
        )
    )
    _recount(session, tag.id)
    return int(getattr(result, "rowcount", 0) or 0)


def tags_of(session: Session, contact_ids: Sequence[int]) -> dict[int, list[Tag]]:
    found: dict[int, list[Tag]] = {}
    if not contact_ids:
        return found
    statement = (
        select(ContactTag.contact_id, Tag)
        .join(Tag, Tag.id == ContactTag.tag_id)
        .where(ContactTag.contact_id.in_(contact_ids))
        .order_by(Tag.name)
    )
    for contact_id, tag in session.execute(statement).all():
        found.setdefault(contact_id, []).append(tag)
    return found


def _recount(session: Session, tag_id: int) -> None:
    total = select(func.count()).where(ContactTag.tag_id == tag_id).scalar_subquery()
    session.execute(update(Tag).where(Tag.id == tag_id).values(contacts_count=total))


# --- rule tags --------------------------------------------------------------------------------


def refresh_rule_tag(session: Session, tag_id: int) -> tuple[int, int]:
    """Sync a rule tag with its rule: (added, removed). Set-based; only rows with source
    ``rule`` are removed, so a manual application of the same tag stays."""
    tag = session.get(Tag, tag_id)
    rule_row = session.scalar(
        select(TagRule).where(TagRule.tag_id == tag_id, TagRule.trigger == TagRuleTrigger.SEGMENT)
    )
    if tag is None or rule_row is None or not rule_row.is_active:
        return 0, 0
    parsed = segments.parse_rule(rule_row.rule)
    where = segments.compile_for(session, parsed, ContactScope(tag.owner_promoter_id))
    tagged = select(ContactTag.contact_id).where(ContactTag.tag_id == tag.id)
    now = utc_now()
    table = Base.metadata.tables["contact_tag"]
    source = select(
        Contact.id, literal(tag.id), literal("rule"), literal(now, type_=ContactTag.applied_at.type)
    ).where(where, Contact.id.not_in(tagged))
    added = session.execute(
        insert(table).from_select(["contact_id", "tag_id", "source", "applied_at"], source)
    )
    matching = select(Contact.id).where(where)
    removed = session.execute(
        delete(ContactTag).where(
            ContactTag.tag_id == tag.id,
            ContactTag.source == "rule",
            ContactTag.contact_id.not_in(matching),
        )
    )
    rule_row.last_run_at = now
    session.flush()
    _recount(session, tag.id)
    session.refresh(tag)
    rule_row.last_matched = tag.contacts_count
    return max(0, int(getattr(added, "rowcount", 0) or 0)), max(
        0, int(getattr(removed, "rowcount", 0) or 0)
    )


# --- event tags ---------------------------------------------------------------------------------


def find_or_create_event_tag(session: Session, owner: int | None, name: str) -> Tag:
    cleaned = _clean_name(name)
    tag = _find(session, owner, cleaned)
    if tag is not None:
        return tag
    tag = Tag(name=cleaned, kind=TagKind.EVENT, owner_promoter_id=owner, owner_key=owner or 0)
    try:
        with session.begin_nested():
            session.add(tag)
            session.flush()
    except IntegrityError:
        found = _find(session, owner, cleaned)
        if found is None:
            raise
        return found
    return tag


def on_contact_confirmed(session: Session, contact: Contact, tag_names: Sequence[str]) -> None:
    """Pool hook: the code's tags (and the owner's confirmed-add event tags) on the new contact.
    Idempotent: a replayed event finds the tags already there."""
    owner = contact.owner_promoter_id
    tag_ids: list[int] = []
    for name in tag_names:
        try:
            tag_ids.append(find_or_create_event_tag(session, owner, name).id)
        except TagNameInvalid:
            continue
    for rule in session.scalars(
        select(TagRule)
        .join(Tag, Tag.id == TagRule.tag_id)
        .where(
            TagRule.trigger == TagRuleTrigger.CONTACT_CONFIRMED,
            TagRule.is_active.is_(True),
            Tag.owner_key == (owner or 0),
            Tag.archived_at.is_(None),
        )
    ).all():
        kinds = rule.rule.get("source_kinds") or []
        if not kinds or contact.source_kind in [ContactSourceKind(kind) for kind in kinds]:
            tag_ids.append(rule.tag_id)
    if not tag_ids:
        return
    existing = set(
        session.scalars(select(ContactTag.tag_id).where(ContactTag.contact_id == contact.id)).all()
    )
    now = utc_now()
    for tag_id in sorted(set(tag_ids) - existing):
        session.add(
            ContactTag(contact_id=contact.id, tag_id=tag_id, source="event", applied_at=now)
        )
    session.flush()
    for tag_id in sorted(set(tag_ids) - existing):
        _recount(session, tag_id)
