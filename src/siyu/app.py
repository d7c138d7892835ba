"""The ASGI application: JSON API under /api/v1, the console, and the promoter H5 pages."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import Receive, Scope, Send

from siyu import __version__
from siyu.config import Settings, current_settings
from siyu.errors import AppError
from siyu.jobs import get_queue
from siyu.links.clicks import start_click_buffer, stop_click_buffer
from siyu.links.routes import answer_redirect
from siyu.web.deps import LoginRequired, render

logger = logging.getLogger("siyu")

STATIC_DIR = Path(__file__).parent / "web" / "static"


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _validation_message(error: RequestValidationError) -> tuple[str, list[dict[str, object]]]:
    fields = []
    for item in error.errors():
        location = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
        fields.append({"field": location, "message": item.get("msg", "")})
    summary = "; ".join(f"{field['field']}: {field['message']}" for field in fields)
    return summary or "invalid input", fields


_heap_frozen: list[bool] = []


def _freeze_startup_heap() -> None:
    """Once per process, after the first start-up: everything imported and built by then
    (SQLAlchemy, pydantic, FastAPI, Jinja: a large heap) lives as long as the process. Frozen,
    a full collection no longer walks it: gen 2 pauses drop from ~110 ms to a few ms, and they
    were what made the redirect's p99 (bench/redirect.py). Once only, so a test session that
    starts many apps does not keep freezing the garbage-to-be of earlier tests."""
    if not _heap_frozen:
        gc.collect()
        gc.freeze()
        _heap_frozen.append(True)


class SiyuApp(FastAPI):
    """FastAPI, with the tracked-link redirect (``GET /s/…``, ``/l/…``) answered at the very front.

    The redirect is siyu's hottest path (docs/links.md) and needs nothing FastAPI's entry
    does: ``FastAPI.__call__`` asks OpenTelemetry on every request whether it is configured,
    then Starlette's and our middleware run (sessions, CSRF, error pages). Answering before all
    of that saves ~10–15 % of the redirect's cost. Everything else goes through unchanged.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and await answer_redirect(scope, send):
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None, run_jobs: bool | None = None) -> FastAPI:
    settings = settings or current_settings()
    consume_jobs = settings.jobs_backend == "embedded" if run_jobs is None else run_jobs

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        start_click_buffer(settings)
        if consume_jobs:
            get_queue().start_consumer(settings.jobs_workers)
        _freeze_startup_heap()
        try:
            yield
        finally:
            if consume_jobs:
                get_queue().stop_consumer()
            # Writes every buffered click before the process exits (docs/links.md).
            stop_click_buffer()

    app = SiyuApp(
        title="siyu 私域 API",
        version=__version__,
        lifespan=lifespan,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.resolved_secret_key,
        session_cookie="siyu_session",
        max_age=settings.session_max_age_seconds,
        same_site="lax",
        https_only=settings.base_url.startswith("https"),
    )

    @app.exception_handler(AppError)
    async def app_error(request: Request, error: AppError) -> Response:
        if _wants_json(request):
            return JSONResponse(error.as_dict(), status_code=error.status)
        return render(
            request,
            "error.html",
            {"status": error.status, "message": error.zh},
            status_code=error.status,
        )

    @app.exception_handler(LoginRequired)
    async def login_required(_request: Request, error: LoginRequired) -> Response:
        return RedirectResponse(f"/login?next={quote(error.next_path)}", status_code=303)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> Response:
        summary, fields = _validation_message(error)
        if _wants_json(request):
            return JSONResponse(
                {"error": "validation_failed", "detail": summary, "fields": fields},
                status_code=422,
            )
        return render(
            request,
            "error.html",
            {"status": 422, "message": "提交的内容格式不正确，请检查后重试。"},
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if _wants_json(request):
            code = "not_found" if error.status_code == 404 else "http_error"
            return JSONResponse(
                {"error": code, "detail": str(error.detail)}, status_code=error.status_code
            )
        message = (
            "页面不存在，请检查链接是否正确。" if error.status_code == 404 else "请求无法处理。"
        )
        return render(
            request,
            "error.html",
            {"status": error.status_code, "message": message},
            status_code=error.status_code,
        )

    app.mount("/static", StaticFiles(directory=str(STATIC_DIR), check_dir=False), name="static")
    app.mount(
        "/uploads",
        StaticFiles(directory=str(settings.upload_dir), check_dir=False),
        name="uploads",
    )

    from siyu.web.routers import include_routers

    include_routers(app)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    if not (STATIC_DIR / "vendor" / "bootstrap.min.css").exists():
        logger.warning(
            "console styles missing: run `npm ci && npm run vendor` (scripts/setup does)"
        )
    return app
