"""朋友圈日历: columns (fixed daily slots), the week calendar, scheduling a post with the lint
inline, and each post's publications with likes and comments."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from siyu.compliance import service as compliance
from siyu.compliance.rules import CATEGORY_LABELS, SEVERITY_LABELS, TextKind
from siyu.errors import AppError
from siyu.kit.time import shanghai_day, utc_now
from siyu.models import OperatorAccount
from siyu.models.moments import (
    MOMENT_POST_STATUS_LABELS,
    PUBLICATION_STATUS_LABELS,
    MomentColumnStatus,
)
from siyu.moments import rules, service
from siyu.moments.schemas import ColumnIn, PostIn
from siyu.pool import service as pool
from siyu.web.deps import ConsoleUser, CsrfChecked, DbSession, flash, render

router = APIRouter(include_in_schema=False)


def _ids(text: str) -> list[int]:
    return [
        int(part) for part in text.replace("，", ",").replace(" ", ",").split(",") if part.isdigit()
    ]


def _day(text: str | None) -> date:
    if text:
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    return shanghai_day(utc_now())


@router.get("/console/moments")
def calendar_page(
    request: Request, user: ConsoleUser, session: DbSession, day: str | None = None
) -> Response:
    user.require_platform()
    chosen = _day(day)
    week = service.calendar(session, user, chosen)
    return render(
        request,
        "console/moments.html",
        {
            "week": week,
            "today": shanghai_day(utc_now()),
            "previous": (week.days[0] - timedelta(days=7)).isoformat(),
            "next": (week.days[0] + timedelta(days=7)).isoformat(),
            "weekday_labels": rules.WEEKDAY_LABELS,
            "slot_label": rules.slot_label,
            "status_labels": MOMENT_POST_STATUS_LABELS,
            "personas": pool.list_personas(session, user),
            "accounts_of": lambda column: service.column_accounts(session, column),
        },
        user=user,
    )


@router.post("/console/moments/columns", dependencies=[CsrfChecked])
def column_create(
    request: Request,
    user: ConsoleUser,
    session: DbSession,
    name: Annotated[str, Form()] = "",
    slot: Annotated[str, Form()] = "",
    weekdays: Annotated[list[int] | None, Form()] = None,
    persona_id: Annotated[str, Form()] = "",
    account_ids: Annotated[str, Form()] = "",
) -> Response:
    try:
        column = service.create_column(
            session,
            user,
            ColumnIn(
                name=name[:40],
                slot=slot,
                weekdays=weekdays or [],
                persona_id=int(persona_id) if persona_id.isdigit() else None,
                account_ids=_ids(account_ids),
            ),
        )
    except AppError as error:
        if error.status in (403, 404):
            raise
        flash(request, f"创建栏目失败：{error.zh}", "danger")
        return RedirectResponse("/console/moments", status_code=303)
    flash(request, f"已创建栏目“{column.name}”（每天 {rules.slot_label(column.slot_minute)}）。")
    return RedirectResponse("/console/moments", status_code=303)


@router.post("/console/moments/columns/{column_id}/status", dependencies=[CsrfChecked])
def column_status(
    request: Request,
    column_id: int,
    user: ConsoleUser,
    session: DbSession,
    status: Annotated[str, Form()] = "",
) -> Response:
    chosen = (
        MomentColumnStatus(status)
        if status in MomentColumnStatus.__members__.values()
        else MomentColumnStatus.PAUSED
    )
    column = service.set_column_status(session, user, column_id, chosen)
    flash(
        request,
        f"栏目“{column.name}”已{'启用' if chosen == MomentColumnStatus.ACTIVE else '暂停'}。",
    )
    return RedirectResponse("/console/moments", status_code=303)


def _post_form(
    request: Request,
    user: ConsoleUser,
    session: DbSession,
    values: dict[str, Any],
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    column = service.get_column(session, user, int(values["column_id"]))
    findings = (
        compliance.lint_text(values.get("text", ""), TextKind.MOMENT) if values.get("text") else []
    )
    return render(
        request,
        "console/moment_post_form.html",
        {
            "column": column,
            "values": values,
            "error": error,
            "findings": findings,
            "blocking": any(finding.blocking for finding in findings),
            "severity_labels": SEVERITY_LABELS,
            "category_labels": CATEGORY_LABELS,
            "slot_label": rules.slot_label,
            "account_count": len(service.column_accounts(session, column)),
        },
        status_code=status_code,
        user=user,
    )


@router.get("/console/moments/new")
def post_new(
    request: Request, user: ConsoleUser, session: DbSession, column_id: int, day: str = ""
) -> Response:
    return _post_form(
        request,
        user,
        session,
        {
            "column_id": column_id,
            "publish_on": _day(day).isoformat(),
            "text": "",
            "images": "",
            "link_url": "",
        },
    )


@router.post("/console/moments/new", dependencies=[CsrfChecked])
def post_create(
    request: Request,
    user: ConsoleUser,
    session: DbSession,
    column_id: Annotated[int, Form()],
    publish_on: Annotated[str, Form()] = "",
    text: Annotated[str, Form()] = "",
    images: Annotated[str, Form()] = "",
    link_url: Annotated[str, Form()] = "",
    override_reason: Annotated[str, Form()] = "",
    check_only: Annotated[str, Form()] = "",
) -> Response:
    values = {
        "column_id": column_id,
        "publish_on": publish_on,
        "text": text,
        "images": images,
        "link_url": link_url.strip(),
        "override_reason": override_reason,
    }
    if check_only:
        return _post_form(request, user, session, values)
    try:
        day = date.fromisoformat(publish_on)
    except ValueError:
        return _post_form(request, user, session, values, "请选择发布日期。", 422)
    try:
        post = service.schedule_post(
            session,
            user,
            PostIn(
                column_id=column_id,
                publish_on=day,
                text=text,
                image_urls=[line.strip() for line in images.splitlines() if line.strip()],
                link_url=link_url.strip(),
                override_reason=override_reason.strip() or None,
            ),
        )
    except AppError as error:
        if error.status in (403, 404):
            raise
        session.rollback()
        return _post_form(request, user, session, values, error.zh, 422)
    flash(
        request,
        f"已排期：{post.publish_on.isoformat()} {rules.slot_label(post.column.slot_minute)}。",
    )
    return RedirectResponse(f"/console/moments/posts/{post.id}", status_code=303)


@router.get("/console/moments/posts/{post_id}")
def post_detail(request: Request, post_id: int, user: ConsoleUser, session: DbSession) -> Response:
    post = service.get_post(session, user, post_id)
    views = service.publications(session, user, post_id)
    accounts = {
        view.publication.account_id: session.get(OperatorAccount, view.publication.account_id)
        for view in views
    }
    return render(
        request,
        "console/moment_post.html",
        {
            "post": post,
            "views": views,
            "accounts": accounts,
            "slot_label": rules.slot_label,
            "status_labels": MOMENT_POST_STATUS_LABELS,
            "publication_labels": PUBLICATION_STATUS_LABELS,
            "likes": sum(view.likes for view in views),
            "comments": sum(view.comments for view in views),
        },
        user=user,
    )


@router.post("/console/moments/posts/{post_id}/cancel", dependencies=[CsrfChecked])
def post_cancel(request: Request, post_id: int, user: ConsoleUser, session: DbSession) -> Response:
    try:
        service.cancel_post(session, user, post_id)
    except AppError as error:
        if error.status in (403, 404):
            raise
        flash(request, f"取消失败：{error.zh}", "danger")
    else:
        flash(request, "已取消未发布的部分。")
    return RedirectResponse(f"/console/moments/posts/{post_id}", status_code=303)
