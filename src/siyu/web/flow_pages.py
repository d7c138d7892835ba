"""Console pages of scripts (话术库), conversation flows (SOP) and conversations.

The step editor is a form with one row per step; each row's text fields use the small
languages of siyu.flows.rules (match rules ``1-5 -> next``, outcomes ``sold_out -> sorry``,
branches ``款式 = 1 -> one``), so a flow can be written and read without JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from siyu.compliance import rules as compliance_rules
from siyu.errors import AppError
from siyu.flows import rules, service
from siyu.flows.templates import TEMPLATE_LABELS
from siyu.kit.pagination import PageRequest
from siyu.models.flows import (
    CONVERSATION_STATUS_LABELS,
    FLOW_STATUS_LABELS,
    ConversationStatus,
)
from siyu.pool import service as pool
from siyu.web.deps import ConsoleUser, CsrfChecked, DbSession, flash, render

router = APIRouter(include_in_schema=False)

ROW_FIELDS = (
    "id",
    "type",
    "script_id",
    "text",
    "match",
    "save_as",
    "timeout",
    "reminder",
    "max_reminders",
    "reminder_text",
    "on_timeout",
    "retry_text",
    "max_retries",
    "on_exhausted",
    "action",
    "params",
    "routes",
    "next",
)
EMPTY_ROWS = 3
LABELS: dict[str, Any] = {
    "flow_statuses": FLOW_STATUS_LABELS,
    "conversation_statuses": CONVERSATION_STATUS_LABELS,
    "step_types": rules.STEP_TYPE_LABELS,
    "severity_labels": compliance_rules.SEVERITY_LABELS,
    "category_labels": compliance_rules.CATEGORY_LABELS,
    "templates": TEMPLATE_LABELS,
}


def _fail(request: Request, target: str, verb: str, error: AppError) -> Response:
    if error.status in (403, 404):
        raise error
    flash(request, f"{verb}失败：{error.zh}", "danger")
    return RedirectResponse(target, status_code=303)


# --- rows <-> steps (pure) --------------------------------------------------------------------


def _number(value: Any) -> str:
    return str(value) if isinstance(value, int) else ""


def row_of(step: Mapping[str, Any]) -> dict[str, str]:
    kind = str(step.get("type") or "")
    routes = ""
    if kind == "action":
        routes = rules.format_outcomes(step.get("on") or {})
    elif kind == "branch":
        routes = rules.format_branches(step.get("branches") or [])
    return {
        "id": str(step.get("id") or ""),
        "type": kind,
        "script_id": _number(step.get("script_id")),
        "text": str(step.get("text") or ""),
        "match": rules.format_match_rules(
            rules.MatchRule.from_dict(rule) for rule in step.get("match") or []
        ),
        "save_as": str(step.get("save_as") or ""),
        "timeout": _number(step.get("timeout_minutes")),
        "reminder": _number(step.get("reminder_minutes")),
        "max_reminders": _number(step.get("max_reminders")),
        "reminder_text": str(step.get("reminder_text") or "")
        or (f"#{step['reminder_script_id']}" if step.get("reminder_script_id") else ""),
        "on_timeout": str(step.get("on_timeout") or ""),
        "retry_text": str(step.get("retry_text") or "")
        or (f"#{step['retry_script_id']}" if step.get("retry_script_id") else ""),
        "max_retries": _number(step.get("max_retries")),
        "on_exhausted": str(step.get("on_retries_exhausted") or ""),
        "action": str(step.get("action") or ""),
        "params": "\n".join(f"{key}={value}" for key, value in (step.get("params") or {}).items()),
        "routes": routes,
        "next": str(step.get("next") or ""),
    }


def _int(text: str, field: str, step_id: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit():
        raise rules.RuleSyntaxError(f"步骤 {step_id}：{field}必须是整数")
    return int(text)


def _script_or_text(value: str, script_key: str, text_key: str, step: dict[str, Any]) -> None:
    """``#12`` names library script 12; anything else is inline text."""
    value = value.strip()
    if value.startswith("#") and value[1:].isdigit():
        step[script_key] = int(value[1:])
    elif value:
        step[text_key] = value


def step_of(row: Mapping[str, str]) -> dict[str, Any]:
    step_id = row.get("id", "").strip()
    kind = row.get("type", "").strip()
    step: dict[str, Any] = {"id": step_id, "type": kind}
    if row.get("next", "").strip():
        step["next"] = row["next"].strip()
    if kind in ("send", "handover") and row.get("text", "").strip():
        step["text"] = row["text"].strip()
    if kind == "send" and row.get("script_id", "").strip().isdigit():
        step["script_id"] = int(row["script_id"])
    if kind == "wait":
        step["match"] = [rule.as_dict() for rule in rules.parse_match_rules(row.get("match", ""))]
        if row.get("save_as", "").strip():
            step["save_as"] = row["save_as"].strip()
        for key, field, label in (
            ("timeout_minutes", "timeout", "超时"),
            ("reminder_minutes", "reminder", "提醒间隔"),
            ("max_reminders", "max_reminders", "提醒次数"),
            ("max_retries", "max_retries", "重试次数"),
        ):
            value = _int(row.get(field, ""), label, step_id)
            if value is not None:
                step[key] = value
        _script_or_text(row.get("reminder_text", ""), "reminder_script_id", "reminder_text", step)
        _script_or_text(row.get("retry_text", ""), "retry_script_id", "retry_text", step)
        if row.get("on_timeout", "").strip():
            step["on_timeout"] = row["on_timeout"].strip()
        if row.get("on_exhausted", "").strip():
            step["on_retries_exhausted"] = row["on_exhausted"].strip()
    if kind == "action":
        step["action"] = row.get("action", "").strip()
        params: dict[str, str] = {}
        for line in row.get("params", "").splitlines():
            name, separator, text = line.partition("=")
            if separator and name.strip():
                params[name.strip()] = text.strip()
        if params:
            step["params"] = params
        outcomes = rules.parse_outcomes(row.get("routes", ""))
        if outcomes:
            step["on"] = outcomes
    if kind == "branch":
        step["branches"] = rules.parse_branches(row.get("routes", ""))
    return step


def steps_of_form(columns: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
    count = len(columns.get("id", []))
    steps = []
    for index in range(count):
        row = {
            field: (columns.get(field) or [""] * count)[index]
            if index < len(columns.get(field) or [])
            else ""
            for field in ROW_FIELDS
        }
        if not row["id"].strip() and not row["type"].strip():
            continue
        steps.append(step_of(row))
    return steps


# --- scripts ----------------------------------------------------------------------------------


@router.get("/console/scripts")
def scripts_page(
    request: Request, user: ConsoleUser, session: DbSession, category: str = ""
) -> Response:
    listed = service.list_scripts(session, user, category or None)
    return render(
        request,
        "console/scripts.html",
        {
            "scripts": listed,
            "categories": service.script_categories(session, user),
            "category": category,
            "personas": {p.id: p for p in pool.list_personas(session, user)},
            **LABELS,
        },
        user=user,
    )


@router.post("/console/scripts", dependencies=[CsrfChecked])
def script_create(
    request: Request,
    user: ConsoleUser,
    session: DbSession,
    name: Annotated[str, Form()] = "",
    category: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
    persona_id: Annotated[str, Form()] = "",
    override_reason: Annotated[str, Form()] = "",
) -> Response:
    try:
        script = service.create_script(
            session,
            user,
            name,
            body,
            category=category,
            persona_id=int(persona_id) if persona_id.isdigit() else None,
            override_reason=override_reason.strip() or None,
        )
    except AppError as error:
        return _fail(request, "/console/scripts", "保存", error)
    flash(request, f"已保存话术“{script.name}”（第 1 版）。")
    return RedirectResponse(f"/console/scripts/{script.id}", status_code=303)


@router.post("/console/scripts/preview", response_class=HTMLResponse)
async def script_preview(request: Request, user: ConsoleUser) -> HTMLResponse:
    """Live preview (htmx): the body with sample values and its lint findings."""
    user.require_platform()
    form = await request.form()
    body = str(form.get("body") or "")
    try:
        result = service.preview(body)
    except AppError as error:
        return HTMLResponse(f'<div class="text-danger small">{escape(error.zh)}</div>')
    return render(request, "console/scripts_preview.html", {"preview": result, **LABELS}, user=user)


@router.get("/console/scripts/{script_id}")
def script_detail(
    request: Request, script_id: int, user: ConsoleUser, session: DbSession
) -> Response:
    script = service.get_script(session, user, script_id)
    versions = service.script_versions(session, user, script_id)
    current = versions[0]
    return render(
        request,
        "console/scripts_detail.html",
        {
            "script": script,
            "current": current,
            "versions": versions,
            "preview": service.preview(current.body),
            "personas": pool.list_personas(session, user),
            **LABELS,
        },
        user=user,
    )


@router.post("/console/scripts/{script_id}", dependencies=[CsrfChecked])
def script_update(
    request: Request,
    script_id: int,
    user: ConsoleUser,
    session: DbSession,
    name: Annotated[str, Form()] = "",
    category: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
    persona_id: Annotated[str, Form()] = "",
    override_reason: Annotated[str, Form()] = "",
) -> Response:
    target = f"/console/scripts/{script_id}"
    try:
        script = service.update_script(
            session,
            user,
            script_id,
            name=name or None,
            category=category or None,
            body=body or None,
            persona_id=int(persona_id) if persona_id.isdigit() else 0,
            override_reason=override_reason.strip() or None,
        )
    except AppError as error:
        return _fail(request, target, "保存", error)
    flash(request, f"已保存，当前为第 {script.current_version} 版。")
    return RedirectResponse(target, status_code=303)


# --- flows ------------------------------------------------------------------------------------


@router.get("/console/flows")
def flows_page(request: Request, user: ConsoleUser, session: DbSession) -> Response:
    listed = service.list_flows(session, user)
    return render(
        request,
        "console/flows.html",
        {
            "flows": listed,
            "counts": service.conversation_counts(session, [flow.id for flow in listed]),
            "unknown": {flow.id: service.unknown_actions(flow.draft) for flow in listed},
            **LABELS,
        },
        user=user,
    )


@router.post("/console/flows", dependencies=[CsrfChecked])
def flow_create(
    request: Request,
    user: ConsoleUser,
    session: DbSession,
    name: Annotated[str, Form()] = "",
) -> Response:
    try:
        flow = service.create_flow(
            session, user, name, [{"id": "start", "type": "send", "text": "您好！"}]
        )
    except AppError as error:
        return _fail(request, "/console/flows", "创建", error)
    flash(request, "已创建草稿，请编辑步骤后发布。")
    return RedirectResponse(f"/console/flows/{flow.id}", status_code=303)


@router.post("/console/flows/templates", dependencies=[CsrfChecked])
def template_install(
    request: Request,
    user: ConsoleUser,
    session: DbSession,
    template: Annotated[str, Form()] = "",
    override_reason: Annotated[str, Form()] = "",
) -> Response:
    try:
        flow = service.install_template(
            session, user, template, override_reason=override_reason.strip() or None
        )
    except AppError as error:
        return _fail(request, "/console/flows", "安装", error)
    missing = service.unknown_actions(flow.draft)
    if missing:
        flash(
            request,
            f"已安装模板（草稿）。以下动作尚未注册，注册后才能发布：{', '.join(missing)}",
            "warning",
        )
    else:
        flash(request, "已安装并发布模板。")
    return RedirectResponse(f"/console/flows/{flow.id}", status_code=303)


@router.get("/console/flows/{flow_id}")
def flow_detail(request: Request, flow_id: int, user: ConsoleUser, session: DbSession) -> Response:
    flow = service.get_flow(session, user, flow_id)
    rows = [row_of(step) for step in rules.steps_of(flow.draft)]
    rows += [dict.fromkeys(ROW_FIELDS, "") for _ in range(EMPTY_ROWS)]
    settings = flow.draft.get("settings") or {}
    return render(
        request,
        "console/flows_detail.html",
        {
            "flow": flow,
            "rows": rows,
            "settings": settings,
            "versions": service.flow_versions(session, user, flow_id),
            "scripts": service.list_scripts(session, user),
            "unknown": service.unknown_actions(flow.draft),
            "problems": rules.problems(flow.draft),
            "counts": service.conversation_counts(session, [flow.id]),
            **LABELS,
        },
        user=user,
    )


@router.post("/console/flows/{flow_id}", dependencies=[CsrfChecked])
async def flow_save(
    request: Request, flow_id: int, user: ConsoleUser, session: DbSession
) -> Response:
    target = f"/console/flows/{flow_id}"
    form = await request.form()
    columns = {field: [str(value) for value in form.getlist(field)] for field in ROW_FIELDS}
    max_retries = str(form.get("max_retries") or "").strip()
    settings: dict[str, Any] = {
        "retry_text": str(form.get("retry_text_default") or "").strip(),
        "on_retries_exhausted": str(form.get("on_retries_exhausted") or "").strip(),
    }
    if max_retries.isdigit():
        settings["max_retries"] = int(max_retries)
    settings = {key: value for key, value in settings.items() if value != ""}
    try:
        steps = steps_of_form(columns)
        service.update_flow(
            session,
            user,
            flow_id,
            name=str(form.get("name") or ""),
            description=str(form.get("description") or ""),
            steps=steps,
            settings=settings,
        )
    except rules.RuleSyntaxError as error:
        flash(request, f"保存失败：{error}", "danger")
        return RedirectResponse(target, status_code=303)
    except AppError as error:
        return _fail(request, target, "保存", error)
    if not form.get("publish"):
        flash(request, "草稿已保存。")
        return RedirectResponse(target, status_code=303)
    try:
        version = service.publish_flow(session, user, flow_id)
    except AppError as error:
        return _fail(request, target, "草稿已保存，但发布", error)
    flash(request, f"已发布第 {version.version} 版；进行中的会话仍按原版本运行。")
    return RedirectResponse(target, status_code=303)


# --- conversations ----------------------------------------------------------------------------


@router.get("/console/flows/{flow_id}/conversations")
def flow_conversations(
    request: Request,
    flow_id: int,
    user: ConsoleUser,
    session: DbSession,
    status: str = "",
    page: int = 1,
) -> Response:
    flow = service.get_flow(session, user, flow_id)
    selected = (
        ConversationStatus(status) if status in ConversationStatus.__members__.values() else None
    )
    listed = service.list_conversations(
        session,
        user,
        PageRequest(page, 50),
        flow.id,
        selected,
        purpose="console.flow_conversations",
    )
    return render(
        request,
        "console/flows_conversations.html",
        {"flow": flow, "conversations": listed, "pager": listed, "status": status, **LABELS},
        user=user,
    )


@router.get("/console/conversations/{conversation_id}")
def conversation_detail(
    request: Request, conversation_id: int, user: ConsoleUser, session: DbSession
) -> Response:
    history = service.conversation_history(
        session, user, conversation_id, "console.conversation_detail"
    )
    flow = service.get_flow(session, user, history.conversation.flow_id)
    return render(
        request,
        "console/flows_conversation.html",
        {
            "history": history,
            "conversation": history.conversation,
            "flow": flow,
            "simulated": service.is_simulated(session, history.conversation),
            **LABELS,
        },
        user=user,
    )


@router.post("/console/conversations/{conversation_id}/resume", dependencies=[CsrfChecked])
def conversation_resume(
    request: Request,
    conversation_id: int,
    user: ConsoleUser,
    session: DbSession,
    step_id: Annotated[str, Form()] = "",
) -> Response:
    target = f"/console/conversations/{conversation_id}"
    try:
        service.resume_conversation(session, user, conversation_id, step_id)
    except AppError as error:
        return _fail(request, target, "继续", error)
    flash(request, "会话已继续。")
    return RedirectResponse(target, status_code=303)


@router.post("/console/conversations/{conversation_id}/simulate", dependencies=[CsrfChecked])
def conversation_simulate(
    request: Request,
    conversation_id: int,
    user: ConsoleUser,
    session: DbSession,
    text: Annotated[str, Form()] = "",
) -> Response:
    target = f"/console/conversations/{conversation_id}"
    try:
        service.simulate_reply(session, user, conversation_id, text)
    except AppError as error:
        return _fail(request, target, "模拟", error)
    flash(request, "已模拟客户回复，处理完成后刷新即可看到。")
    return RedirectResponse(target, status_code=303)


@router.post("/console/conversations/{conversation_id}/cancel", dependencies=[CsrfChecked])
def conversation_cancel(
    request: Request, conversation_id: int, user: ConsoleUser, session: DbSession
) -> Response:
    target = f"/console/conversations/{conversation_id}"
    try:
        service.cancel_conversation(session, user, conversation_id)
    except AppError as error:
        return _fail(request, target, "取消", error)
    flash(request, "会话已取消。")
    return RedirectResponse(target, status_code=303)
