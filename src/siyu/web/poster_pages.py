"""Console poster designer: edit a template's JSON and see it drawn (htmx), and a PNG preview
URL the campaign builder can put in an ``<img>``."""

from __future__ import annotations

import base64
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import escape
from starlette.datastructures import UploadFile

from siyu.compliance.rules import CATEGORY_LABELS, SEVERITY_LABELS, Category, Severity
from siyu.config import current_settings
from siyu.errors import AppError, ValidationFailed
from siyu.posters import routes as poster_api
from siyu.posters import service
from siyu.posters.schemas import PosterTemplate, PreviewIn
from siyu.web.deps import ConsoleUser, CsrfChecked, render

router = APIRouter(include_in_schema=False)

SAMPLE_NICKNAME = "小私同学"


class PosterJsonInvalid(ValidationFailed):
    code = "poster_json_invalid"
    message_en = "The template is not a JSON object: {problem}."
    message_zh = "模板不是有效的 JSON 对象：{problem}。"


def _template_of(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except json.JSONDecodeError as error:
        raise PosterJsonInvalid(problem=f"line {error.lineno} column {error.colno}") from None
    if not isinstance(value, dict):
        raise PosterJsonInvalid(problem="expected {…}")
    return value


def sample_template() -> dict[str, Any]:
    return PosterTemplate(
        title="免费领取拉杆箱",
        text=(
            "扫码添加活动号，回复所在区县查询名额。邀请 3 位新朋友添加，即可领取 20 寸拉杆箱一个。"
        ),
    ).canonical()


@router.get("/console/posters")
def designer(request: Request, user: ConsoleUser) -> Response:
    poster_api.require_designer(user)
    return render(
        request,
        "console/posters.html",
        {
            "template_json": json.dumps(sample_template(), ensure_ascii=False, indent=2),
            "nickname": SAMPLE_NICKNAME,
        },
        user=user,
    )


@router.post("/console/posters/preview", response_class=HTMLResponse)
async def preview_fragment(request: Request, user: ConsoleUser) -> HTMLResponse:
    """htmx: the poster drawn from the form's JSON, with the copy's compliance findings."""
    poster_api.require_designer(user)
    form = await request.form()
    nickname = str(form.get("nickname") or SAMPLE_NICKNAME)[:100]
    try:
        template = _template_of(str(form.get("template") or ""))
        checked = poster_api.validate(template)
        png = poster_api.preview_png(PreviewIn(template=template, nickname=nickname))
    except AppError as error:
        # The message may quote what was typed: escape it.
        return HTMLResponse(
            f'<div class="alert alert-danger" data-testid="poster-error">{escape(error.zh)}'
            f'<div class="small text-muted mt-1">{escape(error.en)}</div></div>'
        )
    findings = "".join(
        f'<li><span class="badge text-bg-{"danger" if f.blocking else "warning"}">'
        f"{escape(SEVERITY_LABELS[Severity[f.severity.upper()]])}</span> "
        f"{escape(CATEGORY_LABELS[Category(f.category)])}："
        f"{escape(f.message_zh)}（{escape(f.excerpt)}）</li>"
        for f in checked.findings
    )
    notes = (
        f'<ul class="small mb-2" data-testid="poster-findings">{findings}</ul>'
        if findings
        else '<div class="small text-success mb-2" data-testid="poster-findings">文案检查通过</div>'
    )
    encoded = base64.b64encode(png).decode()
    return HTMLResponse(
        f'{notes}<img class="img-fluid border" data-testid="poster-preview" alt="海报预览" '
        f'src="data:image/png;base64,{encoded}">'
    )


@router.post(
    "/console/posters/backgrounds", response_class=HTMLResponse, dependencies=[CsrfChecked]
)
async def upload_background(request: Request, user: ConsoleUser) -> HTMLResponse:
    """htmx: store an uploaded background and offer it to the template being edited."""
    poster_api.require_designer(user)
    form = await request.form()
    upload = form.get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise service.PosterBackgroundInvalid(limit=_upload_limit())
        data = await upload.read(current_settings().upload_max_bytes + 1)
        url, width, height = service.store_background(data)
    except AppError as error:
        return HTMLResponse(
            '<div class="text-danger small" data-testid="background-error">'
            f"{escape(error.zh)}</div>"
        )
    return HTMLResponse(
        f'<div class="small" data-testid="background-uploaded">已上传 {width}×{height}：'
        f"<code>{escape(url)}</code> "
        f'<button type="button" class="btn btn-sm btn-outline-primary" '
        f'data-background="{escape(url)}" onclick="siyuUseBackground(this.dataset.background)">'
        "用作背景</button></div>"
    )


def _upload_limit() -> str:
    return f"{current_settings().upload_max_bytes // (1024 * 1024)} MB"


@router.get("/console/posters/preview.png")
def preview_image(user: ConsoleUser, template: str = "{}", nickname: str = "") -> Response:
    """``<img src="/console/posters/preview.png?template=<url-encoded JSON>&nickname=…">``."""
    poster_api.require_designer(user)
    data = PreviewIn(template=_template_of(template), nickname=nickname[:100] or SAMPLE_NICKNAME)
    return Response(
        poster_api.preview_png(data), media_type="image/png", headers=poster_api.NO_STORE
    )
