"""Groups and group codes (群活码). Never commits.

A group code fills its groups in ``sequence`` order. A join takes a seat with a conditional
UPDATE (``members_count < capacity``), so concurrent joins never overfill a group; when every
open group is full, the code opens the next one from its template. Opening is serialised by a
lock on the group-code row, so two joiners never open two groups at once.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from siyu.audit import service as audit
from siyu.auth.principal import Principal
from siyu.consumers import service as consumers
from siyu.consumers.service import ConsumerIdentity
from siyu.errors import NotFound, ValidationFailed
from siyu.kit.pagination import Page, PageRequest
from siyu.kit.time import utc_now
from siyu.models import (
    ChannelCodeStatus,
    ContactSourceKind,
    GroupCode,
    GroupMember,
    GroupStatus,
    WechatGroup,
)
from siyu.pool import rules
from siyu.pool.repository import GroupRepository
from siyu.pool.schemas import GroupCodeCreate, GroupCreate
from siyu.pool.service import get_account, scope_of


class GroupNotFound(NotFound):
    code = "group_not_found"
    message_en = "Group not found."
    message_zh = "找不到该群，或它不属于您。"


class GroupCodeNotFound(NotFound):
    code = "group_code_not_found"
    message_en = "Group code not found."
    message_zh = "找不到该群活码。"


class GroupCapacityInvalid(ValidationFailed):
    code = "group_capacity_invalid"
    message_en = "Group capacity must be between 1 and {limit}."
    message_zh = "群人数上限必须在 1 到 {limit} 之间。"


class GroupNameRequired(ValidationFailed):
    code = "group_name_required"
    message_en = "A group needs a name."
    message_zh = "请填写群名称。"


def create_group(session: Session, actor: Principal | None, data: GroupCreate) -> WechatGroup:
    account = get_account(session, actor, data.account_id)
    if not data.name.strip():
        raise GroupNameRequired()
    group = WechatGroup(
        account_id=account.id,
        owner_promoter_id=account.owner_promoter_id,
        name=data.name.strip(),
        purpose=data.purpose,
        created_by_wechat_user=data.created_by_wechat_user,
        capacity=rules.group_capacity(data.created_by_wechat_user),
        members_count=0,
        status=GroupStatus.OPEN,
        sequence=1,
    )
    return GroupRepository(session).add(group)


def get_group(session: Session, actor: Principal | None, group_id: int) -> WechatGroup:
    group = GroupRepository(session).get(group_id)
    scope = scope_of(actor)
    if group is None or (scope.only_owner and group.owner_promoter_id != scope.owner_promoter_id):
        raise GroupNotFound()
    return group


def list_groups(session: Session, actor: Principal | None, page: PageRequest) -> Page[WechatGroup]:
    scope = scope_of(actor)
    return GroupRepository(session).listing(page, scope.owner_promoter_id, scope.only_owner)


def create_group_code(
    session: Session, actor: Principal | None, data: GroupCodeCreate
) -> GroupCode:
    account = get_account(session, actor, data.account_id)
    capacity = data.capacity if data.capacity is not None else rules.group_capacity(False)
    if not 1 <= capacity <= rules.group_capacity(False):
        raise GroupCapacityInvalid(limit=rules.group_capacity(False))
    if not data.name.strip() or not data.name_template.strip():
        raise GroupNameRequired()
    if not 1 <= data.max_groups <= 10_000:
        raise ValidationFailed(field="max_groups")
    repository = GroupRepository(session)
    code = secrets.token_urlsafe(6).replace("-", "x").replace("_", "y")[:8]
    group_code = repository.add_group_code(
        GroupCode(
            code=code,
            name=data.name.strip(),
            account_id=account.id,
            owner_promoter_id=account.owner_promoter_id,
            name_template=data.name_template.strip(),
            capacity=capacity,
            purpose=data.purpose,
            max_groups=data.max_groups,
            welcome_script=data.welcome_script,
            tag_names=list(data.tag_names),
            source_label=data.source_label,
            status=ChannelCodeStatus.ACTIVE,
            groups_opened=0,
        )
    )
    audit.record(
        session,
        actor.user_id if actor else None,
        "pool.group_code_created",
        "group_code",
        group_code.id,
    )
    return group_code


def list_group_codes(session: Session, actor: Principal | None) -> Sequence[GroupCode]:
    scope = scope_of(actor)
    return GroupRepository(session).group_codes(scope.owner_promoter_id, scope.only_owner)


def get_group_code(session: Session, actor: Principal | None, group_code_id: int) -> GroupCode:
    group_code = GroupRepository(session).group_code(group_code_id)
    scope = scope_of(actor)
    if group_code is None or (
        scope.only_owner and group_code.owner_promoter_id != scope.owner_promoter_id
    ):
        raise GroupCodeNotFound()
    return group_code


def groups_of_code(
    session: Session, actor: Principal | None, group_code_id: int
) -> Sequence[WechatGroup]:
    group_code = GroupRepository(session).group_code(group_code_id)
    scope = scope_of(actor)
    if group_code is None or (
        scope.only_owner and group_code.owner_promoter_id != scope.owner_promoter_id
    ):
        raise GroupCodeNotFound()
    return GroupRepository(session).groups_of_code(group_code.id)


@dataclass(frozen=True)
class JoinResult:
    group: WechatGroup | None
    member: GroupMember | None
    outcome: str  # joined / already_member / full / closed


def _open_next(session: Session, group_code: GroupCode) -> WechatGroup | None:
    if group_code.groups_opened >= group_code.max_groups:
        return None
    group_code.groups_opened += 1
    sequence = group_code.groups_opened
    group = WechatGroup(
        account_id=group_code.account_id,
        owner_promoter_id=group_code.owner_promoter_id,
        name=rules.group_name(group_code.name_template, sequence)[:64],
        purpose=group_code.purpose,
        created_by_wechat_user=False,
        capacity=group_code.capacity,
        members_count=0,
        status=GroupStatus.OPEN,
        group_code_id=group_code.id,
        sequence=sequence,
    )
    return GroupRepository(session).add(group)


def join_by_code(session: Session, code_text: str, identity: ConsumerIdentity) -> JoinResult:
    """Seat a scanner in the first group of the code with room; open the next when all are
    full (up to ``max_groups``)."""
    repository = GroupRepository(session)
    found = repository.group_code_by_code(code_text)
    if found is None:
        raise GroupCodeNotFound()
    if found.status != ChannelCodeStatus.ACTIVE:
        return JoinResult(None, None, "closed")
    consumer = consumers.find_or_create(session, identity)
    consumer = consumers.lock(session, consumer.id)
    present = repository.member_in_code(found.id, consumer.id)
    if present is not None:
        return JoinResult(repository.get(present.group_id), present, "already_member")
    group_id: int | None = None
    for candidate in repository.open_groups_of_code(found.id):
        if repository.take_seat(candidate):
            group_id = candidate
            break
    if group_id is None:
        # Every group is full: lock the code, re-check, then open the next group.
        group_code = repository.group_code_for_update(found.id)
        assert group_code is not None
        for candidate in repository.open_groups_of_code(found.id):
            if repository.take_seat(candidate):
                group_id = candidate
                break
        if group_id is None:
            opened = _open_next(session, group_code)
            if opened is None or not repository.take_seat(opened.id):
                return JoinResult(None, None, "full")
            group_id = opened.id
    group = repository.get(group_id)
    assert group is not None
    session.refresh(group)
    if group.members_count >= group.capacity:
        repository.mark_full(group.id)
        session.refresh(group)
    member = repository.add_member(
        GroupMember(
            group_id=group.id,
            consumer_id=consumer.id,
            source_kind=ContactSourceKind.GROUP_CODE,
            source_id=found.id,
            joined_at=utc_now(),
            leave_reason="",
        )
    )
    from siyu.pool import hooks

    hooks.on_group_joined(session, group.id, consumer.id)
    return JoinResult(group, member, "joined")


def leave(session: Session, group_id: int, consumer_id: int, reason: str = "left") -> bool:
    repository = GroupRepository(session)
    member = repository.present_member(group_id, consumer_id)
    if member is None:
        return False
    member.left_at = utc_now()
    member.leave_reason = reason[:64]
    repository.release_seat(group_id)
    session.flush()
    from siyu.pool import hooks

    hooks.on_group_left(session, group_id, consumer_id)
    return True
