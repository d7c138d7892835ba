"""Request plumbing shared by the JSON API and the console: sessions, callers, CSRF, rendering.

One commit per request happens here (``db_session``), never in a service.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from siyu import __version__
from siyu.auth import service as auth_service
from siyu.auth.principal import Principal
from siyu.commissions import service as commissions
from siyu.db import get_database
from siyu.errors import AppError, AuthenticationRequired
from siyu.kit.ids import token
from siyu.kit.money import format_percent, format_yuan
from siyu.kit.time import format_shanghai
from siyu.models import PROMOTER_KIND_LABELS, REVIEW_STATUS_LABELS, ROLE_LABELS, Role
from siyu.web.nav import console_nav

TEMPLATES_DIR = Path(__file__).parent / "templates"
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.filters["yuan"] = format_yuan
templates.env.filters["percent"] = format_percent
templates.env.filters["shanghai"] = format_shanghai


def region_name(code: str | None) -> str:
    """A division code as people read it (江西省赣州市章贡区); the code itself if unknown."""
    if not code:
        return "—"
    from siyu.regions import service as regions

    try:
        return regions.full_name(code) or code
    except AppError:  # malformed or unknown: show what is stored
        return code


templates.env.filters["region"] = region_name
templates.env.globals["console_nav"] = console_nav
templates.env.globals.update(
    version=__version__,
    role_labels=ROLE_LABELS,
    review_labels=REVIEW_STATUS_LABELS,
    kind_labels=PROMOTER_KIND_LABELS,
)


def db_session() -> Iterator[Session]:
    session = get_database().sessions()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# scope="function": the commit happens when the route returns, before the response is sent, so a
# failed commit is an error response and never a false "200 OK".
DbSession = Annotated[Session, Depends(db_session, scope="function")]


class LoginRequired(Exception):
    """Raised by console routes; rendered as a redirect to /login."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class CsrfFailed(AppError):
    status = 403
    code = "csrf_failed"
    message_en = "The form expired or came from another site; reload the page and try again."
    message_zh = "表单已过期或来源不正确，请刷新页面后重试。"


DEVICE_KEY = "device"


def device_id(request: Request) -> str:
    """A random id for this browser, kept in the signed session cookie (survives log-in and
    log-out). Only its keyed hash is ever stored, for the shared-device fraud check."""
    value = request.session.get(DEVICE_KEY)
    if not isinstance(value, str) or not 16 <= len(value) <= 64:
        value = token(16)
        request.session[DEVICE_KEY] = value
    return value


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def reset_session(request: Request) -> None:
    """Log-in and log-out start a new session but keep the browser's device id."""
    device = request.session.get(DEVICE_KEY)
    request.session.clear()
    if isinstance(device, str):
        request.session[DEVICE_KEY] = device


def _session_principal(request: Request, session: Session) -> Principal | None:
    user_id = request.session.get("user_id")
    version = request.session.get("session_version")
    if not isinstance(user_id, int) or not isinstance(version, int):
        return None
    user = auth_service.user_for_session(session, user_id, version)
    if user is None:
        reset_session(request)
        return None
    principal = Principal.of(user)
    if principal.role == Role.PROMOTER and principal.promoter_id is not None:
        commissions.note_promoter_seen(
            session, principal.promoter_id, client_ip(request), device_id(request)
        )
    return principal


def console_principal(request: Request, session: DbSession) -> Principal:
    principal = _session_principal(request, session)
    if principal is None:
        raise LoginRequired(request.url.path)
    return principal


def optional_principal(request: Request, session: DbSession) -> Principal | None:
    return _session_principal(request, session)


def api_principal(request: Request, session: DbSession) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise AuthenticationRequired()
    return Principal.of(auth_service.user_for_api_token(session, raw.strip()))


ConsoleUser = Annotated[Principal, Depends(console_principal)]
OptionalUser = Annotated[Principal | None, Depends(optional_principal)]
ApiUser = Annotated[Principal, Depends(api_principal)]


def csrf_token(request: Request) -> str:
    value = request.session.get("csrf")
    if not isinstance(value, str):
        value = token(24)
        request.session["csrf"] = value
    return value


async def verify_csrf(request: Request) -> None:
    """Every console POST carries the session's token in a hidden field."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    form = await request.form()
    sent = form.get("csrf_token")
    expected = request.session.get("csrf")
    if not isinstance(sent, str) or not isinstance(expected, str):
        raise CsrfFailed()
    if not hmac.compare_digest(sent, expected):
        raise CsrfFailed()


CsrfChecked = Depends(verify_csrf)


def flash(request: Request, message: str, category: str = "success") -> None:
    request.session.setdefault("flash", []).append({"message": message, "category": category})


def pop_flashes(request: Request) -> list[dict[str, str]]:
    messages: list[dict[str, str]] = request.session.pop("flash", [])
    return messages


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
    user: Principal | None = None,
) -> HTMLResponse:
    data: dict[str, Any] = {
        "user": user,
        "csrf_token": csrf_token(request),
        "flashes": pop_flashes(request),
        "path": request.url.path,
    }
    if context:
        data.update(context)
    return templates.TemplateResponse(request, template, data, status_code=status_code)
