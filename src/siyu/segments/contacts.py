"""The contacts list (console): search and filters over the actor's contacts, phones masked,
every page logged as a personal-data access. Never commits.

Who sees what: a promoter their own contacts; platform operators the platform's; platform admins
everyone's (each view logged with the owner filter used); merchants none. Filters are a segment
rule, so the list and the segment builder always agree on who matches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.kit import crypto
from siyu.kit.pagination import Page, PageRequest
from siyu.models import Consumer, Contact, OperatorAccount
from siyu.models.segments import Tag
from siyu.privacy import service as privacy
from siyu.regions import service as regions
from siyu.regions.rules import CITY_TIER_LABELS
from siyu.segments import service as segments
from siyu.segments import tags as tag_service
from siyu.segments.schemas import SegmentRule

SEARCH_MAX_LENGTH = 64


@dataclass(frozen=True)
class ContactRow:
    contact: Contact
    nickname: str
    phone_masked: str
    account_name: str
    region_name: str
    tier_label: str
    tags: list[Tag]


def _search_clause(text: str) -> ColumnElement[bool] | None:
    """An id, a whole phone number (blind index) or part of a nickname."""
    query = text.strip()[:SEARCH_MAX_LENGTH]
    if not query:
        return None
    options: list[ColumnElement[bool]] = []
    if query.isdigit() and len(query) < 11:
        options.append(Contact.id == int(query))
    try:
        phone = crypto.normalize_phone(query)
    except crypto.PhoneInvalid:
        phone = None
    if phone is not None:
        options.append(Consumer.phone_index == crypto.blind_index(phone))
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    options.append(Consumer.nickname.ilike(f"%{escaped}%", escape="\\"))
    return or_(*options)


def list_contacts(
    session: Session,
    actor: Principal,
    rule: SegmentRule,
    page: PageRequest,
    query: str = "",
    all_owners: bool = False,
) -> Page[ContactRow]:
    scope = segments.contact_scope(actor, all_owners=all_owners and actor.is_admin)
    segments.check_references(session, rule, scope)
    where = segments.compile_for(session, rule, scope)
    search = _search_clause(query)
    base = (
        select(Contact, Consumer, OperatorAccount.name)
        .join(Consumer, Consumer.id == Contact.consumer_id)
        .join(OperatorAccount, OperatorAccount.id == Contact.account_id)
        .where(where)
    )
    counted = select(func.count()).select_from(Contact).where(where)
    if search is not None:
        base = base.where(search)
        counted = counted.join(Consumer, Consumer.id == Contact.consumer_id).where(search)
    total = int(session.scalar(counted) or 0)
    results = session.execute(
        base.order_by(Contact.id.desc()).offset(page.offset).limit(page.size)
    ).all()
    tag_map = tag_service.tags_of(session, [contact.id for contact, _c, _a in results])
    items = [_row(session, contact, consumer, name, tag_map) for contact, consumer, name in results]
    privacy.record_reads(
        session,
        actor,
        [consumer.id for _contact, consumer, _name in results],
        f"console.contacts ({_purpose(scope.all_owners, query, rule)})",
        "phone_masked,nickname,region",
    )
    return Page(items, total, page)


def _purpose(all_owners: bool, query: str, rule: SegmentRule) -> str:
    parts = ["all owners" if all_owners else "own contacts"]
    if query.strip():
        parts.append("search")
    if rule.conditions:
        parts.append(f"{len(rule.conditions)} filters")
    return ", ".join(parts)


def _row(
    session: Session,
    contact: Contact,
    consumer: Consumer,
    account_name: str,
    tag_map: dict[int, list[Tag]],
) -> ContactRow:
    code = contact.district_code or contact.city_code or contact.province_code
    tier = regions.tier_of(session, code) if code else None
    return ContactRow(
        contact=contact,
        nickname=consumer.nickname,
        phone_masked=segments.masked_phone(consumer.phone_encrypted) or "—",
        account_name=account_name,
        region_name=regions.full_name(code) if code else "—",
        tier_label=CITY_TIER_LABELS[tier] if tier is not None else "—",
        tags=tag_map.get(contact.id, []),
    )


def filters_rule(filters: dict[str, Any]) -> SegmentRule:
    """The list's filter form as a rule (AND of the filled-in fields)."""
    conditions: list[dict[str, Any]] = []
    if filters.get("tag_id"):
        conditions.append({"kind": "tag", "tag_ids": [int(filters["tag_id"])]})
    if filters.get("account_id"):
        conditions.append({"kind": "account", "account_ids": [int(filters["account_id"])]})
    if filters.get("stage"):
        conditions.append({"kind": "lifecycle", "stages": [filters["stage"]]})
    if filters.get("state"):
        conditions.append({"kind": "state", "states": [filters["state"]]})
    if filters.get("region"):
        conditions.append({"kind": "region", "codes": [filters["region"]]})
    if filters.get("tier"):
        conditions.append({"kind": "tier", "tiers": [filters["tier"]]})
    return segments.parse_rule({"op": "and", "conditions": conditions})
