"""Broadcasts (群发): compose, plan, start, cancel, retry, send one due row, results. Never
commits.

``actor`` is the ``Principal`` asking, or ``None`` for the system (jobs, demo). Platform staff
broadcast through the platform's accounts to the platform's contacts; a promoter only through
their own accounts to their own contacts (another owner's broadcast is not found). Every text is
linted with ``compliance.require_publishable`` when the broadcast is created and again when it
starts.

Planning is set-based (see ``repository``); sending takes one due row at a time and re-checks
everything that may have changed since the plan: the broadcast (cancelled), the account
(status, working hours), quiet hours, the contact (removed, opted out, consent), the person's
quotas (conditional UPDATEs) and the account's pace.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_
from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.compliance import service as compliance
from siyu.compliance.rules import Finding, TextKind
from siyu.config import current_settings
from siyu.errors import AppError, Conflict, NotFound, ValidationFailed
from siyu.jobs import enqueue
from siyu.kit.time import utc_now
from siyu.links import service as links
from siyu.links.schemas import LinkCreate
from siyu.models import (
    ContactState,
    GroupPurpose,
    GroupStatus,
    LinkPosition,
    LinkTargetKind,
    WechatGroup,
)
from siyu.models.outreach import (
    AudienceKind,
    Broadcast,
    BroadcastBatch,
    BroadcastSend,
    BroadcastStatus,
    ContentKind,
    SendStatus,
)
from siyu.outreach import rules
from siyu.outreach.repository import CONSUMER, CONTACT, BroadcastRepository, QuotaCaps
from siyu.outreach.schemas import AudienceIn, BroadcastIn, PlanOut, ResultsOut
from siyu.pool import service as pool
from siyu.privacy import service as privacy
from siyu.segments import service as segments
from siyu.segments.repository import ContactScope  # a value type (no queries)

logger = logging.getLogger("siyu.outreach")

LIST_LIMIT = 200
RECIPIENTS_PAGE = 50
# A message card links to the broadcast's own tracked link, so clicks and orders count per
# broadcast; the promoter sees it among their links as 群发#<id>.
SUB_ID_PREFIX = "群发#"


class BroadcastNotFound(NotFound):
    code = "broadcast_not_found"
    message_en = "Broadcast not found."
    message_zh = "找不到该群发，它可能已删除，或不属于您。"


class BroadcastAudienceInvalid(ValidationFailed):
    code = "broadcast_audience_invalid"
    message_en = "The audience is invalid: {problem}."
    message_zh = "发送对象有误：{problem_zh}。"


class BroadcastContentInvalid(ValidationFailed):
    code = "broadcast_content_invalid"
    message_en = "The message is invalid: {problem}."
    message_zh = "消息内容有误：{problem_zh}。"


class BroadcastNotDraft(Conflict):
    code = "broadcast_not_draft"
    message_en = "Only a draft broadcast can be planned or started (this one is {status})."
    message_zh = "只有草稿状态的群发可以重新规划或开始发送。"


class BroadcastNotCancellable(Conflict):
    code = "broadcast_not_cancellable"
    message_en = "This broadcast is already {status}."
    message_zh = "该群发已结束或已取消，无法取消。"


class BroadcastNotRetryable(Conflict):
    code = "broadcast_not_retryable"
    message_en = "Only a broadcast that is sending or done can retry failed sends."
    message_zh = "只有发送中或已完成的群发可以重试失败的消息。"


class BroadcastEmpty(ValidationFailed):
    code = "broadcast_empty"
    message_en = "Nobody in the audience can receive this broadcast."
    message_zh = "发送对象中没有可以接收的人，请调整发送对象。"


# --- scope ------------------------------------------------------------------------------------


def _owner(actor: Principal | None) -> int | None:
    scope = pool.scope_of(actor)
    return scope.owner_promoter_id if scope.only_owner else None


def _visible(actor: Principal | None, broadcast: Broadcast) -> bool:
    scope = pool.scope_of(actor)
    if actor is None:
        return True
    if scope.only_owner:
        return broadcast.owner_promoter_id == scope.owner_promoter_id
    return broadcast.owner_promoter_id is None or actor.is_admin


def get_broadcast(session: Session, actor: Principal | None, broadcast_id: int) -> Broadcast:
    broadcast = BroadcastRepository(session).get(broadcast_id)
    if broadcast is None or not _visible(actor, broadcast):
        raise BroadcastNotFound()
    return broadcast


def list_broadcasts(session: Session, actor: Principal | None) -> Sequence[Broadcast]:
    scope = pool.scope_of(actor)
    if scope.only_owner:
        return BroadcastRepository(session).list(True, scope.owner_promoter_id, LIST_LIMIT)
    return BroadcastRepository(session).list(True, None, LIST_LIMIT)


# --- audience ---------------------------------------------------------------------------------


def _problem(en: str, zh: str) -> BroadcastAudienceInvalid:
    return BroadcastAudienceInvalid(problem=en, problem_zh=zh)


def targets_groups(audience: AudienceIn) -> bool:
    return audience.kind in (AudienceKind.GROUPS, AudienceKind.GROUP_PURPOSE)


def _owner_clause(column: Any, owner: int | None) -> ColumnElement[bool]:
    clause: ColumnElement[bool] = column.is_(None) if owner is None else column == owner
    return clause


def audience_clause(
    session: Session, actor: Principal | None, audience: AudienceIn, owner: int | None
) -> ColumnElement[bool]:
    """The WHERE clause of the audience over ``contact`` or ``wechat_group``, limited to the
    broadcast owner's contacts / groups."""
    from siyu.models import Contact

    if audience.kind == AudienceKind.SEGMENT:
        if audience.segment_id is None:
            raise _problem("segment_id is required", "请选择人群")
        try:
            segment = segments.get_segment(session, actor, audience.segment_id)
        except NotFound as error:
            raise _problem("segment not found", "找不到该人群") from error
        rule = segments.parse_rule(segment.rule)
        where = segments.compile_for(session, rule, segments.segment_scope(segment))
        return and_(where, _owner_clause(Contact.owner_promoter_id, owner))
    if audience.kind == AudienceKind.TAGS:
        if not audience.tag_ids:
            raise _problem("tag_ids is required", "请至少选择一个标签")
        rule = segments.parse_rule(
            {
                "op": "and",
                "conditions": [
                    {"kind": "tag", "tag_ids": audience.tag_ids, "match": audience.match}
                ],
            }
        )
        scope = ContactScope(owner)
        try:
            segments.check_references(session, rule, scope)
        except AppError as error:
            raise _problem("unknown tags", "标签不存在或不属于您") from error
        compiled: ColumnElement[bool] = segments.compile_for(session, rule, scope)
        return compiled
    if audience.kind == AudienceKind.GROUPS:
        if not audience.group_ids:
            raise _problem("group_ids is required", "请至少选择一个群")
        ids = sorted(set(audience.group_ids))
        found = _visible_group_ids(session, ids, owner)
        missing = sorted(set(ids) - found)
        if missing:
            listed = ", ".join(str(item) for item in missing)
            raise _problem(f"groups {listed} not found", f"群 {listed} 不存在或不属于您")
        return and_(WechatGroup.id.in_(ids), _owner_clause(WechatGroup.owner_promoter_id, owner))
    if audience.purpose not in {purpose.value for purpose in GroupPurpose}:
        raise _problem("purpose must be a group purpose", "请选择群用途")
    clause = and_(
        WechatGroup.purpose == audience.purpose,
        _owner_clause(WechatGroup.owner_promoter_id, owner),
        WechatGroup.status != GroupStatus.ARCHIVED,
    )
    if audience.group_code_ids:
        clause = and_(clause, WechatGroup.group_code_id.in_(sorted(set(audience.group_code_ids))))
    return clause


def _visible_group_ids(session: Session, ids: Sequence[int], owner: int | None) -> set[int]:
    from sqlalchemy import select

    rows = session.scalars(
        select(WechatGroup.id).where(
            WechatGroup.id.in_(ids), _owner_clause(WechatGroup.owner_promoter_id, owner)
        )
    ).all()
    return {int(row) for row in rows}


# --- composing --------------------------------------------------------------------------------


def _content_text(data: BroadcastIn | Broadcast) -> str:
    return "\n".join(part for part in (data.title, data.text) if part)


def lint(data: BroadcastIn) -> list[Finding]:
    """What the composer shows inline (never raises for findings)."""
    return compliance.lint_text(_content_text(data) or "", TextKind.BROADCAST)


def _check_content(session: Session, actor: Principal | None, data: BroadcastIn) -> Any:
    kind = data.content_kind
    if kind == ContentKind.TEXT and not data.text.strip():
        raise BroadcastContentInvalid(problem="text is required", problem_zh="请填写消息文字")
    if kind == ContentKind.IMAGE and not data.image_url.strip():
        raise BroadcastContentInvalid(
            problem="image_url is required", problem_zh="请上传或填写图片"
        )
    if kind in (ContentKind.LINK, ContentKind.COUPON, ContentKind.PRODUCT):
        if data.link_id is None:
            raise BroadcastContentInvalid(
                problem="link_id is required", problem_zh="请选择一个推广链接，订单才能归因"
            )
        try:
            link = links.get_link(session, actor, data.link_id)
        except NotFound as error:
            raise BroadcastContentInvalid(
                problem="link not found", problem_zh="找不到该推广链接，或它不属于您"
            ) from error
        expected = {
            ContentKind.COUPON: LinkTargetKind.COUPON,
            ContentKind.PRODUCT: LinkTargetKind.PRODUCT,
        }.get(kind)
        if expected is not None and link.target_kind != expected:
            raise BroadcastContentInvalid(
                problem=f"a {kind.value} card needs a {expected.value} link",
                problem_zh="优惠券需要优惠券链接，商品卡片需要商品链接",
            )
        if not link.is_active:
            raise BroadcastContentInvalid(problem="link is disabled", problem_zh="该推广链接已停用")
        return link
    return None


def create_broadcast(session: Session, actor: Principal | None, data: BroadcastIn) -> Broadcast:
    """Check (scope, audience, content, lint), then write the draft and plan it."""
    owner = _owner(actor)
    audience_clause(session, actor, data.audience, owner)
    source = _check_content(session, actor, data)
    start_at = data.start_at or utc_now()
    repository = BroadcastRepository(session)
    broadcast = repository.add(
        Broadcast(
            name=data.name.strip(),
            owner_promoter_id=owner,
            created_by_user_id=actor.user_id if actor and actor.user_id > 0 else None,
            status=BroadcastStatus.DRAFT,
            audience=data.audience.model_dump(mode="json"),
            content_kind=data.content_kind,
            text=data.text,
            title=data.title,
            image_url=data.image_url,
            source_link_id=source.id if source is not None else None,
            start_at=start_at,
            messages_per_minute=data.messages_per_minute,
            jitter_seconds=data.jitter_seconds,
            seed=data.seed,
            override_reason=(data.override_reason or "").strip(),
            plan={},
        )
    )
    _require_publishable(session, actor, broadcast, data.override_reason)
    if source is not None:
        position = LinkPosition.GROUP if targets_groups(data.audience) else LinkPosition.FRIEND
        own = links.create_link(
            session,
            None,
            LinkCreate(
                target_kind=source.target_kind,
                product_id=source.product_id,
                coupon_batch_id=source.coupon_batch_id,
                activity_url=source.activity_url,
                position=position,
                sub_id=f"{SUB_ID_PREFIX}{broadcast.id}",
            ),
            promoter_id=source.promoter_id,
        )
        broadcast.link_id = own.id
    plan(session, actor, broadcast.id)
    return broadcast


def preview_plan(session: Session, actor: Principal | None, data: BroadcastIn) -> PlanOut:
    """The plan ``data`` would get, without keeping anything: the draft is created and planned
    inside a savepoint that is then rolled back (the composer's 预览发送计划)."""
    savepoint = session.begin_nested()
    try:
        broadcast = create_broadcast(session, actor, data)
        result = PlanOut.model_validate(
            {key: value for key, value in broadcast.plan.items() if key != "planned_at"}
        )
    finally:
        savepoint.rollback()
    return result


def _require_publishable(
    session: Session, actor: Principal | None, broadcast: Broadcast, override: str | None
) -> list[Finding]:
    text = _content_text(broadcast)
    if not text:
        return []
    return compliance.require_publishable(
        session,
        actor if actor is not None else _system(),
        text,
        TextKind.BROADCAST,
        object_type="broadcast",
        object_id=broadcast.id,
        override_reason=override or None,
    )


def _system() -> Principal:
    from siyu.auth.principal import SYSTEM

    return SYSTEM


# --- planning ---------------------------------------------------------------------------------


def policy() -> rules.QuotaPolicy:
    settings = current_settings()
    return rules.preset(settings.broadcast_quota_preset, settings.broadcast_member_per_day)


def quota_caps(moment: datetime, quota: rules.QuotaPolicy | None = None) -> QuotaCaps:
    chosen = quota or policy()
    current = rules.windows(moment)
    day_cap, week_cap, month_cap = rules.caps(chosen, current)
    return QuotaCaps(
        current.day,
        current.week,
        current.month,
        day_cap,
        week_cap,
        month_cap,
        chosen.member_per_day,
    )


def _quiet() -> tuple[int, int]:
    settings = current_settings()
    return settings.broadcast_quiet_from_minute, settings.broadcast_quiet_until_minute


def _batch_row(broadcast: Broadcast, account: Any, now: datetime) -> dict[str, Any]:
    quiet_from, quiet_until = _quiet()
    pieces = rules.send_pieces(
        account.working_from_minute, account.working_until_minute, quiet_from, quiet_until
    )
    account_plan = rules.plan_account(
        account.id,
        broadcast.start_at,
        now,
        pieces,
        broadcast.messages_per_minute,
        broadcast.jitter_seconds,
        quiet_from,
        quiet_until,
    )
    row: dict[str, Any] = {"broadcast_id": broadcast.id, "account_id": account.id}
    if account_plan is None:
        # Every key present: the batch rows go in as one executemany.
        empty = dict.fromkeys(
            ("day0_epoch", "p0_start", "p1_start", "p2_start", "p3_start", "c1_ms", "c2_ms"),
            0,
        )
        return {
            **row,
            **empty,
            "has_window": False,
            "c3_ms": 0,
            "daily_ms": 1,
            "offset0_ms": 0,
            "interval_ms": rules.interval_ms(broadcast.messages_per_minute),
            "now_slots": 0,
            "later_reason": "",
        }
    starts = [start for start, _end in account_plan.pieces_s] + [0, 0, 0, 0]
    ends: list[int] = []
    total = 0
    for start, end in account_plan.pieces_s:
        total += (end - start) * 1000
        ends.append(total)
    ends = [*ends[:-1], total, total, total]
    return {
        **row,
        "has_window": True,
        "day0_epoch": account_plan.day0_epoch,
        "p0_start": starts[0],
        "p1_start": starts[1],
        "p2_start": starts[2],
        "p3_start": starts[3],
        "c1_ms": ends[0],
        "c2_ms": ends[1],
        "c3_ms": ends[2],
        "daily_ms": account_plan.daily_ms,
        "offset0_ms": account_plan.offset0_ms,
        "interval_ms": account_plan.interval_ms,
        "now_slots": account_plan.now_slots,
        "later_reason": account_plan.later_reason,
    }


def plan(session: Session, actor: Principal | None, broadcast_id: int) -> PlanOut:
    """(Re)write a draft's send rows and its plan: how many now, later (why), never (why)."""
    repository = BroadcastRepository(session)
    broadcast = get_broadcast(session, actor, broadcast_id)
    locked = repository.get_for_update(broadcast.id)
    assert locked is not None
    if locked.status != BroadcastStatus.DRAFT:
        raise BroadcastNotDraft(status=locked.status.value)
    repository.clear_plan(broadcast.id)
    now = utc_now()
    if broadcast.start_at < now:
        broadcast.start_at = now
    owner = broadcast.owner_promoter_id
    audience = AudienceIn.model_validate(broadcast.audience)
    where = audience_clause(session, actor, audience, owner)
    accounts = repository.usable_accounts(owner)
    repository.add_batches([_batch_row(broadcast, account, now) for account in accounts])
    dialect = session.get_bind().dialect.name
    groups = targets_groups(audience)
    if groups:
        source = repository.group_source(broadcast.id, where)
    else:
        # Quotas as they stand on the start day (the send-time check is the authority).
        source = repository.contact_source(
            broadcast.id,
            where,
            quota_caps(broadcast.start_at),
            current_settings().broadcast_requires_consent,
        )
    repository.insert_sends(broadcast, source, per_person=not groups, dialect=dialect)
    counts = repository.plan_counts(broadcast.id)
    never: dict[str, int] = {}
    queued: dict[int, int] = {}
    for (account_id, status, reason), value in counts.items():
        if status == SendStatus.QUEUED.value:
            queued[account_id] = queued.get(account_id, 0) + value
        else:
            never[reason] = never.get(reason, 0) + value
    later_reasons: dict[str, int] = {}
    now_total = 0
    first: datetime | None = None
    last: datetime | None = None
    for batch in repository.batches(broadcast.id):
        batch.planned = queued.get(batch.account_id, 0)
        batch.over_limit = counts.get((batch.account_id, SendStatus.SKIPPED.value, "task_limit"), 0)
        batch.now_count = min(batch.planned, batch.now_slots)
        batch.later_count = batch.planned - batch.now_count
        now_total += batch.now_count
        if batch.later_count:
            later_reasons[batch.later_reason] = (
                later_reasons.get(batch.later_reason, 0) + batch.later_count
            )
        if batch.planned:
            # Without the per-row jitter (at most ``jitter_seconds`` later).
            begin, end = _due_bounds(batch)
            first = begin if first is None else min(first, begin)
            last = end if last is None else max(last, end)
    session.flush()
    repository.drop_empty_batches(broadcast.id)
    result = PlanOut(
        audience=sum(counts.values()),
        now=now_total,
        later=sum(later_reasons.values()),
        never=sum(never.values()),
        later_reasons=dict(sorted(later_reasons.items())),
        never_reasons=dict(sorted(never.items())),
        accounts=len(queued),
        first_due_at=first,
        last_due_at=last,
    )
    broadcast.plan = {**result.model_dump(mode="json"), "planned_at": now.isoformat()}
    session.flush()
    return result


def _due_bounds(batch: BroadcastBatch) -> tuple[datetime, datetime]:
    plan = rules.AccountPlan(
        batch.account_id,
        batch.day0_epoch,
        _batch_pieces(batch),
        batch.offset0_ms,
        batch.interval_ms,
        batch.now_slots,
        batch.later_reason,
    )
    return (
        datetime.fromtimestamp(rules.due_epoch(plan, 0, 0, 0, 0), UTC),
        datetime.fromtimestamp(rules.due_epoch(plan, batch.planned - 1, 0, 0, 0), UTC),
    )


def _batch_pieces(batch: BroadcastBatch) -> tuple[tuple[int, int], ...]:
    """The send windows (seconds of the day) back from a batch row's columns."""
    starts = (batch.p0_start, batch.p1_start, batch.p2_start, batch.p3_start)
    ends = (batch.c1_ms, batch.c2_ms, batch.c3_ms, batch.daily_ms)
    pieces: list[tuple[int, int]] = []
    previous = 0
    for begin, total in zip(starts, ends, strict=True):
        if total > previous:
            pieces.append((begin, begin + (total - previous) // 1000))
        previous = total
    return tuple(pieces)


def start(
    session: Session, actor: Principal | None, broadcast_id: int, override_reason: str | None = None
) -> Broadcast:
    """Lint again (the rules may have changed since the draft), then open the queue."""
    broadcast = get_broadcast(session, actor, broadcast_id)
    locked = BroadcastRepository(session).get_for_update(broadcast.id)
    assert locked is not None
    if locked.status != BroadcastStatus.DRAFT:
        raise BroadcastNotDraft(status=locked.status.value)
    if not int(broadcast.plan.get("now", 0)) + int(broadcast.plan.get("later", 0)):
        raise BroadcastEmpty()
    _require_publishable(
        session, actor, broadcast, override_reason or broadcast.override_reason or None
    )
    broadcast.status = BroadcastStatus.SCHEDULED
    broadcast.scheduled_at = utc_now()
    session.flush()
    from siyu.outreach import tasks

    enqueue(session, tasks.drain, broadcast.id)
    return broadcast


def cancel(session: Session, actor: Principal | None, broadcast_id: int) -> int:
    """Stop a broadcast: every queued row is cancelled now; returns how many."""
    broadcast = get_broadcast(session, actor, broadcast_id)
    repository = BroadcastRepository(session)
    locked = repository.get_for_update(broadcast.id)
    assert locked is not None
    if locked.status in (BroadcastStatus.DONE, BroadcastStatus.CANCELLED):
        raise BroadcastNotCancellable(status=locked.status.value)
    locked.status = BroadcastStatus.CANCELLED
    locked.cancelled_at = utc_now()
    cancelled = repository.cancel_queued(broadcast.id)
    session.flush()
    return cancelled


def retry_failed(session: Session, actor: Principal | None, broadcast_id: int) -> int:
    broadcast = get_broadcast(session, actor, broadcast_id)
    repository = BroadcastRepository(session)
    locked = repository.get_for_update(broadcast.id)
    assert locked is not None
    if locked.status not in (BroadcastStatus.SCHEDULED, BroadcastStatus.DONE):
        raise BroadcastNotRetryable()
    requeued = repository.requeue_failed(broadcast.id, utc_now())
    if requeued:
        locked.status = BroadcastStatus.SCHEDULED
        locked.finished_at = None
        from siyu.outreach import tasks

        enqueue(session, tasks.drain, broadcast.id)
    session.flush()
    return requeued


# --- sending ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendOutcome:
    send_id: int
    status: str
    reason: str


def _skip(row: BroadcastSend, reason: str, status: SendStatus = SendStatus.SKIPPED) -> SendOutcome:
    row.status = status
    row.reason = reason[:64]
    return SendOutcome(row.id, status.value, row.reason)


def _defer(row: BroadcastSend, until: datetime, reason: str) -> SendOutcome:
    row.due_at = until
    row.reason = reason
    return SendOutcome(row.id, SendStatus.QUEUED.value, reason)


def send_next(
    session: Session, broadcast_id: int | None = None, now: datetime | None = None
) -> SendOutcome | None:
    """Claim one due row, re-check it and send, skip, fail or defer it (None: nothing due).

    The row leaves ``queued`` in this transaction, so two workers never send it twice.
    """
    moment = now or utc_now()
    repository = BroadcastRepository(session)
    dialect = session.get_bind().dialect.name
    send_id = repository.claim_due(moment, dialect, broadcast_id)
    if send_id is None:
        return None
    row = repository.send_row(send_id)
    assert row is not None
    row.attempts += 1
    outcome = _send(session, repository, row, moment)
    session.flush()
    return outcome


def _send(
    session: Session, repository: BroadcastRepository, row: BroadcastSend, moment: datetime
) -> SendOutcome:
    from siyu.channels.base import MessageKind, OutgoingMessage
    from siyu.channels.registry import backend_for

    broadcast = repository.get(row.broadcast_id)
    if broadcast is None or broadcast.status != BroadcastStatus.SCHEDULED:
        return _skip(row, "broadcast_cancelled", SendStatus.CANCELLED)
    account = repository.account(row.account_id)
    if account is None or account.deleted_at is not None or account.status != "active":
        return _skip(row, "account_unavailable")
    quiet_from, quiet_until = _quiet()
    pieces = rules.send_pieces(
        account.working_from_minute, account.working_until_minute, quiet_from, quiet_until
    )
    if not pieces:
        return _skip(row, "no_send_window")
    if not rules.may_send_at(moment, pieces):
        until = rules.next_allowed(moment, pieces)
        assert until is not None
        key = row.contact_id or row.group_id or row.id
        jitter = rules.jitter_seconds(broadcast.seed, key, broadcast.jitter_seconds)
        reason = (
            "quiet_hours" if rules.is_quiet(moment, quiet_from, quiet_until) else "working_hours"
        )
        return _defer(row, until + timedelta(seconds=jitter), f"deferred: {reason}")
    contact = group = None
    nickname = ""
    if row.contact_id is not None:
        contact = repository.contact(row.contact_id)
        if contact is None:
            return _skip(row, "contact_missing")
        if contact.state != ContactState.CONFIRMED:
            return _skip(row, "not_friend")
        if contact.marketing_opt_out:
            return _skip(row, "opted_out")
        if current_settings().broadcast_requires_consent and not contact.consent:
            return _skip(row, "no_consent")
        nickname = repository.nickname(contact.consumer_id)
    else:
        group = repository.group(row.group_id) if row.group_id is not None else None
        if group is None:
            return _skip(row, "group_missing")
        if group.status == GroupStatus.ARCHIVED:
            return _skip(row, "group_archived")
    interval = timedelta(milliseconds=rules.interval_ms(broadcast.messages_per_minute))
    # Pace, quotas and the send succeed together or not at all (one savepoint): a failed send
    # gives its quota units and its pace slot back.
    savepoint = session.begin_nested()
    if not repository.take_pace(account.id, moment, moment + interval):
        savepoint.rollback()
        next_at = repository.pace_next_at(account.id) or moment + interval
        # A backlog (a worker was down) keeps its order and its spacing: each due row waits
        # one interval more than the queued rows before it, so each is deferred once.
        ahead = repository.due_ahead(row)
        until = max(next_at, moment + timedelta(milliseconds=50)) + interval * ahead
        return _defer(row, until, "deferred: pacing")
    if contact is not None:
        blocked = _take_quotas(repository, contact.consumer_id, contact.id, moment)
        if blocked is not None:
            savepoint.rollback()
            return _skip(row, blocked)
    message = _message(session, broadcast, nickname, MessageKind, OutgoingMessage)
    try:
        result = backend_for(account).send(session, account, message, contact, group)
    except AppError as error:
        savepoint.rollback()
        logger.warning("broadcast %s send %s failed: %s", broadcast.id, row.id, error.code)
        return _skip(row, error.code, SendStatus.FAILED)
    savepoint.commit()
    row.sent_at = moment
    row.message_id = result.message_id
    row.task_id = result.task_id
    status = SendStatus.SENT if result.status == "sent" else SendStatus.QUEUED_TASK
    row.reason = ""
    row.status = status
    return SendOutcome(row.id, status.value, "")


def _take_quotas(
    repository: BroadcastRepository, consumer_id: int, contact_id: int, moment: datetime
) -> str | None:
    chosen = policy()
    caps = quota_caps(moment, chosen)
    repository.ensure_quota_rows(consumer_id, contact_id)
    if not repository.take_quota(CONSUMER, consumer_id, caps, caps.day_cap):
        row = repository.quota_row(CONSUMER, consumer_id)
        counters = _counters(row)
        return rules.person_blocker(counters, chosen, moment) or "quota_day"
    if not repository.take_quota(CONTACT, contact_id, caps, caps.member_cap):
        return "quota_member_day"
    return None


def _counters(row: Any) -> rules.Counters:
    if row is None:
        return rules.Counters()
    return rules.Counters(
        row.day_on, row.day_count, row.week_on, row.week_count, row.month_on, row.month_count
    )


def _message(
    session: Session, broadcast: Broadcast, nickname: str, kinds: Any, outgoing: Any
) -> Any:
    """The message for one recipient ({昵称} filled); a card carries the broadcast's link."""
    text = rules.render(broadcast.text, {"nickname": nickname})
    title = rules.render(broadcast.title, {"nickname": nickname})
    if broadcast.link_id is not None:
        link = links.get_link(session, None, broadcast.link_id)
        return outgoing(kinds.LINK, text=text, title=title, url=links.short_url(link))
    if broadcast.content_kind == ContentKind.IMAGE:
        return outgoing(kinds.IMAGE, text=text, image_url=broadcast.image_url)
    return outgoing(kinds.TEXT, text=text)


def seconds_until_next_due(session: Session, broadcast_id: int | None = None) -> float | None:
    """How long until the next queued row of a sending broadcast falls due (None: none)."""
    due = BroadcastRepository(session).next_due(broadcast_id)
    if due is None:
        return None
    return max(0.0, (due - utc_now()).total_seconds())


def finish_done(session: Session) -> int:
    """Mark sending broadcasts with no queued rows left as done; returns how many."""
    return BroadcastRepository(session).finish_done(utc_now())


# --- results ----------------------------------------------------------------------------------


def results(session: Session, actor: Principal | None, broadcast_id: int) -> ResultsOut:
    broadcast = get_broadcast(session, actor, broadcast_id)
    repository = BroadcastRepository(session)
    counts = repository.status_counts(broadcast.id)

    def total(status: SendStatus) -> int:
        return sum(value for (name, _reason), value in counts.items() if name == status.value)

    def reasons(status: SendStatus) -> dict[str, int]:
        found: dict[str, int] = {}
        for (name, reason), value in counts.items():
            if name == status.value:
                found[reason or "—"] = found.get(reason or "—", 0) + value
        return dict(sorted(found.items()))

    clicks = orders = gmv = 0
    if broadcast.link_id is not None:
        clicks = repository.clicks(broadcast.link_id)
        orders, gmv = repository.orders(broadcast.link_id)
    return ResultsOut(
        broadcast_id=broadcast.id,
        planned=int(broadcast.plan.get("now", 0)) + int(broadcast.plan.get("later", 0)),
        queued=total(SendStatus.QUEUED),
        sent=total(SendStatus.SENT),
        handed_to_operators=total(SendStatus.QUEUED_TASK),
        failed=total(SendStatus.FAILED),
        skipped=total(SendStatus.SKIPPED),
        cancelled=total(SendStatus.CANCELLED),
        skipped_reasons=reasons(SendStatus.SKIPPED),
        failed_reasons=reasons(SendStatus.FAILED),
        clicks=clicks,
        orders=orders,
        gmv_fen=gmv,
    )


@dataclass(frozen=True)
class Recipient:
    send: BroadcastSend
    nickname: str


def recipients(
    session: Session, actor: Principal, broadcast_id: int, page: int = 1
) -> list[Recipient]:
    """One page of a broadcast's send rows with nicknames; the read is logged (PIPL)."""
    broadcast = get_broadcast(session, actor, broadcast_id)
    offset = (max(1, page) - 1) * RECIPIENTS_PAGE
    rows = BroadcastRepository(session).recipients(broadcast.id, RECIPIENTS_PAGE, offset)
    privacy.record_reads(
        session,
        actor,
        [send.consumer_id for send, _nickname in rows],
        f"broadcast:{broadcast.id}",
        "nickname",
    )
    return [Recipient(send, nickname or "") for send, nickname in rows]


def audience_count(
    session: Session, actor: Principal | None, audience: AudienceIn
) -> tuple[int, int]:
    """(in the audience, reachable) for the composer: contacts or groups."""
    owner = _owner(actor)
    where = audience_clause(session, actor, audience, owner)
    return BroadcastRepository(session).count_audience(where, targets_groups(audience))


# --- for other senders (follow-ups) -------------------------------------------------------------


def send_windows(account: Any) -> tuple[tuple[int, int], ...]:
    """The minutes of the day ``account`` may send marketing messages: working hours minus
    quiet hours (the same windows broadcasts use)."""
    quiet_from, quiet_until = _quiet()
    return tuple(
        rules.send_pieces(
            account.working_from_minute, account.working_until_minute, quiet_from, quiet_until
        )
    )


def take_marketing_quota(
    session: Session, consumer_id: int, contact_id: int, moment: datetime
) -> str | None:
    """Count one marketing message to this person / contact against the broadcast quotas.

    None = taken; otherwise the blocking reason (``quota_day`` …) and nothing was counted.
    Call it inside the savepoint of the send it pays for, so a failed send gives it back.
    """
    return _take_quotas(BroadcastRepository(session), consumer_id, contact_id, moment)
