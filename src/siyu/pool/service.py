"""Operator accounts, channel codes and the scan → routing → reservation path. Never commits.

``actor`` is the ``Principal`` asking, or ``None`` for the system (jobs, demo loader). Platform
staff see every account; a promoter sees only accounts, codes and contacts they own; anything
else is reported as not found (ids do not reveal what exists).
"""

from __future__ import annotations

import logging
import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.audit import service as audit
from siyu.auth.principal import Principal
from siyu.config import current_settings
from siyu.consumers import service as consumers
from siyu.consumers.service import ConsumerIdentity
from siyu.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.jobs import enqueue
from siyu.kit.pagination import Page, PageRequest
from siyu.kit.time import to_shanghai, utc_now
from siyu.models import (
    AccountKind,
    AccountStatus,
    ChannelCode,
    ChannelCodeStatus,
    Consumer,
    Contact,
    ContactSourceKind,
    ContactState,
    LifecycleStage,
    OperatorAccount,
    Persona,
    Role,
    RoutingStrategy,
    ScanOutcome,
)
from siyu.models.pool import (
    DEFAULT_ACTIVE_ADDS_PER_DAY,
    DEFAULT_MAX_FRIENDS_PERSONAL,
    DEFAULT_MAX_FRIENDS_WECOM,
    DEFAULT_PASSIVE_ADDS_PER_DAY,
)
from siyu.pool import rules, snapshots
from siyu.pool.repository import (
    CANDIDATE_WINDOW,
    AccountRepository,
    CodeRepository,
    ContactRepository,
)
from siyu.pool.rules import AccountSnapshot
from siyu.pool.schemas import AccountCreate, AccountUpdate, CodeCreate, PersonaCreate

logger = logging.getLogger("siyu.pool")

# Platform limits (product.md §3): a WeCom member holds up to 20,000 friends, a personal account
# 10,000; daily adds above 500 are what the seed calls the ceiling.
MAX_FRIENDS_LIMIT = {
    AccountKind.PERSONAL_ASSISTED: 10_000,
    AccountKind.COURIER: 10_000,
    AccountKind.WECOM_MEMBER: 20_000,
}
MAX_ADDS_PER_DAY_LIMIT = 500
MAX_WEIGHT = 10_000
PENDING_EXPIRY_BATCH = 500


class AccountNotFound(NotFound):
    code = "account_not_found"
    message_en = "Operator account not found."
    message_zh = "找不到该运营号，它可能已删除，或不属于您。"


class PersonaNotFound(NotFound):
    code = "persona_not_found"
    message_en = "Persona not found."
    message_zh = "找不到该人设。"


class CodeNotFound(NotFound):
    code = "channel_code_not_found"
    message_en = "Channel code not found."
    message_zh = "找不到该活码，它可能已删除，或不属于您。"


class ContactNotFound(NotFound):
    code = "contact_not_found"
    message_en = "Contact not found."
    message_zh = "找不到该联系人，或您没有查看权限。"


class CapInvalid(ValidationFailed):
    code = "account_cap_invalid"
    message_en = "{field} must be between 0 and {limit}."
    message_zh = "{field_zh}必须在 0 到 {limit} 之间。"


class CapBelowUsage(ValidationFailed):
    code = "account_cap_below_usage"
    message_en = "{field} ({cap}) cannot be below what is already used ({used})."
    message_zh = "{field_zh}（{cap}）不能低于已使用的数量（{used}），请先释放好友或明天再调低。"


class AccountNameRequired(ValidationFailed):
    code = "account_name_required"
    message_en = "An operator account needs a name."
    message_zh = "请填写运营号名称。"


class AccountExternalIdTaken(Conflict):
    code = "account_external_id_taken"
    message_en = "Another account already has this WeChat id."
    message_zh = "该微信号已被其他运营号使用。"


class AccountStatusUnchanged(Conflict):
    code = "account_status_unchanged"
    message_en = "The account already has this status."
    message_zh = "运营号已是该状态。"


class CodeAccountsMissing(ValidationFailed):
    code = "channel_code_accounts_missing"
    message_en = "Accounts {ids} do not exist or were deleted."
    message_zh = "运营号 {ids} 不存在或已删除，请从规则中移除。"


class CodeNameRequired(ValidationFailed):
    code = "channel_code_name_required"
    message_en = "A channel code needs a name."
    message_zh = "请填写活码名称。"


class ReferrerRequired(ValidationFailed):
    code = "personal_code_referrer_required"
    message_en = "A personal code needs exactly one referrer (a promoter or a consumer)."
    message_zh = "个人码需要指定一位推荐人（推手或消费者）。"


class RegionCodeInvalid(ValidationFailed):
    code = "region_code_invalid"
    message_en = "{field} must be a 6-digit division code."
    message_zh = "{field_zh}必须是 6 位行政区划代码。"


_CAP_LABELS = {
    "max_friends": "好友上限",
    "passive_adds_per_day": "每日被动加好友上限",
    "active_adds_per_day": "每日主动加好友上限",
    "weight": "权重",
}


# --- who sees what ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    only_owner: bool
    owner_promoter_id: int | None


def scope_of(actor: Principal | None) -> Scope:
    """Platform staff and the system: everything. A promoter: their own. Others: refused."""
    if actor is None or actor.is_platform:
        return Scope(False, None)
    if actor.role == Role.PROMOTER and actor.promoter_id is not None:
        return Scope(True, actor.promoter_id)
    raise PermissionDenied()


def _visible(actor: Principal | None, owner_promoter_id: int | None) -> bool:
    scope = scope_of(actor)
    return not scope.only_owner or owner_promoter_id == scope.owner_promoter_id


# --- personas --------------------------------------------------------------------------------


def create_persona(session: Session, actor: Principal | None, data: PersonaCreate) -> Persona:
    if actor is not None:
        actor.require_platform()
    if not data.name or not data.nickname:
        raise ValidationFailed(field="name/nickname")
    return AccountRepository(session).add_persona(
        Persona(
            name=data.name,
            nickname=data.nickname,
            avatar_url=data.avatar_url,
            signature=data.signature,
        )
    )


def list_personas(session: Session, actor: Principal | None) -> Sequence[Persona]:
    scope_of(actor)
    return AccountRepository(session).personas()


# --- accounts --------------------------------------------------------------------------------


def _check_cap(field: str, value: int, limit: int) -> int:
    if isinstance(value, bool) or not 0 <= value <= limit:
        raise CapInvalid(field=field, field_zh=_CAP_LABELS[field], limit=limit)
    return value


def _check_region(field: str, value: str) -> str:
    if value and not (len(value) == 6 and value.isascii() and value.isdigit()):
        raise RegionCodeInvalid(field=field, field_zh="地区编码")
    return value


def _check_product_lines(values: Sequence[str]) -> list[str]:
    cleaned = sorted({value.strip() for value in values if value.strip()})
    if any(len(value) > 32 for value in cleaned):
        raise ValidationFailed(field="product_lines")
    return cleaned


def create_account(
    session: Session, actor: Principal | None, data: AccountCreate
) -> OperatorAccount:
    owner = data.owner_promoter_id
    scope = scope_of(actor)
    if scope.only_owner:
        if owner is not None and owner != scope.owner_promoter_id:
            raise PermissionDenied()
        owner = scope.owner_promoter_id
    name = data.name.strip()
    if not name:
        raise AccountNameRequired()
    repository = AccountRepository(session)
    if data.persona_id is not None and session.get(Persona, data.persona_id) is None:
        raise PersonaNotFound()
    if data.external_id and repository.by_external_id(data.external_id) is not None:
        raise AccountExternalIdTaken()
    default_friends = (
        DEFAULT_MAX_FRIENDS_WECOM
        if data.kind == AccountKind.WECOM_MEMBER
        else DEFAULT_MAX_FRIENDS_PERSONAL
    )
    limit = MAX_FRIENDS_LIMIT[data.kind]
    max_friends = _check_cap("max_friends", data.max_friends or default_friends, limit)
    if data.max_friends == 0:
        max_friends = 0
    passive = _check_cap(
        "passive_adds_per_day",
        DEFAULT_PASSIVE_ADDS_PER_DAY
        if data.passive_adds_per_day is None
        else data.passive_adds_per_day,
        MAX_ADDS_PER_DAY_LIMIT,
    )
    active = _check_cap(
        "active_adds_per_day",
        DEFAULT_ACTIVE_ADDS_PER_DAY
        if data.active_adds_per_day is None
        else data.active_adds_per_day,
        MAX_ADDS_PER_DAY_LIMIT,
    )
    account = OperatorAccount(
        name=name,
        kind=data.kind,
        owner_promoter_id=owner,
        persona_id=data.persona_id,
        external_id=data.external_id or None,
        channel_backend=data.channel_backend,
        province_code=_check_region("province_code", data.province_code),
        city_code=_check_region("city_code", data.city_code),
        district_code=_check_region("district_code", data.district_code),
        product_lines=_check_product_lines(data.product_lines),
        working_from_minute=rules.check_minute(data.working_from_minute),
        working_until_minute=rules.check_minute(data.working_until_minute),
        weight=_check_cap("weight", data.weight, MAX_WEIGHT),
        max_friends=max_friends,
        passive_adds_per_day=passive,
        active_adds_per_day=active,
        registered_on=data.registered_on,
        status=AccountStatus.ACTIVE,
        restriction_flags=[],
    )
    if data.channel_backend:
        from siyu.channels.registry import get_backend

        get_backend(data.channel_backend)
    repository.add(account)
    audit.record(
        session,
        actor.user_id if actor else None,
        "pool.account_created",
        "operator_account",
        account.id,
        kind=data.kind.value,
        owner_promoter_id=owner,
    )
    return account


def get_account(session: Session, actor: Principal | None, account_id: int) -> OperatorAccount:
    account = AccountRepository(session).get(account_id)
    if account is None or account.deleted_at is not None:
        raise AccountNotFound()
    if not _visible(actor, account.owner_promoter_id):
        raise AccountNotFound()
    return account


def list_accounts(
    session: Session,
    actor: Principal | None,
    page: PageRequest,
    status: AccountStatus | None = None,
    query: str = "",
) -> Page[OperatorAccount]:
    scope = scope_of(actor)
    return AccountRepository(session).listing(
        page, scope.owner_promoter_id, scope.only_owner, status, query
    )


def _lock_account(session: Session, actor: Principal | None, account_id: int) -> OperatorAccount:
    get_account(session, actor, account_id)
    account = AccountRepository(session).get_for_update(account_id)
    assert account is not None
    return account


def update_account(
    session: Session, actor: Principal | None, account_id: int, data: AccountUpdate
) -> OperatorAccount:
    account = _lock_account(session, actor, account_id)
    changes = data.model_dump(exclude_unset=True)
    today = to_shanghai(utc_now()).date()
    # Check everything first; write nothing on a refusal.
    checked: dict[str, object] = {}
    for field in ("max_friends", "passive_adds_per_day", "active_adds_per_day"):
        if changes.get(field) is None:
            continue
        limit = (
            MAX_FRIENDS_LIMIT[account.kind] if field == "max_friends" else MAX_ADDS_PER_DAY_LIMIT
        )
        value = _check_cap(field, changes[field], limit)
        used = {
            "max_friends": account.friends_used,
            "passive_adds_per_day": account.passive_adds_today if account.adds_day == today else 0,
            "active_adds_per_day": account.active_adds_today if account.adds_day == today else 0,
        }[field]
        if value < used:
            raise CapBelowUsage(field=field, field_zh=_CAP_LABELS[field], cap=value, used=used)
        checked[field] = value
    if changes.get("weight") is not None:
        checked["weight"] = _check_cap("weight", changes["weight"], MAX_WEIGHT)
    for field in ("working_from_minute", "working_until_minute"):
        if changes.get(field) is not None:
            checked[field] = rules.check_minute(changes[field])
    for field in ("province_code", "city_code", "district_code"):
        if changes.get(field) is not None:
            checked[field] = _check_region(field, changes[field])
    if changes.get("product_lines") is not None:
        checked["product_lines"] = _check_product_lines(changes["product_lines"])
    if changes.get("name") is not None:
        if not changes["name"].strip():
            raise AccountNameRequired()
        checked["name"] = changes["name"].strip()
    if "persona_id" in changes:
        if (
            changes["persona_id"] is not None
            and session.get(Persona, changes["persona_id"]) is None
        ):
            raise PersonaNotFound()
        checked["persona_id"] = changes["persona_id"]
    before: dict[str, object] = {field: getattr(account, field) for field in checked}
    for field, new_value in checked.items():
        setattr(account, field, new_value)
    session.flush()
    if checked:
        audit.record(
            session,
            actor.user_id if actor else None,
            "pool.account_updated",
            "operator_account",
            account.id,
            before={k: _jsonable(v) for k, v in before.items()},
            after={k: _jsonable(v) for k, v in checked.items()},
        )
    return account


def _jsonable(value: object) -> object:
    return value if isinstance(value, (int, str, list, type(None))) else str(value)


def change_status(
    session: Session, actor: Principal | None, account_id: int, status: AccountStatus, reason: str
) -> OperatorAccount:
    """Status changes are logged with a reason; a banned or retired account takes no adds."""
    account = _lock_account(session, actor, account_id)
    if not reason.strip():
        raise ValidationFailed(field="reason")
    if account.status == status:
        raise AccountStatusUnchanged()
    previous = account.status
    account.status = status
    account.status_reason = reason.strip()[:500]
    account.status_changed_at = utc_now()
    if status == AccountStatus.ACTIVE:
        account.recent_failures = 0
    session.flush()
    audit.record(
        session,
        actor.user_id if actor else None,
        "pool.account_status",
        "operator_account",
        account.id,
        reason.strip()[:500],
        previous=previous.value,
        status=status.value,
    )
    return account


def delete_account(session: Session, actor: Principal | None, account_id: int) -> None:
    """Soft delete: codes naming the account skip it from now on (logged at scan time)."""
    account = _lock_account(session, actor, account_id)
    account.deleted_at = utc_now()
    account.status = AccountStatus.RETIRED
    session.flush()
    audit.record(
        session,
        actor.user_id if actor else None,
        "pool.account_deleted",
        "operator_account",
        account.id,
    )


def is_healthy(account: OperatorAccount) -> bool:
    return (
        account.status == AccountStatus.ACTIVE
        and not account.restriction_flags
        and account.recent_failures < rules.MAX_RECENT_FAILURES
    )


def adds_today(account: OperatorAccount) -> tuple[int, int]:
    """(passive, active) adds of today's Asia/Shanghai day."""
    if account.adds_day != to_shanghai(utc_now()).date():
        return 0, 0
    return account.passive_adds_today, account.active_adds_today


def fleet_capacity(session: Session, actor: Principal | None) -> dict[str, int]:
    scope = scope_of(actor)
    totals = AccountRepository(session).fleet_totals(
        to_shanghai(utc_now()).date(), scope.owner_promoter_id, scope.only_owner
    )
    totals["friends_free"] = max(0, totals["friends_capacity"] - totals["friends_used"])
    return totals


# --- channel codes ---------------------------------------------------------------------------


def _new_code(repository: CodeRepository) -> str:
    while True:
        value = secrets.token_urlsafe(6).replace("-", "x").replace("_", "y")[:8]
        if repository.by_code(value) is None:
            return value


def create_code(session: Session, actor: Principal | None, data: CodeCreate) -> ChannelCode:
    scope = scope_of(actor)
    owner = data.owner_promoter_id
    rule = rules.parse_rule(data.rule)
    if scope.only_owner:
        if owner is not None and owner != scope.owner_promoter_id:
            raise PermissionDenied()
        owner = scope.owner_promoter_id
        # A promoter's code routes only to the promoter's own accounts.
        rule = rules.parse_rule({**rule.as_json(), "owner_promoter_id": owner})
    if not data.name.strip():
        raise CodeNameRequired()
    accounts = AccountRepository(session)
    named = sorted(set(rule.account_ids or ()) | set(data.spare_account_ids))
    live: set[int] = set(accounts.live_ids(named))
    missing = [account_id for account_id in named if account_id not in live]
    if scope.only_owner:
        for account_id in live:
            account = accounts.get(account_id)
            if account is None or account.owner_promoter_id != scope.owner_promoter_id:
                missing.append(account_id)
    if missing:
        raise CodeAccountsMissing(ids=", ".join(str(i) for i in sorted(set(missing))))
    repository = CodeRepository(session)
    code = ChannelCode(
        code=_new_code(repository),
        name=data.name.strip(),
        owner_promoter_id=owner,
        rule=rule.as_json(),
        strategy=data.strategy,
        spare_account_ids=list(dict.fromkeys(data.spare_account_ids)),
        welcome_script=data.welcome_script,
        tag_names=list(dict.fromkeys(name.strip() for name in data.tag_names if name.strip())),
        source_label=data.source_label,
        status=ChannelCodeStatus.ACTIVE,
        round_robin_cursor=0,
    )
    repository.add(code)
    audit.record(
        session, actor.user_id if actor else None, "pool.code_created", "channel_code", code.id
    )
    return code


def create_personal_code(
    session: Session,
    actor: Principal | None,
    parent_id: int,
    referrer_promoter_id: int | None = None,
    referrer_consumer_id: int | None = None,
) -> ChannelCode:
    """One code per participant; every add through it is attributed to the referrer."""
    parent = get_code(session, actor, parent_id)
    if (referrer_promoter_id is None) == (referrer_consumer_id is None):
        raise ReferrerRequired()
    if referrer_consumer_id is not None and session.get(Consumer, referrer_consumer_id) is None:
        raise ReferrerRequired()
    repository = CodeRepository(session)
    code = ChannelCode(
        code=_new_code(repository),
        name=f"{parent.name}·个人码",
        owner_promoter_id=parent.owner_promoter_id,
        rule={},
        strategy=parent.strategy,
        spare_account_ids=[],
        welcome_script="",
        tag_names=[],
        source_label=parent.source_label,
        status=ChannelCodeStatus.ACTIVE,
        round_robin_cursor=0,
        parent_id=parent.id,
        state=secrets.token_urlsafe(12),
        referrer_promoter_id=referrer_promoter_id,
        referrer_consumer_id=referrer_consumer_id,
    )
    return repository.add(code)


def get_code(session: Session, actor: Principal | None, code_id: int) -> ChannelCode:
    code = CodeRepository(session).get(code_id)
    if code is None or not _visible(actor, code.owner_promoter_id):
        raise CodeNotFound()
    return code


def list_codes(session: Session, actor: Principal | None, page: PageRequest) -> Page[ChannelCode]:
    scope = scope_of(actor)
    return CodeRepository(session).listing(page, scope.owner_promoter_id, scope.only_owner)


def set_code_status(
    session: Session, actor: Principal | None, code_id: int, status: ChannelCodeStatus
) -> ChannelCode:
    code = get_code(session, actor, code_id)
    code.status = status
    session.flush()
    snapshots.forget_codes()
    audit.record(
        session,
        actor.user_id if actor else None,
        "pool.code_status",
        "channel_code",
        code.id,
        status=status.value,
    )
    return code


@dataclass(frozen=True)
class CodeStats:
    scans: dict[str, int]
    adds_by_account: list[tuple[int, str, int, int]]  # (account id, name, routed, confirmed)


def code_stats(session: Session, actor: Principal | None, code_id: int) -> CodeStats:
    code = get_code(session, actor, code_id)
    repository = CodeRepository(session)
    return CodeStats(repository.scan_counts(code.id), repository.adds_by_account(code.id))


def public_code(session: Session, code_text: str) -> ChannelCode | None:
    return CodeRepository(session).by_code(code_text)


# --- scans -----------------------------------------------------------------------------------


@dataclass
class ScanRecord:
    """What one scan decided, as written to ``channel_scan`` (a plain record, not an ORM
    object: the scan path inserts it with one plain statement)."""

    code_id: int
    personal_code_id: int | None
    state_raw: str
    state_valid: bool
    referrer_promoter_id: int | None
    referrer_consumer_id: int | None
    scanned_at: datetime
    outcome: ScanOutcome = ScanOutcome.FULL
    consumer_id: int | None = None
    account_id: int | None = None
    contact_id: int | None = None
    candidates_count: int = 0
    attempts: int = 0
    reason: str = ""
    id: int = 0


@dataclass
class ScanResult:
    scan: ScanRecord
    account_id: int | None
    contact_id: int | None
    code: ChannelCode
    session: Session

    @property
    def contact(self) -> Contact | None:
        if self.contact_id is None:
            return None
        return self.session.get(Contact, self.contact_id)

    @property
    def outcome(self) -> ScanOutcome:
        return self.scan.outcome

    @property
    def account(self) -> OperatorAccount | None:
        """Loaded on demand: the hot path never needs the whole row."""
        if self.account_id is None:
            return None
        return self.session.get(OperatorAccount, self.account_id)


def _resolve(
    session: Session, code_text: str, state_raw: str | None
) -> tuple[ChannelCode, ChannelCode | None, bool]:
    """(routing code, personal code or None, state valid). Malformed or unknown states are
    harmless: the scan routes normally, unattributed, and the state is kept on the scan row."""
    repository = CodeRepository(session)
    settings = current_settings()
    code: ChannelCode | None = snapshots.code(
        settings.resolved_database_url,
        code_text,
        settings.routing_snapshot_seconds,
        lambda: repository.by_code(code_text),
    )
    if code is None:
        raise CodeNotFound()
    personal: ChannelCode | None = None
    if code.parent_id is not None:
        personal = code
        parent = repository.get(code.parent_id)
        assert parent is not None
        code = parent
    state_valid = True
    if state_raw is not None and state_raw != "":
        state = rules.parse_state(state_raw)
        found = repository.by_state(state) if state else None
        if found is None or found.parent_id != code.id:
            state_valid = False
            # Public input (a truncated or hand-edited link): expected, harmless, kept on the scan
            # row; info rather than warning so it does not alarm whoever reads the console.
            logger.info(
                "scan of code %s with unusable state %r: routed unattributed",
                code.code,
                state_raw[:64],
            )
        elif personal is None:
            personal = found
    return code, personal, state_valid


def scan(
    session: Session,
    code_text: str,
    identity: ConsumerIdentity,
    state_raw: str | None = None,
    rng: random.Random | None = None,
) -> ScanResult:
    """A person scanned a code: route them to one account under every cap, or a spare, or
    'full'. The seat is taken by a conditional UPDATE, so concurrent scans never overfill."""
    code, personal, state_valid = _resolve(session, code_text, state_raw)
    if code.strategy == RoutingStrategy.ROUND_ROBIN:
        # The cursor moves with every scan: never route from a cached copy of it.
        fresh = CodeRepository(session).get(code.id)
        assert fresh is not None
        code = fresh
    now = utc_now()
    referrer_promoter_id = personal.referrer_promoter_id if personal else None
    referrer_consumer_id = personal.referrer_consumer_id if personal else None
    scan_row = ScanRecord(
        code_id=code.id,
        personal_code_id=personal.id if personal else None,
        state_raw=(state_raw or "")[:64],
        state_valid=state_valid,
        referrer_promoter_id=referrer_promoter_id,
        referrer_consumer_id=referrer_consumer_id,
        scanned_at=now,
    )
    if code.status != ChannelCodeStatus.ACTIVE:
        scan_row.outcome = ScanOutcome.CLOSED
        scan_row.reason = f"code_{code.status.value}"
        CodeRepository(session).add_scan(scan_row)
        return ScanResult(scan_row, None, None, code, session)
    consumer_id, created = consumers.find_or_create_id(session, identity)
    if not created:
        # Serialise this person's scans (two phones scanning at once as the same person).
        consumers.lock(session, consumer_id)
    scan_row.consumer_id = consumer_id
    contacts = ContactRepository(session)
    accounts = AccountRepository(session)
    existing = None if created else contacts.live_for_code(consumer_id, [code.id])
    if existing is not None:
        scan_row.outcome = ScanOutcome.ALREADY_CONTACT
        scan_row.account_id = existing.account_id
        scan_row.contact_id = existing.id
        CodeRepository(session).add_scan(scan_row)
        return ScanResult(scan_row, existing.account_id, existing.id, code, session)

    rule = rules.parse_rule(code.rule)
    day = to_shanghai(now).date()
    minute = rules.minute_of_day(now)
    strategy = code.strategy
    limit = None if strategy == RoutingStrategy.WEIGHTED else CANDIDATE_WINDOW
    settings = current_settings()
    # Round-robin needs the exact cursor, so its snapshot is never cached.
    ttl = 0.0 if strategy == RoutingStrategy.ROUND_ROBIN else settings.routing_snapshot_seconds
    cache_key = (settings.resolved_database_url, code.id, code.updated_at, day, minute)
    snapshot = snapshots.get(
        cache_key,
        ttl,
        lambda: accounts.candidates(
            rule, day, minute, limit, strategy.value, code.round_robin_cursor
        ),
    )
    spare_ids = list(code.spare_account_ids or [])
    rng = rng or random.Random()
    plan = _plan(accounts, rule, strategy, snapshot, spare_ids, day, minute, now, rng, code)
    chosen: AccountSnapshot | None = None
    outcome = ScanOutcome.FULL
    by_id = {account.id: account for account in snapshot}
    for attempt in range(2):
        for index, account_id in enumerate((*plan.ordered, *plan.spares)):
            scan_row.attempts += 1
            if accounts.reserve(account_id, day):
                chosen = by_id.get(account_id) or _snapshot_of(accounts, account_id)
                outcome = ScanOutcome.ROUTED if index < len(plan.ordered) else ScanOutcome.SPARE
                snapshots.reserved(cache_key, account_id, day)
                break
            snapshots.refused(cache_key, account_id)
        if chosen is not None or attempt == 1 or ttl <= 0:
            break
        # The cached snapshot ran dry: read the candidates once more, fresh.
        snapshot = accounts.candidates(
            rule, day, minute, limit, strategy.value, code.round_robin_cursor
        )
        by_id = {account.id: account for account in snapshot}
        plan = _plan(accounts, rule, strategy, snapshot, spare_ids, day, minute, now, rng, code)
    scan_row.candidates_count = plan.candidates_count
    if chosen is None:
        scan_row.outcome = ScanOutcome.FULL
        reason = plan.reason or "all_full"
        if reason == "no_candidates" and accounts.any_matching(rule):
            reason = "all_full"  # the SQL pre-filter already dropped the full ones
        scan_row.reason = reason
        if reason == "no_candidates":
            logger.warning("code %s has no candidate account (rule %s)", code.code, code.rule)
        CodeRepository(session).add_scan(scan_row)
        return ScanResult(scan_row, None, None, code, session)
    if strategy == RoutingStrategy.ROUND_ROBIN:
        CodeRepository(session).set_cursor(code.id, chosen.id)
    contact_id = _pending_contact(
        session,
        chosen.id,
        chosen.owner_promoter_id,
        consumer_id,
        ContactSourceKind.CODE,
        code.id,
        referrer_promoter_id,
        referrer_consumer_id,
        consumer_is_new=created,
    )
    scan_row.outcome = outcome
    scan_row.account_id = chosen.id
    scan_row.contact_id = contact_id
    CodeRepository(session).add_scan(scan_row)
    from siyu.pool import tasks

    enqueue(session, tasks.announce_pending, contact_id)
    return ScanResult(scan_row, chosen.id, contact_id, code, session)


def _plan(
    accounts: AccountRepository,
    rule: rules.Rule,
    strategy: RoutingStrategy,
    snapshot: list[AccountSnapshot],
    spare_ids: list[int],
    day: date,
    minute: int,
    now: datetime,
    rng: random.Random,
    code: ChannelCode,
) -> rules.RoutingPlan:
    spares = (
        accounts.candidates(rules.Rule(), day, minute, None, "", 0, spare_ids) if spare_ids else []
    )
    spares_by_id = {spare.id: spare for spare in spares}
    ordered_spares = [spares_by_id[i] for i in spare_ids if i in spares_by_id]
    return rules.route(rule, strategy, snapshot, ordered_spares, now, rng, code.round_robin_cursor)


def _snapshot_of(accounts: AccountRepository, account_id: int) -> AccountSnapshot:
    account = accounts.get(account_id)
    assert account is not None
    return AccountSnapshot(id=account.id, owner_promoter_id=account.owner_promoter_id)


def _pending_contact(
    session: Session,
    account_id: int,
    owner_promoter_id: int | None,
    consumer_id: int,
    source_kind: ContactSourceKind,
    source_id: int | None,
    referrer_promoter_id: int | None,
    referrer_consumer_id: int | None,
    consumer_is_new: bool = False,
) -> int:
    """The seat is already reserved; make (or reopen) the consumer's contact on the account.

    The insert is tried first (the common case: a new friendship); an existing row is found
    through the unique (consumer, account) index only when the insert fails."""
    repository = ContactRepository(session)
    now = utc_now()
    values = {
        "consumer_id": consumer_id,
        "account_id": account_id,
        "owner_promoter_id": owner_promoter_id,
        "source_kind": source_kind,
        "source_id": source_id,
        "referrer_promoter_id": referrer_promoter_id,
        "referrer_consumer_id": referrer_consumer_id,
        "state": ContactState.PENDING,
        "lifecycle_stage": LifecycleStage.NEW,
        "consent": False,
        "marketing_opt_out": False,
        "notes": "",
        "added_at": now,
    }
    if consumer_is_new:
        # Created in this transaction: no contact of theirs can exist anywhere yet.
        return repository.insert(values)
    contact = Contact(**values)
    try:
        with session.begin_nested():
            repository.add(contact)
        return contact.id
    except IntegrityError:
        pass
    found = repository.find(consumer_id, account_id)
    if found is None:
        raise RuntimeError("contact insert failed but no existing contact found")
    if found.state != ContactState.REMOVED:
        # Already a friend by another route (the consumer row is locked, so no race): give
        # the seat and the day's add back.
        AccountRepository(session).cancel_reservation(account_id, to_shanghai(now).date())
        return found.id
    found.state = ContactState.PENDING
    found.lifecycle_stage = LifecycleStage.NEW
    found.source_kind = source_kind
    found.source_id = source_id
    found.referrer_promoter_id = referrer_promoter_id
    found.referrer_consumer_id = referrer_consumer_id
    found.added_at = now
    found.confirmed_at = None
    found.removed_at = None
    session.flush()
    return found.id


def add_contact_directly(
    session: Session,
    actor: Principal | None,
    account_id: int,
    identity: ConsumerIdentity,
    source_kind: ContactSourceKind,
    source_id: int | None = None,
    referrer_promoter_id: int | None = None,
) -> Contact | None:
    """An active add (courier, promoter, import): counts against the active daily cap.
    Returns None when the account is at a cap (nothing written)."""
    account = get_account(session, actor, account_id)
    consumer = consumers.find_or_create(session, identity)
    consumer = consumers.lock(session, consumer.id)
    existing = ContactRepository(session).find(consumer.id, account.id)
    if existing is not None and existing.state != ContactState.REMOVED:
        return existing
    day = to_shanghai(utc_now()).date()
    if not AccountRepository(session).reserve(account.id, day, active=True):
        return None
    contact_id = _pending_contact(
        session,
        account.id,
        account.owner_promoter_id,
        consumer.id,
        source_kind,
        source_id,
        referrer_promoter_id,
        None,
    )
    from siyu.pool import tasks

    enqueue(session, tasks.announce_pending, contact_id)
    return ContactRepository(session).get(contact_id)


def announce_pending(session: Session, contact_id: int) -> str:
    """Tell the account's channel that a seat waits for this contact (job; idempotent: the
    backends key what they create on the contact and its reservation time)."""
    from siyu.channels.registry import backend_for

    contact = ContactRepository(session).get(contact_id)
    if contact is None or contact.state != ContactState.PENDING:
        return "not pending"
    account = AccountRepository(session).get(contact.account_id)
    assert account is not None
    welcome = ""
    if contact.source_kind == ContactSourceKind.CODE and contact.source_id is not None:
        code = CodeRepository(session).get(contact.source_id)
        welcome = code.welcome_script if code else ""
    backend_for(account).expect_add(session, account, contact, welcome)
    return "announced"


def expire_pending(session: Session) -> int:
    """Pending adds never confirmed within the configured hours give their seat back."""
    cutoff = utc_now() - timedelta(hours=current_settings().pending_contact_hours)
    repository = ContactRepository(session)
    expired = 0
    for contact_id in repository.pending_before(cutoff, PENDING_EXPIRY_BATCH):
        contact = repository.get_for_update(contact_id)
        if contact is None or contact.state != ContactState.PENDING:
            continue
        contact.state = ContactState.REMOVED
        contact.removed_at = utc_now()
        AccountRepository(session).release_seat(contact.account_id)
        expired += 1
    session.flush()
    return expired


# --- contacts --------------------------------------------------------------------------------


def get_contact(session: Session, actor: Principal | None, contact_id: int) -> Contact:
    contact = ContactRepository(session).get(contact_id)
    if contact is None or not _visible(actor, contact.owner_promoter_id):
        raise ContactNotFound()
    return contact


def list_contacts(
    session: Session, actor: Principal | None, page: PageRequest, account_id: int | None = None
) -> Page[Contact]:
    scope = scope_of(actor)
    return ContactRepository(session).listing(
        page, scope.owner_promoter_id, scope.only_owner, account_id
    )


def set_contact_region(
    session: Session, actor: Principal | None, contact_id: int, region_code: str
) -> Contact:
    """Record where a contact lives (the district they answered, an address they gave): the
    province, city and district codes of ``region_code`` (a district or a city without
    districts). Overwrites what was recorded before; an unknown code is refused."""
    from siyu.regions import service as regions
    from siyu.regions.rules import RegionLevel

    contact = get_contact(session, actor, contact_id)
    code = _check_region("region_code", region_code)
    if not code or code not in regions.regions().regions:
        raise RegionCodeInvalid(field="region_code", field_zh="地区编码")
    province = city = district = ""
    for item in regions.regions().path(code):
        if item.level == RegionLevel.PROVINCE:
            province = item.code
        elif item.level == RegionLevel.CITY:
            city = item.code
        else:
            district = item.code
    contact.province_code, contact.city_code, contact.district_code = province, city, district
    session.flush()
    return contact
