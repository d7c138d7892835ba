"""A participant's personalised poster, rendered by ``siyu.posters`` from the campaign's poster
template (background, title, text, nickname and QR boxes; docs/posters.md). A campaign saved
before its template was validated (or with an empty one) falls back to the posters' defaults."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from siyu.errors import AppError
from siyu.posters import service as posters


def check(template: Mapping[str, Any]) -> dict[str, Any]:
    """The template as stored: empty stays empty (the posters' defaults), anything else must be
    a valid poster template (raises ``PosterTemplateInvalid`` naming every problem)."""
    if not template:
        return {}
    posters.validate_template(dict(template))
    return dict(template)


def render(template: Mapping[str, Any], *, nickname: str, qr_url: str) -> bytes:
    try:
        return posters.render_poster(dict(template), nickname=nickname, qr_url=qr_url)
    except AppError:
        # A template that no longer validates (e.g. its background upload was removed): the
        # participant still gets a poster with their QR, on the default layout.
        return posters.render_poster({}, nickname=nickname, qr_url=qr_url)
