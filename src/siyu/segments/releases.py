"""Filtering rules (the seed's 拉黑删除 step): release contacts that match a rule from their
account, so the seat goes to someone who takes part. Never commits.

A release rule is a segment rule (typically ``{"kind": "reply", "since": <campaign start>,
"within_hours": N, "replied": false}``) run over the owner's confirmed contacts. For each match,
in contact id order:

- an automated channel (WeCom, the simulator) is asked to remove the friend
  (``ChannelBackend.request_remove``); the pool's event inbox then marks the contact removed and
  frees the seat (``friends_used`` − 1) exactly once;
- a personal account (assisted mode) gets a "删除好友" task with a standard script in the
  operator inbox; the seat is freed when the operator marks the task done.

Every release is logged in ``contact_release`` (pending until the pool reports the removal,
then done). A contact with a pending release is never released twice; a removed contact matches
no release rule again until it is re-added.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from siyu.audit import service as audit
from siyu.auth.principal import Principal
from siyu.channels.registry import backend_for
from siyu.errors import NotFound, ValidationFailed
from siyu.kit.time import utc_now
from siyu.models import AssistedTaskKind, Contact, ContactState, OperatorAccount
from siyu.models.segments import ContactRelease, ReleaseMode, ReleaseRule, ReleaseStatus
from siyu.pool import inbox
from siyu.segments import service as segments
from siyu.segments.repository import ContactScope

MAX_PER_RUN_LIMIT = 10_000
REASON_MAX_LENGTH = 200
REMOVE_SCRIPT = (
    "【筛选删除】请在微信中删除该好友（通讯录 → 找到对方 → 右上角“…” → 删除），"
    "为参加活动的新朋友腾出名额。删除后在此标记“已完成”。"
)


class ReleaseRuleNotFound(NotFound):
    code = "release_rule_not_found"
    message_en = "Release rule not found."
    message_zh = "找不到该筛选规则，它可能已被删除，或不属于您的账号。"


class ReleaseLimitInvalid(ValidationFailed):
    code = "release_limit_invalid"
    message_en = "max_per_run must be between 1 and {limit}."
    message_zh = "每次最多处理人数应在 1 到 {limit} 之间。"


class ReleaseRuleNameRequired(ValidationFailed):
    code = "release_rule_name_required"
    message_en = "A release rule needs a name (1–64 characters)."
    message_zh = "请填写筛选规则名称（不超过 64 个字）。"


@dataclass(frozen=True)
class ReleaseRun:
    rule_id: int
    matched: int
    requested: int
    assisted: int
    automated: int


def _scope_of(rule: ReleaseRule) -> ContactScope:
    return ContactScope(rule.owner_promoter_id)


def create_rule(
    session: Session,
    actor: Principal | None,
    name: str,
    rule: Mapping[str, Any],
    max_per_run: int = 1000,
) -> ReleaseRule:
    """A promoter's rule covers their contacts; platform staff's the platform's."""
    scope = segments.contact_scope(actor)
    cleaned = name.strip()
    if not cleaned or len(cleaned) > 64:
        raise ReleaseRuleNameRequired()
    if not 1 <= max_per_run <= MAX_PER_RUN_LIMIT:
        raise ReleaseLimitInvalid(limit=MAX_PER_RUN_LIMIT)
    parsed = segments.parse_rule(rule)
    segments.check_references(session, parsed, scope)
    row = ReleaseRule(
        name=cleaned,
        owner_promoter_id=scope.owner_promoter_id,
        rule=parsed.as_json(),
        max_per_run=max_per_run,
        created_by_user_id=actor.user_id if actor is not None and actor.user_id else None,
    )
    session.add(row)
    session.flush()
    return row


def get_rule(session: Session, actor: Principal | None, rule_id: int) -> ReleaseRule:
    rule = session.get(ReleaseRule, rule_id)
    if rule is None:
        raise ReleaseRuleNotFound()
    if actor is not None:
        scope = segments.contact_scope(actor)
        if rule.owner_promoter_id != scope.owner_promoter_id:
            raise ReleaseRuleNotFound()
    return rule


def list_rules(session: Session, actor: Principal | None) -> Sequence[ReleaseRule]:
    scope = segments.contact_scope(actor)
    statement = select(ReleaseRule).order_by(ReleaseRule.id.desc())
    if not scope.all_owners:
        statement = statement.where(
            ReleaseRule.owner_promoter_id.is_(None)
            if scope.owner_promoter_id is None
            else ReleaseRule.owner_promoter_id == scope.owner_promoter_id
        )
    return session.scalars(statement).all()


def preview(session: Session, actor: Principal | None, rule_id: int) -> int:
    """How many contacts a run would release now."""
    rule = get_rule(session, actor, rule_id)
    statement = select(Contact.id).where(_candidates(session, rule))
    return len(session.scalars(statement.limit(MAX_PER_RUN_LIMIT)).all())


def _candidates(session: Session, rule: ReleaseRule) -> Any:
    parsed = segments.parse_rule(rule.rule)
    pending = exists().where(
        ContactRelease.contact_id == Contact.id, ContactRelease.status == ReleaseStatus.PENDING
    )
    return (
        segments.compile_for(session, parsed, _scope_of(rule))
        & (Contact.state == ContactState.CONFIRMED)
        & ~pending
    )


def run_rule(
    session: Session, actor: Principal | None, rule_id: int, reason: str = ""
) -> ReleaseRun:
    """Release up to ``max_per_run`` matching contacts (lowest ids first). Idempotent per
    contact: a second run skips contacts whose release is still pending."""
    rule = get_rule(session, actor, rule_id)
    if not rule.is_active:
        return ReleaseRun(rule.id, 0, 0, 0, 0)
    why = (reason.strip() or f"筛选规则：{rule.name}")[:REASON_MAX_LENGTH]
    ids = list(
        session.scalars(
            select(Contact.id)
            .where(_candidates(session, rule))
            .order_by(Contact.id)
            .limit(rule.max_per_run)
        ).all()
    )
    assisted = automated = 0
    now = utc_now()
    actor_id = actor.user_id if actor is not None and actor.user_id else None
    accounts: dict[int, OperatorAccount | None] = {}
    for contact_id in ids:
        contact = session.scalar(
            select(Contact).where(Contact.id == contact_id).with_for_update(of=Contact)
        )
        if contact is None or contact.state != ContactState.CONFIRMED:
            continue
        if contact.account_id not in accounts:
            accounts[contact.account_id] = session.get(OperatorAccount, contact.account_id)
        account = accounts[contact.account_id]
        if account is None:
            continue
        backend = backend_for(account)
        release = ContactRelease(
            contact_id=contact.id,
            account_id=account.id,
            consumer_id=contact.consumer_id,
            release_rule_id=rule.id,
            mode=ReleaseMode.DIRECT if backend.automated else ReleaseMode.ASSISTED,
            status=ReleaseStatus.PENDING,
            reason=why,
            actor_user_id=actor_id,
            released_at=now,
            detail={"backend": backend.name},
        )
        session.add(release)
        session.flush()
        if backend.automated:
            backend.request_remove(session, account, contact, why)
            automated += 1
        else:
            task = inbox.create_task(
                session,
                account,
                AssistedTaskKind.REMOVE_CONTACT,
                script_text=REMOVE_SCRIPT,
                due_at=now,
                contact=contact,
                title=f"筛选删除：{why}"[:120],
                payload={"reason": why, "release_id": release.id},
                idempotency_key=f"release:{release.id}",
                source_kind="release_rule",
                source_id=rule.id,
            )
            release.assisted_task_id = task.id
            assisted += 1
    rule.last_run_at = now
    rule.last_released = assisted + automated
    session.flush()
    audit.record(
        session,
        actor_id,
        "release_rule.run",
        "release_rule",
        rule.id,
        why,
        requested=assisted + automated,
        assisted=assisted,
        automated=automated,
    )
    return ReleaseRun(rule.id, len(ids), assisted + automated, assisted, automated)


def on_contact_removed(session: Session, contact: Contact, _tag_names: Sequence[str]) -> None:
    """Pool hook: the channel reported the removal; the pending release is done."""
    for release in session.scalars(
        select(ContactRelease).where(
            ContactRelease.contact_id == contact.id,
            ContactRelease.status == ReleaseStatus.PENDING,
        )
    ).all():
        release.status = ReleaseStatus.DONE
    session.flush()
