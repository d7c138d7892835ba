"""Users, logins and API tokens. Never commits."""

from __future__ import annotations

from sqlalchemy.orm import Session

from siyu.audit import service as audit
from siyu.auth.principal import Principal
from siyu.auth.repository import ApiTokenRepository, UserRepository
from siyu.auth.schemas import UserCreate
from siyu.auth.security import (
    hash_api_token,
    hash_password,
    needs_rehash,
    new_api_token,
    verify_password,
)
from siyu.errors import AppError, AuthenticationRequired, Conflict, NotFound, ValidationFailed
from siyu.kit.pagination import Page, PageRequest
from siyu.kit.time import utc_now
from siyu.models import ApiToken, Merchant, Promoter, Role, User


class LoginFailed(AppError):
    status = 401
    code = "login_failed"
    message_en = "Wrong username or password."
    message_zh = "用户名或密码错误，请重新输入。"


class UserNotFound(NotFound):
    code = "user_not_found"
    message_en = "User not found."
    message_zh = "找不到该用户。"


class UsernameTaken(Conflict):
    code = "username_taken"
    message_en = "Username {username!r} is already taken."
    message_zh = "用户名“{username}”已被使用，请换一个。"


class UserBindingInvalid(ValidationFailed):
    code = "user_binding_invalid"
    message_en = "{detail}"
    message_zh = "{detail_zh}"


class PasswordInvalid(ValidationFailed):
    code = "password_invalid"
    message_en = "Password must be 8 to 128 characters."
    message_zh = "密码长度须为 8 到 128 位。"


class ApiTokenNotFound(NotFound):
    code = "api_token_not_found"
    message_en = "API token not found."
    message_zh = "找不到该 API 令牌。"


class CannotDeactivateSelf(ValidationFailed):
    code = "cannot_deactivate_self"
    message_en = "You cannot deactivate or demote your own account."
    message_zh = "不能停用自己的账号或修改自己的角色。"


def authenticate(session: Session, username: str, password: str) -> User:
    users = UserRepository(session)
    user = users.get_by_username(username.strip())
    if user is None or not user.is_active or not verify_password(user.password_hash, password):
        raise LoginFailed()
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utc_now()
    return user


def create_user(session: Session, actor: Principal | None, data: UserCreate) -> User:
    """``actor`` None is the CLI / demo loader acting as the installation's owner."""
    if actor is not None:
        actor.require_admin()
    users = UserRepository(session)
    if users.get_by_username(data.username) is not None:
        raise UsernameTaken(username=data.username)
    _check_binding(session, data.role, data.merchant_id, data.promoter_id)
    user = users.add(
        User(
            username=data.username,
            display_name=data.display_name,
            password_hash=hash_password(data.password),
            role=data.role,
            merchant_id=data.merchant_id if data.role == Role.MERCHANT else None,
            promoter_id=data.promoter_id if data.role == Role.PROMOTER else None,
        )
    )
    if actor is not None:
        audit.user_role_changed(session, actor.user_id, user.id, user.role.value, True)
    return user


def _check_binding(
    session: Session, role: Role, merchant_id: int | None, promoter_id: int | None
) -> None:
    if role == Role.MERCHANT and (
        merchant_id is None or session.get(Merchant, merchant_id) is None
    ):
        raise UserBindingInvalid(
            detail="A merchant user must be bound to an existing merchant.",
            detail_zh="商家账号必须绑定一个已存在的商家。",
        )
    if role == Role.PROMOTER:
        if promoter_id is None or session.get(Promoter, promoter_id) is None:
            raise UserBindingInvalid(
                detail="A promoter user must be bound to an existing promoter.",
                detail_zh="推手账号必须绑定一个已存在的推手。",
            )
        if UserRepository(session).get_by_promoter(promoter_id) is not None:
            raise UserBindingInvalid(
                detail="That promoter already has a login.",
                detail_zh="该推手已有登录账号。",
            )


def list_users(
    session: Session, actor: Principal, page: PageRequest, role: Role | None = None, query: str = ""
) -> Page[User]:
    actor.require_admin()
    return UserRepository(session).list(page, role, query)


def get_user(session: Session, actor: Principal, user_id: int) -> User:
    if not actor.is_admin and actor.user_id != user_id:
        raise UserNotFound()
    user = UserRepository(session).get(user_id)
    if user is None:
        raise UserNotFound()
    return user


def set_user_active(session: Session, actor: Principal, user_id: int, active: bool) -> User:
    actor.require_admin()
    if user_id == actor.user_id:
        raise CannotDeactivateSelf()
    user = get_user(session, actor, user_id)
    if user.is_active != active:
        user.is_active = active
        user.session_version += 1
        audit.user_role_changed(session, actor.user_id, user.id, user.role.value, active)
    return user


def change_password(session: Session, actor: Principal, user_id: int, new_password: str) -> User:
    user = get_user(session, actor, user_id)
    if not 8 <= len(new_password) <= 128:
        raise PasswordInvalid()
    user.password_hash = hash_password(new_password)
    user.session_version += 1
    return user


def create_api_token(session: Session, actor: Principal, name: str) -> tuple[ApiToken, str]:
    raw = new_api_token()
    api_token = ApiTokenRepository(session).add(
        ApiToken(
            user_id=actor.user_id,
            name=name.strip() or "API",
            token_hash=hash_api_token(raw),
            prefix=raw[:10],
        )
    )
    return api_token, raw


def revoke_api_token(session: Session, actor: Principal, token_id: int) -> ApiToken:
    api_token = ApiTokenRepository(session).get_for_user(token_id, actor.user_id)
    if api_token is None:
        raise ApiTokenNotFound()
    if api_token.revoked_at is None:
        api_token.revoked_at = utc_now()
    return api_token


def list_api_tokens(session: Session, actor: Principal) -> list[ApiToken]:
    return ApiTokenRepository(session).list_for_user(actor.user_id)


def user_for_api_token(session: Session, raw: str) -> User:
    api_token = ApiTokenRepository(session).get_active_by_hash(hash_api_token(raw))
    if api_token is None or not api_token.user.is_active:
        raise AuthenticationRequired()
    api_token.last_used_at = utc_now()
    return api_token.user


def user_for_session(session: Session, user_id: int, session_version: int) -> User | None:
    user = UserRepository(session).get(user_id)
    if user is None or not user.is_active or user.session_version != session_version:
        return None
    return user
