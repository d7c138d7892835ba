"""Follow-ups (1:1 跟进). Never commits. See docs/followups.md.

A rule names a trigger (clicked but did not buy within N hours; first order received; silent
for N days; a top customer not yet in the VIP group) and the script to send. ``scan`` finds the
triggers with set-based queries and writes one ``followup`` per (rule, trigger) — a trigger is
followed up once however often the scan runs. ``send_next`` sends one due follow-up through the
consumer's most recently active platform contact, re-checking at send time: still a friend, not
opted out, the account's send windows (working hours minus quiet hours; outside them the
follow-up waits), and the broadcast quotas (a follow-up is marketing too).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from siyu.audit import service as audit
from siyu.auth.principal import Principal
from siyu.channels.base import MessageKind, OutgoingMessage
from siyu.channels.registry import backend_for
from siyu.compliance import service as compliance
from siyu.compliance.rules import TextKind
from siyu.config import current_settings
from siyu.errors import AppError, NotFound, ValidationFailed
from siyu.followups.repository import FollowupRepository
from siyu.followups.schemas import RuleIn
from siyu.kit.time import utc_now
from siyu.links import service as links
from siyu.models import ContactState, GroupCode, OperatorAccount
from siyu.models.followups import Followup, FollowupKind, FollowupRule, FollowupStatus
from siyu.outreach import rules as outreach_rules
from siyu.outreach import service as outreach

SCAN_LIMIT = 2_000  # triggers per rule per scan; the next scan takes the rest
MAX_DELAY_HOURS = 24 * 90


class FollowupRuleNotFound(NotFound):
    code = "followup_rule_not_found"
    message_en = "Follow-up rule not found."
    message_zh = "找不到该跟进规则。"


class FollowupRuleInvalid(ValidationFailed):
    code = "followup_rule_invalid"
    message_en = "Invalid follow-up rule: {detail}."
    message_zh = "跟进规则有误：{detail_zh}。"


def _uid(actor: Principal) -> int | None:
    return actor.user_id or None


def _invalid(detail: str, zh: str) -> FollowupRuleInvalid:
    return FollowupRuleInvalid(detail=detail, detail_zh=zh)


def create_rule(session: Session, actor: Principal, data: RuleIn) -> FollowupRule:
    """A platform rule; the script is linted (blocking → admin override with a reason)."""
    actor.require_platform()
    script = data.script.strip()
    if not data.name.strip():
        raise _invalid("name is required", "请填写规则名称")
    if not script:
        raise _invalid("script is required", "请填写跟进话术")
    if not 1 <= data.delay_hours <= MAX_DELAY_HOURS:
        raise _invalid("delay must be 1..2160 hours", "等待时间须在 1 小时到 90 天之间")
    if data.kind == FollowupKind.VIP_GROUP:
        if data.group_code_id is None or session.get(GroupCode, data.group_code_id) is None:
            raise _invalid("a VIP rule needs a group code", "VIP 小群邀请需要选择一个群活码")
        if data.vip_min_orders < 1 and data.vip_min_spend_fen <= 0:
            raise _invalid("set a minimum of orders or spend", "请设置最少订单数或消费金额")
    if "{链接}" in script and data.link_id is None and data.kind != FollowupKind.VIP_GROUP:
        raise _invalid("the script uses {链接} but no link is chosen", "话术含{链接}，请选择链接")
    if data.link_id is not None:
        links.get_link(session, actor, data.link_id)
    compliance.require_publishable(
        session,
        actor,
        script,
        TextKind.SCRIPT,
        object_type="followup_rule",
        object_id=None,
        override_reason=data.override_reason,
    )
    rule = FollowupRepository(session).add_rule(
        FollowupRule(
            name=data.name.strip()[:60],
            kind=data.kind,
            delay_hours=data.delay_hours,
            script=script,
            link_id=data.link_id,
            group_code_id=data.group_code_id,
            vip_min_orders=data.vip_min_orders,
            vip_min_spend_fen=data.vip_min_spend_fen,
            is_active=True,
            override_reason=data.override_reason,
            created_by_user_id=_uid(actor),
        )
    )
    audit.record(session, _uid(actor), "followups.rule_created", "followup_rule", rule.id)
    return rule


def set_rule_active(session: Session, actor: Principal, rule_id: int, active: bool) -> FollowupRule:
    actor.require_platform()
    rule = get_rule(session, actor, rule_id)
    rule.is_active = active
    session.flush()
    audit.record(
        session, _uid(actor), "followups.rule_active", "followup_rule", rule.id, str(active)
    )
    return rule


def get_rule(session: Session, actor: Principal, rule_id: int) -> FollowupRule:
    actor.require_platform()
    rule = FollowupRepository(session).rule(rule_id)
    if rule is None:
        raise FollowupRuleNotFound()
    return rule


def list_rules(session: Session, actor: Principal) -> Sequence[FollowupRule]:
    actor.require_platform()
    return FollowupRepository(session).rules()


def recent(session: Session, actor: Principal, limit: int = 100) -> Sequence[Followup]:
    actor.require_platform()
    return FollowupRepository(session).recent(limit)


def counts_by_rule(session: Session, actor: Principal) -> dict[int, dict[str, int]]:
    actor.require_platform()
    return FollowupRepository(session).counts_by_rule()


# --- scanning -----------------------------------------------------------------------------------


def _triggers(
    repository: FollowupRepository, rule: FollowupRule, now: datetime
) -> list[tuple[int, str]]:
    delay = timedelta(hours=rule.delay_hours)
    if rule.kind == FollowupKind.CLICK_NO_BUY:
        found = repository.clicked_without_order(delay, now, SCAN_LIMIT)
    elif rule.kind == FollowupKind.FIRST_ORDER:
        found = repository.first_orders_received(delay, now, SCAN_LIMIT)
    elif rule.kind == FollowupKind.INACTIVE:
        found = repository.inactive_contacts(delay, now, SCAN_LIMIT)
    else:
        found = repository.vip_consumers(
            rule.vip_min_orders, rule.vip_min_spend_fen, rule.group_code_id, SCAN_LIMIT
        )
    return [(int(consumer_id), str(key)) for consumer_id, key in found]


def scan(session: Session, now: datetime | None = None) -> dict[int, int]:
    """Write a follow-up for every new trigger of every active rule; returns new rows per rule."""
    now = now or utc_now()
    repository = FollowupRepository(session)
    created: dict[int, int] = {}
    for rule in repository.rules(active_only=True):
        triggers = _triggers(repository, rule, now)
        contacts = repository.best_contacts(sorted({consumer for consumer, _ in triggers}))
        rows = [
            {
                "rule_id": rule.id,
                "trigger_key": key,
                "consumer_id": consumer_id,
                "contact_id": contacts[consumer_id].id,
                "account_id": contacts[consumer_id].account_id,
                "due_at": now,
                "status": FollowupStatus.PLANNED.value,
                "reason": "",
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
            }
            for consumer_id, key in triggers
            if consumer_id in contacts
        ]
        created[rule.id] = repository.insert_followups(rows)
    return created


# --- sending ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendOutcome:
    followup_id: int
    status: str
    reason: str = ""


def _skip(
    row: Followup, reason: str, status: FollowupStatus = FollowupStatus.SKIPPED
) -> SendOutcome:
    row.status = status
    row.reason = reason[:64]
    return SendOutcome(row.id, status.value, row.reason)


def _message(session: Session, rule: FollowupRule, nickname: str) -> OutgoingMessage:
    text = rule.script.replace("{昵称}", nickname or "朋友")
    url = ""
    if rule.kind == FollowupKind.VIP_GROUP and rule.group_code_id is not None:
        group_code = session.get(GroupCode, rule.group_code_id)
        if group_code is not None:
            url = f"{current_settings().base_url.rstrip('/')}/g/{group_code.code}"
    elif rule.link_id is not None:
        url = links.short_url(links.get_link(session, None, rule.link_id))
    if "{链接}" in text:
        return OutgoingMessage(MessageKind.TEXT, text=text.replace("{链接}", url))
    if url:
        return OutgoingMessage(MessageKind.LINK, text=text, url=url)
    return OutgoingMessage(MessageKind.TEXT, text=text)


def send(session: Session, followup_id: int, now: datetime | None = None) -> SendOutcome | None:
    """Send one planned follow-up, exactly once (None: another worker has it or it is done)."""
    moment = now or utc_now()
    repository = FollowupRepository(session)
    row = repository.claim(followup_id)
    if row is None:
        return None
    rule = repository.rule(row.rule_id)
    assert rule is not None
    if not rule.is_active:
        return _skip(row, "rule_inactive")
    from siyu.pool.repository import ContactRepository

    contact = ContactRepository(session).get(row.contact_id)
    if contact is None or contact.state != ContactState.CONFIRMED:
        return _skip(row, "not_friend")
    if contact.marketing_opt_out:
        return _skip(row, "opted_out")
    account = session.get(OperatorAccount, row.account_id)
    if account is None or account.deleted_at is not None or account.status.value != "active":
        return _skip(row, "account_unavailable")
    windows = outreach.send_windows(account)
    if not windows:
        return _skip(row, "no_send_window")
    if not outreach_rules.may_send_at(moment, windows):
        until = outreach_rules.next_allowed(moment, windows)
        assert until is not None
        row.due_at = until
        row.reason = "deferred: quiet_hours"
        return SendOutcome(row.id, row.status.value, row.reason)
    savepoint = session.begin_nested()
    blocked = outreach.take_marketing_quota(session, contact.consumer_id, contact.id, moment)
    if blocked is not None:
        savepoint.rollback()
        return _skip(row, blocked)
    message = _message(session, rule, repository.nickname(contact.consumer_id))
    try:
        result = backend_for(account).send(session, account, message, contact)
    except AppError as error:
        savepoint.rollback()
        return _skip(row, error.code, FollowupStatus.FAILED)
    savepoint.commit()
    row.sent_at = moment
    row.message_id = result.message_id
    row.task_id = result.task_id
    row.reason = ""
    row.status = FollowupStatus.SENT if result.status == "sent" else FollowupStatus.QUEUED_TASK
    session.flush()
    return SendOutcome(row.id, row.status.value)


def due(session: Session, now: datetime | None = None, limit: int = 500) -> list[int]:
    return FollowupRepository(session).due(now or utc_now(), limit)
