"""The personal-data access log for platform admins (PIPL): who saw whose data, and why."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from siyu.errors import AppError
from siyu.kit.pagination import PageRequest
from siyu.privacy import service as privacy
from siyu.web.deps import ConsoleUser, DbSession, render

router = APIRouter(include_in_schema=False)

FIELD_LABELS = {
    "phone_masked": "脱敏手机号",
    "phone_full": "完整手机号",
    "nickname": "昵称",
    "region": "地区",
    "address": "地址",
}


@router.get("/console/privacy/access-log")
def access_log_page(
    request: Request,
    user: ConsoleUser,
    session: DbSession,
    consumer: str = "",
    page: int = 1,
) -> Response:
    text = consumer.strip()
    subject_id = int(text) if text.isdigit() else None
    error = "用户编号应为数字。" if text and subject_id is None else None
    try:
        rows = privacy.access_log(session, user, PageRequest(page, 50), subject_id=subject_id)
    except AppError as failure:
        return render(
            request,
            "error.html",
            {"status": failure.status, "message": failure.zh},
            status_code=failure.status,
            user=user,
        )
    names = privacy.usernames(session, {row.actor_user_id for row in rows.items})
    return render(
        request,
        "console/access_log.html",
        {
            "rows": rows,
            "pager": rows,
            "consumer": text,
            "error": error,
            "names": names,
            "field_labels": FIELD_LABELS,
        },
        user=user,
    )
