"""Segments: validate a rule, count it live, save it, materialise it for a broadcast, export it.

Never commits. Who sees what (product.md §3, PIPL): a promoter's segments cover only that
promoter's contacts; platform staff work on the platform's contacts (accounts with no promoter
owner); only platform admins may build a segment over everyone's contacts, and every such save,
materialisation and export is audited. Merchants see no contacts at all. Objects outside the
actor's reach are reported as not found.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from siyu.audit import service as audit
from siyu.auth.principal import Principal
from siyu.errors import NotFound, PermissionDenied, ValidationFailed
from siyu.kit import crypto
from siyu.kit.time import format_shanghai, utc_now
from siyu.models import CONTACT_SOURCE_LABELS, LIFECYCLE_STAGE_LABELS, Role
from siyu.models.segments import Segment, SegmentSnapshot
from siyu.privacy import service as privacy
from siyu.regions import service as regions
from siyu.regions.rules import CITY_TIER_LABELS
from siyu.segments.repository import (
    CompileContext,
    ContactScope,
    SegmentRepository,
    compile_rule,
)
from siyu.segments.schemas import SegmentIn, SegmentRule

EXPORT_MAX_ROWS = 50_000
SNAPSHOT_PURPOSES = ("broadcast", "export", "manual")


class SegmentNotFound(NotFound):
    code = "segment_not_found"
    message_en = "Segment not found."
    message_zh = "找不到该人群，它可能已被删除，或不属于您的账号。"


class SegmentRuleInvalid(ValidationFailed):
    code = "segment_rule_invalid"
    message_en = "The segment rule is invalid: {detail}."
    message_zh = "人群规则有误：{detail}。请检查条件后重试。"


class SegmentReferenceNotFound(ValidationFailed):
    code = "segment_reference_not_found"
    message_en = "The rule names {thing} that do not exist or are not yours: {ids}."
    message_zh = "规则中的{thing_zh}（编号 {ids}）不存在或不属于您的账号。"


class AllOwnersAdminOnly(PermissionDenied):
    code = "all_owners_admin_only"
    message_en = "Only platform admins may build a segment over every owner's contacts."
    message_zh = "只有平台管理员可以圈选全平台（含推手）的联系人。"


class SnapshotPurposeInvalid(ValidationFailed):
    code = "snapshot_purpose_invalid"
    message_en = "purpose must be broadcast, export or manual."
    message_zh = "用途不正确。"


# --- who may see which contacts -----------------------------------------------------------------


def contact_scope(actor: Principal | None, all_owners: bool = False) -> ContactScope:
    """The contacts ``actor`` may query. ``None`` (the system) may query everyone's."""
    if actor is None:
        return ContactScope(None, all_owners=True)
    if actor.role == Role.PROMOTER and actor.promoter_id is not None:
        if all_owners:
            raise AllOwnersAdminOnly()
        return ContactScope(actor.promoter_id)
    if actor.is_platform:
        if all_owners and not actor.is_admin:
            raise AllOwnersAdminOnly()
        return ContactScope(None, all_owners=all_owners)
    raise PermissionDenied()


def segment_scope(segment: Segment) -> ContactScope:
    return ContactScope(segment.owner_promoter_id, all_owners=segment.all_owners)


def _can_see(actor: Principal | None, segment: Segment) -> bool:
    if actor is None:
        return True
    if actor.role == Role.PROMOTER:
        return actor.promoter_id is not None and segment.owner_promoter_id == actor.promoter_id
    if actor.is_platform:
        return (segment.owner_promoter_id is None and not segment.all_owners) or actor.is_admin
    return False


# --- rules ----------------------------------------------------------------------------------------


def parse_rule(data: Mapping[str, Any] | SegmentRule) -> SegmentRule:
    """A rule from JSON, with every problem in one clear error."""
    if isinstance(data, SegmentRule):
        return data
    try:
        return SegmentRule.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'rule'}: {item['msg']}"
            for item in error.errors()[:5]
        )
        raise SegmentRuleInvalid(detail=problems) from error


def check_references(session: Session, rule: SegmentRule, scope: ContactScope) -> None:
    """Tags, accounts and groups named by the rule exist and belong to the scope's owner."""
    repository = SegmentRepository(session)
    checks = (
        ("tags", "标签", "tag", "tag_ids", repository.foreign_tag_ids),
        ("accounts", "运营号", "account", "account_ids", repository.foreign_account_ids),
        ("groups", "群", "group", "group_ids", repository.foreign_group_ids),
    )
    for thing, thing_zh, kind, attribute, foreign in checks:
        ids = {value for item in rule.conditions_of(kind) for value in getattr(item, attribute)}
        missing = foreign(ids, scope)
        if missing:
            listed = ", ".join(str(value) for value in sorted(missing))
            raise SegmentReferenceNotFound(thing=thing, thing_zh=thing_zh, ids=listed)


def compile_for(session: Session, rule: SegmentRule, scope: ContactScope) -> ColumnElement[bool]:
    context = CompileContext(
        now=utc_now(), tier_codes=lambda tiers: regions.codes_in_tiers(session, tiers)
    )
    return scope.clause() & compile_rule(rule, context)


def count(
    session: Session,
    actor: Principal | None,
    rule: Mapping[str, Any] | SegmentRule,
    all_owners: bool = False,
) -> tuple[int, int]:
    """Live count for the builder: (matching contacts, of which reachable by a broadcast)."""
    scope = contact_scope(actor, all_owners)
    parsed = parse_rule(rule)
    check_references(session, parsed, scope)
    return SegmentRepository(session).count_with_reachable(compile_for(session, parsed, scope))


# --- segments -------------------------------------------------------------------------------------


def _owner_for(actor: Principal | None, data: SegmentIn) -> int | None:
    if actor is not None and actor.role == Role.PROMOTER:
        return actor.promoter_id
    return data.owner_promoter_id


def create_segment(session: Session, actor: Principal | None, data: SegmentIn) -> Segment:
    owner = _owner_for(actor, data)
    if owner is not None and data.all_owners:
        raise SegmentRuleInvalid(detail="a promoter's segment cannot cover all owners")
    if actor is not None and actor.is_platform and owner is not None and not actor.is_admin:
        raise PermissionDenied()
    scope = ContactScope(owner) if owner is not None else contact_scope(actor, data.all_owners)
    check_references(session, data.rule, scope)
    segment = SegmentRepository(session).add(
        Segment(
            name=data.name.strip(),
            description=data.description.strip(),
            owner_promoter_id=owner,
            all_owners=data.all_owners,
            rule=data.rule.as_json(),
            created_by_user_id=_user_id(actor),
        )
    )
    if data.all_owners or (actor is not None and actor.is_platform and owner is not None):
        audit.record(
            session,
            _user_id(actor),
            "segment.created",
            "segment",
            segment.id,
            all_owners=data.all_owners,
            owner_promoter_id=owner,
        )
    return segment


def update_segment(
    session: Session, actor: Principal | None, segment_id: int, data: SegmentIn
) -> Segment:
    segment = get_segment(session, actor, segment_id)
    if data.all_owners != segment.all_owners:
        contact_scope(actor, data.all_owners)
    check_references(session, data.rule, ContactScope(segment.owner_promoter_id, data.all_owners))
    segment.name = data.name.strip()
    segment.description = data.description.strip()
    segment.all_owners = data.all_owners
    segment.rule = data.rule.as_json()
    segment.last_count = None
    segment.last_counted_at = None
    session.flush()
    return segment


def archive_segment(session: Session, actor: Principal | None, segment_id: int) -> Segment:
    segment = get_segment(session, actor, segment_id)
    segment.archived_at = utc_now()
    session.flush()
    return segment


def get_segment(session: Session, actor: Principal | None, segment_id: int) -> Segment:
    segment = SegmentRepository(session).get(segment_id)
    if segment is None or segment.archived_at is not None or not _can_see(actor, segment):
        raise SegmentNotFound()
    return segment


def list_segments(session: Session, actor: Principal | None) -> Sequence[Segment]:
    scope = contact_scope(actor)
    everyone = actor is None or actor.is_admin
    segments = SegmentRepository(session).visible(scope.owner_promoter_id, everyone)
    return [segment for segment in segments if _can_see(actor, segment)]


def count_segment(session: Session, actor: Principal | None, segment_id: int) -> tuple[int, int]:
    segment = get_segment(session, actor, segment_id)
    rule = parse_rule(segment.rule)
    where = compile_for(session, rule, segment_scope(segment))
    matched, reachable = SegmentRepository(session).count_with_reachable(where)
    segment.last_count = matched
    segment.last_counted_at = utc_now()
    session.flush()
    return matched, reachable


def materialise(
    session: Session, actor: Principal | None, segment_id: int, purpose: str = "broadcast"
) -> SegmentSnapshot:
    """Freeze who is in the segment now (reachable contacts only) for a broadcast or export."""
    if purpose not in SNAPSHOT_PURPOSES:
        raise SnapshotPurposeInvalid()
    segment = get_segment(session, actor, segment_id)
    rule = parse_rule(segment.rule)
    where = compile_for(session, rule, segment_scope(segment))
    repository = SegmentRepository(session)
    snapshot = repository.add_snapshot(
        SegmentSnapshot(
            segment_id=segment.id,
            purpose=purpose,
            rule=segment.rule,
            created_by_user_id=_user_id(actor),
        )
    )
    # One INSERT … SELECT: the members are whoever matches and is reachable at this moment.
    snapshot.member_count = repository.materialise(snapshot.id, where)
    session.flush()
    if segment.all_owners:
        audit.record(
            session,
            _user_id(actor),
            "segment.materialised",
            "segment",
            segment.id,
            snapshot_id=snapshot.id,
            members=snapshot.member_count,
        )
    return snapshot


def snapshot_members(session: Session, snapshot_id: int) -> list[int]:
    return list(SegmentRepository(session).snapshot_members(snapshot_id))


# --- export ---------------------------------------------------------------------------------------

EXPORT_HEADER = (
    "联系人ID",
    "昵称",
    "手机号",
    "运营号",
    "地区",
    "城市等级",
    "生命周期",
    "来源",
    "添加时间",
    "标签",
)


def export_csv(session: Session, actor: Principal, segment_id: int) -> tuple[str, int]:
    """The segment's contacts as CSV with masked phones; logged as a personal-data access.

    Only the owner of the contacts (the promoter, or platform staff for the platform's) and
    platform admins may export; at most ``EXPORT_MAX_ROWS`` rows.
    """
    segment = get_segment(session, actor, segment_id)
    rule = parse_rule(segment.rule)
    where = compile_for(session, rule, segment_scope(segment))
    repository = SegmentRepository(session)
    rows = repository.export_rows(where, EXPORT_MAX_ROWS)
    tags = repository.tag_names_of([contact.id for contact, _consumer, _account in rows])
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_HEADER)
    for contact, consumer, account_name in rows:
        code = contact.district_code or contact.city_code or contact.province_code
        tier = regions.tier_of(session, code) if code else None
        writer.writerow(
            (
                contact.id,
                consumer.nickname,
                masked_phone(consumer.phone_encrypted),
                account_name,
                regions.full_name(code),
                CITY_TIER_LABELS[tier] if tier is not None else "",
                LIFECYCLE_STAGE_LABELS[contact.lifecycle_stage],
                CONTACT_SOURCE_LABELS[contact.source_kind],
                format_shanghai(contact.added_at),
                "、".join(tags.get(contact.id, [])),
            )
        )
    privacy.record_reads(
        session,
        actor,
        [consumer.id for _contact, consumer, _account in rows],
        f"segment.export:{segment.id}",
        "phone_masked,nickname,region",
    )
    if segment.all_owners or (actor.is_admin and segment.owner_promoter_id is not None):
        audit.record(
            session, actor.user_id, "segment.exported", "segment", segment.id, rows=len(rows)
        )
    return buffer.getvalue(), len(rows)


def masked_phone(encrypted: str | None) -> str:
    if not encrypted:
        return ""
    return crypto.mask_phone(crypto.decrypt(encrypted))


def _user_id(actor: Principal | None) -> int | None:
    if actor is None or actor.user_id == 0:
        return None
    return actor.user_id
