"""Console pages: login, logout, users and roles, my API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from siyu.auth import service
from siyu.auth.ratelimit import check_login_allowed
from siyu.auth.schemas import UserCreate
from siyu.errors import AppError
from siyu.kit.pagination import PageRequest
from siyu.models import Role
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


def _safe_next(next_path: str | None) -> str:
    if next_path and next_path.startswith("/") and not next_path.startswith("//"):
        return next_path
    return "/"


def home_for(role: Role) -> str:
    return "/h5/me" if role == Role.PROMOTER else "/console"


@router.get("/")
def root(user: OptionalUser) -> Response:
    if user is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(home_for(user.role), status_code=303)


@router.get("/login")
def login_page(request: Request, user: OptionalUser, next: str | None = None) -> Response:
    if user is not None:
        return RedirectResponse(_safe_next(next) if next else home_for(user.role), status_code=303)
    return render(request, "auth/login.html", {"next": next or ""})


@router.post("/login", dependencies=[CsrfChecked])
def login_submit(
    request: Request,
    session: DbSession,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    try:
        check_login_allowed(username, request.client.host if request.client else "unknown")
        user = service.authenticate(session, username, password)
    except AppError as error:
        return render(
            request,
            "auth/login.html",
            {"next": next, "error": error.zh, "username": username},
            status_code=error.status,
        )
    reset_session(request)
    request.session["user_id"] = user.id
    request.session["session_version"] = user.session_version
    target = _safe_next(next) if next else home_for(user.role)
    return RedirectResponse(target, status_code=303)


@router.post("/logout", dependencies=[CsrfChecked])
def logout(request: Request) -> Response:
    reset_session(request)
    return RedirectResponse("/login", status_code=303)


@router.get("/console/users")
def users_page(
    request: Request, user: ConsoleUser, session: DbSession, page: int = 1, q: str = ""
) -> Response:
    users = service.list_users(session, user, PageRequest(page, 50), query=q)
    return render(
        request, "console/users.html", {"users": users, "q": q, "roles": list(Role)}, user=user
    )


@router.post("/console/users", dependencies=[CsrfChecked])
def users_create(
    request: Request,
    user: ConsoleUser,
    session: DbSession,
    username: Annotated[str, Form()] = "",
    display_name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    merchant_id: Annotated[str, Form()] = "",
    promoter_id: Annotated[str, Form()] = "",
) -> Response:
    try:
        data = UserCreate(
            username=username.strip(),
            display_name=display_name.strip(),
            password=password,
            role=role,
            merchant_id=int(merchant_id) if merchant_id.strip().isdigit() else None,
            promoter_id=int(promoter_id) if promoter_id.strip().isdigit() else None,
        )
    except ValidationError:
        flash(
            request,
            "创建失败：用户名须为 3–64 位字母/数字/下划线，密码至少 8 位，并选择角色。",
            "danger",
        )
        return RedirectResponse("/console/users", status_code=303)
    try:
        service.create_user(session, user, data)
    except AppError as error:
        flash(request, f"创建失败：{error.zh}", "danger")
        return RedirectResponse("/console/users", status_code=303)
    flash(request, f"已创建用户 {data.username}。")
    return RedirectResponse("/console/users", status_code=303)


@router.post("/console/users/{user_id}/active", dependencies=[CsrfChecked])
def users_set_active(
    request: Request,
    user_id: int,
    user: ConsoleUser,
    session: DbSession,
    active: Annotated[str, Form()] = "",
) -> Response:
    target = service.set_user_active(session, user, user_id, active == "1")
    flash(request, f"已{'启用' if target.is_active else '停用'}用户 {target.username}。")
    return RedirectResponse("/console/users", status_code=303)


@router.get("/console/tokens")
def tokens_page(request: Request, user: ConsoleUser, session: DbSession) -> Response:
    tokens = service.list_api_tokens(session, user)
    new_token = request.session.pop("new_token", None)
    return render(
        request, "console/tokens.html", {"tokens": tokens, "new_token": new_token}, user=user
    )


@router.post("/console/tokens", dependencies=[CsrfChecked])
def tokens_create(
    request: Request, user: ConsoleUser, session: DbSession, name: Annotated[str, Form()] = ""
) -> Response:
    _api_token, raw = service.create_api_token(session, user, name or "API")
    request.session["new_token"] = raw
    return RedirectResponse("/console/tokens", status_code=303)


@router.post("/console/tokens/{token_id}/revoke", dependencies=[CsrfChecked])
def tokens_revoke(
    request: Request, token_id: int, user: ConsoleUser, session: DbSession
) -> Response:
    service.revoke_api_token(session, user, token_id)
    flash(request, "令牌已吊销。")
    return RedirectResponse("/console/tokens", status_code=303)
