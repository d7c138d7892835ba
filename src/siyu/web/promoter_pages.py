"""Console pages for promoters: list and search, create, detail with team tree, freeze; grades."""

from __future__ import annotations

from typing import Annotated, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from siyu.errors import AppError
from siyu.kit.money import format_yuan, parse_yuan
from siyu.kit.pagination import PageRequest
from siyu.models import PromoterKind, PromoterStatus
from siyu.promoters import service
from siyu.promoters.schemas import GradeUpdate, PromoterCreate
from siyu.web.deps import ConsoleUser, CsrfChecked, DbSession, flash, render

router = APIRouter(include_in_schema=False)

EnumT = TypeVar("EnumT", PromoterStatus, PromoterKind)

STATUS_LABELS = {PromoterStatus.ACTIVE: "正常", PromoterStatus.FROZEN: "已冻结"}
SOURCE_LABELS = {
    "signup": "注册时绑定",
    "rebind": "推手自助绑定",
    "admin": "平台创建",
    "system": "系统",
}
MODE_LABELS = {
    "first_bind_wins": "先绑定者优先",
    "new_users_only": "仅新推手",
    "override": "后绑定覆盖",
}


def _int_or_none(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() else None


def _enum_or_none(enum_class: type[EnumT], text: str) -> EnumT | None:
    try:
        return enum_class(text) if text else None
    except ValueError:
        return None


@router.get("/console/promoters")
def promoters_page(
    request: Request,
    user: ConsoleUser,
    session: DbSession,
    q: str = "",
    grade_id: str = "",
    status: str = "",
    kind: str = "",
    page: int = 1,
) -> Response:
    promoters = service.list_promoters(
        session,
        user,
        PageRequest(page, 50),
        q,
        grade_id=_int_or_none(grade_id),
        status=_enum_or_none(PromoterStatus, status),
        kind=_enum_or_none(PromoterKind, kind),
    )
    filters = {"q": q, "grade_id": grade_id, "status": status, "kind": kind}
    query = urlencode({key: value for key, value in filters.items() if value})
    return render(
        request,
        "console/promoters.html",
        {
            "promoters": promoters,
            "filters": filters,
            "query": query,
            "grades": service.list_grades(session, user),
            "statuses": STATUS_LABELS,
            "kinds": list(PromoterKind),
            "mask": service.masked_phone,
        },
        user=user,
    )


@router.post("/console/promoters", dependencies=[CsrfChecked])
def promoters_create(
    request: Request,
    user: ConsoleUser,
    session: DbSession,
    name: Annotated[str, Form()] = "",
    phone: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = PromoterKind.INDIVIDUAL.value,
    region: Annotated[str, Form()] = "",
    invite_code: Annotated[str, Form()] = "",
) -> Response:
    try:
        data = PromoterCreate(
            name=name,
            phone=phone,
            password=password,
            kind=_enum_or_none(PromoterKind, kind) or PromoterKind.INDIVIDUAL,
            region=region,
            invite_code=invite_code.strip() or None,
        )
    except ValidationError:
        flash(request, "创建失败：姓名最多 50 字，地区最多 64 字，邀请码最多 16 位。", "danger")
        return RedirectResponse("/console/promoters", status_code=303)
    try:
        result = service.create_promoter(session, user, data)
    except AppError as error:
        if error.status in (403, 404):
            raise
        flash(request, f"创建失败：{error.zh}", "danger")
        return RedirectResponse("/console/promoters", status_code=303)
    phone = service.masked_phone(result.promoter)
    flash(
        request,
        f"已创建推手 {result.promoter.name}，登录账号为手机号 {phone}，"
        f"邀请码 {result.promoter.invite_code}。",
    )
    return RedirectResponse(f"/console/promoters/{result.promoter.id}", status_code=303)


@router.get("/console/promoters/{promoter_id}")
def promoter_detail(
    request: Request, promoter_id: int, user: ConsoleUser, session: DbSession, page: int = 1
) -> Response:
    promoter = service.get_promoter(session, user, promoter_id)
    team = service.get_team(session, user, promoter.id, PageRequest(page, 50))
    return render(
        request,
        "console/promoter_detail.html",
        {
            "promoter": promoter,
            "team": team,
            "pager": team.members,
            "history": service.binding_history(session, user, promoter.id),
            "invite_link": service.invite_link(promoter),
            "statuses": STATUS_LABELS,
            "sources": SOURCE_LABELS,
            "modes": MODE_LABELS,
            "mask": service.masked_phone,
            "max_second_level": service.MAX_SECOND_LEVEL_SHOWN,
        },
        user=user,
    )


@router.post("/console/promoters/{promoter_id}/freeze", dependencies=[CsrfChecked])
def promoter_freeze(
    request: Request,
    promoter_id: int,
    user: ConsoleUser,
    session: DbSession,
    reason: Annotated[str, Form()] = "",
) -> Response:
    return _set_frozen(request, user, session, promoter_id, reason, frozen=True)


@router.post("/console/promoters/{promoter_id}/unfreeze", dependencies=[CsrfChecked])
def promoter_unfreeze(
    request: Request,
    promoter_id: int,
    user: ConsoleUser,
    session: DbSession,
    reason: Annotated[str, Form()] = "",
) -> Response:
    return _set_frozen(request, user, session, promoter_id, reason, frozen=False)


def _set_frozen(
    request: Request,
    user: ConsoleUser,
    session: DbSession,
    promoter_id: int,
    reason: str,
    frozen: bool,
) -> Response:
    target = f"/console/promoters/{promoter_id}"
    verb = "冻结" if frozen else "解冻"
    try:
        if frozen:
            promoter = service.freeze_promoter(session, user, promoter_id, reason)
        else:
            promoter = service.unfreeze_promoter(session, user, promoter_id, reason)
    except AppError as error:
        if error.status in (403, 404):
            raise
        flash(request, f"{verb}失败：{error.zh}", "danger")
        return RedirectResponse(target, status_code=303)
    flash(request, f"已{verb}推手 {promoter.name}。")
    return RedirectResponse(target, status_code=303)


@router.get("/console/grades")
def grades_page(request: Request, user: ConsoleUser, session: DbSession) -> Response:
    user.require_platform()
    return render(
        request,
        "console/grades.html",
        {"grades": service.list_grades(session, user), "yuan": format_yuan},
        user=user,
    )


@router.post("/console/grades/{grade_id}", dependencies=[CsrfChecked])
def grade_update(
    request: Request,
    grade_id: int,
    user: ConsoleUser,
    session: DbSession,
    name: Annotated[str, Form()] = "",
    min_direct_recruits: Annotated[str, Form()] = "",
    min_team_size: Annotated[str, Form()] = "",
    min_gmv_yuan: Annotated[str, Form()] = "",
) -> Response:
    user.require_admin()
    try:
        direct = _int_or_none(min_direct_recruits)
        team_size = _int_or_none(min_team_size)
        if direct is None or team_size is None:
            raise ValueError
        data = GradeUpdate(
            name=name.strip() or None,
            min_direct_recruits=direct,
            min_team_size=team_size,
            min_gmv_fen=parse_yuan(min_gmv_yuan or "0", "min_gmv", "GMV 门槛"),
        )
        grade = service.update_grade(session, user, grade_id, data)
    except (ValueError, ValidationError):
        flash(request, "保存失败：人数须为不小于 0 的整数，名称 1–32 个字。", "danger")
        return RedirectResponse("/console/grades", status_code=303)
    except AppError as error:
        if error.status in (403, 404):
            raise
        flash(request, f"保存失败：{error.zh}", "danger")
        return RedirectResponse("/console/grades", status_code=303)
    flash(request, f"已保存等级“{grade.name}”的升级条件。")
    return RedirectResponse("/console/grades", status_code=303)
