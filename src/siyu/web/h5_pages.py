"""Promoter H5 pages (phone-first, Chinese): join through an invite link, me, invite, team, bind.

Errors render inside the H5 layout and always say what to do next.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.auth.ratelimit import check_signup_allowed
from siyu.errors import AppError
from siyu.kit.pagination import PageRequest
from siyu.kit.qr import qr_png
from siyu.models import Promoter, PromoterStatus, Role
from siyu.promoters import service
from siyu.promoters.schemas import SignupIn
from siyu.web.deps import (
    ConsoleUser,
    CsrfChecked,
    DbSession,
    OptionalUser,
    flash,
    render,
    reset_session,
)

router = APIRouter(include_in_schema=False)

_INVITE_ERRORS = (service.InviteCodeNotFound, service.InviterFrozen)
_FROZEN_QR = "您的账号已被冻结，暂时不能邀请新推手，邀请二维码已停用。如有疑问请联系平台客服。"


def _error(
    request: Request, error: AppError, user: Principal | None, status: int | None = None
) -> Response:
    return render(
        request,
        "h5/error.html",
        {"status": status or error.status, "message": error.zh},
        status_code=status or error.status,
        user=user if user is not None and user.role == Role.PROMOTER else None,
    )


def _own(session: Session, user: Principal) -> Promoter:
    """The signed-in promoter, or NotAPromoter for any other role."""
    return service.get_own_promoter(session, user)


# ---- join (public) ---------------------------------------------------------------------------


def _join_form(
    request: Request,
    inviter: Promoter | None,
    invite_code: str = "",
    values: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "h5/join.html",
        {
            "inviter": inviter,
            "invite_code": invite_code,
            "values": values or {},
            "error": error,
        },
        status_code=status_code,
    )


def _invalid_invite(request: Request, error: AppError, invite_code: str) -> Response:
    return render(
        request,
        "h5/join_invalid.html",
        {
            "message": error.zh,
            "invite_code": invite_code,
            "frozen": isinstance(error, service.InviterFrozen),
        },
        status_code=error.status,
    )


@router.get("/join")
def join_without_code(request: Request, user: OptionalUser) -> Response:
    if user is not None and user.role == Role.PROMOTER:
        return RedirectResponse("/h5/me", status_code=303)
    return _join_form(request, None)


@router.get("/join/{invite_code}")
def join_page(
    request: Request, invite_code: str, user: OptionalUser, session: DbSession
) -> Response:
    if user is not None and user.role == Role.PROMOTER:
        # Already a promoter: the invite link becomes a binding request (the mode decides).
        return RedirectResponse(f"/h5/bind?code={invite_code}", status_code=303)
    try:
        inviter = service.find_inviter(session, invite_code)
    except _INVITE_ERRORS as error:
        return _invalid_invite(request, error, invite_code)
    return _join_form(request, inviter, inviter.invite_code)


@router.post("/join", dependencies=[CsrfChecked])
def join_submit(
    request: Request,
    session: DbSession,
    invite_code: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    phone: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    values = {"name": name, "phone": phone}
    code = service.normalize_invite_code(invite_code) or ""
    try:
        inviter = service.find_inviter(session, code) if code else None
    except _INVITE_ERRORS as error:
        return _invalid_invite(request, error, invite_code)
    try:
        check_signup_allowed(request.client.host if request.client else "unknown")
        result = service.sign_up(
            session,
            SignupIn(invite_code=code or None, name=name[:50], phone=phone[:32], password=password),
        )
    except _INVITE_ERRORS as error:  # pragma: no cover - the inviter was frozen meanwhile
        return _invalid_invite(request, error, invite_code)
    except AppError as error:
        return _join_form(request, inviter, code, values, error.zh, error.status)
    except ValueError:
        # Over-long input (pydantic); the form's maxlength normally prevents it.
        return _join_form(request, inviter, code, values, "输入过长，请检查后重试。", 422)
    reset_session(request)
    request.session["user_id"] = result.user.id
    request.session["session_version"] = result.user.session_version
    phone = service.masked_phone(result.promoter)
    flash(request, f"注册成功，欢迎加入！以后请用手机号 {phone} 和您设置的密码登录。")
    return RedirectResponse("/h5/me", status_code=303)


# ---- promoter pages --------------------------------------------------------------------------


@router.get("/h5/me")
def me_page(request: Request, user: ConsoleUser, session: DbSession) -> Response:
    try:
        promoter = _own(session, user)
    except AppError as error:
        return _error(request, error, user)
    counts = service.team_counts(session, user, promoter.id)
    return render(
        request,
        "h5/me.html",
        {
            "promoter": promoter,
            "counts": counts,
            "phone": service.masked_phone(promoter),
            "grades": service.list_grades(session, user),
            "frozen": promoter.status == PromoterStatus.FROZEN,
        },
        user=user,
    )


@router.get("/h5/invite")
def invite_page(request: Request, user: ConsoleUser, session: DbSession) -> Response:
    try:
        promoter = _own(session, user)
    except AppError as error:
        return _error(request, error, user)
    return render(
        request,
        "h5/invite.html",
        {
            "promoter": promoter,
            "invite_link": service.invite_link(promoter),
            "frozen": promoter.status == PromoterStatus.FROZEN,
        },
        user=user,
    )


@router.get("/h5/invite/qr.png")
def invite_qr(request: Request, user: ConsoleUser, session: DbSession) -> Response:
    try:
        promoter = _own(session, user)
    except AppError as error:
        return _error(request, error, user)
    if promoter.status == PromoterStatus.FROZEN:
        return _error(request, service.InviterFrozen(message_zh=_FROZEN_QR), user)
    return Response(
        qr_png(service.invite_link(promoter)),
        media_type="image/png",
        headers={"Cache-Control": "private, max-age=3600"},
    )


@router.get("/h5/team")
def team_page(request: Request, user: ConsoleUser, session: DbSession, page: int = 1) -> Response:
    try:
        promoter = _own(session, user)
    except AppError as error:
        return _error(request, error, user)
    team = service.get_team(session, user, promoter.id, PageRequest(page, 50))
    return render(
        request,
        "h5/team.html",
        {
            "promoter": promoter,
            "team": team,
            "mask": service.masked_phone,
            "frozen": promoter.status == PromoterStatus.FROZEN,
        },
        user=user,
    )


def _bind_form(
    request: Request,
    user: Principal,
    promoter: Promoter,
    code: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "h5/bind.html",
        {
            "promoter": promoter,
            "code": code,
            "error": error,
            "mode": service.current_binding_mode().value,
            "frozen": promoter.status == PromoterStatus.FROZEN,
        },
        status_code=status_code,
        user=user,
    )


@router.get("/h5/bind")
def bind_page(request: Request, user: ConsoleUser, session: DbSession, code: str = "") -> Response:
    try:
        promoter = _own(session, user)
    except AppError as error:
        return _error(request, error, user)
    return _bind_form(request, user, promoter, code.strip()[:16])


@router.post("/h5/bind", dependencies=[CsrfChecked])
def bind_submit(
    request: Request,
    user: ConsoleUser,
    session: DbSession,
    invite_code: Annotated[str, Form()] = "",
) -> Response:
    try:
        promoter = _own(session, user)
    except AppError as error:
        return _error(request, error, user)
    try:
        promoter = service.bind_inviter(session, user, invite_code)
    except AppError as error:
        # Bindings refused by the rules change nothing; show why on the same form.
        session.rollback()
        promoter = _own(session, user)
        return _bind_form(request, user, promoter, invite_code.strip(), error.zh, error.status)
    inviter_name = promoter.inviter.name if promoter.inviter is not None else ""
    flash(request, f"已绑定邀请人 {inviter_name}。")
    return RedirectResponse("/h5/me", status_code=303)
