"""JSON API under /api/v1/pool: personas, accounts (capacity, status), channel codes (QR,
scans, stats, personal codes), contacts (masked), groups and group codes, events, tasks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from siyu.auth.ratelimit import check_scan_allowed
from siyu.config import current_settings
from siyu.consumers import service as consumers
from siyu.consumers.service import ConsumerIdentity
from siyu.kit.pagination import PageRequest
from siyu.kit.qr import qr_png
from siyu.models import (
    AccountStatus,
    AssistedTask,
    AssistedTaskStatus,
    ChannelCode,
    ChannelCodeStatus,
    Consumer,
    Contact,
    OperatorAccount,
)
from siyu.pool import events, groups, inbox, service
from siyu.pool.schemas import (
    AccountCreate,
    AccountOut,
    AccountStatusChange,
    AccountUpdate,
    CodeCreate,
    CodeOut,
    ContactOut,
    EventIn,
    FleetCapacityOut,
    GroupCodeCreate,
    GroupCreate,
    PersonaCreate,
    PersonalCodeCreate,
    ScanIn,
    ScanOut,
    TaskOut,
    TaskResult,
)
from siyu.privacy import service as privacy
from siyu.web.deps import ApiUser, DbSession

router = APIRouter(prefix="/pool", tags=["pool"])


def account_out(account: OperatorAccount) -> AccountOut:
    passive, active = service.adds_today(account)
    return AccountOut(
        id=account.id,
        name=account.name,
        kind=account.kind,
        owner_promoter_id=account.owner_promoter_id,
        persona_id=account.persona_id,
        external_id=account.external_id,
        province_code=account.province_code,
        city_code=account.city_code,
        district_code=account.district_code,
        product_lines=list(account.product_lines or []),
        working_from_minute=account.working_from_minute,
        working_until_minute=account.working_until_minute,
        weight=account.weight,
        max_friends=account.max_friends,
        passive_adds_per_day=account.passive_adds_per_day,
        active_adds_per_day=account.active_adds_per_day,
        friends_used=account.friends_used,
        friends_free=max(0, account.max_friends - account.friends_used),
        passive_adds_today=passive,
        active_adds_today=active,
        status=account.status,
        status_reason=account.status_reason,
        recent_failures=account.recent_failures,
        restriction_flags=list(account.restriction_flags or []),
        healthy=service.is_healthy(account),
        created_at=account.created_at,
    )


def code_url(code: ChannelCode) -> str:
    return f"{current_settings().base_url.rstrip('/')}/c/{code.code}"


def code_out(code: ChannelCode) -> CodeOut:
    return CodeOut(
        id=code.id,
        code=code.code,
        name=code.name,
        owner_promoter_id=code.owner_promoter_id,
        rule=dict(code.rule or {}),
        strategy=code.strategy,
        spare_account_ids=list(code.spare_account_ids or []),
        welcome_script=code.welcome_script,
        tag_names=list(code.tag_names or []),
        source_label=code.source_label,
        status=code.status.value,
        parent_id=code.parent_id,
        state=code.state,
        url=code_url(code),
        qr_url=f"/api/v1/pool/codes/{code.id}/qr.png",
    )


def contact_out(session: DbSession, contact: Contact) -> ContactOut:
    consumer = session.get_one(Consumer, contact.consumer_id)
    return ContactOut(
        id=contact.id,
        consumer_id=contact.consumer_id,
        account_id=contact.account_id,
        state=contact.state,
        lifecycle_stage=contact.lifecycle_stage,
        source_kind=contact.source_kind.value,
        source_id=contact.source_id,
        referrer_promoter_id=contact.referrer_promoter_id,
        phone_masked=consumers.masked_phone(consumer),
        consent=contact.consent,
        marketing_opt_out=contact.marketing_opt_out,
        added_at=contact.added_at,
        confirmed_at=contact.confirmed_at,
    )


def task_out(task: AssistedTask) -> TaskOut:
    return TaskOut(
        id=task.id,
        account_id=task.account_id,
        kind=task.kind,
        title=task.title,
        script_text=task.script_text,
        due_at=task.due_at,
        status=task.status,
        contact_id=task.contact_id,
        group_id=task.group_id,
        result_notes=task.result_notes,
        reply_text=task.reply_text,
    )


def _page(items: list[Any], total: int, page: PageRequest) -> dict[str, Any]:
    return {"items": items, "total": total, "page": page.page, "size": page.size}


# --- personas and accounts -------------------------------------------------------------------


@router.post("/personas", status_code=201)
def create_persona(user: ApiUser, session: DbSession, data: PersonaCreate) -> dict[str, Any]:
    persona = service.create_persona(session, user, data)
    return {"id": persona.id, "name": persona.name, "nickname": persona.nickname}


@router.get("/accounts")
def list_accounts(
    user: ApiUser, session: DbSession, page: int = 1, size: int = 50, status: str = ""
) -> dict[str, Any]:
    request = PageRequest(page, size)
    result = service.list_accounts(
        session, user, request, AccountStatus(status) if status else None
    )
    return _page([account_out(a) for a in result.items], result.total, request)


@router.post("/accounts", status_code=201, response_model=AccountOut)
def create_account(user: ApiUser, session: DbSession, data: AccountCreate) -> AccountOut:
    return account_out(service.create_account(session, user, data))


@router.get("/accounts/capacity", response_model=FleetCapacityOut)
def fleet_capacity(user: ApiUser, session: DbSession) -> FleetCapacityOut:
    return FleetCapacityOut(**service.fleet_capacity(session, user))


@router.get("/accounts/{account_id}", response_model=AccountOut)
def get_account(user: ApiUser, session: DbSession, account_id: int) -> AccountOut:
    return account_out(service.get_account(session, user, account_id))


@router.patch("/accounts/{account_id}", response_model=AccountOut)
def update_account(
    user: ApiUser, session: DbSession, account_id: int, data: AccountUpdate
) -> AccountOut:
    return account_out(service.update_account(session, user, account_id, data))


@router.post("/accounts/{account_id}/status", response_model=AccountOut)
def change_status(
    user: ApiUser, session: DbSession, account_id: int, data: AccountStatusChange
) -> AccountOut:
    return account_out(service.change_status(session, user, account_id, data.status, data.reason))


@router.delete("/accounts/{account_id}", status_code=204)
def delete_account(user: ApiUser, session: DbSession, account_id: int) -> Response:
    service.delete_account(session, user, account_id)
    return Response(status_code=204)


# --- channel codes ---------------------------------------------------------------------------


@router.get("/codes")
def list_codes(user: ApiUser, session: DbSession, page: int = 1, size: int = 50) -> dict[str, Any]:
    request = PageRequest(page, size)
    result = service.list_codes(session, user, request)
    return _page([code_out(c) for c in result.items], result.total, request)


@router.post("/codes", status_code=201, response_model=CodeOut)
def create_code(user: ApiUser, session: DbSession, data: CodeCreate) -> CodeOut:
    return code_out(service.create_code(session, user, data))


@router.get("/codes/{code_id}", response_model=CodeOut)
def get_code(user: ApiUser, session: DbSession, code_id: int) -> CodeOut:
    return code_out(service.get_code(session, user, code_id))


@router.get("/codes/{code_id}/stats")
def code_stats(user: ApiUser, session: DbSession, code_id: int) -> dict[str, Any]:
    stats = service.code_stats(session, user, code_id)
    return {
        "scans": stats.scans,
        "adds_by_account": [
            {"account_id": a, "name": n, "routed": r, "confirmed": c}
            for a, n, r, c in stats.adds_by_account
        ],
    }


@router.post("/codes/{code_id}/status", response_model=CodeOut)
def set_code_status(
    user: ApiUser, session: DbSession, code_id: int, status: ChannelCodeStatus
) -> CodeOut:
    return code_out(service.set_code_status(session, user, code_id, status))


@router.post("/codes/{code_id}/personal", status_code=201, response_model=CodeOut)
def create_personal_code(
    user: ApiUser, session: DbSession, code_id: int, data: PersonalCodeCreate
) -> CodeOut:
    return code_out(
        service.create_personal_code(
            session, user, code_id, data.referrer_promoter_id, data.referrer_consumer_id
        )
    )


@router.get("/codes/{code_id}/qr.png", response_class=Response)
def code_qr(user: ApiUser, session: DbSession, code_id: int) -> Response:
    code = service.get_code(session, user, code_id)
    return Response(qr_png(code_url(code)), media_type="image/png")


@router.post("/scan/{code}", response_model=ScanOut)
def scan(request: Request, session: DbSession, code: str, data: ScanIn) -> ScanOut:
    """The scan of a code by a known person (WeChat OAuth, the simulator, load tests)."""
    check_scan_allowed(request.client.host if request.client else "unknown")
    result = service.scan(
        session,
        code,
        ConsumerIdentity(phone=data.phone, union_id=data.union_id, nickname=data.nickname),
        data.state,
    )
    return ScanOut(
        scan_id=result.scan.id,
        outcome=result.outcome,
        account_id=result.account.id if result.account else None,
        contact_id=result.contact.id if result.contact else None,
        reason=result.scan.reason,
    )


# --- contacts, groups, events, tasks ---------------------------------------------------------


@router.get("/contacts")
def list_contacts(
    user: ApiUser, session: DbSession, page: int = 1, size: int = 50, account_id: int | None = None
) -> dict[str, Any]:
    request = PageRequest(page, size)
    result = service.list_contacts(session, user, request, account_id)
    privacy.record_reads(
        session, user, [contact.consumer_id for contact in result.items], "api.pool.contacts"
    )
    return _page([contact_out(session, c) for c in result.items], result.total, request)


@router.post("/groups", status_code=201)
def create_group(user: ApiUser, session: DbSession, data: GroupCreate) -> dict[str, Any]:
    group = groups.create_group(session, user, data)
    return {"id": group.id, "name": group.name, "capacity": group.capacity}


@router.post("/group-codes", status_code=201)
def create_group_code(user: ApiUser, session: DbSession, data: GroupCodeCreate) -> dict[str, Any]:
    group_code = groups.create_group_code(session, user, data)
    return {"id": group_code.id, "code": group_code.code, "capacity": group_code.capacity}


@router.get("/group-codes/{group_code_id}/groups")
def group_code_groups(user: ApiUser, session: DbSession, group_code_id: int) -> list[Any]:
    return [
        {
            "id": g.id,
            "name": g.name,
            "sequence": g.sequence,
            "members_count": g.members_count,
            "capacity": g.capacity,
            "status": g.status.value,
        }
        for g in groups.groups_of_code(session, user, group_code_id)
    ]


@router.post("/events", status_code=202)
def receive_event(user: ApiUser, session: DbSession, data: EventIn) -> dict[str, Any]:
    """Channel events pushed by platform tooling (the simulator, a bridge); platform only."""
    user.require_platform()
    event, created = events.receive(session, data)
    return {"id": event.id, "duplicate": not created}


@router.get("/tasks")
def list_tasks(
    user: ApiUser, session: DbSession, page: int = 1, size: int = 50, status: str = "open"
) -> dict[str, Any]:
    request = PageRequest(page, size)
    result = inbox.list_tasks(
        session, user, request, AssistedTaskStatus(status) if status else None
    )
    return _page([task_out(t) for t in result.items], result.total, request)


@router.post("/tasks/{task_id}/result", response_model=TaskOut)
def task_result(user: ApiUser, session: DbSession, task_id: int, data: TaskResult) -> TaskOut:
    return task_out(
        inbox.complete_task(session, user, task_id, data.status, data.result_notes, data.reply_text)
    )
