"""Console pages for broadcasts (群发): list, composer (live audience count and lint over htmx),
detail with the plan (now / later / never and why), results and recipients."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from siyu.compliance import rules as compliance_rules
from siyu.errors import AppError
from siyu.kit.pagination import PageRequest
from siyu.kit.time import parse_shanghai_local
from siyu.links import service as links
from siyu.models import GROUP_PURPOSE_LABELS
from siyu.models.outreach import (
    AUDIENCE_KIND_LABELS,
    BROADCAST_STATUS_LABELS,
    CONTENT_KIND_LABELS,
    SEND_STATUS_LABELS,
)
from siyu.outreach import rules, service
from siyu.outreach.schemas import AudienceIn, BroadcastIn
from siyu.segments import service as segments
from siyu.segments import tags
from siyu.web.deps import ConsoleUser, CsrfChecked, DbSession, flash, render

router = APIRouter(include_in_schema=False)

LABELS: dict[str, Any] = {
    "audience_labels": AUDIENCE_KIND_LABELS,
    "content_labels": CONTENT_KIND_LABELS,
    "status_labels": BROADCAST_STATUS_LABELS,
    "send_labels": SEND_STATUS_LABELS,
    "purpose_labels": GROUP_PURPOSE_LABELS,
    "never_labels": rules.NEVER_REASON_LABELS,
    "later_labels": rules.LATER_REASON_LABELS,
    "skip_labels": rules.SKIP_REASON_LABELS,
    "severity_labels": compliance_rules.SEVERITY_LABELS,
    "category_labels": compliance_rules.CATEGORY_LABELS,
}


def _ids(text: str) -> list[int]:
    return [int(part) for part in text.replace("，", ",").split(",") if part.strip().isdigit()]


def _form_data(form: FormData) -> BroadcastIn:
    """The composer's fields as the API's input (raises on bad input)."""
    values = {key: str(value) for key, value in form.items() if key != "csrf_token"}
    kind = values.get("audience_kind", "segment")
    audience = AudienceIn(
        kind=kind,
        segment_id=int(values["segment_id"]) if values.get("segment_id", "").isdigit() else None,
        tag_ids=_ids(values.get("tag_ids", "")),
        group_ids=_ids(values.get("group_ids", "")),
        purpose=values.get("purpose") or None,
        group_code_ids=_ids(values.get("group_code_ids", "")),
    )
    start = values.get("start_at", "").strip()
    return BroadcastIn(
        name=values.get("name", "").strip() or "未命名群发",
        audience=audience,
        content_kind=values.get("content_kind", "text"),
        text=values.get("text", ""),
        title=values.get("title", ""),
        image_url=values.get("image_url", ""),
        link_id=int(values["link_id"]) if values.get("link_id", "").isdigit() else None,
        start_at=parse_shanghai_local(start) if start else None,
        messages_per_minute=int(values.get("messages_per_minute") or 10),
        jitter_seconds=int(values.get("jitter_seconds") or 20),
        override_reason=values.get("override_reason") or None,
    )


def _composer_context(session: Any, user: Any) -> dict[str, Any]:
    try:
        link_page = links.list_links(session, user, PageRequest(1, 100), active_only=True)
        link_rows = list(link_page.items)
    except AppError:
        link_rows = []
    return {
        **LABELS,
        "segments": segments.list_segments(session, user),
        "tags": tags.list_tags(session, user),
        "links": link_rows,
    }


@router.get("/console/broadcasts")
def broadcasts_page(request: Request, user: ConsoleUser, session: DbSession) -> Response:
    rows = service.list_broadcasts(session, user)
    return render(request, "console/broadcasts.html", {**LABELS, "rows": rows}, user=user)


@router.get("/console/broadcasts/new")
def composer_page(request: Request, user: ConsoleUser, session: DbSession) -> Response:
    context = _composer_context(session, user)
    return render(
        request, "console/broadcast_new.html", {**context, "values": {}, "error": ""}, user=user
    )


@router.post("/console/broadcasts/preview", response_class=HTMLResponse)
async def composer_preview(request: Request, user: ConsoleUser, session: DbSession) -> Response:
    """htmx: the audience count and the lint findings for what is typed so far."""
    form = await request.form()
    error = ""
    audience = reachable = 0
    findings: list[Any] = []
    try:
        data = _form_data(form)
        audience, reachable = service.audience_count(session, user, data.audience)
        findings = service.lint(data)
    except AppError as problem:
        error = problem.zh
    except (ValidationError, ValueError):
        error = "请检查填写的内容。"
    return render(
        request,
        "console/broadcast_preview.html",
        {
            **LABELS,
            "error": error,
            "audience": audience,
            "reachable": reachable,
            "findings": findings,
            "blocking": any(item.blocking for item in findings),
        },
        user=user,
    )


@router.post("/console/broadcasts/plan-preview", response_class=HTMLResponse)
async def composer_plan_preview(
    request: Request, user: ConsoleUser, session: DbSession
) -> Response:
    """htmx (button): the plan this draft would get — now / later / never with reasons."""
    form = await request.form()
    error = ""
    plan: dict[str, Any] = {}
    try:
        plan = service.preview_plan(session, user, _form_data(form)).model_dump(mode="json")
    except AppError as problem:
        error = problem.zh
    except (ValidationError, ValueError):
        error = "请检查填写的内容。"
    return render(
        request,
        "console/broadcast_plan.html",
        {**LABELS, "error": error, "plan": plan},
        user=user,
    )


@router.post("/console/broadcasts", dependencies=[CsrfChecked])
async def composer_submit(request: Request, user: ConsoleUser, session: DbSession) -> Response:
    form = await request.form()
    values = {key: str(value) for key, value in form.items()}
    try:
        data = _form_data(form)
        broadcast = service.create_broadcast(session, user, data)
    except AppError as problem:
        session.rollback()
        return _composer_error(request, user, session, values, problem.zh, problem.status)
    except (ValidationError, ValueError):
        session.rollback()
        return _composer_error(request, user, session, values, "请检查填写的内容。", 422)
    flash(request, "群发已保存为草稿并生成发送计划，确认后点“开始发送”。")
    return RedirectResponse(f"/console/broadcasts/{broadcast.id}", status_code=303)


def _composer_error(
    request: Request, user: Any, session: Any, values: dict[str, str], error: str, status: int
) -> Response:
    context = _composer_context(session, user)
    return render(
        request,
        "console/broadcast_new.html",
        {**context, "values": values, "error": error},
        status_code=status if status >= 400 else 422,
        user=user,
    )


@router.get("/console/broadcasts/{broadcast_id}")
def broadcast_page(
    request: Request, user: ConsoleUser, session: DbSession, broadcast_id: int, page: int = 1
) -> Response:
    broadcast = service.get_broadcast(session, user, broadcast_id)
    return render(
        request,
        "console/broadcast_detail.html",
        {
            **LABELS,
            "broadcast": broadcast,
            "plan": broadcast.plan or {},
            "results": service.results(session, user, broadcast_id),
            "recipients": service.recipients(session, user, broadcast_id, page),
            "page": max(1, page),
            "page_size": service.RECIPIENTS_PAGE,
        },
        user=user,
    )


def _action(request: Request, broadcast_id: int, done: str, run: Any) -> Response:
    try:
        run()
        flash(request, done)
    except AppError as problem:
        flash(request, problem.zh, "danger")
    return RedirectResponse(f"/console/broadcasts/{broadcast_id}", status_code=303)


@router.post("/console/broadcasts/{broadcast_id}/start", dependencies=[CsrfChecked])
async def start_broadcast(
    request: Request, user: ConsoleUser, session: DbSession, broadcast_id: int
) -> Response:
    form = await request.form()
    reason = str(form.get("override_reason") or "") or None
    return _action(
        request,
        broadcast_id,
        "已开始发送：按计划分批发出，免打扰时段不发送。",
        lambda: service.start(session, user, broadcast_id, reason),
    )


@router.post("/console/broadcasts/{broadcast_id}/plan", dependencies=[CsrfChecked])
def replan_broadcast(
    request: Request, user: ConsoleUser, session: DbSession, broadcast_id: int
) -> Response:
    return _action(
        request,
        broadcast_id,
        "已重新生成发送计划。",
        lambda: service.plan(session, user, broadcast_id),
    )


@router.post("/console/broadcasts/{broadcast_id}/cancel", dependencies=[CsrfChecked])
def cancel_broadcast(
    request: Request, user: ConsoleUser, session: DbSession, broadcast_id: int
) -> Response:
    return _action(
        request,
        broadcast_id,
        "群发已取消，未发出的消息不会再发。",
        lambda: service.cancel(session, user, broadcast_id),
    )


@router.post("/console/broadcasts/{broadcast_id}/retry", dependencies=[CsrfChecked])
def retry_broadcast(
    request: Request, user: ConsoleUser, session: DbSession, broadcast_id: int
) -> Response:
    return _action(
        request,
        broadcast_id,
        "失败的消息已重新排队。",
        lambda: service.retry_failed(session, user, broadcast_id),
    )
