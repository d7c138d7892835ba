"""Console and H5 pages of the traffic pool: fleet, accounts, channel codes, groups, operator
inbox; the operator's phone task list; the public code pages /c/<code> and /g/<code>."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from siyu.auth.ratelimit import check_scan_allowed
from siyu.config import current_settings
from siyu.consumers.service import ConsumerIdentity
from siyu.errors import AppError
from siyu.kit.pagination import PageRequest
from siyu.kit.qr import qr_png
from siyu.models import (
    ACCOUNT_KIND_LABELS,
    ACCOUNT_STATUS_LABELS,
    ASSISTED_TASK_KIND_LABELS,
    ASSISTED_TASK_STATUS_LABELS,
    CONTACT_SOURCE_LABELS,
    CONTACT_STATE_LABELS,
    GROUP_PURPOSE_LABELS,
    LIFECYCLE_STAGE_LABELS,
    ROUTING_STRATEGY_LABELS,
    SCAN_OUTCOME_LABELS,
    AccountKind,
    AccountStatus,
    AssistedTaskStatus,
    GroupPurpose,
    OperatorAccount,
    Persona,
    RoutingStrategy,
    ScanOutcome,
)
from siyu.pool import groups, inbox, service
from siyu.pool.schemas import AccountCreate, AccountUpdate, CodeCreate, GroupCodeCreate
from siyu.privacy import service as privacy
from siyu.web.deps import ConsoleUser, CsrfChecked, DbSession, OptionalUser, flash, render

router = APIRouter(include_in_schema=False)

# Courier hand-off tasks (siyu.segments.couriers): the courier needs the customer's number.
COURIER_TASK_SOURCE = "courier_order"

LABELS: dict[str, Any] = {
    "account_kinds": ACCOUNT_KIND_LABELS,
    "account_statuses": ACCOUNT_STATUS_LABELS,
    "strategies": ROUTING_STRATEGY_LABELS,
    "outcomes": SCAN_OUTCOME_LABELS,
    "contact_states": CONTACT_STATE_LABELS,
    "stages": LIFECYCLE_STAGE_LABELS,
    "sources": CONTACT_SOURCE_LABELS,
    "purposes": GROUP_PURPOSE_LABELS,
    "task_kinds": ASSISTED_TASK_KIND_LABELS,
    "task_statuses": ASSISTED_TASK_STATUS_LABELS,
}


def _ids(text: str) -> list[int]:
    return [
        int(part) for part in text.replace("，", ",").replace(" ", ",").split(",") if part.isdigit()
    ]


def _words(text: str) -> list[str]:
    return [part.strip() for part in text.replace("，", ",").split(",") if part.strip()]


def _minute(text: str, default: int) -> int:
    text = text.strip()
    if not text:
        return default
    if text == "24:00":
        return 1440
    hours, _, minutes = text.partition(":")
    if not (hours.isdigit() and (minutes or "0").isdigit()):
        return -1
    return int(hours) * 60 + int(minutes or 0)


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _percent(used: int, total: int) -> int:
    return 0 if total <= 0 else min(100, used * 100 // total)


def _fail(request: Request, target: str, verb: str, error: AppError) -> Response:
    if error.status in (403, 404):
        raise error
    flash(request, f"{verb}失败：{error.zh}", "danger")
    return RedirectResponse(target, status_code=303)


# --- fleet and accounts ----------------------------------------------------------------------


@router.get("/console/pool/accounts")
def fleet_page(
    request: Request,
    user: ConsoleUser,
    session: DbSession,
    status: str = "",
    q: str = "",
    page: int = 1,
) -> Response:
    selected = AccountStatus(status) if status in AccountStatus.__members__.values() else None
    accounts = service.list_accounts(session, user, PageRequest(page, 50), selected, q)
    return render(
        request,
        "console/pool_fleet.html",
        {
            "accounts": accounts,
            "pager": accounts,
            "fleet": service.fleet_capacity(session, user),
            "adds_today": service.adds_today,
            "healthy": service.is_healthy,
            "percent": _percent,
            "hhmm": hhmm,
            "personas": service.list_personas(session, user),
            "filters": {"status": status, "q": q},
            "kinds": list(AccountKind),
            **LABELS,
        },
        user=user,
    )


@router.post("/console/pool/accounts", dependencies=[CsrfChecked])
def account_create(
    request: Request,
    user: ConsoleUser,
    session: DbSession,
    name: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = AccountKind.PERSONAL_ASSISTED.value,
    owner_promoter_id: Annotated[str, Form()] = "",
    persona_id: Annotated[str, Form()] = "",
    external_id: Annotated[str, Form()] = "",
    city_code: Annotated[str, Form()] = "",
    district_code: Annotated[str, Form()] = "",
    product_lines: Annotated[str, Form()] = "",
    max_friends: Annotated[str, Form()] = "",
    passive_adds_per_day: Annotated[str, Form()] = "",
    working_from: Annotated[str, Form()] = "",
    working_until: Annotated[str, Form()] = "",
) -> Response:
    target = "/console/pool/accounts"
    try:
        data = AccountCreate(
            name=name,
            kind=AccountKind(kind)
            if kind in AccountKind.__members__.values()
            else AccountKind.PERSONAL_ASSISTED,
            owner_promoter_id=int(owner_promoter_id) if owner_promoter_id.isdigit() else None,
            persona_id=int(persona_id) if persona_id.isdigit() else None,
            external_id=external_id.strip() or None,
            city_code=city_code.strip(),
            district_code=district_code.strip(),
            product_lines=_words(product_lines),
            max_friends=int(max_friends) if max_friends.isdigit() else None,
            passive_adds_per_day=int(passive_adds_per_day)
            if passive_adds_per_day.isdigit()
            else None,
            working_from_minute=_minute(working_from, 0),
            working_until_minute=_minute(working_until, 1440),
        )
        account = service.create_account(session, user, data)
    except AppError as error:
        return _fail(request, target, "创建", error)
    except ValueError:
        flash(request, "创建失败：名称最多 64 字，地区编码为 6 位数字。", "danger")
        return RedirectResponse(target, status_code=303)
    flash(request, f"已创建运营号 {account.name}。")
    return RedirectResponse(f"/console/pool/accounts/{account.id}", status_code=303)


@router.get("/console/pool/accounts/{account_id}")
def account_detail(
    request: Request, account_id: int, user: ConsoleUser, session: DbSession
) -> Response:
    account = service.get_account(session, user, account_id)
    contacts = service.list_contacts(session, user, PageRequest(1, 20), account.id)
    privacy.record_reads(
        session, user, [contact.consumer_id for contact in contacts.items], "console.pool.account"
    )
    tasks = inbox.list_tasks(
        session, user, PageRequest(1, 20), AssistedTaskStatus.OPEN, account_id=account.id
    )
    persona = session.get(Persona, account.persona_id) if account.persona_id else None
    from siyu.channels.registry import backend_name_for

    return render(
        request,
        "console/pool_account.html",
        {
            "account": account,
            "persona": persona,
            "backend": backend_name_for(account),
            "contacts": contacts,
            "tasks": tasks,
            "adds": service.adds_today(account),
            "healthy": service.is_healthy(account),
            "percent": _percent,
            "hhmm": hhmm,
            "mask": _mask(session),
            **LABELS,
        },
        user=user,
    )


def _mask(session: DbSession) -> Any:
    from siyu.consumers import service as consumers
    from siyu.models import Consumer

    def mask(consumer_id: int) -> str:
        consumer = session.get(Consumer, consumer_id)
        return consumers.masked_phone(consumer) if consumer else "—"

    return mask


@router.post("/console/pool/accounts/{account_id}", dependencies=[CsrfChecked])
def account_update(
    request: Request,
    account_id: int,
    user: ConsoleUser,
    session: DbSession,
    max_friends: Annotated[str, Form()] = "",
    passive_adds_per_day: Annotated[str, Form()] = "",
    active_adds_per_day: Annotated[str, Form()] = "",
    weight: Annotated[str, Form()] = "",
    working_from: Annotated[str, Form()] = "",
    working_until: Annotated[str, Form()] = "",
) -> Response:
    target = f"/console/pool/accounts/{account_id}"

    def number(text: str) -> int | None:
        return int(text) if text.strip().isdigit() else None

    try:
        data = AccountUpdate(
            max_friends=number(max_friends),
            passive_adds_per_day=number(passive_adds_per_day),
            active_adds_per_day=number(active_adds_per_day),
            weight=number(weight),
            working_from_minute=_minute(working_from, 0) if working_from else None,
            working_until_minute=_minute(working_until, 1440) if working_until else None,
        )
        service.update_account(session, user, account_id, data)
    except AppError as error:
        return _fail(request, target, "保存", error)
    flash(request, "已保存。")
    return RedirectResponse(target, status_code=303)


@router.post("/console/pool/accounts/{account_id}/status", dependencies=[CsrfChecked])
def account_status(
    request: Request,
    account_id: int,
    user: ConsoleUser,
    session: DbSession,
    status: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    target = f"/console/pool/accounts/{account_id}"
    if status not in AccountStatus.__members__.values():
        flash(request, "请选择状态。", "danger")
        return RedirectResponse(target, status_code=303)
    try:
        account = service.change_status(session, user, account_id, AccountStatus(status), reason)
    except AppError as error:
        return _fail(request, target, "修改状态", error)
    flash(request, f"运营号状态已改为“{ACCOUNT_STATUS_LABELS[account.status]}”。")
    return RedirectResponse(target, status_code=303)


# --- channel codes ---------------------------------------------------------------------------


@router.get("/console/pool/codes")
def codes_page(request: Request, user: ConsoleUser, session: DbSession, page: int = 1) -> Response:
    codes = service.list_codes(session, user, PageRequest(page, 50))
    return render(
        request,
        "console/pool_codes.html",
        {"codes": codes, "pager": codes, "strategy_values": list(RoutingStrategy), **LABELS},
        user=user,
    )


@router.post("/console/pool/codes", dependencies=[CsrfChecked])
def code_create(
    request: Request,
    user: ConsoleUser,
    session: DbSession,
    name: Annotated[str, Form()] = "",
    account_ids: Annotated[str, Form()] = "",
    city_codes: Annotated[str, Form()] = "",
    district_codes: Annotated[str, Form()] = "",
    product_lines: Annotated[str, Form()] = "",
    persona_ids: Annotated[str, Form()] = "",
    strategy: Annotated[str, Form()] = RoutingStrategy.LEAST_LOADED.value,
    spare_account_ids: Annotated[str, Form()] = "",
    welcome_script: Annotated[str, Form()] = "",
    tag_names: Annotated[str, Form()] = "",
    source_label: Annotated[str, Form()] = "",
) -> Response:
    target = "/console/pool/codes"
    rule: dict[str, Any] = {}
    if _ids(account_ids):
        rule["account_ids"] = _ids(account_ids)
    if _words(city_codes):
        rule["city_codes"] = _words(city_codes)
    if _words(district_codes):
        rule["district_codes"] = _words(district_codes)
    if _words(product_lines):
        rule["product_lines"] = _words(product_lines)
    if _ids(persona_ids):
        rule["persona_ids"] = _ids(persona_ids)
    try:
        code = service.create_code(
            session,
            user,
            CodeCreate(
                name=name,
                rule=rule,
                strategy=RoutingStrategy(strategy)
                if strategy in RoutingStrategy.__members__.values()
                else RoutingStrategy.LEAST_LOADED,
                spare_account_ids=_ids(spare_account_ids),
                welcome_script=welcome_script,
                tag_names=_words(tag_names),
                source_label=source_label,
            ),
        )
    except AppError as error:
        return _fail(request, target, "创建", error)
    except ValueError:
        flash(request, "创建失败：名称最多 64 字，欢迎语最多 2000 字，标签最多 20 个。", "danger")
        return RedirectResponse(target, status_code=303)
    flash(request, f"已创建活码 {code.name}。")
    return RedirectResponse(f"/console/pool/codes/{code.id}", status_code=303)


@router.get("/console/pool/codes/{code_id}")
def code_detail(request: Request, code_id: int, user: ConsoleUser, session: DbSession) -> Response:
    code = service.get_code(session, user, code_id)
    stats = service.code_stats(session, user, code.id)
    return render(
        request,
        "console/pool_code.html",
        {
            "code": code,
            "stats": stats,
            "url": f"{current_settings().base_url.rstrip('/')}/c/{code.code}",
            "total_scans": sum(stats.scans.values()),
            "outcome_values": list(ScanOutcome),
            **LABELS,
        },
        user=user,
    )


@router.get("/console/pool/codes/{code_id}/qr.png")
def code_qr(code_id: int, user: ConsoleUser, session: DbSession) -> Response:
    code = service.get_code(session, user, code_id)
    url = f"{current_settings().base_url.rstrip('/')}/c/{code.code}"
    return Response(qr_png(url), media_type="image/png")


# --- groups ----------------------------------------------------------------------------------


@router.get("/console/pool/groups")
def groups_page(request: Request, user: ConsoleUser, session: DbSession, page: int = 1) -> Response:
    listed = groups.list_groups(session, user, PageRequest(page, 100))
    return render(
        request,
        "console/pool_groups.html",
        {
            "groups": listed,
            "pager": listed,
            "group_codes": groups.list_group_codes(session, user),
            "percent": _percent,
            "purpose_values": list(GroupPurpose),
            "base_url": current_settings().base_url.rstrip("/"),
            **LABELS,
        },
        user=user,
    )


@router.post("/console/pool/group-codes", dependencies=[CsrfChecked])
def group_code_create(
    request: Request,
    user: ConsoleUser,
    session: DbSession,
    account_id: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    name_template: Annotated[str, Form()] = "",
    capacity: Annotated[str, Form()] = "",
    purpose: Annotated[str, Form()] = GroupPurpose.COUPON.value,
) -> Response:
    target = "/console/pool/groups"
    if not account_id.isdigit():
        flash(request, "创建失败：请填写群主运营号编号。", "danger")
        return RedirectResponse(target, status_code=303)
    try:
        group_code = groups.create_group_code(
            session,
            user,
            GroupCodeCreate(
                account_id=int(account_id),
                name=name,
                name_template=name_template or f"{name}{{n}}",
                capacity=int(capacity) if capacity.isdigit() else None,
                purpose=GroupPurpose(purpose)
                if purpose in GroupPurpose.__members__.values()
                else GroupPurpose.COUPON,
            ),
        )
    except AppError as error:
        return _fail(request, target, "创建", error)
    except ValueError:
        flash(request, "创建失败：名称最多 64 字。", "danger")
        return RedirectResponse(target, status_code=303)
    flash(request, f"已创建群活码 {group_code.name}，扫码地址 /g/{group_code.code}。")
    return RedirectResponse(target, status_code=303)


# --- operator inbox (console and H5) ----------------------------------------------------------


@router.get("/console/pool/tasks")
def tasks_page(
    request: Request, user: ConsoleUser, session: DbSession, status: str = "open", page: int = 1
) -> Response:
    selected = (
        AssistedTaskStatus(status) if status in AssistedTaskStatus.__members__.values() else None
    )
    tasks = inbox.list_tasks(session, user, PageRequest(page, 50), selected)
    return render(
        request,
        "console/pool_tasks.html",
        {
            "tasks": tasks,
            "pager": tasks,
            "status": status,
            "accounts": _account_names(session),
            **LABELS,
        },
        user=user,
    )


def _account_names(session: DbSession) -> Any:
    def name(account_id: int) -> str:
        account = session.get(OperatorAccount, account_id)
        return account.name if account else "—"

    return name


def _close_task(
    request: Request,
    user: ConsoleUser,
    session: DbSession,
    task_id: int,
    status: str,
    result_notes: str,
    reply_text: str,
    target: str,
) -> Response:
    if status not in ("done", "failed", "cancelled"):
        flash(request, "请选择“已完成”“失败”或“取消”。", "danger")
        return RedirectResponse(target, status_code=303)
    try:
        inbox.complete_task(
            session, user, task_id, AssistedTaskStatus(status), result_notes, reply_text
        )
    except AppError as error:
        return _fail(request, target, "提交", error)
    flash(request, f"任务已标记为“{ASSISTED_TASK_STATUS_LABELS[AssistedTaskStatus(status)]}”。")
    return RedirectResponse(target, status_code=303)


@router.post("/console/pool/tasks/{task_id}", dependencies=[CsrfChecked])
def task_close(
    request: Request,
    task_id: int,
    user: ConsoleUser,
    session: DbSession,
    status: Annotated[str, Form()] = "",
    result_notes: Annotated[str, Form()] = "",
    reply_text: Annotated[str, Form()] = "",
) -> Response:
    return _close_task(
        request, user, session, task_id, status, result_notes, reply_text, "/console/pool/tasks"
    )


@router.get("/h5/tasks")
def h5_tasks(request: Request, user: ConsoleUser, session: DbSession) -> Response:
    tasks = inbox.list_tasks(
        session, user, PageRequest(1, 100), AssistedTaskStatus.OPEN, today_only=True
    )
    adds = [t for t in tasks.items if t.source_kind == COURIER_TASK_SOURCE]
    phones = privacy.phones_for_own_work(
        session, user, [t.consumer_id for t in adds], "h5.tasks.courier_add"
    )
    return render(
        request,
        "h5/tasks.html",
        {
            "tasks": tasks,
            "accounts": _account_names(session),
            "phones": {t.id: phones[t.consumer_id] for t in adds if t.consumer_id in phones},
            **LABELS,
        },
        user=user,
    )


@router.post("/h5/tasks/{task_id}", dependencies=[CsrfChecked])
def h5_task_close(
    request: Request,
    task_id: int,
    user: ConsoleUser,
    session: DbSession,
    status: Annotated[str, Form()] = "",
    result_notes: Annotated[str, Form()] = "",
    reply_text: Annotated[str, Form()] = "",
) -> Response:
    return _close_task(
        request, user, session, task_id, status, result_notes, reply_text, "/h5/tasks"
    )


# --- public code pages -----------------------------------------------------------------------


@router.get("/c/{code}")
def code_landing(
    request: Request, code: str, session: DbSession, user: OptionalUser, state: str = ""
) -> Response:
    found = service.public_code(session, code)
    if found is None:
        return render(request, "h5/code_full.html", {"reason": "missing"}, status_code=404)
    return render(request, "h5/code_landing.html", {"code": found, "state": state, "kind": "c"})


@router.post("/c/{code}", dependencies=[CsrfChecked])
def code_scan(
    request: Request,
    code: str,
    session: DbSession,
    phone: Annotated[str, Form()] = "",
    state: Annotated[str, Form()] = "",
) -> Response:
    try:
        check_scan_allowed(request.client.host if request.client else "unknown")
        result = service.scan(session, code, ConsumerIdentity(phone=phone), state or None)
    except AppError as error:
        if error.status == 404:
            return render(request, "h5/code_full.html", {"reason": "missing"}, status_code=404)
        return render(
            request,
            "h5/code_landing.html",
            {
                "code": service.public_code(session, code),
                "state": state,
                "error": error.zh,
                "kind": "c",
            },
            status_code=error.status,
        )
    if result.account is None:
        return render(request, "h5/code_full.html", {"reason": result.outcome.value})
    from siyu.web.campaign_pages import note_scan_device

    note_scan_device(request, session, result)
    persona = session.get(Persona, result.account.persona_id) if result.account.persona_id else None
    return render(
        request,
        "h5/code_result.html",
        {"result": result, "account": result.account, "persona": persona, "code": result.code},
    )


@router.get("/g/{code}")
def group_landing(request: Request, code: str, session: DbSession) -> Response:
    return render(request, "h5/code_landing.html", {"code": None, "group_code": code, "kind": "g"})


@router.post("/g/{code}", dependencies=[CsrfChecked])
def group_join(
    request: Request, code: str, session: DbSession, phone: Annotated[str, Form()] = ""
) -> Response:
    try:
        check_scan_allowed(request.client.host if request.client else "unknown")
        result = groups.join_by_code(session, code, ConsumerIdentity(phone=phone))
    except AppError as error:
        if error.status == 404:
            return render(request, "h5/code_full.html", {"reason": "missing"}, status_code=404)
        return render(
            request,
            "h5/code_landing.html",
            {"code": None, "group_code": code, "error": error.zh, "kind": "g"},
            status_code=error.status,
        )
    if result.group is None:
        return render(request, "h5/code_full.html", {"reason": result.outcome})
    return render(request, "h5/group_result.html", {"result": result, "group": result.group})
