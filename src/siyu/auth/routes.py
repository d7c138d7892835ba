from __future__ import annotations

from fastapi import APIRouter, Request

from siyu.auth import service
from siyu.auth.principal import Principal
from siyu.auth.ratelimit import check_login_allowed
from siyu.auth.schemas import LoginIn, LoginOut, TokenCreate, TokenCreated, UserCreate, UserOut
from siyu.kit.pagination import PageRequest
from siyu.models import Role
from siyu.web.deps import ApiUser, DbSession

router = APIRouter(tags=["auth"])


@router.post("/auth/token", response_model=LoginOut)
def login_for_token(data: LoginIn, request: Request, session: DbSession) -> LoginOut:
    """Exchange a username and password for an API token (rate-limited like the console login)."""
    check_login_allowed(data.username, request.client.host if request.client else "unknown")
    user = service.authenticate(session, data.username, data.password)
    _token, raw = service.create_api_token(session, Principal.of(user), "api-login")
    return LoginOut(token=raw, user=UserOut.model_validate(user))


@router.get("/me", response_model=UserOut)
def me(user: ApiUser, session: DbSession) -> UserOut:
    return UserOut.model_validate(service.get_user(session, user, user.user_id))


@router.post("/tokens", response_model=TokenCreated, status_code=201)
def create_token(data: TokenCreate, user: ApiUser, session: DbSession) -> TokenCreated:
    api_token, raw = service.create_api_token(session, user, data.name)
    return TokenCreated(id=api_token.id, name=api_token.name, prefix=api_token.prefix, token=raw)


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(token_id: int, user: ApiUser, session: DbSession) -> None:
    service.revoke_api_token(session, user, token_id)


@router.get("/users", response_model=list[UserOut])
def list_users(
    user: ApiUser, session: DbSession, role: Role | None = None, page: int = 1, size: int = 50
) -> list[UserOut]:
    users = service.list_users(session, user, PageRequest(page, size), role)
    return [UserOut.model_validate(item) for item in users.items]


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(data: UserCreate, user: ApiUser, session: DbSession) -> UserOut:
    return UserOut.model_validate(service.create_user(session, user, data))
