"""Tracked links: the JSON API (under /api/v1) and the public redirect (/s/…, /l/…).

The redirect is the hottest path in siyu: every share in every WeChat group ends in a click. It
is answered by ``answer_redirect``, which the application object (``siyu.app.SiyuApp``) calls
before FastAPI's entry and the console's middleware (sessions, CSRF, body limits, HTML error
rendering — none of which a public 302 needs), and the handlers are ``async def`` with no
synchronous I/O on a cache hit: the code is resolved from the in-process ``LinkCache``, the click
token is generated in process and the click is appended to the ``ClickBuffer``. Only a cache
miss touches the database, in a worker thread. Measured by ``bench/redirect.py`` against a bare
ASGI app answering the same 302.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Hashable
from http.cookies import SimpleCookie
from typing import Literal

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope, Send

from siyu.db import get_database
from siyu.kit.pagination import PageRequest
from siyu.kit.time import utc_now
from siyu.links import rules, service
from siyu.links.clicks import click_buffer
from siyu.links.schemas import (
    LinkCreate,
    LinkOut,
    LinkPageOut,
    LinkStatsOut,
    PositionClicksOut,
)
from siyu.models import LINK_POSITION_LABELS
from siyu.web.deps import ApiUser, DbSession, templates

logger = logging.getLogger("siyu.links")

router = APIRouter(tags=["links"])


def link_out(view: service.LinkView) -> LinkOut:
    link = view.link
    return LinkOut(
        id=link.id,
        promoter_id=link.promoter_id,
        promoter_name=link.promoter.name,
        target_kind=link.target_kind,
        product_id=link.product_id,
        coupon_batch_id=link.coupon_batch_id,
        activity_url=link.activity_url,
        target_title=view.target_title,
        position=link.position,
        position_label=LINK_POSITION_LABELS[link.position],
        sub_id=link.sub_id,
        short_code=link.short_code,
        short_url=service.short_url(link),
        long_url=service.long_url(link),
        qr_url=f"/api/v1/links/{link.id}/qr.png",
        expires_at=link.expires_at,
        is_expired=service.is_expired(link),
        is_active=link.is_active,
        disabled_at=link.disabled_at,
        click_count=view.click_count,
        created_at=link.created_at,
    )


@router.post("/links", response_model=LinkOut, status_code=201)
def create_link(data: LinkCreate, user: ApiUser, session: DbSession) -> LinkOut:
    """A promoter creates a link to a pooled product, a coupon batch or an activity page."""
    link = service.create_link(session, user, data)
    return link_out(service.LinkView(link, 0, service.target_title(link)))


@router.get("/links", response_model=LinkPageOut)
def list_links(
    user: ApiUser,
    session: DbSession,
    promoter_id: int | None = None,
    active_only: bool = False,
    page: int = 1,
    size: int = 50,
) -> LinkPageOut:
    """A promoter's own links; platform staff see every link (``promoter_id`` filters)."""
    result = service.list_links(session, user, PageRequest(page, size), promoter_id, active_only)
    return LinkPageOut(
        items=[link_out(view) for view in result.items],
        total=result.total,
        page=result.request.page,
        pages=result.pages,
    )


@router.get("/links/stats", response_model=LinkStatsOut)
def link_stats(user: ApiUser, session: DbSession, promoter_id: int | None = None) -> LinkStatsOut:
    """Links and clicks per position (推广位)."""
    stats = service.link_stats(session, user, promoter_id)
    return LinkStatsOut(
        promoter_id=stats.promoter_id,
        total_clicks=stats.total_clicks,
        by_position=[
            PositionClicksOut(
                position=item.position,
                label=item.label,
                link_count=item.link_count,
                click_count=item.click_count,
            )
            for item in stats.by_position
        ],
    )


@router.get("/links/{link_id}", response_model=LinkOut)
def get_link(link_id: int, user: ApiUser, session: DbSession) -> LinkOut:
    return link_out(service.view_link(session, user, link_id))


@router.post("/links/{link_id}/disable", response_model=LinkOut)
def disable_link(link_id: int, user: ApiUser, session: DbSession) -> LinkOut:
    """Both forms stop redirecting at once (other processes: within the cache TTL)."""
    service.disable_link(session, user, link_id)
    return link_out(service.view_link(session, user, link_id))


@router.get("/links/{link_id}/qr.png", response_class=Response)
def link_qr(
    link_id: int, user: ApiUser, session: DbSession, form: Literal["short", "long"] = "short"
) -> Response:
    link = service.get_link(session, user, link_id)
    return Response(
        service.link_qr_png(link, long_form=form == "long"),
        media_type="image/png",
        headers={"Cache-Control": "private, max-age=3600"},
    )


# ---- the redirect ---------------------------------------------------------------------------

_CONSUMER_COOKIE_BYTES = service.CONSUMER_COOKIE.encode() + b"="
_UNAVAILABLE_STATUS = {
    rules.RedirectOutcome.UNKNOWN: 404,
    rules.RedirectOutcome.EXPIRED: 410,
    rules.RedirectOutcome.DISABLED: 410,
    rules.RedirectOutcome.FAILED: 503,
}
_unavailable_pages: dict[rules.RedirectOutcome, bytes] = {}


def _unavailable_page(outcome: rules.RedirectOutcome) -> bytes:
    page = _unavailable_pages.get(outcome)
    if page is None:
        html = templates.get_template("link_unavailable.html").render(
            outcome=outcome.value, status=_UNAVAILABLE_STATUS[outcome]
        )
        page = _unavailable_pages[outcome] = html.encode()
    return page


async def _send_unavailable(scope: Scope, send: Send, outcome: rules.RedirectOutcome) -> None:
    body = _unavailable_page(outcome)
    await send(
        {
            "type": "http.response.start",
            "status": _UNAVAILABLE_STATUS[outcome],
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


def _consumer_cookie(header: bytes) -> str | None:
    cookies: SimpleCookie = SimpleCookie()
    try:
        cookies.load(header.decode("latin-1"))
    except Exception:  # a malformed Cookie header is someone else's cookie: ignore it
        return None
    morsel = cookies.get(service.CONSUMER_COOKIE)
    return morsel.value if morsel is not None else None


def _load_entry(short_code: str | None, link_id: int | None) -> rules.RedirectEntry | None:
    with get_database().sessions() as session:
        return service.load_redirect_entry(session, short_code=short_code, link_id=link_id)


# One load per key at a time (per event loop): a link posted to a 500-member group is clicked by
# many people at once, and they all wait for the same query instead of each sending one.
_loads: dict[tuple[int, Hashable], asyncio.Task[rules.RedirectEntry | None]] = {}


def _start_load(
    context: service.RedirectContext, key: Hashable, short_code: str | None, link_id: int | None
) -> asyncio.Task[rules.RedirectEntry | None]:
    loop = asyncio.get_running_loop()
    slot = (id(loop), key)
    task = _loads.get(slot)
    if task is None or task.get_loop() is not loop:

        async def load() -> rules.RedirectEntry | None:
            entry = await run_in_threadpool(_load_entry, short_code, link_id)
            context.cache.put(key, entry)
            return entry

        task = loop.create_task(load())
        _loads[slot] = task
        task.add_done_callback(lambda done: _forget_load(slot, done))
    return task


def _forget_load(
    slot: tuple[int, Hashable], task: asyncio.Task[rules.RedirectEntry | None]
) -> None:
    if _loads.get(slot) is task:
        del _loads[slot]
    if not task.cancelled() and task.exception() is not None:
        logger.warning("loading link %r failed: %s", slot[1], task.exception())


async def _resolve(
    context: service.RedirectContext, key: Hashable, short_code: str | None, link_id: int | None
) -> rules.RedirectEntry | None:
    """From the cache; a stale entry answers now and is reloaded in the background; only a
    missing one waits (sharing the load with concurrent clicks on the same link)."""
    state, entry = context.cache.get(key)
    if state is service.CacheState.FRESH:
        return entry
    task = _start_load(context, key, short_code, link_id)
    if state is service.CacheState.STALE:
        return entry
    return await asyncio.shield(task)


async def _answer(
    scope: Scope,
    send: Send,
    context: service.RedirectContext,
    entry: rules.RedirectEntry | None,
    long_form: bool,
) -> None:
    now = utc_now()  # the one clock (the simulated clock moves it too)
    outcome = rules.redirect_outcome(entry, now.timestamp(), long_form)
    if entry is None or outcome is not rules.RedirectOutcome.REDIRECT:
        await _send_unavailable(scope, send, outcome)
        return
    if scope["method"] == "HEAD":
        # Link checkers and previews ask with HEAD: answer, but it is not a person's click.
        location = entry.destination
    else:
        user_agent = ""
        cookie: str | None = None
        for name, value in scope["headers"]:
            if name == b"user-agent":
                user_agent = value.decode("latin-1")
            elif name == b"cookie" and _CONSUMER_COOKIE_BYTES in value:
                cookie = _consumer_cookie(value)
        client = scope.get("client")
        click = service.new_click(
            context, entry, client[0] if client else "", user_agent, cookie, now
        )
        click_buffer().record(click)
        location = rules.with_click(entry.destination, click["token"])
    await send(
        {
            "type": "http.response.start",
            "status": 302,
            "headers": [
                (b"location", location.encode()),
                (b"cache-control", b"no-store"),
                (b"content-length", b"0"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b""})


async def short_link_redirect(scope: Scope, send: Send) -> None:
    """GET /s/{code}: 302 to the landing page with ``?click=``; 404/410 pages in Chinese."""
    context = service.redirect_context()
    code = rules.normalize_short_code(scope["path"][3:])
    if code is None:
        await _send_unavailable(scope, send, rules.RedirectOutcome.UNKNOWN)
        return
    entry = await _resolve(context, code, code, None)
    await _answer(scope, send, context, entry, long_form=False)


async def long_link_redirect(scope: Scope, send: Send) -> None:
    """GET /l/{invite_code}/{link_id}/{target}: the never-expiring form of the same link."""
    context = service.redirect_context()
    parts = scope["path"][3:].split("/")
    if len(parts) != 3 or not parts[1].isdigit() or len(parts[1]) > 18:
        await _send_unavailable(scope, send, rules.RedirectOutcome.UNKNOWN)
        return
    invite_code, link_id, slug = parts[0].upper(), int(parts[1]), parts[2].lower()
    entry = await _resolve(context, link_id, None, link_id)
    if entry is not None and (entry.invite_code != invite_code or entry.target_slug != slug):
        entry = None  # a tampered or mistyped long link: someone else's id, or another target
    await _answer(scope, send, context, entry, long_form=True)


async def answer_redirect(scope: Scope, send: Send) -> bool:
    """Answer GET/HEAD /s/… and /l/… here and return True; anything else returns False at once.

    ``siyu.app.SiyuApp`` calls this first thing for every HTTP request, before FastAPI's own
    entry (its telemetry check, the middleware stack: sessions, CSRF, body limits, HTML error
    rendering — none of which a public 302 needs), so it renders its own Chinese error page if
    a handler fails (a database down on a cache miss).
    """
    if scope["method"] not in ("GET", "HEAD"):
        return False
    path: str = scope["path"]
    if path.startswith("/s/"):
        await _guarded(short_link_redirect, scope, send)
        return True
    if path.startswith("/l/"):
        await _guarded(long_link_redirect, scope, send)
        return True
    return False


async def _guarded(
    handler: Callable[[Scope, Send], Awaitable[None]], scope: Scope, send: Send
) -> None:
    # The handlers send nothing until their work is done, so after a failure nothing has been
    # sent yet, unless sending itself failed (the client went away): then there is no one to
    # answer and the second send fails quietly.
    try:
        await handler(scope, send)
    except Exception:
        logger.exception("redirect failed: %s", scope["path"])
        with contextlib.suppress(Exception):
            await _send_unavailable(scope, send, rules.RedirectOutcome.FAILED)
