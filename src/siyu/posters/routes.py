"""JSON API under /api/v1/posters: preview a template as PNG, validate it (with the compliance
findings of its copy), upload a background image. For the campaign builder: platform staff and
merchants (who sponsor campaigns)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, UploadFile
from fastapi.responses import Response

from siyu.auth.principal import Principal
from siyu.compliance import service as compliance
from siyu.compliance.rules import TextKind, blocking
from siyu.config import current_settings
from siyu.models import Role
from siyu.posters import service
from siyu.posters.schemas import (
    BackgroundOut,
    FindingOut,
    PosterTemplate,
    PreviewIn,
    ValidateOut,
)
from siyu.web.deps import ApiUser

router = APIRouter(prefix="/posters", tags=["posters"])

# A preview is regenerated on every edit in the builder: the browser should not keep old ones.
NO_STORE = {"Cache-Control": "no-store"}


def require_designer(user: Principal) -> None:
    user.require(Role.ADMIN, Role.OPERATOR, Role.MERCHANT)


def preview_png(data: PreviewIn) -> bytes:
    template = service.validate_template(data.template)
    return service.render_poster(
        template, nickname=data.nickname, qr_url=data.qr_url or service.SAMPLE_QR_URL
    )


@router.post("/preview", response_class=Response)
def preview(data: PreviewIn, user: ApiUser) -> Response:
    """The template drawn for a sample nickname (and a sample QR link unless one is given)."""
    require_designer(user)
    return Response(preview_png(data), media_type="image/png", headers=NO_STORE)


def validate(template: dict[str, object]) -> ValidateOut:
    parsed = service.validate_template(template)
    findings = compliance.lint_text(service.poster_copy(parsed), TextKind.POSTER)
    return ValidateOut(
        template=parsed.canonical(),
        findings=[
            FindingOut(
                rule_id=finding.rule_id,
                category=finding.category.value,
                severity=finding.severity.name.lower(),
                blocking=finding.blocking,
                message_zh=finding.message_zh,
                excerpt=finding.excerpt,
            )
            for finding in findings
        ],
        publishable=not blocking(findings),
    )


@router.post("/validate", response_model=ValidateOut)
def validate_route(template: dict[str, object], user: ApiUser) -> ValidateOut:
    """The normalised template (defaults filled in) and the compliance findings of its copy.
    Saving a campaign still goes through ``compliance.require_publishable``."""
    require_designer(user)
    return validate(template)


@router.get("/schema")
def template_schema(user: ApiUser) -> dict[str, Any]:
    """The template's JSON Schema (defaults and limits), for builders outside siyu. The layout
    rules (boxes inside the canvas, nothing over the QR code) are checked by /validate."""
    require_designer(user)
    return PosterTemplate.model_json_schema()


@router.post("/backgrounds", response_model=BackgroundOut, status_code=201)
def upload_background(file: UploadFile, user: ApiUser) -> BackgroundOut:
    """Multipart (field ``file``): a JPEG, PNG or WebP; use the returned ``url`` as
    ``background``."""
    require_designer(user)
    data = file.file.read(current_settings().upload_max_bytes + 1)
    url, width, height = service.store_background(data)
    return BackgroundOut(url=url, width=width, height=height)
